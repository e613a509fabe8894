//! answer_tool_call: the assistant answers a tool call the agent is waiting on, then waits
//! for the task like get_task (or for the session's run_task like repeating it).

use std::sync::Arc;

use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::SmoothServer;
use super::args::{Parameters, required_text, wait_budget};
use super::error::{ToolError, ToolResult, invalid};
use super::progress::Reporter;
use super::results::structured;
use super::sessions::ActionKind;
use smooth_api::watch::{AnswerError, TaskWatch, ToolAnswer};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerArgs {
    /// From the waiting_for_answer result (a session_id works too).
    pub task_id: String,
    /// From pending_tool_calls.
    pub call_id: String,
    /// The result, any JSON (ask_user: the user's answer).
    pub output: Option<Value>,
    /// Instead of output: a message the agent reads.
    pub error: Option<String>,
    /// As in get_task.
    pub wait_seconds: Option<u64>,
    /// As in get_task.
    pub include_downloads: Option<bool>,
}

/// get_task's result, or session_action run_task's when the call came from a session. Only
/// what both shapes share is declared: every result matches, and the list stays small.
fn answer_schema() -> Arc<JsonObject> {
    let schema = json!({
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "pending_tool_calls": {"type": "array", "items": {"type": "object"}},
            "next_step": {"type": "string"}
        },
        "required": ["status"]
    });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

#[tool_router(router = answer_router, vis = "pub(super)")]
impl SmoothServer {
    #[tool(
        name = "answer_tool_call",
        title = "Answer the agent's tool call",
        description = "Answer the agent's pending tool call (a waiting_for_answer result) with \
            output or error, then wait like get_task.",
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
        let client = self.client(&ctx);
        let watch = self.state.watcher.watch(&client, &id);
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
        let downloads = args
            .include_downloads
            .unwrap_or_else(|| watch.wants_downloads());
        let home = downloads.then(|| super::task_files::FileDest::new(&ctx));
        let mut reporter = Reporter::for_request(&ctx);
        if let Some((watch, event_id)) = self.one_shot_run(&client, &id) {
            return self
                .follow_one_shot(
                    &watch,
                    &event_id,
                    &mut reporter,
                    &ctx.ct,
                    budget,
                    home.as_ref(),
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
        self.follow(watch, &mut reporter, &ctx.ct, budget, home.as_ref(), false)
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
