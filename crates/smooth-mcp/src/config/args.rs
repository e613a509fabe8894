//! The flags, one struct per `--help` section. Every flag is also an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, ValueEnum};
use secrecy::SecretString;

use crate::limits::Budget;
use crate::mcp::{Agent, Device, Toolset};
use crate::secrets::{SecretArgParser, SecretSpec};
use smooth_api::DEFAULT_BASE_URL;

/// Everything the server reads at start-up.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub waiting: WaitArgs,
    #[command(flatten)]
    pub browser: BrowserArgs,
    #[command(flatten)]
    pub uploads: UploadArgs,
    #[command(flatten)]
    pub downloads: DownloadArgs,
    #[command(flatten)]
    pub sessions: SessionArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub tools: ToolArgs,
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(flatten)]
    pub transport: TransportArgs,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Smooth connection")]
pub struct ConnectionArgs {
    /// Smooth API key (falls back to CIRCLEMIND_API_KEY, the official SDK's variable).
    #[arg(long, env = "SMOOTH_API_KEY", hide_env_values = true)]
    pub api_key: Option<SecretString>,

    /// Smooth API base URL; `…/api/` and `…/api/v1` are both accepted.
    #[arg(long, env = "SMOOTH_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: String,

    /// Run against an embedded mock of the Smooth API: no account needed, results are simulated.
    #[cfg(feature = "mock")]
    #[arg(long, env = "SMOOTH_MCP_MOCK")]
    pub mock: bool,

    /// Seconds between polls of a live task (when Smooth does not long-poll).
    #[arg(long, env = "SMOOTH_MCP_POLL_INTERVAL", default_value_t = 1.0, value_parser = positive_secs)]
    pub poll_interval: f64,

    /// Per-request HTTP timeout towards Smooth, in seconds (polls may be held open by Smooth).
    #[arg(long, env = "SMOOTH_MCP_HTTP_TIMEOUT", default_value_t = 60.0, value_parser = positive_secs)]
    pub http_timeout: f64,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Waiting and results")]
pub struct WaitArgs {
    /// Seconds a tool waits for a task before returning its id and status (default wait budget).
    #[arg(long, env = "SMOOTH_MCP_WAIT_SECONDS", default_value_t = 45)]
    pub wait_seconds: u64,

    /// The largest `wait_seconds` a call may ask for. Keep it under your client's tool timeout
    /// (Claude Desktop gives up after about 60 s).
    #[arg(long, env = "SMOOTH_MCP_MAX_WAIT_SECONDS", default_value_t = 55)]
    pub max_wait_seconds: u64,

    /// Seconds between progress heartbeats while a task runs (at most 10).
    #[arg(long, env = "SMOOTH_MCP_HEARTBEAT_SECONDS", default_value_t = 5.0, value_parser = heartbeat_secs)]
    pub heartbeat_seconds: f64,

    /// Longest a finished task's result waits for its recording (and downloads) link, in
    /// seconds, within the call's wait budget; a link still missing then is null and
    /// get_task returns it later.
    #[arg(long, env = "SMOOTH_MCP_ARTIFACT_WAIT_SECONDS", default_value_t = 5.0, value_parser = drain_secs)]
    pub artifact_wait_seconds: f64,

    /// Run run_browser_task and session run_task as MCP tasks for clients that declare the
    /// Tasks extension (`auto`), or never (`off`: for clients that declare it but cannot
    /// handle a task result, such as the MCP Inspector CLI 2.12).
    #[arg(long, env = "SMOOTH_MCP_TASKS", value_enum, default_value_t = McpTasks::Auto)]
    pub mcp_tasks: McpTasks,

    /// Cap, in characters, on the task output returned in one result; the rest is cut with a note.
    #[arg(long, env = "SMOOTH_MCP_OUTPUT_CAP", default_value_t = 20_000)]
    pub output_cap: usize,

