//! Tool errors: what happened and what the model should do next. Rendered as `isError`
//! results without structured content, so strict clients never see a schema mismatch.

use rmcp::model::{ContentBlock, IntoContents};

use smooth_api::{SmoothError, TaskResponse};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments are wrong; nothing was sent to Smooth.
    #[error("Invalid arguments: {0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Smooth(String),
    #[error("{0}")]
    File(String),
    /// The client cancelled the request.
    #[error("{0}")]
    Cancelled(String),
}

pub type ToolResult<T> = Result<T, ToolError>;

pub fn invalid(msg: impl Into<String>) -> ToolError {
    ToolError::InvalidArgument(msg.into())
}

impl IntoContents for ToolError {
    /// Messages quote client text (ids, paths, names): its control characters are escaped.
    fn into_contents(self) -> Vec<ContentBlock> {
        vec![ContentBlock::text(
            crate::escape::controls(&self.to_string()).into_owned(),
        )]
    }
}

/// Where the embedded mock is built in, how to try the tools without an account.
const MOCK_HINT: &str = if cfg!(feature = "mock") {
    " To try the tools without an account, start the server with --mock."
} else {
    ""
};

impl ToolError {
    /// An upstream failure, with advice that fits what was being done (`doing`, e.g.
    /// "creating the task") and the id involved, if any.
    pub fn upstream(e: &SmoothError, doing: &str) -> Self {
        let advice = match e {
            SmoothError::MissingKey => {
                return Self::Smooth(format!(
                    "No Smooth API key is configured, so {doing} was not attempted. Set SMOOTH_API_KEY \
                     in the \"env\" of this server's entry in your MCP client configuration (get a key \
                     at https://app.smooth.sh), then restart the server.{MOCK_HINT}"
                ));
            }
            SmoothError::CreationUnconfirmed {
                cause,
                candidates,
                lookup_failed,
            } => {
                return Self::Smooth(unconfirmed(
                    doing,
                    cause,
                    candidates,
                    lookup_failed.as_deref(),
                ));
            }
            SmoothError::Api { status: 401, .. } => {
                "The API key was rejected: check SMOOTH_API_KEY in this server's configuration."
            }
            SmoothError::Api { status: 403, .. } => {
                "Your Smooth plan does not include this feature (profiles and custom proxies need a paid plan)."
            }
            SmoothError::Api { status: 404, .. } => {
                "Check the id: it may be mistyped, belong to another account, or the task may already have ended. list_sessions shows open sessions."
            }
            SmoothError::Api { status: 409, .. } => {
                "That id is already taken: choose another or omit it."
            }
            SmoothError::Api {
                status: 422 | 400, ..
            } => {
                "Smooth rejected the request as invalid: fix the arguments named above and try again."
            }
            SmoothError::Api { status: 429, .. } => {
                "Credits are exhausted or the plan's concurrent-browser limit is reached: close an open session (session_action with action=close; list_sessions shows them) or wait for a task to finish, then retry."
            }
            SmoothError::Api { .. } | SmoothError::Transport(_) | SmoothError::Timeout => {
                "This is usually temporary: retry in a few seconds."
            }
            SmoothError::Decode(_) => "Smooth may have changed its API; please report this.",
        };
        Self::Smooth(format!("Smooth failed while {doing}: {e}. {advice}"))
    }
}

/// A `POST /task` whose answer was lost: what may exist, and how to follow or stop it. Never
/// claims a candidate is the task (Smooth's list carries no task text).
fn unconfirmed(
    doing: &str,
    cause: &SmoothError,
    candidates: &[TaskResponse],
    lookup_failed: Option<&SmoothError>,
) -> String {
    let mut msg = format!(
        "Smooth's answer was lost while {doing} ({cause}), so it is not known whether it was \
         created. The request was not sent again: that could start (and bill) it twice."
    );
    if let Some(e) = lookup_failed {
        msg.push_str(&format!(
            " Listing the account's tasks to find it failed too ({e}). It may be running: check \
             your tasks at https://app.smooth.sh before starting it again."
        ));
        return msg;
    }
    if candidates.is_empty() {
        msg.push_str(
            " No task created in that moment shows up on the account, so it was most likely not \
             created: retry in a few seconds.",
        );
        return msg;
    }
    msg.push_str(
        " Tasks created on this account in that moment that this server did not start (one may \
         be it, but Smooth's list has no task text, so another client could have started them):",
    );
    for t in candidates {
        let live = t.live_url.as_deref().unwrap_or("none yet");
        msg.push_str(&format!(
            "\n- task_id \"{}\" ({}), live_url: {live}",
            t.id, t.status
        ));
    }
    msg.push_str(
        "\nCall get_task with a task_id to follow it (its live_url shows what it does), or \
         cancel_task to stop it. Do not simply retry: a second task could run.",
    );
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost() -> SmoothError {
        SmoothError::Timeout
    }

    #[test]
    fn a_lost_creation_names_every_candidate_and_how_to_follow_or_cancel_it() {
        let candidates = vec![
            TaskResponse {
                id: "t-new".into(),
                live_url: Some("https://live/new".into()),
                ..TaskResponse::default()
            },
            TaskResponse {
                id: "t-old".into(),
                ..TaskResponse::default()
            },
        ];
        let e = SmoothError::CreationUnconfirmed {
            cause: Box::new(lost()),
            candidates,
            lookup_failed: None,
        };
        let msg = ToolError::upstream(&e, "creating the task").to_string();
        for part in [
            "task_id \"t-new\"",
            "https://live/new",
            "task_id \"t-old\"",
            "none yet",
            "get_task",
            "cancel_task",
            "not sent again",
            "one may be it",
        ] {
            assert!(msg.contains(part), "{part} missing: {msg}");
        }
    }

    #[test]
    fn a_lost_creation_without_candidates_or_listing_says_what_to_do() {
        let none = SmoothError::CreationUnconfirmed {
            cause: Box::new(lost()),
            candidates: vec![],
            lookup_failed: None,
        };
        let msg = ToolError::upstream(&none, "creating the task").to_string();
        assert!(msg.contains("most likely not created: retry"), "{msg}");
        let blind = SmoothError::CreationUnconfirmed {
            cause: Box::new(lost()),
            candidates: vec![],
            lookup_failed: Some(Box::new(SmoothError::Timeout)),
        };
        let msg = ToolError::upstream(&blind, "creating the task").to_string();
        assert!(
            msg.contains("app.smooth.sh before starting it again"),
            "{msg}"
        );
    }
}
