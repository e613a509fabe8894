#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! Bad input, as raw bytes on the wire, always gets a JSON-RPC answer; the server stays up
//! and never echoes control characters raw. The real binary with `--mock`, on stdio and on
//! Streamable HTTP.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Upper bound on any one answer: a hang fails the test instead of blocking it.
const ANSWER_BOUND: Duration = Duration::from_secs(30);

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(support::BIN);
    cmd.args(["--mock", "--log-level", "debug"])
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

/// Every byte of `log` is printable text or a line break between log lines.
fn assert_no_raw_controls(log: &str) {
    let bad: Vec<char> = log
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "raw control characters {bad:?} in:\n{log}");
}

struct StdioServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<String>>,
    next_id: i64,
}

impl StdioServer {
    async fn start() -> Self {
        let mut child = command(&[]).spawn().expect("binary starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = support::capture_stderr(child.stderr.take().unwrap());
        let mut s = Self {
            child,
            stdin,
            stdout,
            stderr,
            next_id: 100,
        };
        let init = s
            .exchange(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#)
            .await;
        assert_eq!(init["id"], 0, "{init}");
        s.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        s
    }

    async fn send(&mut self, line: &[u8]) {
        self.stdin.write_all(line).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next stdout line, which must be exactly one JSON object.
    async fn answer(&mut self) -> Value {
        let mut line = Vec::new();
        let n = tokio::time::timeout(ANSWER_BOUND, self.stdout.read_until(b'\n', &mut line))
            .await
            .unwrap_or_else(|_| panic!("no answer; stderr:\n{}", self.stderr.lock().unwrap()))
            .unwrap();
        assert!(
            n > 0,
            "stdout closed; stderr:\n{}",
            self.stderr.lock().unwrap()
        );
        assert!(line.ends_with(b"\n"));
        let value: Value = serde_json::from_slice(&line).unwrap_or_else(|e| {
            panic!(
                "not one JSON line ({e}): {:?}",
                String::from_utf8_lossy(&line)
            )
        });
        assert!(value.is_object(), "{value}");
        value
    }

    async fn exchange(&mut self, line: &[u8]) -> Value {
        self.send(line).await;
        self.answer().await
    }

    /// A normal request still answers, and is the very next line (so the bad input got
    /// exactly one).
    async fn still_up(&mut self) {
        self.next_id += 1;
        let id = self.next_id;
        let r = self
            .exchange(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#).as_bytes())
            .await;
        assert_eq!(r["id"], id, "{r}");
        assert!(r["result"]["tools"].is_array(), "{r}");
    }

    /// Sends `line`, checks its single answer's id and code, then that the server is up.
    async fn expect_error(&mut self, line: &[u8], id: Value, code: i64) -> Value {
        let r = self.exchange(line).await;
        assert_eq!(r["jsonrpc"], "2.0", "{r}");
        assert_eq!(r["id"], id, "{r}");
        assert_eq!(r["error"]["code"], code, "{r}");
        assert!(r.get("result").is_none(), "{r}");
        self.still_up().await;
        r
    }

    async fn tool_error(&mut self, name: &str, arguments: Value) -> String {
        self.next_id += 1;
        let id = self.next_id;
        let line = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}});
        let r = self.exchange(line.to_string().as_bytes()).await;
        assert_eq!(r["id"], id, "{r}");
        assert_eq!(r["result"]["isError"], true, "{r}");
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn quit(mut self) -> String {
        drop(self.stdin);
        let status = tokio::time::timeout(ANSWER_BOUND, self.child.wait())
            .await
            .expect("exits after stdin closes")
            .unwrap();
        assert!(status.success(), "{status}");
        // stdout is at EOF once the process is gone: nothing was left unread.
        let mut rest = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut self.stdout, &mut rest)
            .await
            .unwrap();
        assert!(
            rest.is_empty(),
            "unanswered output: {:?}",
            String::from_utf8_lossy(&rest)
        );
        self.stderr.lock().unwrap().clone()
    }
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn stdio_answers_every_bad_line() {
    let mut s = StdioServer::start().await;
    let null = Value::Null;

    s.expect_error(b"not json", null.clone(), -32700).await;
    s.expect_error(
        b"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\xfe\",\"method\":\"tools/list\"}",
        null.clone(),
        -32700,
    )
    .await;
    s.expect_error(b"\xc3\x28 {", null.clone(), -32700).await;
    // A raw NUL and ESC (not JSON escapes) make the line invalid JSON.
    s.expect_error(
        b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"to\x00ols\x1b/list\"}",
        null.clone(),
        -32700,
    )
    .await;

    let deep = nested(200);
    let before = format!(
        r#"{{"jsonrpc":"2.0","id":"deep-1","method":"tools/call","params":{{"name":"get_task","arguments":{{"task_id":{deep}}}}}}}"#
    );
    s.expect_error(before.as_bytes(), json!("deep-1"), -32600)
        .await;
    let after = format!(
        r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"name":"get_task","arguments":{{"task_id":{deep}}}}},"id":42}}"#
    );
    s.expect_error(after.as_bytes(), json!(42), -32600).await;
    s.expect_error(deep.as_bytes(), null.clone(), -32700).await;
    // Longer than the 16 MiB line cap: dropped unread, but answered.
    s.expect_error(&vec![b'x'; 16 * 1024 * 1024 + 10], null.clone(), -32600)
        .await;

    // Valid JSON that is not a JSON-RPC request.
    for line in ["[]", "42", "{}", r#"{"jsonrpc":"2.0"}"#] {
        s.expect_error(line.as_bytes(), null.clone(), -32600).await;
    }
    s.expect_error(
        br#"{"jsonrpc":"1.0","id":5,"method":"tools/list"}"#,
        json!(5),
        -32600,
    )
    .await;
    s.expect_error(
        br#"{"jsonrpc":"2.0","id":6,"method":"tools/list","params":"x"}"#,
        json!(6),
        -32602,
    )
    .await;
    s.expect_error(
        br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":5}}"#,
        json!(7),
        -32602,
    )
    .await;
    s.expect_error(
        br#"{"jsonrpc":"2.0","id":8,"method":"no/such/method"}"#,
        json!(8),
        -32601,
    )
    .await;
    let unknown_tool = s
        .expect_error(
            br#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"bad\u0000\u001b[31m\r\nname"}}"#,
            json!(10),
            -32602,
        )
        .await;
    assert_no_raw_controls(unknown_tool["error"]["message"].as_str().unwrap());

    // Control characters in tool arguments are escaped where an error quotes them.
    let device = s
        .tool_error(
            "run_browser_task",
            json!({"task": "x", "device": "tab\u{0}\u{1b}[2J\r\nlet"}),
        )
        .await;
    assert_no_raw_controls(&device);
    assert!(device.contains("tab\\0\\u{1b}[2J\\r\\nlet"), "{device}");
    let task = s
        .tool_error(
            "get_task",
            json!({"task_id": "t\u{0}\u{1b}]0;x\u{7}\r\nINFO forged"}),
        )
        .await;
    assert_no_raw_controls(&task);
    s.still_up().await;

    let stderr = s.quit().await;
    assert!(
        stderr.contains("answered a malformed JSON-RPC message"),
        "{stderr}"
    );
    assert_no_raw_controls(&stderr);
    assert!(!stderr.contains("\nINFO forged"), "{stderr}");
}

