//! The errors of this crate: [`SmoothError`] for calls, [`ClientBuildError`] for
//! [`SmoothClient::new`](crate::SmoothClient::new).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::TaskResponse;

/// What went wrong talking to Smooth. Messages never contain the API key or request bodies.
#[derive(Debug, thiserror::Error)]
pub enum SmoothError {
    /// The client has no API key, so nothing was sent.
    #[error("no Smooth API key is configured")]
    MissingKey,
    /// Smooth answered with an error status.
    #[error("Smooth answered HTTP {status}: {message}")]
    Api {
        /// The HTTP status code.
        status: u16,
        /// Smooth's explanation (its `detail`), in one line.
        message: String,
        /// How long Smooth asked us to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// The request or its answer was lost on the way (DNS, connection, TLS, a cut stream).
    #[error("could not reach Smooth: {0}")]
    Transport(String),
    /// No answer within the configured request timeout.
    #[error("Smooth did not answer in time")]
    Timeout,
    /// The answer was not the JSON this client expects (or a request could not be encoded).
    #[error("Smooth sent a response this client could not read: {0}")]
    Decode(String),
    /// `POST /task` was sent but its answer was lost (cut connection, timeout, unreadable
    /// body), so nobody knows whether the task exists. It is never sent again (that could
    /// start and bill it twice). Instead the account's tasks created since just before the
    /// request were listed: `candidates` (newest first), any of which may be it, or may
    /// have been started elsewhere on the account (Smooth's list carries no task text).
    /// [`Watcher::start`](crate::watch::Watcher::start) leaves out the tasks this process
    /// already knows.
    #[error("Smooth's answer to creating the task was lost ({cause})")]
    CreationUnconfirmed {
        /// How the answer was lost.
        cause: Box<SmoothError>,
        /// Tasks of the account created in the window, newest first.
        candidates: Vec<TaskResponse>,
        /// Why the account's tasks could not be listed, when they could not.
        lookup_failed: Option<Box<SmoothError>>,
    },
}

/// Why [`SmoothClient::new`](crate::SmoothClient::new) (or [`normalize_base_url`](crate::normalize_base_url))
/// refused a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The base URL is not an absolute `http(s)` URL.
    #[error("invalid Smooth base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The user agent cannot be sent as an HTTP header value.
    #[error("invalid user agent {0:?}: use visible ASCII")]
    InvalidUserAgent(String),
    /// The HTTP client could not be set up (e.g. no TLS roots).
    #[error("could not build the HTTP client: {0}")]
    Http(reqwest::Error),
}

impl SmoothError {
    /// Worth repeating for requests that are safe to repeat.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Timeout => true,
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            // A lost creation answer must never lead to a second `POST /task`.
            Self::MissingKey | Self::Decode(_) | Self::CreationUnconfirmed { .. } => false,
        }
    }

    /// The HTTP status, when Smooth answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The request left this machine but no readable answer came back: what was asked may
    /// or may not have happened. A 504 is a gateway that gave up waiting for Smooth.
    pub(crate) fn answer_lost(&self) -> bool {
        matches!(
            self,
            Self::Transport(_) | Self::Timeout | Self::Decode(_) | Self::Api { status: 504, .. }
        )
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return Self::Timeout;
        }
        if e.is_decode() {
            return Self::Decode(e.without_url().to_string());
        }
        // The URL holds no secret, but keep messages short and uniform.
        Self::Transport(error_chain(&e.without_url()))
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Smooth's error body, FastAPI style: `{"detail": "..."}` or, for a rejected request
/// body (422), `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`.
#[derive(Deserialize)]
struct ErrorBody {
    detail: Detail,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Detail {
    Message(String),
    Invalid(Vec<Invalid>),
    /// Anything else under `detail` is shown as JSON.
    Other(Value),
}

/// One rejected field; `type` (the kind of check) adds nothing for a reader and is skipped.
#[derive(Deserialize)]
struct Invalid {
    #[serde(default)]
    loc: Vec<Value>,
    msg: String,
}

impl Invalid {
    /// `max_steps: must be <= 128` (the `body` prefix of every location is dropped).
    fn line(&self) -> String {
        let loc: Vec<String> = self
            .loc
            .iter()
            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
            .filter(|p| p != "body")
            .collect();
        if loc.is_empty() {
            self.msg.clone()
        } else {
            format!("{}: {}", loc.join("."), self.msg)
        }
    }
}

/// Turns an error body (Smooth's, or anything a proxy sends) into one readable line.
pub(crate) fn error_message(status: u16, body: &str) -> String {
    const MAX: usize = 500;
    let msg = match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody {
            detail: Detail::Message(s),
        }) => s,
        Ok(ErrorBody {
            detail: Detail::Invalid(items),
        }) => items
            .iter()
            .map(Invalid::line)
            .collect::<Vec<_>>()
            .join("; "),
        Ok(ErrorBody {
            detail: Detail::Other(v),
        }) => v.to_string(),
        Err(_) if body.trim().is_empty() => default_reason(status).to_owned(),
        Err(_) => body.trim().to_owned(),
    };
    truncate(&msg, MAX)
}

fn default_reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error")
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_string_array_and_raw_bodies() {
        assert_eq!(
            error_message(404, r#"{"detail":"Task not found"}"#),
            "Task not found"
        );
        assert_eq!(
            error_message(
                422,
                r#"{"detail":[{"loc":["body","max_steps"],"msg":"must be <= 128","type":"x"}]}"#
            ),
            "max_steps: must be <= 128"
        );
        assert_eq!(
            error_message(
                422,
                r#"{"detail":[{"loc":["query",0],"msg":"bad"},{"msg":"worse"}]}"#
            ),
            "query.0: bad; worse"
        );
        assert_eq!(error_message(400, r#"{"detail":{"k":1}}"#), r#"{"k":1}"#);
        assert_eq!(error_message(400, r#"{"error":"x"}"#), r#"{"error":"x"}"#);
        assert_eq!(error_message(502, "upstream exploded"), "upstream exploded");
        assert_eq!(error_message(503, ""), "Service Unavailable");
        assert!(error_message(500, &"x".repeat(2000)).chars().count() <= 501);
    }

    #[test]
    fn transient_classification() {
        let api = |status| SmoothError::Api {
            status,
            message: String::new(),
            retry_after: None,
        };
        assert!(api(500).is_transient());
        assert!(api(429).is_transient());
        assert!(!api(404).is_transient());
        assert!(SmoothError::Timeout.is_transient());
        assert!(!SmoothError::MissingKey.is_transient());
    }
}
