//! A `run_browser_task` with secrets. Smooth takes secrets on a session's `run_task` only, so
//! the task runs in a session of its own: open (task null), run_task with the secrets, close
//! once it ends. The model sees a task: the session id is the task_id, get_task and
//! answer_tool_call resume the wait, cancel_task force-closes it, and the result has the
//! shape of any other task's.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::CallToolResult;
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::SmoothServer;
use super::error::{ToolError, ToolResult};
use super::output::cap_output;
use super::progress::Reporter;
use super::results::{ResultStatus, TaskResult, seconds_since, usd};
use super::task_files::FileDest;
use super::tasks::ended_step;
use super::wait::{Wait, Waited};
use crate::limits::Kind;
use crate::sessions::{self as registry, PendingTask};
use smooth_api::watch::{AgentTools, TaskWatch};
use smooth_api::{SmoothClient, TaskRequest};

/// Longest a one-shot session is watched for the end of its task (Smooth's own limit on a
/// task is far shorter).
const ONE_SHOT_WATCH: Duration = Duration::from_secs(24 * 3600);
/// How long the task's result may wait for its session to close.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// The one-shot task to run in its session.
pub struct OneShot {
    pub req: TaskRequest,
    pub tools: AgentTools,
    /// `{NAME: {value, allowed_urls}}`: sent to Smooth, never kept or shown.
    pub secrets: Map<String, Value>,
    /// Where the task's files go; `None`: not asked for.
    pub home: Option<FileDest>,
}

impl SmoothServer {
    /// Opens the session, starts the task in it and follows it like [`Self::follow`].
    pub(super) async fn run_in_own_session(
        &self,
        job: OneShot,
        client: SmoothClient,
        reporter: &mut Reporter,
        ct: &CancellationToken,
        budget: Duration,
    ) -> ToolResult<CallToolResult> {
        let OneShot {
            req,
            tools,
            secrets,
            home,
        } = job;
        let session_req = TaskRequest {
            task: None,
            url: None,
            response_model: None,
            metadata: None,
            max_steps: None,
            ..req.clone()
        };
        let sessions = &self.state.sessions;
        let watch = self
            .create(
                &client,
                &session_req,
                tools,
                "opening the task's session",
                // Shown to the model as a task, and held to the task limit.
                Kind::Task,
                |w| sessions.opened_one_shot(w.clone()),
            )
            .await?;
        let id = watch.id.clone();
        tracing::info!(task = %id, "session opened for a task with secrets");
        let task = req.task.clone().unwrap_or_default();
        let input = json!({
            "task": task,
            "url": req.url,
            "max_steps": req.max_steps,
            "response_model": req.response_model,
            "metadata": req.metadata,
            "secrets": secrets,
        });
        let sent = watch
            .send_action(
                "session_action",
                json!({"name": "run_task", "input": input}),
            )
            .await;
        let event_id = match sent {
            Ok(event_id) => event_id,
            Err(e) => {
                self.close_one_shot(&watch).await;
                return Err(ToolError::upstream(
                    &e,
                    &format!("starting the task in session {id} (closed again)"),
                ));
            }
        };
        self.state.sessions.set_pending_task(
            &id,
            Some(PendingTask {
                task,
                event_id: event_id.clone(),
                started: Instant::now(),
            }),
        );
        spawn_closer(watch.clone(), event_id.clone());
        self.follow_one_shot(&watch, &event_id, reporter, ct, budget, home.as_ref(), true)
            .await
    }

    /// The session and run_task event of a one-shot task this process started. The session's
    /// own watch: the watcher may have dropped it once the session ended, and a fresh one
    /// would not know the run's result.
    /// Only for the account that started it.
    pub(super) fn one_shot_run(
        &self,
        client: &SmoothClient,
        id: &str,
    ) -> Option<(Arc<TaskWatch>, String)> {
        let entry = self
            .state
            .sessions
            .get(id)
            .filter(|e| e.one_shot && e.watch.account() == client.account())?;
        Some((entry.watch, entry.pending_task?.event_id))
    }

