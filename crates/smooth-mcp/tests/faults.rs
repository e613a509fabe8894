#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! Faults from Smooth, injected through the mock while a task and a session are live, each
//! scenario followed by the same invariants: the server never crashes and keeps answering,
//! never busy-loops, returns every task Smooth created to its caller by id, never sends
//! `POST /task` twice for one call, closes (or names) every session it opened at shutdown,
//! says what to do next in every error, and never shows the key.
//!
//! `cargo test -p smooth-mcp --test faults -- --nocapture --test-threads 1` prints one
//! RELIABILITY.md table row per scenario, with the counts of that run.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use smooth_mock::{Fault, FaultMode, MockConfig, MockSmooth};
use support::{Launch, Server, fast_mock, spawn_against, start_mock};
use tokio::time::Instant;

/// A recognisable fake key: it must never show up in any output.
const KEY: &str = "cmzr-FAKE-faults-key-5f1e0c9a";
/// The test servers' poll interval (see `spawn_against`).
const POLL: Duration = Duration::from_millis(100);
/// A task that runs until it is cancelled.
const ENDLESS: &str = "Watch the page [mock:duration=86400s]";

/// One scenario: a server with a live task and a live session, what was injected, and
/// everything the caller was told.
struct Scenario {
    name: &'static str,
    injected: &'static str,
    mock: MockSmooth,
    server: Server,
    /// Calls that send `POST /task` (run_browser_task, open_session).
    creates: usize,
    /// Fault shots injected (a fault "forever" counts its finite `times`).
    shots: usize,
    /// Every text and structured result returned to the caller.
    told: Vec<String>,
    errors: Vec<String>,
    /// Results that carried a task or session id.
    results: usize,
    session: String,
    /// The highest poll rate measured for one task, in polls per poll interval.
    worst_rate: Option<f64>,
    /// Smooth is down at shutdown: the session must be named as left open.
    down_at_shutdown: bool,
}

impl Scenario {
    async fn start(name: &'static str, injected: &'static str, cfg: MockConfig) -> Self {
        Self::start_with(name, injected, cfg, vec![]).await
    }

