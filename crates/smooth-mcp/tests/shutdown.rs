#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly
//! Shutdown keeps no one paying: a task whose id never reached a client is cancelled at
//! shutdown (nobody could follow or stop it); one whose id went out keeps running. Each
//! gets one log line. Through the real binary, on stdio and HTTP, against the mock.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use smooth_mock::{MockConfig, MockSmooth};
use support::{Launch, capture_stderr, fast_mock, sigterm, spawn_against, start_mock};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// Every mock request takes this long: long enough that a client can go away while
/// `POST /task` is still unanswered, and (on stdio) that the answer comes after rmcp has
/// stopped waiting for in-flight calls.
const SLOW: Duration = Duration::from_secs(2);

/// Waits (bounded) for the mock to have seen a `POST /task`: the call is mid-creation.
async fn until_creating(mock: &MockSmooth) {
    for _ in 0..1000 {
        if mock.count("POST", "/task") > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never sent POST /task");
}

/// Waits (bounded) for the child to exit, then for its log to hold `count` shutdown lines.
async fn exit_and_log(child: &mut Child, stderr: &Arc<Mutex<String>>, count: usize) -> String {
    let status = tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("the server exits")
        .expect("wait");
    assert!(status.success(), "{status}: {}", stderr.lock().unwrap());
    // The pipe may still hold the last lines when the process is gone.
    for _ in 0..200 {
        let log = stderr.lock().unwrap().clone();
        if log.matches("shutdown: task").count() >= count {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "fewer than {count} shutdown lines in the log:\n{}",
        stderr.lock().unwrap().clone()
    );
}

/// The shutdown line about `id`.
fn shutdown_line<'a>(log: &'a str, id: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains("shutdown: task") && l.contains(id))
        .unwrap_or_else(|| panic!("no shutdown line for task {id}:\n{log}"))
}

/// The id in the server's "task created" log line (the client never saw it).
fn created_id(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.contains("task created"))
        .unwrap_or_else(|| panic!("no task created:\n{log}"));
    let at = line.find("task=").expect("task field") + "task=".len();
    line[at..]
        .split_whitespace()
        .next()
        .expect("an id")
        .to_owned()
}

#[tokio::test]
async fn stdio_a_delivered_task_keeps_running_after_sigterm() {
    let mock = start_mock(fast_mock()).await;
    let mut server = spawn_against(&mock, Launch::default()).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "long [mock:duration=60s]", "wait_seconds": 1}),
        )
        .await;
    assert_eq!(r["status"], "running", "{r}");
    let id = r["task_id"].as_str().unwrap().to_owned();
    sigterm(&server.child);
    let stderr = server.stderr.clone();
    let log = exit_and_log(&mut server.child, &stderr, 1).await;
    assert!(shutdown_line(&log, &id).contains("left running"), "{log}");
    assert_eq!(mock.task_status(&id).as_deref(), Some("running"));
    assert_eq!(mock.count("DELETE", "/task/*"), 0);
}

