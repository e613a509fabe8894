//! Agent tool calls: the agent calls a tool its client declared (`custom_tools`), Smooth parks
//! it until `POST /task/{id}/event {"name":"tool_call","id":<call id>,"payload":{code,output}}`.
//!
//! The watcher routes each call: a name nobody declared gets a 400 at once, an operator tool
//! ([`AutoAnswer`]) is run in a task of its own (a slow tool never blocks the poller), anything
//! else waits as a pending call until someone answers it with [`TaskWatch::answer`] or its timer
//! answers 400, so the agent never stalls forever. Knows nothing of MCP.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::watch::TaskWatch;
use crate::{SmoothError, TaskEvent, TaskStatus};

/// After a transient failure to send the timeout's answer, try again this much later.
const TIMEOUT_RETRY: Duration = Duration::from_secs(10);

/// A call of the agent that waits for an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The id of Smooth's `tool_call` event; the answer carries the same id.
    pub call_id: String,
    /// The tool's name, as declared in `custom_tools`.
    pub tool: String,
    /// What the agent passed (should match the tool's `inputs` schema; Smooth does not check).
    pub input: Value,
    since: Instant,
}

impl ToolCall {
    /// How long the agent has been waiting (since this process saw the call).
    pub fn waiting(&self) -> Duration {
        self.since.elapsed()
    }
}

/// What the agent gets back: 200 with any JSON, or 400 with a message it may work around.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolAnswer {
    /// 200 for a result, 400 for an error the agent sees (500 would fail the task).
    pub code: u16,
    /// The result, or the error message.
    pub output: Value,
}

impl ToolAnswer {
    /// A result (code 200).
    pub fn ok(output: Value) -> Self {
        Self { code: 200, output }
    }

    /// An error the agent sees and may work around (code 400).
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            code: 400,
            output: Value::String(message.into()),
        }
    }
}

/// An operator tool's run, boxed so [`AutoAnswer`] can be a trait object.
pub type AnswerFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ToolAnswer> + Send>>;

/// Tools the operator configured: answered by this process, no person or model involved.
pub trait AutoAnswer: Send + Sync {
    /// Whether this answers calls to `tool`.
    fn handles(&self, tool: &str) -> bool;
    /// Runs the tool. Must not fail: errors are answers with code 400.
    fn answer(&self, tool: &str, input: Value) -> AnswerFuture;
}

/// The tools a task was started with. Default: nothing declared, so every call gets a 400.
#[derive(Clone, Default)]
pub struct AgentTools {
    /// Every name sent to Smooth in `custom_tools` (operator tools included).
    pub declared: HashSet<String>,
    /// Answers the operator's tools; `None` when none are configured.
    pub auto: Option<Arc<dyn AutoAnswer>>,
}

impl fmt::Debug for AgentTools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentTools")
            .field("declared", &self.declared)
            .field("auto", &self.auto.is_some())
            .finish()
    }
}

/// Who answered a call that is no longer pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnsweredBy {
    /// [`TaskWatch::answer`] from the caller.
    Assistant,
    /// An [`AutoAnswer`] tool.
    Operator,
    /// Nobody answered in time; the agent got a 400.
    Timeout,
    /// The tool was never declared; answered 400 at once.
    Undeclared,
}

impl fmt::Display for AnsweredBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Assistant => "the assistant",
            Self::Operator => "an operator tool",
            Self::Timeout => "the timeout",
            Self::Undeclared => "the server (the tool was not declared)",
        })
    }
}

/// Why an answer was not sent (nothing reached Smooth, except for `Upstream`).
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// No call with that id was seen on this task.
    #[error("no such tool call")]
    Unknown,
    /// The call was answered already.
    #[error("already answered by {0}")]
    Answered(AnsweredBy),
    /// The task ended; nothing waits for an answer.
    #[error("the task is over ({0})")]
    TaskOver(TaskStatus),
    /// Smooth did not take the answer. After a transient error the call is pending again.
    #[error(transparent)]
    Upstream(SmoothError),
}

/// The tool-call part of a task's state.
#[derive(Debug, Default, Clone)]
pub(crate) struct ToolCallBook {
    pending: BTreeMap<String, ToolCall>,
    /// Calls no longer pending, and who answered them (kept for clear errors).
    answered: HashMap<String, AnsweredBy>,
}

impl ToolCallBook {
    /// Oldest first.
    pub(crate) fn pending(&self) -> Vec<ToolCall> {
        let mut calls: Vec<ToolCall> = self.pending.values().cloned().collect();
        calls.sort_by(|a, b| a.since.cmp(&b.since).then(a.call_id.cmp(&b.call_id)));
        calls
    }

