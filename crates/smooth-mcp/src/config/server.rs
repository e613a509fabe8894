//! From flags to the settings each layer takes: the Smooth client, the tools, the session
//! registry and the transport. Everything that can be wrong with a configuration is found
//! here, before anything starts.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::ExposeSecret;
use smooth_api::{ApiKey, Certificate, ClientConfig, RetryPolicy};

use super::args::{
    AgentArgs, BrowserArgs, DownloadArgs, HttpArgs, LimitArgs, McpTasks, OnOff, ServerArgs,
    Transport,
};
use super::http::{self, AuthTokens, HttpConfigError, HttpOptions, KeyByClaim, OAuthOptions};
use crate::agent_tools::{OperatorTools, OperatorToolsError};
use crate::config_file::{self, ConfigFileError, ServerConfigFile};
use crate::limits::LimitSettings;
use crate::mcp::{AgentSetup, FileSettings, Proxy, Settings, TaskDefaults, Toolset};
use crate::secrets::{MIN_SECRET_LEN, RedactError, Redactor, Secrets, SecretsError};
use smooth_api::downloads::ArchiveLimits;

/// Why the server cannot start with this configuration; the message names what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Http(#[from] HttpConfigError),
    #[error("reading the working directory")]
    WorkingDir(#[source] std::io::Error),
    #[error(transparent)]
    ConfigFile(#[from] ConfigFileError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    OperatorTools(#[from] OperatorToolsError),
    #[error(transparent)]
    Redact(#[from] RedactError),
    #[error("reading --client-certificate {path}")]
    Certificate {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The server's whole configuration, as the layers take it.
#[derive(Debug)]
pub struct ServerConfig {
    /// Where Smooth is and the server's key (none: tools say how to set one).
    pub client: ClientConfig,
    /// Serve against an embedded mock instead: it replaces `client`'s URL and key.
    #[cfg(feature = "mock")]
    pub mock: bool,
    pub poll_interval: Duration,
    pub idle_session_timeout: Option<Duration>,
    pub settings: Settings,
    /// Operator tools, secrets and the redactor built from both (and the proxy password).
    pub agent: AgentSetup,
    pub transport: TransportConfig,
    /// Leave this server's sessions open on exit.
    pub keep_sessions: bool,
}

/// How MCP clients connect.
#[derive(Debug)]
pub enum TransportConfig {
    Stdio,
    Http(HttpOptions),
}

impl ServerArgs {
    /// Checks what clap cannot and builds every layer's settings. Reads the client
    /// certificates now, so a missing file stops the start, not a task.
    pub fn into_config(self) -> Result<ServerConfig, ConfigError> {
        let waiting = &self.waiting;
        if waiting.wait_seconds > waiting.max_wait_seconds {
            return Err(ConfigError::Invalid(format!(
                "--wait-seconds ({}) is larger than --max-wait-seconds ({})",
                waiting.wait_seconds, waiting.max_wait_seconds
            )));
        }
        if waiting.output_cap < 500 {
            return Err(invalid("--output-cap must be at least 500 characters"));
        }
        let idle = self.sessions.idle_session_minutes;
        if !idle.is_finite() || idle < 0.0 {
            return Err(invalid("--idle-session-minutes must be 0 or more"));
        }
        let max_wait = Duration::from_secs(waiting.max_wait_seconds);
        let transport = match self.transport.transport {
            Transport::Stdio => TransportConfig::Stdio,
            Transport::Http => TransportConfig::Http(http_options(&self.transport.http, max_wait)?),
        };
        let client_keys = matches!(&transport, TransportConfig::Http(o) if o.client_keys);
        let uploads = &self.uploads;
        let settings = Settings {
            default_wait: Duration::from_secs(waiting.wait_seconds),
            max_wait,
            output_cap: waiting.output_cap,
            max_steps_cap: waiting.max_steps_cap,
            upload_roots: upload_roots(&uploads.allow_dirs)?,
            max_upload_bytes: uploads.max_upload_mb.saturating_mul(1024 * 1024),
            heartbeat: Duration::from_secs_f64(waiting.heartbeat_seconds),
            artifact_wait: Duration::from_secs_f64(waiting.artifact_wait_seconds),
            mcp_tasks: waiting.mcp_tasks == McpTasks::Auto,
            client_keys,
            upload_roots_explicit: !uploads.allow_dirs.is_empty(),
            toolsets: Toolset::parse_list(&self.tools.toolsets).map_err(ConfigError::Invalid)?,
            task_defaults: task_defaults(&self.browser)?,
            ask_user: self.agent.ask_user == OnOff::On,
            tool_answer_timeout: Duration::from_secs_f64(self.agent.tool_answer_timeout),
            files: file_settings(&self.downloads, matches!(transport, TransportConfig::Stdio)),
            limits: limit_settings(&self.limits),
        };
        let agent = agent_setup(&self.agent, &settings.task_defaults)?;
        let connection = &self.connection;
        Ok(ServerConfig {
            client: ClientConfig {
                base_url: connection.base_url.clone(),
                api_key: resolved_api_key(connection.api_key.as_ref()),
                request_timeout: Duration::from_secs_f64(connection.http_timeout),
                retry: RetryPolicy::default(),
                user_agent: Some(concat!("smooth-mcp/", env!("CARGO_PKG_VERSION")).to_owned()),
            },
            #[cfg(feature = "mock")]
            mock: connection.mock,
            poll_interval: Duration::from_secs_f64(connection.poll_interval),
            idle_session_timeout: (idle > 0.0).then(|| Duration::from_secs_f64(idle * 60.0)),
            settings,
            agent,
            transport,
            keep_sessions: self.sessions.keep_sessions,
        })
    }
}

/// Reads the `--config` file and every secret and `env:` value now, so a missing variable
/// stops the start (the error names the table, key or variable, never a value).
fn agent_setup(args: &AgentArgs, defaults: &TaskDefaults) -> Result<AgentSetup, ConfigError> {
    let file = match &args.config {
        Some(path) => config_file::load(path)?,
        None => ServerConfigFile::default(),
    };
    let operator_tools = OperatorTools::from_env(file.tools)?;
    let secrets = Secrets::from_env(file.secrets.into_iter().chain(args.secrets.iter().cloned()))?;
    // The server's proxy password is hidden too (a short one would mangle ordinary text).
    let proxy_password = defaults
        .proxy
        .as_ref()
        .and_then(|p| p.password.as_ref())
        .filter(|p| p.expose_secret().chars().count() >= MIN_SECRET_LEN)
        .map(|p| ("proxy_password".to_owned(), p));
    let redactor = Redactor::new(
        secrets
            .redaction_pairs()
            .chain(operator_tools.redaction_pairs())
            .chain(proxy_password),
    )?;
    Ok(AgentSetup {
        operator_tools: std::sync::Arc::new(operator_tools),
        secrets: std::sync::Arc::new(secrets),
        redactor: std::sync::Arc::new(redactor),
    })
}

fn invalid(message: &str) -> ConfigError {
    ConfigError::Invalid(message.to_owned())
}

/// The key from the flag or `SMOOTH_API_KEY`, else `CIRCLEMIND_API_KEY`.
pub(super) fn resolved_api_key(flag: Option<&secrecy::SecretString>) -> Option<ApiKey> {
    flag.and_then(|k| ApiKey::new(k.expose_secret()))
        .or_else(|| {
            std::env::var("CIRCLEMIND_API_KEY")
                .ok()
                .and_then(ApiKey::new)
        })
}

/// The HTTP transport's options, refused if unsafe. `--drain-seconds` defaults to the longest
/// wait plus 5 s, so every call can return normally.
fn http_options(http: &HttpArgs, max_wait: Duration) -> Result<HttpOptions, HttpConfigError> {
    let mb = usize::try_from(http.max_body_mb).unwrap_or(usize::MAX);
    let public_url = http
        .public_url
        .as_deref()
        .map(http::public_url)
        .transpose()?;
    let mut allowed_hosts = clean(&http.allowed_hosts);
    // The name clients reach the server by is, by definition, a host it answers to.
    if let Some(host) = public_url.as_ref().and_then(|u| u.host_str()) {
        allowed_hosts.push(host.to_owned());
    }
    let oauth = match (&http.oauth_issuer, public_url) {
        (Some(issuer), Some(public)) => {
            Some(std::sync::Arc::new(oauth_options(http, issuer, public)?))
        }
        _ => None,
    };
    let options = HttpOptions {
        listen: http.listen,
        tokens: AuthTokens::new(&http.auth_tokens)?,
        allowed_hosts,
        allowed_origins: clean(&http.allowed_origins),
        max_body_bytes: mb.saturating_mul(1024 * 1024),
        stateless: http.stateless,
        client_keys: http.client_keys,
        metrics_public: http.metrics_public,
        drain: http.drain_seconds.map_or_else(
            || max_wait.saturating_add(Duration::from_secs(5)),
            Duration::from_secs_f64,
        ),
        oauth,
    };
    options.check_bind()?;
    Ok(options)
}

/// The resource is the MCP endpoint under the public URL; a token's `aud` may name either.
fn oauth_options(
    http: &HttpArgs,
    issuer: &str,
    public: url::Url,
) -> Result<OAuthOptions, HttpConfigError> {
    let mut resource = public.clone();
    resource.set_path(&format!(
        "{}{}",
        public.path().trim_end_matches('/'),
        crate::transport::http::MCP_PATH
    ));
    let audiences = match &http.oauth_audience {
        Some(aud) => vec![aud.trim().to_owned()],
        None => {
            let base = public.as_str().trim_end_matches('/');
            vec![resource.to_string(), base.to_owned(), format!("{base}/")]
        }
    };
    Ok(OAuthOptions {
        issuer: http::issuer(issuer)?,
        resource,
        audiences,
        required_scopes: clean(&http.oauth_required_scopes),
        key_by_claim: http
            .key_by_claim
            .as_deref()
            .map(|claim| KeyByClaim::from_env(claim, &http.key_map))
            .transpose()?,
    })
}

fn clean(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn limit_settings(args: &LimitArgs) -> LimitSettings {
    let count = |n: Option<u64>| n.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    LimitSettings {
        max_concurrent_tasks: count(args.max_concurrent_tasks),
        max_open_sessions: count(args.max_open_sessions),
        credit_budget: args.credit_budget,
    }
}

/// Over stdio the files land on the user's disk; over HTTP they stay with Smooth and are
/// served as resources.
fn file_settings(args: &DownloadArgs, stdio: bool) -> FileSettings {
    let max = args.max_download_mb.saturating_mul(1024 * 1024);
    FileSettings {
        to_disk: stdio,
        dir: args.downloads_dir.clone(),
        limits: ArchiveLimits {
            max_archive_bytes: max,
            max_total_bytes: max,
            ..ArchiveLimits::default()
        },
        max_image_bytes: usize::try_from(args.max_image_kb.saturating_mul(1024))
            .unwrap_or(usize::MAX),
    }
}

/// `--allow-dir`, else the working directory — unless that is `/` (as some desktop clients
/// start servers), where reading anything needs `--allow-dir`.
fn upload_roots(allow_dirs: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigError> {
    if !allow_dirs.is_empty() {
        return Ok(allow_dirs.to_vec());
    }
    let cwd = std::env::current_dir().map_err(ConfigError::WorkingDir)?;
    Ok(if cwd.parent().is_none() {
        vec![]
    } else {
        vec![cwd]
    })
}

fn task_defaults(browser: &BrowserArgs) -> Result<TaskDefaults, ConfigError> {
    let proxy = browser.proxy_server.as_ref().map(|server| Proxy {
        server: server.trim().to_owned(),
        username: browser.proxy_username.clone(),
        password: browser.proxy_password.clone(),
    });
    let non_empty = |ids: &[String]| (!ids.is_empty()).then(|| ids.to_vec());
    let defaults = TaskDefaults {
        device: browser.default_device,
        agent: browser.default_agent,
        proxy,
        use_adblock: browser.use_adblock,
        use_captcha_solver: browser.use_captcha_solver,
        use_stealth: browser.use_stealth,
        show_cursor: browser.show_cursor,
        extensions: non_empty(&browser.default_extensions),
        additional_tools: browser.default_additional_tools.clone(),
        experimental_features: browser.experimental_features.clone(),
        certificates: certificates(browser)?,
    };
    defaults.validate().map_err(ConfigError::Invalid)?;
    Ok(defaults)
}

/// Reads the --client-certificate files. The password is exposed here, into the wire type
/// that carries it to Smooth (and redacts it from `Debug`).
fn certificates(browser: &BrowserArgs) -> Result<Option<Vec<Certificate>>, ConfigError> {
    use base64::Engine as _;
    if browser.client_certificates.is_empty() {
        return Ok(None);
    }
    let password = browser
        .client_certificate_password
        .as_ref()
        .map(|p| p.expose_secret().to_owned());
    browser
        .client_certificates
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|source| ConfigError::Certificate {
                path: path.display().to_string(),
                source,
            })?;
            Ok(Certificate {
                file: base64::engine::general_purpose::STANDARD.encode(bytes),
                password: password.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(feature = "mock")]
pub use mock::MockArgs;

#[cfg(feature = "mock")]
mod mock {
    use std::net::SocketAddr;
    use std::time::Duration;

    use smooth_mock::MockConfig;

    use super::ServerConfig;

    /// `smooth-mcp mock`: the fake Smooth API on its own.
    #[derive(Debug, Clone, clap::Args)]
    pub struct MockArgs {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        pub listen: SocketAddr,
        /// Seconds a one-shot task runs before it is done.
        #[arg(long, default_value_t = 2.0)]
        pub run_seconds: f64,
        /// Hold polls open until something happens, up to this many seconds (0 = off).
        #[arg(long, default_value_t = 0.0)]
        pub long_poll_seconds: f64,
    }

    impl MockArgs {
        pub fn mock_config(&self) -> MockConfig {
            let run = self.run_seconds.max(0.0);
            MockConfig {
                run_time: Duration::from_secs_f64(run),
                step_time: Duration::from_secs_f64(run / 4.0),
                long_poll: Duration::from_secs_f64(self.long_poll_seconds.max(0.0)),
                ..MockConfig::default()
            }
        }
    }

    impl ServerConfig {
        /// What `--mock` serves: tasks slow enough to watch progress (six seconds, a step
        /// every 1.5).
        pub fn embedded_mock_config() -> MockConfig {
            MockConfig {
                run_time: Duration::from_secs(6),
                step_time: Duration::from_millis(1500),
                ..MockConfig::default()
            }
        }
    }
}
