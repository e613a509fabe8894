#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! The core tools through the real binary on stdio, driven by rmcp's client, against the mock.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use smooth_mock::Fault;
use support::{Launch, fast_mock, spawn, spawn_against, start_mock};

const CORE_TOOLS: [&str; 6] = [
    "run_browser_task",
    "get_task",
    "cancel_task",
    "open_session",
    "session_action",
    "upload_file",
];

#[tokio::test]
async fn identifies_itself_and_lists_the_core_tools() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let info = server.client.peer_info().expect("initialized");
    let server_info = info.server_info.as_ref().expect("server info");
    assert_eq!(server_info.name, "smooth-mcp");
    assert_eq!(server_info.version, env!("CARGO_PKG_VERSION"));
    assert!(
        info.instructions
            .as_deref()
            .unwrap_or("")
            .contains("get_task")
    );
    let tools = server.client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for tool in CORE_TOOLS {
        assert!(names.contains(&tool), "{tool} missing from {names:?}");
    }
    for tool in &tools {
        assert!(
            tool.output_schema.is_some(),
            "{} has no output schema",
            tool.name
        );
        assert!(
            tool.annotations.is_some(),
            "{} has no annotations",
            tool.name
        );
    }
}

#[tokio::test]
async fn runs_a_task_to_its_result() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({
                "task": "Find the cheapest flight",
                "url": "https://example.com",
                "max_steps": 10,
                "device": "mobile",
                "metadata": {"from": "SFO", "adults": 2, "flexible": true},
                "allowed_urls": ["https://**.example.com/**"],
                "enable_recording": true,
                "wait_seconds": 20
            }),
        )
        .await;
    assert_eq!(r["status"], "done");
    assert!(
        r["output"]
            .as_str()
            .unwrap()
            .contains("Find the cheapest flight")
    );
    assert!(r["credits_used"].as_f64().unwrap() > 0.0);
    assert_eq!(
        r["cost_usd"].as_f64().unwrap(),
        r["credits_used"].as_f64().unwrap() / 100.0
    );
    assert!(r["recording_url"].as_str().unwrap().starts_with("https://"));
    assert!(r.get("next_step").is_none());

    let posts: Vec<Value> = mock
        .requests()
        .into_iter()
        .filter(|q| q.method == "POST" && q.path == "/task")
        .filter_map(|q| q.body)
        .collect();
    assert_eq!(posts.len(), 1, "exactly one task created");
    let body = &posts[0];
    assert_eq!(body["task"], "Find the cheapest flight");
    assert_eq!(body["device"], "mobile");
    assert_eq!(body["max_steps"], 10);
    assert_eq!(
        body["metadata"],
        json!({"from": "SFO", "adults": 2.0, "flexible": true})
    );
    assert!(
        body.get("profile_id").is_none(),
        "unset fields are not sent"
    );
    assert!(
        mock.requests()
            .iter()
            .all(|q| q.apikey.as_deref() == Some("test-key"))
    );
}

#[tokio::test]
async fn structured_output_follows_the_response_model() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({
                "task": "Price of the first product",
                "response_model": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
                    "required": ["name", "price"]
                }
            }),
        )
        .await;
    assert_eq!(r["status"], "done");
    assert!(r["output"]["name"].is_string(), "{r}");
    assert!(r["output"]["price"].is_number(), "{r}");
}

#[tokio::test]
async fn a_task_that_outlives_its_budget_is_picked_up_with_get_task() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "Slow job [mock:duration=3s]", "wait_seconds": 1}),
        )
        .await;
    assert!(
        matches!(r["status"].as_str(), Some("waiting" | "running")),
        "{r}"
    );
    let id = r["task_id"].as_str().unwrap().to_owned();
    let next = r["next_step"].as_str().unwrap();
    assert!(next.contains("get_task") && next.contains(&id), "{next}");
    assert!(r["live_url"].as_str().unwrap().contains(&id));

    // An immediate look, then a wait long enough for the end.
    let now = server
        .ok("get_task", json!({"task_id": id, "wait_seconds": 0}))
        .await;
    assert_eq!(now["task_id"], id.as_str());
    let done = server
        .ok("get_task", json!({"task_id": id, "wait_seconds": 20}))
        .await;
    assert_eq!(done["status"], "done");
    assert!(done["output"].as_str().unwrap().contains("Slow job"));
    assert_eq!(mock.count("POST", "/task"), 1);
}

