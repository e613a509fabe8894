//! What a caller may watch of the client without this crate knowing how it is reported:
//! an [`Observer`] given to [`SmoothClient::with_observer`](crate::SmoothClient::with_observer)
//! hears of every HTTP exchange, retry, task created and task ended. A server turns these
//! into metrics; this crate depends on no metrics library.
//!
//! Nothing passed here carries a key, a task's text, an id or a query string: endpoints are
//! templates such as `/task/{id}`.

use std::time::Duration;

use crate::types::TaskStatus;

/// One HTTP exchange with Smooth (one attempt; a retried request reports each).
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// `GET`, `POST`, `DELETE`.
    pub method: &'a str,
    /// The path template, e.g. `/task/{id}/event` (never an id).
    pub endpoint: &'a str,
    /// The answer's status; `None` when no answer came (connection failed, timed out).
    pub status: Option<u16>,
    /// From sending to the whole answer read.
    pub elapsed: Duration,
}

/// Hears what the client and the task watcher do. Every method defaults to nothing; they
/// are called inline, so they must be quick and must not block.
pub trait Observer: Send + Sync {
    /// An exchange ended (with an answer or without).
    fn exchange(&self, _exchange: &Exchange<'_>) {}
    /// A failed attempt is being retried.
    fn retry(&self, _method: &str, _endpoint: &str) {}
    /// `POST /task` created a task, or with `session` a session.
    fn created(&self, _session: bool) {}
    /// A task or session this process created was first seen in a final status (once per
    /// task; tasks created elsewhere and only followed here are not reported).
    fn ended(&self, _status: TaskStatus, _credits_used: Option<f64>) {}
}

/// The path template of `segments`: the second segment is always an id.
pub(crate) fn endpoint(segments: &[&str]) -> String {
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        out.push('/');
        out.push_str(if i == 1 { "{id}" } else { s });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoints_never_carry_ids() {
        assert_eq!(endpoint(&["task"]), "/task");
        assert_eq!(endpoint(&["task", "t-secret-id"]), "/task/{id}");
        assert_eq!(endpoint(&["task", "abc", "event"]), "/task/{id}/event");
        assert_eq!(endpoint(&["extension", "x"]), "/extension/{id}");
    }
}
