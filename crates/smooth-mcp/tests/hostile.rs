#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! A corpus of hostile client input against the real binary (`--mock`), on stdio and on
//! Streamable HTTP: every message gets a JSON-RPC error, a tool error or (for the few that
//! are valid after all) a result — never a crash, a hang or an internal error (-32603) — and
//! the process's memory stays bounded. Prints a count per category (RELIABILITY.md quotes
//! it): `cargo test -p smooth-mcp --test hostile -- --nocapture`.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// Upper bound on any one answer: a hang fails the test instead of blocking it.
const ANSWER_BOUND: Duration = Duration::from_secs(30);
/// Most the server's resident memory may grow over the whole corpus. The corpus sends
/// single messages of up to 16 MiB, after which glibc's arenas keep ~150–200 MiB (more on a
/// loaded machine); growth past this means something is kept.
const RSS_GROWTH_BOUND_KB: u64 = 320 * 1024;
/// The HTTP server's default body cap (`--max-body-mb 4`).
const BODY_CAP: usize = 4 * 1024 * 1024;
/// [`Http::post`]: the server closed the connection while an over-cap body was being sent.
const CLOSED_OVER_CAP: u16 = 0;
const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"hostile","version":"0"}}}"#;

/// One hostile message, and how many answers it is owed (0 for a notification).
struct Case {
    category: &'static str,
    bytes: Vec<u8>,
    answers: usize,
}

fn case(category: &'static str, bytes: impl Into<Vec<u8>>) -> Case {
    Case {
        category,
        bytes: bytes.into(),
        answers: 1,
    }
}

fn call(id: Value, name: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}})
    .to_string()
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// The tools the server lists, with their argument names (wrong types go into each).
const TOOL_FIELDS: &[(&str, &[&str])] = &[
    (
        "run_browser_task",
        &[
            "task",
            "url",
            "device",
            "agent",
            "max_steps",
            "wait_seconds",
            "browser",
            "metadata",
            "response_model",
            "files",
            "profile_id",
            "allowed_urls",
        ],
    ),
    (
        "get_task",
        &["task_id", "wait_seconds", "include_downloads"],
    ),
    ("cancel_task", &["task_id"]),
    (
        "open_session",
        &["url", "device", "profile_id", "browser", "wait_seconds"],
    ),
    (
        "session_action",
        &["session_id", "action", "url", "prompt", "js", "force"],
    ),
    ("list_sessions", &[]),
    (
        "answer_tool_call",
        &["task_id", "call_id", "output", "error"],
    ),
    ("upload_file", &["path", "name", "purpose"]),
    ("delete_file", &["file_id"]),
    ("create_profile", &["profile_id"]),
    ("list_profiles", &[]),
    ("delete_profile", &["profile_id"]),
];