/// The HTTP server on a free port, its `/mcp` URL read from its startup log.
async fn start_http() -> (Child, String, Arc<Mutex<String>>) {
    let mut child = command(&["--transport", "http", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let url = tokio::time::timeout(ANSWER_BOUND, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push_str(&line);
            seen.push('\n');
            if let Some(at) = line.find("url=http://") {
                let url = line[at + 4..].split_whitespace().next().unwrap();
                return url.to_owned();
            }
        }
        panic!("server exited: {seen}");
    })
    .await
    .expect("server starts");
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    (child, url, log)
}

#[tokio::test]
async fn http_answers_bad_bodies_with_400_and_a_jsonrpc_error() {
    let (mut child, url, log) = start_http().await;
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>, content_type: &'static str| {
        http.post(&url)
            .header("content-type", content_type)
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, Value, i64)> = vec![
        (b"not json".to_vec(), Value::Null, -32700),
        (b"{\"id\":\"\xff\"}".to_vec(), Value::Null, -32700),
        (nested(200).into_bytes(), Value::Null, -32700),
        (
            format!(
                r#"{{"jsonrpc":"2.0","method":"ping","params":{{"a":{}}},"id":3}}"#,
                nested(200)
            )
            .into_bytes(),
            json!(3),
            -32600,
        ),
        (b"[]".to_vec(), Value::Null, -32600),
        (
            br#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":"x"}"#.to_vec(),
            json!(4),
            -32602,
        ),
    ];
    for (body, id, code) in cases {
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(60)
            .collect::<String>();
        let r = post(body, "application/json").await.unwrap();
        assert_eq!(r.status(), 400, "{shown}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{shown}"
        );
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["jsonrpc"], "2.0", "{shown}: {answer}");
        assert_eq!(answer["id"], id, "{shown}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{shown}: {answer}");
    }

    // A wrong Content-Type is still rmcp's 415, whatever the body.
    let r = post(b"not json".to_vec(), "text/plain").await.unwrap();
    assert_eq!(r.status(), 415);

    // A good request still goes through to rmcp.
    let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    let r = post(init.to_vec(), "application/json").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("smooth-mcp"));

    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("answered a malformed JSON-RPC message"),
        "{log}"
    );
    assert_no_raw_controls(&log);
}
