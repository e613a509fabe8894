#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly
//! `ask_user` and other pending agent tool calls answered by the user through the client:
//! form elicitation (2025-11-25), the input-required retry (2026-07-28), and MCP tasks
//! (`input_required`, answered by `tasks/update`). Driven by rmcp's client against the mock.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationCapability,
    FormElicitationCapability, GetTaskParams, Implementation, ProtocolVersion, UpdateTaskParams,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};
use smooth_mock::MockSmooth;
use support::{BIN, capture_stderr, fast_mock, start_mock, text};
use tokio::process::{Child, Command};

/// The user's response; `None`: the client fails the elicitation request.
type Answer = fn(&Value) -> Option<ElicitResult>;

/// A client that declares form elicitation and answers each question with `answer`.
#[derive(Clone)]
struct Asker {
    answer: Answer,
    tasks: bool,
    /// Every elicitation the server sent, as JSON.
    asked: Arc<Mutex<Vec<Value>>>,
}

impl ClientHandler for Asker {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let request = serde_json::to_value(&request).unwrap();
        self.asked.lock().unwrap().push(request.clone());
        (self.answer)(&request).ok_or_else(|| ErrorData::internal_error("no dialog here", None))
    }

    fn get_info(&self) -> ClientConfig {
        let mut caps = if self.tasks {
            ClientCapabilities::builder().enable_tasks().build()
        } else {
            ClientCapabilities::default()
        };
        caps.elicitation =
            Some(ElicitationCapability::new().with_form(FormElicitationCapability::default()));
        ClientConfig::new(caps, Implementation::new("smooth-mcp-elicit-tests", "0"))
    }
}

fn accept(answer: &str) -> Option<ElicitResult> {
    Some(ElicitResult::new(ElicitationAction::Accept).with_content(json!({ "answer": answer })))
}

struct Client {
    service: RunningService<RoleClient, Asker>,
    asked: Arc<Mutex<Vec<Value>>>,
    _child: Child,
}

