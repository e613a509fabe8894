//! One-shot agent tasks: run_browser_task, get_task, cancel_task.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rmcp::handler::server::common::schema_for_output;

use rmcp::model::{CallToolRequestParams, CallToolResult, IntoContents, Task};
use rmcp::service::RequestContext;
use rmcp::task_manager::{TaskExit, TaskOptions};
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::args::{
    Agent, BrowserOptions, Device, Metadata, Parameters, additional_tools, check_ids,
    check_json_schema, check_max_steps, check_url, metadata_to_wire, redact, required_text,
    tools_make_files, wait_budget,
};
use super::declare::{CustomToolArg, declare};
use super::error::{ToolError, ToolResult, invalid};
use super::one_shot::OneShot;
use super::output::{cap_output, truncation_note};
use super::progress::Reporter;
use super::results::{
    CancelResult, PendingCall, ResultStatus, TaskResult, answer_step, seconds_since, structured,
    usd,
};
use super::task_files::FileDest;
use super::wait::{Wait, Waited};
use super::{SmoothServer, sessions::SessionActionArgs};
use crate::limits::Kind;
use smooth_api::watch::{AgentTools, TaskWatch};
use smooth_api::{CustomTool, SmoothClient, SmoothError, TaskRequest, TaskResponse};

/// Appended to the goal of a task run with `screenshot: true`.
const FINAL_SCREENSHOT: &str =
    "\n\nWhen you are done, take a screenshot of the final page with the screenshot tool.";

/// An MCP task waits for as long as a Smooth task can run.
const MCP_TASK_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunTaskArgs {
    /// The goal in plain language, as precise as you would give a person: what to do, where,
    /// and what to report back.
    pub task: String,
    /// Page to start on; the agent finds one itself when absent.
    pub url: Option<String>,
    /// JSON Schema the output must match, for structured data.
    pub response_model: Option<Map<String, Value>>,
    /// Variables for the agent (at most 16; strings, numbers or booleans).
    pub metadata: Option<Metadata>,
    /// File ids from upload_file that the agent may use.
    pub files: Option<Vec<String>>,
    /// Most agent steps before it stops (2–128, default 32); bounds the cost (~$0.005 a step).
    pub max_steps: Option<u32>,
    pub device: Option<Device>,
    /// Glob patterns of URLs the agent may visit, e.g. "https://**.example.com/**".
    pub allowed_urls: Option<Vec<String>>,
    /// A profile from create_profile, to work with its saved logins and cookies.
    pub profile_id: Option<String>,
    /// Use the profile without saving changes back to it.
    pub profile_read_only: Option<bool>,
    /// Record a video of the run (default true).
    pub enable_recording: Option<bool>,
    /// "smooth" (default) or the faster, cheaper "smooth-lite".
    pub agent: Option<Agent>,
    /// Extra agent tools, e.g. {"screenshot": {"full_page": true}}; also print_page, hover,
    /// drag_drop (config {}). Screenshots and printed pages come back as files.
    pub additional_tools: Option<Map<String, Value>>,
    /// Show me the final page: a screenshot comes back as an image.
    pub screenshot: Option<bool>,
    pub browser: Option<BrowserOptions>,
    /// Return the files the agent downloaded (default: when screenshot or print_page is on).
    pub include_downloads: Option<bool>,
    /// Tools the agent may call; you answer them (answer_tool_call).
    pub custom_tools: Option<Vec<CustomToolArg>>,
    /// Only these operator tools (list_agent_tools).
    pub tools: Option<Vec<String>>,
    /// Secret names (list_secrets) the agent may type; runs the task in a session of its own.
    pub secrets: Option<Vec<String>>,
    /// Seconds to wait for the result before returning the task id (capped by the server).
    pub wait_seconds: Option<u64>,
}

/// `custom_tools` is left out of the request when there are none.
pub(super) fn non_empty(tools: Vec<CustomTool>) -> Option<Vec<CustomTool>> {
    (!tools.is_empty()).then_some(tools)
}

