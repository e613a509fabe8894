//! [`SmoothClient`]: one method per endpoint over four private helpers (`get`, `post_json`,
//! `post_multipart`, `delete`), which share one retrying `call`.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::HeaderValue;
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use crate::error::{ClientBuildError, SmoothError, error_message};
use crate::observe::{Exchange, Observer, endpoint};
use crate::types::{
    Extension, IdResponse, Profile, ProfileList, TaskEvent, TaskRequest, TaskResponse,
};

/// Smooth's hosted API.
pub const DEFAULT_BASE_URL: &str = "https://api.smooth.sh/api/v1";

/// How far Smooth's clock may be behind ours when placing a task in the window of a lost
/// `POST /task` answer (`created_at` is also cut to whole seconds).
const CLOCK_SKEW: Duration = Duration::from_secs(5);
/// How many of the newest tasks are read to find one whose creation answer was lost.
const CANDIDATES: u32 = 32;
/// A cut connection can come back before Smooth has stored the task it is creating: the
/// account's tasks are listed only after this pause (rare, and cheap next to a task started
/// twice on a wrong "not created").
const SETTLE: Duration = Duration::from_secs(1);

/// This library's product token, sent after the caller's own ([`ClientConfig::user_agent`]).
const USER_AGENT: &str = concat!("smooth-api/", env!("CARGO_PKG_VERSION"));

/// A Smooth API key. It never shows itself in `Debug` output, is wiped from memory when
/// dropped, and is only read where the `apikey` header is built.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    /// The key, trimmed; `None` for an empty or blank key.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        let trimmed = key.trim();
        (!trimmed.is_empty()).then(|| Self(SecretString::from(trimmed.to_owned())))
    }

    /// The account this key speaks for, as an id that does not reveal the key.
    pub fn account_id(&self) -> AccountId {
        // SipHash keyed with one random key per process: the id is stable within the
        // process (all it is used for), and without that key it says nothing about the API
        // key nor can a colliding key be searched for offline. A 64-bit id keeps the chance
        // of two accounts colliding negligible for the few accounts one process serves.
        static HASHER: OnceLock<RandomState> = OnceLock::new();
        let hasher = HASHER.get_or_init(RandomState::new);
        AccountId(hasher.hash_one(self.0.expose_secret()))
    }

    /// The `apikey` header; marked sensitive so HTTP/2 never indexes it.
    fn header(&self) -> Result<HeaderValue, SmoothError> {
        let mut value = HeaderValue::from_str(self.0.expose_secret()).map_err(|_| {
            SmoothError::Transport(
                "the API key holds characters an HTTP header cannot carry".to_owned(),
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Identifies the account behind an [`ApiKey`] within this process, without holding the
/// key: what the [`Watcher`](crate::watch::Watcher) keys its tasks by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountId(u64);

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({:016x})", self.0)
    }
}

/// How requests that are safe to repeat are retried: exponential backoff with jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// The first pause.
    pub min_delay: Duration,
    /// The longest pause; a `Retry-After` longer than this (and than 10 s) is not waited
    /// for: the error is returned instead.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// What [`SmoothClient::new`] needs. `ClientConfig { api_key, ..Default::default() }` talks
/// to the hosted API.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://host/api/v1` (also accepted: `…/api` and `…/api/`).
    pub base_url: String,
    /// `None` builds a client whose calls fail with [`SmoothError::MissingKey`] until
    /// [`SmoothClient::with_key`] gives it one.
    pub api_key: Option<ApiKey>,
    /// Limit for one HTTP exchange, retries not included.
    pub request_timeout: Duration,
    /// Retries of requests that are safe to repeat.
    pub retry: RetryPolicy,
    /// Your product token (`my-app/1.2`), sent before this library's own
    /// (`my-app/1.2 smooth-api/0.1.0`).
    pub user_agent: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            user_agent: None,
        }
    }
}

/// The Smooth REST client. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct SmoothClient {
    /// Also fetches downloads archives (`downloads.rs`), with the same timeouts and agent.
    pub(crate) http: reqwest::Client,
    base: Url,
    key: Option<ApiKey>,
    pub(crate) retry: RetryPolicy,
    observer: Option<Arc<dyn Observer>>,
}

impl fmt::Debug for SmoothClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmoothClient")
            .field("base", &self.base.as_str())
            .field("has_key", &self.key.is_some())
            .finish()
    }
}

