//! Bad input always gets a JSON-RPC answer: a check in front of rmcp's transports.
//!
//! Why it exists — what rmcp 3.11 does on its own:
//! * stdio (`transport/async_rw.rs`): a line that is not JSON, holds invalid UTF-8, or is
//!   nested deeper than serde_json's recursion limit (128) is a "syntax" error, which rmcp
//!   drops with only a debug log: the client waits for an answer that never comes;
//! * stdio: well-formed JSON that is not a message it knows gets `-32600` without the id,
//!   even when the id is readable (`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":"x"}`);
//! * a known method whose params do not fit (`tools/call` with `"name": 5`) falls through to
//!   rmcp's catch-all custom request and is answered `-32601 method not found`;
//! * stdio: a notification or response before `initialize` ends the whole server (the
//!   handshake takes only requests), so the guard drops those until then;
//! * a request reusing the id of one still in flight loses an answer (see
//!   [`super::request_ids`]): both guards refuse the reuse with `-32600`;
//! * Streamable HTTP (`common/server_side_http.rs`): any body that does not deserialize is
//!   answered 415 Unsupported Media Type with a plain-text body, which is for a wrong
//!   `Content-Type`, not a bad body.
//!
//! [`check`] classifies one message; [`Stdio`] answers bad lines itself and passes good
//! ones to rmcp through an in-memory pipe, with one writer for both so answers never
//! interleave mid-line; [`http_layer`] answers bad bodies with 400 and a JSON-RPC error.
//! Good input costs one extra typed parse.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ErrorCode};
use serde_json::{Value, json};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
    ReadHalf, WriteHalf,
};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::request_ids::{Admitted, InFlight};
use crate::escape;

/// serde_json's recursion limit: deeper input fails to parse.
const MAX_DEPTH: usize = 128;
/// Longest stdio line accepted; rmcp's own cap (`DEFAULT_MAX_LINE_LENGTH`).
const MAX_LINE: u64 = 16 * 1024 * 1024;
/// Largest line buffer kept between lines.
const KEEP_LINE_BUFFER: usize = 1024 * 1024;
/// Room in the pipes between the guard and rmcp.
const PIPE_BYTES: usize = 64 * 1024;
/// How long, after rmcp stops, its last output may take to reach stdout.
const FLUSH_BOUND: Duration = Duration::from_secs(2);
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const JSON_MIME: &str = "application/json";
/// The Streamable HTTP session header (rmcp's `HEADER_SESSION_ID`).
const SESSION_HEADER: &str = "mcp-session-id";

/// Request methods rmcp's `ClientRequest` knows; one of these parsed as a custom request
/// means its params did not fit.
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/directory/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "subscriptions/listen",
    "tools/call",
    "tools/list",
    "tasks/get",
    "tasks/update",
    "tasks/cancel",
    "skills/list",
    "skills/get",
];

/// What to do with one incoming message.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// rmcp can take it as it is.
    Pass,
    /// A notification or response that does not parse: JSON-RPC forbids answering those,
    /// so on stdio rmcp keeps deciding (it ignores unknown notifications); over HTTP the
    /// POST itself is answered 400.
    Unanswerable,
    /// Answer with this JSON-RPC error (`id` is `null` when it cannot be read).
    Answer(Value),
}

