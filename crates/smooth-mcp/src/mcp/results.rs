//! Structured results. Each is complete on its own (some clients show only the structured
//! content) and always matches the tool's declared output schema.

use rmcp::model::{CallToolResult, ContentBlock, Resource};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::sessions::ActionKind;
use crate::agent_tools::ASK_USER;
use smooth_api::TaskStatus;
use smooth_api::watch::ToolCall;

/// US dollars per Smooth credit.
const USD_PER_CREDIT: f64 = 0.01;

/// Seconds from a unix time Smooth reported (`created_at`) until now; never negative.
pub fn seconds_since(unix_seconds: f64) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    (now - unix_seconds).max(0.0)
}

pub fn usd(credits: Option<f64>) -> Option<f64> {
    credits.map(|c| (c * USD_PER_CREDIT * 10_000.0).round() / 10_000.0)
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TaskResult {
    /// The Smooth task id: pass it to get_task or cancel_task.
    pub task_id: String,
    /// waiting, running or waiting_for_answer (live); done, failed or cancelled (final).
    pub status: ResultStatus,
    /// Calls of the agent that wait for answer_tool_call (status waiting_for_answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_tool_calls: Option<Vec<PendingCall>>,
    /// The answer (matches response_model when one was given); on failure, the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub output_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_used: Option<f64>,
    /// credits_used in US dollars (1 credit = $0.01).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// While the task is live: a page where a human can watch or take over the browser.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_url: Option<String>,
    /// A video of the run; "" when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    /// A zip of files the agent downloaded; "" when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloads_url: Option<String>,
    /// The files in downloads_url, each readable at its uri.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileInfo>>,
    /// The folder on this machine the files were saved in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_dir: Option<String>,
    /// Seconds since the task was created.
    pub elapsed_seconds: f64,
    /// What to do next, when there is something to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

/// A file a task produced: saved on this machine (`file://`) or a resource (`smooth://`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FileInfo {
    pub name: String,
    pub size_bytes: u64,
    pub mime_type: String,
    pub uri: String,
}

/// A task's status as a result shows it: Smooth's, plus `waiting_for_answer` while the agent
/// waits for an answer to one of its tool calls (Smooth itself reports `running` then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    Waiting,
    Running,
    WaitingForAnswer,
    Done,
    Failed,
    Cancelled,
}

impl From<TaskStatus> for ResultStatus {
    fn from(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Waiting => Self::Waiting,
            TaskStatus::Running => Self::Running,
            TaskStatus::Done => Self::Done,
            TaskStatus::Failed => Self::Failed,
            TaskStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// An agent tool call waiting for answer_tool_call.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PendingCall {
    pub call_id: String,
    pub tool: String,
    pub input: Value,
    pub waiting_seconds: f64,
}

impl From<&ToolCall> for PendingCall {
    fn from(c: &ToolCall) -> Self {
        Self {
            call_id: c.call_id.clone(),
            tool: c.tool.clone(),
            input: c.input.clone(),
            waiting_seconds: (c.waiting().as_secs_f64() * 10.0).round() / 10.0,
        }
    }
}

/// What to do about the oldest pending call of task (or session) `id`.
pub fn answer_step(id: &str, calls: &[ToolCall]) -> Option<String> {
    let call = calls.first()?;
    let c = &call.call_id;
    let mut step = if call.tool == ASK_USER {
        let question = call
            .input
            .get("question")
            .and_then(Value::as_str)
            .unwrap_or("(no question given)");
        let choices = call
            .input
            .get("choices")
            .and_then(Value::as_array)
            .map(|cs| {
                let cs: Vec<&str> = cs.iter().filter_map(Value::as_str).collect();
                format!(" (choices: {})", cs.join(", "))
            })
            .unwrap_or_default();
        format!(
            "The agent asks the user: {question:?}{choices}. Ask them, then call answer_tool_call \
             with task_id \"{id}\", call_id \"{c}\" and output \"<their answer>\" (or error \"the user \
             declined\")."
        )
    } else {
        format!(
            "The agent called {} and waits for its result. Call answer_tool_call with task_id \
             \"{id}\", call_id \"{c}\" and output (the tool's result, any JSON) or error (text the \
             agent sees).",
            call.tool
        )
    };
    if calls.len() > 1 {
        step.push_str(&format!(
            " {} more calls wait: see pending_tool_calls.",
            calls.len() - 1
        ));
    }
    Some(step)
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CancelResult {
    pub task_id: String,
    pub status: TaskStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_used: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionOpened {
    /// Pass it to session_action; close the session when done.
    pub session_id: String,
    pub status: TaskStatus,
    /// Interactive view of the browser: give it to the user to watch, log in or solve a CAPTCHA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionActionResult {
    pub session_id: String,
    pub action: ActionKind,
    /// done; running when an agent task outlived the wait budget; waiting_for_answer when
    /// its agent waits for answer_tool_call (task_id = session_id).
    pub status: ActionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_tool_calls: Option<Vec<PendingCall>>,
    /// What the action returned: the extracted data, the script's value, the agent's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub output_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_used: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Everything this session has cost so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_credits_used: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    /// Fields given that this action does not use; they were ignored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

impl SessionActionResult {
    /// A result with no output yet, and what the session has cost so far.
    pub fn new(
        session_id: &str,
        action: ActionKind,
        status: ActionStatus,
        session_credits: Option<f64>,
    ) -> Self {
        Self {
            session_id: session_id.to_owned(),
            action,
            status,
            pending_tool_calls: None,
            output: None,
            output_truncated: false,
            credits_used: None,
            cost_usd: None,
            duration_s: None,
            session_credits_used: session_credits,
            session_cost_usd: usd(session_credits),
            next_step: None,
            ignored: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Done,
    Running,
    WaitingForAnswer,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionInfo {
    pub session_id: String,
    pub status: TaskStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_url: Option<String>,
    /// Opened by this server (and so closed by it when idle or on exit).
    pub opened_here: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_used: Option<f64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
    /// Set when the account could not be asked and only this server's sessions are shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UploadResult {
    /// Pass it in `files` of run_browser_task or open_session. Smooth deletes it after 24 hours.
    pub file_id: String,
    pub name: String,
    pub size_bytes: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

impl Deleted {
    pub fn new(id: String) -> Self {
        Self { id, deleted: true }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProfileCreated {
    /// Pass it as profile_id to open_session (to log in) and run_browser_task.
    pub profile_id: String,
    pub next_step: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProfileInfo {
    pub profile_id: String,
    /// Sites it holds cookies for (logins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie_domains: Option<Vec<String>>,
    /// More cookie domains than shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_domains: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// When a session last saved into it, as Smooth reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_saved_at: Option<Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProfileList {
    pub profiles: Vec<ProfileInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExtensionUploaded {
    /// Pass it in browser.extensions of run_browser_task or open_session.
    pub extension_id: String,
    pub name: String,
    pub size_bytes: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExtensionInfo {
    pub extension_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExtensionList {
    pub extensions: Vec<ExtensionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A result with structured content, the same JSON as text, and resource links.
pub fn structured<T: Serialize>(value: &T, links: Vec<ContentBlock>) -> CallToolResult {
    let json = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut result = CallToolResult::structured(json);
    result.content.extend(links);
    result
}

pub fn link(uri: &str, name: &str, mime: &str) -> Option<ContentBlock> {
    (!uri.is_empty())
        .then(|| ContentBlock::resource_link(Resource::new(uri, name).with_mime_type(mime)))
}