impl RunTaskArgs {
    /// The request to send, with the server's defaults where the call set nothing.
    fn to_request(
        &self,
        server: &SmoothServer,
        custom_tools: Vec<CustomTool>,
    ) -> ToolResult<TaskRequest> {
        let settings = &server.state.settings;
        let defaults = &settings.task_defaults;
        let mut task = required_text("task", &self.task)?;
        let mut extra_tools = self.additional_tools.clone();
        if self.screenshot == Some(true) {
            // Smooth's screenshot tool is the agent's to call: ask for the shot the user wants.
            task.push_str(FINAL_SCREENSHOT);
            extra_tools
                .get_or_insert_default()
                .entry("screenshot")
                .or_insert_with(|| serde_json::json!({"full_page": false}));
        }
        let mut req = TaskRequest {
            task: Some(task),
            url: check_url("url", self.url.clone())?,
            response_model: check_json_schema("response_model", self.response_model.clone())?,
            metadata: metadata_to_wire(self.metadata.clone())?,
            files: check_ids("files", self.files.clone())?,
            max_steps: check_max_steps(self.max_steps, settings)?,
            device: self.device.map(|d| d.as_str().to_owned()),
            allowed_urls: self.allowed_urls.clone(),
            profile_id: self.profile_id.clone(),
            profile_read_only: self.profile_read_only,
            enable_recording: self.enable_recording,
            agent: self.agent.or(defaults.agent).map(|a| a.as_str().to_owned()),
            additional_tools: additional_tools(extra_tools, defaults)?,
            custom_tools: non_empty(custom_tools),
            ..TaskRequest::default()
        };
        self.browser
            .clone()
            .unwrap_or_default()
            .apply(defaults, &mut req)?;
        Ok(req)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetTaskArgs {
    /// The task_id returned by run_browser_task.
    pub task_id: String,
    /// Seconds to wait for the task to finish before answering (0 = answer at once; capped by the server).
    pub wait_seconds: Option<u64>,
    /// Return the files the agent downloaded.
    pub include_downloads: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelTaskArgs {
    /// The task (or session) id to stop.
    pub task_id: String,
}

#[tool_router(router = task_router, vis = "pub(super)")]
impl SmoothServer {
    #[tool(
        name = "run_browser_task",
        title = "Run a browser task",
        description = "Give the Smooth agent a goal to carry out in a real cloud browser (search, \
            compare, fill forms, extract data) and get its answer. Waits up to wait_seconds; if the \
            task is still running then, returns its task_id and live_url: call get_task to keep \
            waiting. Costs about $0.005 per agent step.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<TaskResult>()
    )]
    async fn run_browser_task(
        &self,
        Parameters(args): Parameters<RunTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let budget = wait_budget(args.wait_seconds, &self.state.settings);
        let mut reporter = Reporter::for_request(&ctx);
        self.run_task(args, self.client(&ctx), &mut reporter, &ctx, budget)
            .await
    }

    #[tool(
        name = "get_task",
        title = "Get a task's result",
        description = "Status and result of a task started by run_browser_task (also after a \
            client timeout or restart). Waits up to wait_seconds for it to finish; call again while \
            it is still running.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<TaskResult>()
    )]
    async fn get_task(
        &self,
        Parameters(args): Parameters<GetTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let id = required_text("task_id", &args.task_id)?;
        let client = self.client(&ctx);
        let budget = wait_budget(args.wait_seconds, &self.state.settings);
        let one_shot = self.one_shot_run(&client, &id);
        let watch = match &one_shot {
            Some((watch, _)) => watch.clone(),
            None => self.state.watcher.watch(&client, &id),
        };
        // A task this process asked files of keeps them without being asked again.
        let downloads = args
            .include_downloads
            .unwrap_or_else(|| watch.wants_downloads());
        let home = downloads.then(|| FileDest::new(&ctx));
        if let Some((watch, event_id)) = one_shot {
            let mut reporter = Reporter::for_request(&ctx);
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
        if downloads {
            watch.want_downloads();
        }
        // A running poller's state is at most one poll old: another GET would repeat it.
        // Otherwise what this process last saw may be old: start from the truth (unless it
        // is final).
        let settled = {
            let st = watch.state();
            st.is_terminal() && st.links_ready(downloads)
        };
        if !watch.is_polling() && !settled {
            watch
                .refresh(downloads)
                .await
                .map_err(|e| ToolError::upstream(&e, &format!("reading task {id}")))?;
        }
        let mut reporter = Reporter::for_request(&ctx);
        self.follow(watch, &mut reporter, &ctx.ct, budget, home.as_ref(), false)
            .await
    }

    #[tool(
        name = "cancel_task",
        title = "Cancel a task",
        description = "Stop a running task (or force-close a session) so it stops costing credits.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<CancelResult>()
    )]
    async fn cancel_task(
        &self,
        Parameters(args): Parameters<CancelTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let id = required_text("task_id", &args.task_id)?;
        let watch = self.state.watcher.watch(&self.client(&ctx), &id);
        match watch.cancel().await {
            Ok(_) => {}
            // Already over: report how it ended rather than fail.
            Err(SmoothError::Api { status: 404, .. }) => {}
            Err(e) => return Err(ToolError::upstream(&e, &format!("cancelling task {id}"))),
        }
        self.state.sessions.forget(&id);
        self.state.ledger.forget(&id);
        let task = watch
            .refresh(false)
            .await
            .map_err(|e| ToolError::upstream(&e, &format!("reading task {id}")))?;
        Ok(structured(
            &CancelResult {
                task_id: id,
                status: task.status,
                credits_used: task.credits_used,
                cost_usd: usd(task.credits_used),
            },
            vec![],
        ))
    }
}

