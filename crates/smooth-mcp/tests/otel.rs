#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly
//! `--otlp-endpoint` (the `otel` feature): the binary exports its tool-call and Smooth
//! request spans to a collector made in the test, and nothing else.

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::json;
use support::{Launch, fast_mock, spawn_against, start_mock};

/// A stand-in OTLP/HTTP collector: keeps every body posted to `/v1/traces`.
async fn collector() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(got): State<Arc<Mutex<Vec<Bytes>>>>, body: Bytes| async move {
                    got.lock().unwrap().push(body);
                    ""
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test]
async fn spans_of_calls_and_requests_reach_the_collector() {
    const TASK_TEXT: &str = "Compare the prices of otter-5d3";
    let (url, got) = collector().await;
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--otlp-endpoint", &url])).await;
    let run = server
        .ok(
            "run_browser_task",
            json!({"task": TASK_TEXT, "wait_seconds": 30}),
        )
        .await;
    assert_eq!(run["status"], "done", "{run}");
    // Exiting flushes the batch.
    let (status, stderr) = server.quit().await;
    assert!(status.success(), "{stderr}");
    let bodies = got.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "no spans exported: {stderr}");
    // OTLP protobuf: strings travel as raw bytes.
    let all: Vec<u8> = bodies.concat();
    let has = |s: &str| all.windows(s.len()).any(|w| w == s.as_bytes());
    for expected in [
        "smooth-mcp",
        "tools/call run_browser_task",
        "gen_ai.tool.name",
        "POST /task",
        "GET /task/{id}",
        "http.request.method",
        "http.response.status_code",
        "url.template",
    ] {
        assert!(has(expected), "{expected} not exported");
    }
    for leak in ["otter-5d3", "test-key"] {
        assert!(!has(leak), "{leak} reached the collector");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn http_requests_get_server_spans_without_their_query() {
    let (url, got) = collector().await;
    let mock = start_mock(fast_mock()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(support::BIN)
        .args([
            "--transport",
            "http",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--otlp-endpoint", &url])
        .env("SMOOTH_BASE_URL", mock.base_url())
        .env("SMOOTH_API_KEY", "test-key")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stderr = support::capture_stderr(child.stderr.take().unwrap());
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "server did not come up: {}", stderr.lock().unwrap());
    let answer = http
        .post(format!("{base}/mcp?token=otter-q7"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    answer.text().await.unwrap();
    // Exiting flushes the batch.
    support::sigterm(&child);
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{}", stderr.lock().unwrap());

    let all: Vec<u8> = got.lock().unwrap().concat();
    let has = |s: &str| all.windows(s.len()).any(|w| w == s.as_bytes());
    for expected in [
        "POST /mcp",
        "http.route",
        "url.path",
        "network.protocol.version",
        "http.response.status_code",
    ] {
        assert!(has(expected), "{expected} not exported");
    }
    for leak in ["otter-q7", "test-key", "/healthz"] {
        assert!(!has(leak), "{leak} reached the collector");
    }
    let log = stderr.lock().unwrap().clone();
    assert!(
        !log.contains("http_request"),
        "request spans in the log:\n{log}"
    );
}