    /// The largest `max_steps` any task may use (a cost bound the model cannot exceed).
    #[arg(long, env = "SMOOTH_MCP_MAX_STEPS_CAP", default_value_t = 128, value_parser = clap::value_parser!(u32).range(2..=128))]
    pub max_steps_cap: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum McpTasks {
    Auto,
    Off,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Browser defaults (a call's own value wins)")]
pub struct BrowserArgs {
    /// Device for tasks and sessions that do not choose one (Smooth's default: desktop).
    #[arg(long, env = "SMOOTH_MCP_DEFAULT_DEVICE", value_enum)]
    pub default_device: Option<Device>,

    /// Agent for tasks that do not choose one (Smooth's default: smooth).
    #[arg(long, env = "SMOOTH_MCP_DEFAULT_AGENT", value_enum)]
    pub default_agent: Option<Agent>,

    /// Proxy for every browser unless a call gives its own, e.g. `http://host:8080` or
    /// `socks5://host:1080`.
    #[arg(long, env = "SMOOTH_MCP_PROXY_SERVER")]
    pub proxy_server: Option<String>,

    /// User name for --proxy-server.
    #[arg(long, env = "SMOOTH_MCP_PROXY_USERNAME", requires = "proxy_server")]
    pub proxy_username: Option<String>,

    /// Password for --proxy-server; prefer the environment variable (flags show in `ps`).
    /// Sent only to Smooth, never logged or shown to the model.
    #[arg(
        long,
        env = "SMOOTH_MCP_PROXY_PASSWORD",
        hide_env_values = true,
        requires = "proxy_server"
    )]
    pub proxy_password: Option<SecretString>,

    /// Extension ids (from upload_extension) every browser loads unless a call lists its own.
    #[arg(long, env = "SMOOTH_MCP_DEFAULT_EXTENSIONS", value_delimiter = ',')]
    pub default_extensions: Vec<String>,

    /// Agent tools every task gets, as a JSON object, e.g. `{"screenshot": {"full_page": true}}`.
    #[arg(long, env = "SMOOTH_MCP_DEFAULT_ADDITIONAL_TOOLS", value_parser = json_object)]
    pub default_additional_tools: Option<serde_json::Map<String, serde_json::Value>>,

    /// Ad blocking for browsers whose call does not say (Smooth's default: true).
    #[arg(long, env = "SMOOTH_MCP_USE_ADBLOCK", value_parser = BoolishValueParser::new())]
    pub use_adblock: Option<bool>,

    /// Automatic CAPTCHA solving for browsers whose call does not say (Smooth's default: true).
    #[arg(long, env = "SMOOTH_MCP_USE_CAPTCHA_SOLVER", value_parser = BoolishValueParser::new())]
    pub use_captcha_solver: Option<bool>,

    /// Stealth mode for browsers whose call does not say (Smooth's default: true).
    #[arg(long, env = "SMOOTH_MCP_USE_STEALTH", value_parser = BoolishValueParser::new())]
    pub use_stealth: Option<bool>,

    /// Show the mouse pointer in live views and recordings (Smooth's default: false).
    #[arg(long, env = "SMOOTH_MCP_SHOW_CURSOR", value_parser = BoolishValueParser::new())]
    pub show_cursor: Option<bool>,

    /// Experimental feature flags (a JSON object) for browsers whose call gives none.
    #[arg(long, env = "SMOOTH_MCP_EXPERIMENTAL_FEATURES", value_parser = json_object)]
    pub experimental_features: Option<serde_json::Map<String, serde_json::Value>>,

    /// A client certificate (.p12 file) every browser presents to sites that ask for one;
    /// repeat or comma-separate for several. Read once at start-up.
    #[arg(
        long = "client-certificate",
        env = "SMOOTH_MCP_CLIENT_CERTIFICATES",
        value_delimiter = ','
    )]
    pub client_certificates: Vec<PathBuf>,