impl SmoothServer {
    /// `POST /task` (never repeated) and the watch that follows it; a failure says what was
    /// `doing`, with a proxy password given in the call masked. `register` files the new
    /// task or session before shutdown can look (it waits for creations in flight), and no
    /// creation starts once shutdown has swept.
    pub(super) async fn create(
        &self,
        client: &SmoothClient,
        req: &TaskRequest,
        tools: AgentTools,
        doing: &str,
        kind: Kind,
        register: impl FnOnce(&Arc<TaskWatch>),
    ) -> ToolResult<Arc<TaskWatch>> {
        // Before anything is sent: a refused creation sends nothing.
        let slot = self
            .state
            .limits
            .admit(&self.state.watcher, client, kind)
            .await
            .map_err(|r| {
                tracing::info!(refusal = %r, "creation refused by a limit");
                ToolError::Smooth(r.to_string())
            })?;
        let Some(_busy) = self.state.ledger.begin() else {
            return Err(ToolError::Smooth(format!(
                "{doing}: the server is shutting down; nothing was created. Try again once it is \
                 back."
            )));
        };
        let watch = self
            .state
            .watcher
            .start(client, req, tools)
            .await
            .map_err(|e| {
                redact(
                    ToolError::upstream(&e, doing),
                    req.proxy_password.as_deref(),
                )
            })?;
        register(&watch);
        slot.created(client, &watch);
        Ok(watch)
    }

