//! Interactive sessions: open_session, session_action, list_sessions.

use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::common::schema_for_output;

use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::args::{
    BrowserOptions, Device, Metadata, Parameters, check_ids, check_json_schema, check_max_steps,
    check_url, metadata_to_wire, required_text, wait_budget,
};
use super::declare::{CustomToolArg, declare};
use super::error::{ToolError, ToolResult, invalid};
use super::output::{cap_output, truncation_note};
use super::progress::Reporter;
use super::results::{
    ActionStatus, PendingCall, SessionActionResult, SessionInfo, SessionList, SessionOpened,
    answer_step, seconds_since, structured, usd,
};
use super::tasks::non_empty;
use super::wait::{Wait, Waited};
use super::{Settings, SmoothServer};
use crate::limits::Kind;
use crate::sessions::{self as registry, Graceful, PendingTask, SessionEntry};
use smooth_api::watch::TaskWatch;
use smooth_api::{SmoothClient, SmoothError, TaskRequest, TaskResponse, TaskStatus};

/// How long open_session waits for the live view link to appear.
const LIVE_URL_WAIT: Duration = Duration::from_secs(20);
/// How long session_action close waits for Smooth to confirm.
const GRACEFUL_CLOSE_WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenSessionArgs {
    /// Page to open first.
    pub url: Option<String>,
    /// A profile from create_profile: the session starts with its logins and cookies and,
    /// unless read-only, saves new ones when closed.
    pub profile_id: Option<String>,
    pub profile_read_only: Option<bool>,
    pub device: Option<Device>,
    /// File ids from upload_file (a session only gets files given here, at creation).
    pub files: Option<Vec<String>>,
    /// Glob patterns of URLs the browser may visit, e.g. "https://**.example.com/**".
    pub allowed_urls: Option<Vec<String>>,
    /// Record a video of the session (default true).
    pub enable_recording: Option<bool>,
    pub browser: Option<BrowserOptions>,
    /// Tools run_task agents may call; you answer them (answer_tool_call).
    pub custom_tools: Option<Vec<CustomToolArg>>,
    /// Only these operator tools (list_agent_tools).
    pub tools: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Goto,
    Extract,
    EvaluateJs,
    RunTask,
    Close,
}

impl ActionKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Goto => "goto",
            Self::Extract => "extract",
            Self::EvaluateJs => "evaluate_js",
            Self::RunTask => "run_task",
            Self::Close => "close",
        }
    }
}

/// session_action's arguments as the model sends them: one flat object (models fill that
/// best), parsed once into an [`Action`].
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionActionArgs {
    /// The session_id from open_session.
    pub session_id: String,
    /// goto (needs url) · extract (needs schema, optional prompt) · evaluate_js (needs js,
    /// optional args) · run_task (needs task; optional url, max_steps, response_model,
    /// metadata) · close (optional force). Other fields are ignored.
    pub action: ActionKind,
    /// goto: the page to open; run_task: a page to open before the agent starts.
    pub url: Option<String>,
    /// extract: JSON Schema of the data to pull from the current page.
    pub schema: Option<Map<String, Value>>,
    /// extract: a hint about what to extract.
    pub prompt: Option<String>,
    /// evaluate_js: JavaScript to run in the page, e.g. "document.title"; with args, a
    /// function taking them, e.g. "(args) => args.a + args.b".
    pub js: Option<String>,
    /// evaluate_js: arguments passed to the function in js.
    pub args: Option<Value>,
    /// run_task: the goal for the agent, in plain language. Browser state (tabs, cookies)
    /// carries over between run_task calls; the agent's memory does not.
    pub task: Option<String>,
    /// run_task: most agent steps (2–128).
    pub max_steps: Option<u32>,
    /// run_task: JSON Schema the output must match.
    pub response_model: Option<Map<String, Value>>,
    /// run_task: variables for the agent.
    pub metadata: Option<Metadata>,
    /// run_task: secret names (list_secrets) the agent may type.
    pub secrets: Option<Vec<String>>,
    /// close: force-close even while an agent task runs.
    pub force: Option<bool>,
    /// Seconds to wait before returning (capped by the server); for a run_task, repeat the
    /// same call to keep waiting.
    pub wait_seconds: Option<u64>,
}