/// Accepts `…/api/`, `…/api` and `…/api/v1` (with or without a trailing slash).
pub fn normalize_base_url(raw: &str) -> Result<Url, ClientBuildError> {
    let invalid = |reason: String| ClientBuildError::InvalidBaseUrl {
        url: raw.to_owned(),
        reason,
    };
    let trimmed = raw.trim().trim_end_matches('/');
    let full = if trimmed.ends_with("/v1") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1")
    };
    let url = Url::parse(&full).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(invalid("use http(s)://host/api/v1".to_owned()));
    }
    Ok(url)
}

/// Which requests may be sent again after a failure.
#[derive(Clone, Copy)]
enum Repeat {
    /// GET, DELETE, and event posts that carry our own event id.
    Safe,
    /// Only when the connection failed before anything was sent (creating a task twice
    /// costs the user money).
    OnlyIfUnsent,
}

enum Body {
    None,
    Json(Value),
    File {
        file_name: String,
        bytes: Vec<u8>,
        purpose: Option<String>,
    },
}

impl SmoothClient {
    /// Builds a client; nothing is sent until the first call.
    pub fn new(cfg: ClientConfig) -> Result<Self, ClientBuildError> {
        let base = normalize_base_url(&cfg.base_url)?;
        let agent = match &cfg.user_agent {
            Some(product) => format!("{} {USER_AGENT}", product.trim()),
            None => USER_AGENT.to_owned(),
        };
        let agent = HeaderValue::from_str(&agent)
            .map_err(|_| ClientBuildError::InvalidUserAgent(agent.clone()))?;
        let http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(Duration::from_secs(10).min(cfg.request_timeout))
            .user_agent(agent)
            .build()
            .map_err(ClientBuildError::Http)?;
        Ok(Self {
            http,
            base,
            key: cfg.api_key,
            retry: cfg.retry,
            observer: None,
        })
    }

    /// The same client (and connection pool) speaking for another account.
    pub fn with_key(&self, key: Option<ApiKey>) -> Self {
        Self {
            key,
            ..self.clone()
        }
    }

    /// The same client reporting to `observer` (shared by every clone made after this,
    /// including [`Self::with_key`] ones).
    pub fn with_observer(self, observer: Arc<dyn Observer>) -> Self {
        Self {
            observer: Some(observer),
            ..self
        }
    }

    /// The observer given with [`Self::with_observer`].
    pub(crate) fn observer(&self) -> Option<&dyn Observer> {
        self.observer.as_deref()
    }

    /// Whether calls can be made at all.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The account of this client's key, if it has one.
    pub fn account(&self) -> Option<AccountId> {
        self.key.as_ref().map(ApiKey::account_id)
    }

    /// The normalized base URL, ending in `/v1`.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// `POST /task`: starts a task, or with `task: None` opens a session. Never repeated
    /// once sent. When the request left but its answer was lost, the account's tasks
    /// created since just before it are listed and returned as
    /// [`SmoothError::CreationUnconfirmed`]: one of them may be this task.
    pub async fn create_task(&self, req: &TaskRequest) -> Result<TaskResponse, SmoothError> {
        let since = crate::watch::now_ms() as f64 / 1000.0 - CLOCK_SKEW.as_secs_f64();
        let body = serde_json::to_value(req).map_err(|e| SmoothError::Decode(e.to_string()))?;
        let url = self.url(&["task"], &[]);
        match self
            .attempts(
                Method::POST,
                (url, endpoint(&["task"])),
                Body::Json(body),
                Repeat::OnlyIfUnsent,
            )
            .await
        {
            Ok(task) => Ok(task),
            Err(f) if !f.unsent && f.error.answer_lost() => {
                Err(self.unconfirmed(f.error, since).await)
            }
            Err(f) => Err(f.error),
        }
    }

    /// The tasks created since `since` (unix seconds), for a creation whose answer was lost.
    async fn unconfirmed(&self, cause: SmoothError, since: f64) -> SmoothError {
        tracing::warn!(error = %cause, "the answer to POST /task was lost; listing the account's new tasks");
        tokio::time::sleep(SETTLE).await;
        let (candidates, lookup_failed) = match self.list_tasks(None, Some(CANDIDATES)).await {
            // A task without a creation time cannot be placed in the window: left out.
            Ok(list) => (
                list.into_iter()
                    .filter(|t| t.created_at.is_some_and(|at| at >= since))
                    .collect(),
                None,
            ),
            Err(e) => (Vec::new(), Some(Box::new(e))),
        };
        SmoothError::CreationUnconfirmed {
            cause: Box::new(cause),
            candidates,
            lookup_failed,
        }
    }

