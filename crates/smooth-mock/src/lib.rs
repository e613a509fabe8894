//! A stateful, deterministic fake of the Smooth REST API, in-process and on a real socket.
//!
//! It is a check on the wire format, so it shares no types with the `smooth-api` client:
//! it speaks JSON the way Smooth does. Our tests and benchmarks run against it, and so do
//! `smooth-mcp --mock` / `smooth-mcp mock --listen`, so newcomers can try everything
//! without an account.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let mock = smooth_mock::MockSmooth::start(smooth_mock::MockConfig::default()).await?;
//! let base_url = mock.base_url(); // http://127.0.0.1:PORT/api/v1 — any non-empty apikey works
//! # let _ = base_url;
//! mock.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # What it fakes
//!
//! * The API lives under `/api/v1`: tasks and sessions (`/task`, `/task/{id}`,
//!   `/task/{id}/event`), profiles, files and extensions. Answers come in Smooth's
//!   `{"r": ...}` envelope; errors are FastAPI-style `{"detail": ...}` (422: an array of
//!   `{type, loc, msg, input}`); the key travels in the `apikey` header (the key
//!   `cmzr-forbidden` gets 403 everywhere); `GET /task/{id}` answers 202 while a task is live.
//! * Time is simulated lazily from each task's creation instant; nothing runs in the
//!   background. A task waits `waiting`, runs `run_time`, then ends `done` with
//!   `"Simulated result for task: <task>"` (or an instance of `response_model`),
//!   costing 0.5 credits per `step_time` (capped by `max_steps`).
//! * Task text may carry directives: `[mock:duration=30s|500ms]`, `[mock:fail]`,
//!   `[mock:download]` (the agent "downloads" `report.csv` and `invoice.pdf`),
//!   `[mock:archive=KIND]` (the downloads archive is a hostile one, see below), and agent
//!   tool calls: `[mock:tool_call=NAME]`,
//!   `[mock:tool_call=NAME {"json": "input"}]`, `[mock:ask_user=QUESTION | choice | choice]`
//!   (a call of `ask_user {question, choices?}`). Each call is a `tool_call` event that parks
//!   the agent until it is answered (200: the output mentions what the tool returned, 400:
//!   worked around, 500: the task fails); several are made one after the other. Declared
//!   `custom_tools` are validated but never called on their own. `[mock:type_secret=NAME]`
//!   makes the agent "type" secret NAME of a session `run_task`'s `secrets` and echo its raw
//!   value in the output, so a server's redaction can be tested.
//! * Downloads: with `?downloads=true`, `downloads_url` is `null` until the artifacts are
//!   ready (`recording_delay` after the end), `""` when nothing was downloaded, else a
//!   presigned-style link the mock serves itself, built from the request's `Host`:
//!   `http://HOST/_downloads/{id}.zip?X-Amz-Expires=86400&X-Amz-Signature=SIG` (`SIG`
//!   random per task). Like S3 it answers 400 to a request that also carries an `apikey`
//!   header, 403 to a wrong or missing signature, 404 to an unknown task or one without
//!   downloads, else a deterministic `application/zip`: `report.csv` + `invoice.pdf`
//!   (`[mock:download]`), `screenshot.png` (2400×1500 RGB, ~1 MB; the `screenshot` tool),
//!   `page.pdf` (`print_page`). `[mock:archive=KIND]` serves instead: `zip_slip`
//!   (`report.csv`, `../../evil.txt`, `/tmp/evil.txt`), `zip_bomb` (one 200 MiB entry of
//!   zeros, ~200 KB deflated), `symlink` (`link` → `/etc/passwd`, and `readme.txt`),
//!   `many_entries` (10,000 one-byte files). An unknown KIND fails `POST /task` with a 422
//!   on `task` (a session's `run_task`: a 400 result). Each archive is built once per
//!   process, on first download. Fetches are recorded like API requests (full path, with
//!   any `apikey` they carried) and faults can target them (`/_downloads/*`).
//! * Sessions (`task: null`) run until closed. Browser actions run one at a time:
//!   `goto` 50 ms, `extract` 100 ms (0.1 credits), `evaluate_js` instantly, so an
//!   `evaluate_js` queued behind another action completes in the same millisecond: the
//!   source of timestamp collisions. Events are never given a millisecond a client has
//!   already been shown, so a strictly-after `event_t` cursor loses nothing.
//! * A control surface lives under `/_mock/` (no API key, not recorded):
//!   `GET /_mock/requests`, `POST|GET /_mock/faults`, `POST /_mock/reset`, `POST /_mock/restart`,
//!   `GET /_mock/tasks/{id}`. The same is available in-process on [`MockSmooth`]
//!   ([`MockSmooth::requests`], [`MockSmooth::inject_fault`] with a [`Fault`], ...).
//!
//! # Modules
//!
//! * this file: [`MockSmooth`] (start, inspect, stop), [`MockConfig`] (timings, limits),
//!   [`Fault`] and [`FaultMode`] (injected errors, delays, resets, spoiled answers), [`RecordedRequest`], [`serve_until`].
//! * `routes`: the HTTP surface — auth, envelopes, errors, faults, long-polls.
//! * `state`: the world of tasks, sessions, profiles, files and extensions, and each
//!   task's timeline.
//! * `directives`: the `[mock:...]` markers in task text.
//! * `downloads`: the downloads host (links, signature checks, S3-style errors).
//! * `archive`: what a downloads archive holds, and its zip bytes (honest or hostile).
//! * `artifacts`: the files in honest archives (CSV, PDFs, PNG).
//! * `schema_fill`: example instances of a JSON Schema (`response_model`, `extract`).
//! * `js`: the few `evaluate_js` snippets the mock knows (anything else is echoed back).

