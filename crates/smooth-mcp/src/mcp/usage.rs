//! usage: what the caller's account spent in the current budget window and what runs now,
//! against the server's limits.

use rmcp::handler::server::common::schema_for_output;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SmoothServer;
use super::args::Parameters;
use super::error::ToolError;
use super::results::{structured, usd};
use crate::limits::{Kind, rfc3339};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageArgs {}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UsageResult {
    /// hour, day (UTC) or process lifetime.
    pub window: String,
    /// RFC 3339, UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_ends_at: Option<String>,
    /// By tasks and sessions that ended in this window.
    pub credits_used: f64,
    pub cost_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_credits: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_left: Option<f64>,
    pub tasks_running: Vec<String>,
    pub sessions_open: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_tasks: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_open_sessions: Option<usize>,
}

#[tool_router(router = usage_router, vis = "pub(super)")]
impl SmoothServer {
    #[tool(
        name = "usage",
        title = "Spending and limits",
        description = "Credits and dollars your account spent in this server's budget window, \
            the budget left, and the tasks and sessions running.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<UsageResult>()
    )]
    async fn usage(
        &self,
        Parameters(_): Parameters<UsageArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let client = self.client(&ctx);
        let usage = self.state.limits.usage(&self.state.watcher, &client).await;
        let ids = |kind: Kind| {
            usage
                .running
                .iter()
                .filter(|r| r.kind == kind)
                .map(|r| r.id.clone())
                .collect()
        };
        let result = UsageResult {
            window: usage.window.name().to_owned(),
            window_ends_at: usage.window_ends.and_then(rfc3339),
            credits_used: usage.credits_used,
            cost_usd: usd(Some(usage.credits_used)).unwrap_or_default(),
            budget_credits: usage.budget,
            budget_left: usage
                .budget
                .map(|b| ((b - usage.credits_used).max(0.0) * 10_000.0).round() / 10_000.0),
            tasks_running: ids(Kind::Task),
            sessions_open: ids(Kind::Session),
            max_concurrent_tasks: usage.settings.max_concurrent_tasks,
            max_open_sessions: usage.settings.max_open_sessions,
        };
        Ok(structured(&result, vec![]))
    }
}