    /// Waits for the session's task; when it ends, closes the session and renders the
    /// result as a task's.
    #[allow(clippy::too_many_arguments)] // the same knobs as `follow`, plus the run's event
    pub(super) async fn follow_one_shot(
        &self,
        watch: &Arc<TaskWatch>,
        event_id: &str,
        reporter: &mut Reporter,
        ct: &CancellationToken,
        budget: Duration,
        home: Option<&FileDest>,
        cancel_on_abort: bool,
    ) -> ToolResult<CallToolResult> {
        let deadline = Instant::now() + budget;
        let downloads = home.is_some();
        let waited = Wait {
            deadline,
            ct,
            reporter,
            heartbeat: self.state.settings.heartbeat,
            label: "task",
            redactor: &self.state.redactor,
        }
        .until(watch, |st| {
            st.action_result(event_id).is_some() || st.is_terminal()
        })
        .await;
        let id = &watch.id;
        match waited {
            Waited::Done => {}
            Waited::Budget | Waited::NeedsAnswer => {
                return Ok(self.reply(self.render_task(watch, downloads), None).await);
            }
            Waited::Cancelled => {
                if cancel_on_abort {
                    self.state.sessions.forget(id);
                    let _ = tokio::time::timeout(CLOSE_WAIT, watch.cancel()).await;
                }
                return Err(ToolError::Cancelled(if cancel_on_abort {
                    format!("The request was cancelled; task {id} was cancelled too.")
                } else {
                    format!(
                        "The request was cancelled; task {id} keeps running: call get_task with \
                         task_id \"{id}\" to follow it, or cancel_task to stop it."
                    )
                }));
            }
            Waited::Gone(e) => {
                return Err(ToolError::upstream(&e, &format!("following task {id}")));
            }
        }
        let outcome = watch.state().action_result(event_id).cloned();
        // The closer (spawned with the task) closes the session; its end brings the credits.
        self.state.sessions.forget(id);
        let mut interest = watch.interest();
        interest
            .until(Instant::now() + CLOSE_WAIT, |st| {
                st.is_terminal().then_some(())
            })
            .await;
        drop(interest);
        self.await_links(watch, Instant::now() + budget, downloads)
            .await;
        let st = watch.snapshot();
        let task = st.task.unwrap_or_default();
        let (status, output) = match outcome {
            Some(o) if o.is_success() => (ResultStatus::Done, o.output),
            Some(o) => (ResultStatus::Failed, o.output),
            None => (
                ResultStatus::Failed,
                Value::String(format!(
                    "the session ended ({}) before the task",
                    task.status
                )),
            ),
        };
        let cap = self.state.settings.output_cap;
        let (output, output_truncated) = match output {
            Value::Null => (None, false),
            v => {
                let (v, cut) = cap_output(v, cap);
                (Some(v), cut)
            }
        };
        let elapsed = task.created_at.map(seconds_since).unwrap_or_default();
        let result = TaskResult {
            task_id: id.clone(),
            status,
            pending_tool_calls: None,
            output,
            output_truncated,
            credits_used: task.credits_used,
            cost_usd: usd(task.credits_used),
            live_url: None,
            recording_url: task.recording_url.clone(),
            downloads_url: task.downloads_url.clone().filter(|_| downloads),
            files: None,
            files_dir: None,
            elapsed_seconds: (elapsed * 10.0).round() / 10.0,
            next_step: ended_step(id, output_truncated.then_some(cap), &task, downloads),
        };
        Ok(self.reply(result, home).await)
    }

    /// Closes the session (gracefully, forced if need be) and forgets it.
    async fn close_one_shot(&self, watch: &Arc<TaskWatch>) {
        self.state.sessions.forget(&watch.id);
        if let Err(e) = registry::close(watch).await {
            tracing::warn!(task = %watch.id, error = %e, "could not close a task's session");
        }
    }
}

/// Closes the session once its task ends, whether or not anyone is still waiting for the
/// result (a client that timed out must not leave a browser open; the result stays readable
/// from the watch). Its interest also keeps the poller, and so operator tools, running.
fn spawn_closer(watch: Arc<TaskWatch>, event_id: String) {
    tokio::spawn(async move {
        let mut interest = watch.interest();
        interest
            .until(Instant::now() + ONE_SHOT_WATCH, |st| {
                (st.action_result(&event_id).is_some() || st.is_terminal()).then_some(())
            })
            .await;
        drop(interest);
        if let Err(e) = registry::close(&watch).await {
            tracing::warn!(task = %watch.id, error = %e, "could not close a task's session");
        }
    });
}