    /// Password of the --client-certificate files; prefer the environment variable. Sent only
    /// to Smooth, never logged or shown to the model.
    #[arg(
        long,
        env = "SMOOTH_MCP_CLIENT_CERTIFICATE_PASSWORD",
        hide_env_values = true
    )]
    pub client_certificate_password: Option<SecretString>,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Uploads")]
pub struct UploadArgs {
    /// Directories `upload_file` and `upload_extension` may read from (repeat or
    /// comma-separate). Default: the roots the client lists, else the working directory.
    #[arg(
        long = "allow-dir",
        env = "SMOOTH_MCP_ALLOWED_DIRS",
        value_delimiter = ','
    )]
    pub allow_dirs: Vec<PathBuf>,

    /// Largest file `upload_file` or `upload_extension` will send, in MiB.
    #[arg(long, env = "SMOOTH_MCP_MAX_UPLOAD_MB", default_value_t = 50)]
    pub max_upload_mb: u64,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Files a task produced")]
pub struct DownloadArgs {
    /// Where stdio saves a task's files, in `<task_id>/` (never overwriting). Default:
    /// `smooth-downloads/` in the first allowed directory (as uploads choose it), or in
    /// `~/Downloads` when that one cannot be written. Over HTTP nothing is saved: files are
    /// MCP resources.
    #[arg(long, env = "SMOOTH_MCP_DOWNLOADS_DIR")]
    pub downloads_dir: Option<PathBuf>,

    /// Largest downloads archive fetched, and most it may unpack to, in MiB.
    #[arg(long, env = "SMOOTH_MCP_MAX_DOWNLOAD_MB", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_240))]
    pub max_download_mb: u64,

    /// Most KiB of one image the model is shown (its base64 text); larger pictures are scaled
    /// down. The full-size file is kept either way.
    #[arg(long, env = "SMOOTH_MCP_MAX_IMAGE_KB", default_value_t = 200, value_parser = clap::value_parser!(u64).range(8..=10_240))]
    pub max_image_kb: u64,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sessions")]
pub struct SessionArgs {
    /// Minutes after which an unused session opened by this server is closed (0 = never).
    #[arg(long, env = "SMOOTH_MCP_IDLE_SESSION_MINUTES", default_value_t = 15.0)]
    pub idle_session_minutes: f64,

    /// Leave sessions open when the server exits (they keep costing money until closed).
    #[arg(long, env = "SMOOTH_MCP_KEEP_SESSIONS")]
    pub keep_sessions: bool,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Most tasks running at once per account (per client key with --client-keys); more are
    /// refused with what runs and how to stop it.
    #[arg(long, env = "SMOOTH_MCP_MAX_CONCURRENT_TASKS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_concurrent_tasks: Option<u64>,

    /// Most sessions open at once per account (per client key with --client-keys).
    #[arg(long, env = "SMOOTH_MCP_MAX_OPEN_SESSIONS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_open_sessions: Option<u64>,

    /// Credits per account that finished tasks and sessions may use: N for this process's
    /// life, N/day or N/hour (UTC windows). Spent: new tasks and sessions are refused.
    #[arg(long, env = "SMOOTH_MCP_CREDIT_BUDGET", value_name = "N[/day|/hour]")]
    pub credit_budget: Option<Budget>,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Tools and logging")]
pub struct ToolArgs {
    /// Tool families to list (comma-separated): core (always on), files, profiles,
    /// extensions, or all. Unlisted tools are neither shown to the model nor callable.
    #[arg(
        long,
        env = "SMOOTH_MCP_TOOLSETS",
        value_delimiter = ',',
        default_value = Toolset::DEFAULT_NAMES,
        value_parser = toolset_name
    )]
    pub toolsets: Vec<String>,

    /// Log filter for stderr (e.g. `info`, `smooth_mcp=debug`).
    #[arg(long, env = "SMOOTH_MCP_LOG", default_value = "info")]
    pub log_level: String,