/// Classifies one message (a stdio line without its newline, or an HTTP body).
pub fn check(bytes: &[u8]) -> Verdict {
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let e = match serde_json::from_slice::<ClientJsonRpcMessage>(body) {
        Ok(ClientJsonRpcMessage::Request(r)) => {
            let method = r.request.method();
            return if matches!(r.request, ClientRequest::CustomRequest(_))
                && KNOWN_METHODS.contains(&method)
            {
                answer(
                    r.id.into_json_value(),
                    ErrorCode::INVALID_PARAMS,
                    &format!(
                        "Invalid params: the params of {method:?} do not have the shape MCP gives"
                    ),
                )
            } else {
                Verdict::Pass
            };
        }
        Ok(_) => return Verdict::Pass,
        Err(e) => e,
    };
    if e.is_syntax() || e.is_eof() {
        if !e.to_string().starts_with("recursion limit exceeded") {
            return answer(
                Value::Null,
                ErrorCode::PARSE_ERROR,
                &format!("Parse error: {e}"),
            );
        }
        let too_deep = format!("the message is nested deeper than {MAX_DEPTH} levels");
        return match top_level_id(body) {
            Some(id) => answer(
                id,
                ErrorCode::INVALID_REQUEST,
                &format!("Invalid request: {too_deep}"),
            ),
            None => answer(
                Value::Null,
                ErrorCode::PARSE_ERROR,
                &format!("Parse error: {too_deep}"),
            ),
        };
    }
    // Well-formed JSON, but not a message rmcp knows.
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(object) = value.as_object() else {
        return answer(
            Value::Null,
            ErrorCode::INVALID_REQUEST,
            "Invalid request: a JSON-RPC message is a JSON object",
        );
    };
    let id = object.get("id").filter(|id| readable_id(id)).cloned();
    let method = object.get("method").and_then(Value::as_str);
    let version_ok = object.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    match (id, method) {
        (None, Some(_)) if !object.contains_key("id") => Verdict::Unanswerable,
        // A response (to a request this server never sent, or of the wrong shape): JSON-RPC
        // answers no response, whatever its id.
        (_, None) if object.contains_key("result") || object.contains_key("error") => {
            Verdict::Unanswerable
        }
        (Some(id), Some(method)) if version_ok => {
            if KNOWN_METHODS.contains(&method) {
                answer(
                    id,
                    ErrorCode::INVALID_PARAMS,
                    &format!(
                        "Invalid params: the params of {method:?} do not have the shape MCP gives"
                    ),
                )
            } else {
                answer(
                    id,
                    ErrorCode::METHOD_NOT_FOUND,
                    &format!("Method not found: {method:?}"),
                )
            }
        }
        (id, _) => answer(
            id.unwrap_or(Value::Null),
            ErrorCode::INVALID_REQUEST,
            "Invalid request: expected a JSON-RPC 2.0 request with \"jsonrpc\": \"2.0\", a \
             string or integer \"id\" and a string \"method\"",
        ),
    }
}

fn answer(id: Value, code: ErrorCode, message: &str) -> Verdict {
    Verdict::Answer(json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code.0, "message": escape::controls(message) },
    }))
}

/// An id rmcp accepts: a string or an integer that fits `i64`.
fn readable_id(id: &Value) -> bool {
    id.is_string() || id.is_i64()
}

/// The top-level `"id"` of a JSON object too deep for serde_json, found by a scan that
/// keeps only a depth counter, wherever the id stands. `None` when absent or not readable.
fn top_level_id(s: &[u8]) -> Option<Value> {
    let mut depth = 0usize;
    let mut object = false;
    let mut key_next = false;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'"' => {
                let end = string_end(s, i)?;
                if depth == 1 && object && key_next {
                    key_next = false;
                    let key: String = serde_json::from_slice(s.get(i..end)?).ok()?;
                    let colon = skip_ws(s, end);
                    if s.get(colon) != Some(&b':') {
                        return None;
                    }
                    let value = skip_ws(s, colon + 1);
                    if key == "id" {
                        return scalar_at(s, value).filter(readable_id);
                    }
                    i = value;
                    continue;
                }
                i = end;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth == 1 {
                    object = b == b'{';
                }
                key_next = depth == 1 && object;
            }
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b',' if depth == 1 => key_next = object,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index just past the string that opens at `start`.
fn string_end(s: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match s.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while s
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        i += 1;
    }
    i
}

/// The string or integer starting at `i`.
fn scalar_at(s: &[u8], i: usize) -> Option<Value> {
    let end = if s.get(i) == Some(&b'"') {
        string_end(s, i)?
    } else {
        i + s
            .get(i..)?
            .iter()
            .take_while(|b| matches!(b, b'-' | b'0'..=b'9'))
            .count()
    };
    serde_json::from_slice(s.get(i..end)?).ok()
}

fn log_answer(reply: &Value) {
    tracing::warn!(
        id = %reply["id"],
        code = %reply["error"]["code"],
        "answered a malformed JSON-RPC message: {}",
        reply["error"]["message"].as_str().unwrap_or_default()
    );
}

type Shared<W> = Arc<Mutex<W>>;

/// stdin and stdout with the guard in front of rmcp.
pub struct Stdio {
    pump: JoinHandle<()>,
    input_closed: CancellationToken,
}

