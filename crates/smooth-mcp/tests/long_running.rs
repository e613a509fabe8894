#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! Long-running work: bounded waits, progress, cancellation, MCP Tasks, session lifecycle.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientRequest, GetTaskParams,
    Request, ServerResult, TaskPayload, TaskStatus,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use serde_json::{Value, json};
use smooth_mock::MockSmooth;
use support::{BIN, Launch, Server, fast_mock, spawn_against, start_mock, text};

fn params(name: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_owned()).with_arguments(args.as_object().cloned().unwrap())
}

/// Waits (bounded) for the mock to have seen something; a signal, not a timing claim.
async fn eventually(mock: &MockSmooth, what: &str, check: impl Fn(&MockSmooth) -> bool) {
    for _ in 0..300 {
        if check(mock) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}; requests: {:#?}", mock.requests());
}

/// Ids of tasks the mock has been polled for.
fn polled_ids(mock: &MockSmooth) -> Vec<String> {
    let mut ids: Vec<String> = mock
        .requests()
        .into_iter()
        .filter(|q| q.method == "GET")
        .filter_map(|q| q.path.strip_prefix("/task/").map(str::to_owned))
        .collect();
    ids.dedup();
    ids
}

fn closed(mock: &MockSmooth, id: &str) -> bool {
    mock.count("DELETE", &format!("/task/{id}")) > 0
        || mock.requests().iter().any(|q| {
            q.path == format!("/task/{id}/event")
                && q.body
                    .as_ref()
                    .is_some_and(|b| b["payload"]["name"] == "close")
        })
}

#[tokio::test]
async fn a_client_with_a_short_timeout_still_gets_a_long_task() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let short = || PeerRequestOptions::with_timeout(Duration::from_secs(5));
    let call = |name: &str, args: Value| {
        let req = ClientRequest::CallToolRequest(Request::new(params(name, args)));
        let peer = server.client.peer().clone();
        let opts = short();
        async move {
            match peer
                .send_request_with_option(req, opts)
                .await?
                .await_response()
                .await?
            {
                ServerResult::CallToolResult(r) => Ok::<_, ServiceError>(r),
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    let first = call(
        "run_browser_task",
        json!({"task": "A 30 second job [mock:duration=30s]", "wait_seconds": 3}),
    )
    .await
    .expect("answered within the client's timeout");
    let r = first.structured_content.unwrap();
    assert_eq!(r["status"], "running");
    let id = r["task_id"].as_str().unwrap().to_owned();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 40, "task never finished");
        let r = call("get_task", json!({"task_id": id, "wait_seconds": 3}))
            .await
            .expect("every get_task answers within the client's timeout")
            .structured_content
            .unwrap();
        if r["status"] == "done" {
            assert!(r["output"].as_str().unwrap().contains("A 30 second job"));
            break;
        }
        assert_eq!(r["status"], "running", "{r}");
    }
    assert_eq!(mock.count("POST", "/task"), 1);
    assert_eq!(mock.count("DELETE", &format!("/task/{id}")), 0);
}

#[tokio::test]
async fn progress_is_reported_while_a_task_runs() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "watch me [mock:duration=2s]", "wait_seconds": 20}),
        )
        .await;
    assert_eq!(r["status"], "done");
    let id = r["task_id"].as_str().unwrap();
    let progress = server.recorder.progress.lock().unwrap().clone();
    assert!(
        progress.len() >= 3,
        "heartbeats while running: {progress:?}"
    );
    let first = progress[0].message.clone().unwrap_or_default();
    assert!(
        first.contains(&format!("https://live.mock.smooth.sh/{id}")),
        "the first notification carries the live URL: {first}"
    );
    for pair in progress.windows(2) {
        assert!(
            pair[1].progress > pair[0].progress,
            "strictly increasing: {progress:?}"
        );
    }
    assert!(
        progress
            .iter()
            .any(|p| p.message.as_deref().unwrap_or("").contains("running"))
    );
}

