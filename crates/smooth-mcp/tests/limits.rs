#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! Spend and concurrency limits (--max-concurrent-tasks, --max-open-sessions,
//! --credit-budget) and the usage tool, through the real binary against the mock.

mod support;

use serde_json::json;
use support::{Launch, fast_mock, spawn_against, start_mock};

const ENDLESS: &str = "Watch the page [mock:duration=86400s]";

#[tokio::test]
async fn over_the_task_limit_names_the_running_task_and_sends_nothing() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(
        &mock,
        Launch::with_args(vec!["--max-concurrent-tasks", "1"]),
    )
    .await;
    let first = server
        .ok(
            "run_browser_task",
            json!({"task": ENDLESS, "wait_seconds": 1}),
        )
        .await;
    assert_eq!(first["status"], "running", "{first}");
    let id = first["task_id"].as_str().unwrap().to_owned();
    let live = first["live_url"].as_str().unwrap().to_owned();

    let refused = server
        .err("run_browser_task", json!({"task": "another one"}))
        .await;
    assert!(refused.contains(&id), "names the running task: {refused}");
    assert!(refused.contains(&live), "and where to watch it: {refused}");
    assert!(
        refused.contains("cancel_task"),
        "says how to free it: {refused}"
    );
    assert!(refused.contains("--max-concurrent-tasks"), "{refused}");
    assert_eq!(mock.count("POST", "/task"), 1, "nothing was sent");

    let usage = server.ok("usage", json!({})).await;
    assert_eq!(usage["tasks_running"], json!([id]), "{usage}");
    assert_eq!(usage["max_concurrent_tasks"], 1, "{usage}");

    // A session is not a task: its own limit (none here) applies.
    server.ok("open_session", json!({})).await;

    server.ok("cancel_task", json!({"task_id": id})).await;
    let next = server
        .ok("run_browser_task", json!({"task": "a short one"}))
        .await;
    assert_eq!(
        next["status"], "done",
        "the cancelled task freed its place: {next}"
    );
    server.quit().await;
}

#[tokio::test]
async fn a_task_that_ended_unwatched_frees_its_place() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(
        &mock,
        Launch::with_args(vec!["--max-concurrent-tasks", "1"]),
    )
    .await;
    // Returned while running; nobody follows it, and it ends on its own.
    let first = server
        .ok(
            "run_browser_task",
            json!({"task": "Brief [mock:duration=4s]", "wait_seconds": 1}),
        )
        .await;
    assert_eq!(first["status"], "running", "{first}");
    let id = first["task_id"].as_str().unwrap();
    let refused = server
        .err("run_browser_task", json!({"task": "next"}))
        .await;
    assert!(refused.contains(id), "{refused}");
    mock.wait_terminal(id).await.expect("the task ends");
    let next = server.ok("run_browser_task", json!({"task": "next"})).await;
    assert_eq!(next["status"], "done", "{next}");
    let usage = server.ok("usage", json!({})).await;
    assert_eq!(usage["tasks_running"], json!([]), "{usage}");
    assert!(
        usage["credits_used"].as_f64().unwrap() > next["credits_used"].as_f64().unwrap(),
        "the unwatched task's credits were counted too: {usage}"
    );
    server.quit().await;
}

#[tokio::test]
async fn over_the_session_limit_names_the_open_session_and_sends_nothing() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--max-open-sessions", "1"])).await;
    let opened = server.ok("open_session", json!({})).await;
    let id = opened["session_id"].as_str().unwrap().to_owned();
    let refused = server.err("open_session", json!({})).await;
    assert!(refused.contains(&id), "{refused}");
    assert!(refused.contains("session_action close"), "{refused}");
    assert!(refused.contains("--max-open-sessions"), "{refused}");
    assert_eq!(mock.count("POST", "/task"), 1, "nothing was sent");
    let usage = server.ok("usage", json!({})).await;
    assert_eq!(usage["sessions_open"], json!([id]), "{usage}");
    assert_eq!(usage["tasks_running"], json!([]), "{usage}");

    server
        .ok(
            "session_action",
            json!({"session_id": id, "action": "close"}),
        )
        .await;
    server.ok("open_session", json!({})).await;
    assert_eq!(mock.count("POST", "/task"), 2);
    server.quit().await;
}

#[tokio::test]
async fn a_spent_budget_refuses_new_work_until_the_window_ends() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--credit-budget", "3/hour"])).await;
    let fresh = server.ok("usage", json!({})).await;
    assert_eq!(fresh["credits_used"], 0.0, "{fresh}");
    assert_eq!(fresh["budget_left"], 3.0, "{fresh}");
    assert_eq!(fresh["window"], "hour", "{fresh}");

    let mut spent = 0.0;
    for task in ["first", "second"] {
        let done = server.ok("run_browser_task", json!({"task": task})).await;
        assert_eq!(done["status"], "done", "{done}");
        spent += done["credits_used"].as_f64().unwrap();
    }
    assert!(
        spent >= 3.0,
        "the mock's tasks cost enough to spend the budget: {spent}"
    );
    let usage = server.ok("usage", json!({})).await;
    assert_eq!(usage["credits_used"].as_f64().unwrap(), spent, "{usage}");
    assert_eq!(usage["budget_left"], 0.0, "{usage}");
    assert!(usage["cost_usd"].as_f64().unwrap() > 0.0, "{usage}");
    let ends = usage["window_ends_at"].as_str().unwrap().to_owned();
    assert!(ends.ends_with(":00:00Z"), "an hour boundary in UTC: {ends}");

    let refused = server
        .err("run_browser_task", json!({"task": "third"}))
        .await;
    assert!(refused.contains(&format!("after {ends}")), "{refused}");
    assert!(refused.contains("--credit-budget"), "{refused}");
    let refused = server.err("open_session", json!({})).await;
    assert!(refused.contains(&ends), "{refused}");
    assert_eq!(mock.count("POST", "/task"), 2, "nothing was sent");
    server.quit().await;
}

#[tokio::test]
async fn a_spent_budget_lets_an_open_session_finish_but_starts_no_agent_task_in_it() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--credit-budget", "1"])).await;
    let opened = server.ok("open_session", json!({})).await;
    let session = opened["session_id"].as_str().unwrap().to_owned();
    let done = server
        .ok("run_browser_task", json!({"task": "spend"}))
        .await;
    assert!(done["credits_used"].as_f64().unwrap() >= 1.0, "{done}");

    // Running work continues: the open session still answers browser actions…
    server
        .ok(
            "session_action",
            json!({"session_id": session, "action": "evaluate_js", "js": "1 + 1"}),
        )
        .await;
    // …but no new agent task starts, in it or elsewhere.
    let refused = server
        .err(
            "session_action",
            json!({"session_id": session, "action": "run_task", "task": "more"}),
        )
        .await;
    assert!(
        refused.contains("process"),
        "a lifetime budget says so: {refused}"
    );
    assert_eq!(mock.count("POST", &format!("/task/{session}/event")), 1);
    let usage = server.ok("usage", json!({})).await;
    assert_eq!(usage["window"], "process lifetime", "{usage}");
    assert!(usage["window_ends_at"].is_null(), "{usage}");
    server.quit().await;
}
