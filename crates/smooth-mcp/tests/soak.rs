#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly
//! Soak: many operations through one server process per transport, at a steady pace, and
//! the process's memory and file descriptors measured from /proc all along.
//!
//! Two processes run side by side, each against its own mock: stdio with the mock answering
//! polls at once (long-poll off), Streamable HTTP with the mock holding polls (long-poll on).
//! Each process gets the same mix: one-shot tasks (most), tasks followed with get_task,
//! tasks cancelled with cancel_task, failed tasks, sessions (open, goto, close), and uploads
//! used by a task then deleted. Every operation must come back with the expected result;
//! after warm-up (the first fifth of the operations) the file descriptors must not grow and
//! the resident memory must stay within a generous bound.
//!
//! * `soak_short` (about a minute, run by `.ci/run`):
//!   `cargo test -p smooth-mcp --test soak -- --ignored --exact soak_short --nocapture`
//! * `soak_full` (1,000 operations per process over ten minutes):
//!   `cargo test -p smooth-mcp --test soak -- --ignored --exact soak_full --nocapture`

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{Peer, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use smooth_mock::{MockConfig, MockSmooth};
use support::{Launch, capture_stderr, fast_mock, spawn_against, start_mock, text};
use tokio::process::{Child, Command};
use tokio::time::Instant;

struct Plan {
    /// Operations per process.
    ops: usize,
    /// Over this long (the pace; a slow machine may take longer).
    duration: Duration,
    /// Calls in flight at once, per process.
    workers: usize,
}

/// Resident memory may grow this much after warm-up (allocator slack, buffers sized by
/// the busiest moment), but not with the number of operations.
const RSS_SLACK_KIB: u64 = 24 * 1024;
/// File descriptors may differ this much from warm-up (a pooled connection or two).
const FD_SLACK: usize = 4;
/// No single call may take longer than this.
const CALL_BOUND: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "about a minute: `.ci/run` runs it (see the module docs)"]
async fn soak_short() {
    soak(Plan {
        ops: 150,
        duration: Duration::from_secs(50),
        workers: 6,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "ten minutes: run by hand (see the module docs and RELIABILITY.md)"]
async fn soak_full() {
    soak(Plan {
        ops: 1000,
        duration: Duration::from_secs(600),
        workers: 8,
    })
    .await;
}

async fn soak(plan: Plan) {
    let dir = tempfile::tempdir().expect("temp dir");
    let upload = dir.path().join("soak-upload.csv");
    std::fs::write(&upload, "name,price\nwidget,3\n").expect("upload file");
    let upload = upload.to_string_lossy().into_owned();
    let allow = dir.path().to_string_lossy().into_owned();
    let stdio_mock = start_mock(fast_mock()).await;
    let http_mock = start_mock(MockConfig {
        long_poll: Duration::from_secs(2),
        ..fast_mock()
    })
    .await;
    let (stdio, http) = tokio::join!(
        soak_stdio(&plan, &stdio_mock, &allow, &upload),
        soak_http(&plan, &http_mock, &allow, &upload)
    );
    println!(
        "| transport | long-poll | ops | lost or wrong | wall s | RSS MiB start / warm / peak / end | fds start / warm / peak / end |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in [&stdio, &http] {
        println!("{}", r.row());
    }
    for r in [&stdio, &http] {
        r.check();
    }
}

/// One process's figures.
struct Report {
    transport: &'static str,
    long_poll: bool,
    ops: usize,
    failures: Vec<String>,
    wall: Duration,
    samples: Vec<Sample>,
    /// Index in `samples` of the first one after warm-up.
    warm: usize,
}

#[derive(Clone, Copy)]
struct Sample {
    rss_kib: u64,
    fds: usize,
}

impl Report {
    fn pick(&self, f: impl Fn(&Sample) -> u64) -> (u64, u64, u64, u64) {
        let first = self.samples.first().map(&f).unwrap_or_default();
        let warm = self.samples.get(self.warm).map(&f).unwrap_or(first);
        let peak = self.samples.iter().map(&f).max().unwrap_or_default();
        let end = self.samples.last().map(&f).unwrap_or_default();
        (first, warm, peak, end)
    }

    fn row(&self) -> String {
        let mib = |k: u64| k as f64 / 1024.0;
        let (r0, rw, rp, re) = self.pick(|s| s.rss_kib);
        let (f0, fw, fp, fe) = self.pick(|s| s.fds as u64);
        format!(
            "| {} | {} | {} | {} | {:.0} | {:.1} / {:.1} / {:.1} / {:.1} | {f0} / {fw} / {fp} / {fe} |",
            self.transport,
            if self.long_poll { "on" } else { "off" },
            self.ops,
            self.failures.len(),
            self.wall.as_secs_f64(),
            mib(r0),
            mib(rw),
            mib(rp),
            mib(re),
        )
    }

    fn check(&self) {
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} operations lost or wrong:\n{}",
            self.transport,
            self.failures.len(),
            self.ops,
            self.failures.join("\n")
        );
        assert!(
            self.samples.len() > 2,
            "{}: too few samples",
            self.transport
        );
        let (_, warm_rss, _, end_rss) = self.pick(|s| s.rss_kib);
        assert!(
            end_rss <= warm_rss + RSS_SLACK_KIB,
            "{}: RSS grew from {warm_rss} KiB after warm-up to {end_rss} KiB",
            self.transport
        );
        let (_, warm_fds, _, end_fds) = self.pick(|s| s.fds as u64);
        assert!(
            end_fds <= warm_fds + FD_SLACK as u64,
            "{}: file descriptors grew from {warm_fds} after warm-up to {end_fds}",
            self.transport
        );
    }
}