/// What session_action does, checked: each action with exactly what it needs.
#[derive(Debug)]
enum Action {
    Goto {
        url: String,
    },
    Extract {
        schema: Value,
        prompt: Option<String>,
    },
    EvaluateJs {
        js: String,
        args: Option<Value>,
    },
    RunTask(SessionTask),
    Close {
        force: bool,
    },
}

/// An agent task inside a session, as the `run_task` session_action input.
#[derive(Debug)]
struct SessionTask {
    task: String,
    url: Option<String>,
    max_steps: Option<u32>,
    response_model: Option<Value>,
    metadata: Option<Map<String, Value>>,
    secrets: Option<Vec<String>>,
}

impl SessionActionArgs {
    pub fn is_run_task(&self) -> bool {
        self.action == ActionKind::RunTask
    }

    /// The action with its fields checked, and the names of the fields given that it does
    /// not use (ignored: a client that fills every field makes a normal call).
    fn parse(mut self, settings: &Settings) -> ToolResult<(Action, Vec<String>)> {
        let kind = self.action;
        let needed = |field: &str| invalid(format!("action {} needs `{field}`", kind.as_str()));
        let action = match kind {
            ActionKind::Goto => Action::Goto {
                url: check_url("url", self.url.take())?.ok_or_else(|| needed("url"))?,
            },
            ActionKind::Extract => Action::Extract {
                schema: check_json_schema("schema", self.schema.take())?
                    .ok_or_else(|| needed("schema"))?,
                prompt: self.prompt.take(),
            },
            ActionKind::EvaluateJs => Action::EvaluateJs {
                js: required_text("js", &self.js.take().ok_or_else(|| needed("js"))?)?,
                args: self.args.take(),
            },
            ActionKind::RunTask => Action::RunTask(SessionTask {
                task: required_text("task", &self.task.take().ok_or_else(|| needed("task"))?)?,
                url: check_url("url", self.url.take())?,
                max_steps: check_max_steps(self.max_steps.take(), settings)?,
                response_model: check_json_schema("response_model", self.response_model.take())?,
                metadata: metadata_to_wire(self.metadata.take())?,
                secrets: self.secrets.take(),
            }),
            ActionKind::Close => Action::Close {
                force: self.force.take().unwrap_or(false),
            },
        };
        // Every action but close waits; close has a wait of its own.
        if kind != ActionKind::Close {
            self.wait_seconds.take();
        }
        // What is still here was not used by the action.
        let left = [
            ("url", self.url.is_some()),
            ("schema", self.schema.is_some()),
            ("prompt", self.prompt.is_some()),
            ("js", self.js.is_some()),
            ("args", self.args.is_some()),
            ("task", self.task.is_some()),
            ("max_steps", self.max_steps.is_some()),
            ("response_model", self.response_model.is_some()),
            ("metadata", self.metadata.is_some()),
            ("secrets", self.secrets.is_some()),
            ("force", self.force.is_some()),
            ("wait_seconds", self.wait_seconds.is_some()),
        ];
        let ignored = left
            .into_iter()
            .filter(|(_, given)| *given)
            .map(|(name, _)| name.to_owned())
            .collect();
        Ok((action, ignored))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSessionsArgs {}

#[tool_router(router = session_router, vis = "pub(super)")]
impl SmoothServer {
    #[tool(
        name = "open_session",
        title = "Open a browser session",
        description = "Open an interactive cloud browser to drive step by step with session_action \
            (several steps on the same pages, or a human logging in through live_url). Costs money \
            while open: close it with session_action close when done. Idle sessions are closed \
            automatically.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<SessionOpened>()
    )]
    async fn open_session(
        &self,
        Parameters(args): Parameters<OpenSessionArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        // A session is created without a url (Smooth no longer takes one) and then navigated
        // with a goto, as the official SDK does.
        let start_url = check_url("url", args.url)?;
        let (custom_tools, tools) = declare(args.custom_tools, args.tools, &self.state)?;
        let mut req = TaskRequest {
            custom_tools: non_empty(custom_tools),
            task: None,
            profile_id: args.profile_id,
            profile_read_only: args.profile_read_only,
            device: args.device.map(|d| d.as_str().to_owned()),
            files: check_ids("files", args.files)?,
            allowed_urls: args.allowed_urls,
            enable_recording: args.enable_recording,
            ..TaskRequest::default()
        };
        args.browser
            .unwrap_or_default()
            .apply(&self.state.settings.task_defaults, &mut req)?;
        let sessions = &self.state.sessions;
        let watch = self
            .create(
                &self.client(&ctx),
                &req,
                tools,
                "opening the session",
                Kind::Session,
                |w| sessions.opened(w.clone()),
            )
            .await?;
        let id = watch.id.clone();
        tracing::info!(session = %id, "session opened");
        let mut reporter = Reporter::for_request(&ctx);
        let waited = Wait {
            deadline: Instant::now() + LIVE_URL_WAIT.min(self.state.settings.max_wait),
            ct: &ctx.ct,
            reporter: &mut reporter,
            heartbeat: self.state.settings.heartbeat,
            label: "session",
            redactor: &self.state.redactor,
        }
        .until(&watch, |st| {
            st.is_terminal() || st.task.as_ref().is_some_and(|t| t.live_url.is_some())
        })
        .await;
        if let Waited::Gone(e) = waited {
            return Err(ToolError::upstream(&e, &format!("opening session {id}")));
        }
        let loading = match start_url {
            Some(url) => {
                let deadline = Instant::now() + wait_budget(None, &self.state.settings);
                let goto = self
                    .browser_action(
                        &watch,
                        ActionKind::Goto,
                        json!({ "url": url }),
                        &mut reporter,
                        &ctx.ct,
                        deadline,
                    )
                    .await;
                match goto {
                    Ok(r) => (r.status == ActionStatus::Running).then_some(url),
                    Err(e @ ToolError::Cancelled(_)) => return Err(e),
                    // The session exists and costs money: the model needs its id to close it.
                    Err(e) => {
                        return Err(ToolError::Smooth(format!(
                            "Opening {url} in session {id} failed: {e} An open session costs \
                             money: retry with session_action goto, or close it with \
                             session_action close (session_id \"{id}\")."
                        )));
                    }
                }
            }
            None => None,
        };
        let st = watch.snapshot();
        let status = st.task.as_ref().map_or(TaskStatus::Waiting, |t| t.status);
        let live_url = st.task.and_then(|t| t.live_url);
        let next_step = Some(match (&live_url, loading) {
            (_, Some(url)) => format!(
                "The browser is still loading {url}; session_action with session_id \"{id}\" \
                 works meanwhile. Close the session when done."
            ),
            (Some(_), None) => format!(
                "Use session_action with session_id \"{id}\"; give the user live_url to watch or take over; close it when done."
            ),
            (None, None) => format!(
                "The browser is still starting; session_action with session_id \"{id}\" works once it is running."
            ),
        });
        Ok(structured(
            &SessionOpened {
                session_id: id,
                status,
                live_url,
                next_step,
            },
            vec![],
        ))
    }

