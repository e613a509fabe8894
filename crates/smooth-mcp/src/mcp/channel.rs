//! Who answers the agent's pending tool calls while a tool call waits on a task.
//!
//! - `Relay`: nobody here; the wait ends and the result says `waiting_for_answer` (the
//!   assistant answers with `answer_tool_call`).
//! - `Elicit` (client declared form elicitation, protocol before 2026-07-28): an `ask_user`
//!   call is put to the user as an MCP elicitation inside this wait; other calls are relayed.
//! - `InputRequired` (2026-07-28 with form elicitation): the wait ends on an `ask_user` call and
//!   the tool call returns an `InputRequiredResult`; the client's retry carries the answer and
//!   resumes the wait (see [`resume_state`]), never re-running the tool.
//! - `McpTask`: every pending call puts the MCP task in `input_required`; the answer comes via
//!   `tasks/update` or `answer_tool_call`, whichever is first.
//!
//! Every question shown to the user is built by [`question_form`], which runs the Redactor.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::{AbortHandle, Abortable, BoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationSchema, EnumSchema, InputRequest, InputRequiredResult, ProtocolVersion,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::task_manager::{TaskContext, TaskManager};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use smooth_api::watch::{ToolAnswer, ToolCall};

use crate::agent_tools::ASK_USER;
use crate::secrets::Redactor;

/// What the agent gets when the user declines or cancels a question.
pub const DECLINED: &str = "the user declined";

/// Request-scoped facts `call_tool` hands to the tool (through the request's extensions), so
/// a wait deep inside a tool knows how to reach the user.
#[derive(Clone)]
pub struct Asking {
    pub redactor: Arc<Redactor>,
    /// Filled when the wait ended on a question for an input-required (2026-07-28) client.
    pub input_required: Option<InputRequiredSlot>,
}

/// Where the wait leaves the question `call_tool` returns as an `InputRequiredResult`.
#[derive(Clone, Default)]
pub struct InputRequiredSlot(Arc<Mutex<Option<InputRequiredResult>>>);

impl InputRequiredSlot {
    pub fn take(&self) -> Option<InputRequiredResult> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn put(&self, result: InputRequiredResult) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    }
}

/// What an `InputRequiredResult`'s `request_state` names: only an id, looked up again with
/// the retrying caller's own key, so a forged state grants no more than `get_task` does.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResumeState {
    pub task: String,
}

/// The resume handle of a retried call, if it carries one we issued.
pub fn resume_state(raw: Option<&str>) -> Option<ResumeState> {
    serde_json::from_str(raw?).ok()
}