    /// Log line format on stderr: `text`, or `json` (one object a line, for log shippers;
    /// a tool call's lines carry its `request_id` and `task_id`).
    #[arg(long, env = "SMOOTH_MCP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Send OpenTelemetry traces (a span per tool call, HTTP request and Smooth API request)
    /// to this OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`. Needs a build
    /// with the `otel` feature.
    #[arg(long, env = "SMOOTH_MCP_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<url::Url>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Agent tools and secrets")]
pub struct AgentArgs {
    /// The server's TOML file: `[tools.NAME]` (programs or HTTP endpoints the agent may call,
    /// answered by this server) and `[secrets.NAME]` (values the agent may type on named sites).
    #[arg(long = "config", env = "SMOOTH_MCP_CONFIG")]
    pub config: Option<PathBuf>,

    /// A secret the agent may type, never shown to the model: `NAME=env:VAR@URL[,URL…]` or
    /// `NAME=file:PATH@URL[,URL…]` (the sites it may be typed on). Repeatable.
    #[arg(
        long = "secret",
        env = "SMOOTH_MCP_SECRETS",
        value_delimiter = ' ',
        value_parser = SecretArgParser
    )]
    pub secrets: Vec<SecretSpec>,

    /// Seconds an agent tool call waits for an answer before the agent is told "no answer".
    #[arg(long, env = "SMOOTH_MCP_TOOL_ANSWER_TIMEOUT", default_value_t = 600.0, value_parser = positive_secs)]
    pub tool_answer_timeout: f64,

    /// Give every task the built-in `ask_user` tool (the agent asks the user a question).
    #[arg(long, env = "SMOOTH_MCP_ASK_USER", value_enum, default_value_t = OnOff::On)]
    pub ask_user: OnOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// How MCP clients connect; the HTTP options come with the HTTP transport only.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Transport")]
pub struct TransportArgs {
    /// How the MCP client connects.
    #[arg(long, env = "SMOOTH_MCP_TRANSPORT", value_enum, default_value_t = Transport::Stdio)]
    pub transport: Transport,

    #[command(flatten)]
    pub http: HttpArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    Stdio,
    Http,
}

/// Options of `--transport http`. Giving any of them with another transport is a start-up
/// error ([`crate::config::Cli::parse_checked_from`] checks the whole group), so a misplaced
/// flag never goes silently unused.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP transport (only with --transport http)")]
pub struct HttpArgs {
    /// Address to listen on. Anything but loopback needs `--auth-token` or `--oauth-issuer`.
    #[arg(long, env = "SMOOTH_MCP_LISTEN", default_value = "127.0.0.1:8931")]
    pub listen: SocketAddr,

    /// Bearer token every `/mcp` request must carry (`Authorization: Bearer …`). Repeat or
    /// comma-separate to accept several (e.g. while rotating). Required to listen on a
    /// non-loopback address.
    #[arg(
        long = "auth-token",
        env = "SMOOTH_MCP_AUTH_TOKEN",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub auth_tokens: Vec<SecretString>,

    /// Extra `Host` names (or `host:port`) accepted besides the loopback ones, e.g. the public
    /// name of the server; `*` accepts any (only behind a proxy that checks Host).
    #[arg(
        long = "allowed-host",
        env = "SMOOTH_MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Browser origins (e.g. `https://app.example.com`, `https://chat.example.com:8443`)
    /// allowed besides loopback ones; a request with any other `Origin` gets 403. Requests
    /// without an `Origin` (non-browser clients) are not affected.
    #[arg(
        long = "allowed-origin",
        env = "SMOOTH_MCP_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Largest request body, in MiB (larger ones get 413).
    #[arg(long, env = "SMOOTH_MCP_MAX_BODY_MB", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_body_mb: u64,