#[tokio::test]
async fn a_failed_task_is_a_result_with_its_reason() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let r = server
        .ok("run_browser_task", json!({"task": "Doomed [mock:fail]"}))
        .await;
    assert_eq!(r["status"], "failed");
    assert!(r["output"].as_str().unwrap().contains("failed"));
}

#[tokio::test]
async fn cancel_task_stops_a_running_task_once() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "Long [mock:duration=30s]", "wait_seconds": 0}),
        )
        .await;
    let id = r["task_id"].as_str().unwrap().to_owned();
    let c = server.ok("cancel_task", json!({"task_id": id})).await;
    assert_eq!(c["status"], "cancelled");
    assert_eq!(mock.count("DELETE", &format!("/task/{id}")), 1);
    // Cancelling again reports how it ended instead of failing.
    let again = server.ok("cancel_task", json!({"task_id": id})).await;
    assert_eq!(again["status"], "cancelled");
}

#[tokio::test]
async fn unknown_agent_tool_calls_are_answered_with_400() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "Needs a tool [mock:tool_call=mystery_tool]", "wait_seconds": 20}),
        )
        .await;
    assert_eq!(r["status"], "done", "the agent was not left parked: {r}");
    let id = r["task_id"].as_str().unwrap();
    let answers: Vec<Value> = mock
        .requests()
        .into_iter()
        .filter(|q| q.method == "POST" && q.path == format!("/task/{id}/event"))
        .filter_map(|q| q.body)
        .filter(|b| b["name"] == "tool_call")
        .collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["payload"]["code"], 400);
}

#[tokio::test]
async fn a_session_goes_through_every_action() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let s = server
        .ok(
            "open_session",
            json!({"url": "https://example.com", "device": "desktop"}),
        )
        .await;
    let id = s["session_id"].as_str().unwrap().to_owned();
    assert_eq!(s["status"], "running");
    assert!(s["live_url"].as_str().unwrap().contains(&id));

    // A call that fills every field (as some clients generate) is a normal call: what the
    // action does not use is ignored, and the result says so.
    let goto = server
        .ok(
            "session_action",
            json!({
                "session_id": id, "action": "goto", "url": "https://example.org/page",
                "schema": {"type": "object"}, "prompt": "", "js": "", "args": null,
                "task": "", "max_steps": 0, "response_model": {}, "metadata": {},
                "force": false, "wait_seconds": 30
            }),
        )
        .await;
    assert_eq!(goto["status"], "done");
    assert_eq!(goto["action"], "goto");
    assert_eq!(
        goto["ignored"],
        json!([
            "schema",
            "prompt",
            "js",
            "task",
            "max_steps",
            "response_model",
            "metadata",
            "force"
        ]),
        "{goto}"
    );
    let sent = mock
        .requests()
        .into_iter()
        .rev()
        .filter_map(|q| q.body)
        .find(|b| b["payload"]["name"] == "goto")
        .unwrap();
    assert_eq!(
        sent["payload"]["input"],
        json!({"url": "https://example.org/page"})
    );

    let title = server
        .ok(
            "session_action",
            json!({"session_id": id, "action": "evaluate_js", "js": "document.title"}),
        )
        .await;
    assert!(
        title["output"]
            .as_str()
            .unwrap()
            .contains("https://example.org/page"),
        "{title}"
    );

    let data = server
        .ok(
            "session_action",
            json!({
                "session_id": id,
                "action": "extract",
                "schema": {"type": "object", "properties": {"headline": {"type": "string"}}},
                "prompt": "the main headline"
            }),
        )
        .await;
    assert!(data["output"]["headline"].is_string(), "{data}");
    assert!(data["session_credits_used"].is_number(), "{data}");

    let run = server
        .ok(
            "session_action",
            json!({"session_id": id, "action": "run_task", "task": "Summarise the page", "max_steps": 5}),
        )
        .await;
    assert_eq!(run["status"], "done");
    assert!(
        run["output"]
            .as_str()
            .unwrap()
            .contains("Summarise the page")
    );
    assert!(run["credits_used"].as_f64().unwrap() > 0.0);
    assert!(run["session_cost_usd"].is_number());

    // A failing action is a tool error and the session stays usable.
    let e = server
        .err(
            "session_action",
            json!({"session_id": id, "action": "evaluate_js", "js": "throw new Error('boom')"}),
        )
        .await;
    assert!(e.contains("boom") && e.contains("still open"), "{e}");

    let closed = server
        .ok(
            "session_action",
            json!({"session_id": id, "action": "close"}),
        )
        .await;
    assert_eq!(closed["output"], true);
    let close_events = mock
        .requests()
        .into_iter()
        .filter(|q| q.path == format!("/task/{id}/event"))
        .filter(|q| {
            q.body
                .as_ref()
                .is_some_and(|b| b["payload"]["name"] == "close")
        })
        .count();
    assert_eq!(close_events, 1);

    // Acting on a closed session is a clear error.
    let e = server
        .err(
            "session_action",
            json!({"session_id": id, "action": "goto", "url": "https://example.com"}),
        )
        .await;
    assert!(e.contains(&id), "{e}");
}