/// A raw client (no progress token, so nothing but the result could carry the id) sends
/// `run_browser_task` and closes stdin while `POST /task` is unanswered.
#[tokio::test]
async fn stdio_a_task_created_after_the_client_left_is_cancelled() {
    let mock = start_mock(MockConfig {
        latency: SLOW,
        ..fast_mock()
    })
    .await;
    let mut child = Command::new(support::BIN)
        .args(["--poll-interval", "0.1"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMOOTH_BASE_URL", mock.base_url())
        .env("SMOOTH_API_KEY", "k")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stderr = capture_stderr(child.stderr.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    for line in [
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_browser_task", "arguments": {"task": "long [mock:duration=60s]", "wait_seconds": 60}}}),
    ] {
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }
    until_creating(&mock).await;
    drop(stdin);
    let log = exit_and_log(&mut child, &stderr, 1).await;
    let id = created_id(&log);
    assert!(shutdown_line(&log, &id).contains("cancelled"), "{log}");
    assert_eq!(mock.task_status(&id).as_deref(), Some("cancelled"));
    assert_eq!(mock.count("DELETE", &format!("/task/{id}")), 1);
}

/// HTTP: one task's id went out (a still-running result); another call is cut off by the
/// drain while its task runs, its id never sent. After SIGTERM the first keeps running and
/// the second is cancelled.
#[tokio::test]
async fn http_after_the_drain_only_undelivered_tasks_are_cancelled() {
    let mock = start_mock(fast_mock()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new(support::BIN)
        .args(["--transport", "http", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "--stateless",
            "--drain-seconds",
            "0.5",
            "--poll-interval",
            "0.1",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMOOTH_BASE_URL", mock.base_url())
        .env("SMOOTH_API_KEY", "k")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stderr = capture_stderr(child.stderr.take().unwrap());
    let url = format!("http://127.0.0.1:{port}/mcp");
    let http = reqwest::Client::new();
    // Raw JSON-RPC: no progress token, so only a result carries a task id.
    let rpc = |id: u64, method: &str, params: Value| {
        http.post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
            )
            .send()
    };
    let init = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}});
    let mut up = false;
    for _ in 0..400 {
        if let Ok(r) = rpc(0, "initialize", init.clone()).await
            && r.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "server did not come up: {}", stderr.lock().unwrap());
    let call = |id: u64, wait: u64| {
        rpc(
            id,
            "tools/call",
            json!({"name": "run_browser_task", "arguments": {"task": "long [mock:duration=60s]", "wait_seconds": wait}}),
        )
    };
    let first = call(1, 1).await.expect("answered").text().await.unwrap();
    assert!(first.contains("running"), "{first}");
    let delivered = created_id(&stderr.lock().unwrap());
    assert!(first.contains(&delivered), "{first}");
    let cut_off = tokio::spawn(call(2, 60));
    // The second task exists upstream, its call is in flight.
    for _ in 0..1000 {
        if mock.count("POST", "/task") == 2
            && stderr.lock().unwrap().matches("task created").count() == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sigterm(&child);
    let log = exit_and_log(&mut child, &stderr, 2).await;
    let _ = cut_off.await;
    let undelivered = log
        .lines()
        .filter(|l| l.contains("task created"))
        .map(created_id)
        .find(|id| *id != delivered)
        .expect("a second task");
    assert!(
        shutdown_line(&log, &delivered).contains("left running"),
        "{log}"
    );
    assert!(
        shutdown_line(&log, &undelivered).contains("cancelled"),
        "{log}"
    );
    assert_eq!(mock.task_status(&delivered).as_deref(), Some("running"));
    assert_eq!(mock.task_status(&undelivered).as_deref(), Some("cancelled"));
    assert_eq!(mock.count("DELETE", &format!("/task/{delivered}")), 0);
}

/// A call cut off by SIGTERM whose progress notifications already named its task: the id
/// went out, so the task keeps running.
#[tokio::test]
async fn stdio_a_task_named_in_progress_keeps_running_after_sigterm() {
    let mock = start_mock(fast_mock()).await;
    let mut server = spawn_against(&mock, Launch::default()).await;
    let peer = server.client.peer().clone();
    let call = tokio::spawn(async move {
        let params = rmcp::model::CallToolRequestParams::new("run_browser_task").with_arguments(
            json!({"task": "long [mock:duration=60s]", "wait_seconds": 60})
                .as_object()
                .cloned()
                .unwrap(),
        );
        peer.call_tool(params).await
    });
    let mut named = None;
    for _ in 0..1000 {
        named = server
            .recorder
            .progress
            .lock()
            .unwrap()
            .iter()
            .filter_map(|p| p.message.clone())
            .find(|m| m.contains("live.mock.smooth.sh"));
        if named.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let message = named.expect("a progress notification with the live URL");
    sigterm(&server.child);
    let stderr = server.stderr.clone();
    let log = exit_and_log(&mut server.child, &stderr, 1).await;
    let _ = call.await;
    let id = created_id(&log);
    assert!(message.contains(&id), "{message}");
    assert!(shutdown_line(&log, &id).contains("left running"), "{log}");
    assert_eq!(mock.task_status(&id).as_deref(), Some("running"));
    assert_eq!(mock.count("DELETE", "/task/*"), 0);
}
