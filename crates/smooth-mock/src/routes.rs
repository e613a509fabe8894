//! HTTP surface of the mock: the Smooth API under `/api/v1` and the control surface under
//! `/_mock/`.

// Handlers return `Result<Response, Response>`: both sides are plain responses.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::multipart::Multipart;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Map, Value, json};

use super::archive::Contents;
use super::directives;
use super::downloads;
use super::state::{
    ExtensionRec, FileRec, Profile, Rejected, Task, TaskSpec, random_id, random_lower,
};
use super::{Fault, FaultMode, Inner, RecordedRequest};

type Shared = Arc<Inner>;
type Res = Result<Response, Response>;

const BASE: &str = "/api/v1";
const MAX_BODY: usize = 64 * 1024 * 1024;
pub(crate) const FORBIDDEN_KEY: &str = "cmzr-forbidden";

pub(crate) fn router(inner: Shared) -> Router {
    let api = Router::new()
        .route("/task", post(create_task).get(list_tasks))
        .route("/task/{id}", get(get_task).delete(delete_task))
        .route("/task/{id}/event", post(post_event))
        .route("/profile", post(create_profile).get(list_profiles))
        .route("/profile/{id}", delete(delete_profile))
        .route("/file", post(upload_file))
        .route("/file/{id}", delete(delete_file))
        .route("/extension", post(upload_extension).get(list_extensions))
        .route("/extension/{id}", delete(delete_extension))
        .route("/browser/extension/{id}", delete(delete_extension))
        .route_layer(from_fn_with_state(inner.clone(), auth))
        .method_not_allowed_fallback(method_not_allowed);
    let control = Router::new()
        .route("/_mock/requests", get(control_requests))
        .route("/_mock/faults", post(control_add_fault).get(control_faults))
        .route("/_mock/reset", post(control_reset))
        .route("/_mock/restart", post(control_restart))
        .route("/_mock/tasks/{id}", get(control_task));
    Router::new()
        .nest(BASE, api)
        .merge(control)
        .route(downloads::ROUTE, get(downloads::serve))
        .fallback(not_found)
        .layer(from_fn_with_state(inner.clone(), front))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(inner)
}

// ---------------------------------------------------------------------------------------
// Responses

fn ok(v: Value) -> Response {
    (StatusCode::OK, Json(json!({ "r": v }))).into_response()
}

fn detail(status: StatusCode, d: impl Into<Value>) -> Response {
    (status, Json(json!({ "detail": d.into() }))).into_response()
}

fn invalid(errors: Vec<Value>) -> Response {
    detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Array(errors))
}

/// One pydantic-style validation error.
fn verr(loc: &[Value], msg: impl Into<String>, kind: &str, input: Option<&Value>) -> Value {
    let mut e = json!({"type": kind, "loc": loc, "msg": msg.into()});
    if let Some(input) = input {
        e["input"] = input.clone();
    }
    e
}

fn body_loc(field: &str) -> Vec<Value> {
    vec![json!("body"), json!(field)]
}

async fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not Found")
}