mod archive;
mod artifacts;
mod directives;
mod downloads;
mod js;
mod routes;
mod schema_fill;
mod state;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Behaviour knobs of the mock. All schedules are relative to a task's creation.
#[derive(Clone, Debug)]
pub struct MockConfig {
    /// Time a new task or session spends in `waiting`.
    pub waiting: Duration,
    /// Time a one-shot task (or a session `run_task`) spends `running` before it ends.
    pub run_time: Duration,
    /// Time per simulated agent step (credits: 0.5 per step).
    pub step_time: Duration,
    /// After a task ends, `recording_url` / `downloads_url` stay `null` this long.
    pub recording_delay: Duration,
    /// `GET /task/{id}` holds up to this long when there is nothing new (0 = no long-poll).
    pub long_poll: Duration,
    /// `Some(k)`: only `apikey == k` is accepted; `None`: any non-empty key.
    pub api_key: Option<String>,
    /// `POST /task` answers 429 when this many tasks/sessions are live.
    pub max_live_browsers: usize,
    /// Added to every API request (and download).
    pub latency: Duration,
}

impl Default for MockConfig {
    fn default() -> Self {
        let run_time = Duration::from_secs(2);
        MockConfig {
            waiting: Duration::from_millis(200),
            run_time,
            step_time: run_time / 4,
            recording_delay: Duration::from_millis(300),
            long_poll: Duration::ZERO,
            api_key: None,
            max_live_browsers: 64,
            latency: Duration::ZERO,
        }
    }
}

/// One request the mock received (API requests and downloads, not `/_mock/`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// Path after `/api/v1` (the full path for requests outside the base).
    pub path: String,
    /// Raw query string, `""` when none.
    pub query: String,
    pub apikey: Option<String>,
    /// JSON bodies as parsed; multipart uploads as `{"file_name", "size", "file_purpose"}`.
    pub body: Option<serde_json::Value>,
    /// Final HTTP status; `0` while the request is still in flight (e.g. a long-poll).
    pub status: u16,
}

/// An injected failure: matches method + path pattern, fires `times` times, then disappears.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP method (case-insensitive); `"*"` matches any method.
    pub method: String,
    /// Path after `/api/v1`; a `*` segment matches exactly one path segment.
    pub path: String,
    pub status: u16,
    #[serde(default = "one")]
    pub times: usize,
    /// Seconds, sent as a `Retry-After` header.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Error body `detail` (default: the status' reason phrase). The string `"<<raw>>"`
    /// sends the non-JSON body `upstream exploded` as `text/plain` instead.
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
    /// Hold the request this long before answering (`delay_ms` on the wire).
    #[serde(default, rename = "delay_ms", with = "duration_ms")]
    pub delay: Duration,
    /// What the fault does (default: answer `status`).
    #[serde(default)]
    pub mode: FaultMode,
}