fn sample(pid: u32) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some(Sample { rss_kib, fds })
}

async fn soak_stdio(plan: &Plan, mock: &MockSmooth, allow: &str, upload: &str) -> Report {
    let server = spawn_against(
        mock,
        Launch::with_args(vec!["--allow-dir", allow, "--toolsets", "all"]),
    )
    .await;
    let pid = server.child.id().expect("running");
    let peer = server.client.peer().clone();
    let report = drive(plan, "stdio", false, pid, peer, upload).await;
    let (status, _) = server.quit().await;
    assert!(status.success(), "stdio server exit: {status}");
    report
}

async fn soak_http(plan: &Plan, mock: &MockSmooth, allow: &str, upload: &str) -> Report {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child: Child = Command::new(support::BIN)
        .args(["--transport", "http", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--poll-interval", "0.1", "--heartbeat-seconds", "0.5"])
        .args(["--allow-dir", allow, "--toolsets", "all"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMOOTH_BASE_URL", mock.base_url())
        .env("SMOOTH_API_KEY", "k")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stderr = capture_stderr(child.stderr.take().expect("stderr"));
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut client: Option<RunningService<RoleClient, ()>> = None;
    for _ in 0..400 {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.clone()),
        );
        if let Ok(c) = ().serve(transport).await {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client =
        client.unwrap_or_else(|| panic!("HTTP server did not come up: {}", stderr.lock().unwrap()));
    let pid = child.id().expect("running");
    let report = drive(plan, "http", true, pid, client.peer().clone(), upload).await;
    let _ = client.cancel().await;
    support::sigterm(&child);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("HTTP server exits")
        .expect("wait");
    assert!(status.success(), "HTTP server exit: {status}");
    report
}

/// Runs `plan.ops` operations through `peer` at a steady pace, sampling `pid` meanwhile.
async fn drive(
    plan: &Plan,
    transport: &'static str,
    long_poll: bool,
    pid: u32,
    peer: Peer<RoleClient>,
    upload: &str,
) -> Report {
    let started = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let warm = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (samples, warm, done) = (samples.clone(), warm.clone(), done.clone());
        let warm_after = plan.ops / 5;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let Some(s) = sample(pid) else { return };
                let mut samples = samples.lock();
                samples.push(s);
                if done.load(Ordering::SeqCst) >= warm_after && warm.lock().is_none() {
                    *warm.lock() = Some(samples.len() - 1);
                }
            }
        })
    };
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let gap = plan.duration / plan.ops as u32;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..plan.workers {
        let (next, failures, done, peer) =
            (next.clone(), failures.clone(), done.clone(), peer.clone());
        let (ops, upload) = (plan.ops, upload.to_owned());
        workers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= ops {
                    return;
                }
                // Pacing, not synchronisation: operation n starts no earlier than n gaps in.
                tokio::time::sleep_until(started + gap * n as u32).await;
                let outcome = tokio::time::timeout(CALL_BOUND * 3, operation(&peer, n, &upload))
                    .await
                    .unwrap_or_else(|_| Err("no answer in time".to_owned()));
                if let Err(e) = outcome {
                    failures.lock().push(format!("op {n}: {e}"));
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            failures.lock().push(format!("a worker panicked: {e}"));
        }
    }
    let wall = started.elapsed();
    // One last sample after every call has come back.
    if let Some(s) = sample(pid) {
        samples.lock().push(s);
    }
    sampler.abort();
    let samples = samples.lock().clone();
    let warm = warm.lock().unwrap_or(0);
    let failures = failures.lock().clone();
    Report {
        transport,
        long_poll,
        ops: plan.ops,
        failures,
        wall,
        samples,
        warm,
    }
}

