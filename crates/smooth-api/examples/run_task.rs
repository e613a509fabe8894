//! Runs one task and prints its result.
//!
//! ```sh
//! SMOOTH_API_KEY=cmzr-... cargo run -p smooth-api --example run_task -- "Find the top story on news.ycombinator.com"
//! ```
//!
//! `SMOOTH_BASE_URL` points it elsewhere (e.g. at `smooth-mcp mock --listen`).

use std::time::Duration;

use smooth_api::watch::{AgentTools, Watcher};
use smooth_api::{ApiKey, ClientConfig, DEFAULT_BASE_URL, SmoothClient, TaskRequest};
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let task = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let task = if task.is_empty() {
        "Find the title of the top story on news.ycombinator.com".to_owned()
    } else {
        task
    };
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

    let watch = watcher
        .start(
            &client,
            &TaskRequest {
                task: Some(task),
                max_steps: Some(32),
                ..TaskRequest::default()
            },
            AgentTools::default(),
        )
        .await?;
    println!("task {} started", watch.id);

    let mut interest = watch.interest();
    let mut live_url_shown = false;
    let deadline = Instant::now() + Duration::from_secs(15 * 60);
    loop {
        {
            let st = watch.state();
            if let Some(error) = &st.fatal {
                return Err(format!("stopped watching: {error}").into());
            }
            if let Some(task) = &st.task {
                if let (false, Some(url)) = (live_url_shown, &task.live_url) {
                    println!("live view: {url}");
                    live_url_shown = true;
                }
                if task.status.is_terminal() {
                    println!(
                        "{}: {}",
                        task.status,
                        task.output.clone().unwrap_or_default()
                    );
                    println!("credits used: {:?}", task.credits_used);
                    return Ok(());
                }
            }
        }
        if !interest.changed(deadline).await {
            println!("still running after 15 minutes; cancelling");
            watch.cancel().await?;
            return Ok(());
        }
    }
}
