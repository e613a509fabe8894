use std::fmt;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{SmoothError, error_message};
use super::types::{
    Extension, IdResponse, Profile, ProfileList, TaskEvent, TaskRequest, TaskResponse,
};

pub const DEFAULT_BASE_URL: &str = "https://api.smooth.sh/api/v1";

/// An API key that never shows itself in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` for an empty or blank key.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into().trim().to_owned();
        (!key.is_empty()).then_some(Self(key))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// How requests that are safe to repeat are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: usize,
    pub min_delay: Duration,
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

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

/// The Smooth REST client. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct SmoothClient {
    http: reqwest::Client,
    base: Url,
    key: Option<ApiKey>,
    retry: RetryPolicy,
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
pub fn normalize_base_url(raw: &str) -> Result<Url, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let full = if trimmed.ends_with("/v1") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1")
    };
    let url = Url::parse(&full).map_err(|e| format!("invalid Smooth base URL {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(format!(
            "invalid Smooth base URL {raw:?}: use http(s)://host/api/v1"
        ));
    }
    Ok(url)
}

/// Which requests may be sent again after a failure.
#[derive(Clone, Copy, PartialEq)]
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
    Multipart {
        file_name: String,
        bytes: Vec<u8>,
        purpose: Option<String>,
    },
}

impl SmoothClient {
    pub fn new(cfg: ClientConfig) -> Result<Self, String> {
        let base = normalize_base_url(&cfg.base_url)?;
        let http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(Duration::from_secs(10).min(cfg.request_timeout))
            .user_agent(concat!("smooth-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base,
            key: cfg.api_key,
            retry: cfg.retry,
        })
    }

