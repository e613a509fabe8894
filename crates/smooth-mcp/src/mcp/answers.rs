//! answer_tool_call: the assistant answers a tool call the agent is waiting on, then waits
//! for the task like get_task (or for the session's run_task like repeating it).

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_output;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::SmoothServer;
use super::args::{Parameters, required_text, wait_budget};
use super::error::{ToolError, ToolResult, invalid};
use super::progress::Reporter;
use super::results::{SessionActionResult, TaskResult, structured};
use super::sessions::ActionKind;
use smooth_api::watch::{AnswerError, TaskWatch, ToolAnswer};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerArgs {
    /// The task_id (or session_id) of the waiting_for_answer result.
    pub task_id: String,
    /// The call_id from pending_tool_calls.
    pub call_id: String,
    /// The tool's result (any JSON; for ask_user, the user's answer as text).
    pub output: Option<Value>,
    /// Instead of output: an error the agent reads and may work around.
    pub error: Option<String>,
    /// Seconds to wait for the task afterwards (capped by the server).
    pub wait_seconds: Option<u64>,
    /// Also return downloads_url.
    pub include_downloads: Option<bool>,
}

/// A task's result, or a session run_task's when the call came from a session.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used: follow / await_action render the results
pub enum AnswerResult {
    Task(TaskResult),
    Session(SessionActionResult),
}

/// Either result shape; the root says `object` (strict clients want it on every output schema).
fn answer_schema() -> Arc<JsonObject> {
    let mut schema = (*schema_for_output::<AnswerResult>()).clone();
    schema.insert("type".into(), "object".into());
    Arc::new(schema)
}

#[tool_router(router = answer_router, vis = "pub(super)")]
impl SmoothServer {
    #[tool(
        name = "answer_tool_call",
        title = "Answer the agent's tool call",
        description = "Answer a call in pending_tool_calls of a waiting_for_answer result (the \
            agent waits for it): output (any JSON) or error (text). Then waits like get_task and \
            returns the same result.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true),
        output_schema = answer_schema()
    )]
    async fn answer_tool_call(
        &self,
        Parameters(args): Parameters<AnswerArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let id = required_text("task_id", &args.task_id)?;
        let call_id = required_text("call_id", &args.call_id)?;
        let answer = match (args.output, args.error) {
            (Some(output), None) => ToolAnswer::ok(output),
            (None, Some(error)) => ToolAnswer::error(required_text("error", &error)?),
            _ => return Err(invalid("give exactly one of output or error")),
        };
        let watch = self.state.watcher.watch(&self.client(&ctx), &id);
        // A watch that knows nothing yet (a restart, an expired watch) has seen no calls.
        if watch.state().task.is_none() {
            watch
                .refresh(false)
                .await
                .map_err(|e| ToolError::upstream(&e, &format!("reading task {id}")))?;
        }
        answer_call(&watch, &call_id, answer).await?;
        tracing::info!(task = %id, call = %call_id, "agent tool call answered");
        let budget = wait_budget(args.wait_seconds, &self.state.settings);
        let downloads = args.include_downloads.unwrap_or(false);
        let mut reporter = Reporter::for_request(&ctx);
        if let Some(event_id) = self.one_shot_run(&id) {
            return self
                .follow_one_shot(
                    &watch,
                    &event_id,
                    &mut reporter,
                    &ctx.ct,
                    budget,
                    downloads,
                    false,
                )
                .await;
        }
        let pending_run = self.state.sessions.get(&id).and_then(|e| e.pending_task);
        if let Some(run) = pending_run {
            let result = self
                .await_action(
                    &watch,
                    ActionKind::RunTask,
                    &run.event_id,
                    &mut reporter,
                    &ctx.ct,
                    Instant::now() + budget,
                )
                .await?;
            return Ok(structured(&result, vec![]));
        }
        self.follow(watch, &mut reporter, &ctx.ct, budget, downloads, false)
            .await
    }
}

/// Sends the answer; a call that is not pending is a tool error and nothing is sent.
async fn answer_call(watch: &Arc<TaskWatch>, call_id: &str, answer: ToolAnswer) -> ToolResult<()> {
    let id = &watch.id;
    let why = match watch.answer(call_id, answer).await {
        Ok(()) => return Ok(()),
        Err(AnswerError::Upstream(e)) => {
            return Err(ToolError::upstream(
                &e,
                &format!("answering call {call_id} of task {id}"),
            ));
        }
        Err(AnswerError::Unknown) => "no such call".to_owned(),
        Err(e @ (AnswerError::Answered(_) | AnswerError::TaskOver(_))) => e.to_string(),
    };
    let pending: Vec<String> = watch
        .state()
        .pending_tool_calls()
        .into_iter()
        .map(|c| format!("{} ({})", c.call_id, c.tool))
        .collect();
    let pending = if pending.is_empty() {
        "none".to_owned()
    } else {
        pending.join(", ")
    };
    Err(ToolError::InvalidArgument(format!(
        "call {call_id} is not pending on task {id}: {why}; nothing was sent. Pending calls: {pending}."
    )))
}