async fn method_not_allowed() -> Response {
    detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

// ---------------------------------------------------------------------------------------
// Middleware

/// Multipart bodies, parsed once by [`front`] for the request log and the upload handlers.
#[derive(Clone)]
struct ParsedUpload(Arc<Result<Upload, String>>);

#[derive(Clone, Debug)]
struct Upload {
    file_name: Option<String>,
    has_file_part: bool,
    size: usize,
    purpose: Option<String>,
}

/// Records every API request, then applies latency and injected faults.
async fn front(State(inner): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == "/_mock" || path.starts_with("/_mock/") {
        return next.run(req).await;
    }
    let rel = match path.strip_prefix(BASE) {
        Some("") => "/".to_string(),
        Some(p) if p.starts_with('/') => p.to_string(),
        _ => path.clone(),
    };
    let method = req.method().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let apikey = req
        .headers()
        .get("apikey")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (mut parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_BODY).await;
    let is_multipart = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
    let (bytes, recorded_body) = match bytes {
        Ok(bytes) if is_multipart => {
            let probe = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
            let upload = read_upload(probe).await;
            let summary = upload.as_ref().ok().map(
                |u| json!({"file_name": u.file_name, "size": u.size, "file_purpose": u.purpose}),
            );
            parts.extensions.insert(ParsedUpload(Arc::new(upload)));
            (Ok(bytes), summary)
        }
        Ok(bytes) => {
            let parsed = serde_json::from_slice::<Value>(&bytes).ok();
            (Ok(bytes), parsed)
        }
        Err(e) => (Err(e), None),
    };
    let slot = inner.log_start(RecordedRequest {
        method: method.clone(),
        path: rel.clone(),
        query,
        apikey,
        body: recorded_body,
        status: 0,
    });
    if !inner.cfg.latency.is_zero() {
        tokio::time::sleep(inner.cfg.latency).await;
    }
    let response = match (inner.take_fault(&method, &rel), bytes) {
        (Some(fault), Ok(bytes)) if fault.mode.processes() => {
            if fault.mode == FaultMode::ReplayEvents {
                replay_from_start(&mut parts.uri);
            }
            let answer = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            spoil(&fault, answer).await
        }
        (Some(fault), _) => {
            if !fault.delay.is_zero() {
                tokio::time::sleep(fault.delay).await;
            }
            if fault.mode == FaultMode::ResetBefore {
                severed()
            } else {
                fault_response(&fault)
            }
        }
        (None, Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        (None, Err(_)) => detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
    };
    inner.log_finish(slot, response.status().as_u16());
    response
}

fn fault_response(fault: &Fault) -> Response {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match &fault.detail {
        Some(Value::String(s)) if s == "<<raw>>" => (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "upstream exploded",
        )
            .into_response(),
        Some(d) => detail(status, d.clone()),
        None => detail(
            status,
            status.canonical_reason().unwrap_or("Injected fault"),
        ),
    };
    if let Some(secs) = fault.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// A response whose body fails before its first byte: hyper drops the connection, and the
/// client sees it cut with no (or no complete) answer.
fn severed() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::new(Severed),
    )
        .into_response()
}

struct Severed;

impl axum::body::HttpBody for Severed {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))))
    }
}

/// `event_t=0`: the request asks for every event again.
fn replay_from_start(uri: &mut axum::http::Uri) {
    let mut pairs: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("event_t="))
        .collect();
    pairs.push("event_t=0");
    let rewritten = format!("{}?{}", uri.path(), pairs.join("&"));
    if let Ok(new) = rewritten.parse() {
        *uri = new;
    }
}

/// The answer to a request the mock acted on, broken as `fault` says.
async fn spoil(fault: &Fault, answer: Response) -> Response {
    let status = answer.status();
    let body = match fault.mode {
        FaultMode::ResetAfter => return severed(),
        FaultMode::StallAfter => {
            tokio::time::sleep(fault.delay).await;
            return answer;
        }
        FaultMode::Malformed => {
            return json_text(status, Bytes::from_static(b"{\"r\": <html>oops"));
        }
        _ => to_bytes(answer.into_body(), MAX_BODY)
            .await
            .unwrap_or_default(),
    };
    match fault.mode {
        FaultMode::Truncate => json_text(status, body.slice(..body.len() / 2)),
        FaultMode::WrongShape => {
            let inner = serde_json::from_slice::<Value>(&body).unwrap_or_default();
            let payload = inner.get("r").cloned().unwrap_or(inner);
            json_text(
                status,
                Bytes::from(json!({ "result": payload }).to_string()),
            )
        }
        FaultMode::ReplayEvents => {
            let mut v = serde_json::from_slice::<Value>(&body).unwrap_or_default();
            if let Some(Value::Array(events)) = v.pointer_mut("/r/events") {
                let mut twice: Vec<Value> = events.iter().rev().cloned().collect();
                twice.append(events);
                *events = twice;
            }
            json_text(status, Bytes::from(v.to_string()))
        }
        _ => json_text(status, body),
    }
}