    #[tool(
        name = "session_action",
        title = "Act in a browser session",
        description = "Act in an open session: goto a url, extract structured data (no agent \
            steps), evaluate_js in the page, run_task (the agent works toward a goal in this \
            browser; one at a time), or close the session.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<SessionActionResult>()
    )]
    async fn session_action(
        &self,
        Parameters(args): Parameters<SessionActionArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let budget = wait_budget(args.wait_seconds, &self.state.settings);
        let mut reporter = Reporter::for_request(&ctx);
        self.session_action_with(args, self.client(&ctx), &mut reporter, &ctx.ct, budget)
            .await
    }

    #[tool(
        name = "list_sessions",
        title = "List open sessions",
        description = "Browser sessions and tasks open on the account (they cost money while \
            open), with their age and live_url; includes ones this server did not open.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<SessionList>()
    )]
    async fn list_sessions(
        &self,
        Parameters(_): Parameters<ListSessionsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let client = self.client(&ctx);
        let account = client.account();
        let ours: Vec<_> = self
            .state
            .sessions
            .list()
            .into_iter()
            .filter(|e| e.watch.account() == account)
            .collect();
        let info = |t: &TaskResponse, mine: Option<&SessionEntry>| SessionInfo {
            session_id: t.id.clone(),
            status: t.status,
            live_url: t.live_url.clone(),
            opened_here: mine.is_some(),
            age_seconds: mine
                .and_then(|e| e.opened_at.elapsed().ok())
                .map(|d| d.as_secs_f64())
                .or_else(|| t.created_at.map(seconds_since))
                .map(f64::round),
            idle_seconds: mine.map(|e| e.last_used.elapsed().as_secs_f64().round()),
            credits_used: t.credits_used,
        };
        let (sessions, note) = match client.list_tasks(None, Some(128)).await {
            Ok(tasks) => {
                let live: Vec<SessionInfo> = tasks
                    .iter()
                    .filter(|t| !t.status.is_terminal())
                    .map(|t| info(t, ours.iter().find(|e| e.watch.id == t.id)))
                    .collect();
                // Ours that the account no longer lists as live have ended on their own.
                for e in &ours {
                    if !live.iter().any(|s| s.session_id == e.watch.id) {
                        self.state.sessions.forget(&e.watch.id);
                    }
                }
                (live, None)
            }
            Err(e) => {
                let known = ours
                    .iter()
                    .filter_map(|e| Some(info(&e.watch.snapshot().task?, Some(e))))
                    .collect();
                let note = format!(
                    "Could not list the account's sessions ({e}); showing only the ones this server opened."
                );
                (known, Some(note))
            }
        };
        Ok(structured(&SessionList { sessions, note }, vec![]))
    }
}

