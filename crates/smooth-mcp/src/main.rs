use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use smooth_api::{ApiKey, Certificate, ClientConfig, RetryPolicy, SmoothClient};
use smooth_mcp::config::{Cli, Command, McpTasks, ServerArgs, Transport};
use smooth_mcp::mcp::{AppState, Proxy, Settings, TaskDefaults, Toolset};
use smooth_mcp::signal::shutdown_signal;
use smooth_mcp::transport;
use smooth_mock::{MockConfig, MockSmooth};

/// Longest time spent closing sessions on the way out.
const SHUTDOWN_CLOSE_BOUND: Duration = Duration::from_secs(10);

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.server.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(run(cli));
    // Stdin reads run on a blocking thread that only EOF ends; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

fn init_logging(filter: &str) {
    let mut filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // rmcp's debug logs print whole requests: tool arguments (a proxy password) and HTTP
    // headers (a client's Smooth key). Secrets never reach a log, whatever the level.
    if filter
        .max_level_hint()
        .is_none_or(|l| l > tracing::level_filters::LevelFilter::INFO)
        && let Ok(cap) = "rmcp=info".parse()
    {
        filter = filter.add_directive(cap);
    }
    // stdout carries JSON-RPC only.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Mock {
        listen,
        run_seconds,
        long_poll_seconds,
    }) = cli.command
    {
        let cfg = MockConfig {
            run_time: Duration::from_secs_f64(run_seconds.max(0.0)),
            step_time: Duration::from_secs_f64(run_seconds.max(0.0) / 4.0),
            long_poll: Duration::from_secs_f64(long_poll_seconds.max(0.0)),
            ..MockConfig::default()
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the mock to {listen}"))?;
        eprintln!("smooth-mcp mock: simulated Smooth API at http://{listen}/api/v1");
        return Ok(smooth_mock::serve_until(listener, cfg, shutdown_signal()).await?);
    }
    let args = cli.server;
    args.validate().map_err(anyhow::Error::msg)?;

    // Kept alive for the whole run when --mock is on.
    let mut _mock = None;
    let (base_url, api_key) = if args.mock {
        let mock = MockSmooth::start(MockConfig {
            run_time: Duration::from_secs(6),
            step_time: Duration::from_millis(1500),
            ..MockConfig::default()
        })
        .await
        .context("starting the embedded mock")?;
        eprintln!(
            "smooth-mcp: MOCK MODE — every result is simulated by an embedded fake of the Smooth API; \
             no browser runs and nothing is billed."
        );
        let url = mock.base_url();
        _mock = Some(mock);
        (url, ApiKey::new("mock-key"))
    } else {
        let key = args.resolved_api_key();
        if key.is_none() && !args.client_keys {
            tracing::warn!(
                "no Smooth API key: set SMOOTH_API_KEY (tools will say how); use --mock to try without an account"
            );
        }
        (args.base_url.clone(), key)
    };

    let client = SmoothClient::new(ClientConfig {
        base_url,
        api_key,
        request_timeout: args.http_timeout(),
        retry: RetryPolicy::default(),
        user_agent: Some(concat!("smooth-mcp/", env!("CARGO_PKG_VERSION")).to_owned()),
    })
    .map_err(anyhow::Error::msg)?;
    let state = AppState::new(
        client,
        settings(&args)?,
        args.poll_interval(),
        args.idle_session_timeout(),
    );

    match args.transport {
        Transport::Stdio => transport::stdio::serve(state.clone(), shutdown_signal()).await?,
        Transport::Http => {
            let opts = transport::http::HttpOptions::from_args(&args)?;
            transport::http::serve(state.clone(), opts, shutdown_signal()).await?;
        }
    }
    finish(&state, args.keep_sessions).await;
    Ok(())
}

fn settings(args: &ServerArgs) -> anyhow::Result<Settings> {
    let roots = if args.allow_dirs.is_empty() {
        let cwd = std::env::current_dir().context("reading the working directory")?;
        // Started in / (as some desktop clients do): reading anything needs --allow-dir.
        if cwd.parent().is_none() {
            vec![]
        } else {
            vec![cwd]
        }
    } else {
        args.allow_dirs.iter().map(PathBuf::from).collect()
    };
    let proxy = args.proxy_server.as_ref().map(|server| Proxy {
        server: server.trim().to_owned(),
        username: args.proxy_username.clone(),
        password: args.proxy_password.clone(),
    });
    let non_empty = |ids: &[String]| (!ids.is_empty()).then(|| ids.to_vec());
    let task_defaults = TaskDefaults {
        device: args.default_device.clone(),
        agent: args.default_agent.clone(),
        proxy,
        use_adblock: args.use_adblock,
        use_captcha_solver: args.use_captcha_solver,
        use_stealth: args.use_stealth,
        show_cursor: args.show_cursor,
        extensions: non_empty(&args.default_extensions),
        additional_tools: args.default_additional_tools.clone(),
        experimental_features: args.experimental_features.clone(),
        certificates: certificates(args)?,
    };
    task_defaults.validate().map_err(anyhow::Error::msg)?;
    Ok(Settings {
        default_wait: Duration::from_secs(args.wait_seconds),
        max_wait: Duration::from_secs(args.max_wait_seconds),
        output_cap: args.output_cap,
        max_steps_cap: args.max_steps_cap,
        upload_roots: roots,
        max_upload_bytes: args.max_upload_mb.saturating_mul(1024 * 1024),
        heartbeat: args.heartbeat(),
        mcp_tasks: args.mcp_tasks == McpTasks::Auto,
        client_keys: args.client_keys && args.transport == Transport::Http,
        upload_roots_explicit: !args.allow_dirs.is_empty(),
        toolsets: Toolset::parse_list(&args.toolsets).map_err(anyhow::Error::msg)?,
        task_defaults,
    })
}

/// Reads the --client-certificate files once, so a missing file stops the start, not a task.
fn certificates(args: &ServerArgs) -> anyhow::Result<Option<Vec<Certificate>>> {
    use base64::Engine as _;
    if args.client_certificates.is_empty() {
        return Ok(None);
    }
    let certs = args
        .client_certificates
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading --client-certificate {}", path.display()))?;
            Ok(Certificate {
                file: base64::engine::general_purpose::STANDARD.encode(bytes),
                password: args.client_certificate_password.clone(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(certs))
}

async fn finish(state: &Arc<AppState>, keep_sessions: bool) {
    if keep_sessions {
        let open = state.sessions.list().len();
        if open > 0 {
            tracing::warn!(
                open,
                "leaving sessions open (--keep-sessions); they cost money until closed"
            );
        }
        return;
    }
    state.sessions.close_all(SHUTDOWN_CLOSE_BOUND).await;
}
