#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! Load benchmark for the Streamable HTTP transport (not a test): one server process, N
//! concurrent MCP clients (default 200), each its own HTTP connection and MCP session,
//! each running one `run_browser_task` against an in-process mock of Smooth.
//!
//! Reports errors, the server's added latency (MCP result received minus the instant the
//! mock marked the task done) and the server's peak memory (VmHWM), in session mode and in
//! stateless mode, with the mock long-polling (as Smooth does) and without (poll every 1 s).
//!
//! cargo build --release && cargo run --release --example http_load -- target/release/smooth-mcp [clients]

use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use smooth_mock::{MockConfig, MockSmooth};

const TOKEN: &str = "bench-token-5e0c2d9f7a1b";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/smooth-mcp".to_owned());
    let clients: usize = match args.next() {
        Some(n) => n.parse()?,
        None => 200,
    };
    println!(
        "{clients} concurrent clients, one task each (mock: 3 s tasks), one server process: {bin}"
    );
    println!();
    println!(
        "| mode | long-poll | errors | added p50 ms | added p95 ms | added max ms | wall s | server peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for stateless in [false, true] {
        for long_poll in [true, false] {
            let r = run(&bin, clients, stateless, long_poll).await?;
            let pick = |q: f64| {
                r.added_ms
                    .get(((r.added_ms.len() as f64 - 1.0) * q).round() as usize)
                    .copied()
                    .unwrap_or(f64::NAN)
            };
            println!(
                "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
                if stateless { "stateless" } else { "sessions" },
                if long_poll { "on" } else { "off (1 s polls)" },
                r.errors,
                pick(0.5),
                pick(0.95),
                r.added_ms.last().copied().unwrap_or(f64::NAN),
                r.wall.as_secs_f64(),
                r.peak_kib as f64 / 1024.0,
            );
        }
    }
    Ok(())
}

struct Outcome {
    /// Sorted.
    added_ms: Vec<f64>,
    errors: usize,
    wall: Duration,
    peak_kib: u64,
}

async fn run(bin: &str, n: usize, stateless: bool, long_poll: bool) -> anyhow::Result<Outcome> {
    let mock = MockSmooth::start(MockConfig {
        waiting: Duration::from_millis(100),
        run_time: Duration::from_secs(3),
        step_time: Duration::from_millis(500),
        // Results wait for the recording link; make it immediate so only the server is measured.
        recording_delay: Duration::ZERO,
        long_poll: if long_poll {
            Duration::from_secs(20)
        } else {
            Duration::ZERO
        },
        max_live_browsers: n + 10,
        ..MockConfig::default()
    })
    .await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["--transport", "http", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--auth-token", TOKEN, "--poll-interval", "1"])
        .args(["--log-level", "warn"])
        .env("SMOOTH_BASE_URL", mock.base_url())
        .env("SMOOTH_API_KEY", "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if stateless {
        cmd.arg("--stateless");
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().ok_or_else(|| anyhow::anyhow!("server exited"))?;
    wait_healthy(port).await?;

    let url = format!("http://127.0.0.1:{port}/mcp");
    let started = Instant::now();
    let mut calls = Vec::with_capacity(n);
    for i in 0..n {
        let url = url.clone();
        calls.push(tokio::spawn(async move { one_client(url, i).await }));
    }
    let mut added_ms = Vec::with_capacity(n);
    let mut errors = 0;
    for call in calls {
        match call.await? {
            Ok((id, received)) => match mock.wait_terminal(&id).await {
                Some(done) => {
                    added_ms.push(received.saturating_duration_since(done).as_secs_f64() * 1000.0)
                }
                None => errors += 1,
            },
            Err(e) => {
                if errors == 0 {
                    eprintln!("first error: {e:#}");
                }
                errors += 1;
            }
        }
    }
    let wall = started.elapsed();
    let peak_kib = peak_rss_kib(pid).unwrap_or(0);
    let _ = child.start_kill();
    let _ = child.wait().await;
    mock.shutdown().await;
    added_ms.sort_by(f64::total_cmp);
    Ok(Outcome {
        added_ms,
        errors,
        wall,
        peak_kib,
    })
}

/// Connects, runs one task to completion; returns its id and when the result arrived.
async fn one_client(url: String, i: usize) -> anyhow::Result<(String, Instant)> {
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(TOKEN);
    let client = ().serve(StreamableHttpClientTransport::from_config(config)).await?;
    let args = json!({"task": format!("bench {i}"), "wait_seconds": 55});
    let result = client
        .call_tool(
            CallToolRequestParams::new("run_browser_task")
                .with_arguments(args.as_object().cloned().unwrap_or_default()),
        )
        .await?;
    let received = Instant::now();
    let _ = client.cancel().await;
    let s = result
        .structured_content
        .ok_or_else(|| anyhow::anyhow!("no structured content: {:?}", result.content))?;
    anyhow::ensure!(s["status"] == "done", "task not done: {s}");
    let id = s["task_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no task_id"))?;
    Ok((id.to_owned(), received))
}

async fn wait_healthy(port: u16) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("server did not come up on port {port}")
}

/// Peak resident set size of a process, from `/proc/<pid>/status` (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