async fn call(peer: &Peer<RoleClient>, name: &str, args: Value) -> Result<CallToolResult, String> {
    let params = CallToolRequestParams::new(name.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    let r = tokio::time::timeout(CALL_BOUND, peer.call_tool(params))
        .await
        .map_err(|_| format!("{name}: no answer within {CALL_BOUND:?}"))?
        .map_err(|e| format!("{name}: {e}"))?;
    if r.is_error == Some(true) {
        return Err(format!("{name} failed: {}", text(&r)));
    }
    Ok(r)
}

/// A field of a successful call's structured result.
fn field(r: &CallToolResult, key: &str) -> Result<String, String> {
    r.structured_content
        .as_ref()
        .and_then(|v| v[key].as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("no {key} in {:?}", r.structured_content))
}

fn expect(r: &CallToolResult, key: &str, want: &str) -> Result<(), String> {
    let got = field(r, key)?;
    if got == want {
        Ok(())
    } else {
        Err(format!("{key} is {got}, expected {want}: {}", text(r)))
    }
}

/// Operation `n` of the mix; `Err` says what was lost or wrong.
async fn operation(peer: &Peer<RoleClient>, n: usize, upload: &str) -> Result<(), String> {
    match n % 10 {
        // A task followed to its end within the call.
        0..=3 => {
            let r = call(
                peer,
                "run_browser_task",
                json!({"task": format!("soak {n}"), "wait_seconds": 30}),
            )
            .await?;
            expect(&r, "status", "done")?;
            field(&r, "task_id").map(drop)
        }
        // Started without waiting, then followed with get_task.
        4 => {
            let r = call(
                peer,
                "run_browser_task",
                json!({"task": format!("soak {n} [mock:duration=1s]"), "wait_seconds": 0}),
            )
            .await?;
            let id = field(&r, "task_id")?;
            let r = call(peer, "get_task", json!({"task_id": id, "wait_seconds": 30})).await?;
            expect(&r, "status", "done")
        }
        // Cancelled while it runs.
        5 => {
            let r = call(
                peer,
                "run_browser_task",
                json!({"task": format!("soak {n} [mock:duration=60s]"), "wait_seconds": 0}),
            )
            .await?;
            let id = field(&r, "task_id")?;
            let r = call(peer, "cancel_task", json!({"task_id": id})).await?;
            expect(&r, "status", "cancelled")
        }
        // A task that fails: still a result, with its id.
        6 => {
            let r = call(
                peer,
                "run_browser_task",
                json!({"task": format!("soak {n} [mock:fail]"), "wait_seconds": 30}),
            )
            .await?;
            expect(&r, "status", "failed")?;
            field(&r, "task_id").map(drop)
        }
        // A session: open, one step, close.
        7 | 8 => {
            let r = call(peer, "open_session", json!({})).await?;
            let id = field(&r, "session_id")?;
            call(
                peer,
                "session_action",
                json!({"session_id": id, "action": "goto", "url": "https://example.com/"}),
            )
            .await?;
            call(
                peer,
                "session_action",
                json!({"session_id": id, "action": "close"}),
            )
            .await
            .map(drop)
        }
        // An upload, used by a task, then deleted.
        _ => {
            let r = call(peer, "upload_file", json!({"path": upload})).await?;
            let file = field(&r, "file_id")?;
            let r = call(
                peer,
                "run_browser_task",
                json!({"task": format!("soak {n} with a file"), "files": [file], "wait_seconds": 30}),
            )
            .await?;
            expect(&r, "status", "done")?;
            call(peer, "delete_file", json!({"file_id": file}))
                .await
                .map(drop)
        }
    }
}
