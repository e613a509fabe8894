//! The MCP server: tool argument and result types, one file per tool family, output shaping
//! and error rendering. Thin: every Smooth call goes through the watcher or the client.

mod args;
mod error;
mod files;
mod output;
mod progress;
mod results;
mod sessions;
mod tasks;
mod wait;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CreateTaskResult, GetTaskParams,
    GetTaskResult, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::task_manager::TaskManager;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use crate::sessions::Sessions;
use crate::smooth::{ApiKey, SmoothClient};
use crate::watch::Watcher;

pub use error::ToolError;

/// The header a client of the HTTP transport may use to send its own Smooth key.
pub const CLIENT_KEY_HEADER: &str = "x-smooth-api-key";

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
    /// Accept a per-request key in [`CLIENT_KEY_HEADER`] (HTTP transport only).
    pub client_keys: bool,
}

/// State shared by every connection of this process.
pub struct AppState {
    pub client: SmoothClient,
    pub watcher: Watcher,
    pub sessions: Arc<Sessions>,
    pub settings: Settings,
    pub mcp_tasks: TaskManager,
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

impl SmoothServer {
    pub fn new(state: Arc<AppState>) -> Self {
        let router = Self::task_router() + Self::session_router() + Self::file_router();
        Self {
            state,
            tool_router: Arc::new(router),
        }
    }

    /// The Smooth client for this request: the caller's own key when the transport allows
    /// it and one was sent, else the server's.
    fn client(&self, ctx: &RequestContext<RoleServer>) -> SmoothClient {
        if self.state.settings.client_keys
            && let Some(parts) = ctx.extensions.get::<axum::http::request::Parts>()
            && let Some(key) = parts
                .headers
                .get(CLIENT_KEY_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(ApiKey::new)
        {
            return self.state.client.with_key(Some(key));
        }
        self.state.client.clone()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SmoothServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tasks()
                .build(),
        )
        .with_server_info(
            Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
                .with_title("Smooth browser agent"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let wants_task = context
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks());
        if wants_task && let Some(task) = self.spawn_mcp_task(&request, &context) {
            return Ok(CallToolResponse::Task(CreateTaskResult::new(task)));
        }
        let tcc = ToolCallContext::new(self, request, context);
        self.tool_router.call(tcc).await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        Ok(GetTaskResult::new(
            self.state.mcp_tasks.get_task(&request.task_id)?,
        ))
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.state.mcp_tasks.cancel_task(&request.task_id)
    }
}

impl AppState {
    pub fn new(
        client: SmoothClient,
        settings: Settings,
        poll_interval: Duration,
        idle_session_timeout: Option<Duration>,
    ) -> Arc<Self> {
        let sessions = Sessions::new(idle_session_timeout);
        sessions.spawn_reaper();
        Arc::new(Self {
            client,
            watcher: Watcher::new(poll_interval),
            sessions,
            settings,
            mcp_tasks: TaskManager::new(),
        })
    }
}