#[tokio::test]
async fn a_long_session_task_is_resumed_by_repeating_the_call() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let s = server.ok("open_session", json!({})).await;
    let id = s["session_id"].as_str().unwrap().to_owned();
    let call = json!({"session_id": id, "action": "run_task", "task": "Slow [mock:duration=2s]", "wait_seconds": 0});
    let first = server.ok("session_action", call.clone()).await;
    assert_eq!(first["status"], "running");
    assert!(first["next_step"].as_str().unwrap().contains("Repeat"));
    let mut again = call.clone();
    again["wait_seconds"] = json!(20);
    let done = server.ok("session_action", again).await;
    assert_eq!(done["status"], "done");
    let run_tasks = mock
        .requests()
        .into_iter()
        .filter(|q| {
            q.body
                .as_ref()
                .is_some_and(|b| b["payload"]["name"] == "run_task")
        })
        .count();
    assert_eq!(
        run_tasks, 1,
        "repeating the call did not start the task twice"
    );
    server
        .ok(
            "session_action",
            json!({"session_id": id, "action": "close"}),
        )
        .await;
}

#[tokio::test]
async fn upload_file_sends_a_file_under_the_allowed_root_only() {
    let mock = start_mock(fast_mock()).await;
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("cv.pdf"), b"%PDF-1.4 hello").unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"top secret").unwrap();
    let dir = root.path().to_str().unwrap();
    let server = spawn_against(
        &mock,
        Launch::with_args(vec!["--allow-dir", dir, "--max-upload-mb", "1"]),
    )
    .await;
    let path = root.path().join("cv.pdf");
    let up = server
        .ok(
            "upload_file",
            json!({"path": path.to_str().unwrap(), "purpose": "resume to attach"}),
        )
        .await;
    assert_eq!(up["name"], "cv.pdf");
    assert_eq!(up["size_bytes"], 14);
    assert!(up["file_id"].as_str().unwrap().len() > 3);
    let sent = mock
        .requests()
        .into_iter()
        .find(|q| q.path == "/file")
        .and_then(|q| q.body)
        .unwrap();
    assert_eq!(sent["file_name"], "cv.pdf");
    assert_eq!(sent["file_purpose"], "resume to attach");

    let before = mock.requests().len();
    let secret = outside.path().join("secret.txt");
    let e = server
        .err("upload_file", json!({"path": secret.to_str().unwrap()}))
        .await;
    assert!(e.contains("outside"), "{e}");
    let e = server
        .err("upload_file", json!({"path": format!("{dir}/../{}/secret.txt", outside.path().file_name().unwrap().to_str().unwrap())}))
        .await;
    assert!(e.contains("outside"), "{e}");
    let e = server.err("upload_file", json!({"path": dir})).await;
    assert!(e.contains("directory"), "{e}");
    let e = server
        .err("upload_file", json!({"path": format!("{dir}/missing.txt")}))
        .await;
    assert!(e.contains("Cannot read"), "{e}");
    assert_eq!(
        mock.requests().len(),
        before,
        "nothing was sent for refused files"
    );
}