fn json_text(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `apikey` header check (only on matched API routes: unknown routes are a plain 404).
async fn auth(State(inner): State<Shared>, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get("apikey")
        // A non-ASCII key can't be a valid one.
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    match key {
        None | Some("") => detail(StatusCode::UNAUTHORIZED, "Missing API key"),
        Some(FORBIDDEN_KEY) => detail(
            StatusCode::FORBIDDEN,
            "This feature is not available on your current plan",
        ),
        Some(k) if inner.cfg.api_key.as_deref().is_some_and(|want| want != k) => {
            detail(StatusCode::UNAUTHORIZED, "Invalid API key")
        }
        Some(_) => next.run(req).await,
    }
}

// ---------------------------------------------------------------------------------------
// Body and query parsing

fn parse_json_body(body: &Bytes) -> Result<Value, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid(vec![verr(
            &[json!("body")],
            "Field required",
            "missing",
            Some(&Value::Null),
        )]));
    }
    serde_json::from_slice(body).map_err(|e| {
        invalid(vec![json!({
            "type": "json_invalid",
            "loc": ["body", e.column().saturating_sub(1)],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": e.to_string()},
        })])
    })
}

fn json_object(v: &Value) -> Result<&Map<String, Value>, Response> {
    v.as_object().ok_or_else(|| {
        invalid(vec![verr(
            &[json!("body")],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
            Some(v),
        )])
    })
}

type QueryMap = Result<Query<HashMap<String, String>>, QueryRejection>;

fn query_map(q: QueryMap) -> Result<HashMap<String, String>, Response> {
    q.map(|Query(m)| m).map_err(|e| {
        invalid(vec![verr(
            &[json!("query")],
            e.body_text(),
            "value_error",
            None,
        )])
    })
}

fn query_int(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, Response> {
    let Some(raw) = q.get(name) else {
        return Ok(None);
    };
    raw.trim().parse::<i64>().map(Some).map_err(|_| {
        invalid(vec![verr(
            &[json!("query"), json!(name)],
            "Input should be a valid integer, unable to parse string as an integer",
            "int_parsing",
            Some(&json!(raw)),
        )])
    })
}

fn query_bool(q: &HashMap<String, String>, name: &str) -> Result<Option<bool>, Response> {
    let Some(raw) = q.get(name) else {
        return Ok(None);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Some(true)),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(Some(false)),
        _ => Err(invalid(vec![verr(
            &[json!("query"), json!(name)],
            "Input should be a valid boolean, unable to interpret input",
            "bool_parsing",
            Some(&json!(raw)),
        )])),
    }
}

/// Pydantic-like checks of one JSON object, collecting every error.
struct Check<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<Value>,
}

impl<'a> Check<'a> {
    fn new(obj: &'a Map<String, Value>) -> Check<'a> {
        Check {
            obj,
            errors: Vec::new(),
        }
    }

    fn present(&self, k: &str) -> Option<&'a Value> {
        self.obj.get(k).filter(|v| !v.is_null())
    }

    fn fail(&mut self, loc: Vec<Value>, msg: impl Into<String>, kind: &str, input: &Value) {
        self.errors.push(verr(&loc, msg, kind, Some(input)));
    }

    fn opt_str(&mut self, k: &str) -> Option<String> {
        match self.present(k)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.fail(
                    body_loc(k),
                    "Input should be a valid string",
                    "string_type",
                    other,
                );
                None
            }
        }
    }

    fn opt_object(&mut self, k: &str) -> Option<&'a Map<String, Value>> {
        match self.present(k)? {
            Value::Object(o) => Some(o),
            other => {
                self.fail(
                    body_loc(k),
                    "Input should be a valid dictionary",
                    "dict_type",
                    other,
                );
                None
            }
        }
    }

    /// `nullable`: JSON null is accepted (and means the default).
    fn boolean(&mut self, k: &str, default: bool, nullable: bool) -> bool {
        match self.obj.get(k) {
            None => default,
            Some(Value::Null) if nullable => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.fail(
                    body_loc(k),
                    "Input should be a valid boolean",
                    "bool_type",
                    other,
                );
                default
            }
        }
    }

    fn opt_str_list(&mut self, k: &str) -> Option<Vec<String>> {
        let v = self.present(k)?;
        let Some(items) = v.as_array() else {
            self.fail(body_loc(k), "Input should be a valid list", "list_type", v);
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s) => out.push(s.to_string()),
                None => self.fail(
                    vec![json!("body"), json!(k), json!(i)],
                    "Input should be a valid string",
                    "string_type",
                    item,
                ),
            }
        }
        Some(out)
    }

    fn literal(&mut self, k: &str, allowed: &[&str], default: &str) -> String {
        let Some(v) = self.obj.get(k) else {
            return default.to_string();
        };
        match v.as_str() {
            Some(s) if allowed.contains(&s) => s.to_string(),
            _ => {
                let expected = quote_list(allowed);
                self.errors.push(json!({
                    "type": "literal_error",
                    "loc": ["body", k],
                    "msg": format!("Input should be {expected}"),
                    "input": v,
                    "ctx": {"expected": expected},
                }));
                default.to_string()
            }
        }
    }

    fn int_range(&mut self, k: &str, min: i64, max: i64, default: i64) -> i64 {
        let Some(v) = self.obj.get(k) else {
            return default;
        };
        let n = match v {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            }),
            _ => None,
        };
        let Some(n) = n else {
            let (msg, kind) = if v.is_number() {
                (
                    "Input should be a valid integer, got a number with a fractional part",
                    "int_from_float",
                )
            } else {
                ("Input should be a valid integer", "int_type")
            };
            self.fail(body_loc(k), msg, kind, v);
            return default;
        };
        if n < min {
            self.errors.push(json!({"type": "greater_than_equal", "loc": ["body", k],
                "msg": format!("Input should be greater than or equal to {min}"), "input": v, "ctx": {"ge": min}}));
            default
        } else if n > max {
            self.errors.push(json!({"type": "less_than_equal", "loc": ["body", k],
                "msg": format!("Input should be less than or equal to {max}"), "input": v, "ctx": {"le": max}}));
            default
        } else {
            n
        }
    }
}

