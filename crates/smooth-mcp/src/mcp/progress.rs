//! Where a waiting tool reports how the work goes: MCP progress notifications for a plain
//! call, the status message for an MCP task; and how it reaches the user ([`Channel`]).

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext};
use rmcp::task_manager::{TaskContext, TaskManager};

use super::channel::Channel;
use crate::ledger::Ledger;
use crate::secrets::Redactor;
use std::sync::Arc;

/// A vanished client must never hang a tool (a send after stdin closed never completes).
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Reporter {
    sink: Sink,
    /// Who answers the agent's pending tool calls during this call's waits.
    pub channel: Channel,
}

enum Sink {
    /// The request carried no progress token: nothing to send.
    Silent,
    Progress {
        peer: Peer<RoleServer>,
        token: ProgressToken,
        sent: u32,
        /// Told which task ids went out (put in the request by `call_tool`).
        ledger: Option<Arc<Ledger>>,
    },
    McpTask(TaskContext),
}

impl Reporter {
    pub fn for_request(ctx: &RequestContext<RoleServer>) -> Self {
        let sink = match ctx.meta.get_progress_token() {
            Some(token) => Sink::Progress {
                peer: ctx.peer.clone(),
                token,
                sent: 0,
                ledger: ctx.extensions.get::<Arc<Ledger>>().cloned(),
            },
            None => Sink::Silent,
        };
        Self {
            sink,
            channel: Channel::for_request(ctx),
        }
    }

    /// An MCP task's: its status message, and its pending calls asked through the task.
    pub fn mcp_task(ctx: TaskContext, tasks: TaskManager, redactor: Arc<Redactor>) -> Self {
        Self {
            sink: Sink::McpTask(ctx.clone()),
            channel: Channel::mcp_task(ctx, tasks, redactor),
        }
    }

    pub async fn report(&mut self, message: String) {
        match &mut self.sink {
            Sink::Silent => {}
            Sink::Progress {
                peer,
                token,
                sent,
                ledger,
            } => {
                *sent += 1;
                let param = ProgressNotificationParam::new(token.clone(), f64::from(*sent))
                    .with_message(message.clone());
                match tokio::time::timeout(SEND_TIMEOUT, peer.notify_progress(param)).await {
                    Ok(Ok(())) => {
                        if let Some(ledger) = ledger {
                            ledger.sent(&message);
                        }
                    }
                    Ok(Err(_)) => {}
                    Err(_) => tracing::debug!("progress notification not delivered in time"),
                }
            }
            // Goes out when the client asks (tasks/get), which tells the ledger.
            Sink::McpTask(task) => task.set_status_message(message),
        }
    }
}