#[tokio::test]
async fn cancelling_the_request_cancels_the_task_upstream() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let req = ClientRequest::CallToolRequest(Request::new(params(
        "run_browser_task",
        json!({"task": "long [mock:duration=30s]", "wait_seconds": 30}),
    )));
    // The client's timeout sends notifications/cancelled for the request.
    let outcome = server
        .client
        .peer()
        .send_request_with_option(
            req,
            PeerRequestOptions::with_timeout(Duration::from_millis(1500)),
        )
        .await
        .unwrap()
        .await_response()
        .await;
    assert!(
        matches!(outcome, Err(ServiceError::Timeout { .. })),
        "{outcome:?}"
    );
    eventually(&mock, "the task was polled", |m| !polled_ids(m).is_empty()).await;
    let id = polled_ids(&mock)[0].clone();
    eventually(&mock, "the task was cancelled upstream", |m| {
        m.task_status(&id).as_deref() == Some("cancelled")
    })
    .await;
    // The server is still fine.
    let r = server
        .ok("get_task", json!({"task_id": id, "wait_seconds": 0}))
        .await;
    assert_eq!(r["status"], "cancelled");
    assert_eq!(
        mock.count("DELETE", &format!("/task/{id}")),
        1,
        "exactly one DELETE"
    );
}

async fn poll_mcp_task(server: &Server, task_id: &str) -> TaskPayload {
    for _ in 0..400 {
        let t = server
            .client
            .get_task(GetTaskParams::new(task_id.to_owned()))
            .await
            .expect("tasks/get");
        if t.task.status() != TaskStatus::Working {
            return t.task.payload;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("MCP task never settled");
}

#[tokio::test]
async fn clients_with_the_tasks_extension_get_mcp_tasks() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(
        &mock,
        Launch {
            tasks: true,
            ..Launch::default()
        },
    )
    .await;

    // create → poll → result
    let created = server
        .client
        .call_tool_once(params(
            "run_browser_task",
            json!({"task": "as a task [mock:duration=1s]"}),
        ))
        .await
        .unwrap();
    let CallToolResponse::Task(created) = created else {
        panic!("expected a task, got {created:?}");
    };
    let payload = poll_mcp_task(&server, &created.task.task_id).await;
    let TaskPayload::Completed { result } = payload else {
        panic!("expected completion, got {payload:?}");
    };
    assert_eq!(result["structuredContent"]["status"], "done", "{result:?}");
    assert!(
        result["structuredContent"]["output"]
            .as_str()
            .unwrap()
            .contains("as a task")
    );

    // create → cancel: the Smooth task is cancelled too.
    let before = polled_ids(&mock);
    let created = server
        .client
        .call_tool_once(params(
            "run_browser_task",
            json!({"task": "cancel me [mock:duration=30s]"}),
        ))
        .await
        .unwrap();
    let CallToolResponse::Task(created) = created else {
        panic!("expected a task");
    };
    eventually(&mock, "the second task was polled", |m| {
        polled_ids(m).iter().any(|i| !before.contains(i))
    })
    .await;
    let smooth_id = polled_ids(&mock)
        .into_iter()
        .find(|i| !before.contains(i))
        .unwrap();
    server
        .client
        .cancel_task(CancelTaskParams::new(created.task.task_id.clone()))
        .await
        .unwrap();
    let payload = poll_mcp_task(&server, &created.task.task_id).await;
    assert!(matches!(payload, TaskPayload::Cancelled), "{payload:?}");
    assert_eq!(mock.count("DELETE", &format!("/task/{smooth_id}")), 1);

    // Other tools still answer directly.
    let r = server
        .ok("cancel_task", json!({"task_id": smooth_id}))
        .await;
    assert_eq!(r["status"], "cancelled");
}

#[tokio::test]
async fn idle_sessions_are_reaped_and_say_so() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(
        &mock,
        Launch::with_args(vec!["--idle-session-minutes", "0.01"]),
    )
    .await;
    let s = server.ok("open_session", json!({})).await;
    let id = s["session_id"].as_str().unwrap().to_owned();
    eventually(&mock, "the idle session was closed", |m| closed(m, &id)).await;
    let e = server
        .err(
            "session_action",
            json!({"session_id": id, "action": "goto", "url": "https://example.com"}),
        )
        .await;
    assert!(
        e.contains("closed by this server") && e.contains("open_session"),
        "{e}"
    );
}

