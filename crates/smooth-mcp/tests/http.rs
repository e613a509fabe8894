#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! The Streamable HTTP transport, black-box: the real binary on a free port, driven by rmcp's
//! client and by raw HTTP, against the in-process mock Smooth API.

mod support;

use std::collections::HashMap;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use smooth_mock::MockSmooth;
use support::{capture_stderr, fast_mock, sigterm, text};
use tokio::process::{Child, Command};

const TOKEN: &str = "test-token-6f1d0c9a8b7e4d21";
const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;

async fn mock() -> MockSmooth {
    MockSmooth::start(fast_mock()).await.expect("mock starts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

struct Server {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

/// Starts the binary on `--listen <listen>` with `args` and `env` (plus a minimal environment).
fn launch(
    listen: &str,
    mock: &MockSmooth,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, Arc<Mutex<String>>) {
    let mut cmd = Command::new(support::BIN);
    cmd.args([
        "--transport",
        "http",
        "--listen",
        listen,
        "--poll-interval",
        "0.1",
    ])
    .args(args)
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .env("HOME", std::env::var("HOME").unwrap_or_default())
    .env("SMOOTH_BASE_URL", mock.base_url())
    .envs(env.iter().copied())
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd.spawn().expect("binary starts");
    let stderr = capture_stderr(child.stderr.take().expect("stderr piped"));
    (child, stderr)
}

/// Starts the server on a free loopback port and waits until `/healthz` answers.
async fn start(mock: &MockSmooth, args: &[&str], env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let (mut child, stderr) = launch(&format!("127.0.0.1:{port}"), mock, args, env);
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Some(status) = child.try_wait().expect("poll child") {
            panic!("server exited early ({status}): {}", stderr.lock().unwrap());
        }
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            && r.status() == 200
        {
            return Server {
                child,
                port,
                stderr,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not come up: {}", stderr.lock().unwrap());
}

impl Server {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// An rmcp client with the right token and these extra headers.
    async fn client(&self, headers: &[(&'static str, &str)]) -> RunningService<RoleClient, ()> {
        let custom: HashMap<HeaderName, HeaderValue> = headers
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_static(k),
                    HeaderValue::from_str(v).expect("header value"),
                )
            })
            .collect();
        let config = StreamableHttpClientTransportConfig::with_uri(self.url())
            .auth_header(TOKEN)
            .custom_headers(custom);
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("client initializes")
    }

    /// A raw MCP POST (an `initialize`) with these headers.
    async fn post(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .post(self.url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(INIT);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("server answers")
    }

    async fn sigterm_and_wait(mut self) -> (ExitStatus, String) {
        sigterm(&self.child);
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("server exits after SIGTERM")
            .expect("wait");
        tokio::time::sleep(Duration::from_millis(50)).await;
        (status, self.stderr())
    }
}

const BEARER: &str = "Bearer test-token-6f1d0c9a8b7e4d21";

async fn call(client: &RunningService<RoleClient, ()>, name: &str, args: Value) -> CallToolResult {
    let params = CallToolRequestParams::new(name.to_owned())
        .with_arguments(args.as_object().cloned().expect("object"));
    client.call_tool(params).await.expect("tools/call answered")
}

/// A successful call's structured content.
async fn ok(client: &RunningService<RoleClient, ()>, name: &str, args: Value) -> Value {
    let r = call(client, name, args).await;
    assert_ne!(r.is_error, Some(true), "{name} failed: {}", text(&r));
    r.structured_content.clone().expect("structured content")
}

#[tokio::test]
async fn healthz_is_open_and_reveals_nothing() {
    let mock = mock().await;
    let server = start(
        &mock,
        &["--auth-token", TOKEN],
        &[("SMOOTH_API_KEY", "server-key-1")],
    )
    .await;
    let r = reqwest::get(format!("http://127.0.0.1:{}/healthz", server.port))
        .await
        .expect("healthz answers");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let raw = body.to_string();
    assert!(!raw.contains(TOKEN) && !raw.contains("server-key-1"));
}

#[tokio::test]
async fn mcp_requires_the_bearer_token() {
    let mock = mock().await;
    let server = start(
        &mock,
        &["--auth-token", &format!("other-token-aaaaaaaaaaaa,{TOKEN}")],
        &[("SMOOTH_API_KEY", "k")],
    )
    .await;

    let none = server.post(&[]).await;
    assert_eq!(none.status(), 401);
    let challenge = none
        .headers()
        .get("www-authenticate")
        .expect("challenge")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");

    let wrong = server
        .post(&[("authorization", "Bearer test-token-6f1d0c9a8b7e4d2")])
        .await;
    assert_eq!(wrong.status(), 401);
    let basic = server.post(&[("authorization", "Basic dGVzdA==")]).await;
    assert_eq!(basic.status(), 401);

    // Either configured token works, and a real client gets through with it.
    assert_eq!(
        server.post(&[("authorization", BEARER)]).await.status(),
        200
    );
    assert_eq!(
        server
            .post(&[("authorization", "Bearer other-token-aaaaaaaaaaaa")])
            .await
            .status(),
        200
    );
    let client = server.client(&[]).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "run_browser_task"));

    // rmcp's client without the token is refused.
    let anonymous = ().serve(StreamableHttpClientTransport::from_uri(server.url())).await;
    assert!(
        anonymous.is_err(),
        "a client without the token must not connect"
    );
}

#[tokio::test]
async fn foreign_origin_is_forbidden() {
    let mock = mock().await;
    let server = start(
        &mock,
        &[
            "--auth-token",
            TOKEN,
            "--allowed-origin",
            "https://app.example.com",
        ],
        &[("SMOOTH_API_KEY", "k")],
    )
    .await;
    let evil = server
        .post(&[
            ("authorization", BEARER),
            ("origin", "https://evil.example"),
        ])
        .await;
    assert_eq!(evil.status(), 403);
    let null = server
        .post(&[("authorization", BEARER), ("origin", "null")])
        .await;
    assert_eq!(null.status(), 403);
    // Listed and loopback origins pass; so do requests without an Origin.
    for origin in ["https://app.example.com", "http://localhost:6274"] {
        let r = server
            .post(&[("authorization", BEARER), ("origin", origin)])
            .await;
        assert_eq!(r.status(), 200, "{origin}");
    }
    assert_eq!(
        server.post(&[("authorization", BEARER)]).await.status(),
        200
    );
}

#[tokio::test]
async fn foreign_host_is_rejected() {
    let mock = mock().await;
    let server = start(
        &mock,
        &["--allowed-host", "mcp.example.com"],
        &[("SMOOTH_API_KEY", "k")],
    )
    .await;
    let evil = server.post(&[("host", "evil.example")]).await;
    assert_eq!(evil.status(), 403);
    let rebound = server
        .post(&[("host", &format!("attacker.example:{}", server.port))])
        .await;
    assert_eq!(rebound.status(), 403);
    assert_eq!(
        server.post(&[("host", "mcp.example.com")]).await.status(),
        200
    );
    assert_eq!(
        server
            .post(&[("host", &format!("localhost:{}", server.port))])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn refuses_a_public_address_without_a_token() {
    let mock = mock().await;
    let (mut child, stderr) = launch(
        &format!("0.0.0.0:{}", free_port()),
        &mock,
        &[],
        &[("SMOOTH_API_KEY", "k")],
    );
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits")
        .expect("wait");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = stderr.lock().unwrap().clone();
    assert!(!status.success());
    assert!(err.contains("refusing to listen on 0.0.0.0"), "{err}");
    assert!(err.contains("SMOOTH_MCP_AUTH_TOKEN"), "{err}");
    assert_eq!(mock.requests().len(), 0);
}

#[tokio::test]
async fn a_client_key_is_used_for_its_request_and_never_logged() {
    const CLIENT_KEY: &str = "sk-client-7Hq2ZpXw9vLr";
    let mock = mock().await;
    // No server key: client keys only.
    let server = start(
        &mock,
        &[
            "--client-keys",
            "--auth-token",
            TOKEN,
            "--log-level",
            "debug",
        ],
        &[],
    )
    .await;

    let client = server.client(&[("x-smooth-api-key", CLIENT_KEY)]).await;
    let done = ok(
        &client,
        "run_browser_task",
        json!({"task": "find the title of example.com"}),
    )
    .await;
    assert_eq!(done["status"], "done", "{done}");
    let requests = mock.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.apikey.as_deref() == Some(CLIENT_KEY)),
        "{requests:?}"
    );

    // Without the header there is no key at all: the usual tool error.
    let keyless = server.client(&[]).await;
    let r = call(&keyless, "run_browser_task", json!({"task": "anything"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("No Smooth API key"), "{}", text(&r));
    assert_eq!(mock.count("POST", "/task"), 1);

    // A blank key is refused rather than silently replaced by another account's.
    let blank = server
        .post(&[("authorization", BEARER), ("x-smooth-api-key", " ")])
        .await;
    assert_eq!(blank.status(), 400);

    let logs = server.stderr();
    assert!(logs.contains("DEBUG"), "debug logging is on");
    assert!(
        !logs.contains(CLIENT_KEY),
        "the client key leaked into the logs"
    );
    assert!(
        !logs.contains(TOKEN),
        "the bearer token leaked into the logs"
    );
}

#[tokio::test]
async fn a_client_key_is_refused_unless_enabled() {
    let mock = mock().await;
    let server = start(&mock, &[], &[("SMOOTH_API_KEY", "server-key")]).await;
    let r = server.post(&[("x-smooth-api-key", "sk-someone")]).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap_or_default().contains("--client-keys"));
}

#[tokio::test]
async fn two_stateless_replicas_serve_one_session() {
    let mock = mock().await;
    let key = [("SMOOTH_API_KEY", "team-key")];
    let args = ["--stateless", "--auth-token", TOKEN];
    let (first, second) = tokio::join!(start(&mock, &args, &key), start(&mock, &args, &key));

    // Stateless: no MCP session is handed out.
    let init = first.post(&[("authorization", BEARER)]).await;
    assert_eq!(init.status(), 200);
    assert!(init.headers().get("mcp-session-id").is_none());

    let a = first.client(&[]).await;
    let b = second.client(&[]).await;
    let opened = ok(&a, "open_session", json!({"url": "https://example.com"})).await;
    let id = opened["session_id"]
        .as_str()
        .expect("session id")
        .to_owned();

    let moved = ok(
        &b,
        "session_action",
        json!({"session_id": id, "action": "goto", "url": "https://example.org"}),
    )
    .await;
    assert_eq!(moved["status"], "done", "{moved}");
    let closed = ok(
        &b,
        "session_action",
        json!({"session_id": id, "action": "close"}),
    )
    .await;
    assert_eq!(closed["status"], "done", "{closed}");

    assert_eq!(mock.count("POST", "/task"), 1);
    assert!(mock.count("POST", &format!("/task/{id}/event")) >= 2);
    let status = mock.task_status(&id).expect("known task");
    assert!(
        !matches!(status.as_str(), "waiting" | "running"),
        "session still live: {status}"
    );
}

/// Over HTTP nothing is written: a task's files are resources that any replica reads from
/// Smooth, byte for byte, for the account that can see the task.
#[tokio::test]
async fn task_files_are_resources_any_replica_reads() {
    use base64::Engine;
    use rmcp::model::{ReadResourceRequestParams, ResourceContents};
    let mock = mock().await;
    let key = [("SMOOTH_API_KEY", "test-key")];
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap().to_owned();
    let args = [
        "--stateless",
        "--auth-token",
        TOKEN,
        "--allow-dir",
        home_str.as_str(),
    ];
    let (first, second) = tokio::join!(start(&mock, &args, &key), start(&mock, &args, &key));
    let a = first.client(&[]).await;
    let b = second.client(&[]).await;
    let run = call(
        &a,
        "run_browser_task",
        json!({"task": "Get the invoice [mock:download]", "screenshot": true, "wait_seconds": 30}),
    )
    .await;
    assert_ne!(run.is_error, Some(true), "{}", text(&run));
    let r = run.structured_content.clone().unwrap();
    let id = r["task_id"].as_str().unwrap();
    assert!(r.get("files_dir").is_none(), "{r}");
    let expected = support::archive_of(&mock, id).await;
    let files = r["files"].as_array().unwrap();
    assert_eq!(files.len(), expected.len(), "{r}");
    assert!(
        run.content.iter().any(|c| c.as_image().is_some()),
        "the screenshot is shown"
    );
    for f in files {
        let uri = f["uri"].as_str().unwrap();
        assert!(uri.starts_with("smooth://tasks/"), "{uri}");
        let read = b
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .expect("resources/read on the other replica");
        let bytes = match &read.contents[0] {
            ResourceContents::BlobResourceContents { blob, .. } => {
                base64::engine::general_purpose::STANDARD
                    .decode(blob)
                    .unwrap()
            }
            ResourceContents::TextResourceContents { text, .. } => text.clone().into_bytes(),
            other => panic!("unexpected contents {other:?}"),
        };
        assert_eq!(bytes, expected[f["name"].as_str().unwrap()], "{uri}");
    }
    // Nothing was saved on the server's side.
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
    // A task this account cannot see, and a name that is not there, are errors.
    let unknown = b
        .read_resource(ReadResourceRequestParams::new(
            "smooth://tasks/no-such-task/files/report.csv",
        ))
        .await;
    assert!(unknown.is_err(), "{unknown:?}");
    let missing = b
        .read_resource(ReadResourceRequestParams::new(format!(
            "smooth://tasks/{id}/files/nothing.txt"
        )))
        .await;
    assert!(missing.is_err(), "{missing:?}");
    let templates = b.list_resource_templates(None).await.unwrap();
    assert_eq!(
        templates.resource_templates[0].uri_template,
        "smooth://tasks/{task_id}/files/{name}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_an_in_flight_call_finish() {
    let mock = mock().await;
    let server = start(&mock, &["--stateless"], &[("SMOOTH_API_KEY", "k")]).await;
    let client = server.client(&[]).await;
    let running = tokio::spawn(async move {
        let r = call(
            &client,
            "run_browser_task",
            json!({"task": "a slow one [mock:duration=1s]"}),
        )
        .await;
        (r, client)
    });
    // Signal once the task exists upstream, i.e. the call is in flight.
    while mock.count("POST", "/task") == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, logs) = server.sigterm_and_wait().await;
    let (r, _client) = running.await.expect("call task");
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    assert_eq!(
        r.structured_content.as_ref().expect("structured")["status"],
        "done"
    );
    assert!(status.success(), "{status}: {logs}");
    assert!(logs.contains("waiting for in-flight calls"), "{logs}");
    assert_eq!(
        mock.count("DELETE", "/task/*"),
        0,
        "the task must not be cancelled"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let mock = mock().await;
    let server = start(&mock, &["--max-body-mb", "1"], &[("SMOOTH_API_KEY", "k")]).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(1_100_000)
    );
    let r = reqwest::Client::new()
        .post(server.url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(big)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 413);
}

/// The secret sweep over HTTP: raw JSON-RPC bodies and the logs never hold a secret value,
/// though the agent echoes it (the mock's type_secret) and Smooth receives it.
#[tokio::test]
async fn a_secret_never_appears_in_http_responses_or_logs() {
    secret_sweep(&[]).await;
}

/// The same sweep with `--log-format json`: every line is a JSON object, the tool calls'
/// lines carry their request and task ids, and none holds the secret.
#[tokio::test]
async fn json_logs_carry_call_ids_and_never_a_secret() {
    let stderr = secret_sweep(&["--log-format", "json"]).await;
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() > 10, "{stderr}");
    let calls: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "tool_call")
        .collect();
    assert!(!calls.is_empty(), "no line of a tool call: {stderr}");
    for line in &calls {
        let id = line["span"]["request_id"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 36, "a uuid request id: {line}");
    }
    // Once the task exists, the run_browser_task call's lines name it.
    assert!(
        calls.iter().any(|l| l["span"]["tool"] == "run_browser_task"
            && l["span"]["task_id"].as_str().is_some_and(|t| !t.is_empty())),
        "{stderr}"
    );
}

/// Runs the sweep with `extra` flags; returns the server's stderr.
async fn secret_sweep(extra: &[&str]) -> String {
    const SENTINEL: &str = "hunter2-SENTINEL-over-http";
    let mock = mock().await;
    let mut args = vec![
        "--stateless",
        "--secret",
        "bank=env:BANK_PW@https://bank.example/*",
        "--log-level",
        "trace",
    ];
    args.extend_from_slice(extra);
    let server = start(
        &mock,
        &args,
        &[("SMOOTH_API_KEY", "k"), ("BANK_PW", SENTINEL)],
    )
    .await;
    let http = reqwest::Client::new();
    let rpc = |id: u64, method: &str, params: Value| {
        http.post(server.url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
            )
            .send()
    };
    let mut bodies = Vec::new();
    let init = rpc(
        1,
        "initialize",
        serde_json::from_str::<Value>(INIT).unwrap()["params"].clone(),
    )
    .await
    .expect("initialize answered");
    bodies.push(init.text().await.unwrap());
    for (id, name, args) in [
        (2, "list_secrets", json!({})),
        (
            3,
            "run_browser_task",
            json!({"task": "Log in [mock:type_secret=bank]", "secrets": ["bank"], "wait_seconds": 30}),
        ),
    ] {
        let r = rpc(id, "tools/call", json!({"name": name, "arguments": args}))
            .await
            .expect("tools/call answered");
        assert_eq!(r.status(), 200);
        bodies.push(r.text().await.unwrap());
    }
    assert!(
        bodies[1].contains("https://bank.example/*"),
        "{}",
        bodies[1]
    );
    assert!(bodies[2].contains("[secret:bank]"), "{}", bodies[2]);
    let sent = mock
        .requests()
        .into_iter()
        .filter_map(|q| q.body)
        .any(|b| b.to_string().contains(SENTINEL));
    assert!(sent, "Smooth got the value");
    let (_, stderr) = server.sigterm_and_wait().await;
    for body in &bodies {
        assert!(
            !body.contains(SENTINEL),
            "a response held the secret: {body}"
        );
    }
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "verbose logs"
    );
    assert!(!stderr.contains(SENTINEL), "the logs held the secret");
    stderr
}

/// Scrapes `/metrics` after calls and refusals: the counts move, and no label holds the key,
/// the token, a task's text, a task id or a URL query.
#[tokio::test]
async fn metrics_count_calls_and_never_label_a_secret() {
    const KEY: &str = "server-key-metrics-9f8e";
    const TASK_TEXT: &str = "Find the price of zebra-7c1";
    const QUERY: &str = "query-secret-4b2";
    let mock = mock().await;
    let server = start(
        &mock,
        &["--auth-token", TOKEN, "--max-body-mb", "1"],
        &[("SMOOTH_API_KEY", KEY)],
    )
    .await;
    let http = reqwest::Client::new();
    let metrics_url = format!("http://127.0.0.1:{}/metrics", server.port);
    let anonymous = http.get(&metrics_url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "protected like /mcp");

    let client = server.client(&[]).await;
    let run = ok(
        &client,
        "run_browser_task",
        json!({"task": TASK_TEXT, "url": format!("https://shop.example/search?q={QUERY}"),
               "wait_seconds": 30}),
    )
    .await;
    assert_eq!(run["status"], "done", "{run}");
    let id = run["task_id"].as_str().unwrap().to_owned();
    ok(&client, "get_task", json!({"task_id": id})).await;
    let missing = call(&client, "get_task", json!({"task_id": "t-no-such-task"})).await;
    assert_eq!(missing.is_error, Some(true), "{}", text(&missing));

    // Refusals: no token, a foreign Host, a foreign Origin, a body over the cap.
    assert_eq!(server.post(&[]).await.status(), 401);
    let host = server
        .post(&[("authorization", BEARER), ("host", "evil.example")])
        .await;
    assert_eq!(host.status(), 403);
    let origin = server
        .post(&[
            ("authorization", BEARER),
            ("origin", "https://evil.example"),
        ])
        .await;
    assert_eq!(origin.status(), 403);
    let big = http
        .post(server.url())
        .header("authorization", BEARER)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);

    let scraped = http
        .get(&metrics_url)
        .header("authorization", BEARER)
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let body = scraped.text().await.unwrap();
    let value = |series: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{body}"))
            .parse()
            .unwrap()
    };
    let calls = "smooth_mcp_tool_calls_total";
    assert_eq!(
        value(&format!(
            "{calls}{{tool=\"run_browser_task\",outcome=\"ok\"}}"
        )),
        1.0
    );
    assert_eq!(
        value(&format!("{calls}{{tool=\"get_task\",outcome=\"ok\"}}")),
        1.0
    );
    assert_eq!(
        value(&format!(
            "{calls}{{tool=\"get_task\",outcome=\"tool_error\"}}"
        )),
        1.0
    );
    assert_eq!(
        value("smooth_mcp_tool_call_duration_seconds_count{tool=\"get_task\"}"),
        2.0
    );
    assert_eq!(
        value("smooth_mcp_tasks_started_total{kind=\"task\"}"),
        1.0,
        "{body}"
    );
    assert_eq!(
        value("smooth_mcp_tasks_finished_total{status=\"done\"}"),
        1.0,
        "{body}"
    );
    assert!(value("smooth_mcp_credits_used_total") > 0.0, "{body}");
    assert_eq!(value("smooth_mcp_open_sessions"), 0.0);
    assert!(
        body.contains(
            "smooth_mcp_upstream_requests_total{method=\"POST\",endpoint=\"/task\",status=\"2"
        ),
        "{body}"
    );
    assert!(
        body.contains("endpoint=\"/task/{id}\",status=\"404\"}"),
        "{body}"
    );
    for reason in ["host", "origin", "size"] {
        assert_eq!(
            value(&format!(
                "smooth_mcp_rejected_requests_total{{reason=\"{reason}\"}}"
            )),
            1.0,
            "{reason}"
        );
    }
    // The anonymous scrape and the anonymous POST.
    assert_eq!(
        value("smooth_mcp_rejected_requests_total{reason=\"auth\"}"),
        2.0
    );
    for leak in [
        KEY,
        TOKEN,
        "zebra-7c1",
        QUERY,
        id.as_str(),
        "t-no-such-task",
    ] {
        assert!(!body.contains(leak), "{leak} in\n{body}");
    }
    assert!(!body.contains('?'), "a URL query in\n{body}");
}