    /// Let each client send its own Smooth key in the `X-Smooth-Api-Key` header, used for
    /// that request only (never logged or stored); requests without it use the server's key.
    #[arg(long, env = "SMOOTH_MCP_CLIENT_KEYS")]
    pub client_keys: bool,

    /// Serve without MCP sessions, so any replica can answer any request (the choice behind
    /// a load balancer; no sticky sessions needed).
    #[arg(long, env = "SMOOTH_MCP_STATELESS")]
    pub stateless: bool,

    /// On SIGINT/SIGTERM, seconds in-flight calls may take to finish before they are cut off
    /// (default: --max-wait-seconds + 5, so every call can return normally).
    #[arg(long, env = "SMOOTH_MCP_DRAIN_SECONDS", value_parser = drain_secs)]
    pub drain_seconds: Option<f64>,

    /// The URL clients reach this server at, without `/mcp` (e.g. `https://mcp.example.com`):
    /// names the OAuth resource (`<URL>/mcp`) and its metadata; its host is accepted as `Host`.
    #[arg(long, env = "SMOOTH_MCP_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// OAuth sign-in: accept bearer JWTs issued by this authorization server (its `issuer`,
    /// e.g. `https://login.example.com/realms/team`), checked against its published keys.
    /// Needs --public-url. --auth-token tokens keep working alongside.
    #[arg(long, env = "SMOOTH_MCP_OAUTH_ISSUER", requires = "public_url")]
    pub oauth_issuer: Option<String>,

    /// The `aud` a token must carry (default: the --public-url, with or without `/mcp`).
    #[arg(long, env = "SMOOTH_MCP_OAUTH_AUDIENCE", requires = "oauth_issuer")]
    pub oauth_audience: Option<String>,

    /// A scope every token must grant (else 403 `insufficient_scope`); repeat or
    /// comma-separate for several.
    #[arg(
        long = "oauth-required-scope",
        env = "SMOOTH_MCP_OAUTH_REQUIRED_SCOPES",
        value_delimiter = ',',
        requires = "oauth_issuer"
    )]
    pub oauth_required_scopes: Vec<String>,

    /// Bill each signed-in user's calls to the Smooth key their token's CLAIM maps to in
    /// --key-map (e.g. `groups`); a user whose claim maps to no key gets 403.
    #[arg(long, env = "SMOOTH_MCP_KEY_BY_CLAIM", requires_all = ["oauth_issuer", "key_map"])]
    pub key_by_claim: Option<String>,

    /// For --key-by-claim: `VALUE=ENV_VAR` pairs, a claim value and the environment variable
    /// holding the Smooth key it bills to (e.g. `sales=SMOOTH_KEY_SALES`); repeat or
    /// comma-separate.
    #[arg(
        long = "key-map",
        env = "SMOOTH_MCP_KEY_MAP",
        value_delimiter = ',',
        requires = "key_by_claim"
    )]
    pub key_map: Vec<String>,
    /// Serve `GET /metrics` without the bearer token (e.g. to a scraper on a private
    /// network); by default it takes the same token as `/mcp`.
    #[arg(long, env = "SMOOTH_MCP_METRICS_PUBLIC")]
    pub metrics_public: bool,
}

pub(super) fn toolset_name(s: &str) -> Result<String, String> {
    Toolset::parse_list(&[s])?;
    Ok(s.trim().to_ascii_lowercase())
}

fn json_object(s: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str(s) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("must be a JSON object, e.g. {\"screenshot\": {\"full_page\": true}}".into()),
        Err(e) => Err(format!("is not valid JSON: {e}")),
    }
}

fn positive_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(v)
    } else {
        Err("must be more than 0 and at most 3600 seconds".into())
    }
}

fn drain_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && (0.0..=3600.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0 and 3600 seconds".into())
    }
}

fn heartbeat_secs(s: &str) -> Result<f64, String> {
    let v = positive_secs(s)?;
    if v <= 10.0 {
        Ok(v)
    } else {
        Err("must be at most 10 seconds".into())
    }
}