    /// The same client speaking for another account (a per-request key over HTTP).
    pub fn with_key(&self, key: Option<ApiKey>) -> Self {
        Self {
            key,
            ..self.clone()
        }
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    pub fn key(&self) -> Option<&ApiKey> {
        self.key.as_ref()
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    pub async fn create_task(&self, req: &TaskRequest) -> Result<TaskResponse, SmoothError> {
        let body = serde_json::to_value(req).map_err(|e| SmoothError::Decode(e.to_string()))?;
        self.call(
            Method::POST,
            &["task"],
            &[],
            Body::Json(body),
            Repeat::OnlyIfUnsent,
        )
        .await
    }

    /// `GET /task`: newest first; `before` is unix seconds.
    pub async fn list_tasks(
        &self,
        before: Option<f64>,
        limit: Option<u32>,
    ) -> Result<Vec<TaskResponse>, SmoothError> {
        let mut query = Vec::new();
        if let Some(t) = before {
            query.push(("t", t.to_string()));
        }
        if let Some(l) = limit {
            query.push(("l", l.to_string()));
        }
        self.call(Method::GET, &["task"], &query, Body::None, Repeat::Safe)
            .await
    }

    /// `GET /task/{id}`: 200 (terminal) and 202 (live) both succeed.
    pub async fn get_task(
        &self,
        id: &str,
        event_t: i64,
        downloads: bool,
    ) -> Result<TaskResponse, SmoothError> {
        let mut query = vec![("event_t", event_t.to_string())];
        if downloads {
            query.push(("downloads", "true".to_owned()));
        }
        self.call(Method::GET, &["task", id], &query, Body::None, Repeat::Safe)
            .await
    }

    /// Cancels a task or force-closes a session.
    pub async fn cancel_task(&self, id: &str) -> Result<bool, SmoothError> {
        self.call(Method::DELETE, &["task", id], &[], Body::None, Repeat::Safe)
            .await
    }

    /// Posts an event; its `id` must be set so a retry cannot act twice.
    pub async fn send_event(
        &self,
        task_id: &str,
        event: &TaskEvent,
    ) -> Result<String, SmoothError> {
        let body = serde_json::to_value(event).map_err(|e| SmoothError::Decode(e.to_string()))?;
        let repeat = if event.id.is_some() {
            Repeat::Safe
        } else {
            Repeat::OnlyIfUnsent
        };
        let r: IdResponse = self
            .call(
                Method::POST,
                &["task", task_id, "event"],
                &[],
                Body::Json(body),
                repeat,
            )
            .await?;
        Ok(r.id)
    }

    pub async fn create_profile(&self, id: Option<&str>) -> Result<Profile, SmoothError> {
        self.call(
            Method::POST,
            &["profile"],
            &[],
            Body::Json(serde_json::json!({ "id": id })),
            Repeat::OnlyIfUnsent,
        )
        .await
    }

    pub async fn list_profiles(&self) -> Result<Vec<Profile>, SmoothError> {
        let list: ProfileList = self
            .call(Method::GET, &["profile"], &[], Body::None, Repeat::Safe)
            .await?;
        Ok(list.into_profiles())
    }

    pub async fn delete_profile(&self, id: &str) -> Result<bool, SmoothError> {
        self.call(
            Method::DELETE,
            &["profile", id],
            &[],
            Body::None,
            Repeat::Safe,
        )
        .await
    }

    pub async fn upload_file(
        &self,
        file_name: &str,
        bytes: Vec<u8>,
        purpose: Option<&str>,
    ) -> Result<String, SmoothError> {
        let body = Body::Multipart {
            file_name: file_name.to_owned(),
            bytes,
            purpose: purpose.map(str::to_owned),
        };
        let r: IdResponse = self
            .call(Method::POST, &["file"], &[], body, Repeat::OnlyIfUnsent)
            .await?;
        Ok(r.id)
    }

    pub async fn delete_file(&self, id: &str) -> Result<bool, SmoothError> {
        self.call(Method::DELETE, &["file", id], &[], Body::None, Repeat::Safe)
            .await
    }

    pub async fn upload_extension(
        &self,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<String, SmoothError> {
        let body = Body::Multipart {
            file_name: file_name.to_owned(),
            bytes,
            purpose: None,
        };
        let r: IdResponse = self
            .call(
                Method::POST,
                &["extension"],
                &[],
                body,
                Repeat::OnlyIfUnsent,
            )
            .await?;
        Ok(r.id)
    }

    pub async fn list_extensions(&self) -> Result<Vec<Extension>, SmoothError> {
        self.call(Method::GET, &["extension"], &[], Body::None, Repeat::Safe)
            .await
    }

    /// `DELETE /extension/{id}`, the path both SDKs use (the OpenAPI document differs).
    pub async fn delete_extension(&self, id: &str) -> Result<bool, SmoothError> {
        self.call(
            Method::DELETE,
            &["extension", id],
            &[],
            Body::None,
            Repeat::Safe,
        )
        .await
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // Ids are pushed as single segments, so they are percent-encoded.
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Body,
        repeat: Repeat,
    ) -> Result<T, SmoothError> {
        let key = self.key.as_ref().ok_or(SmoothError::MissingKey)?;
        let url = self.url(segments, query);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.max_retries)
            .with_jitter();
        let max_delay = self.retry.max_delay;
        let attempt = || self.send_once::<T>(method.clone(), url.clone(), key, &body);
        attempt
            .retry(backoff)
            .when(|e: &Failure| match repeat {
                Repeat::Safe => e.error.is_transient(),
                Repeat::OnlyIfUnsent => e.unsent,
            })
            .adjust(move |e: &Failure, planned| match e.error.retry_after() {
                // A server that asks for a longer pause than we would ever wait gets the
                // error back instead of a stalled tool call.
                Some(wait) if wait > max_delay.max(Duration::from_secs(10)) => None,
                Some(wait) => Some(wait),
                None => planned,
            })
            .notify(|e: &Failure, after| {
                tracing::debug!(path = %url.path(), error = %e.error, ?after, "retrying Smooth request");
            })
            .await
            .map_err(|f| f.error)
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        key: &ApiKey,
        body: &Body,
    ) -> Result<T, Failure> {
        let mut req = self
            .http
            .request(method, url)
            .header("apikey", key.expose());
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(v),
            Body::Multipart {
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
        assert!(normalize_base_url("ftp://x/api").is_err());
    }

    #[test]
    fn ids_are_single_encoded_segments() {
        let c = SmoothClient::new(ClientConfig {
            base_url: "http://h/api/v1".into(),
            api_key: ApiKey::new("k"),
            request_timeout: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        })
        .unwrap();
        let url = c.url(&["task", "-a/b?c"], &[("event_t", "5".into())]);
        assert_eq!(url.as_str(), "http://h/api/v1/task/-a%2Fb%3Fc?event_t=5");
    }

    #[test]
    fn key_is_redacted_and_blank_is_none() {
        assert!(ApiKey::new("  ").is_none());
        let k = ApiKey::new("cmzr-secret").unwrap();
        assert!(!format!("{k:?}").contains("secret"));
    }
}