impl Stdio {
    /// Starts the guard on `input`/`output`; returns it and the stream to give rmcp.
    pub fn start<R, W>(input: R, output: W) -> (Self, DuplexStream)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (rmcp_side, guard_side) = tokio::io::duplex(PIPE_BYTES);
        let (from_rmcp, to_rmcp) = tokio::io::split(guard_side);
        let output = Arc::new(Mutex::new(output));
        let input_closed = CancellationToken::new();
        let ids = InFlight::default();
        let reader = read_lines(input, to_rmcp, output.clone(), ids.clone());
        let closed = input_closed.clone();
        tokio::spawn(async move {
            reader.await;
            closed.cancel();
        });
        let pump = tokio::spawn(pump(from_rmcp, output, ids));
        (Self { pump, input_closed }, rmcp_side)
    }

    /// Cancelled when the input has ended (the client closed stdin, or it failed).
    pub fn input_closed(&self) -> CancellationToken {
        self.input_closed.clone()
    }

    /// Waits (bounded) until what rmcp wrote before it stopped has reached the output.
    pub async fn finish(self) {
        if tokio::time::timeout(FLUSH_BOUND, self.pump).await.is_err() {
            tracing::warn!("gave up flushing the last responses to stdout");
        }
    }
}

/// Reads `input` line by line: good lines go on to rmcp, bad ones are answered.
async fn read_lines<R, W>(
    input: R,
    mut to_rmcp: WriteHalf<DuplexStream>,
    output: Shared<W>,
    ids: InFlight,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    let mut started = false;
    loop {
        // One huge line must not keep its buffer (up to MAX_LINE) for the whole session.
        if line.capacity() > KEEP_LINE_BUFFER {
            line = Vec::new();
        }
        line.clear();
        match (&mut input)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "reading stdin");
                break;
            }
        }
        if !line.ends_with(b"\n") && line.len() as u64 > MAX_LINE {
            if skip_rest_of_line(&mut input).await.is_err() {
                break;
            }
            let reply = json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {
                    "code": ErrorCode::INVALID_REQUEST.0,
                    "message": format!("Invalid request: the message is longer than {MAX_LINE} bytes"),
                },
            });
            if write_answer(&output, &reply).await.is_err() {
                break;
            }
            continue;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.trim_ascii().is_empty() {
            continue;
        }
        let verdict = check(body);
        if !started && !matches!(verdict, Verdict::Answer(_)) {
            match before_start(body) {
                PreStart::Request { starts } => started = starts,
                PreStart::Other => {
                    tracing::warn!(
                        "dropped a notification or response sent before `initialize` (the \
                         handshake takes only requests)"
                    );
                    continue;
                }
            }
        }
        match verdict {
            // rmcp would answer a malformed response with an id-less -32600: JSON-RPC answers
            // no response, so it stops here.
            Verdict::Unanswerable if is_response(body) => {
                tracing::debug!("dropped a malformed JSON-RPC response");
            }
            Verdict::Pass | Verdict::Unanswerable => {
                if let Err(reply) = ids.admit("", body) {
                    if write_answer(&output, &reply).await.is_err() {
                        break;
                    }
                    continue;
                }
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                if to_rmcp.write_all(&line).await.is_err() {
                    break;
                }
            }
            Verdict::Answer(reply) => {
                if write_answer(&output, &reply).await.is_err() {
                    break;
                }
            }
        }
    }
    // Dropping `to_rmcp` leaves rmcp's side of the pipe open (it holds both halves), so
    // say end-of-input explicitly.
    let _ = to_rmcp.shutdown().await;
}

/// A message that reaches rmcp before its handshake has ended.
#[derive(Debug, PartialEq)]
enum PreStart {
    /// A request; `starts` when rmcp's handshake ends with it: `initialize`, or a request
    /// carrying its protocol version inline (the stateless lifecycle).
    Request { starts: bool },
    /// A notification or a response: rmcp 3.11 ends the whole server on one of these
    /// before the handshake (`ExpectedInitializeRequest`), so the guard drops it —
    /// JSON-RPC owes no answer to either.
    Other,
}

/// A JSON-RPC object without a method: a response.
fn is_response(body: &[u8]) -> bool {
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    matches!(serde_json::from_slice::<Value>(body), Ok(Value::Object(m)) if !m.contains_key("method"))
}

fn before_start(body: &[u8]) -> PreStart {
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(body) else {
        return PreStart::Other;
    };
    let (Some(method), true) = (
        message.get("method").and_then(Value::as_str),
        message.contains_key("id"),
    ) else {
        return PreStart::Other;
    };
    let inline_version = message
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
        .is_some();
    PreStart::Request {
        starts: method == "initialize" || inline_version,
    }
}