    async fn start_with(
        name: &'static str,
        injected: &'static str,
        cfg: MockConfig,
        args: Vec<&str>,
    ) -> Self {
        let mock = start_mock(cfg).await;
        let server = spawn_against(
            &mock,
            Launch {
                args,
                env: vec![("SMOOTH_API_KEY", KEY)],
                tee_stdout: true,
                ..Launch::default()
            },
        )
        .await;
        let mut s = Scenario {
            name,
            injected,
            mock,
            server,
            creates: 0,
            shots: 0,
            told: vec![],
            errors: vec![],
            results: 0,
            session: String::new(),
            worst_rate: None,
            down_at_shutdown: false,
        };
        s.session = s.create_ok("open_session", json!({})).await["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let live = s
            .create_ok(
                "run_browser_task",
                json!({"task": ENDLESS, "wait_seconds": 0}),
            )
            .await;
        assert!(live["task_id"].is_string(), "{live}");
        s
    }

    fn inject(&mut self, fault: Fault) {
        self.shots += fault.times;
        self.mock.inject_fault(fault);
    }

    async fn ok(&mut self, tool: &str, args: Value) -> Value {
        let v = self.server.ok(tool, args).await;
        if v.get("task_id").or_else(|| v.get("session_id")).is_some() {
            self.results += 1;
        }
        self.told.push(v.to_string());
        v
    }

    async fn err(&mut self, tool: &str, args: Value) -> String {
        let e = self.server.err(tool, args).await;
        self.told.push(e.clone());
        self.errors.push(e.clone());
        e
    }

    async fn create_ok(&mut self, tool: &str, args: Value) -> Value {
        self.creates += 1;
        self.ok(tool, args).await
    }

    async fn create_err(&mut self, tool: &str, args: Value) -> String {
        self.creates += 1;
        self.err(tool, args).await
    }

    /// A task run to its end; its result must come back despite the faults.
    async fn run_to_end(&mut self, task: &str) -> Value {
        self.creates += 1;
        let r = self
            .paced(
                None,
                "run_browser_task",
                json!({"task": task, "wait_seconds": 30}),
            )
            .await;
        assert_eq!(r["status"], "done", "{}: {r}", self.name);
        r
    }

    fn polls(&self, id: &str) -> usize {
        self.mock.count("GET", &format!("/task/{id}"))
    }

    /// A call that must succeed, counting the polls of task `id` (the call's own task when
    /// `None`) while it runs: at most about one per poll interval (a busy loop makes
    /// thousands).
    async fn paced(&mut self, id: Option<&str>, tool: &str, args: Value) -> Value {
        let before = id.map_or(0, |id| self.polls(id));
        let started = Instant::now();
        let out = self.ok(tool, args).await;
        let id = id.map_or_else(
            || out["task_id"].as_str().unwrap().to_owned(),
            str::to_owned,
        );
        let polls = self.polls(&id) - before;
        let intervals = started.elapsed().as_secs_f64() / POLL.as_secs_f64();
        assert!(
            polls as f64 <= intervals * 1.5 + 5.0,
            "{}: {polls} polls of {id} in {intervals:.0} poll intervals",
            self.name
        );
        let rate = polls as f64 / intervals.max(1.0);
        self.worst_rate = Some(self.worst_rate.map_or(rate, |w| w.max(rate)));
        out
    }

    /// Checks the invariants, shuts the server down and prints the scenario's row.
    async fn finish(mut self) {
        let name = self.name;
        // Still answering other calls.
        self.ok("list_sessions", json!({})).await;
        let posts = self.mock.count("POST", "/task");
        assert_eq!(posts, self.creates, "{name}: one POST /task per call");
        let created = self.mock.created_tasks();
        for id in &created {
            assert!(
                self.told.iter().any(|t| t.contains(id.as_str())),
                "{name}: task {id} was created but never named to its caller"
            );
        }
        for e in &self.errors {
            let lower = e.to_lowercase();
            assert!(
                [
                    "retry",
                    "get_task",
                    "cancel_task",
                    "check",
                    "close",
                    "call "
                ]
                .iter()
                .any(|w| lower.contains(w)),
                "{name}: an error without a next step: {e}"
            );
        }
        let stdout = self.server.stdout.clone();
        let (status, stderr) = self.server.quit().await;
        // Counted after shutdown, so closing the session is included.
        let requests = self.mock.requests().len();
        let fired = self.shots
            - self
                .mock
                .pending_faults()
                .iter()
                .map(|f| f.times)
                .sum::<usize>();
        assert!(status.success(), "{name}: exit {status:?}\n{stderr}");
        let stdout = String::from_utf8_lossy(&stdout.lock().unwrap()).into_owned();
        for out in [&stdout, &stderr].into_iter().chain(&self.told) {
            assert!(!out.contains(KEY), "{name}: the key leaked");
        }
        let session = &self.session;
        let closed = self
            .mock
            .task_status(session)
            .is_none_or(|s| matches!(s.as_str(), "done" | "failed" | "cancelled"));
        let reported = stderr
            .lines()
            .any(|l| l.contains(session.as_str()) && l.contains("may still be open"));
        assert!(
            closed != reported && reported == self.down_at_shutdown,
            "{name}: session {session} closed: {closed}, reported as left open: {reported}\n{stderr}"
        );
        println!(
            "| {name} | {} | {fired} | {requests} | {} | {} | all {} | {} | {posts} / {} |",
            self.injected,
            self.worst_rate
                .map_or("—".to_owned(), |r| format!("{r:.2}")),
            self.results,
            created.len(),
            self.errors.len(),
            self.creates,
        );
    }
}

fn get(id: &str, wait: u64) -> Value {
    json!({"task_id": id, "wait_seconds": wait})
}

#[tokio::test]
async fn bursts_of_5xx() {
    let mut s = Scenario::start(
        "5xx burst",
        "503 ×8 on polls, 503 once on POST /task",
        fast_mock(),
    )
    .await;
    s.inject(Fault::new("GET", "/task/*", 503).with_times(8));
    let r = s.run_to_end("Find the price").await;
    let id = r["task_id"].as_str().unwrap().to_owned();
    s.inject(Fault::new("POST", "/task", 503));
    let e = s
        .create_err("run_browser_task", json!({"task": "Find it again"}))
        .await;
    assert!(e.contains("503") && e.contains("retry"), "{e}");
    s.paced(Some(&id), "get_task", get(&id, 0)).await;
    s.finish().await;
}

#[tokio::test]
async fn rate_limited_with_and_without_retry_after() {
    let mut s = Scenario::start(
        "429",
        "429 Retry-After: 1 ×2 on polls; 429 without it on POST /task",
        fast_mock(),
    )
    .await;
    s.inject(
        Fault::new("GET", "/task/*", 429)
            .with_retry_after(1)
            .with_times(2),
    );
    s.run_to_end("Count the links").await;
    s.inject(Fault::new("POST", "/task", 429));
    let e = s
        .create_err("run_browser_task", json!({"task": "More"}))
        .await;
    assert!(
        e.contains("429") && e.contains("close an open session"),
        "{e}"
    );
    s.finish().await;
}

#[tokio::test]
async fn connection_reset_before_the_request_was_processed() {
    let mut s = Scenario::start(
        "reset before",
        "reset before processing: POST /task once, polls ×2",
        fast_mock(),
    )
    .await;
    s.inject(Fault::broken("POST", "/task", FaultMode::ResetBefore));
    let e = s
        .create_err("run_browser_task", json!({"task": "Lost on the way"}))
        .await;
    assert!(
        e.contains("not sent again") && e.contains("most likely not created"),
        "{e}"
    );
    s.inject(Fault::broken("GET", "/task/*", FaultMode::ResetBefore).with_times(2));
    s.run_to_end("Then it works").await;
    s.finish().await;
}

/// The answer to `POST /task` is lost after Smooth created the task: the error names it
/// (with its live URL and how to follow or cancel it), and it can be followed.
async fn lost_creation(mut s: Scenario, fault: Fault) {
    s.inject(fault);
    let e = s
        .create_err("run_browser_task", json!({"task": "Book the table"}))
        .await;
    let created = s.mock.created_tasks();
    let id = created.last().unwrap().clone();
    assert!(e.contains(&format!("task_id \"{id}\"")), "{}: {e}", s.name);
    assert!(e.contains("live_url") && e.contains("get_task") && e.contains("cancel_task"));
    // Tasks this server already knows (the live one, the session) are not candidates.
    assert_eq!(e.matches("task_id \"").count(), 1, "{e}");
    let r = s.paced(Some(&id), "get_task", get(&id, 30)).await;
    assert_eq!(r["status"], "done");
    s.finish().await;
}

#[tokio::test]
async fn connection_reset_after_the_task_was_created() {
    let s = Scenario::start(
        "reset after",
        "reset after processing: POST /task once",
        fast_mock(),
    )
    .await;
    lost_creation(s, Fault::broken("POST", "/task", FaultMode::ResetAfter)).await;
}

#[tokio::test]
async fn an_answer_stalled_past_the_http_timeout() {
    let s = Scenario::start_with(
        "stall",
        "POST /task answer held 2.5 s, --http-timeout 1",
        fast_mock(),
        vec!["--http-timeout", "1"],
    )
    .await;
    let stall = Fault::broken("POST", "/task", FaultMode::StallAfter)
        .with_delay(Duration::from_millis(2500));
    lost_creation(s, stall).await;
}

/// A spoiled answer to `POST /task` names the task; spoiled poll answers are retried.
async fn spoiled(name: &'static str, injected: &'static str, mode: FaultMode) {
    let mut s = Scenario::start(name, injected, fast_mock()).await;
    s.inject(Fault::broken("GET", "/task/*", mode).with_times(2));
    s.run_to_end("Read the headline").await;
    lost_creation(s, Fault::broken("POST", "/task", mode)).await;
}

#[tokio::test]
async fn truncated_json() {
    spoiled(
        "truncated JSON",
        "body cut in half: polls ×2, POST /task once",
        FaultMode::Truncate,
    )
    .await;
}

#[tokio::test]
async fn malformed_json() {
    spoiled(
        "malformed JSON",
        "non-JSON body: polls ×2, POST /task once",
        FaultMode::Malformed,
    )
    .await;
}

#[tokio::test]
async fn valid_json_of_the_wrong_shape() {
    spoiled(
        "wrong shape",
        "JSON without the `r` envelope: polls ×2, POST /task once",
        FaultMode::WrongShape,
    )
    .await;
}

#[tokio::test]
async fn a_restart_that_forgets_every_task() {
    let mut s = Scenario::start(
        "restart",
        "every task forgotten (404 from then on)",
        fast_mock(),
    )
    .await;
    let live = s.mock.created_tasks()[1].clone();
    s.mock.restart();
    let e = s.err("get_task", get(&live, 5)).await;
    assert!(e.contains(&live) && e.contains("404"), "{e}");
    let session = s.session.clone();
    let e = s
        .err(
            "session_action",
            json!({"session_id": session, "action": "evaluate_js", "js": "1"}),
        )
        .await;
    assert!(e.contains("404"), "{e}");
    // New work goes on.
    s.run_to_end("After the restart").await;
    s.finish().await;
}

#[tokio::test]
async fn a_task_that_never_ends_under_an_instant_long_poll() {
    let mut s = Scenario::start(
        "never ends",
        "a task that never ends; GET answers at once (no long-poll)",
        fast_mock(),
    )
    .await;
    let r = s
        .create_ok(
            "run_browser_task",
            json!({"task": ENDLESS, "wait_seconds": 2}),
        )
        .await;
    assert_eq!(r["status"], "running", "{r}");
    let id = r["task_id"].as_str().unwrap().to_owned();
    let again = s.paced(Some(&id), "get_task", get(&id, 2)).await;
    assert_eq!(again["status"], "running");
    let cancelled = s.ok("cancel_task", json!({"task_id": id})).await;
    assert_eq!(cancelled["status"], "cancelled");
    s.finish().await;
}

#[tokio::test]
async fn events_twice_and_out_of_order_answered_at_once_forever() {
    let mut s = Scenario::start(
        "events replayed",
        "every poll: all events from the start, reversed then again, at once (forever)",
        fast_mock(),
    )
    .await;
    let session = s.session.clone();
    s.inject(
        Fault::broken("GET", &format!("/task/{session}"), FaultMode::ReplayEvents)
            .with_times(100_000),
    );
    for js in ["1 + 1", "document.title", "2 * 21"] {
        let r = s
            .paced(
                Some(&session),
                "session_action",
                json!({"session_id": session, "action": "evaluate_js", "js": js}),
            )
            .await;
        assert!(!r["output"].is_null(), "{r}");
    }
    // Nothing new for a while: only repeats, which must not be re-polled at once.
    let r = s
        .paced(
            Some(&session),
            "session_action",
            json!({"session_id": session, "action": "run_task",
                   "task": "Wait [mock:duration=1500ms]", "wait_seconds": 30}),
        )
        .await;
    assert_eq!(r["status"], "done", "{r}");
    s.finish().await;
}

#[tokio::test]
async fn smooth_down_while_a_task_is_followed() {
    let mut s = Scenario::start(
        "Smooth down",
        "503 on every poll while a new task is followed for 3 s; on everything at shutdown",
        fast_mock(),
    )
    .await;
    s.inject(Fault::new("GET", "/task/*", 503).with_times(100_000));
    // The poller retries with backoff while the call waits; the call returns the task as
    // last seen, by id.
    s.creates += 1;
    let r = s
        .paced(
            None,
            "run_browser_task",
            json!({"task": ENDLESS, "wait_seconds": 3}),
        )
        .await;
    assert_eq!(r["status"], "waiting", "{r}");
    // Still down at shutdown, for closing too: the session cannot be closed and must be
    // named as left open.
    s.inject(Fault::new("*", "/task/*", 503).with_times(100_000));
    s.inject(Fault::new("POST", "/task/*/event", 503).with_times(100_000));
    s.down_at_shutdown = true;
    s.finish().await;
}