#[tokio::test]
async fn sessions_are_closed_when_the_client_goes_away() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let a = server.ok("open_session", json!({})).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = server.ok("open_session", json!({})).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = server.quit().await;
    assert!(status.success(), "{status:?}");
    assert!(
        closed(&mock, &a) && closed(&mock, &b),
        "{:#?}",
        mock.requests()
    );
}

#[tokio::test]
async fn keep_sessions_leaves_them_open() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--keep-sessions"])).await;
    let a = server.ok("open_session", json!({})).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, stderr) = server.quit().await;
    assert!(status.success());
    assert!(!closed(&mock, &a));
    assert_eq!(mock.task_status(&a).as_deref(), Some("running"));
    assert!(stderr.contains("--keep-sessions"), "{stderr}");
}

#[tokio::test]
async fn sigterm_closes_sessions_too() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let a = server.ok("open_session", json!({})).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    support::sigterm(&server.child);
    eventually(&mock, "the session was closed on SIGTERM", |m| {
        closed(m, &a)
    })
    .await;
}

#[tokio::test]
async fn list_sessions_shows_ours_and_the_accounts() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let other = spawn_against(&mock, Launch::default()).await;
    let ours = server.ok("open_session", json!({})).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = other.ok("open_session", json!({})).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = server.ok("list_sessions", json!({})).await;
    let sessions = list["sessions"].as_array().unwrap();
    let find = |id: &str| sessions.iter().find(|s| s["session_id"] == id).cloned();
    let mine = find(&ours).expect("ours listed");
    assert_eq!(mine["opened_here"], true);
    assert!(mine["live_url"].as_str().unwrap().contains(&ours));
    assert!(mine["age_seconds"].is_number() && mine["idle_seconds"].is_number());
    let foreign = find(&theirs).expect("the other process's session listed");
    assert_eq!(foreign["opened_here"], false);
    server
        .ok(
            "session_action",
            json!({"session_id": ours, "action": "close"}),
        )
        .await;
    let list = server.ok("list_sessions", json!({})).await;
    assert!(
        list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["session_id"] != ours.as_str())
    );
}

#[tokio::test]
async fn finished_tasks_carry_recording_downloads_and_cost() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let r = server
        .call(
            "run_browser_task",
            json!({"task": "get the report [mock:download]", "include_downloads": true, "wait_seconds": 20}),
        )
        .await;
    let s = r.structured_content.clone().unwrap();
    assert_eq!(s["status"], "done");
    let downloads = s["downloads_url"].as_str().unwrap();
    // The mock serves the archive itself, at a presigned-style link.
    let served_at = format!("http://{}/_downloads/", mock.addr());
    assert!(downloads.starts_with(&served_at), "{s}");
    assert!(s["recording_url"].as_str().unwrap().starts_with("https://"));
    assert!(s["cost_usd"].as_f64().unwrap() > 0.0);
    let links: Vec<String> = r
        .content
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter(|v| v["type"] == "resource_link")
        .map(|v| v["uri"].as_str().unwrap().to_owned())
        .collect();
    assert!(links.contains(&downloads.to_owned()), "{links:?}");
    // The text block says the same as the structured content.
    let text_json: Value = serde_json::from_str(text(&r).lines().next().unwrap()).unwrap();
    assert_eq!(text_json, s);
}

