//! The MCP server: tool argument and result types, one file per tool family, output shaping
//! and error rendering. Thin: every Smooth call goes through the watcher or the client.

mod answers;
mod args;
mod channel;
mod declare;
mod error;
mod extensions;
mod files;
mod listing;
mod one_shot;
mod output;
mod profiles;
mod progress;
#[cfg(test)]
mod proptests;
mod resources;
mod results;
mod schema;
mod sessions;
mod task_files;
mod tasks;
mod usage;
mod wait;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use tracing::Instrument;

use crate::metrics::{Metrics, Outcome};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CreateTaskResult, GetTaskParams,
    GetTaskResult, Implementation, ListResourceTemplatesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
    UpdateTaskParams,
};
use rmcp::service::RequestContext;
use rmcp::task_manager::TaskManager;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use crate::agent_tools::OperatorTools;
use crate::ledger::Ledger;
use crate::limits::{LimitSettings, Limits};
use crate::secrets::{Redactor, Secrets};
use crate::sessions::Sessions;
use smooth_api::watch::Watcher;
use smooth_api::{ApiKey, SmoothClient};

pub use args::{Agent, Device, Proxy, TaskDefaults};
pub use error::ToolError;
pub use task_files::FileSettings;

/// The header a client of the HTTP transport may use to send its own Smooth key.
pub const CLIENT_KEY_HEADER: &str = "x-smooth-api-key";

/// The Smooth key a signed-in user's calls bill to (`--key-by-claim`), put in the HTTP
/// request's extensions by the transport once the sign-in is checked.
#[derive(Clone)]
pub struct BilledKey(pub ApiKey);

/// What the tools need to know about this deployment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub default_wait: Duration,
    pub max_wait: Duration,
    pub output_cap: usize,
    pub max_steps_cap: u32,
    pub upload_roots: Vec<PathBuf>,
    pub max_upload_bytes: u64,
    pub heartbeat: Duration,
    /// Longest a finished task's result waits for its recording / downloads links.
    pub artifact_wait: Duration,
    /// Offer MCP tasks to clients that declare the Tasks extension.
    pub mcp_tasks: bool,
    /// Accept a per-request key in [`CLIENT_KEY_HEADER`] (HTTP transport only).
    pub client_keys: bool,
    /// `upload_roots` came from the operator (`--allow-dir`), not from the working directory.
    pub upload_roots_explicit: bool,
    /// The tool families listed and callable.
    pub toolsets: Vec<Toolset>,
    /// Task options applied when a call does not set them.
    pub task_defaults: TaskDefaults,
    /// Attach the built-in `ask_user` agent tool to every task and session.
    pub ask_user: bool,
    /// How long an agent tool call waits for an answer before it is answered 400
    /// (the agent never stalls forever).
    pub tool_answer_timeout: Duration,
    /// Where a task's files go and the limits on them.
    pub files: FileSettings,
    /// Concurrency and spend limits per account.
    pub limits: LimitSettings,
}

/// What the operator configured for the agent: tools the server answers, secrets, and the
/// redactor that hides every secret value (and `env:` header value) from what the server writes.
#[derive(Debug, Clone)]
pub struct AgentSetup {
    pub operator_tools: Arc<OperatorTools>,
    pub secrets: Arc<Secrets>,
    pub redactor: Arc<Redactor>,
}

/// A family of tools, chosen with `--toolsets`. `core` is always on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Toolset {
    /// run_browser_task, get_task, cancel_task, open_session, session_action, list_sessions,
    /// answer_tool_call, usage.
    Core,
    /// upload_file, delete_file, download_files.
    Files,
    /// create_profile, list_profiles, delete_profile.
    Profiles,
    /// upload_extension, list_extensions, delete_extension.
    Extensions,
}

impl Toolset {
    pub const ALL: [Toolset; 4] = [Self::Core, Self::Files, Self::Profiles, Self::Extensions];
    /// What `--toolsets` is when not given.
    pub const DEFAULT_NAMES: &'static str = "core,files,profiles";