impl SmoothServer {
    pub(super) async fn session_action_with(
        &self,
        args: SessionActionArgs,
        client: SmoothClient,
        reporter: &mut Reporter,
        ct: &CancellationToken,
        budget: Duration,
    ) -> Result<CallToolResult, ToolError> {
        let id = required_text("session_id", &args.session_id)?;
        let (action, ignored) = args.parse(&self.state.settings)?;
        if let Some(reaped) = self.state.sessions.reaped(&id) {
            return Err(ToolError::Smooth(format!(
                "Session {id} was closed by this server after {} minutes without use (see \
                 --idle-session-minutes). Open a new one with open_session.",
                reaped.idle_for.as_secs() / 60
            )));
        }
        let watch = self.state.watcher.watch(&client, &id);
        self.state.sessions.touch(&id);
        let deadline = Instant::now() + budget;
        let result = match action {
            Action::Goto { url } => {
                let input = json!({ "url": url });
                self.browser_action(&watch, ActionKind::Goto, input, reporter, ct, deadline)
                    .await?
            }
            Action::Extract { schema, prompt } => {
                let input = json!({ "schema": schema, "prompt": prompt });
                self.browser_action(&watch, ActionKind::Extract, input, reporter, ct, deadline)
                    .await?
            }
            Action::EvaluateJs { js, args } => {
                let input = json!({ "js": js, "args": args });
                self.browser_action(
                    &watch,
                    ActionKind::EvaluateJs,
                    input,
                    reporter,
                    ct,
                    deadline,
                )
                .await?
            }
            Action::RunTask(task) => {
                self.session_task(&watch, &client, task, reporter, ct, deadline)
                    .await?
            }
            Action::Close { force } => self.close_session(&watch, force).await?,
        };
        Ok(structured(
            &SessionActionResult { ignored, ..result },
            vec![],
        ))
    }

