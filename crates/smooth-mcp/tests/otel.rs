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
    let server = spawn_against(
        &mock,
        Launch {
            args: vec!["--otlp-endpoint", &url],
            ..Launch::default()
        },
    )
    .await;
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