async fn skip_rest_of_line<R: AsyncRead + Unpin>(input: &mut BufReader<R>) -> std::io::Result<()> {
    let mut scratch = Vec::new();
    loop {
        scratch.clear();
        let n = (&mut *input)
            .take(MAX_LINE)
            .read_until(b'\n', &mut scratch)
            .await?;
        if n == 0 || scratch.ends_with(b"\n") {
            return Ok(());
        }
    }
}

async fn write_answer<W: AsyncWrite + Unpin>(
    output: &Shared<W>,
    reply: &Value,
) -> std::io::Result<()> {
    log_answer(reply);
    let mut text = serde_json::to_vec(reply)?;
    text.push(b'\n');
    let mut out = output.lock().await;
    out.write_all(&text).await?;
    out.flush().await
}

/// Copies rmcp's output to `output`, a whole line at a time.
async fn pump<W: AsyncWrite + Unpin>(
    from_rmcp: ReadHalf<DuplexStream>,
    output: Shared<W>,
    ids: InFlight,
) {
    let mut from_rmcp = BufReader::new(from_rmcp);
    let mut line = Vec::new();
    loop {
        line.clear();
        match from_rmcp.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        ids.answered("", &line);
        let mut out = output.lock().await;
        if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
            return;
        }
    }
}

/// How long a JSON POST's body may take to arrive. A client trickling its body would
/// otherwise hold the connection for ever, as a slow-loris one would without the header-read
/// timeout of [`super::connections`].
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`http_layer`] needs: rmcp's body cap, and the ids in flight per session.
#[derive(Debug, Clone)]
pub struct HttpGuard {
    pub max_bytes: usize,
    pub ids: InFlight,
}

/// Axum middleware for `/mcp`: a JSON POST whose body is not a message rmcp can take is
/// answered 400 with a JSON-RPC error. Other requests (wrong `Content-Type` included, which
/// rmcp answers 415) go on untouched. `max_bytes` is the body cap rmcp also enforces.
pub async fn http_layer(State(guard): State<HttpGuard>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !is_json(request.headers()) {
        return next.run(request).await;
    }
    let max_bytes = guard.max_bytes;
    let (parts, body) = request.into_parts();
    let bytes = match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, max_bytes))
        .await
    {
        Ok(Ok(bytes)) => bytes,
        // A body that cannot be read in full is over the cap, or its connection is gone.
        Ok(Err(_)) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Payload Too Large: request body exceeds {max_bytes} bytes"),
            )
                .into_response();
        }
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "Request Timeout: the body did not arrive within {} s",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            )
                .into_response();
        }
    };
    let reply = match check(&bytes) {
        // Without a session (initialize, or --stateless) each request has an rmcp of its own.
        Verdict::Pass => match parts.headers.get(SESSION_HEADER).map(|s| s.as_bytes()) {
            None => {
                return next
                    .run(Request::from_parts(parts, Body::from(bytes)))
                    .await;
            }
            Some(session) => {
                let scope = String::from_utf8_lossy(session).into_owned();
                match guard.ids.admit(&scope, &bytes) {
                    Ok(admitted) => {
                        let response = next
                            .run(Request::from_parts(parts, Body::from(bytes)))
                            .await;
                        return match admitted {
                            Some(admitted) => release_when_sent(response, guard.ids, admitted),
                            None => response,
                        };
                    }
                    Err(reply) => reply,
                }
            }
        },
        Verdict::Answer(reply) => reply,
        Verdict::Unanswerable => json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {
                "code": ErrorCode::INVALID_REQUEST.0,
                "message": "Invalid request: the notification or response does not have the shape MCP gives",
            },
        }),
    };
    log_answer(&reply);
    (StatusCode::BAD_REQUEST, axum::Json(reply)).into_response()
}

/// Frees the request's id once its response (often an SSE stream) has been sent or dropped.
fn release_when_sent(response: Response, ids: InFlight, admitted: Admitted) -> Response {
    struct Release(InFlight, Admitted);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.done(&self.1);
        }
    }
    super::http::hold_until_sent(response, Release(ids, admitted))
}

