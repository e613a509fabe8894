//! Wiring only: the configuration comes from `smooth_mcp::config`, the tools from `mcp`, the
//! transports from `transport`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use smooth_api::SmoothClient;
use smooth_mcp::config::{Cli, Command, DoctorArgs, LogFormat, ServerConfig, TransportConfig};
use smooth_mcp::mcp::AppState;
use smooth_mcp::secrets::{RedactingWriter, Redactor};
use smooth_mcp::setup::{self, doctor};
use smooth_mcp::signal::shutdown_signal;
use smooth_mcp::transport;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Longest time spent closing sessions on the way out.
const SHUTDOWN_CLOSE_BOUND: Duration = Duration::from_secs(10);

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse_or_exit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(run(cli));
    // Stdin reads run on a blocking thread that only EOF ends; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

/// Logs go to stderr through the redactor: no secret value reaches a log line, whatever the
/// level, the format and whichever crate wrote it. With `otlp` (the `otel` feature), spans go
/// to that collector too; the returned guard flushes them when dropped.
fn init_logging(
    filter: &str,
    format: LogFormat,
    redactor: Arc<Redactor>,
    otlp: Option<&url::Url>,
) -> anyhow::Result<Option<Box<dyn Send>>> {
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
    // HTTP request spans are for the trace exporter; in log lines they would be noise.
    if let Ok(quiet) = format!("{}=off", smooth_mcp::transport::http::HTTP_SPAN_TARGET).parse() {
        filter = filter.add_directive(quiet);
    }
    // stdout carries JSON-RPC only. The level filter belongs to the log lines alone, so the
    // trace exporter sees its spans whatever --log-level says.
    let writer = RedactingWriter::stderr(redactor);
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(false)
            .with_filter(filter)
            .boxed(),
        // One object a line: the event's fields at the top level, the call's (request_id,
        // tool, task_id) under `span`.
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(logs);
    #[cfg(feature = "otel")]
    if let Some(endpoint) = otlp {
        let (traces, flush) = smooth_mcp::telemetry::layer(endpoint)
            .context("setting up the OpenTelemetry exporter (--otlp-endpoint)")?;
        registry.with(traces).init();
        return Ok(Some(Box::new(flush)));
    }
    #[cfg(not(feature = "otel"))]
    if otlp.is_some() {
        anyhow::bail!(
            "--otlp-endpoint needs a smooth-mcp built with the `otel` feature \
             (cargo install smooth-mcp --features otel)"
        );
    }
    registry.init();
    Ok(None)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let log_level = cli.server.tools.log_level.clone();
    let log_format = cli.server.tools.log_format;
    let otlp = cli.server.tools.otlp_endpoint.clone();
    match cli.command {
        None => {}
        // Setup and doctor talk to the user on stdout: they are not the stdio server.
        Some(Command::Setup(args)) => {
            print!("{}", setup::run(&args)?);
            return Ok(());
        }
        Some(Command::Doctor(args)) => return run_doctor(args).await,
        #[cfg(feature = "mock")]
        Some(Command::Mock(mock)) => {
            init_logging(&log_level, log_format, Arc::default(), None)?;
            let listener = tokio::net::TcpListener::bind(mock.listen)
                .await
                .with_context(|| format!("binding the mock to {}", mock.listen))?;
            eprintln!(
                "smooth-mcp mock: simulated Smooth API at http://{}/api/v1",
                mock.listen
            );
            return Ok(
                smooth_mock::serve_until(listener, mock.mock_config(), shutdown_signal()).await?,
            );
        }
    }
    // Configuration first: the redactor it builds guards the logs from the first line on.
    let config = cli.server.into_config()?;
    // Held to the end of the run: dropping it flushes the last spans.
    let _traces = init_logging(
        &log_level,
        log_format,
        config.agent.redactor.clone(),
        otlp.as_ref(),
    )?;
    // The mock is held for the whole run: dropping it stops it.
    #[cfg(feature = "mock")]
    let (config, _mock) = embedded_mock(config).await?;
    // With `--key-by-claim` every signed-in user's calls bill to a key from the map.
    let keys_by_claim = matches!(&config.transport, TransportConfig::Http(http)
        if http.oauth.as_ref().is_some_and(|o| o.key_by_claim.is_some()));
    if config.client.api_key.is_none() && !config.settings.client_keys && !keys_by_claim {
        tracing::warn!(
            "no Smooth API key: set SMOOTH_API_KEY (tools will say how){}",
            if cfg!(feature = "mock") {
                "; use --mock to try without an account"
            } else {
                ""
            }
        );
    }
    let ServerConfig {
        client,
        poll_interval,
        idle_session_timeout,
        settings,
        agent,
        transport,
        keep_sessions,
        ..
    } = config;
    let client = SmoothClient::new(client).map_err(anyhow::Error::msg)?;
    let state = AppState::new(client, settings, poll_interval, idle_session_timeout, agent);
    // From the signal on, a call cut off leaves its task to the shutdown sweep in `finish`.
    let shutdown = {
        let ledger = state.ledger.clone();
        async move {
            shutdown_signal().await;
            ledger.begin_shutdown();
        }
    };
    match transport {
        TransportConfig::Stdio => {
            transport::stdio::serve(state.clone(), shutdown).await?;
        }
        TransportConfig::Http(options) => {
            transport::http::serve(state.clone(), options, shutdown).await?;
        }
    }
    finish(&state, keep_sessions).await;
    Ok(())
}

/// `doctor`; with `--mock` against the embedded mock, held until the checks are done.
async fn run_doctor(args: DoctorArgs) -> anyhow::Result<()> {
    #[cfg_attr(not(feature = "mock"), allow(unused_mut))]
    let mut checkup = doctor::Checkup::from_args(&args);
    #[cfg(feature = "mock")]
    let _mock = if checkup.mock {
        let mock = smooth_mock::MockSmooth::start(ServerConfig::embedded_mock_config())
            .await
            .context("starting the embedded mock")?;
        checkup.base_url = mock.base_url();
        checkup.api_key = smooth_api::ApiKey::new("mock-key");
        Some(mock)
    } else {
        None
    };
    let report = doctor::run(&checkup).await;
    print!("{report}");
    match report.problems() {
        0 => Ok(()),
        n => anyhow::bail!("doctor found {n} problem(s)"),
    }
}

/// With `--mock`: starts the embedded mock and points the client at it.
#[cfg(feature = "mock")]
async fn embedded_mock(
    mut config: ServerConfig,
) -> anyhow::Result<(ServerConfig, Option<smooth_mock::MockSmooth>)> {
    if !config.mock {
        return Ok((config, None));
    }
    let mock = smooth_mock::MockSmooth::start(ServerConfig::embedded_mock_config())
        .await
        .context("starting the embedded mock")?;
    eprintln!(
        "smooth-mcp: MOCK MODE — every result is simulated by an embedded fake of the Smooth API; \
         no browser runs and nothing is billed."
    );
    config.client.base_url = mock.base_url();
    config.client.api_key = smooth_api::ApiKey::new("mock-key");
    Ok((config, Some(mock)))
}

/// Once no client can call any more (stdio ended, HTTP drained): tasks whose ids never
/// reached a client are cancelled (the others keep running), then sessions are closed. The
/// sweep waits for creations in flight first, so a session or task they open is not missed.
async fn finish(state: &Arc<AppState>, keep_sessions: bool) {
    state.ledger.settle(SHUTDOWN_CLOSE_BOUND).await;
    if keep_sessions {
        let open = state.sessions.open_count();
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