/// The same client over the streamable HTTP transport (elicitation requests travel on the
/// tool call's response stream).
async fn connect_http(mock: &MockSmooth, answer: Answer, modern: bool, extra: &[&str]) -> Client {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .args([
            "--transport",
            "http",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--poll-interval", "0.1", "--heartbeat-seconds", "0.5"])
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMOOTH_BASE_URL", mock.base_url())
        .env("SMOOTH_API_KEY", "test-key")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    capture_stderr(child.stderr.take().unwrap());
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..400 {
        if http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server did not come up");
    let transport = StreamableHttpClientTransport::from_uri(format!("http://127.0.0.1:{port}/mcp"));
    handshake(transport, answer, false, modern, child).await
}

async fn connect(mock: &MockSmooth, answer: Answer, tasks: bool, modern: bool) -> Client {
    let mut child = Command::new(BIN)
        .args(["--poll-interval", "0.1", "--heartbeat-seconds", "0.5"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMOOTH_BASE_URL", mock.base_url())
        .env("SMOOTH_API_KEY", "test-key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let transport = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    capture_stderr(child.stderr.take().unwrap());
    handshake(transport, answer, tasks, modern, child).await
}

/// Connects a client that answers questions with `answer`, declaring the MCP Tasks extension
/// when `tasks`, and on protocol 2026-07-28 (`server/discover`) when `modern`.
async fn handshake<T, E, A>(
    transport: T,
    answer: Answer,
    tasks: bool,
    modern: bool,
    child: Child,
) -> Client
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let asked = Arc::new(Mutex::new(Vec::new()));
    let asker = Asker {
        answer,
        tasks,
        asked: asked.clone(),
    };
    let service = if modern {
        asker
            .serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await
    } else {
        asker.serve(transport).await
    }
    .expect("client connects");
    Client {
        service,
        asked,
        _child: child,
    }
}

fn run(task: &str) -> CallToolRequestParams {
    CallToolRequestParams::new("run_browser_task").with_arguments(
        json!({ "task": task, "wait_seconds": 30 })
            .as_object()
            .unwrap()
            .clone(),
    )
}

fn output(r: &CallToolResult) -> String {
    let s = r
        .structured_content
        .as_ref()
        .unwrap_or_else(|| panic!("{}", text(r)));
    assert_eq!(s["status"], "done", "{s}");
    s["output"].as_str().unwrap().to_owned()
}

fn task_posts(mock: &MockSmooth) -> usize {
    mock.count("POST", "/task")
}

#[tokio::test]
async fn legacy_elicitation_brings_the_one_time_code_to_the_agent() {
    let mock = start_mock(fast_mock()).await;
    let c = connect(&mock, |_| accept("123456"), false, false).await;
    let r = c
        .service
        .call_tool(run(
            "Log in [mock:ask_user=Enter the one-time code from your bank app]",
        ))
        .await
        .unwrap();
    assert!(
        output(&r).contains("tool 'ask_user' returned \"123456\""),
        "{r:?}"
    );
    let asked = c.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0]["message"],
        "Enter the one-time code from your bank app"
    );
    assert_eq!(
        asked[0]["requestedSchema"]["properties"]["answer"]["type"],
        "string"
    );
}

#[tokio::test]
async fn legacy_elicitation_declined_tells_the_agent() {
    let mock = start_mock(fast_mock()).await;
    let c = connect(
        &mock,
        |_| Some(ElicitResult::new(ElicitationAction::Decline)),
        false,
        false,
    )
    .await;
    let r = c
        .service
        .call_tool(run(
            "Buy it [mock:ask_user=Buy the lamp for $40? | yes | no]",
        ))
        .await
        .unwrap();
    assert!(
        output(&r).contains("tool 'ask_user' failed with \"the user declined\""),
        "{r:?}"
    );
    let asked = c.asked.lock().unwrap().clone();
    assert_eq!(
        asked[0]["requestedSchema"]["properties"]["answer"]["enum"],
        json!(["yes", "no"])
    );
}

#[tokio::test]
async fn input_required_retry_resumes_the_same_task() {
    let mock = start_mock(fast_mock()).await;
    let c = connect(&mock, |_| accept("business"), false, true).await;
    let r = c
        .service
        .call_tool(run(
            "Pay [mock:ask_user=Which account? | personal | business]",
        ))
        .await
        .unwrap();
    assert!(
        output(&r).contains("tool 'ask_user' returned \"business\""),
        "{r:?}"
    );
    assert_eq!(c.asked.lock().unwrap().len(), 1);
    // The retry resumed the wait: one task, not two.
    assert_eq!(task_posts(&mock), 1);
}

#[tokio::test]
async fn input_required_declined_tells_the_agent() {
    let mock = start_mock(fast_mock()).await;
    let c = connect(
        &mock,
        |_| Some(ElicitResult::new(ElicitationAction::Cancel)),
        false,
        true,
    )
    .await;
    let r = c
        .service
        .call_tool(run("Buy [mock:ask_user=Confirm the purchase?]"))
        .await
        .unwrap();
    assert!(
        output(&r).contains("failed with \"the user declined\""),
        "{r:?}"
    );
    assert_eq!(task_posts(&mock), 1);
}

/// Polls `tasks/get` (at the client's pace) until `status` is reached.
/// Answers one input request of an MCP task with `tasks/update`.
async fn update(c: &Client, id: &str, call_id: &str, response: Value) {
    c.service
        .update_task(UpdateTaskParams::new(
            id.to_owned(),
            [(call_id.to_owned(), response)].into(),
        ))
        .await
        .unwrap();
}

async fn mcp_task_until(c: &Client, id: &str, status: &str) -> Value {
    for _ in 0..300 {
        let t = c
            .service
            .get_task(GetTaskParams::new(id.to_owned()))
            .await
            .expect("tasks/get");
        let t = serde_json::to_value(&t).unwrap();
        if t["status"] == status {
            return t;
        }
        assert!(
            ["working", "input_required"].contains(&t["status"].as_str().unwrap_or("")),
            "{t}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("MCP task {id} never reached {status}");
}

#[tokio::test]
async fn mcp_task_asks_through_input_required_and_tasks_update() {
    let mock = start_mock(fast_mock()).await;
    // The elicitation handler must not be used: the question goes through the task.
    let c = connect(&mock, |_| panic!("asked outside the task"), true, false).await;
    let created = c
        .service
        .call_tool_once(run("Log in [mock:ask_user=Enter the one-time code]"))
        .await
        .unwrap();
    let CallToolResponse::Task(created) = created else {
        panic!("expected a task, got {created:?}");
    };
    let id = created.task.task_id;
    let t = mcp_task_until(&c, &id, "input_required").await;
    let requests = t["inputRequests"].as_object().expect("inputRequests");
    assert_eq!(requests.len(), 1, "{t}");
    let (call_id, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "elicitation/create", "{t}");
    assert_eq!(
        request["params"]["message"], "Enter the one-time code",
        "{t}"
    );
    let status = t["statusMessage"].as_str().unwrap();
    assert!(
        status.contains("ask_user") && status.contains(call_id),
        "{status}"
    );

    update(
        &c,
        &id,
        call_id,
        json!({"action": "accept", "content": {"answer": "654321"}}),
    )
    .await;
    let t = mcp_task_until(&c, &id, "completed").await;
    let out = t["result"]["structuredContent"]["output"].as_str().unwrap();
    assert!(out.contains("tool 'ask_user' returned \"654321\""), "{t}");
    assert_eq!(task_posts(&mock), 1);
}

#[tokio::test]
async fn mcp_task_input_is_cleared_when_answer_tool_call_answers_first() {
    let mock = start_mock(fast_mock()).await;
    let c = connect(&mock, |_| panic!("asked outside the task"), true, false).await;
    let created = c
        .service
        .call_tool_once(run(
            "Log in [mock:ask_user=Which account? | personal | business]",
        ))
        .await
        .unwrap();
    let CallToolResponse::Task(created) = created else {
        panic!("expected a task, got {created:?}");
    };
    let id = created.task.task_id;
    let t = mcp_task_until(&c, &id, "input_required").await;
    let (call_id, request) = t["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(
        request["params"]["requestedSchema"]["properties"]["answer"]["enum"],
        json!(["personal", "business"])
    );
    // The Smooth task id is in the status message ("… task T …").
    let status = t["statusMessage"].as_str().unwrap();
    let smooth_id = status
        .split_whitespace()
        .skip_while(|w| *w != "task")
        .nth(1)
        .unwrap()
        .trim_end_matches(')')
        .to_owned();

    let r = c
        .service
        .call_tool(
            CallToolRequestParams::new("answer_tool_call").with_arguments(
                json!({"task_id": smooth_id, "call_id": call_id, "output": "personal", "wait_seconds": 30})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert!(
        output(&r).contains("tool 'ask_user' returned \"personal\""),
        "{r:?}"
    );
    let t = mcp_task_until(&c, &id, "completed").await;
    let out = t["result"]["structuredContent"]["output"].as_str().unwrap();
    assert!(out.contains("tool 'ask_user' returned \"personal\""), "{t}");
    // tasks/update on the cleared input changes nothing.
    update(
        &c,
        &id,
        call_id,
        json!({"action": "accept", "content": {"answer": "business"}}),
    )
    .await;
    assert_eq!(mock.count("POST", "/task/*/event"), 1);
}

#[tokio::test]
async fn input_required_retry_resumes_a_session_run_task() {
    let mock = start_mock(fast_mock()).await;
    let c = connect(&mock, |_| accept("123456"), false, true).await;
    let call = |name: &str, args: Value| {
        CallToolRequestParams::new(name.to_owned())
            .with_arguments(args.as_object().unwrap().clone())
    };
    let opened = c
        .service
        .call_tool(call("open_session", json!({})))
        .await
        .unwrap();
    let session = opened.structured_content.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .service
        .call_tool(call(
            "session_action",
            json!({"session_id": session, "action": "run_task",
                   "task": "Log in [mock:ask_user=Enter the one-time code]", "wait_seconds": 30}),
        ))
        .await
        .unwrap();
    let s = r
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("{}", text(&r)));
    assert!(
        s.to_string()
            .contains("tool 'ask_user' returned \\\"123456\\\""),
        "{s}"
    );
    assert_eq!(c.asked.lock().unwrap().len(), 1);
    // The run_task was sent once; the retry only resumed its wait.
    let run_tasks = mock
        .requests()
        .iter()
        .filter(|r| {
            r.path.ends_with("/event")
                && r.body
                    .as_ref()
                    .is_some_and(|b| b["payload"]["name"] == "run_task")
        })
        .count();
    assert_eq!(run_tasks, 1);
}

#[tokio::test]
async fn a_failed_elicitation_is_relayed_to_the_assistant() {
    let mock = start_mock(fast_mock()).await;
    let c = connect(&mock, |_| None, false, false).await;
    let r = c
        .service
        .call_tool(run("Log in [mock:ask_user=Enter the one-time code]"))
        .await
        .unwrap();
    let s = r.structured_content.unwrap();
    assert_eq!(s["status"], "waiting_for_answer", "{s}");
    assert_eq!(s["pending_tool_calls"][0]["tool"], "ask_user", "{s}");
    assert!(
        s["next_step"]
            .as_str()
            .unwrap()
            .contains("answer_tool_call"),
        "{s}"
    );
    assert_eq!(c.asked.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn mcp_task_asks_for_an_assistant_tool_result_too() {
    let mock = start_mock(fast_mock()).await;
    let c = connect(&mock, |_| panic!("asked outside the task"), true, false).await;
    let args = json!({
        "task": "Order [mock:tool_call=lookup {\"order\": \"A1\"}]",
        "custom_tools": [{"name": "lookup", "description": "Find an order",
                          "inputs": {"type": "object", "properties": {"order": {"type": "string"}}},
                          "output": "The order"}],
    });
    let created = c
        .service
        .call_tool_once(
            CallToolRequestParams::new("run_browser_task")
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let CallToolResponse::Task(created) = created else {
        panic!("expected a task, got {created:?}");
    };
    let id = created.task.task_id;
    let t = mcp_task_until(&c, &id, "input_required").await;
    let (call_id, request) = t["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let message = request["params"]["message"].as_str().unwrap();
    assert!(
        message.contains("lookup") && message.contains("A1"),
        "{message}"
    );
    let fields = &request["params"]["requestedSchema"]["properties"];
    assert!(
        fields["output"].is_object() && fields["error"].is_object(),
        "{t}"
    );
    update(
        &c,
        &id,
        call_id,
        json!({"action": "accept", "content": {"output": "{\"total\": 12}"}}),
    )
    .await;
    let t = mcp_task_until(&c, &id, "completed").await;
    let out = t["result"]["structuredContent"]["output"].as_str().unwrap();
    assert!(out.contains("tool 'lookup' returned {\"total\":12}"), "{t}");
}

#[tokio::test]
async fn over_http_both_protocols_ask_the_user() {
    let mock = start_mock(fast_mock()).await;
    for modern in [false, true] {
        let c = connect_http(&mock, |_| accept("777000"), modern, &[]).await;
        let r = c
            .service
            .call_tool(run("Log in [mock:ask_user=Enter the one-time code]"))
            .await
            .unwrap();
        assert!(
            output(&r).contains("tool 'ask_user' returned \"777000\""),
            "modern={modern}: {r:?}"
        );
        assert_eq!(c.asked.lock().unwrap().len(), 1, "modern={modern}");
    }
    assert_eq!(task_posts(&mock), 2);
}

#[tokio::test]
async fn stateless_http_cannot_ask_so_the_question_is_relayed() {
    // Without an MCP session the server cannot send the client a request.
    let mock = start_mock(fast_mock()).await;
    let c = connect_http(&mock, |_| accept("777000"), false, &["--stateless"]).await;
    let r = c
        .service
        .call_tool(run("Log in [mock:ask_user=Enter the one-time code]"))
        .await
        .unwrap();
    let s = r.structured_content.unwrap();
    assert_eq!(s["status"], "waiting_for_answer", "{s}");
    assert_eq!(s["pending_tool_calls"][0]["tool"], "ask_user", "{s}");
    assert!(c.asked.lock().unwrap().is_empty());
}
