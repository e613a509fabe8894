//! Streamable HTTP: MCP at `/mcp` (rmcp's `StreamableHttpService` in axum) and `GET /healthz`.
//!
//! Security model:
//! * loopback bind by default; any other address needs a bearer token
//!   ([`HttpOptions::check_bind`], also checked at start-up by `crate::config`);
//! * `Host` checked against loopback names plus `--allowed-host` (DNS rebinding), and
//!   `Origin`, when a browser sends one, against loopback origins plus `--allowed-origin`:
//!   both enforced by rmcp with the lists built here, answering 403;
//! * bearer tokens compared in constant time on every `/mcp` request (401 otherwise); with
//!   `--oauth-issuer`, a signed-in user's JWT is accepted too ([`super::oauth`]), and the
//!   protected resource metadata is served, open, under `/.well-known/`;
//! * request bodies capped (413); a JSON body that is not a JSON-RPC message rmcp can take
//!   is answered 400 with a JSON-RPC error ([`super::jsonrpc_guard`]);
//! * refused requests are counted and summarised in the log every few seconds
//!   ([`super::rejections`]), so a client looping on a bad token cannot flood it;
//! * a client's own Smooth key (`X-Smooth-Api-Key`, with `--client-keys`) is read by the tools
//!   from the request's `http::request::Parts`; nothing here logs or keeps a header value.
//!
//! * `GET /metrics` (Prometheus text) takes the same bearer token unless `--metrics-public`;
//!   requests turned away for auth, Host, Origin or size are counted there.
//!
//! All browser state lives in Smooth (task and session ids are the handles), so with
//! `--stateless` any replica can answer any request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
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
use tracing::Instrument;

use super::connections;
use super::oauth::ResourceServer;
use super::rejections::{Reason, Rejections};
use crate::config::{AuthTokens, HttpConfigError, HttpOptions, SHORT_TOKEN};
use crate::mcp::{AppState, BilledKey, CLIENT_KEY_HEADER, SmoothServer};
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
    #[error("setting up OAuth sign-in: {0}")]
    OAuth(#[from] super::oauth::FetchError),
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
    oauth: Option<Arc<ResourceServer>>,
    client_keys: bool,
    in_flight: TaskTracker,
    /// Refused requests are counted here and summarised in the log, not logged one by one.
    rejections: Arc<Rejections>,
}

/// The whole app: `/mcp` behind the auth layer, `/healthz` (and the OAuth resource
/// metadata) open.
///
/// `ct` ends every MCP session and stream when cancelled; `in_flight` tracks POSTs to
/// `/mcp` until their response has been sent in full.
pub fn router(
    state: Arc<AppState>,
    opts: &HttpOptions,
    oauth: Option<Arc<ResourceServer>>,
    ct: CancellationToken,
    in_flight: TaskTracker,
    rejections: Arc<Rejections>,
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
        oauth: oauth.clone(),
        client_keys: opts.client_keys,
        in_flight,
        rejections,
    };
    let body_guard = super::jsonrpc_guard::HttpGuard {
        max_bytes: opts.max_body_bytes,
        ids: super::request_ids::InFlight::default(),
    };
    let mut app = mcp
        .layer(middleware::from_fn_with_state(
            body_guard,
            super::jsonrpc_guard::http_layer,
        ))
        .layer(middleware::from_fn_with_state(guard, guard_mcp))
        .merge(metrics)
        .layer(middleware::from_fn_with_state(counted, count_rejections));
    if let Some(oauth) = oauth {
        let document = Arc::new(oauth.metadata().clone());
        for path in oauth.metadata_paths() {
            let document = document.clone();
            app = app.route(
                &path,
                get(move || async move { axum::Json((*document).clone()) }),
            );
        }
    }
    app.layer(middleware::from_fn(http_span))
        .route(HEALTH_PATH, get(health))
}