#[tokio::test]
async fn upstream_errors_become_actionable_tool_errors() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;

    mock.inject_fault(
        Fault::new("POST", "/task", 429).with_detail("Concurrent browser limit reached"),
    );
    let e = server.err("run_browser_task", json!({"task": "x"})).await;
    assert!(
        e.contains("429") && e.contains("close an open session"),
        "{e}"
    );
    assert_eq!(
        mock.count("POST", "/task"),
        1,
        "POST /task is never retried"
    );

    let e = server
        .err(
            "get_task",
            json!({"task_id": "no-such-task", "wait_seconds": 5}),
        )
        .await;
    assert!(e.contains("404") && e.contains("Check the id"), "{e}");

    // A transient 5xx on a poll is retried and the call still succeeds.
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "ok [mock:duration=1s]", "wait_seconds": 0}),
        )
        .await;
    let id = r["task_id"].as_str().unwrap().to_owned();
    mock.inject_fault(Fault::new("GET", &format!("/task/{id}"), 503).with_times(2));
    let done = server
        .ok("get_task", json!({"task_id": id, "wait_seconds": 20}))
        .await;
    assert_eq!(done["status"], "done");

    // A non-JSON error body still reads cleanly.
    mock.inject_fault(Fault::new("POST", "/task", 400).with_detail("<<raw>>"));
    let e = server.err("open_session", json!({})).await;
    assert!(e.contains("upstream exploded"), "{e}");
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_and_nothing_is_sent() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("run_browser_task", json!({}), "task"),
        ("run_browser_task", json!({"task": ""}), "task"),
        ("run_browser_task", json!({"task": 5}), "invalid type"),
        (
            "run_browser_task",
            json!({"task": "x", "max_steps": 1}),
            "max_steps",
        ),
        (
            "run_browser_task",
            json!({"task": "x", "max_steps": 500}),
            "max_steps",
        ),
        (
            "run_browser_task",
            json!({"task": "x", "device": "tablet"}),
            "`device`: unknown variant",
        ),
        (
            "run_browser_task",
            json!({"task": "x", "url": "not a url"}),
            "url",
        ),
        (
            "run_browser_task",
            json!({"task": "x", "wait_seconds": -1}),
            "wait_seconds",
        ),
        (
            "run_browser_task",
            json!({"task": "x", "taks": "typo"}),
            "taks",
        ),
        (
            "run_browser_task",
            json!({"task": "x", "metadata": (0..17).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<_, _>>()}),
            "metadata",
        ),
        ("get_task", json!({}), "task_id"),
        ("get_task", json!({"task_id": "  "}), "task_id"),
        ("cancel_task", json!({"task_id": 7}), "invalid type"),
        ("open_session", json!({"device": 3}), "device"),
        ("open_session", json!({"url": "ftp://x"}), "url"),
        ("session_action", json!({"session_id": "s"}), "action"),
        (
            "session_action",
            json!({"session_id": "s", "action": "dance"}),
            "action",
        ),
        (
            "session_action",
            json!({"session_id": "s", "action": "goto"}),
            "needs `url`",
        ),
        (
            "session_action",
            json!({"session_id": "s", "action": "extract"}),
            "needs `schema`",
        ),
        (
            "session_action",
            json!({"session_id": "s", "action": "evaluate_js"}),
            "needs `js`",
        ),
        (
            "session_action",
            json!({"session_id": "s", "action": "run_task"}),
            "needs `task`",
        ),
        (
            "session_action",
            json!({"session_id": "s", "action": "goto", "url": "https://a.b", "js": 1}),
            "`js`",
        ),
        ("upload_file", json!({}), "path"),
        (
            "upload_file",
            json!({"path": "x", "purpose": "p".repeat(65)}),
            "64",
        ),
    ];
    for (tool, args, expect) in cases {
        let e = server.err(tool, args.clone()).await;
        assert!(
            e.contains(expect),
            "{tool} {args}: {e:?} should mention {expect:?}"
        );
    }
    assert!(
        mock.requests().is_empty(),
        "bad input sent nothing: {:?}",
        mock.requests()
    );
    // Still up and serving.
    let r = server.ok("run_browser_task", json!({"task": "fine"})).await;
    assert_eq!(r["status"], "done");
}

