#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly
//! Agent tool calls end to end, through rmcp's client and the real binary against the mock:
//! calls the assistant answers (answer_tool_call), operator tools (programs and HTTP endpoints
//! from --config, answered by the server), ask_user without elicitation, and secrets that
//! reach Smooth but never the model, the logs or any byte the server writes.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use smooth_mock::MockSmooth;
use support::{Launch, Server, fast_mock, spawn_against, start_mock};

const SENTINEL: &str = "hunter2-SENTINEL-value";

/// The `tool_call` answers the server sent for task `id`, in order.
fn answers(mock: &MockSmooth, id: &str) -> Vec<Value> {
    mock.requests()
        .into_iter()
        .filter(|q| q.method == "POST" && q.path == format!("/task/{id}/event"))
        .filter_map(|q| q.body)
        .filter(|b| b["name"] == "tool_call")
        .map(|b| b["payload"].clone())
        .collect()
}

/// Bodies of the events (other than tool_call answers) sent to task `id`.
fn actions(mock: &MockSmooth, id: &str) -> Vec<Value> {
    mock.requests()
        .into_iter()
        .filter(|q| q.method == "POST" && q.path == format!("/task/{id}/event"))
        .filter_map(|q| q.body)
        .filter(|b| b["name"] != "tool_call")
        .collect()
}

fn created(mock: &MockSmooth) -> Vec<Value> {
    mock.requests()
        .into_iter()
        .filter(|q| q.method == "POST" && q.path == "/task")
        .filter_map(|q| q.body)
        .collect()
}

