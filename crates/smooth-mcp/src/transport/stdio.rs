use std::future::Future;
use std::sync::Arc;

use rmcp::ServiceExt;

use super::jsonrpc_guard;
use crate::mcp::{AppState, SmoothServer};

/// Serves one client on stdin/stdout until it disconnects or `shutdown` resolves.
///
/// Lines pass through [`jsonrpc_guard::Stdio`], which answers malformed ones itself.
pub async fn serve(state: Arc<AppState>, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (guard, pipe) = jsonrpc_guard::Stdio::start(tokio::io::stdin(), tokio::io::stdout());
    // The one client is gone: rmcp still lets in-flight calls finish for a while, but a call
    // it cuts off then leaves its task to the shutdown sweep (see `Ledger`).
    let input_closed = guard.input_closed();
    let ledger = state.ledger.clone();
    tokio::spawn(async move {
        input_closed.cancelled().await;
        ledger.begin_shutdown();
    });
    let running = SmoothServer::new(state).serve(pipe).await?;
    let ct = running.cancellation_token();
    tokio::select! {
        reason = running.waiting() => {
            tracing::info!(?reason, "client disconnected");
        }
        () = shutdown => {
            tracing::info!("shutting down");
            ct.cancel();
        }
    }
    guard.finish().await;
    Ok(())
}