fn quote_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

struct ValidTask {
    spec: TaskSpec,
    files: Vec<String>,
    extensions: Vec<String>,
}

fn validate_task(obj: &Map<String, Value>) -> Result<ValidTask, Vec<Value>> {
    let mut c = Check::new(obj);
    let task = c.opt_str("task");
    if let Some(text) = &task {
        for error in directives::parse(text).errors {
            c.fail(
                body_loc("task"),
                format!("Value error, {error}"),
                "value_error",
                &json!(text),
            );
        }
    }
    let response_model = c.opt_object("response_model").cloned().map(Value::Object);
    let url = c.opt_str("url");
    if let Some(metadata) = c.opt_object("metadata") {
        if metadata.len() > 16 {
            c.errors.push(json!({"type": "too_long", "loc": ["body", "metadata"],
                "msg": format!("Dictionary should have at most 16 items after validation, not {}", metadata.len()),
                "input": metadata, "ctx": {"field_type": "Dictionary", "max_length": 16, "actual_length": metadata.len()}}));
        }
        for (key, value) in metadata {
            let loc = vec![json!("body"), json!("metadata"), json!(key)];
            match value {
                Value::String(s) if s.chars().count() > 2048 => c.errors.push(json!({
                    "type": "string_too_long", "loc": loc,
                    "msg": "String should have at most 2048 characters",
                    "input": value, "ctx": {"max_length": 2048}})),
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
                other => c.fail(
                    loc,
                    "Input should be a valid string, number or boolean",
                    "union_type",
                    other,
                ),
            }
        }
    }
    let files = c.opt_str_list("files").unwrap_or_default();
    // Validated only: both agents behave the same in the mock.
    c.literal("agent", &["smooth", "smooth-lite"], "smooth");
    let max_steps = c.int_range("max_steps", 2, 128, 32);
    let device = c.literal("device", &["desktop", "mobile", "desktop-lg"], "desktop");
    c.opt_str_list("allowed_urls");
    let enable_recording = c.boolean("enable_recording", true, false);
    let profile_id = c.opt_str("profile_id");
    let profile_read_only = c.boolean("profile_read_only", false, false);
    for k in ["stealth_mode", "show_cursor"] {
        c.boolean(k, false, false);
    }
    for k in ["use_stealth", "use_adblock", "use_captcha_solver"] {
        c.boolean(k, true, true);
    }
    for k in ["proxy_server", "proxy_username", "proxy_password"] {
        c.opt_str(k);
    }
    if let Some(certs) = c.present("certificates") {
        match certs.as_array() {
            Some(items) => {
                for (i, cert) in items.iter().enumerate() {
                    if !cert.get("file").is_some_and(Value::is_string) {
                        c.fail(
                            vec![
                                json!("body"),
                                json!("certificates"),
                                json!(i),
                                json!("file"),
                            ],
                            "Field required",
                            "missing",
                            cert,
                        );
                    }
                }
            }
            None => c.fail(
                body_loc("certificates"),
                "Input should be a valid list",
                "list_type",
                certs,
            ),
        }
    }
    let mut downloads = Contents::default();
    if let Some(tools) = c.opt_object("additional_tools") {
        for (name, config) in tools {
            if !(config.is_object() || config.is_null()) {
                c.fail(
                    vec![json!("body"), json!("additional_tools"), json!(name)],
                    "Input should be a valid dictionary",
                    "dict_type",
                    config,
                );
            }
            downloads.screenshot |= name == "screenshot";
            downloads.page |= name == "print_page";
        }
    }
    // Validated only: the agent calls what the task text's directives say.
    if let Some(tools) = c.present("custom_tools") {
        match tools.as_array() {
            Some(items) => {
                for (i, tool) in items.iter().enumerate() {
                    let loc =
                        |f: &str| vec![json!("body"), json!("custom_tools"), json!(i), json!(f)];
                    let Some(t) = tool.as_object() else {
                        c.fail(
                            vec![json!("body"), json!("custom_tools"), json!(i)],
                            "Input should be a valid dictionary or instance of ToolSignature",
                            "model_type",
                            tool,
                        );
                        continue;
                    };
                    for f in ["name", "description", "output"] {
                        match t.get(f) {
                            Some(Value::String(_)) => {}
                            Some(other) => c.fail(
                                loc(f),
                                "Input should be a valid string",
                                "string_type",
                                other,
                            ),
                            None => c.fail(loc(f), "Field required", "missing", tool),
                        }
                    }
                    match t.get("inputs") {
                        Some(Value::Object(_)) => {}
                        Some(other) => c.fail(
                            loc("inputs"),
                            "Input should be a valid dictionary",
                            "dict_type",
                            other,
                        ),
                        None => c.fail(loc("inputs"), "Field required", "missing", tool),
                    }
                }
            }
            None => c.fail(
                body_loc("custom_tools"),
                "Input should be a valid list",
                "list_type",
                tools,
            ),
        }
    }
    c.opt_object("experimental_features");
    let extensions = c.opt_str_list("extensions").unwrap_or_default();
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    Ok(ValidTask {
        spec: TaskSpec {
            task,
            response_model,
            url,
            max_steps: max_steps as u32,
            device,
            enable_recording,
            profile_id,
            profile_read_only,
            downloads,
        },
        files,
        extensions,
    })
}