    pub(crate) fn answered_by(&self, call_id: &str) -> Option<AnsweredBy> {
        self.answered.get(call_id).copied()
    }

    /// The task ended: nothing can be answered any more (timers see their call gone).
    pub(crate) fn task_over(&mut self) {
        self.pending.clear();
    }

    fn is_pending(&self, call_id: &str) -> bool {
        self.pending.contains_key(call_id)
    }

    /// Takes a pending call out for answering by `by`.
    fn claim(
        &mut self,
        call_id: &str,
        by: AnsweredBy,
        status: Option<TaskStatus>,
    ) -> Result<ToolCall, AnswerError> {
        if let Some(call) = self.pending.remove(call_id) {
            self.answered.insert(call_id.to_owned(), by);
            return Ok(call);
        }
        if let Some(by) = self.answered_by(call_id) {
            return Err(AnswerError::Answered(by));
        }
        match status {
            Some(s) if s.is_terminal() => Err(AnswerError::TaskOver(s)),
            _ => Err(AnswerError::Unknown),
        }
    }

    /// Puts a claimed call back (its answer did not reach Smooth).
    fn unclaim(&mut self, call: ToolCall) {
        self.answered.remove(&call.call_id);
        self.pending.insert(call.call_id.clone(), call);
    }
}

/// Who answers a new call.
enum Route {
    Undeclared,
    Operator(Arc<dyn AutoAnswer>),
    Pending,
}

fn route(tools: Option<&AgentTools>, tool: &str) -> Route {
    // A watch of a task this process did not start knows no tools: Smooth lets the agent call
    // only declared tools, so someone declared this one.
    if let Some(tools) = tools {
        if !tools.declared.contains(tool) {
            return Route::Undeclared;
        }
        if let Some(auto) = tools.auto.as_ref().filter(|a| a.handles(tool)) {
            return Route::Operator(auto.clone());
        }
    }
    Route::Pending
}

fn seconds(d: Duration) -> String {
    // `600` or `0.2`: f64's shortest round-trip form.
    format!("{}", d.as_secs_f64())
}

impl TaskWatch {
    /// Answers a pending call; the one way an answer reaches Smooth.
    pub async fn answer(
        self: &Arc<Self>,
        call_id: &str,
        answer: ToolAnswer,
    ) -> Result<(), AnswerError> {
        self.answer_as(call_id, answer, AnsweredBy::Assistant).await
    }

    /// Routes a `tool_call` event seen for the first time.
    pub(crate) fn on_tool_call(self: &Arc<Self>, event: TaskEvent) {
        let Some(call_id) = event.id else { return };
        // Seen together with the end (or replayed after it): nothing can be answered.
        if self.state().is_terminal() {
            return;
        }
        let tool = event
            .payload
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let input = event.payload.get("input").cloned().unwrap_or(json!({}));
        match route(self.tools.get(), &tool) {
            Route::Undeclared => {
                tracing::info!(task = %self.id, %tool, "answering an undeclared agent tool call with 400");
                self.state()
                    .tool_calls
                    .answered
                    .insert(call_id.clone(), AnsweredBy::Undeclared);
                let answer = ToolAnswer::error(format!(
                    "The tool '{tool}' is not available in this session; continue without it."
                ));
                let watch = self.clone();
                tokio::spawn(async move { watch.send_logged(&call_id, &answer).await });
            }
            Route::Operator(auto) => {
                self.state()
                    .tool_calls
                    .answered
                    .insert(call_id.clone(), AnsweredBy::Operator);
                // Built here, run elsewhere: the poller goes on while the tool works.
                let work = auto.answer(&tool, input);
                let watch = self.clone();
                tokio::spawn(async move {
                    let answer = work.await;
                    tracing::info!(task = %watch.id, %tool, code = answer.code, "operator tool answered");
                    watch.send_logged(&call_id, &answer).await;
                });
            }
            Route::Pending => {
                tracing::info!(task = %self.id, %tool, call = %call_id, "agent tool call waits for an answer");
                let since = Instant::now();
                let mut st = self.state();
                if st.is_terminal() {
                    return;
                }
                st.tool_calls.pending.insert(
                    call_id.clone(),
                    ToolCall {
                        call_id: call_id.clone(),
                        tool,
                        input,
                        since,
                    },
                );
                drop(st);
                self.arm_timer(call_id, since + self.tool_answer_timeout);
            }
        }
    }