/// rmcp's test: the media type before any `;` is `application/json`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(JSON_MIME))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_arrives_in_full_is_a_timeout() {
        use futures::StreamExt;
        use tower::ServiceExt;
        let guard = HttpGuard {
            max_bytes: 1024,
            ids: InFlight::default(),
        };
        let app = axum::Router::new()
            .route("/mcp", axum::routing::post(|| async { "reached rmcp" }))
            .layer(axum::middleware::from_fn_with_state(guard, http_layer));
        let first = futures::stream::iter([Ok::<_, std::io::Error>(
            axum::body::Bytes::from_static(b"{\"jsonrpc\""),
        )]);
        let trickle = first.chain(futures::stream::pending());
        let request = Request::post("/mcp")
            .header(header::CONTENT_TYPE, JSON_MIME)
            .body(Body::from_stream(trickle))
            .expect("request");
        // Time is paused: this outer bound fails the test, instead of hanging it, if the
        // guard waits longer than its own timeout.
        let response = tokio::time::timeout(BODY_READ_TIMEOUT * 2, app.oneshot(request))
            .await
            .expect("the guard gave up on the body")
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }

    fn reply(input: &str) -> (Value, i64) {
        match check(input.as_bytes()) {
            Verdict::Answer(r) => (r["id"].clone(), r["error"]["code"].as_i64().expect("code")),
            other => panic!("{input}: expected an answer, got {other:?}"),
        }
    }

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn good_messages_pass() {
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"vendor/thing","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            "\u{feff}{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
        ] {
            assert_eq!(check(ok.as_bytes()), Verdict::Pass, "{ok}");
        }
    }

    #[test]
    fn unparsable_input_is_a_parse_error() {
        assert_eq!(reply("not json"), (Value::Null, -32700));
        assert_eq!(reply(r#"{"id":1,"#), (Value::Null, -32700));
        let bad_utf8 = b"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"ping\"}";
        assert!(matches!(check(bad_utf8), Verdict::Answer(r) if r["error"]["code"] == -32700));
    }

    #[test]
    fn too_deep_requests_are_answered_with_their_id() {
        let before = format!(
            r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"x","arguments":{{"a":{}}}}}}}"#,
            nested(200)
        );
        assert_eq!(reply(&before), (json!(7), -32600));
        let after = format!(
            r#"{{"params":{{"a":{},"id":"inner"}},"jsonrpc":"2.0","method":"tools/call","id" : "o\"k"}}"#,
            nested(200)
        );
        assert_eq!(reply(&after), (json!("o\"k"), -32600));
        let no_id = format!(
            r#"{{"jsonrpc":"2.0","method":"x","params":{}}}"#,
            nested(200)
        );
        assert_eq!(reply(&no_id), (Value::Null, -32700));
        assert_eq!(reply(&nested(200)), (Value::Null, -32700));
    }

    #[test]
    fn wrong_shapes_get_the_right_code_and_id() {
        assert_eq!(reply("[]"), (Value::Null, -32600));
        assert_eq!(reply("42"), (Value::Null, -32600));
        assert_eq!(reply("{}"), (Value::Null, -32600));
        assert_eq!(reply(r#"{"jsonrpc":"2.0"}"#), (Value::Null, -32600));
        assert_eq!(
            reply(r#"{"jsonrpc":"1.0","id":4,"method":"ping"}"#),
            (json!(4), -32600)
        );
        assert_eq!(
            reply(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":"x"}"#),
            (json!(3), -32602)
        );
        assert_eq!(
            reply(r#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":5}}"#),
            (json!("c"), -32602)
        );
        assert_eq!(
            reply(r#"{"jsonrpc":"2.0","id":5,"method":"nope","params":"x"}"#),
            (json!(5), -32601)
        );
        assert_eq!(
            check(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":1}"#),
            Verdict::Unanswerable
        );
        // A malformed response with a readable id is still a response: no answer.
        assert_eq!(
            check(br#"{"jsonrpc":"2.0","id":6,"error":{"code":1}}"#),
            Verdict::Unanswerable
        );
    }

    #[test]
    fn only_requests_reach_rmcp_before_the_handshake() {
        let starts = |b: &str| before_start(b.as_bytes());
        assert_eq!(
            starts(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            PreStart::Other
        );
        assert_eq!(
            starts(
                r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#
            ),
            PreStart::Other
        );
        assert_eq!(
            starts(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            PreStart::Other
        );
        assert_eq!(
            starts(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            PreStart::Request { starts: false }
        );
        assert_eq!(
            starts(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#),
            PreStart::Request { starts: true }
        );
        assert_eq!(
            starts(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#
            ),
            PreStart::Request { starts: true }
        );
    }

    #[test]
    fn answers_never_carry_raw_control_characters() {
        let Verdict::Answer(r) = check(
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"bad\\u0000\\u001b[31m\",\"params\":1}",
        ) else {
            panic!("answered");
        };
        let message = r["error"]["message"].as_str().expect("message");
        assert!(!message.chars().any(char::is_control), "{message}");
        assert!(message.contains("\\0\\u{1b}"), "{message}");
    }
}