    /// Sends a `browser_action` (goto, extract, evaluate_js) and waits for its result.
    async fn browser_action(
        &self,
        watch: &Arc<TaskWatch>,
        kind: ActionKind,
        input: Value,
        reporter: &mut Reporter,
        ct: &CancellationToken,
        deadline: Instant,
    ) -> ToolResult<SessionActionResult> {
        let event_id = watch
            .send_action(
                "browser_action",
                json!({"name": kind.as_str(), "input": input}),
            )
            .await
            .map_err(|e| {
                ToolError::upstream(
                    &e,
                    &format!("sending {} to session {}", kind.as_str(), watch.id),
                )
            })?;
        self.await_action(watch, kind, &event_id, reporter, ct, deadline)
            .await
    }

    async fn session_task(
        &self,
        watch: &Arc<TaskWatch>,
        client: &SmoothClient,
        run: SessionTask,
        reporter: &mut Reporter,
        ct: &CancellationToken,
        deadline: Instant,
    ) -> ToolResult<SessionActionResult> {
        let id = watch.id.clone();
        // Repeating the call resumes the wait instead of starting the task twice.
        let pending = self.state.sessions.get(&id).and_then(|e| e.pending_task);
        let event_id = match pending {
            Some(p) if p.task == run.task => {
                watch.expect_action(&p.event_id);
                p.event_id
            }
            Some(p) => {
                return Err(ToolError::Smooth(format!(
                    "An agent task is still running in session {id} (started {}s ago: {:?}). Repeat \
                     that session_action run_task call to keep waiting for it, or close the session \
                     with force=true to stop it.",
                    p.started.elapsed().as_secs(),
                    p.task
                )));
            }
            None => {
                // A new agent task spends credits: not once the budget is spent.
                self.state
                    .limits
                    .admit_spending(&self.state.watcher, client)
                    .await
                    .map_err(|r| ToolError::Smooth(r.to_string()))?;
                let mut input = json!({
                    "task": run.task,
                    "url": run.url,
                    "max_steps": run.max_steps,
                    "response_model": run.response_model,
                    "metadata": run.metadata,
                });
                if let Some(names) = run.secrets.filter(|n| !n.is_empty()) {
                    let wire = self
                        .state
                        .secrets
                        .wire(&names)
                        .map_err(|e| invalid(format!("secrets: {e}")))?;
                    input["secrets"] = Value::Object(wire);
                }
                let event_id = watch
                    .send_action(
                        "session_action",
                        json!({"name": "run_task", "input": input}),
                    )
                    .await
                    .map_err(|e| {
                        ToolError::upstream(&e, &format!("starting an agent task in session {id}"))
                    })?;
                self.state.sessions.set_pending_task(
                    &id,
                    Some(PendingTask {
                        task: run.task,
                        event_id: event_id.clone(),
                        started: Instant::now(),
                    }),
                );
                event_id
            }
        };
        self.await_action(
            watch,
            ActionKind::RunTask,
            &event_id,
            reporter,
            ct,
            deadline,
        )
        .await
    }

