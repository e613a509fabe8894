//! Streamable HTTP: MCP at `/mcp` (rmcp's `StreamableHttpService` in axum) and `GET /healthz`.
//!
//! Security model:
//! * loopback bind by default; any other address needs a bearer token
//!   ([`HttpOptions::check_bind`], also checked at start-up by `crate::config`);
//! * `Host` checked against loopback names plus `--allowed-host` (DNS rebinding), and
//!   `Origin`, when a browser sends one, against loopback origins plus `--allowed-origin`:
//!   both enforced by rmcp with the lists built here, answering 403;
//! * bearer tokens compared in constant time on every `/mcp` request (401 otherwise);
//! * request bodies capped (413); a JSON body that is not a JSON-RPC message rmcp can take
//!   is answered 400 with a JSON-RPC error ([`super::jsonrpc_guard`]);
//! * a client's own Smooth key (`X-Smooth-Api-Key`, with `--client-keys`) is read by the tools
//!   from the request's `http::request::Parts`; nothing here logs or keeps a header value.
//!
//! * `GET /metrics` (Prometheus text) takes the same bearer token unless `--metrics-public`;
//!   requests turned away for auth, Host, Origin or size are counted there.
//!
//! All browser state lives in Smooth (task and session ids are the handles), so with
//! `--stateless` any replica can answer any request.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{AuthTokens, HttpConfigError, HttpOptions, SHORT_TOKEN};
use crate::mcp::{AppState, CLIENT_KEY_HEADER, SmoothServer};
use crate::metrics::Rejection;

/// Where MCP is served.
pub const MCP_PATH: &str = "/mcp";
/// Liveness and readiness.
pub const HEALTH_PATH: &str = "/healthz";
/// Prometheus metrics.
pub const METRICS_PATH: &str = "/metrics";

/// Host names that are always accepted (any port).
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// Browser origins that are always accepted.
const LOOPBACK_ORIGINS: [&str; 6] = [
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];
/// After the drain, how long open streams get to close before the server stops waiting.
const CLOSE_BOUND: Duration = Duration::from_secs(3);

/// Why the HTTP transport could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Config(#[from] HttpConfigError),
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
}

/// rmcp's configuration: Host and Origin allow-lists (loopback plus the operator's), body
/// cap, sessions or none.
fn rmcp_config(opts: &HttpOptions, ct: CancellationToken) -> StreamableHttpServerConfig {
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(ct)
        .with_legacy_session_mode(!opts.stateless)
        .with_max_request_body_bytes(opts.max_body_bytes)
        .with_allowed_origins(
            LOOPBACK_ORIGINS
                .iter()
                .map(|o| (*o).to_owned())
                .chain(opts.allowed_origins.iter().cloned()),
        )
        .enforce_origin_validation();
    if opts.any_host() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(
            LOOPBACK_HOSTS
                .iter()
                .map(|h| (*h).to_owned())
                .chain(opts.allowed_hosts.iter().cloned()),
        )
    }
}

#[derive(Clone)]
struct Guard {
    tokens: AuthTokens,
    client_keys: bool,
    in_flight: TaskTracker,
}

/// The whole app: `/mcp` behind the auth layer, `/healthz` open.
///
/// `ct` ends every MCP session and stream when cancelled; `in_flight` tracks POSTs to
/// `/mcp` until their response has been sent in full.
pub fn router(
    state: Arc<AppState>,
    opts: &HttpOptions,
    ct: CancellationToken,
    in_flight: TaskTracker,
) -> Router {
    let metrics = metrics_router(state.clone(), opts);
    let counted = state.metrics.clone();
    // One server value for every session or request: it holds only shared handles.
    let server = SmoothServer::new(state);
    let factory = move || Ok(server.clone());
    let config = rmcp_config(opts, ct);
    let mcp = if opts.stateless {
        Router::new().route_service(
            MCP_PATH,
            StreamableHttpService::new(factory, Arc::new(NeverSessionManager::default()), config),
        )
    } else {
        Router::new().route_service(
            MCP_PATH,
            StreamableHttpService::new(factory, Arc::new(LocalSessionManager::default()), config),
        )
    };
    let guard = Guard {
        tokens: opts.tokens.clone(),
        client_keys: opts.client_keys,
        in_flight,
    };
    mcp.layer(middleware::from_fn_with_state(
        opts.max_body_bytes,
        super::jsonrpc_guard::http_layer,
    ))
    .layer(middleware::from_fn_with_state(guard, guard_mcp))
    .merge(metrics)
    .layer(middleware::from_fn_with_state(counted, count_rejections))
    .route(HEALTH_PATH, get(health))
}