    /// `GET /task`: tasks and sessions of the account, newest first; `before` is unix seconds.
    pub async fn list_tasks(
        &self,
        before: Option<f64>,
        limit: Option<u32>,
    ) -> Result<Vec<TaskResponse>, SmoothError> {
        let query = [
            ("t", before.map(|t| t.to_string())),
            ("l", limit.map(|l| l.to_string())),
        ];
        self.get(&["task"], &query).await
    }

    /// `GET /task/{id}`: the task with its events after `event_t` (epoch ms), and with
    /// `downloads` the download archive's URL. Live (202) and ended (200) tasks both succeed.
    pub async fn get_task(
        &self,
        id: &str,
        event_t: i64,
        downloads: bool,
    ) -> Result<TaskResponse, SmoothError> {
        let query = [
            ("event_t", Some(event_t.to_string())),
            ("downloads", downloads.then(|| "true".to_owned())),
        ];
        self.get(&["task", id], &query).await
    }

    /// `DELETE /task/{id}`: cancels a task or force-closes a session.
    pub async fn cancel_task(&self, id: &str) -> Result<bool, SmoothError> {
        self.delete(&["task", id]).await
    }

    /// `POST /task/{id}/event`: returns the event id. Retried only when the event carries
    /// its own `id` (Smooth then ignores a repeat), else only if it was never sent.
    pub async fn send_event(
        &self,
        task_id: &str,
        event: &TaskEvent,
    ) -> Result<String, SmoothError> {
        let repeat = if event.id.is_some() {
            Repeat::Safe
        } else {
            Repeat::OnlyIfUnsent
        };
        let r: IdResponse = self
            .post_json(&["task", task_id, "event"], event, repeat)
            .await?;
        Ok(r.id)
    }

    /// `POST /profile`: a new browser profile (cookies and storage kept across sessions).
    pub async fn create_profile(&self, id: Option<&str>) -> Result<Profile, SmoothError> {
        let body = serde_json::json!({ "id": id });
        self.post_json(&["profile"], &body, Repeat::OnlyIfUnsent)
            .await
    }

    /// `GET /profile`: the account's profiles (old servers list ids only).
    pub async fn list_profiles(&self) -> Result<Vec<Profile>, SmoothError> {
        let list: ProfileList = self.get(&["profile"], &[]).await?;
        Ok(list.into_profiles())
    }

    /// `DELETE /profile/{id}`.
    pub async fn delete_profile(&self, id: &str) -> Result<bool, SmoothError> {
        self.delete(&["profile", id]).await
    }

    /// `POST /file`: uploads a file for tasks to use (`TaskRequest::files`); returns its id.
    pub async fn upload_file(
        &self,
        file_name: &str,
        bytes: Vec<u8>,
        purpose: Option<&str>,
    ) -> Result<String, SmoothError> {
        let r: IdResponse = self
            .post_multipart(&["file"], file_name, bytes, purpose)
            .await?;
        Ok(r.id)
    }

    /// `DELETE /file/{id}`.
    pub async fn delete_file(&self, id: &str) -> Result<bool, SmoothError> {
        self.delete(&["file", id]).await
    }