    pub(super) async fn await_action(
        &self,
        watch: &Arc<TaskWatch>,
        action: ActionKind,
        event_id: &str,
        reporter: &mut Reporter,
        ct: &CancellationToken,
        deadline: Instant,
    ) -> ToolResult<SessionActionResult> {
        let id = &watch.id;
        let label = if action == ActionKind::RunTask {
            "agent task in session"
        } else {
            "session"
        };
        let waited = Wait {
            deadline,
            ct,
            reporter,
            heartbeat: self.state.settings.heartbeat,
            label,
            redactor: &self.state.redactor,
        }
        .until(watch, |st| {
            st.action_result(event_id).is_some() || st.is_terminal()
        })
        .await;
        let st = watch.snapshot();
        let session_credits = st.task.as_ref().and_then(|t| t.credits_used);
        match waited {
            Waited::Done => {}
            Waited::Gone(e) => {
                return Err(ToolError::upstream(
                    &e,
                    &format!("waiting for {} in session {id}", action.as_str()),
                ));
            }
            Waited::Cancelled => {
                return Err(ToolError::Cancelled(format!(
                    "Stopped waiting for {} in session {id}; the session stays open{}.",
                    action.as_str(),
                    if action == ActionKind::RunTask {
                        " and its agent task keeps running (repeat the call to wait for it)"
                    } else {
                        ""
                    }
                )));
            }
            Waited::NeedsAnswer => {
                let calls = st.pending_tool_calls();
                return Ok(SessionActionResult {
                    pending_tool_calls: Some(calls.iter().map(PendingCall::from).collect()),
                    next_step: answer_step(id, &calls),
                    ..SessionActionResult::new(
                        id,
                        action,
                        ActionStatus::WaitingForAnswer,
                        session_credits,
                    )
                });
            }
            Waited::Budget => {
                return Ok(SessionActionResult {
                    next_step: Some(format!(
                        "Still running after this call's wait budget. Repeat the same session_action \
                         call to keep waiting (it will not start the {} again).",
                        action.as_str()
                    )),
                    ..SessionActionResult::new(id, action, ActionStatus::Running, session_credits)
                });
            }
        }
        if action == ActionKind::RunTask {
            self.state.sessions.set_pending_task(id, None);
        }
        let Some(outcome) = st.action_result(event_id).cloned() else {
            let status = st
                .task
                .as_ref()
                .map_or("closed".to_owned(), |t| t.status.to_string());
            self.state.sessions.forget(id);
            return Err(ToolError::Smooth(format!(
                "Session {id} ended ({status}) before the {} finished. Open a new session with open_session.",
                action.as_str()
            )));
        };
        if !outcome.is_success() {
            let detail = match &outcome.output {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(ToolError::Smooth(format!(
                "The {} action failed in session {id} (code {}): {detail}. The session is still open: \
                 adjust the action and try again.",
                action.as_str(),
                outcome.code
            )));
        }
        let cap = self.state.settings.output_cap;
        let (output, output_truncated) = cap_output(outcome.output, cap);
        Ok(SessionActionResult {
            output: Some(output),
            output_truncated,
            credits_used: outcome.credits_used,
            cost_usd: usd(outcome.credits_used),
            duration_s: outcome.duration_s,
            next_step: output_truncated.then(|| truncation_note(cap)),
            ..SessionActionResult::new(id, action, ActionStatus::Done, session_credits)
        })
    }

    async fn close_session(
        &self,
        watch: &Arc<TaskWatch>,
        force: bool,
    ) -> ToolResult<SessionActionResult> {
        let id = watch.id.clone();
        let failed = |e: SmoothError| ToolError::upstream(&e, &format!("closing session {id}"));
        if force {
            watch.cancel().await.map_err(failed)?;
        } else {
            match registry::close_gracefully(watch, GRACEFUL_CLOSE_WAIT)
                .await
                .map_err(failed)?
            {
                Graceful::Closed => {}
                Graceful::Refused => {
                    return Err(ToolError::Smooth(format!(
                        "Session {id} was not closed: an agent task is still running in it. Wait for \
                         it (repeat its run_task call), or call session_action close with force=true."
                    )));
                }
                Graceful::Failed { code, message } => {
                    return Err(ToolError::Smooth(format!(
                        "Smooth could not close session {id} (code {code}): {message}. Try force=true."
                    )));
                }
                Graceful::NoAnswer => {
                    return Err(ToolError::Smooth(format!(
                        "Smooth did not confirm closing session {id} in time; it may still be open. \
                         Call session_action close again, or with force=true to be sure."
                    )));
                }
            }
        }
        self.state.sessions.forget(&id);
        let credits = watch.snapshot().task.and_then(|t| t.credits_used);
        Ok(SessionActionResult {
            output: Some(Value::Bool(true)),
            next_step: Some(
                "Closed. If the session used a profile, wait about 5 seconds before using that profile again."
                    .into(),
            ),
            ..SessionActionResult::new(&id, ActionKind::Close, ActionStatus::Done, credits)
        })
    }
}