/// `GET /metrics`, behind the bearer token unless `--metrics-public`.
fn metrics_router(state: Arc<AppState>, opts: &HttpOptions) -> Router {
    let route = Router::new()
        .route(METRICS_PATH, get(metrics))
        .with_state(state);
    if opts.metrics_public {
        route
    } else {
        route.layer(middleware::from_fn_with_state(
            opts.tokens.clone(),
            guard_metrics,
        ))
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let text = state
        .metrics
        .render(state.watcher.active_pollers(), state.sessions.list().len());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}

async fn guard_metrics(State(tokens): State<AuthTokens>, request: Request, next: Next) -> Response {
    if tokens.is_enabled() && !authorized(&tokens, request.headers()) {
        return unauthorized();
    }
    next.run(request).await
}

/// Counts the requests turned away before MCP saw them: 401 (here), 403 (rmcp's Host and
/// Origin checks, told apart by its message), 413 (body caps).
async fn count_rejections(
    State(metrics): State<Arc<crate::metrics::Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let reason = match response.status() {
        StatusCode::UNAUTHORIZED => Rejection::auth,
        StatusCode::PAYLOAD_TOO_LARGE => Rejection::size,
        StatusCode::FORBIDDEN => {
            // rmcp's 403 bodies are short fixed sentences ("… Host header is not allowed").
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
            metrics.rejected(if bytes.windows(6).any(|w| w == b"Origin") {
                Rejection::origin
            } else {
                Rejection::host
            });
            return Response::from_parts(parts, Body::from(bytes));
        }
        _ => return response,
    };
    metrics.rejected(reason);
    response
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "status": "ok",
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn guard_mcp(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if guard.tokens.is_enabled() && !authorized(&guard.tokens, request.headers()) {
        tracing::warn!(
            ?peer,
            method = %request.method(),
            "rejected an MCP request without a valid bearer token"
        );
        return unauthorized();
    }
    if let Some(key) = request.headers().get(CLIENT_KEY_HEADER)
        && guard.client_keys
        && key.to_str().map_or(true, |k| k.trim().is_empty())
    {
        // Never fall back to the server's account when the caller meant to use their own.
        return (
            StatusCode::BAD_REQUEST,
            "Bad Request: X-Smooth-Api-Key is empty or not a valid key",
        )
            .into_response();
    }
    if !guard.client_keys && request.headers().contains_key(CLIENT_KEY_HEADER) {
        tracing::warn!(
            ?peer,
            "rejected an MCP request carrying X-Smooth-Api-Key: this server was not started \
             with --client-keys"
        );
        return (
            StatusCode::BAD_REQUEST,
            "Bad Request: this server does not accept per-client Smooth keys (X-Smooth-Api-Key); \
             remove the header to use the server's account, or start the server with --client-keys",
        )
            .into_response();
    }
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    // A POST is a call in flight until its response (often an SSE stream) has been sent.
    let token = guard.in_flight.token();
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &token;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

fn authorized(tokens: &AuthTokens, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let bytes = value.as_bytes();
    let Some((scheme, rest)) = split_scheme(bytes) else {
        return false;
    };
    scheme.eq_ignore_ascii_case(b"bearer") && tokens.accepts(rest.trim_ascii())
}

fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = value.iter().position(|b| *b == b' ')?;
    Some((&value[..at], &value[at + 1..]))
}

fn unauthorized() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "Unauthorized: send the server's token as `Authorization: Bearer <token>`",
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"smooth-mcp\""),
    );
    response
}

