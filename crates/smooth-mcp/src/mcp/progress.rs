//! Where a waiting tool reports how the work goes: MCP progress notifications for a plain
//! call, the status message for an MCP task.

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext};
use rmcp::task_manager::TaskContext;

/// A vanished client must never hang a tool (a send after stdin closed never completes).
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

pub enum Reporter {
    /// The request carried no progress token: nothing to send.
    Silent,
    Progress {
        peer: Peer<RoleServer>,
        token: ProgressToken,
        sent: u32,
    },
    McpTask(TaskContext),
}

impl Reporter {
    pub fn for_request(ctx: &RequestContext<RoleServer>) -> Self {
        match ctx.meta.get_progress_token() {
            Some(token) => Self::Progress {
                peer: ctx.peer.clone(),
                token,
                sent: 0,
            },
            None => Self::Silent,
        }
    }

    pub async fn report(&mut self, message: String) {
        match self {
            Self::Silent => {}
            Self::Progress { peer, token, sent } => {
                *sent += 1;
                let param = ProgressNotificationParam::new(token.clone(), f64::from(*sent))
                    .with_message(message);
                if tokio::time::timeout(SEND_TIMEOUT, peer.notify_progress(param))
                    .await
                    .is_err()
                {
                    tracing::debug!("progress notification not delivered in time");
                }
            }
            Self::McpTask(task) => task.set_status_message(message),
        }
    }
}
