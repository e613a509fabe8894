#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! Benchmark (not a test): how a well-behaved client fares while others abuse the HTTP
//! transport. One server process (`--mock`, a bearer token); a client with a valid token
//! calls `tools/list` over and over and records each round trip, first alone, then while
//! attackers run: requests with missing and bad tokens in a tight loop, bodies over the
//! cap, idle connections that send nothing, and slow-loris connections that send a header
//! byte now and then. Prints p50/p99/max of the good client, the attack's rate, and the
//! server's RSS; then stops the request loops, waits past the server's header-read timeout
//! and counts how many idle and slow-loris connections the server dropped, and its open file
//! descriptors before, during and after.
//!
//! cargo build -p smooth-mcp --example http_abuse
//! target/debug/examples/http_abuse target/debug/smooth-mcp [calls]

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

const TOKEN: &str = "bench-token-5e0c2d9f7a1b";
const IDLE_CONNECTIONS: usize = 500;
const SLOW_LORIS: usize = 100;
const BAD_TOKEN_LOOPS: usize = 8;
const OVERSIZE_LOOPS: usize = 2;
/// The server's header-read timeout (`transport::connections::HEADER_READ_TIMEOUT`) plus slack.
const PAST_HEADER_TIMEOUT: Duration = Duration::from_secs(35);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/debug/smooth-mcp".to_owned());
    let calls: usize = match args.next() {
        Some(n) => n.parse()?,
        None => 1000,
    };
    let mut child = Command::new(&bin)
        .args(["--mock", "--transport", "http", "--listen", "127.0.0.1:0"])
        .args(["--auth-token", TOKEN, "--max-body-mb", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next_line().await?.expect("server exited");
        if let Some(at) = line.find("url=http://") {
            break line[at + 4..].split_whitespace().next().unwrap().to_owned();
        }
    };
    let log_lines = Arc::new(AtomicU64::new(0));
    let counter = log_lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(_)) = lines.next_line().await {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let pid = child.id().unwrap();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();

    println!("server: {bin}; the good client makes {calls} sequential tools/list calls");
    println!();
    println!(
        "| scenario | good p50 ms | good p99 ms | good max ms | good errors | attack requests/s | server log lines | server RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let quiet = measure(&url, calls).await;
    report(
        "no attack",
        &quiet,
        0.0,
        log_lines.swap(0, Ordering::Relaxed),
        pid,
    );

    let fds_before = fd_count(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let attacks = Arc::new(AtomicU64::new(0));
    let loris_dropped = Arc::new(AtomicU64::new(0));
    let mut held = Vec::new();
    for _ in 0..IDLE_CONNECTIONS {
        held.push(TcpStream::connect(&addr).await?);
    }
    for _ in 0..SLOW_LORIS {
        let (addr, dropped) = (addr.clone(), loris_dropped.clone());
        tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(&addr).await else {
                return;
            };
            let _ = s
                .write_all(format!("POST /mcp HTTP/1.1\r\nHost: {addr}\r\nX-a: ").as_bytes())
                .await;
            // Until the server drops it (a write fails once its reset came back).
            while s.write_all(b"a").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            dropped.fetch_add(1, Ordering::Relaxed);
        });
    }
    let http = reqwest::Client::new();
    for i in 0..BAD_TOKEN_LOOPS {
        let (http, url, stop, attacks) = (http.clone(), url.clone(), stop.clone(), attacks.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let mut req = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
                if i % 2 == 0 {
                    req = req.bearer_auth(format!("{TOKEN}x"));
                }
                if let Ok(r) = req.send().await {
                    assert_eq!(r.status(), 401);
                }
                attacks.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    for _ in 0..OVERSIZE_LOOPS {
        let (http, url, stop, attacks) = (http.clone(), url.clone(), stop.clone(), attacks.clone());
        tokio::spawn(async move {
            let body = vec![b' '; 2 * 1024 * 1024];
            while !stop.load(Ordering::Relaxed) {
                let _ = http
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(body.clone())
                    .send()
                    .await;
                attacks.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let started = Instant::now();
    let attacked = measure(&url, calls).await;
    let rate = attacks.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    report(
        &format!(
            "{BAD_TOKEN_LOOPS} bad/missing-token loops, {OVERSIZE_LOOPS} over-cap body loops, \
             {IDLE_CONNECTIONS} idle + {SLOW_LORIS} slow-loris connections"
        ),
        &attacked,
        rate,
        log_lines.swap(0, Ordering::Relaxed),
        pid,
    );
    let fds_during = fd_count(pid);
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(PAST_HEADER_TIMEOUT).await;
    let idle_dropped = held.iter().filter(|s| closed_by_peer(s)).count();
    println!();
    println!(
        "{} s later: {idle_dropped}/{IDLE_CONNECTIONS} idle and {}/{SLOW_LORIS} slow-loris \
         connections dropped by the server; its open file descriptors: {fds_before} before the \
         attack, {fds_during} during, {} now",
        PAST_HEADER_TIMEOUT.as_secs(),
        loris_dropped.load(Ordering::Relaxed),
        fd_count(pid),
    );
    Ok(())
}

/// The peer closed (end of stream) or reset the connection.
fn closed_by_peer(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.try_read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

struct Latencies {
    /// Sorted, milliseconds.
    ms: Vec<f64>,
    errors: usize,
}

/// A session, then `calls` sequential `tools/list` round trips (answer read in full).
async fn measure(url: &str, calls: usize) -> Latencies {
    let http = reqwest::Client::new();
    let post = |body: &'static str, session: Option<&str>| {
        let mut req = http
            .post(url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body);
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        req.send()
    };
    let init = post(
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#,
        None,
    )
    .await
    .unwrap();
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    init.text().await.unwrap();
    let _ = post(
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        Some(&session),
    )
    .await;
    let mut ms = Vec::with_capacity(calls);
    let mut errors = 0;
    for _ in 0..calls {
        let t = Instant::now();
        let ok = match post(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            Some(&session),
        )
        .await
        {
            Ok(r) => r.status().is_success() && r.text().await.is_ok_and(|t| t.contains("tools")),
            Err(_) => false,
        };
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        errors += usize::from(!ok);
    }
    ms.sort_by(f64::total_cmp);
    Latencies { ms, errors }
}

fn report(scenario: &str, l: &Latencies, rate: f64, log_lines: u64, pid: u32) {
    let pick = |q: f64| l.ms[((l.ms.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "| {scenario} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {} | {:.1} |",
        pick(0.5),
        pick(0.99),
        l.ms.last().copied().unwrap_or(f64::NAN),
        l.errors,
        rate,
        log_lines,
        rss_kib(pid) as f64 / 1024.0,
    );
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