/// `GET /metrics`, behind the bearer token unless `--metrics-public`. With OAuth sign-in and
/// no static token, a scraper has no way in: it needs an `--auth-token` (or the flag).
fn metrics_router(state: Arc<AppState>, opts: &HttpOptions) -> Router {
    let route = Router::new()
        .route(METRICS_PATH, get(metrics))
        .with_state(state);
    if opts.metrics_public || !opts.auth_required() {
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
        .render(state.watcher.active_pollers(), state.sessions.open_count());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}

async fn guard_metrics(State(tokens): State<AuthTokens>, request: Request, next: Next) -> Response {
    if !bearer(request.headers()).is_some_and(|t| tokens.accepts(t)) {
        return unauthorized();
    }
    next.run(request).await
}

/// Counts the requests turned away before MCP saw them: those the guards tagged with their
/// reason, 401 (the metrics guard), 403 (rmcp's Host and Origin checks, told apart by its
/// message), 413 (body caps).
async fn count_rejections(
    State(metrics): State<Arc<crate::metrics::Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(tagged) = response.extensions().get::<Rejection>() {
        metrics.rejected(*tagged);
        return response;
    }
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

/// The target of `http_span`'s spans: for the trace exporter only. The log lines leave them
/// out (their fields would lengthen every line logged during a request).
pub const HTTP_SPAN_TARGET: &str = "smooth_mcp::http_span";

/// One span per HTTP request (not `/healthz`, which probes call all day), named and
/// attributed as OpenTelemetry's HTTP server conventions say. Only the path is recorded,
/// never a query or a header.
async fn http_span(request: Request, next: Next) -> Response {
    // A path no route matched is the client's to choose: it names no span (the conventions'
    // fallback is the bare method).
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let method = request.method().clone();
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        target: HTTP_SPAN_TARGET,
        "http_request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        "http.request.method" = %method,
        "http.route" = route.as_deref(),
        "url.path" = %request.uri().path(),
        "url.scheme" = "http",
        "network.protocol.version" = protocol_version(request.version()),
        "http.response.status_code" = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}

fn protocol_version(version: axum::http::Version) -> &'static str {
    match version {
        axum::http::Version::HTTP_10 => "1.0",
        axum::http::Version::HTTP_2 => "2",
        _ => "1.1",
    }
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "status": "ok",
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn guard_mcp(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if let Err((reason, mut rejected)) = authenticate(&guard, &mut request).await {
        guard.rejections.record(reason, peer);
        if reason != Reason::IssuerUnavailable {
            // Counted as what it is, not told apart by status later (see count_rejections).
            rejected.extensions_mut().insert(Rejection::auth);
        }
        return rejected;
    }
    if let Some(key) = request.headers().get(CLIENT_KEY_HEADER)
        && guard.client_keys
        && key.to_str().map_or(true, |k| k.trim().is_empty())
    {
        // Never fall back to the server's account when the caller meant to use their own.
        guard.rejections.record(Reason::BadClientKey, peer);
        return (
            StatusCode::BAD_REQUEST,
            "Bad Request: X-Smooth-Api-Key is empty or not a valid key",
        )
            .into_response();
    }
    if !guard.client_keys && request.headers().contains_key(CLIENT_KEY_HEADER) {
        guard.rejections.record(Reason::ClientKeyNotAccepted, peer);
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
    hold_until_sent(next.run(request).await, token)
}

/// Keeps `held` alive until the response's body (often an SSE stream) has been sent in full
/// or dropped.
pub(super) fn hold_until_sent<T: Send + Sync + 'static>(response: Response, held: T) -> Response {
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &held;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// Lets the request on with a static token or, with OAuth, a valid sign-in; the Smooth key
/// that sign-in bills to (`--key-by-claim`) rides along in the request's extensions, where
/// the tools find it. `Err` is the response to send instead.
async fn authenticate(guard: &Guard, request: &mut Request) -> Result<(), (Reason, Response)> {
    let presented = bearer(request.headers());
    if guard.tokens.is_enabled() && presented.is_some_and(|t| guard.tokens.accepts(t)) {
        return Ok(());
    }
    let Some(oauth) = &guard.oauth else {
        return if !guard.tokens.is_enabled() {
            Ok(())
        } else if request.headers().contains_key(header::AUTHORIZATION) {
            Err((Reason::BadToken, unauthorized()))
        } else {
            Err((Reason::MissingToken, unauthorized()))
        };
    };
    let own_key = guard.client_keys && request.headers().contains_key(CLIENT_KEY_HEADER);
    let token = presented.and_then(|t| std::str::from_utf8(t).ok());
    if let Some(key) = oauth.authorize(token, own_key).await? {
        request.extensions_mut().insert(BilledKey(key));
    }
    Ok(())
}

/// The credentials of an `Authorization: Bearer …` header, trimmed.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?;
    let (scheme, rest) = split_scheme(value.as_bytes())?;
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| rest.trim_ascii())
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
    if opts.any_host() && !opts.auth_required() {
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
        auth = match (opts.tokens.is_enabled(), opts.oauth.is_some()) {
            (true, true) => "bearer token or OAuth sign-in",
            (false, true) => "OAuth sign-in",
            (true, false) => "bearer token",
            (false, false) => "none (loopback only)",
        },
        client_keys = opts.client_keys,
        "serving MCP over Streamable HTTP"
    );
    let oauth = match opts.oauth.clone() {
        Some(o) => {
            let server = Arc::new(ResourceServer::new(o)?);
            let warm = server.clone();
            tokio::spawn(async move { warm.warm_up().await });
            Some(server)
        }
        None => None,
    };
    let ct = CancellationToken::new();
    let in_flight = TaskTracker::new();
    let rejections = Arc::new(Rejections::default());
    rejections.clone().spawn_summaries(ct.clone());
    let app = router(
        state,
        &opts,
        oauth,
        ct.clone(),
        in_flight.clone(),
        rejections.clone(),
    );
    let stop_accepting = CancellationToken::new();
    let mut server = tokio::spawn(connections::serve(
        listener,
        app,
        connections::HEADER_READ_TIMEOUT,
        stop_accepting.clone(),
    ));
    shutdown.await;
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
        if tokio::time::timeout(opts.drain + CLOSE_BOUND, &mut server)
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time; leaving them");
        }
    };
    tokio::join!(drained, closed);
    rejections.log();
    Ok(())
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
        let accepted = |h: &HeaderMap| bearer(h).is_some_and(|b| t.accepts(b));
        let mut h = HeaderMap::new();
        assert!(!accepted(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc-0123456789-xyz"),
        );
        assert!(accepted(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc-0123456789-xyz "),
        );
        assert!(accepted(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic abc-0123456789-xyz"),
        );
        assert!(!accepted(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("abc-0123456789-xyz"),
        );
        assert!(!accepted(&h));
    }
}