/// How an injected fault breaks an exchange. Only [`FaultMode::Status`] and
/// [`FaultMode::ResetBefore`] leave the request unprocessed; the others let the mock act on
/// it (a `POST /task` creates the task) and then spoil the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Answer `status` with an error body (after `delay`).
    #[default]
    Status,
    /// Read the request, then cut the connection without acting on it.
    ResetBefore,
    /// Act on the request, then cut the connection instead of answering.
    ResetAfter,
    /// Act on the request, then hold the answer for `delay` (past the client's timeout).
    StallAfter,
    /// Act on the request; answer with the first half of the body.
    Truncate,
    /// Act on the request; answer 200 with a body that is not JSON.
    Malformed,
    /// Act on the request; answer valid JSON of the wrong shape (no `r` envelope).
    WrongShape,
    /// `GET /task/{id}`: answer every event from the start (ignoring `event_t`), in reverse
    /// order and then again: events delivered twice and out of order, at once.
    ReplayEvents,
}

impl FaultMode {
    /// Whether the mock acts on the request before the fault spoils the answer.
    pub(crate) fn processes(self) -> bool {
        !matches!(self, FaultMode::Status | FaultMode::ResetBefore)
    }
}

fn one() -> usize {
    1
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        if !ms.is_finite() || ms < 0.0 {
            return Err(serde::de::Error::custom(
                "delay_ms must be a non-negative number",
            ));
        }
        Ok(Duration::from_secs_f64(ms / 1000.0))
    }
}

impl Fault {
    /// A fault answering `status` once to `method path`.
    pub fn new(method: &str, path: &str, status: u16) -> Fault {
        Fault {
            method: method.to_string(),
            path: path.to_string(),
            status,
            times: 1,
            retry_after: None,
            detail: None,
            delay: Duration::ZERO,
            mode: FaultMode::Status,
        }
    }

    /// A fault breaking `method path` once as `mode` describes.
    pub fn broken(method: &str, path: &str, mode: FaultMode) -> Fault {
        Fault {
            mode,
            ..Fault::new(method, path, 200)
        }
    }

    pub fn with_times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Fault {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_detail(mut self, detail: impl Into<serde_json::Value>) -> Fault {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Fault {
        self.delay = delay;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        method_matches(&self.method, method) && path_matches(&self.path, path)
    }
}

fn method_matches(pattern: &str, method: &str) -> bool {
    pattern == "*" || pattern.eq_ignore_ascii_case(method)
}

/// Exact match, except that a `*` segment in `pattern` matches any one segment.
fn path_matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let q: Vec<&str> = path.split('/').collect();
    p.len() == q.len() && p.iter().zip(&q).all(|(a, b)| *a == "*" || a == b)
}

/// Shared state of a running mock.
pub(crate) struct Inner {
    pub(crate) cfg: MockConfig,
    /// Where the mock listens: the host of its links when a request has no `Host` header.
    pub(crate) addr: SocketAddr,
    pub(crate) clock: state::Clock,
    world: Mutex<state::World>,
    log: Mutex<Log>,
    faults: Mutex<Vec<Fault>>,
    /// Flips to `true` when the server shuts down (wakes long-polls).
    pub(crate) shutdown: watch::Sender<bool>,
}

#[derive(Default)]
struct Log {
    next: u64,
    entries: Vec<(u64, RecordedRequest)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn new(cfg: MockConfig, addr: SocketAddr) -> Inner {
        Inner {
            cfg,
            addr,
            clock: state::Clock::new(),
            world: Mutex::new(state::World::default()),
            log: Mutex::new(Log::default()),
            faults: Mutex::new(Vec::new()),
            shutdown: watch::channel(false).0,
        }
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, state::World> {
        lock(&self.world)
    }

    pub(crate) fn env(&self) -> state::Env<'_> {
        state::Env {
            cfg: &self.cfg,
            clock: &self.clock,
        }
    }

    /// Reserves a log slot at arrival, so requests are listed in arrival order.
    pub(crate) fn log_start(&self, req: RecordedRequest) -> u64 {
        let mut log = lock(&self.log);
        let slot = log.next;
        log.next += 1;
        log.entries.push((slot, req));
        slot
    }

    pub(crate) fn log_finish(&self, slot: u64, status: u16) {
        let mut log = lock(&self.log);
        if let Some((_, r)) = log.entries.iter_mut().rev().find(|(s, _)| *s == slot) {
            r.status = status;
        }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log)
            .entries
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    pub(crate) fn add_fault(&self, fault: Fault) {
        if fault.times > 0 {
            lock(&self.faults).push(fault);
        }
    }

    pub(crate) fn faults(&self) -> Vec<Fault> {
        lock(&self.faults).clone()
    }

