//! Opens a session, drives the browser (goto, evaluate_js, extract, run_task), closes it.
//!
//! ```sh
//! SMOOTH_API_KEY=cmzr-... cargo run -p smooth-api --example session -- https://example.com
//! ```
//!
//! `SMOOTH_BASE_URL` points it elsewhere (e.g. at `smooth-mcp mock --listen`). A session
//! costs money while it is open: this example always closes it, even after an error.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use smooth_api::watch::{AgentTools, TaskWatch, Watcher};
use smooth_api::{
    ActionOutcome, ApiKey, ClientConfig, DEFAULT_BASE_URL, SmoothClient, SmoothError, TaskRequest,
    TaskStatus,
};
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "https://example.com".to_owned());
    let client = SmoothClient::new(ClientConfig {
        base_url: std::env::var("SMOOTH_BASE_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.into()),
        api_key: Some(
            std::env::var("SMOOTH_API_KEY")
                .ok()
                .and_then(ApiKey::new)
                .ok_or("set SMOOTH_API_KEY")?,
        ),
        user_agent: Some("smooth-api-example/0".into()),
        ..ClientConfig::default()
    })?;
    let watcher = Watcher::new(Duration::from_secs(1), Duration::from_secs(600));

    // `task: None` opens a session.
    let session = watcher
        .start(&client, &TaskRequest::default(), AgentTools::default())
        .await?;
    println!("session {} opened", session.id);
    let result = drive(&session, &url).await;
    // Graceful close first (it saves a profile's cookies), forced if that fails.
    let closed = act(&session, "session_action", json!({"name": "close"})).await;
    if !closed.as_ref().is_ok_and(ActionOutcome::is_success) {
        session.cancel().await?;
    }
    println!("session closed");
    result
}

async fn drive(session: &Arc<TaskWatch>, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let live_url = session
        .interest()
        .until(Instant::now() + Duration::from_secs(120), |st| {
            let task = st.task.as_ref()?;
            (task.status == TaskStatus::Running).then(|| task.live_url.clone())
        })
        .await
        .ok_or("the session did not start within two minutes")?;
    println!("live view: {}", live_url.unwrap_or_default());

    let goto = act(
        session,
        "browser_action",
        json!({"name": "goto", "input": {"url": url}}),
    )
    .await?;
    println!("goto: code {}", goto.code);
    let title = act(
        session,
        "browser_action",
        json!({"name": "evaluate_js", "input": {"js": "document.title"}}),
    )
    .await?;
    println!("evaluate_js: {}", title.output);
    let headline = act(
        session,
        "browser_action",
        json!({"name": "extract", "input": {
            "schema": {"type": "object", "properties": {"headline": {"type": "string"}}},
            "prompt": "the main headline of the page",
        }}),
    )
    .await?;
    println!("extract: {}", headline.output);
    let run = act(
        session,
        "session_action",
        json!({"name": "run_task", "input": {"task": "Summarise this page in one sentence", "max_steps": 8}}),
    )
    .await?;
    println!("run_task: {} ({:?} credits)", run.output, run.credits_used);
    Ok(())
}

/// Sends one action (`browser_action` or `session_action`) and waits for its result.
async fn act(
    session: &Arc<TaskWatch>,
    kind: &str,
    action: Value,
) -> Result<ActionOutcome, SmoothError> {
    let mut interest = session.interest();
    let id = session.send_action(kind, action).await?;
    interest
        .until(Instant::now() + Duration::from_secs(300), |st| {
            st.action_result(&id).cloned()
        })
        .await
        .ok_or(SmoothError::Timeout)
}