/// Every category but "before initialize" (which needs a fresh server) and the
/// cancellation flood (which is driven separately).
fn corpus() -> Vec<Case> {
    let mut out = Vec::new();
    let mut id = 1000;
    let mut next = || {
        id += 1;
        id
    };

    for raw in [
        "not json",
        "{",
        "[1,2",
        "}",
        "[]",
        "42",
        "null",
        "\"x\"",
        "{}",
        r#"{"jsonrpc":"2.0"}"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        r#"{"id":2,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":5}"#,
        r#"{"jsonrpc":"2.0","id":4}"#,
        r#"[{"jsonrpc":"2.0","id":7,"method":"ping"}]"#,
        r#"{"jsonrpc":"2.0","id":8,"method":"ping"} trailing"#,
        r#"{"jsonrpc":"2.0","id":9,"id":10,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":11,"method":"tools/list","params":"x"}"#,
        r#"{"jsonrpc":"2.0","id":12,"method":"tools/call"}"#,
        r#"{"jsonrpc":"2.0","id":13,"method":"tools/call","params":[]}"#,
        r#"{"jsonrpc":"2.0","id":14,"method":"initialize","params":{}}"#,
    ] {
        out.push(case("malformed JSON-RPC", raw));
    }
    // Answers to requests the server never sent: nothing is owed back.
    for raw in [
        r#"{"jsonrpc":"2.0","id":5,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":6,"error":{"code":1,"message":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":6,"error":{"code":1}}"#,
    ] {
        out.push(Case {
            answers: 0,
            ..case("malformed JSON-RPC", raw)
        });
    }

    let wrong: [Value; 9] = [
        json!(5),
        json!(-1),
        json!(1e300),
        json!("x"),
        json!(""),
        json!([]),
        json!({}),
        json!(null),
        json!(true),
    ];
    for (tool, fields) in TOOL_FIELDS {
        for params in [
            json!({"name": tool, "arguments": "x"}),
            json!({"name": tool, "arguments": [1]}),
            json!({"name": tool, "arguments": 7}),
        ] {
            let line =
                json!({"jsonrpc": "2.0", "id": next(), "method": "tools/call", "params": params});
            out.push(case("wrong types", line.to_string()));
        }
        for field in *fields {
            for value in &wrong {
                // The stray field makes the call a tool error even when `value` happens to fit:
                // nothing in the corpus starts a task or opens a session.
                let args = json!({*field: value, "zz_not_a_field": 1});
                out.push(case("wrong types", call(json!(next()), tool, args)));
            }
        }
    }

    let mib = |n: usize| "x".repeat(n * 1024 * 1024);
    out.push(case(
        "huge strings and arrays",
        call(json!(next()), "get_task", json!({"task_id": mib(2)})),
    ));
    out.push(case(
        "huge strings and arrays",
        call(json!(next()), &mib(1), json!({})),
    ));
    out.push(case(
        "huge strings and arrays",
        call(
            json!(next()),
            "run_browser_task",
            json!({"task": "x", "device": mib(1)}),
        ),
    ));
    out.push(case(
        "huge strings and arrays",
        call(json!(mib(1)), "cancel_task", json!({"task_id": ""})),
    ));
    out.push(case(
        "huge strings and arrays",
        format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"{}"}}"#,
            next(),
            mib(1)
        ),
    ));
    out.push(case(
        "huge strings and arrays",
        call(
            json!(next()),
            "run_browser_task",
            json!({"task": "", "files": vec!["f"; 200_000]}),
        ),
    ));
    out.push(case(
        "huge strings and arrays",
        call(
            json!(next()),
            "get_task",
            json!({"task_id": vec![0; 500_000]}),
        ),
    ));
    let wide: serde_json::Map<String, Value> =
        (0..50_000).map(|i| (format!("k{i}"), json!(i))).collect();
    out.push(case(
        "huge strings and arrays",
        call(
            json!(next()),
            "run_browser_task",
            json!({"task": "", "metadata": wide}),
        ),
    ));
    // Past the HTTP body cap (4 MiB) and near the stdio line cap (16 MiB).
    out.push(case(
        "huge strings and arrays",
        call(json!(next()), "get_task", json!({"task_id": mib(6)})),
    ));
    out.push(case(
        "huge strings and arrays",
        vec![b'x'; 16 * 1024 * 1024 + 10],
    ));

    for depth in [10, 100, 126, 127, 128, 129, 200, 10_000, 100_000] {
        let deep = nested(depth);
        out.push(case("deeply nested JSON",
            format!(r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"get_task","arguments":{{"task_id":{deep}}}}}}}"#, next())));
        out.push(case("deeply nested JSON",
            format!(r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"name":"get_task","arguments":{{"task_id":{deep}}}}},"id":{}}}"#, next())));
        out.push(case("deeply nested JSON", deep.clone()));
        let objects = format!("{}{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        out.push(case(
            "deeply nested JSON",
            format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"ping","params":{objects}}}"#,
                next()
            ),
        ));
    }

    let controls: Vec<u8> = (0u8..0x20).chain([0x7f]).collect();
    for c in &controls {
        let mut line =
            format!(r#"{{"jsonrpc":"2.0","id":{},"method":"tools/li"#, next()).into_bytes();
        line.push(*c);
        line.extend_from_slice(br#"st"}"#);
        if *c != b'\n' && *c != b'\r' {
            out.push(case("control characters and invalid UTF-8", line));
        }
        let escaped = format!("\\u{c:04x}");
        out.push(case("control characters and invalid UTF-8",
            format!(r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"get{escaped}task","arguments":{{}}}}}}"#, next())));
        out.push(case("control characters and invalid UTF-8",
            format!(r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"get_task","arguments":{{"task_id":"t{escaped}\u001b[2J","wait_seconds":0}}}}}}"#, next())));
    }
    for bad in [
        &b"\xff"[..],
        b"\xc3\x28",
        b"\xe2\x82",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xc0\xaf",
    ] {
        for template in [
            (&br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":""#[..], &br#""}}"#[..]),
            (br#"{"jsonrpc":"2.0","id":"#, br#","method":"ping"}"#),
            (br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_task","arguments":{"task_id":""#, br#""}}}"#),
        ] {
            let mut line = template.0.to_vec();
            line.extend_from_slice(bad);
            line.extend_from_slice(template.1);
            out.push(case("control characters and invalid UTF-8", line));
        }
    }
    // Lone surrogates, escaped: valid JSON text, invalid Unicode.
    out.push(case("control characters and invalid UTF-8",
        format!(r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"get_task","arguments":{{"task_id":"\ud800"}}}}}}"#, next())));
    out.push(case(
        "control characters and invalid UTF-8",
        format!(r#"{{"jsonrpc":"2.0","id":{},"method":"\udfff"}}"#, next()),
    ));

    for tool in [
        "",
        " ",
        "run_browser_task ",
        "RUN_BROWSER_TASK",
        "get_task\u{0}",
        "../get_task",
        "upload_extension",
        "list_secrets",
        "list_agent_tools",
        "rm -rf /",
        "🙂",
        "tools/call",
    ] {
        out.push(case(
            "unknown tools and methods",
            call(json!(next()), tool, json!({})),
        ));
    }
    for method in [
        "no/such/method",
        "",
        "rpc.discover",
        "sampling/createMessage",
        "roots/list",
        "elicitation/create",
        "resources/read",
        "prompts/get",
        "prompts/list",
        "completion/complete",
        "logging/setLevel",
        "tasks/get",
        "tasks/cancel",
        "TOOLS/LIST",
        "tools/list/",
        "__proto__",
    ] {
        out.push(case(
            "unknown tools and methods",
            json!({"jsonrpc": "2.0", "id": next(), "method": method, "params": {}}).to_string(),
        ));
    }
    out
}

/// How the server answered one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    RpcError(i64),
    ToolError,
    Result,
    /// The HTTP layer refused it (status), before any JSON-RPC.
    Http(u16),
    /// A notification: nothing owed.
    Silent,
    /// HTTP: a body over the cap, cut off by the server (413) before it was all sent.
    ClosedOverCap,
}

fn outcome(answer: &Value) -> Outcome {
    if let Some(code) = answer["error"]["code"].as_i64() {
        Outcome::RpcError(code)
    } else if answer["result"]["isError"] == true {
        Outcome::ToolError
    } else {
        Outcome::Result
    }
}

#[derive(Default)]
struct Tally(BTreeMap<&'static str, BTreeMap<Outcome, usize>>);

impl Tally {
    fn add(&mut self, category: &'static str, o: Outcome) {
        assert_ne!(o, Outcome::RpcError(-32603), "{category}: internal error");
        *self.0.entry(category).or_default().entry(o).or_default() += 1;
    }

    fn render(&self, transport: &str, rss: [u64; 6]) -> String {
        let mut s = format!("\n{transport}: category | messages | answers\n");
        for (cat, outcomes) in &self.0 {
            let total: usize = outcomes.values().sum();
            let shown: Vec<String> = outcomes
                .iter()
                .map(|(o, n)| match o {
                    Outcome::RpcError(c) => format!("{n}× error {c}"),
                    Outcome::ToolError => format!("{n}× tool error"),
                    Outcome::Result => format!("{n}× result"),
                    Outcome::Http(s) => format!("{n}× HTTP {s}"),
                    Outcome::Silent => format!("{n}× no answer owed"),
                    Outcome::ClosedOverCap => format!("{n}× connection closed at the 4 MiB cap"),
                })
                .collect();
            let _ = writeln!(s, "{cat} | {total} | {}", shown.join(", "));
        }
        let _ = writeln!(
            s,
            "RSS (KiB): {} after initialize; after each of 3 passes of the corpus {} / {} / {}; \
             {} after the duplicates and cancellations; {} peak",
            rss[0], rss[1], rss[2], rss[3], rss[4], rss[5]
        );
        s
    }
}

/// Memory is bounded: no pass of the corpus, nor what follows, leaves the server more than
/// [`RSS_GROWTH_BOUND_KB`] above where it started. (Between passes RSS moves up and down by
/// tens of MiB as the allocator's per-thread arenas take the large messages; a leak would
/// grow pass after pass until it crossed the bound.)
fn check_memory(before: u64, passes: [u64; 3], end: u64) {
    for rss in passes.into_iter().chain([end]) {
        assert!(
            rss < before + RSS_GROWTH_BOUND_KB,
            "RSS {before} → {passes:?} → {end} KiB"
        );
    }
}

/// (current, peak) resident set of `pid`, in KiB.
fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(support::BIN);
    cmd.args(["--mock", "--wait-seconds", "1"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

struct RawStdio {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<String>>,
    /// The start of the last message sent, to name it when it goes unanswered.
    last: String,
}

/// The start of `bytes`, for a failure message.
fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(160).collect()
}

impl RawStdio {
    fn start() -> Self {
        let mut child = command(&[]).spawn().expect("binary starts");
        Self {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            stderr: support::capture_stderr(child.stderr.take().unwrap()),
            last: String::new(),
            child,
        }
    }

    async fn send(&mut self, line: &[u8]) {
        self.last = shown(line);
        self.stdin.write_all(line).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn answer(&mut self) -> Value {
        let mut line = Vec::new();
        let n = tokio::time::timeout(ANSWER_BOUND, self.stdout.read_until(b'\n', &mut line))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "hang after {:?}; stderr:\n{}",
                    self.last,
                    self.stderr.lock().unwrap()
                )
            })
            .unwrap();
        assert!(n > 0, "crash; stderr:\n{}", self.stderr.lock().unwrap());
        serde_json::from_slice(&line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&line)))
    }

    /// Sends `line` and reads the answers it is owed, then checks the server still answers.
    async fn exchange(&mut self, line: &[u8], answers: usize) -> Vec<Value> {
        self.send(line).await;
        let mut got = Vec::new();
        for _ in 0..answers {
            got.push(self.answer().await);
        }
        self.ping().await;
        got
    }

    async fn ping(&mut self) {
        self.send(br#"{"jsonrpc":"2.0","id":"alive","method":"ping"}"#)
            .await;
        let r = self.answer().await;
        assert_eq!(r["id"], "alive", "an unowed answer, or out of order: {r}");
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }
}