/// The tool names the `n`th `POST /task` declared to Smooth.
fn declared(mock: &MockSmooth, n: usize) -> Vec<Value> {
    created(mock)[n]["custom_tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect()
}

fn lookup_tool() -> Value {
    json!({
        "name": "lookup",
        "description": "Look up a price",
        "inputs": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        "output": "The price"
    })
}

fn call_id(result: &Value) -> String {
    assert_eq!(result["status"], "waiting_for_answer", "{result}");
    result["pending_tool_calls"][0]["call_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_assistant_answers_with_output_then_with_an_error() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let task =
        r#"Price check [mock:tool_call=lookup {"q": "x"}] [mock:tool_call=lookup {"q": "y"}]"#;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": task, "custom_tools": [lookup_tool()], "wait_seconds": 30}),
        )
        .await;
    let id = r["task_id"].as_str().unwrap().to_owned();
    let first = call_id(&r);
    let pending = &r["pending_tool_calls"][0];
    assert_eq!(pending["tool"], "lookup");
    assert_eq!(pending["input"], json!({"q": "x"}));
    let step = r["next_step"].as_str().unwrap();
    assert!(
        step.contains(&format!("call_id \"{first}\"")) && step.contains(&id),
        "{step}"
    );
    // Declared to Smooth: the call's tool and the built-in ask_user.
    let names = declared(&mock, 0);
    assert_eq!(names, [json!("lookup"), json!("ask_user")]);

    let r = server
        .ok(
            "answer_tool_call",
            json!({"task_id": id, "call_id": first, "output": {"price": 3}, "wait_seconds": 30}),
        )
        .await;
    let second = call_id(&r);
    assert_ne!(second, first);
    assert_eq!(r["pending_tool_calls"][0]["input"], json!({"q": "y"}));

    // The first call again: refused, nothing sent.
    let sent = answers(&mock, &id).len();
    let again = server
        .err(
            "answer_tool_call",
            json!({"task_id": id, "call_id": first, "output": 1}),
        )
        .await;
    assert!(
        again.contains("already answered by the assistant"),
        "{again}"
    );
    assert!(again.contains(&second), "lists what is pending: {again}");
    let wrong = server
        .err(
            "answer_tool_call",
            json!({"task_id": id, "call_id": "no-such-call", "error": "x"}),
        )
        .await;
    assert!(wrong.contains("no such call"), "{wrong}");
    let both = server
        .err(
            "answer_tool_call",
            json!({"task_id": id, "call_id": second, "output": 1, "error": "x"}),
        )
        .await;
    assert!(both.contains("exactly one of output or error"), "{both}");
    assert_eq!(answers(&mock, &id).len(), sent);

    let r = server
        .ok(
            "answer_tool_call",
            json!({"task_id": id, "call_id": second, "error": "not in stock", "wait_seconds": 30}),
        )
        .await;
    assert_eq!(r["status"], "done", "{r}");
    let output = r["output"].as_str().unwrap();
    assert!(output.contains(r#"returned {"price":3}"#), "{output}");
    assert!(output.contains("failed with \"not in stock\""), "{output}");
    let codes: Vec<Value> = answers(&mock, &id)
        .iter()
        .map(|a| a["code"].clone())
        .collect();
    assert_eq!(codes, [json!(200), json!(400)]);

    let late = server
        .err(
            "answer_tool_call",
            json!({"task_id": id, "call_id": second, "output": 1}),
        )
        .await;
    assert!(late.contains("not pending"), "{late}");
    assert_eq!(answers(&mock, &id).len(), 2, "nothing sent after the end");
}

#[tokio::test]
async fn a_call_nobody_answers_gets_a_400_after_the_timeout() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--tool-answer-timeout", "1"])).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "[mock:tool_call=lookup]", "custom_tools": [lookup_tool()]}),
        )
        .await;
    let id = r["task_id"].as_str().unwrap().to_owned();
    call_id(&r);
    tokio::time::timeout(Duration::from_secs(30), mock.wait_terminal(&id))
        .await
        .expect("the timeout answered the call and the task ended");
    let r = server
        .ok("get_task", json!({"task_id": id, "wait_seconds": 20}))
        .await;
    assert_eq!(r["status"], "done", "{r}");
    assert!(
        r["output"]
            .as_str()
            .unwrap()
            .contains("no answer within 1 s"),
        "{r}"
    );
    assert_eq!(answers(&mock, &id)[0]["code"], 400);
}

#[tokio::test]
async fn ask_user_without_elicitation_is_relayed_through_the_assistant() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "Pick [mock:ask_user=Which account? | personal | business]", "wait_seconds": 30}),
        )
        .await;
    let id = r["task_id"].as_str().unwrap().to_owned();
    let call = call_id(&r);
    assert_eq!(r["pending_tool_calls"][0]["tool"], "ask_user");
    let step = r["next_step"].as_str().unwrap();
    assert!(
        step.contains("The agent asks the user: \"Which account?\" (choices: personal, business)"),
        "{step}"
    );
    let progress = server.recorder.progress.lock().unwrap().clone();
    let said = format!("waiting for an answer to ask_user (call_id {call})");
    assert!(
        progress
            .iter()
            .any(|p| p.message.as_deref().unwrap_or("").contains(&said)),
        "{progress:?}"
    );
    // get_task reports the same pending call at once.
    let again = server
        .ok("get_task", json!({"task_id": id, "wait_seconds": 30}))
        .await;
    assert_eq!(call_id(&again), call);
    let r = server
        .ok(
            "answer_tool_call",
            json!({"task_id": id, "call_id": call, "output": "business", "wait_seconds": 30}),
        )
        .await;
    assert_eq!(r["status"], "done", "{r}");
    assert!(
        r["output"]
            .as_str()
            .unwrap()
            .contains("tool 'ask_user' returned \"business\""),
        "{r}"
    );
}

