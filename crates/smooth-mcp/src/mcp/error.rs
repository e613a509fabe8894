//! Tool errors: what happened and what the model should do next. Rendered as `isError`
//! results without structured content, so strict clients never see a schema mismatch.

use rmcp::model::{ContentBlock, IntoContents};

use smooth_api::SmoothError;

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