#[tokio::test]
async fn stdio_survives_the_corpus() {
    let mut tally = Tally::default();

    // Before `initialize`: each gets an error, and `initialize` still works after them.
    let mut fresh = RawStdio::start();
    for line in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_task","arguments":{"task_id":"t"}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"no/such"}"#,
    ] {
        let notification = !line.contains("\"id\"");
        fresh.send(line.as_bytes()).await;
        if notification {
            tally.add("requests before initialize", Outcome::Silent);
        } else {
            let r = fresh.answer().await;
            let o = outcome(&r);
            // ping is answerable at any time; nothing else may succeed before initialize.
            if o == Outcome::Result {
                assert!(line.contains("ping"), "{line} → {r}");
            }
            tally.add("requests before initialize", o);
        }
    }
    fresh.send(INIT.as_bytes()).await;
    assert_eq!(fresh.answer().await["id"], 0);
    drop(fresh);

    let mut s = RawStdio::start();
    s.send(INIT.as_bytes()).await;
    assert!(s.answer().await["result"].is_object());
    s.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    s.ping().await;
    let (before, _) = rss_kb(s.pid());

    // Three times: the first pass's counts are reported; the others show that memory does
    // not grow when the same input comes again (what the allocator keeps is reused).
    let mut rss_after = [0; 3];
    for (pass, rss) in rss_after.iter_mut().enumerate() {
        let mut repeat = Tally::default();
        let counts = if pass == 0 { &mut tally } else { &mut repeat };
        for c in corpus() {
            if c.answers == 0 {
                counts.add(c.category, Outcome::Silent);
            }
            for answer in s.exchange(&c.bytes, c.answers).await {
                counts.add(c.category, outcome(&answer));
            }
        }
        *rss = rss_kb(s.pid()).0;
    }

    // The same id twice in flight: both get an answer carrying it.
    for _ in 0..20 {
        let line = call(json!("dup"), "get_task", json!({"task_id": "no-such-task"}));
        s.send(line.as_bytes()).await;
        s.send(line.as_bytes()).await;
        for _ in 0..2 {
            let r = s.answer().await;
            assert_eq!(r["id"], "dup", "{r}");
            tally.add("duplicate request ids", outcome(&r));
        }
    }

    // A flood of cancellations: for nothing, for finished requests, and for one in flight.
    s.send(
        call(
            json!("slow"),
            "run_browser_task",
            json!({"task": "a task", "wait_seconds": 5}),
        )
        .as_bytes(),
    )
    .await;
    for i in 0..5_000 {
        let request_id = match i % 4 {
            0 => json!("slow"),
            1 => json!(i),
            2 => json!(format!("nothing-{i}")),
            _ => json!(null),
        };
        let line = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": request_id, "reason": "flood"}});
        s.send(line.to_string().as_bytes()).await;
        tally.add("flood of cancellations", Outcome::Silent);
    }
    // The cancelled call may or may not answer (the spec lets a server drop it); the next
    // answer that is not its is the ping's.
    s.send(br#"{"jsonrpc":"2.0","id":"alive","method":"ping"}"#)
        .await;
    loop {
        let r = s.answer().await;
        if r["id"] == "alive" {
            break;
        }
        assert_eq!(r["id"], "slow", "{r}");
        tally.add("flood of cancellations", outcome(&r));
    }

    let (after, peak) = rss_kb(s.pid());
    eprintln!(
        "{}",
        tally.render(
            "stdio",
            [
                before,
                rss_after[0],
                rss_after[1],
                rss_after[2],
                after,
                peak
            ]
        )
    );
    check_memory(before, rss_after, after);
    drop(s.stdin);
    let status = tokio::time::timeout(ANSWER_BOUND, s.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

/// The HTTP server on a free port, with `args` added: the child, its `/mcp` URL, and the
/// rest of its log to read.
async fn spawn_http(args: &[&str]) -> (Child, String, Lines<BufReader<ChildStderr>>) {
    let mut child = command(&[&["--transport", "http", "--listen", "127.0.0.1:0"], args].concat())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(ANSWER_BOUND, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("url=http://") {
                return line[at + 4..].split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("server exited");
    })
    .await
    .expect("server starts");
    (child, url, lines)
}

/// The HTTP server on a free port: its `/mcp` URL, with its log drained.
async fn start_http() -> (Child, String) {
    let (child, url, mut lines) = spawn_http(&[]).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

struct Http {
    client: reqwest::Client,
    url: String,
    session: Option<String>,
}

impl Http {
    /// POSTs one message; the JSON-RPC answers in the body (JSON or SSE), or the HTTP status
    /// when the transport refused it.
    async fn post(&self, body: Vec<u8>) -> Result<Vec<Value>, u16> {
        let len = body.len();
        let sent = body[..len.min(160)].to_vec();
        let over_cap = len > BODY_CAP;
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body);
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        let r = match tokio::time::timeout(ANSWER_BOUND, req.send())
            .await
            .unwrap_or_else(|_| panic!("hang: {:?}", shown(&sent)))
        {
            Ok(r) => r,
            // The server answers 413 as soon as the cap is reached and closes the
            // connection: a client still sending may see the close before the answer.
            Err(e) if over_cap && e.is_request() => return Err(CLOSED_OVER_CAP),
            Err(e) => panic!("crash: {e:?} ({len} bytes)"),
        };
        let status = r.status().as_u16();
        let text = match tokio::time::timeout(ANSWER_BOUND, r.text())
            .await
            .unwrap_or_else(|_| panic!("hang: {:?}", shown(&sent)))
        {
            Ok(text) => text,
            // The 413's own body may be cut by the same close.
            Err(_) if over_cap && status == 413 => return Err(status),
            Err(e) => panic!("crash: {e:?} (HTTP {status}, {len} bytes)"),
        };
        let answers: Vec<Value> = if text.trim_start().starts_with('{') {
            vec![serde_json::from_str(&text).unwrap()]
        } else {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .filter(|v| v.get("id").is_some())
                .collect()
        };
        if answers.is_empty() && status >= 400 {
            return Err(status);
        }
        Ok(answers)
    }

    async fn ping(&self) {
        let r = self
            .post(br#"{"jsonrpc":"2.0","id":"alive","method":"ping"}"#.to_vec())
            .await;
        assert_eq!(r.expect("ping answered")[0]["id"], "alive");
    }

    async fn record(&self, tally: &mut Tally, category: &'static str, body: Vec<u8>, owed: usize) {
        match self.post(body).await {
            Ok(answers) if answers.is_empty() => {
                assert_eq!(owed, 0, "{category}: no answer");
                tally.add(category, Outcome::Silent);
            }
            Ok(answers) => {
                for a in answers {
                    tally.add(category, outcome(&a));
                }
            }
            Err(CLOSED_OVER_CAP) => tally.add(category, Outcome::ClosedOverCap),
            Err(status) => {
                assert!((400..500).contains(&status), "{category}: HTTP {status}");
                tally.add(category, Outcome::Http(status));
            }
        }
    }
}

#[tokio::test]
async fn http_survives_the_corpus() {
    let (child, url) = start_http().await;
    let pid = child.id().unwrap();
    let mut tally = Tally::default();
    let mut h = Http {
        // A connection per message: after a 413 the server closes the connection, and a
        // pooled one reused by the next message would fail in the client, not the server.
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        url,
        session: None,
    };

    // Before `initialize`: no session yet.
    for line in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_task","arguments":{"task_id":"t"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    ] {
        h.record(
            &mut tally,
            "requests before initialize",
            line.as_bytes().to_vec(),
            1,
        )
        .await;
    }
    h.session = Some("not-a-session".into());
    h.record(
        &mut tally,
        "requests before initialize",
        br#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#.to_vec(),
        1,
    )
    .await;
    h.session = None;

    let init = h
        .client
        .post(&h.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INIT)
        .send()
        .await
        .unwrap();
    h.session = Some(
        init.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned(),
    );
    init.text().await.unwrap();
    let _ = h
        .post(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec())
        .await;
    h.ping().await;
    let (before, _) = rss_kb(pid);

    let mut rss_after = [0; 3];
    for (pass, rss) in rss_after.iter_mut().enumerate() {
        let mut repeat = Tally::default();
        let counts = if pass == 0 { &mut tally } else { &mut repeat };
        for c in corpus() {
            h.record(counts, c.category, c.bytes, c.answers).await;
            h.ping().await;
        }
        *rss = rss_kb(pid).0;
    }

    let h = Arc::new(h);
    for _ in 0..20 {
        let line = call(json!("dup"), "get_task", json!({"task_id": "no-such-task"})).into_bytes();
        let (a, b) = tokio::join!(h.post(line.clone()), h.post(line));
        for answers in [a, b] {
            let answers = answers.expect("answered");
            assert_eq!(answers.len(), 1);
            assert_eq!(answers[0]["id"], "dup");
            tally.add("duplicate request ids", outcome(&answers[0]));
        }
    }

    let slow = {
        let h = h.clone();
        tokio::spawn(async move {
            h.post(
                call(
                    json!("slow"),
                    "run_browser_task",
                    json!({"task": "a task", "wait_seconds": 5}),
                )
                .into_bytes(),
            )
            .await
        })
    };
    for i in 0..2_000 {
        let request_id = match i % 3 {
            0 => json!("slow"),
            1 => json!(i),
            _ => json!(format!("nothing-{i}")),
        };
        let line = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": request_id, "reason": "flood"}});
        let r = h.post(line.to_string().into_bytes()).await;
        assert!(matches!(&r, Ok(a) if a.is_empty()), "{r:?}");
        tally.add("flood of cancellations", Outcome::Silent);
    }
    h.ping().await;
    // The cancelled call's stream ends, with or without an answer.
    let slow = tokio::time::timeout(ANSWER_BOUND, slow)
        .await
        .expect("hang")
        .unwrap();
    for a in slow.unwrap_or_default() {
        tally.add("flood of cancellations", outcome(&a));
    }

    let (after, peak) = rss_kb(pid);
    eprintln!(
        "{}",
        tally.render(
            "HTTP",
            [
                before,
                rss_after[0],
                rss_after[1],
                rss_after[2],
                after,
                peak
            ]
        )
    );
    check_memory(before, rss_after, after);
    drop(child);
}

const TOKEN: &str = "hostile-token-0123456789abcdef";

/// One raw HTTP/1.1 request on its own connection; the status code, or `None` when the
/// server closed without one.
async fn raw_status(addr: &str, request: &[u8]) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut head = Vec::new();
    let _ = tokio::time::timeout(ANSWER_BOUND, s.read_to_end(&mut head))
        .await
        .expect("hang");
    let text = String::from_utf8_lossy(&head);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// `n` in `key=n` across every line of `log` that has it.
fn summed(log: &str, key: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.split_once(&format!("{key}=")))
        .filter_map(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[tokio::test]
async fn http_refuses_abuse_quietly_and_keeps_serving() {
    let (mut child, url, mut lines) =
        spawn_http(&["--auth-token", TOKEN, "--client-keys", "--max-body-mb", "1"]).await;
    let log = tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        http.post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
    };
    let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec();

    // Missing and bad tokens in a tight loop: all 401.
    let bad = [
        format!("Bearer {TOKEN}x"),
        format!("Bearer {}", &TOKEN[1..]),
        format!("Basic {TOKEN}"),
        "Bearer ".to_owned(),
        TOKEN.to_owned(),
    ];
    for i in 0..500 {
        let req = post(list.clone());
        let req = if i % 2 == 0 {
            req
        } else {
            req.header("authorization", &bad[i / 2 % bad.len()])
        };
        assert_eq!(req.send().await.unwrap().status(), 401);
    }

    // Slow-loris and idle connections, held open while a good client works.
    let mut held = Vec::new();
    for i in 0..120 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if i % 6 == 0 {
            s.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
                .await
                .unwrap();
        }
        held.push(s);
    }
    let r = post(INIT.as_bytes().to_vec())
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    assert!(r.text().await.unwrap().contains("smooth-mcp"));
    let good = |body: Vec<u8>| {
        post(body)
            .bearer_auth(TOKEN)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-06-18")
    };
    let r = good(list.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("run_browser_task"));

    // Bodies at the cap pass; one byte more is 413.
    let cap = 1024 * 1024;
    let mut at_cap = br#"{"jsonrpc":"2.0","id":"big","method":"ping"}"#.to_vec();
    at_cap.resize(cap, b' ');
    let r = good(at_cap.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    at_cap.push(b' ');
    match good(at_cap).send().await {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }

    // Header injection in X-Smooth-Api-Key: refused, never echoed or logged.
    let head = |key: &[u8]| {
        let mut req = format!(
            "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Connection: close\r\nContent-Length: {}\r\nX-Smooth-Api-Key: ",
            list.len()
        )
        .into_bytes();
        req.extend_from_slice(key);
        req.extend_from_slice(b"\r\n\r\n");
        req.extend_from_slice(&list);
        req
    };
    let mut injections = 0;
    for key in [
        &b""[..],
        b"   ",
        b"\x80\xffleak-a",
        b"leak-b\r\n folded",
        b"leak-c\x00nul",
        b"leak-d\rInjected: 1",
        b"leak-e\r\n\r\nGET /healthz HTTP/1.1",
    ] {
        let status = raw_status(&addr, &head(key)).await;
        assert!(
            matches!(status, Some(400) | None),
            "{:?} → {status:?}",
            String::from_utf8_lossy(key)
        );
        injections += 1;
    }
    assert_eq!(injections, 7);
    let r = good(list.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    drop(held);

    // SIGTERM: the server writes its last summary and exits.
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(ANSWER_BOUND, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let log = log.await.unwrap();
    let summaries = log
        .lines()
        .filter(|l| l.contains("rejected MCP requests"))
        .count();
    assert!(
        (1..=3).contains(&summaries),
        "{summaries} summary lines:\n{log}"
    );
    assert_eq!(
        summaries,
        log.lines().filter(|l| l.contains("rejected")).count(),
        "{log}"
    );
    assert_eq!(summed(&log, "missing_token"), 250, "{log}");
    assert_eq!(summed(&log, "bad_token"), 250, "{log}");
    assert!(!log.contains("leak-"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
    eprintln!(
        "\nHTTP abuse: 500 requests with missing/bad tokens → 500× 401 and {summaries} log line(s); \
         {injections} injected X-Smooth-Api-Key headers → 400 or closed; bodies at the 1 MiB cap \
         → 200, one byte over → 413; 120 idle/slow-loris connections held, good client served"
    );
}