#[tokio::test]
async fn a_session_run_task_waits_for_an_answer_too() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;
    let s = server
        .ok("open_session", json!({"custom_tools": [lookup_tool()]}))
        .await;
    let sid = s["session_id"].as_str().unwrap().to_owned();
    let run = json!({"session_id": sid, "action": "run_task", "wait_seconds": 30,
                     "task": r#"Check [mock:tool_call=lookup {"q": "z"}]"#});
    let r = server.ok("session_action", run.clone()).await;
    assert_eq!(r["action"], "run_task");
    let call = call_id(&r);
    let step = r["next_step"].as_str().unwrap();
    assert!(step.contains(&format!("task_id \"{sid}\"")), "{step}");
    // Repeating the call resumes the wait: the same call is still pending.
    let again = server.ok("session_action", run).await;
    assert_eq!(call_id(&again), call);
    let r = server
        .ok(
            "answer_tool_call",
            json!({"task_id": sid, "call_id": call, "output": "7 EUR", "wait_seconds": 30}),
        )
        .await;
    assert_eq!(r["status"], "done", "{r}");
    assert_eq!(r["session_id"], sid.as_str());
    assert!(
        r["output"]
            .as_str()
            .unwrap()
            .contains("tool 'lookup' returned \"7 EUR\""),
        "{r}"
    );
    server
        .ok(
            "session_action",
            json!({"session_id": sid, "action": "close"}),
        )
        .await;
}

#[tokio::test]
async fn ask_user_off_and_bad_declarations_send_nothing() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--ask-user", "off"])).await;
    let mut bad_name = lookup_tool();
    bad_name["name"] = json!("bad-name");
    let mut ask = lookup_tool();
    ask["name"] = json!("ask_user");
    let mut bad_schema = lookup_tool();
    bad_schema["inputs"] = json!({"type": "string"});
    for (tools, expected) in [
        (json!([bad_name]), "custom_tools[0]: name"),
        (json!([lookup_tool(), lookup_tool()]), "declared twice"),
        (json!([ask]), "built-in or operator tool"),
        (json!([bad_schema]), "\"type\": \"object\""),
    ] {
        let e = server
            .err(
                "run_browser_task",
                json!({"task": "t", "custom_tools": tools}),
            )
            .await;
        assert!(e.contains(expected), "{e}");
    }
    let e = server
        .err("run_browser_task", json!({"task": "t", "tools": ["nope"]}))
        .await;
    assert!(e.contains("configured: none"), "{e}");
    assert!(created(&mock).is_empty(), "nothing was sent");
    // Without ask_user and custom tools, no custom_tools at all.
    server
        .ok("run_browser_task", json!({"task": "t", "wait_seconds": 0}))
        .await;
    assert!(created(&mock)[0].get("custom_tools").is_none());
}

const OPERATOR_TOOLS: &str = r#"
[tools.echo_tool]
description = "Echo the input"
inputs = { type = "object" }
command = ["sh", "-c", "cat"]

[tools.fail_tool]
description = "Fails"
inputs = { type = "object" }
command = ["sh", "-c", "echo boom-on-stderr >&2; exit 3"]

[tools.slow_tool]
description = "Too slow"
inputs = { type = "object" }
command = ["sh", "-c", "sleep 5"]
timeout_s = 1

[tools.text_tool]
description = "Not JSON"
inputs = { type = "object" }
command = ["sh", "-c", "echo hi"]
"#;

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[tokio::test]
async fn operator_command_tools_are_answered_by_the_server() {
    let mock = start_mock(fast_mock()).await;
    let config = config_file(OPERATOR_TOOLS);
    let path = config.path().to_str().unwrap();
    let server = spawn_against(&mock, Launch::with_args(vec!["--config", path])).await;
    let listed = server.ok("list_agent_tools", json!({})).await;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "echo_tool",
            "fail_tool",
            "slow_tool",
            "text_tool",
            "ask_user"
        ]
    );
    let info = server.client.peer_info().unwrap();
    let instructions = info.instructions.as_deref().unwrap();
    assert!(instructions.contains("echo_tool (operator): Echo the input"));

    let task = r#"[mock:tool_call=echo_tool {"a": 1}] [mock:tool_call=fail_tool] [mock:tool_call=slow_tool] [mock:tool_call=text_tool]"#;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": task, "wait_seconds": 30}),
        )
        .await;
    assert_eq!(r["status"], "done", "operator tools never wait: {r}");
    let id = r["task_id"].as_str().unwrap();
    let got = answers(&mock, id);
    let codes: Vec<&Value> = got.iter().map(|a| &a["code"]).collect();
    assert_eq!(codes, [&json!(200), &json!(400), &json!(400), &json!(400)]);
    assert_eq!(got[0]["output"], json!({"a": 1}));
    assert!(
        got[1]["output"]
            .as_str()
            .unwrap()
            .contains("boom-on-stderr")
    );
    assert!(
        got[2]["output"].as_str().unwrap().contains("timed out"),
        "{}",
        got[2]
    );
    assert!(
        got[3]["output"].as_str().unwrap().contains("JSON"),
        "{}",
        got[3]
    );

    // `tools` narrows what is declared.
    server
        .ok(
            "run_browser_task",
            json!({"task": "t", "tools": ["echo_tool"], "wait_seconds": 0}),
        )
        .await;
    let names = declared(&mock, 1);
    assert_eq!(names, [json!("echo_tool"), json!("ask_user")]);
    let clash = server
        .err(
            "open_session",
            json!({"custom_tools": [{"name": "echo_tool", "description": "d", "inputs": {"type": "object"}}]}),
        )
        .await;
    assert!(clash.contains("operator tool"), "{clash}");
}

