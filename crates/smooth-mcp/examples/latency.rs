#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! Benchmark: completion-to-result latency — from the moment the mock marks a task done to
//! the moment the MCP result reaches the client — with and without long-poll, for 1 and 200
//! concurrent tasks, through the real binary on stdio; with the recording link there at the
//! end or arriving later, and how many `GET /task/{id}` each task cost.
//!
//! cargo build --release --bin smooth-mcp --example latency
//! target/release/examples/latency target/release/smooth-mcp

use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use smooth_mock::{MockConfig, MockSmooth};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bin = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/smooth-mcp".to_owned());
    println!(
        "| long-poll | concurrent tasks | recording ready after | p50 ms | p95 ms | max ms | GETs per task (mean / max) | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let runs = [
        (false, 1, 0),
        (false, 200, 0),
        (true, 1, 0),
        (true, 200, 0),
        (true, 1, 500),
        (true, 200, 500),
    ];
    for (long_poll, n, recording_ms) in runs {
        let (mut lat, gets, errors) =
            run(&bin, long_poll, n, Duration::from_millis(recording_ms)).await?;
        lat.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            lat.get(((lat.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "| {} | {n} | {recording_ms} ms | {:.0} | {:.0} | {:.0} | {:.2} / {} | {errors} |",
            if long_poll { "on" } else { "off" },
            pick(0.5),
            pick(0.95),
            lat.last().copied().unwrap_or(f64::NAN),
            gets.iter().sum::<usize>() as f64 / gets.len().max(1) as f64,
            gets.iter().max().copied().unwrap_or(0)
        );
    }
    Ok(())
}

async fn run(
    bin: &str,
    long_poll: bool,
    n: usize,
    recording_delay: Duration,
) -> anyhow::Result<(Vec<f64>, Vec<usize>, usize)> {
    let mock = MockSmooth::start(MockConfig {
        waiting: Duration::from_millis(100),
        run_time: Duration::from_secs(3),
        step_time: Duration::from_millis(500),
        long_poll: if long_poll {
            Duration::from_secs(20)
        } else {
            Duration::ZERO
        },
        max_live_browsers: 1000,
        recording_delay,
        ..MockConfig::default()
    })
    .await?;
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["--poll-interval", "1", "--log-level", "warn"])
        .env("SMOOTH_BASE_URL", mock.base_url())
        .env("SMOOTH_API_KEY", "bench")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let io = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let client = ().serve(io).await?;
    let mut calls = Vec::new();
    for i in 0..n {
        let peer = client.peer().clone();
        calls.push(tokio::spawn(async move {
            let args = json!({"task": format!("bench {i}"), "wait_seconds": 55});
            let r = peer
                .call_tool(
                    CallToolRequestParams::new("run_browser_task")
                        .with_arguments(args.as_object().cloned().unwrap()),
                )
                .await;
            let at = Instant::now();
            r.ok()
                .and_then(|r| r.structured_content)
                .filter(|s| s["status"] == "done")
                .and_then(|s| s["task_id"].as_str().map(str::to_owned))
                .map(|id| (id, at))
        }));
    }
    let mut latencies = Vec::new();
    let mut ids = Vec::new();
    let mut errors = 0;
    for c in calls {
        match c.await? {
            Some((id, at)) => match mock.wait_terminal(&id).await {
                Some(done) => {
                    latencies.push(at.saturating_duration_since(done).as_secs_f64() * 1000.0);
                    ids.push(id);
                }
                None => errors += 1,
            },
            None => errors += 1,
        }
    }
    // Every request so far, the results all in: what getting them cost.
    let requests = mock.requests();
    let gets = ids
        .iter()
        .map(|id| {
            let path = format!("/task/{id}");
            requests
                .iter()
                .filter(|q| q.method == "GET" && q.path == path)
                .count()
        })
        .collect();
    client.cancel().await?;
    let _ = child.wait().await;
    mock.shutdown().await;
    Ok((latencies, gets, errors))
}