    async fn answer_as(
        self: &Arc<Self>,
        call_id: &str,
        answer: ToolAnswer,
        by: AnsweredBy,
    ) -> Result<(), AnswerError> {
        let call = {
            let mut st = self.state();
            let status = st.task.as_ref().map(|t| t.status);
            st.tool_calls.claim(call_id, by, status)?
        };
        self.notify();
        let Err(e) = self.send(call_id, &answer).await else {
            return Ok(());
        };
        // Refused for good (e.g. the task just ended): the call cannot be answered any more.
        if e.is_transient() {
            let mut deadline = call.since + self.tool_answer_timeout;
            if by == AnsweredBy::Timeout {
                deadline = Instant::now() + TIMEOUT_RETRY;
            }
            let mut st = self.state();
            if !st.is_terminal() {
                st.tool_calls.unclaim(call);
                drop(st);
                self.arm_timer(call_id.to_owned(), deadline);
            }
            self.notify();
        }
        Err(AnswerError::Upstream(e))
    }

    /// Answers 400 at `deadline` unless the call was answered (or the task ended) before.
    fn arm_timer(self: &Arc<Self>, call_id: String, deadline: Instant) {
        let watch = self.clone();
        let mut changed = self.changed.subscribe();
        tokio::spawn(async move {
            while watch.state().tool_calls.is_pending(&call_id) {
                match tokio::time::timeout_at(deadline, changed.changed()).await {
                    Ok(Ok(())) => continue,
                    Ok(Err(_)) => return,
                    Err(_) => {
                        let answer = ToolAnswer::error(format!(
                            "no answer within {} s",
                            seconds(watch.tool_answer_timeout)
                        ));
                        match watch.answer_as(&call_id, answer, AnsweredBy::Timeout).await {
                            Ok(()) => {
                                tracing::info!(task = %watch.id, call = %call_id, "agent tool call timed out");
                            }
                            Err(AnswerError::Upstream(e)) => {
                                tracing::warn!(task = %watch.id, error = %e, "could not answer a timed-out agent tool call");
                            }
                            Err(_) => {} // answered meanwhile
                        }
                        return;
                    }
                }
            }
        });
    }

    async fn send_logged(&self, call_id: &str, answer: &ToolAnswer) {
        if let Err(e) = self.send(call_id, answer).await {
            tracing::warn!(task = %self.id, error = %e, "could not answer an agent tool call");
        }
    }

    async fn send(&self, call_id: &str, answer: &ToolAnswer) -> Result<(), SmoothError> {
        let event = TaskEvent {
            name: "tool_call".into(),
            payload: json!({"code": answer.code, "output": answer.output}),
            id: Some(call_id.to_owned()),
            timestamp: Some(crate::watch::now_ms()),
        };
        self.client.send_event(&self.id, &event).await?;
        // The agent resumes: look for what it does next without waiting out the interval.
        self.kick.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> ToolCall {
        ToolCall {
            call_id: id.into(),
            tool: "t".into(),
            input: json!({}),
            since: Instant::now(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pending_calls_are_oldest_first_and_answered_once() {
        let mut book = ToolCallBook::default();
        book.pending.insert("b".into(), call("b"));
        tokio::time::advance(Duration::from_secs(1)).await;
        book.pending.insert("a".into(), call("a"));
        let ids: Vec<String> = book.pending().into_iter().map(|c| c.call_id).collect();
        assert_eq!(ids, ["b", "a"]);
        assert_eq!(book.pending()[0].waiting(), Duration::from_secs(1));

        let claimed = book.claim("a", AnsweredBy::Assistant, None).unwrap();
        assert!(matches!(
            book.claim("a", AnsweredBy::Timeout, None),
            Err(AnswerError::Answered(AnsweredBy::Assistant))
        ));
        book.unclaim(claimed);
        assert!(book.is_pending("a"));
        assert!(matches!(
            book.claim("zz", AnsweredBy::Assistant, Some(TaskStatus::Running)),
            Err(AnswerError::Unknown)
        ));
        book.task_over();
        assert!(matches!(
            book.claim("b", AnsweredBy::Assistant, Some(TaskStatus::Done)),
            Err(AnswerError::TaskOver(TaskStatus::Done))
        ));
    }

    #[test]
    fn timeout_text_names_the_seconds() {
        assert_eq!(seconds(Duration::from_secs(600)), "600");
        assert_eq!(seconds(Duration::from_millis(200)), "0.2");
    }
}