/// A local endpoint for HTTP tools: /ok answers 200 JSON, /bad 422, /down 500.
async fn endpoint() -> String {
    use axum::routing::post;
    let app = axum::Router::new()
        .route(
            "/ok",
            post(|axum::Json(v): axum::Json<Value>| async move { axum::Json(json!({"got": v})) }),
        )
        .route(
            "/bad",
            post(|| async {
                (
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    axum::Json(json!({"message": "order number is malformed"})),
                )
            }),
        )
        .route(
            "/down",
            post(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A port nothing listens on (bound, then released).
async fn refused() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/x")
}

#[tokio::test]
async fn operator_http_tools_are_answered_by_the_server() {
    let mock = start_mock(fast_mock()).await;
    let base = endpoint().await;
    let refused = refused().await;
    let text = [
        ("http_ok", format!("{base}/ok")),
        ("http_bad", format!("{base}/bad")),
        ("http_down", format!("{base}/down")),
        ("http_refused", refused),
    ]
    .iter()
    .map(|(name, url)| {
        format!(
            "[tools.{name}]\ndescription = \"d\"\ninputs = {{ type = \"object\" }}\nhttp = {{ url = \"{url}\" }}\n"
        )
    })
    .collect::<String>();
    let config = config_file(&text);
    let server = spawn_against(
        &mock,
        Launch::with_args(vec!["--config", config.path().to_str().unwrap()]),
    )
    .await;
    let task = r#"[mock:tool_call=http_ok {"order": "A1"}] [mock:tool_call=http_bad] [mock:tool_call=http_down] [mock:tool_call=http_refused]"#;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": task, "wait_seconds": 30}),
        )
        .await;
    assert_eq!(r["status"], "done", "{r}");
    let got = answers(&mock, r["task_id"].as_str().unwrap());
    let codes: Vec<&Value> = got.iter().map(|a| &a["code"]).collect();
    assert_eq!(codes, [&json!(200), &json!(400), &json!(400), &json!(400)]);
    assert_eq!(got[0]["output"], json!({"got": {"order": "A1"}}));
    assert!(
        got[1]["output"]
            .as_str()
            .unwrap()
            .contains("order number is malformed"),
        "{}",
        got[1]
    );
    assert!(
        got[2]["output"].as_str().unwrap().contains("500"),
        "{}",
        got[2]
    );
    assert!(!got[3]["output"].as_str().unwrap().is_empty());
}

async fn secret_server(mock: &MockSmooth) -> Server {
    spawn_against(
        mock,
        Launch {
            args: vec![
                "--secret",
                "bank=env:BANK_PW@https://bank.example/*",
                "--log-level",
                "trace",
            ],
            env: vec![("BANK_PW", SENTINEL)],
            tee_stdout: true,
            ..Launch::default()
        },
    )
    .await
}

#[tokio::test]
async fn secrets_reach_smooth_and_nothing_else() {
    let mock = start_mock(fast_mock()).await;
    let server = secret_server(&mock).await;
    let listed = server.ok("list_secrets", json!({})).await;
    assert_eq!(
        listed,
        json!({"secrets": [{"name": "bank", "allowed_urls": ["https://bank.example/*"]}]})
    );

    let info = server.client.peer_info().unwrap();
    let instructions = info.instructions.as_deref().unwrap();
    assert!(
        instructions.contains("bank on https://bank.example/*"),
        "{instructions}"
    );
    assert!(!instructions.contains(SENTINEL));
    // In a session.
    let s = server.ok("open_session", json!({})).await;
    let sid = s["session_id"].as_str().unwrap().to_owned();
    let r = server
        .ok(
            "session_action",
            json!({"session_id": sid, "action": "run_task", "task": "Log in [mock:type_secret=bank]",
                   "secrets": ["bank"], "wait_seconds": 30}),
        )
        .await;
    let output = r["output"].as_str().unwrap();
    assert!(
        output.contains("typed bank (value [secret:bank])"),
        "{output}"
    );
    let run = actions(&mock, &sid)
        .into_iter()
        .find(|b| b["payload"]["name"] == "run_task")
        .unwrap();
    assert_eq!(
        run["payload"]["input"]["secrets"],
        json!({"bank": {"value": SENTINEL, "allowed_urls": ["https://bank.example/*"]}})
    );

    // A one-shot task with secrets runs in a session of its own, closed at the end.
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "Statement [mock:type_secret=bank]", "url": "https://bank.example/login",
                   "secrets": ["bank"], "wait_seconds": 30}),
        )
        .await;
    assert_eq!(r["status"], "done", "{r}");
    assert!(
        r["output"].as_str().unwrap().contains("[secret:bank]"),
        "{r}"
    );
    let tid = r["task_id"].as_str().unwrap();
    let opened = created(&mock).into_iter().last().unwrap();
    assert!(opened["task"].is_null(), "{opened}");
    let names: Vec<Value> = actions(&mock, tid)
        .iter()
        .map(|b| b["payload"]["name"].clone())
        .collect();
    assert_eq!(names, [json!("run_task"), json!("close")]);
    let run = &actions(&mock, tid)[0]["payload"]["input"];
    assert_eq!(run["url"], "https://bank.example/login");
    assert_eq!(run["secrets"]["bank"]["value"], SENTINEL);

    // Unknown names: refused, nothing sent.
    let before = mock.requests().len();
    let e = server
        .err(
            "run_browser_task",
            json!({"task": "t", "secrets": ["mail"]}),
        )
        .await;
    assert!(
        e.contains("unknown secret \"mail\"; configured secrets: bank"),
        "{e}"
    );
    let e = server
        .err(
            "session_action",
            json!({"session_id": sid, "action": "run_task", "task": "t", "secrets": ["mail"]}),
        )
        .await;
    assert!(e.contains("unknown secret"), "{e}");
    assert_eq!(mock.requests().len(), before);

    // The sweep: no byte the server wrote holds the value.
    let stdout = server.stdout.lock().unwrap().clone();
    let (_, stderr) = server.quit().await;
    assert!(stdout.len() > 1000, "stdout was captured");
    let needle = SENTINEL.as_bytes();
    assert!(
        !stdout.windows(needle.len()).any(|w| w == needle),
        "the secret reached stdout"
    );
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "verbose logs"
    );
    assert!(!stderr.contains(SENTINEL), "the secret reached the logs");
}

#[tokio::test]
async fn a_task_with_secrets_closes_its_session_even_if_nobody_waits() {
    let mock = start_mock(fast_mock()).await;
    let server = secret_server(&mock).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "Later [mock:type_secret=bank]", "secrets": ["bank"], "wait_seconds": 0}),
        )
        .await;
    assert!(
        matches!(r["status"].as_str(), Some("waiting" | "running")),
        "{r}"
    );
    let id = r["task_id"].as_str().unwrap().to_owned();
    tokio::time::timeout(Duration::from_secs(30), mock.wait_terminal(&id))
        .await
        .expect("the server closed the session when its task ended");
    let closes = actions(&mock, &id)
        .iter()
        .filter(|b| b["payload"]["name"] == "close")
        .count();
    assert!(closes >= 1, "closed gracefully");
    let r = server
        .ok("get_task", json!({"task_id": id, "wait_seconds": 20}))
        .await;
    assert_eq!(r["status"], "done", "{r}");
    assert!(
        r["output"].as_str().unwrap().contains("[secret:bank]"),
        "{r}"
    );
}
