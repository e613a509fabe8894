#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly
//! Agent tool calls through the watcher, against the mock: pending calls are answered once,
//! undeclared tools get a 400 at once, operator tools run concurrently without blocking the
//! poller, unanswered calls time out, and a finished task takes no answers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use smooth_api::watch::{
    AgentTools, AnswerError, AnswerFuture, AnsweredBy, AutoAnswer, TaskWatch, ToolAnswer, ToolCall,
    Watcher,
};
use smooth_api::{ApiKey, ClientConfig, SmoothClient, TaskRequest, TaskStatus};
use smooth_mock::{MockConfig, MockSmooth};
use tokio::sync::{Barrier, mpsc};
use tokio::time::Instant;

/// Generous: only a broken watcher ever reaches it.
const DEADLINE: Duration = Duration::from_secs(20);

async fn setup(tool_answer_timeout: Duration) -> (MockSmooth, SmoothClient, Watcher) {
    let mock = MockSmooth::start(MockConfig {
        waiting: Duration::from_millis(20),
        run_time: Duration::from_millis(100),
        step_time: Duration::from_millis(25),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let client = SmoothClient::new(ClientConfig {
        base_url: mock.base_url(),
        api_key: ApiKey::new("k"),
        request_timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    })
    .unwrap();
    let watcher = Watcher::new(Duration::from_millis(20), tool_answer_timeout);
    (mock, client, watcher)
}

fn task(text: &str) -> TaskRequest {
    TaskRequest {
        task: Some(text.into()),
        ..TaskRequest::default()
    }
}

fn declared(names: &[&str]) -> AgentTools {
    AgentTools {
        declared: names.iter().map(|n| n.to_string()).collect::<HashSet<_>>(),
        auto: None,
    }
}

/// Waits (on the watch, no sleeping) for the first pending call.
async fn first_pending(watch: &Arc<TaskWatch>) -> ToolCall {
    let mut interest = watch.interest();
    interest
        .until(Instant::now() + DEADLINE, |st| {
            st.pending_tool_calls().into_iter().next()
        })
        .await
        .expect("a pending tool call")
}

async fn output_at_end(watch: &Arc<TaskWatch>) -> (TaskStatus, String) {
    let mut interest = watch.interest();
    let task = interest
        .until(Instant::now() + DEADLINE, |st| {
            st.task.clone().filter(|t| t.status.is_terminal())
        })
        .await
        .expect("the task ends");
    let output = task
        .output
        .as_ref()
        .map(Value::to_string)
        .unwrap_or_default();
    (task.status, output)
}

/// The answers (`tool_call` events) this client sent for `call_id`.
fn answers_sent(mock: &MockSmooth, call_id: &str) -> Vec<Value> {
    mock.requests()
        .into_iter()
        .filter_map(|r| r.body)
        .filter(|b| b["name"] == "tool_call" && b["id"] == call_id)
        .map(|b| b["payload"].clone())
        .collect()
}

#[tokio::test]
async fn a_pending_call_is_answered_once() {
    let (mock, client, watcher) = setup(Duration::from_secs(600)).await;
    let watch = watcher
        .start(
            &client,
            &task(r#"Total [mock:tool_call=lookup {"order": "A-1"}]"#),
            declared(&["lookup"]),
        )
        .await
        .unwrap();
    let call = first_pending(&watch).await;
    assert_eq!(
        (call.tool.as_str(), &call.input),
        ("lookup", &json!({"order": "A-1"}))
    );
    assert!(matches!(
        watch.answer("call_nope", ToolAnswer::ok(json!(1))).await,
        Err(AnswerError::Unknown)
    ));
    watch
        .answer(&call.call_id, ToolAnswer::ok(json!({"total": 12})))
        .await
        .unwrap();
    assert!(watch.snapshot().pending_tool_calls().is_empty());
    assert!(matches!(
        watch.answer(&call.call_id, ToolAnswer::error("late")).await,
        Err(AnswerError::Answered(AnsweredBy::Assistant))
    ));
    let (status, output) = output_at_end(&watch).await;
    assert_eq!(status, TaskStatus::Done);
    assert!(output.contains(r#"returned {\"total\":12}"#), "{output}");
    assert_eq!(
        answers_sent(&mock, &call.call_id),
        [json!({"code": 200, "output": {"total": 12}})]
    );
    // Over: a call this watch never saw cannot be answered either.
    assert!(matches!(
        watch.answer("call_other", ToolAnswer::ok(json!(1))).await,
        Err(AnswerError::TaskOver(TaskStatus::Done))
    ));
}

#[tokio::test]
async fn undeclared_tools_get_a_400_at_once_unless_the_tools_are_unknown() {
    let (mock, client, watcher) = setup(Duration::from_secs(600)).await;
    let watch = watcher
        .start(
            &client,
            &task("Check [mock:tool_call=mystery]"),
            AgentTools::default(),
        )
        .await
        .unwrap();
    let (status, output) = output_at_end(&watch).await;
    assert_eq!(status, TaskStatus::Done);
    assert!(output.contains("not available in this session"), "{output}");
    let sent: Vec<(String, Value)> = mock
        .requests()
        .into_iter()
        .filter_map(|r| r.body)
        .filter(|b| b["name"] == "tool_call")
        .map(|b| {
            (
                b["id"].as_str().unwrap().to_string(),
                b["payload"]["code"].clone(),
            )
        })
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, json!(400));
    assert_eq!(
        watch.snapshot().tool_call_answered_by(&sent[0].0),
        Some(AnsweredBy::Undeclared)
    );

    // A task this process did not start: its tools are unknown, so the call waits.
    let created = client
        .create_task(&task("[mock:tool_call=mystery]"))
        .await
        .unwrap();
    let watch = watcher.watch(&client, &created.id);
    let call = first_pending(&watch).await;
    assert_eq!(call.tool, "mystery");
    watch
        .answer(&call.call_id, ToolAnswer::error("no such tool here"))
        .await
        .unwrap();
    let (_, output) = output_at_end(&watch).await;
    assert!(output.contains("no such tool here"), "{output}");
}

/// An operator tool that reports when it starts and finishes only when everybody waiting on
/// the barrier (both calls and the test) has arrived.
struct Gate {
    started: mpsc::UnboundedSender<Value>,
    barrier: Arc<Barrier>,
}

impl AutoAnswer for Gate {
    fn handles(&self, tool: &str) -> bool {
        tool == "slow"
    }

    fn answer(&self, _tool: &str, input: Value) -> AnswerFuture {
        let (started, barrier) = (self.started.clone(), self.barrier.clone());
        Box::pin(async move {
            let _ = started.send(input.clone());
            barrier.wait().await;
            ToolAnswer::ok(json!({"echo": input}))
        })
    }
}

#[tokio::test]
async fn operator_tools_run_concurrently_and_never_block_the_poller() {
    let (mock, client, watcher) = setup(Duration::from_secs(600)).await;
    let (tx, mut started) = mpsc::unbounded_channel();
    let barrier = Arc::new(Barrier::new(3));
    let tools = AgentTools {
        declared: HashSet::from(["slow".to_string()]),
        auto: Some(Arc::new(Gate {
            started: tx,
            barrier: barrier.clone(),
        })),
    };
    let session = watcher
        .start(&client, &TaskRequest::default(), tools.clone())
        .await
        .unwrap();
    let mut interest = session.interest();
    let run = session
        .send_action(
            "session_action",
            json!({"name": "run_task", "input": {"task": r#"[mock:tool_call=slow {"n": 1}]"#}}),
        )
        .await
        .unwrap();
    let one_shot = watcher
        .start(
            &client,
            &task(r#"[mock:tool_call=slow {"n": 2}]"#),
            tools.clone(),
        )
        .await
        .unwrap();
    let _one_shot_interest = one_shot.interest();

    // Both calls are in the tool at once.
    let mut inputs = vec![
        tokio::time::timeout(DEADLINE, started.recv())
            .await
            .unwrap()
            .unwrap(),
        tokio::time::timeout(DEADLINE, started.recv())
            .await
            .unwrap()
            .unwrap(),
    ];
    inputs.sort_by_key(|v| v["n"].as_i64());
    assert_eq!(inputs, [json!({"n": 1}), json!({"n": 2})]);
    assert!(session.snapshot().pending_tool_calls().is_empty());

    // While its tool is busy, the session's poller still delivers action results.
    let js = session
        .send_action(
            "browser_action",
            json!({"name": "evaluate_js", "input": {"js": "(args) => args.a + args.b", "args": {"a": 1, "b": 1}}}),
        )
        .await
        .unwrap();
    let out = interest
        .until(Instant::now() + DEADLINE, |st| {
            st.action_result(&js).cloned()
        })
        .await
        .expect("the poller is not blocked by the tool");
    assert_eq!(out.output, json!(2));

    // Release both calls (the barrier's third party).
    tokio::time::timeout(DEADLINE, barrier.wait())
        .await
        .unwrap();
    let result = interest
        .until(Instant::now() + DEADLINE, |st| {
            st.action_result(&run).cloned()
        })
        .await
        .expect("run_task finishes");
    assert!(result.is_success());
    assert!(
        result
            .output
            .to_string()
            .contains(r#"{\"echo\":{\"n\":1}}"#),
        "{}",
        result.output
    );
    let (status, output) = output_at_end(&one_shot).await;
    assert_eq!(status, TaskStatus::Done);
    assert!(output.contains(r#"{\"echo\":{\"n\":2}}"#), "{output}");
    drop(mock);
}

#[tokio::test]
async fn an_unanswered_call_is_answered_400_after_the_timeout() {
    // A real (short) timeout: the mock is a real HTTP server, which a paused clock would race.
    let (mock, client, watcher) = setup(Duration::from_secs(1)).await;
    let watch = watcher
        .start(
            &client,
            &task("Wait [mock:tool_call=lookup]"),
            declared(&["lookup"]),
        )
        .await
        .unwrap();
    let call = first_pending(&watch).await;
    let (status, output) = output_at_end(&watch).await;
    assert_eq!(status, TaskStatus::Done);
    assert!(output.contains("no answer within 1 s"), "{output}");
    assert_eq!(
        answers_sent(&mock, &call.call_id),
        [json!({"code": 400, "output": "no answer within 1 s"})]
    );
    assert!(matches!(
        watch.answer(&call.call_id, ToolAnswer::ok(json!(1))).await,
        Err(AnswerError::Answered(AnsweredBy::Timeout))
    ));
}

#[tokio::test]
async fn the_end_of_the_task_clears_pending_calls() {
    let (mock, client, watcher) = setup(Duration::from_secs(600)).await;
    let watch = watcher
        .start(
            &client,
            &task("[mock:tool_call=lookup]"),
            declared(&["lookup"]),
        )
        .await
        .unwrap();
    let call = first_pending(&watch).await;
    watch.cancel().await.unwrap();
    let (status, _) = output_at_end(&watch).await;
    assert_eq!(status, TaskStatus::Cancelled);
    assert!(watch.snapshot().pending_tool_calls().is_empty());
    assert!(matches!(
        watch.answer(&call.call_id, ToolAnswer::ok(json!(1))).await,
        Err(AnswerError::TaskOver(TaskStatus::Cancelled))
    ));
    assert!(
        answers_sent(&mock, &call.call_id).is_empty(),
        "nothing sent"
    );
}