#[tokio::test]
async fn without_a_key_tools_are_listed_and_say_how_to_set_one() {
    let server = spawn(Launch::default()).await;
    let tools = server.client.list_all_tools().await.unwrap();
    assert!(tools.len() >= CORE_TOOLS.len());
    let e = server.err("run_browser_task", json!({"task": "x"})).await;
    assert!(e.contains("SMOOTH_API_KEY") && e.contains("--mock"), "{e}");
}

#[tokio::test]
async fn the_official_sdk_key_variable_is_a_fallback() {
    let mock = start_mock(fast_mock()).await;
    let base = mock.base_url();
    let server = spawn(Launch {
        args: vec!["--poll-interval", "0.1"],
        env: vec![
            ("SMOOTH_BASE_URL", &base),
            ("CIRCLEMIND_API_KEY", "cmzr-fallback"),
        ],
        ..Launch::default()
    })
    .await;
    server.ok("run_browser_task", json!({"task": "x"})).await;
    assert!(
        mock.requests()
            .iter()
            .all(|q| q.apikey.as_deref() == Some("cmzr-fallback"))
    );
    let (_, stderr) = server.quit().await;
    assert!(
        !stderr.contains("cmzr-fallback"),
        "the key never reaches the log"
    );
}

#[tokio::test]
async fn the_embedded_mock_says_so_and_works() {
    let server = spawn(Launch::with_args(vec!["--mock", "--poll-interval", "0.1"])).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "demo [mock:duration=500ms]", "wait_seconds": 20}),
        )
        .await;
    assert_eq!(r["status"], "done");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(server.stderr().contains("MOCK MODE"));
}

#[tokio::test]
async fn long_output_is_capped_with_a_note_and_the_id_kept() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--output-cap", "500"])).await;
    let long_task = format!("Summarise {}", "this page ".repeat(200));
    let r = server
        .ok("run_browser_task", json!({"task": long_task}))
        .await;
    assert_eq!(r["status"], "done");
    assert_eq!(r["output_truncated"], true);
    assert_eq!(r["output"].as_str().unwrap().chars().count(), 500);
    assert!(r["next_step"].as_str().unwrap().contains("cut"), "{r}");
    assert!(r["task_id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn a_client_that_vanishes_mid_task_does_not_hang_the_server() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let peer = server.client.peer().clone();
    // A long call with a progress token, left in flight.
    let call = tokio::spawn(async move {
        let args = json!({"task": "long [mock:duration=30s]", "wait_seconds": 50});
        let _ = peer
            .call_tool(
                rmcp::model::CallToolRequestParams::new("run_browser_task")
                    .with_arguments(args.as_object().cloned().unwrap()),
            )
            .await;
    });
    for _ in 0..200 {
        if mock.count("POST", "/task") == 1 && !server.recorder.progress.lock().unwrap().is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = server.quit().await; // panics if the process does not exit
    assert!(status.success(), "{status:?}");
    call.abort();
}

#[tokio::test]
async fn closing_a_busy_session_needs_force() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let id = server.ok("open_session", json!({})).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let busy = json!({"session_id": id, "action": "run_task", "task": "busy [mock:duration=30s]", "wait_seconds": 0});
    assert_eq!(server.ok("session_action", busy).await["status"], "running");
    let e = server
        .err(
            "session_action",
            json!({"session_id": id, "action": "close"}),
        )
        .await;
    assert!(
        e.contains("still running") && e.contains("force=true"),
        "{e}"
    );
    assert_eq!(mock.task_status(&id).as_deref(), Some("running"));
    let closed = server
        .ok(
            "session_action",
            json!({"session_id": id, "action": "close", "force": true}),
        )
        .await;
    assert_eq!(closed["output"], true);
    assert_eq!(mock.count("DELETE", &format!("/task/{id}")), 1);
}