#[tokio::test]
async fn the_max_steps_cap_is_a_cost_bound() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--max-steps-cap", "10"])).await;
    let e = server
        .err("run_browser_task", json!({"task": "x", "max_steps": 20}))
        .await;
    assert!(e.contains("between 2 and 10"), "{e}");
    server
        .ok("run_browser_task", json!({"task": "x", "max_steps": 10}))
        .await;
}

/// A raw JSON-RPC conversation: stdout carries nothing else (even at debug level), no progress
/// is sent without a token, and a malformed line does not bring the server down
/// (the call after it is answered).
#[test]
fn stdout_is_json_rpc_only() {
    let mut child = Command::new(BIN)
        .args(["--mock", "--log-level", "debug", "--poll-interval", "0.1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = [
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}).to_string(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        "this is not json".to_owned(),
        json!({"jsonrpc": "2.0", "id": "call", "method": "tools/call", "params": {"name": "run_browser_task", "arguments": {"task": "raw [mock:duration=1s]", "wait_seconds": 20}}}).to_string(),
    ];
    for l in &lines {
        writeln!(stdin, "{l}").unwrap();
    }
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "stdout closed early: {seen:?}"
        );
        let msg: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        assert_eq!(msg["jsonrpc"], "2.0", "{msg}");
        let done = msg["id"] == "call";
        seen.push(msg);
        if done {
            break;
        }
    }
    drop(stdin);
    let _ = child.wait();
    assert!(
        seen.iter().all(|m| m["method"] != "notifications/progress"),
        "no token, no progress"
    );
    let result = &seen.last().unwrap()["result"];
    assert_eq!(result["structuredContent"]["status"], "done", "{result}");
}

#[tokio::test]
async fn a_session_run_task_runs_as_an_mcp_task() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(
        &mock,
        Launch {
            tasks: true,
            ..Launch::default()
        },
    )
    .await;
    // Other actions answer directly, even for a tasks-capable client.
    let s = server.ok("open_session", json!({})).await;
    let id = s["session_id"].as_str().unwrap().to_owned();
    let created = server
        .client
        .call_tool_once(params(
            "session_action",
            json!({"session_id": id, "action": "run_task", "task": "inside a session"}),
        ))
        .await
        .unwrap();
    let CallToolResponse::Task(created) = created else {
        panic!("expected a task, got {created:?}");
    };
    let payload = poll_mcp_task(&server, &created.task.task_id).await;
    let TaskPayload::Completed { result } = payload else {
        panic!("expected completion, got {payload:?}");
    };
    assert_eq!(result["structuredContent"]["action"], "run_task");
    assert!(
        result["structuredContent"]["output"]
            .as_str()
            .unwrap()
            .contains("inside a session")
    );
    server
        .ok(
            "session_action",
            json!({"session_id": id, "action": "close"}),
        )
        .await;
}

#[tokio::test]
async fn mcp_tasks_can_be_turned_off_for_clients_that_cannot_handle_them() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(
        &mock,
        Launch {
            args: vec!["--mcp-tasks", "off"],
            tasks: true,
            ..Launch::default()
        },
    )
    .await;
    let caps = &server.client.peer_info().unwrap().capabilities;
    assert!(!caps.supports_tasks(), "{caps:?}");
    let r = server
        .client
        .call_tool_once(params("run_browser_task", json!({"task": "direct"})))
        .await
        .unwrap();
    let CallToolResponse::Complete(r) = r else {
        panic!("expected a direct result, got {r:?}");
    };
    assert_eq!(r.structured_content.unwrap()["status"], "done");
}

/// Answers Smooth gave for this task once it had ended (200: ended, 202: live).
fn ended_gets(mock: &MockSmooth, id: &str) -> usize {
    mock.requests()
        .iter()
        .filter(|q| q.method == "GET" && q.path == format!("/task/{id}") && q.status == 200)
        .count()
}

