use std::time::Duration;

/// What went wrong talking to Smooth. Messages never contain the API key or request bodies.
#[derive(Debug, thiserror::Error)]
pub enum SmoothError {
    #[error("no Smooth API key is configured")]
    MissingKey,
    #[error("Smooth answered HTTP {status}: {message}")]
    Api {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("could not reach Smooth: {0}")]
    Transport(String),
    #[error("Smooth did not answer in time")]
    Timeout,
    #[error("Smooth sent a response this server could not read: {0}")]
    Decode(String),
}

impl SmoothError {
    /// Worth repeating for requests that are safe to repeat.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Timeout => true,
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            Self::MissingKey | Self::Decode(_) => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
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

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Turns a FastAPI error body (`{"detail": "..."}` or `{"detail": [{loc, msg, type}]}`, or
/// anything else) into one readable line.
pub(crate) fn error_message(status: u16, body: &str) -> String {
    const MAX: usize = 500;
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let msg = match parsed.as_ref().and_then(|v| v.get("detail")) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| {
                let loc = item
                    .get("loc")
                    .and_then(|l| l.as_array())
                    .map(|parts| {
                        parts
                            .iter()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                            .filter(|p| p != "body")
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let text = item
                    .get("msg")
                    .and_then(|m| m.as_str())
                    .map_or_else(|| item.to_string(), str::to_owned);
                if loc.is_empty() {
                    text
                } else {
                    format!("{loc}: {text}")
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
        None if body.trim().is_empty() => default_reason(status).to_owned(),
        None => body.trim().to_owned(),
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