// ---------------------------------------------------------------------------------------
// Tasks

async fn create_task(State(inner): State<Shared>, body: Bytes) -> Res {
    let value = parse_json_body(&body)?;
    let obj = json_object(&value)?;
    let valid = validate_task(obj).map_err(invalid)?;
    if valid.spec.task.is_none() && valid.spec.url.is_some() {
        return Err(detail(
            StatusCode::BAD_REQUEST,
            "A session cannot take a start url: create it with url null, then navigate with a \
             goto browser_action",
        ));
    }
    let now = Instant::now();
    let env = inner.env();
    let mut world = inner.world();
    let mut errors = Vec::new();
    for (field, ids) in [("files", &valid.files), ("extensions", &valid.extensions)] {
        for (i, id) in ids.iter().enumerate() {
            let known = match field {
                "files" => world.files.contains_key(id),
                _ => world.extensions.iter().any(|e| &e.id == id),
            };
            if !known {
                let what = if field == "files" {
                    "file"
                } else {
                    "extension"
                };
                errors.push(verr(
                    &[json!("body"), json!(field), json!(i)],
                    format!("Unknown {what} id: {id}"),
                    "value_error",
                    Some(&json!(id)),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    if let Some(pid) = &valid.spec.profile_id
        && !world.profiles.iter().any(|p| &p.id == pid)
    {
        return Err(detail(
            StatusCode::NOT_FOUND,
            format!("Profile not found: {pid}"),
        ));
    }
    world.advance_all(now, &env);
    if world.live_count() >= inner.cfg.max_live_browsers {
        return Err(detail(
            StatusCode::TOO_MANY_REQUESTS,
            "Concurrent browser limit reached for your plan",
        ));
    }
    let (id, seq) = world.next_task_id();
    let mut task = Task::new(id.clone(), seq, valid.spec, now, &inner.cfg);
    task.advance(now, &env, &mut world.profiles);
    let body = task.to_json(now, &env, None, None);
    world.created.push(id.clone());
    world.tasks.insert(id, task);
    Ok(ok(body))
}

async fn list_tasks(State(inner): State<Shared>, q: QueryMap) -> Res {
    let q = query_map(q)?;
    let before = query_int(&q, "t")?;
    let limit = query_int(&q, "l")?.unwrap_or(32);
    if !(1..=128).contains(&limit) {
        let (kind, msg, ctx) = if limit < 1 {
            (
                "greater_than_equal",
                "Input should be greater than or equal to 1",
                json!({"ge": 1}),
            )
        } else {
            (
                "less_than_equal",
                "Input should be less than or equal to 128",
                json!({"le": 128}),
            )
        };
        return Err(invalid(vec![
            json!({"type": kind, "loc": ["query", "l"], "msg": msg,
            "input": q.get("l"), "ctx": ctx}),
        ]));
    }
    let now = Instant::now();
    let env = inner.env();
    let mut world = inner.world();
    world.advance_all(now, &env);
    let mut tasks: Vec<&Task> = world
        .tasks
        .values()
        .filter(|t| before.is_none_or(|b| t.created_unix(&inner.clock) < b))
        .collect();
    tasks.sort_by_key(|t| std::cmp::Reverse(t.seq));
    let list: Vec<Value> = tasks
        .iter()
        .take(limit as usize)
        .map(|t| t.to_json(now, &env, None, None))
        .collect();
    Ok(ok(Value::Array(list)))
}

fn task_not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Task not found")
}

async fn get_task(
    State(inner): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: QueryMap,
) -> Res {
    let q = query_map(q)?;
    let event_t = query_int(&q, "event_t")?.unwrap_or(0);
    let downloads_host = query_bool(&q, "downloads")?
        .unwrap_or(false)
        .then(|| downloads::request_host(&headers, inner.addr));
    let long_poll = inner.cfg.long_poll;
    let deadline = Instant::now() + long_poll;
    let mut shutdown = inner.shutdown.subscribe();
    let mut first_status = None;
    loop {
        let (mut changed, next) = {
            let now = Instant::now();
            let env = inner.env();
            let mut world = inner.world();
            let task = world
                .advance_task(&id, now, &env)
                .ok_or_else(task_not_found)?;
            let status = task.status();
            let initial = *first_status.get_or_insert(status);
            let answer_now = long_poll.is_zero()
                || status.is_terminal()
                || status != initial
                || task.has_events_after(event_t)
                || now >= deadline
                || *shutdown.borrow();
            if answer_now {
                let body = task.to_json(now, &env, Some(event_t), downloads_host.as_deref());
                task.mark_served();
                let code = if status.is_terminal() {
                    StatusCode::OK
                } else {
                    StatusCode::ACCEPTED
                };
                return Ok((code, Json(json!({ "r": body }))).into_response());
            }
            (task.subscribe(), task.next_due())
        };
        let wake = next.map_or(deadline, |n| n.min(deadline));
        tokio::select! {
            _ = changed.changed() => {}
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn delete_task(State(inner): State<Shared>, Path(id): Path<String>) -> Res {
    let now = Instant::now();
    let env = inner.env();
    let mut world = inner.world();
    match world.cancel_task(&id, now, &env) {
        None => Err(task_not_found()),
        Some(false) => Err(detail(
            StatusCode::NOT_FOUND,
            "Task not found or already finished",
        )),
        Some(true) => Ok(ok(json!(true))),
    }
}

async fn post_event(State(inner): State<Shared>, Path(id): Path<String>, body: Bytes) -> Res {
    let value = parse_json_body(&body)?;
    let obj = json_object(&value)?;
    let mut errors = Vec::new();
    let name = match obj.get("name") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(other) => {
            errors.push(verr(
                &body_loc("name"),
                "Input should be a valid string",
                "string_type",
                Some(other),
            ));
            None
        }
        None => {
            errors.push(verr(
                &body_loc("name"),
                "Field required",
                "missing",
                Some(&value),
            ));
            None
        }
    };
    let payload = match obj.get("payload") {
        Some(Value::Object(p)) => Some(p),
        Some(other) => {
            errors.push(verr(
                &body_loc("payload"),
                "Input should be a valid dictionary",
                "dict_type",
                Some(other),
            ));
            None
        }
        None => {
            errors.push(verr(
                &body_loc("payload"),
                "Field required",
                "missing",
                Some(&value),
            ));
            None
        }
    };
    let event_id = match obj.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errors.push(verr(
                &body_loc("id"),
                "Input should be a valid string",
                "string_type",
                Some(other),
            ));
            None
        }
    };
    let (Some(name), Some(payload), true) = (name, payload, errors.is_empty()) else {
        return Err(invalid(errors));
    };
    let now = Instant::now();
    let env = inner.env();
    let mut world = inner.world();
    let task = world
        .advance_task(&id, now, &env)
        .ok_or_else(task_not_found)?;
    let event_id = event_id.unwrap_or_else(|| format!("evt_{}", random_id(16)));
    task.post_event(now, &inner.cfg, name, &event_id, payload)
        .map_err(|Rejected(msg)| detail(StatusCode::BAD_REQUEST, msg))?;
    Ok(ok(json!({ "id": event_id })))
}

// ---------------------------------------------------------------------------------------
// Profiles

async fn create_profile(State(inner): State<Shared>, body: Bytes) -> Res {
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_json_body(&body)?
    };
    let obj = json_object(&value)?;
    let mut c = Check::new(obj);
    let requested = c.opt_str("id").filter(|s| !s.is_empty());
    if !c.errors.is_empty() {
        return Err(invalid(c.errors));
    }
    let mut world = inner.world();
    let id = match requested {
        Some(id) if world.profiles.iter().any(|p| p.id == id) => {
            return Err(detail(
                StatusCode::CONFLICT,
                format!("Profile already exists: {id}"),
            ));
        }
        Some(id) => id,
        None => loop {
            let id = format!("profile-{}", random_lower(12));
            if !world.profiles.iter().any(|p| p.id == id) {
                break id;
            }
        },
    };
    let profile = Profile::new(id);
    let body = profile.to_json();
    world.profiles.push(profile);
    Ok(ok(body))
}

async fn list_profiles(State(inner): State<Shared>) -> Response {
    let now = Instant::now();
    let env = inner.env();
    let mut world = inner.world();
    world.advance_all(now, &env);
    ok(Value::Array(
        world.profiles.iter().map(Profile::to_json).collect(),
    ))
}

async fn delete_profile(State(inner): State<Shared>, Path(id): Path<String>) -> Res {
    remove_first(
        &mut inner.world().profiles,
        |p| p.id == id,
        "Profile not found",
    )
}

/// `DELETE` of a listed resource: `true`, or 404 with `missing` when nothing matches.
fn remove_first<T>(items: &mut Vec<T>, matches: impl Fn(&T) -> bool, missing: &str) -> Res {
    let i = items
        .iter()
        .position(matches)
        .ok_or_else(|| detail(StatusCode::NOT_FOUND, missing))?;
    items.remove(i);
    Ok(ok(json!(true)))
}

// ---------------------------------------------------------------------------------------
// Files and extensions

async fn read_upload(req: Request) -> Result<Upload, String> {
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| e.body_text())?;
    let mut upload = Upload {
        file_name: None,
        has_file_part: false,
        size: 0,
        purpose: None,
    };
    while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
        match field.name() {
            Some("file") if !upload.has_file_part => {
                upload.has_file_part = true;
                upload.file_name = field.file_name().map(str::to_string);
                upload.size = field.bytes().await.map_err(|e| e.body_text())?.len();
            }
            Some("file_purpose") => {
                upload.purpose = Some(field.text().await.map_err(|e| e.body_text())?);
            }
            _ => {
                field.bytes().await.map_err(|e| e.body_text())?;
            }
        }
    }
    Ok(upload)
}

/// The upload parsed by [`front`], validated like FastAPI's `UploadFile` + `Form`.
fn uploaded(req: &Request) -> Result<Upload, Response> {
    let missing = || {
        invalid(vec![verr(
            &body_loc("file"),
            "Field required",
            "missing",
            None,
        )])
    };
    let parsed = req.extensions().get::<ParsedUpload>().ok_or_else(missing)?;
    let upload = match parsed.0.as_ref() {
        Ok(u) => u.clone(),
        Err(msg) => {
            return Err(invalid(vec![verr(
                &[json!("body")],
                msg.clone(),
                "value_error",
                None,
            )]));
        }
    };
    if !upload.has_file_part {
        return Err(missing());
    }
    if upload.file_name.as_deref().is_none_or(str::is_empty) {
        return Err(invalid(vec![verr(
            &body_loc("file"),
            "Value error, Expected UploadFile, received: <class 'str'>",
            "value_error",
            None,
        )]));
    }
    if let Some(purpose) = &upload.purpose
        && purpose.chars().count() > 64
    {
        return Err(invalid(vec![
            json!({"type": "string_too_long", "loc": ["body", "file_purpose"],
            "msg": "String should have at most 64 characters", "input": purpose,
            "ctx": {"max_length": 64}}),
        ]));
    }
    Ok(upload)
}

async fn upload_file(State(inner): State<Shared>, req: Request) -> Res {
    let upload = uploaded(&req)?;
    let mut world = inner.world();
    let id = loop {
        let id = format!("file-{}", random_lower(16));
        if !world.files.contains_key(&id) {
            break id;
        }
    };
    world.files.insert(
        id.clone(),
        FileRec {
            file_name: upload.file_name.unwrap_or_default(),
            size: upload.size,
            purpose: upload.purpose,
        },
    );
    Ok(ok(json!({ "id": id })))
}

async fn delete_file(State(inner): State<Shared>, Path(id): Path<String>) -> Res {
    match inner.world().files.remove(&id) {
        Some(_) => Ok(ok(json!(true))),
        None => Err(detail(StatusCode::NOT_FOUND, "File not found")),
    }
}

async fn upload_extension(State(inner): State<Shared>, req: Request) -> Res {
    let upload = uploaded(&req)?;
    let file_name = upload.file_name.unwrap_or_default();
    if !file_name.to_ascii_lowercase().ends_with(".zip") {
        return Err(invalid(vec![verr(
            &body_loc("file"),
            "Value error, the extension must be a .zip file",
            "value_error",
            Some(&json!(file_name)),
        )]));
    }
    let now = Instant::now();
    let mut world = inner.world();
    let id = loop {
        let id = format!("ext-{}", random_lower(16));
        if !world.extensions.iter().any(|e| e.id == id) {
            break id;
        }
    };
    world.extensions.push(ExtensionRec {
        id: id.clone(),
        file_name,
        creation_time: inner.clock.unix(now),
    });
    Ok(ok(json!({ "id": id })))
}

async fn list_extensions(State(inner): State<Shared>) -> Response {
    let world = inner.world();
    ok(Value::Array(
        world
            .extensions
            .iter()
            .map(
                |e| json!({"id": e.id, "file_name": e.file_name, "creation_time": e.creation_time}),
            )
            .collect(),
    ))
}

async fn delete_extension(State(inner): State<Shared>, Path(id): Path<String>) -> Res {
    remove_first(
        &mut inner.world().extensions,
        |e| e.id == id,
        "Extension not found",
    )
}

// ---------------------------------------------------------------------------------------
// Control surface

async fn control_requests(State(inner): State<Shared>) -> Json<Vec<RecordedRequest>> {
    Json(inner.requests())
}

async fn control_faults(State(inner): State<Shared>) -> Json<Vec<Fault>> {
    Json(inner.faults())
}

async fn control_add_fault(State(inner): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            inner.add_fault(fault);
            Json(json!({"ok": true})).into_response()
        }
        Err(e) => detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid fault: {e}"),
        ),
    }
}

async fn control_reset(State(inner): State<Shared>) -> Json<Value> {
    inner.reset();
    Json(json!({"ok": true}))
}

async fn control_restart(State(inner): State<Shared>) -> Json<Value> {
    inner.restart();
    Json(json!({"ok": true}))
}

async fn control_task(State(inner): State<Shared>, Path(id): Path<String>) -> Response {
    match inner.task_status(&id) {
        Some(status) => Json(json!({"id": id, "status": status})).into_response(),
        None => task_not_found(),
    }
}