    /// `POST /extension`: uploads a browser extension (a zip); returns its id.
    pub async fn upload_extension(
        &self,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<String, SmoothError> {
        let r: IdResponse = self
            .post_multipart(&["extension"], file_name, bytes, None)
            .await?;
        Ok(r.id)
    }

    /// `GET /extension`: the account's extensions.
    pub async fn list_extensions(&self) -> Result<Vec<Extension>, SmoothError> {
        self.get(&["extension"], &[]).await
    }

    /// `DELETE /extension/{id}`, the path both official SDKs use (Smooth's OpenAPI
    /// document names another).
    pub async fn delete_extension(&self, id: &str) -> Result<bool, SmoothError> {
        self.delete(&["extension", id]).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, Option<String>)],
    ) -> Result<T, SmoothError> {
        let url = (self.url(path, query), endpoint(path));
        self.call(Method::GET, url, Body::None, Repeat::Safe).await
    }

    async fn delete<T: DeserializeOwned>(&self, path: &[&str]) -> Result<T, SmoothError> {
        let url = (self.url(path, &[]), endpoint(path));
        self.call(Method::DELETE, url, Body::None, Repeat::Safe)
            .await
    }

    async fn post_json<T: DeserializeOwned>(
        &self,
        path: &[&str],
        body: &impl Serialize,
        repeat: Repeat,
    ) -> Result<T, SmoothError> {
        // Our request types always encode; the error path is for completeness.
        let body = serde_json::to_value(body).map_err(|e| SmoothError::Decode(e.to_string()))?;
        let url = (self.url(path, &[]), endpoint(path));
        self.call(Method::POST, url, Body::Json(body), repeat).await
    }

    /// Uploads are never repeated once sent: each would create another file.
    async fn post_multipart<T: DeserializeOwned>(
        &self,
        path: &[&str],
        file_name: &str,
        bytes: Vec<u8>,
        purpose: Option<&str>,
    ) -> Result<T, SmoothError> {
        let body = Body::File {
            file_name: file_name.to_owned(),
            bytes,
            purpose: purpose.map(str::to_owned),
        };
        let url = (self.url(path, &[]), endpoint(path));
        self.call(Method::POST, url, body, Repeat::OnlyIfUnsent)
            .await
    }

    /// The base URL plus `path` (each part one percent-encoded segment, so ids cannot
    /// escape it) and the query pairs that are set.
    fn url(&self, path: &[&str], query: &[(&str, Option<String>)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        let set: Vec<(&str, &str)> = query
            .iter()
            .filter_map(|(k, v)| Some((*k, v.as_deref()?)))
            .collect();
        if !set.is_empty() {
            url.query_pairs_mut().extend_pairs(set);
        }
        url
    }

    /// `url` comes with its path template (what observers are told, never the URL).
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: (Url, String),
        body: Body,
        repeat: Repeat,
    ) -> Result<T, SmoothError> {
        self.attempts(method, url, body, repeat)
            .await
            .map_err(|f| f.error)
    }

    /// [`Self::call`], keeping whether the last attempt left this machine.
    async fn attempts<T: DeserializeOwned>(
        &self,
        method: Method,
        (url, endpoint): (Url, String),
        body: Body,
        repeat: Repeat,
    ) -> Result<T, Failure> {
        let key = self
            .key
            .as_ref()
            .ok_or(SmoothError::MissingKey)
            .and_then(ApiKey::header)
            .map_err(|error| Failure {
                error,
                unsent: true,
            })?;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.max_retries)
            .with_jitter();
        let max_delay = self.retry.max_delay;
        let server = self.base.host_str().unwrap_or_default();
        let attempt = || {
            // One span per attempt, named and attributed per OpenTelemetry's HTTP client
            // conventions (`otel.*` fields are read by tracing-opentelemetry); below the
            // default log level, so it costs nothing unless a subscriber asks for it.
            let span = tracing::trace_span!(
                "smooth_request",
                otel.name = %format_args!("{method} {endpoint}"),
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                "http.request.method" = %method,
                "url.template" = %endpoint,
                "server.address" = server,
                "http.response.status_code" = tracing::field::Empty,
            );
            async {
                // This attempt's span (a no-op when nobody listens).
                let recorded = tracing::Span::current();
                let started = Instant::now();
                let mut status = None;
                let result = self
                    .send_once::<T>(method.clone(), url.clone(), key.clone(), &body, &mut status)
                    .await;
                match status {
                    Some(code) => recorded.record("http.response.status_code", code),
                    None => recorded.record("otel.status_code", "ERROR"),
                };
                if status.is_some_and(|code| code >= 500) {
                    recorded.record("otel.status_code", "ERROR");
                }
                if let Some(observer) = self.observer() {
                    observer.exchange(&Exchange {
                        method: method.as_str(),
                        endpoint: &endpoint,
                        status,
                        elapsed: started.elapsed(),
                    });
                }
                result
            }
            .instrument(span)
        };
        attempt
            .retry(backoff)
            .when(|e: &Failure| match repeat {
                Repeat::Safe => e.error.is_transient(),
                Repeat::OnlyIfUnsent => e.unsent,
            })
            .adjust(move |e: &Failure, planned| match e.error.retry_after() {
                // A server that asks for a longer pause than we would ever wait gets the
                // error back instead of a stalled call.
                Some(wait) if wait > max_delay.max(Duration::from_secs(10)) => None,
                Some(wait) => Some(wait),
                None => planned,
            })
            .notify(|e: &Failure, after| {
                tracing::debug!(path = %url.path(), error = %e.error, ?after, "retrying Smooth request");
                if let Some(observer) = self.observer() {
                    observer.retry(method.as_str(), &endpoint);
                }
            })
            .await
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        key: HeaderValue,
        body: &Body,
        status_seen: &mut Option<u16>,
    ) -> Result<T, Failure> {
        let mut req = self.http.request(method, url).header("apikey", key);
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(v),
            Body::File {
                file_name,
                bytes,
                purpose,
            } => {
                let part = reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(file_name.clone())
                    .mime_str("application/octet-stream")
                    .map_err(|e| Failure::sent(SmoothError::from_reqwest(e)))?;
                let mut form = reqwest::multipart::Form::new().part("file", part);
                if let Some(p) = purpose {
                    form = form.text("file_purpose", p.clone());
                }
                req.multipart(form)
            }
        };
        let resp = req.send().await.map_err(|e| Failure {
            unsent: e.is_connect(),
            error: SmoothError::from_reqwest(e),
        })?;
        let status = resp.status();
        *status_seen = Some(status.as_u16());
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp
            .text()
            .await
            .map_err(|e| Failure::sent(SmoothError::from_reqwest(e)))?;
        if !status.is_success() {
            return Err(Failure::sent(SmoothError::Api {
                status: status.as_u16(),
                message: error_message(status.as_u16(), &text),
                retry_after,
            }));
        }
        let envelope: Envelope<T> = serde_json::from_str(&text)
            .map_err(|e| Failure::sent(SmoothError::Decode(e.to_string())))?;
        Ok(envelope.r)
    }
}