#[tokio::test]
async fn metrics_public_serves_metrics_without_the_token() {
    let mock = mock().await;
    let server = start(
        &mock,
        &["--auth-token", TOKEN, "--metrics-public"],
        &[("SMOOTH_API_KEY", "k")],
    )
    .await;
    let r = reqwest::get(format!("http://127.0.0.1:{}/metrics", server.port))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("smooth_mcp_open_sessions 0")
    );
    // /mcp still takes the token.
    assert_eq!(server.post(&[]).await.status(), 401);
}

#[tokio::test]
async fn limits_count_each_client_key_on_its_own() {
    const KEY_A: &str = "sk-client-a-4Jd9";
    const KEY_B: &str = "sk-client-b-8Lm2";
    const ENDLESS: &str = "Watch the page [mock:duration=86400s]";
    let mock = mock().await;
    let server = start(
        &mock,
        &[
            "--client-keys",
            "--auth-token",
            TOKEN,
            "--max-concurrent-tasks",
            "1",
        ],
        &[],
    )
    .await;
    let a = server.client(&[("x-smooth-api-key", KEY_A)]).await;
    let b = server.client(&[("x-smooth-api-key", KEY_B)]).await;
    let task_a = ok(
        &a,
        "run_browser_task",
        json!({"task": ENDLESS, "wait_seconds": 1}),
    )
    .await;
    let id_a = task_a["task_id"].as_str().unwrap().to_owned();
    // Another key is another account: its own limit.
    let task_b = ok(
        &b,
        "run_browser_task",
        json!({"task": ENDLESS, "wait_seconds": 1}),
    )
    .await;
    let id_b = task_b["task_id"].as_str().unwrap().to_owned();
    assert_eq!(mock.count("POST", "/task"), 2);

    let refused = call(&a, "run_browser_task", json!({"task": "one more"})).await;
    assert_eq!(refused.is_error, Some(true));
    let refused = text(&refused);
    assert!(refused.contains(&id_a), "{refused}");
    assert!(
        !refused.contains(&id_b),
        "another account's task is not shown: {refused}"
    );
    assert_eq!(mock.count("POST", "/task"), 2, "nothing was sent");

    let usage_a = ok(&a, "usage", json!({})).await;
    assert_eq!(usage_a["tasks_running"], json!([id_a]), "{usage_a}");
    let usage_b = ok(&b, "usage", json!({})).await;
    assert_eq!(usage_b["tasks_running"], json!([id_b]), "{usage_b}");
    let logs = server.stderr();
    assert!(
        !logs.contains(KEY_A) && !logs.contains(KEY_B),
        "no key in the logs"
    );
}