    pub fn name(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Files => "files",
            Self::Profiles => "profiles",
            Self::Extensions => "extensions",
        }
    }

    /// The toolsets a `--toolsets` list names (`all` = every one), always with `core`,
    /// sorted and without repeats. Unknown names are an error that lists the known ones.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<Toolset>, String> {
        let mut out = vec![Self::Core];
        for raw in names {
            let name = raw.as_ref().trim().to_ascii_lowercase();
            match name.as_str() {
                "" => {}
                "all" => out.extend(Self::ALL),
                _ => out.push(
                    Self::ALL
                        .into_iter()
                        .find(|t| t.name() == name)
                        .ok_or_else(|| Self::unknown(raw.as_ref()))?,
                ),
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn unknown(name: &str) -> String {
        let known: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
        format!(
            "unknown toolset {name:?}; choose from {}, or all",
            known.join(", ")
        )
    }

    fn router(self) -> ToolRouter<SmoothServer> {
        match self {
            Self::Core => {
                SmoothServer::task_router()
                    + SmoothServer::session_router()
                    + SmoothServer::answer_router()
                    + SmoothServer::usage_router()
            }
            Self::Files => SmoothServer::file_router() + SmoothServer::task_files_router(),
            Self::Profiles => SmoothServer::profile_router(),
            Self::Extensions => SmoothServer::extension_router(),
        }
    }
}

/// State shared by every connection of this process.
pub struct AppState {
    pub client: SmoothClient,
    pub watcher: Watcher,
    pub sessions: Arc<Sessions>,
    /// The tasks this process created, and whether their ids reached a client.
    pub ledger: Arc<Ledger>,
    /// What each account runs and spends, against `--max-*` and `--credit-budget`.
    pub limits: Limits,
    pub settings: Settings,
    pub mcp_tasks: TaskManager,
    pub operator_tools: Arc<OperatorTools>,
    pub secrets: Arc<Secrets>,
    /// Hides secret values in what goes to the client.
    pub redactor: Arc<Redactor>,
    /// What `GET /metrics` shows; the client reports its exchanges here too.
    pub metrics: Arc<Metrics>,
    /// Files saved by this process, by task.
    saved_files: task_files::SavedFiles,
    /// The routed tools, built once: every connection serves the same list.
    tools: OnceLock<Arc<ToolRouter<SmoothServer>>>,
}

#[derive(Clone)]
pub struct SmoothServer {
    state: Arc<AppState>,
    tool_router: Arc<ToolRouter<SmoothServer>>,
}

const INSTRUCTIONS: &str = "\
Smooth runs a real cloud browser driven by an AI agent.
- One self-contained web job (find, compare, fill a form, extract data): run_browser_task. \
Give a precise goal, a start url when known, and a response_model (JSON Schema) when you need structured data.
- Several steps on the same pages, or a human must log in / solve a CAPTCHA: open_session, then \
session_action (goto, extract, evaluate_js, run_task), and always session_action close at the end: \
an open session costs money.
- Calls return within their wait budget. If a task is still running you get its task_id and live_url: \
call get_task with that id to keep waiting (repeat as needed), or cancel_task to stop it. \
Show the user the live_url so they can watch or take over.";

/// Added when the profiles toolset is on.
const PROFILE_INSTRUCTIONS: &str = "
- Work behind a login: create_profile, open_session with its profile_id, give the user the \
live_url to log in, session_action close, wait about 5 s, then pass profile_id to run_browser_task.";

impl SmoothServer {
    pub fn new(state: Arc<AppState>) -> Self {
        let tool_router = state
            .tools
            .get_or_init(|| Arc::new(Self::router(&state)))
            .clone();
        Self { state, tool_router }
    }

    /// The tools of the chosen families, with portable schemas. Only the chosen families are
    /// routed: a hidden tool is neither listed nor callable.
    fn router(state: &AppState) -> ToolRouter<SmoothServer> {
        let mut chosen = Toolset::Core.router();
        for set in &state.settings.toolsets {
            if *set != Toolset::Core {
                chosen += set.router();
            }
        }
        // Listed only when there is something to list (every listed tool costs context).
        let mut listing = Self::listing_router();
        if state.operator_tools.is_empty() {
            listing.remove_route("list_agent_tools");
        }
        if state.secrets.is_empty() {
            listing.remove_route("list_secrets");
        }
        chosen += listing;
        let mut router = ToolRouter::new();
        for mut route in chosen {
            schema::make_portable(Arc::make_mut(&mut route.attr.input_schema));
            if let Some(out) = route.attr.output_schema.as_mut() {
                schema::make_portable(Arc::make_mut(out));
            }
            router.add_route(route);
        }
        router
    }

    /// The Smooth client for this request: the caller's own key when the transport allows
    /// it and one was sent, else the key their sign-in bills to, else the server's.
    fn client(&self, ctx: &RequestContext<RoleServer>) -> SmoothClient {
        let Some(parts) = ctx.extensions.get::<axum::http::request::Parts>() else {
            return self.state.client.clone();
        };
        if self.state.settings.client_keys
            && let Some(key) = parts
                .headers
                .get(CLIENT_KEY_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(ApiKey::new)
        {
            return self.state.client.with_key(Some(key));
        }
        if let Some(BilledKey(key)) = parts.extensions.get::<BilledKey>() {
            return self.state.client.with_key(Some(key.clone()));
        }
        self.state.client.clone()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SmoothServer {
    fn get_info(&self) -> ServerConfig {
        // Resources: the files of tasks (`smooth://tasks/{task_id}/files/{name}`).
        let capabilities = if self.state.settings.mcp_tasks {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_tasks()
                .build()
        } else {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build()
        };
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
                    .with_title("Smooth browser agent"),
            )
            .with_instructions({
                let profiles = if self.state.settings.toolsets.contains(&Toolset::Profiles) {
                    PROFILE_INSTRUCTIONS
                } else {
                    ""
                };
                format!(
                    "{INSTRUCTIONS}{profiles}{}",
                    listing::instructions(&self.state)
                )
            })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // Only routed names become labels or log fields: a made-up name is `unknown`.
        let tool = if self.tool_router.has_route(&request.name) {
            request.name.to_string()
        } else {
            "unknown".to_owned()
        };
        // Every log line of the call carries these; `task_id` is filled in by the watcher
        // once the call names or creates a task or session.
        // The `otel.*` and dotted names follow OpenTelemetry's MCP conventions, for the
        // trace exporter (the `otel` feature).
        let span = tracing::info_span!(
            "tool_call",
            request_id = %uuid::Uuid::new_v4(),
            tool = %tool,
            task_id = tracing::field::Empty,
            otel.name = %format_args!("tools/call {tool}"),
            otel.kind = "server",
            "mcp.method.name" = "tools/call",
            "gen_ai.tool.name" = %tool,
        );
        let started = std::time::Instant::now();
        let response = self
            .call_tool_inner(request, context)
            .instrument(span)
            .await;
        let outcome = match &response {
            Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => Outcome::tool_error,
            Ok(CallToolResponse::Complete(_)) => Outcome::ok,
            Ok(_) => Outcome::deferred,
            Err(_) => Outcome::protocol_error,
        };
        self.state.metrics.call(&tool, outcome, started.elapsed());
        response
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            resources::template(),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let client = self.client(&context);
        resources::read(&client, &request.uri, &self.state.settings.files.limits)
            .await
            .map(ReadResourceResponse::Complete)
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.state
            .mcp_tasks
            .update_task(&request.task_id, request.input_responses)
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let task = GetTaskResult::new(self.state.mcp_tasks.get_task(&request.task_id)?);
        // An MCP task's status message and result name the Smooth task it runs.
        self.note_sent(&context.ct, &task);
        Ok(task)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.state.mcp_tasks.cancel_task(&request.task_id)
    }
}

impl SmoothServer {
    /// What leaves the server in answer to a request: the task ids it names reached a client
    /// (see [`Ledger`]). A cancelled request's answer is dropped by rmcp: it delivers nothing.
    fn note_sent(&self, ct: &tokio_util::sync::CancellationToken, answer: &impl serde::Serialize) {
        if ct.is_cancelled() || !self.state.ledger.has_undelivered() {
            return;
        }
        if let Ok(text) = serde_json::to_string(answer) {
            self.state.ledger.sent(&text);
        }
    }
}

impl SmoothServer {
    /// [`ServerHandler::call_tool`] inside the call's span.
    async fn call_tool_inner(
        &self,
        mut request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let wants_task = self.state.settings.mcp_tasks
            && context
                .client_capabilities()
                .is_some_and(|c| c.supports_tasks());
        if wants_task
            && self.tool_router.has_route(&request.name)
            && let Some(task) = self.spawn_mcp_task(&request, &context)
        {
            return Ok(CallToolResponse::Task(CreateTaskResult::new(task)));
        }
        // A 2026-07-28 client retrying after an InputRequiredResult: answer, then resume the
        // wait (a retried run_browser_task must not start a second task).
        if let Some(resumed) = self.resume_input_required(&request, &context).await {
            request = resumed;
        }
        // Progress notifications tell the ledger which task ids they carried out.
        context.extensions.insert(self.state.ledger.clone());
        let ct = context.ct.clone();
        let slot = channel::InputRequiredSlot::default();
        let resumable = channel::resumable(&request);
        context.extensions.insert(channel::Asking {
            redactor: self.state.redactor.clone(),
            input_required: resumable.then(|| slot.clone()),
        });
        let tcc = ToolCallContext::new(self, request, context);
        let mut response = match self.tool_router.call(tcc).await {
            Ok(response) => response,
            Err(e) => {
                self.note_sent(&ct, &e);
                return Err(e);
            }
        };
        if let Some(input_required) = slot.take() {
            response = CallToolResponse::InputRequired(input_required);
        }
        // The choke point for results: every result and tool error (an agent's output may
        // echo a secret it typed) passes the redactor.
        if let CallToolResponse::Complete(result) = &mut response {
            self.state.redactor.redact_result(result);
        }
        match &response {
            CallToolResponse::Complete(result) => self.note_sent(&ct, result),
            CallToolResponse::InputRequired(asked) => self.note_sent(&ct, asked),
            // An MCP task names no Smooth task yet (tasks/get reports it later).
            _ => {}
        }
        Ok(response)
    }
}

impl AppState {
    pub fn new(
        client: SmoothClient,
        settings: Settings,
        poll_interval: Duration,
        idle_session_timeout: Option<Duration>,
        agent: AgentSetup,
    ) -> Arc<Self> {
        let sessions = Sessions::new(idle_session_timeout);
        sessions.spawn_reaper();
        let metrics = Arc::new(Metrics::default());
        Arc::new(Self {
            client: client.with_observer(metrics.clone()),
            metrics,
            watcher: Watcher::new(poll_interval, settings.tool_answer_timeout),
            sessions,
            ledger: Arc::default(),
            limits: Limits::new(settings.limits.clone()),
            settings,
            mcp_tasks: TaskManager::new(),
            operator_tools: agent.operator_tools,
            secrets: agent.secrets,
            redactor: agent.redactor,
            saved_files: Default::default(),
            tools: OnceLock::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolset_lists() {
        use Toolset::*;
        assert_eq!(
            Toolset::parse_list(&Toolset::DEFAULT_NAMES.split(',').collect::<Vec<_>>()).unwrap(),
            [Core, Files, Profiles]
        );
        assert_eq!(Toolset::parse_list(&["all"]).unwrap(), Toolset::ALL);
        assert_eq!(
            Toolset::parse_list(&[" Extensions ", "files", "files"]).unwrap(),
            [Core, Files, Extensions]
        );
        assert_eq!(Toolset::parse_list::<&str>(&[]).unwrap(), [Core]);
        let e = Toolset::parse_list(&["core", "browser"]).unwrap_err();
        assert!(e.contains("\"browser\"") && e.contains("extensions"), "{e}");
    }
}