    /// Creates the task and follows it. Once Smooth has answered, the task id is in every
    /// outcome: a result, a still-running result, or an error that names it.
    pub(super) async fn run_task(
        &self,
        args: RunTaskArgs,
        client: SmoothClient,
        reporter: &mut Reporter,
        ctx: &RequestContext<RoleServer>,
        budget: Duration,
    ) -> Result<CallToolResult, ToolError> {
        let ct = &ctx.ct;
        let (custom_tools, tools) =
            declare(args.custom_tools.clone(), args.tools.clone(), &self.state)?;
        let secrets = match args.secrets.as_deref().filter(|n| !n.is_empty()) {
            Some(names) => Some(
                self.state
                    .secrets
                    .wire(names)
                    .map_err(|e| invalid(format!("secrets: {e}")))?,
            ),
            None => None,
        };
        let req = args.to_request(self, custom_tools)?;
        let downloads = args
            .include_downloads
            .unwrap_or_else(|| tools_make_files(req.additional_tools.as_ref()));
        let home = downloads.then(|| FileDest::new(ctx));
        if let Some(secrets) = secrets {
            let job = OneShot {
                req,
                tools,
                secrets,
                home,
            };
            return self
                .run_in_own_session(job, client, reporter, ct, budget)
                .await;
        }
        let ledger = &self.state.ledger;
        let watch = self
            .create(&client, &req, tools, "creating the task", Kind::Task, |w| {
                ledger.created(&client, w);
            })
            .await?;
        tracing::info!(task = %watch.id, "task created");
        let id = watch.id.clone();
        // The task exists now: even a bug in the wait must not lose its id.
        AssertUnwindSafe(self.follow(watch, reporter, ct, budget, home.as_ref(), true))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(task = %id, "following the task failed unexpectedly");
                Err(ToolError::Smooth(format!(
                    "Task {id} was created, but following it failed unexpectedly. Call get_task with \
                     task_id \"{id}\" to see where it stands."
                )))
            })
    }

    /// Waits for a task within `budget` and renders where it stands.
    pub(super) async fn follow(
        &self,
        watch: Arc<TaskWatch>,
        reporter: &mut Reporter,
        ct: &CancellationToken,
        budget: Duration,
        home: Option<&FileDest>,
        cancel_on_abort: bool,
    ) -> Result<CallToolResult, ToolError> {
        let deadline = Instant::now() + budget;
        let downloads = home.is_some();
        if downloads {
            // Asked for from the first poll on, so the one that sees the end may bring it.
            watch.want_downloads();
        }
        let waited = Wait {
            deadline,
            ct,
            reporter,
            heartbeat: self.state.settings.heartbeat,
            label: "task",
            redactor: &self.state.redactor,
        }
        .until(&watch, |st| st.is_terminal())
        .await;
        match waited {
            Waited::Done => {
                self.await_links(&watch, deadline, downloads).await;
                Ok(self.reply(self.render_task(&watch, downloads), home).await)
            }
            Waited::Budget | Waited::NeedsAnswer => {
                Ok(self.reply(self.render_task(&watch, downloads), None).await)
            }
            Waited::Cancelled => {
                let ledger = &self.state.ledger;
                // Cut off by shutdown: the shutdown sweep cancels the task unless its id went
                // out (in a progress notification), so it is decided in one place.
                let cancel_on_abort = cancel_on_abort && !ledger.is_ending();
                // Counted as busy, so shutdown waits for the cancel to reach Smooth.
                if cancel_on_abort && let Some(_busy) = ledger.begin() {
                    // Bounded: the client already went away.
                    match tokio::time::timeout(Duration::from_secs(5), watch.cancel()).await {
                        Ok(Ok(_)) => {
                            ledger.forget(&watch.id);
                            tracing::info!(task = %watch.id, "cancelled upstream");
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(task = %watch.id, error = %e, "upstream cancel failed")
                        }
                        Err(_) => tracing::warn!(task = %watch.id, "upstream cancel timed out"),
                    }
                }
                let id = &watch.id;
                Err(ToolError::Cancelled(if cancel_on_abort {
                    format!("The request was cancelled; task {id} was cancelled too.")
                } else {
                    format!(
                        "The request was cancelled; task {id} keeps running: call get_task with \
                         task_id \"{id}\" to follow it, or cancel_task to stop it."
                    )
                }))
            }
            Waited::Gone(e) => Err(ToolError::upstream(
                &e,
                &format!("following task {}", watch.id),
            )),
        }
    }

    /// A finished task's recording (and downloads) links appear shortly after the end:
    /// waits for them within the call's budget and at most `--artifact-wait-seconds`, on
    /// the watcher's own polls. A link still missing then stays null in the result.
    pub(super) async fn await_links(
        &self,
        watch: &Arc<TaskWatch>,
        deadline: Instant,
        downloads: bool,
    ) {
        if downloads {
            watch.want_downloads();
        }
        let until = deadline.min(Instant::now() + self.state.settings.artifact_wait);
        let mut interest = watch.interest();
        interest
            .until(until, |st| {
                (st.links_ready(downloads) || st.fatal.is_some()).then_some(())
            })
            .await;
    }

    pub(super) fn render_task(&self, watch: &TaskWatch, downloads: bool) -> TaskResult {
        let st = watch.snapshot();
        let pending = st.pending_tool_calls();
        let cap = self.state.settings.output_cap;
        let mut task = st.task.unwrap_or_else(|| TaskResponse {
            id: watch.id.clone(),
            ..TaskResponse::default()
        });
        let (output, output_truncated) = match task.output.take() {
            Some(v) if !v.is_null() => {
                let (v, cut) = cap_output(v, cap);
                (Some(v), cut)
            }
            _ => (None, false),
        };
        let live = !task.status.is_terminal();
        // The watcher clears pending calls when the task ends.
        let waits = !pending.is_empty();
        let next_step = if waits {
            answer_step(&watch.id, &pending)
        } else if live {
            Some(format!(
                "Still {} after this call's wait budget. Call get_task with task_id \"{}\" to keep waiting \
                 (repeat as needed), or cancel_task to stop it.{}",
                task.status,
                watch.id,
                task.live_url
                    .as_deref()
                    .map(|u| format!(" The user can watch it live at {u}"))
                    .unwrap_or_default()
            ))
        } else {
            ended_step(&watch.id, output_truncated.then_some(cap), &task, downloads)
        };
        let elapsed = task.created_at.map(seconds_since).unwrap_or_default();
        TaskResult {
            task_id: watch.id.clone(),
            status: if waits {
                ResultStatus::WaitingForAnswer
            } else {
                task.status.into()
            },
            pending_tool_calls: waits.then(|| pending.iter().map(PendingCall::from).collect()),
            output,
            output_truncated,
            credits_used: task.credits_used,
            cost_usd: usd(task.credits_used),
            live_url: if live { task.live_url } else { None },
            recording_url: task.recording_url.clone(),
            downloads_url: if downloads {
                task.downloads_url.clone()
            } else {
                None
            },
            files: None,
            files_dir: None,
            elapsed_seconds: (elapsed * 10.0).round() / 10.0,
            next_step,
        }
    }

    /// Runs `run_browser_task`, or a session's `run_task`, as an MCP task for clients that
    /// declared the Tasks extension. `None`: not a task-shaped call (it runs as usual).
    pub(super) fn spawn_mcp_task(
        &self,
        request: &CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Option<Task> {
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        let job = match request.name.as_ref() {
            "run_browser_task" => McpJob::Task(serde_json::from_value(arguments).ok()?),
            "session_action" => {
                let args: SessionActionArgs = serde_json::from_value(arguments).ok()?;
                if !args.is_run_task() {
                    return None;
                }
                McpJob::SessionTask(args)
            }
            _ => return None,
        };
        let server = self.clone();
        let client = self.client(ctx);
        let ctx = ctx.clone();
        let options = TaskOptions::new()
            .with_ttl_ms(3_600_000)
            .with_poll_interval_ms(2_000)
            .with_status_message("starting");
        Some(self.state.mcp_tasks.spawn(options, move |task_ctx| {
            Box::pin(async move {
                let ct = CancellationToken::new();
                let mut ctx = ctx;
                ctx.ct = ct.clone();
                let mut reporter = Reporter::mcp_task(
                    task_ctx.clone(),
                    server.state.mcp_tasks.clone(),
                    server.state.redactor.clone(),
                );
                let work = async {
                    match job {
                        McpJob::Task(args) => {
                            server
                                .run_task(args, client, &mut reporter, &ctx, MCP_TASK_WAIT)
                                .await
                        }
                        McpJob::SessionTask(args) => {
                            server
                                .session_action_with(
                                    args,
                                    client,
                                    &mut reporter,
                                    &ct,
                                    MCP_TASK_WAIT,
                                )
                                .await
                        }
                    }
                };
                tokio::pin!(work);
                let outcome = tokio::select! {
                    r = &mut work => r,
                    _ = task_ctx.cancelled() => {
                        ct.cancel();
                        work.await
                    }
                };
                let redactor = &server.state.redactor;
                match outcome {
                    Ok(mut result) => {
                        redactor.redact_result(&mut result);
                        Ok(result)
                    }
                    Err(ToolError::Cancelled(_)) => Err(TaskExit::Cancelled),
                    Err(e) => {
                        let mut result = CallToolResult::error(e.into_contents());
                        redactor.redact_result(&mut result);
                        Ok(result)
                    }
                }
            })
        }))
    }
}

enum McpJob {
    Task(RunTaskArgs),
    SessionTask(SessionActionArgs),
}

/// The next step of an ended task's result: the output was cut (`truncated_at`: the cap),
/// or a link Smooth fills in after the end is not there yet.
pub(super) fn ended_step(
    id: &str,
    truncated_at: Option<usize>,
    task: &TaskResponse,
    downloads: bool,
) -> Option<String> {
    let notes: Vec<String> = [
        truncated_at.map(truncation_note),
        links_note(
            id,
            task.recording_url.is_none(),
            downloads && task.downloads_url.is_none(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!notes.is_empty()).then(|| notes.join(" "))
}

fn links_note(id: &str, recording: bool, downloads: bool) -> Option<String> {
    let what = match (recording, downloads) {
        (true, true) => "The recording and downloads links are",
        (true, false) => "The recording link is",
        (false, true) => "The downloads link is",
        (false, false) => return None,
    };
    Some(format!(
        "{what} not ready yet (null): call get_task with task_id \"{id}\" in a few seconds to get \
         {}.",
        if recording && downloads { "them" } else { "it" }
    ))
}