/// A mock that holds polls of a live task (as Smooth does), its recording `delay` late; the
/// task runs at once, so the first poll is held until the end.
fn long_poll_mock(delay: Duration) -> smooth_mock::MockConfig {
    smooth_mock::MockConfig {
        long_poll: Duration::from_secs(60),
        recording_delay: delay,
        waiting: Duration::ZERO,
        run_time: Duration::from_secs(1),
        ..fast_mock()
    }
}

#[tokio::test]
async fn a_result_returns_as_soon_as_the_recording_link_is_there() {
    // Ready at the end: the poll that sees the end has it, and nothing more is asked.
    let mock = start_mock(long_poll_mock(Duration::ZERO)).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let s = server
        .ok("run_browser_task", json!({"task": "t", "wait_seconds": 30}))
        .await;
    let id = s["task_id"].as_str().unwrap();
    assert!(
        s["recording_url"].as_str().unwrap().starts_with("https://"),
        "{s}"
    );
    assert_eq!(ended_gets(&mock, id), 1, "{:#?}", mock.requests());
    assert!(s.get("next_step").is_none_or(Value::is_null), "{s}");

    // Ready 0.3 s after the end, polled every 1 s: the watcher's next poll brings it (no
    // separate fast loop), and the result returns with it: the poll that saw the end and
    // that one.
    let mock = start_mock(long_poll_mock(Duration::from_millis(300))).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--poll-interval", "1"])).await;
    let s = server
        .ok("run_browser_task", json!({"task": "t", "wait_seconds": 30}))
        .await;
    let id = s["task_id"].as_str().unwrap();
    assert!(
        s["recording_url"].as_str().unwrap().starts_with("https://"),
        "{s}"
    );
    assert_eq!(ended_gets(&mock, id), 2, "{:#?}", mock.requests());
}

#[tokio::test]
async fn a_link_that_does_not_come_in_time_is_null_and_get_task_has_it_later() {
    let mock = start_mock(long_poll_mock(Duration::from_secs(3600))).await;
    let server = spawn_against(
        &mock,
        Launch::with_args(vec!["--artifact-wait-seconds", "1"]),
    )
    .await;
    let s = server
        .ok("run_browser_task", json!({"task": "t", "wait_seconds": 30}))
        .await;
    assert_eq!(s["status"], "done");
    assert!(s["recording_url"].is_null(), "{s}");
    let step = s["next_step"].as_str().unwrap();
    assert!(
        step.contains("get_task") && step.contains("recording"),
        "{step}"
    );
}

#[tokio::test]
async fn get_task_reads_the_running_pollers_state_without_a_get_of_its_own() {
    // The recording never comes: run_browser_task keeps the poller going after the end,
    // looking once every 30 s, while get_task is called.
    let mock = start_mock(long_poll_mock(Duration::from_secs(3600))).await;
    let server = spawn_against(
        &mock,
        Launch::with_args(vec![
            "--poll-interval",
            "30",
            "--artifact-wait-seconds",
            "25",
        ]),
    )
    .await;
    let peer = server.client.peer().clone();
    let waiting = tokio::spawn(async move {
        peer.call_tool(params(
            "run_browser_task",
            json!({"task": "t", "wait_seconds": 50}),
        ))
        .await
    });
    eventually(&mock, "a poll saw the end", |m| {
        m.requests()
            .iter()
            .any(|q| q.method == "GET" && q.path.starts_with("/task/") && q.status == 200)
    })
    .await;
    let id = polled_ids(&mock)[0].clone();
    let before = mock.count("GET", &format!("/task/{id}"));
    let s = server
        .ok("get_task", json!({"task_id": id, "wait_seconds": 0}))
        .await;
    assert_eq!(s["status"], "done");
    assert!(s["recording_url"].is_null(), "{s}");
    assert_eq!(
        mock.count("GET", &format!("/task/{id}")),
        before,
        "{:#?}",
        mock.requests()
    );
    waiting.abort();
}