impl super::SmoothServer {
    /// For a retry that carries our `request_state`: sends the user's answers to the agent
    /// (an answer that lost the race to another one is ignored) and returns the call to run
    /// instead: a `get_task` on the same task with the original wait, or the same session
    /// `run_task` (repeating it resumes its wait). `None`: not a retry.
    pub(super) async fn resume_input_required(
        &self,
        request: &CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Option<CallToolRequestParams> {
        if !resumable(request) {
            return None;
        }
        let state = resume_state(request.request_state.as_deref())?;
        let watch = self.state.watcher.watch(&self.client(ctx), &state.task);
        // A watch that knows nothing yet (another replica, an expired watch) has seen no calls.
        if watch.state().task.is_none()
            && let Err(e) = watch.refresh(false).await
        {
            tracing::info!(task = %watch.id, error = %e, "reading the task to resume");
        }
        for (call_id, response) in request.input_responses.iter().flatten() {
            let tool = watch
                .state()
                .pending_tool_calls()
                .into_iter()
                .find(|c| &c.call_id == call_id)
                .map(|c| c.tool);
            let (Some(tool), Ok(result)) = (
                tool,
                serde_json::from_value::<ElicitResult>(response.clone()),
            ) else {
                continue;
            };
            let answer = from_elicit_result(&result, tool == ASK_USER);
            if let Err(e) = watch.answer(call_id, answer).await {
                tracing::info!(task = %watch.id, call_id, error = %e, "user's answer not sent");
            }
        }
        if request.name == "session_action" {
            let mut again = request.clone();
            again.input_responses = None;
            again.request_state = None;
            return Some(again);
        }
        let args = request.arguments.clone().unwrap_or_default();
        let mut resumed = Map::new();
        resumed.insert("task_id".into(), Value::String(state.task));
        for key in ["wait_seconds", "include_downloads"] {
            if let Some(v) = args.get(key) {
                resumed.insert(key.into(), v.clone());
            }
        }
        let mut params = CallToolRequestParams::new("get_task").with_arguments(resumed);
        params.meta = request.meta.clone();
        Some(params)
    }
}

/// Calls whose retry can resume their wait without doing anything twice: a task's wait
/// (run_browser_task resumes as get_task) and a session's run_task (repeating it resumes).
pub fn resumable(request: &CallToolRequestParams) -> bool {
    match request.name.as_ref() {
        "run_browser_task" | "get_task" => true,
        "session_action" => request
            .arguments
            .as_ref()
            .and_then(|a| a.get("action"))
            .is_some_and(|a| a == "run_task"),
        _ => false,
    }
}

/// Whether the client takes form elicitations. A client that declares `elicitation: {}`
/// (the 2025-06-18 shape) means form.
fn declares_form(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// A question being asked, answered with the call id and what the agent gets.
/// `None`: no answer came (the client could not ask, or the question was withdrawn).
type Asked = BoxFuture<'static, (String, Option<ToolAnswer>)>;

/// Questions open with the user, by call id; dropped (aborted) when the call is answered
/// some other way.
#[derive(Default)]
struct Open {
    futures: FuturesUnordered<Abortable<Asked>>,
    handles: HashMap<String, AbortHandle>,
    /// Every call ever asked in this wait (an answered call is not asked again).
    asked: HashSet<String>,
    /// Calls the client could not ask the user about: relayed instead.
    unasked: HashSet<String>,
}

impl Open {
    fn push(&mut self, call_id: &str, fut: Asked) {
        let (handle, reg) = AbortHandle::new_pair();
        self.futures.push(Abortable::new(fut, reg));
        self.handles.insert(call_id.to_owned(), handle);
        self.asked.insert(call_id.to_owned());
    }

    /// Stops asking about calls no longer pending; returns their ids.
    fn drop_gone(&mut self, pending: &[ToolCall]) -> Vec<String> {
        let gone: Vec<String> = self
            .handles
            .keys()
            .filter(|id| !pending.iter().any(|c| &c.call_id == *id))
            .cloned()
            .collect();
        for id in &gone {
            if let Some(h) = self.handles.remove(id) {
                h.abort();
            }
        }
        gone
    }
}

enum Kind {
    Relay,
    Elicit(Peer<RoleServer>),
    InputRequired(InputRequiredSlot),
    McpTask {
        ctx: TaskContext,
        tasks: TaskManager,
    },
}

/// How the pending calls of one wait are answered.
pub struct Channel {
    kind: Kind,
    redactor: Arc<Redactor>,
    open: Open,
}

/// What the wait does about the pending calls it sees.
pub enum Offer {
    /// Nothing to do, or being asked here: keep waiting.
    Wait,
    /// End the wait: someone outside must answer.
    NeedsAnswer,
}

impl Channel {
    pub fn relay() -> Self {
        Self {
            kind: Kind::Relay,
            redactor: Arc::new(Redactor::default()),
            open: Open::default(),
        }
    }

    /// The channel of a plain tool call.
    pub fn for_request(ctx: &RequestContext<RoleServer>) -> Self {
        let Some(asking) = ctx.extensions.get::<Asking>() else {
            return Self::relay();
        };
        let kind = if !declares_form(ctx) {
            Kind::Relay
        } else if ctx.protocol_version() >= Some(ProtocolVersion::V_2026_07_28) {
            match &asking.input_required {
                Some(slot) => Kind::InputRequired(slot.clone()),
                None => Kind::Relay,
            }
        } else {
            Kind::Elicit(ctx.peer.clone())
        };
        Self {
            kind,
            redactor: asking.redactor.clone(),
            open: Open::default(),
        }
    }

    /// The channel of an MCP task: every pending call is asked through the task.
    pub fn mcp_task(ctx: TaskContext, tasks: TaskManager, redactor: Arc<Redactor>) -> Self {
        Self {
            kind: Kind::McpTask { ctx, tasks },
            redactor,
            open: Open::default(),
        }
    }

    /// A user is answering here: the wait's budget does not end it.
    pub fn asking_user(&self) -> bool {
        matches!(self.kind, Kind::Elicit(_)) && !self.open.handles.is_empty()
    }

    /// How the pending call is being answered, for progress and MCP task status.
    pub fn how(&self) -> &'static str {
        match self.kind {
            Kind::Elicit(_) if self.asking_user() => " · asking the user",
            Kind::McpTask { .. } => " · answer with tasks/update, or answer_tool_call",
            _ => "",
        }
    }

    /// Looks at the task's pending calls (oldest first): asks about new ones this channel
    /// can ask, stops asking about calls answered elsewhere.
    pub fn offer(&mut self, task_id: &str, pending: &[ToolCall]) -> Offer {
        for gone in self.open.drop_gone(pending) {
            if let Kind::McpTask { ctx, tasks } = &self.kind {
                // Answered elsewhere (answer_tool_call, the timeout): leave input_required.
                if let Err(e) =
                    tasks.update_task(ctx.task_id(), [(gone, json!({"action": "cancel"}))])
                {
                    tracing::debug!(error = %e.message, "clearing an MCP task input");
                }
            }
        }
        let mut relay = false;
        for call in pending {
            if self.open.unasked.contains(&call.call_id) {
                relay = true;
            }
            if self.open.asked.contains(&call.call_id) {
                continue;
            }
            let ask_user = call.tool == ASK_USER;
            match &self.kind {
                Kind::Relay => relay = true,
                Kind::Elicit(peer) if ask_user => {
                    let params = question_form(&self.redactor, &call.tool, &call.input);
                    let peer = peer.clone();
                    let id = call.call_id.clone();
                    self.open.push(
                        &call.call_id,
                        Box::pin(async move {
                            match peer.create_elicitation(params).await {
                                Ok(r) => (id, Some(from_elicit_result(&r, true))),
                                Err(e) => {
                                    // The client could not ask: the assistant relays it instead.
                                    tracing::info!(error = %e, "elicitation failed");
                                    (id, None)
                                }
                            }
                        }),
                    );
                }
                Kind::Elicit(_) => relay = true,
                Kind::InputRequired(slot) if ask_user => {
                    let mut requests = std::collections::BTreeMap::new();
                    requests.insert(
                        call.call_id.clone(),
                        InputRequest::Elicitation(ElicitRequest::new(question_form(
                            &self.redactor,
                            &call.tool,
                            &call.input,
                        ))),
                    );
                    let state = serde_json::to_string(&ResumeState {
                        task: task_id.to_owned(),
                    })
                    .ok();
                    slot.put(InputRequiredResult::new(Some(requests), state));
                    return Offer::NeedsAnswer;
                }
                Kind::InputRequired(_) => relay = true,
                Kind::McpTask { ctx, .. } => {
                    let request = InputRequest::Elicitation(ElicitRequest::new(question_form(
                        &self.redactor,
                        &call.tool,
                        &call.input,
                    )));
                    ctx.set_status_message(self.redactor.redact(&format!(
                        "waiting for an answer: {} (call_id {}, task {task_id}) — tasks/update, \
                         or answer_tool_call",
                        call.tool, call.call_id
                    )));
                    let ctx = ctx.clone();
                    let id = call.call_id.clone();
                    let is_ask = ask_user;
                    self.open.push(
                        &call.call_id,
                        Box::pin(async move {
                            let answer = match ctx.request_input(id.clone(), request).await {
                                Ok(v) => match serde_json::from_value::<ElicitResult>(v) {
                                    Ok(r) => from_elicit_result(&r, is_ask),
                                    Err(_) => ToolAnswer::error("the answer was not understood"),
                                },
                                // tasks/cancel: the task's own wait ends; nothing to send.
                                Err(_) => return (id, None),
                            };
                            (id, Some(answer))
                        }),
                    );
                }
            }
        }
        if relay {
            Offer::NeedsAnswer
        } else {
            Offer::Wait
        }
    }

    /// The next answer a user gave here (pending forever when nothing is open); `None` when a
    /// question could not be asked (the wait looks at the pending calls again).
    pub async fn next_answer(&mut self) -> Option<(String, ToolAnswer)> {
        loop {
            match self.open.futures.next().await {
                Some(Ok((id, answer))) => {
                    self.open.handles.remove(&id);
                    match answer {
                        Some(answer) => return Some((id, answer)),
                        None => {
                            if matches!(self.kind, Kind::Elicit(_)) {
                                self.open.unasked.insert(id);
                            }
                            return None;
                        }
                    }
                }
                // Aborted: its handle went with drop_gone.
                Some(Err(_)) => {}
                None => std::future::pending::<()>().await,
            }
        }
    }
}

/// The form a pending call is put to the user with. `ask_user`: the question, and the choices
/// as an enum when given. Any other tool: what the agent calls, with optional `output` (JSON
/// text, else taken as text) and `error` fields. Message and choices pass the Redactor.
pub fn question_form(redactor: &Redactor, tool: &str, input: &Value) -> ElicitRequestParams {
    let (message, schema) = if tool == ASK_USER {
        let question = input
            .get("question")
            .and_then(Value::as_str)
            .unwrap_or("The browser agent has a question.");
        let choices: Vec<String> = input
            .get("choices")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|c| redactor.redact(c).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let builder = ElicitationSchema::builder();
        let builder = if choices.is_empty() {
            builder.required_string_property("answer", |s| s.title("Answer"))
        } else {
            builder.required_enum_schema(
                "answer",
                EnumSchema::builder(choices).title("Answer").build(),
            )
        };
        (question.to_owned(), builder.build_unchecked())
    } else {
        let input = serde_json::to_string(input).unwrap_or_default();
        (
            format!("The browser agent calls {tool} with {input}"),
            ElicitationSchema::builder()
                .optional_string_with("output", |s| {
                    s.title("Output")
                        .description("The tool's result (JSON, or text)")
                })
                .optional_string_with("error", |s| {
                    s.title("Error")
                        .description("An error the agent sees instead")
                })
                .build_unchecked(),
        )
    };
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: redactor.redact(&message).into_owned(),
        requested_schema: schema,
    }
}