/// Binds `opts.listen` (after [`HttpOptions::check_bind`]) and serves until `shutdown` resolves.
pub async fn serve(
    state: Arc<AppState>,
    opts: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    opts.check_bind()?;
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|source| HttpError::Bind {
            addr: opts.listen,
            source,
        })?;
    serve_on(listener, state, opts, shutdown).await
}

/// Serves on a bound listener. On `shutdown`: stops accepting, lets in-flight calls finish
/// for up to `opts.drain` (a second signal cuts that short), then ends every MCP stream.
pub async fn serve_on(
    listener: TcpListener,
    state: Arc<AppState>,
    opts: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    let addr = listener.local_addr().map_err(HttpError::Serve)?;
    if opts.any_host() && !opts.tokens.is_enabled() {
        tracing::warn!(
            "--allowed-host '*' without an auth token: any web page the user visits could reach \
             this server through DNS rebinding"
        );
    }
    if opts.tokens.any_short() {
        tracing::warn!(
            "an auth token is shorter than {SHORT_TOKEN} characters; use a long random one \
             (e.g. `openssl rand -hex 32`)"
        );
    }
    tracing::info!(
        url = %format!("http://{addr}{MCP_PATH}"),
        mode = if opts.stateless { "stateless" } else { "sessions" },
        auth = if opts.tokens.is_enabled() { "bearer token" } else { "none (loopback only)" },
        client_keys = opts.client_keys,
        "serving MCP over Streamable HTTP"
    );
    let ct = CancellationToken::new();
    let in_flight = TaskTracker::new();
    let app = router(state, &opts, ct.clone(), in_flight.clone());
    let stop_accepting = CancellationToken::new();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop_accepting.clone().cancelled_owned())
    .into_future();
    let mut server = std::pin::pin!(server);

    tokio::select! {
        result = &mut server => return result.map_err(HttpError::Serve),
        () = shutdown => {}
    }
    stop_accepting.cancel();
    in_flight.close();
    let pending = in_flight.len();
    if pending > 0 {
        tracing::info!(
            pending,
            drain_seconds = opts.drain.as_secs_f64(),
            "shutting down: no new connections; waiting for in-flight calls (signal again to stop now)"
        );
    } else {
        tracing::info!("shutting down: no new connections");
    }
    let drained = async {
        tokio::select! {
            finished = tokio::time::timeout(opts.drain, in_flight.wait()) => {
                if finished.is_err() {
                    tracing::warn!(
                        pending = in_flight.len(),
                        "in-flight calls did not finish in time; cutting them off"
                    );
                }
            }
            () = crate::signal::shutdown_signal() => {
                tracing::warn!(pending = in_flight.len(), "second signal: cutting in-flight calls off");
            }
        }
        // Ends the remaining MCP streams (standalone GET streams, cut-off calls).
        ct.cancel();
    };
    let closed = async {
        match tokio::time::timeout(opts.drain + CLOSE_BOUND, &mut server).await {
            Ok(result) => result.map_err(HttpError::Serve),
            Err(_) => {
                tracing::warn!("some connections did not close in time; leaving them");
                Ok(())
            }
        }
    };
    let ((), result) = tokio::join!(drained, closed);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(list: &[&str]) -> AuthTokens {
        let owned: Vec<secrecy::SecretString> = list.iter().map(|s| (*s).into()).collect();
        AuthTokens::new(&owned).expect("valid tokens")
    }

    #[test]
    fn bearer_header_parsing() {
        let t = tokens(&["abc-0123456789-xyz"]);
        let mut h = HeaderMap::new();
        assert!(!authorized(&t, &h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc-0123456789-xyz"),
        );
        assert!(authorized(&t, &h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc-0123456789-xyz "),
        );
        assert!(authorized(&t, &h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic abc-0123456789-xyz"),
        );
        assert!(!authorized(&t, &h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("abc-0123456789-xyz"),
        );
        assert!(!authorized(&t, &h));
    }
}