    /// Takes one shot of the first fault matching the request, if any.
    pub(crate) fn take_fault(&self, method: &str, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|f| f.matches(method, path))?;
        let fired = faults[i].clone();
        faults[i].times -= 1;
        if faults[i].times == 0 {
            faults.remove(i);
        }
        Some(fired)
    }

    pub(crate) fn reset(&self) {
        lock(&self.log).entries.clear();
        lock(&self.faults).clear();
    }

    /// A restart of the API that lost its database: every task is forgotten.
    pub(crate) fn restart(&self) {
        self.world().tasks.clear();
    }

    pub(crate) fn task_status(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        let env = self.env();
        let mut world = self.world();
        world
            .advance_task(id, now, &env)
            .map(|t| t.status().as_str().to_string())
    }
}

/// A running mock Smooth server. Dropping it (or [`MockSmooth::shutdown`]) stops the server.
pub struct MockSmooth {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for MockSmooth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockSmooth")
            .field("addr", &self.addr)
            .field("cfg", &self.inner.cfg)
            .finish()
    }
}

impl MockSmooth {
    /// Starts a mock on `127.0.0.1:0`.
    pub async fn start(cfg: MockConfig) -> std::io::Result<MockSmooth> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        MockSmooth::start_on(listener, cfg).await
    }

    /// Starts a mock serving on `listener`.
    pub async fn start_on(listener: TcpListener, cfg: MockConfig) -> std::io::Result<MockSmooth> {
        use axum::serve::ListenerExt;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::new(cfg, addr));
        let app = routes::router(inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        let join = tokio::spawn(server.into_future());
        Ok(MockSmooth {
            addr,
            inner,
            stop: Some(stop),
            join: Some(join),
        })
    }

    /// The socket address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/api/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// The configuration this mock runs with.
    pub fn config(&self) -> &MockConfig {
        &self.inner.cfg
    }

    /// Every API request received, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.requests()
    }

    /// Requests with this method and path (a `*` segment matches any one segment).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.inner
            .requests()
            .iter()
            .filter(|r| method_matches(method, &r.method) && path_matches(path, &r.path))
            .count()
    }

    /// Makes matching API requests fail (or stall) as `fault` describes.
    pub fn inject_fault(&self, fault: Fault) {
        self.inner.add_fault(fault);
    }

    /// Forgets recorded requests and pending faults (tasks, profiles, files stay).
    pub fn reset(&self) {
        self.inner.reset();
    }

    /// Every task and session id created so far, oldest first (also those a
    /// [`MockSmooth::restart`] forgot): what a client must never lose track of.
    pub fn created_tasks(&self) -> Vec<String> {
        self.inner.world().created.clone()
    }

    /// The injected faults that have not fired all their times yet.
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.inner.faults()
    }

    /// Simulates a restart that forgets every task and session: from now on they are
    /// unknown (404). Profiles, files and extensions stay.
    pub fn restart(&self) {
        self.inner.restart();
    }

    /// Current status of a task (`waiting`, `running`, `done`, `failed`, `cancelled`).
    pub fn task_status(&self, id: &str) -> Option<String> {
        self.inner.task_status(id)
    }

    /// Resolves when the task first becomes terminal; returns the instant it was marked
    /// terminal (the scheduled instant, not the moment this future noticed). `None` if unknown.
    pub async fn wait_terminal(&self, id: &str) -> Option<Instant> {
        loop {
            let (mut changed, next) = {
                let now = Instant::now();
                let env = self.inner.env();
                let mut world = self.inner.world();
                let task = world.advance_task(id, now, &env)?;
                if let Some(at) = task.terminal_at() {
                    return Some(at);
                }
                (task.subscribe(), task.next_due())
            };
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = changed.changed() => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => {
                    let _ = changed.changed().await;
                }
            }
        }
    }

    /// Stops the server: no new connections, pending long-polls answer at once.
    pub async fn shutdown(mut self) {
        self.signal_stop();
        if let Some(mut join) = self.join.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut join)
                .await
                .is_err()
        {
            join.abort();
        }
    }

    fn signal_stop(&mut self) {
        self.inner.shutdown.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for MockSmooth {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// Runs a mock on `listener` until `shutdown` resolves.
pub async fn serve_until(
    listener: TcpListener,
    cfg: MockConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let mock = MockSmooth::start_on(listener, cfg).await?;
    tracing::info!(base_url = %mock.base_url(), "mock Smooth API listening");
    shutdown.await;
    tracing::info!("mock Smooth API shutting down");
    mock.shutdown().await;
    Ok(())
}