/// What the agent gets for the user's response to [`question_form`].
pub fn from_elicit_result(r: &ElicitResult, ask_user: bool) -> ToolAnswer {
    if r.action != ElicitationAction::Accept {
        return ToolAnswer::error(DECLINED);
    }
    let field = |name: &str| r.content.as_ref().and_then(|c| c.get(name)).cloned();
    if ask_user {
        return match field("answer") {
            Some(Value::String(s)) => ToolAnswer::ok(Value::String(s)),
            Some(v) if !v.is_null() => ToolAnswer::ok(v),
            _ => ToolAnswer::error("the user gave no answer"),
        };
    }
    if let Some(Value::String(e)) = field("error")
        && !e.is_empty()
    {
        return ToolAnswer::error(e);
    }
    match field("output") {
        Some(Value::String(s)) => {
            ToolAnswer::ok(serde_json::from_str(&s).unwrap_or(Value::String(s)))
        }
        Some(v) => ToolAnswer::ok(v),
        None => ToolAnswer::ok(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_become_an_enum_and_pass_the_redactor() {
        let secret = secrecy::SecretString::from("hunter22");
        let r = Redactor::new([("pw".to_owned(), &secret)]).unwrap();
        let input = json!({"question": "Type hunter22?", "choices": ["personal", "hunter22"]});
        let v = serde_json::to_value(question_form(&r, ASK_USER, &input)).unwrap();
        assert_eq!(v["message"], "Type [secret:pw]?");
        assert_eq!(
            v["requestedSchema"]["properties"]["answer"]["enum"],
            json!(["personal", "[secret:pw]"])
        );
        assert_eq!(v["requestedSchema"]["required"], json!(["answer"]));
    }

    #[test]
    fn answers_from_the_form() {
        let accept = |content| ElicitResult::new(ElicitationAction::Accept).with_content(content);
        assert_eq!(
            from_elicit_result(&accept(json!({"answer": "123456"})), true),
            ToolAnswer::ok(json!("123456"))
        );
        assert_eq!(
            from_elicit_result(&ElicitResult::new(ElicitationAction::Decline), true),
            ToolAnswer::error(DECLINED)
        );
        assert_eq!(
            from_elicit_result(&accept(json!({"output": "{\"a\":1}"})), false),
            ToolAnswer::ok(json!({"a": 1}))
        );
        assert_eq!(
            from_elicit_result(&accept(json!({"error": "no such order"})), false),
            ToolAnswer::error("no such order")
        );
    }
}