/// Every successful answer is wrapped: `{"r": ...}`.
#[derive(serde::Deserialize)]
struct Envelope<T> {
    r: T,
}

struct Failure {
    error: SmoothError,
    /// The request never left this machine (connection refused, DNS).
    unsent: bool,
}

impl Failure {
    fn sent(error: SmoothError) -> Self {
        Self {
            error,
            unsent: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_forms() {
        for raw in [
            "https://api.smooth.sh/api/",
            "https://api.smooth.sh/api",
            "https://api.smooth.sh/api/v1",
            "https://api.smooth.sh/api/v1/",
        ] {
            assert_eq!(
                normalize_base_url(raw).unwrap().as_str(),
                "https://api.smooth.sh/api/v1",
                "{raw}"
            );
        }
        assert!(normalize_base_url("not a url").is_err());
        assert!(matches!(
            normalize_base_url("ftp://x/api"),
            Err(ClientBuildError::InvalidBaseUrl { .. })
        ));
    }

    #[test]
    fn ids_are_single_encoded_segments_and_unset_query_pairs_are_left_out() {
        let c = SmoothClient::new(ClientConfig {
            base_url: "http://h/api/v1".into(),
            api_key: ApiKey::new("k"),
            ..ClientConfig::default()
        })
        .unwrap();
        let url = c.url(
            &["task", "-a/b?c"],
            &[("event_t", Some("5".into())), ("downloads", None)],
        );
        assert_eq!(url.as_str(), "http://h/api/v1/task/-a%2Fb%3Fc?event_t=5");
        assert_eq!(
            c.url(&["task"], &[("t", None)]).as_str(),
            "http://h/api/v1/task"
        );
    }

    #[test]
    fn user_agent_must_be_a_header_value() {
        let cfg = ClientConfig {
            user_agent: Some("bad\nagent".into()),
            ..ClientConfig::default()
        };
        assert!(matches!(
            SmoothClient::new(cfg),
            Err(ClientBuildError::InvalidUserAgent(_))
        ));
    }

    #[test]
    fn key_is_redacted_trimmed_and_blank_is_none() {
        assert!(ApiKey::new("  ").is_none());
        let k = ApiKey::new(" cmzr-secret ").unwrap();
        assert!(!format!("{k:?}").contains("secret"));
        assert_eq!(k.header().unwrap(), "cmzr-secret");
        assert!(k.header().unwrap().is_sensitive());
    }

    #[test]
    fn account_ids_follow_the_key_and_do_not_show_it() {
        let a = ApiKey::new("cmzr-a").unwrap();
        assert_eq!(a.account_id(), ApiKey::new(" cmzr-a").unwrap().account_id());
        assert_ne!(a.account_id(), ApiKey::new("cmzr-b").unwrap().account_id());
        assert!(!format!("{:?}", a.account_id()).contains("cmzr"));
    }
}
