use std::future::Future;
use std::sync::Arc;

use rmcp::ServiceExt;

use crate::mcp::{AppState, SmoothServer};

/// Serves one client on stdin/stdout until it disconnects or `shutdown` resolves.
pub async fn serve(state: Arc<AppState>, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let running = SmoothServer::new(state)
        .serve(rmcp::transport::stdio())
        .await?;
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
    Ok(())
}
