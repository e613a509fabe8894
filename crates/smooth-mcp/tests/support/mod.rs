//! Shared helpers: the real binary on stdio, driven by rmcp's client, against the mock.
#![allow(dead_code)] // each test binary uses a different subset

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProgressNotificationParam,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;
use smooth_mock::{MockConfig, MockSmooth};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_smooth-mcp");

/// A mock with schedules short enough for tests.
pub fn fast_mock() -> MockConfig {
    MockConfig {
        waiting: Duration::from_millis(50),
        run_time: Duration::from_millis(400),
        step_time: Duration::from_millis(100),
        recording_delay: Duration::from_millis(100),
        ..MockConfig::default()
    }
}

pub async fn start_mock(cfg: MockConfig) -> MockSmooth {
    MockSmooth::start(cfg).await.expect("mock starts")
}

/// Records what the server sends besides responses.
#[derive(Clone, Default)]
pub struct Recorder {
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    pub tasks: bool,
}

impl ClientHandler for Recorder {
    async fn on_progress(&self, p: ProgressNotificationParam, _c: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(p);
    }

    fn get_info(&self) -> ClientConfig {
        let caps = if self.tasks {
            ClientCapabilities::builder().enable_tasks().build()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(caps, Implementation::new("smooth-mcp-tests", "0"))
    }
}

pub struct Server {
    pub client: RunningService<RoleClient, Recorder>,
    /// Each tool's declared output schema, to check every structured result against.
    output_schemas: std::collections::HashMap<String, Value>,
    pub recorder: Recorder,
    pub child: Child,
    pub stderr: Arc<Mutex<String>>,
    /// Every byte the server wrote to stdout, when launched with `tee_stdout`.
    pub stdout: Arc<Mutex<Vec<u8>>>,
}

/// Options for [`spawn`].
#[derive(Default)]
pub struct Launch<'a> {
    pub args: Vec<&'a str>,
    pub env: Vec<(&'a str, &'a str)>,
    pub tasks: bool,
    /// Keep a copy of every byte of stdout (in [`Server::stdout`]).
    pub tee_stdout: bool,
}

impl<'a> Launch<'a> {
    /// Only these extra arguments.
    pub fn with_args(args: Vec<&'a str>) -> Self {
        Self {
            args,
            ..Self::default()
        }
    }
}

/// Starts the binary against `mock` with test-friendly flags plus `launch`.
pub async fn spawn_against(mock: &MockSmooth, launch: Launch<'_>) -> Server {
    let base = mock.base_url();
    let mut env = vec![
        ("SMOOTH_BASE_URL", base.as_str()),
        ("SMOOTH_API_KEY", "test-key"),
    ];
    env.extend(launch.env);
    let mut args = vec!["--heartbeat-seconds", "0.5"];
    // A test may choose its own poll interval (a flag may be given once).
    if !launch.args.contains(&"--poll-interval") {
        args.extend(["--poll-interval", "0.1"]);
    }
    args.extend(launch.args);
    spawn(Launch {
        args,
        env,
        tasks: launch.tasks,
        tee_stdout: launch.tee_stdout,
    })
    .await
}

/// Starts the binary with exactly these arguments and environment (plus a minimal one,
/// as stdio hosts give).
pub async fn spawn(launch: Launch<'_>) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.args(&launch.args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        // A task's files land in the temporary directory, never in the checkout (a test's
        // own --downloads-dir wins over this).
        .env("SMOOTH_MCP_DOWNLOADS_DIR", test_downloads_dir())
        .envs(launch.env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let stderr = capture_stderr(child.stderr.take().unwrap());
    let recorder = Recorder {
        tasks: launch.tasks,
        ..Recorder::default()
    };
    let copy = Arc::new(Mutex::new(Vec::new()));
    let client = if launch.tee_stdout {
        let (reader, writer) = tokio::io::duplex(1 << 16);
        tokio::spawn(tee(stdout, writer, copy.clone()));
        recorder.clone().serve((reader, stdin)).await
    } else {
        recorder.clone().serve((stdout, stdin)).await
    }
    .expect("client initializes");
    let output_schemas = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .filter_map(|t| {
            let schema = t.output_schema.as_ref()?;
            Some((t.name.to_string(), Value::Object((**schema).clone())))
        })
        .collect();
    Server {
        client,
        output_schemas,
        recorder,
        child,
        stderr,
        stdout: copy,
    }
}

/// Where the servers of this test process save files unless a test chooses a folder.
pub fn test_downloads_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("smooth-mcp-test-downloads-{}", std::process::id()))
}

/// Copies the child's stdout to the client, keeping every byte; EOF is passed on.
async fn tee(
    mut from: tokio::process::ChildStdout,
    mut to: tokio::io::DuplexStream,
    copy: Arc<Mutex<Vec<u8>>>,
) {
    use tokio::io::AsyncWriteExt;
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        copy.lock().unwrap().extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}

impl Server {
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub async fn call(&self, name: &str, args: Value) -> CallToolResult {
        let params = CallToolRequestParams::new(name.to_owned())
            .with_arguments(args.as_object().cloned().expect("arguments are an object"));
        self.client
            .call_tool(params)
            .await
            .expect("tools/call answered")
    }

    /// A call that must succeed; returns its structured content, checked against the
    /// tool's declared output schema (a mismatch makes strict clients fail).
    pub async fn ok(&self, name: &str, args: Value) -> Value {
        let r = self.call(name, args).await;
        assert_ne!(r.is_error, Some(true), "{name} failed: {}", text(&r));
        let value = r.structured_content.clone().expect("structured content");
        let schema = self
            .output_schemas
            .get(name)
            .expect("tool declares an output schema");
        let validator = jsonschema::validator_for(schema).expect("output schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{name} result does not match its schema: {errors:?}\n{value:#}"
        );
        value
    }

    /// A call that must fail as a tool error; returns its text.
    pub async fn err(&self, name: &str, args: Value) -> String {
        let r = self.call(name, args).await;
        assert_eq!(
            r.is_error,
            Some(true),
            "{name} should fail: {:?}",
            r.structured_content
        );
        assert!(
            r.structured_content.is_none(),
            "errors carry no structured content"
        );
        text(&r)
    }

    /// Closes stdin (as a client that quits) and waits for the process to exit.
    pub async fn quit(mut self) -> (std::process::ExitStatus, String) {
        let _ = self.client.cancel().await;
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("server exits after stdin closes")
            .expect("wait");
        // Let the stderr reader drain.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let err = self.stderr.lock().unwrap().clone();
        (status, err)
    }
}

/// Collects a child's stderr in the background.
pub fn capture_stderr(mut pipe: ChildStderr) -> Arc<Mutex<String>> {
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    stderr
}

/// Sends SIGTERM to a running child.
pub fn sigterm(child: &Child) {
    let pid = child.id().expect("running");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The files of a task's downloads archive, fetched from the mock the way Smooth serves
/// them (the task with the test key, the archive without it).
pub async fn archive_of(
    mock: &MockSmooth,
    task_id: &str,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let http = reqwest::Client::new();
    let task: Value = http
        .get(format!("{}/task/{task_id}?downloads=true", mock.base_url()))
        .header("apikey", "test-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let task = task.get("r").unwrap_or(&task);
    let url = task["downloads_url"].as_str().expect("downloads_url");
    let zip = http.get(url).send().await.unwrap().bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        if f.is_dir() {
            continue;
        }
        let name = f.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        files.insert(name, bytes);
    }
    files
}
