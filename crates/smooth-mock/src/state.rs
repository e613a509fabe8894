//! Tasks, sessions, profiles, files and extensions of the mock, with a lazily computed
//! timeline: every change is scheduled at an `Instant` and materialized (in order) whenever
//! the task is looked at. Nothing runs in the background.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::MockConfig;
use super::archive::Contents;
use super::directives;
use super::downloads;
use super::js;
use super::schema_fill;

/// How long simulated browser actions take.
pub(crate) const GOTO_TIME: Duration = Duration::from_millis(50);
pub(crate) const EXTRACT_TIME: Duration = Duration::from_millis(100);
/// `evaluate_js` is instantaneous: queued behind another action it completes in the same
/// millisecond, which is how the mock produces (realistic) timestamp collisions.
pub(crate) const EVALUATE_TIME: Duration = Duration::ZERO;
pub(crate) const CLOSE_ACK_TIME: Duration = Duration::from_millis(20);
pub(crate) const CLOSE_END_TIME: Duration = Duration::from_millis(30);
pub(crate) const EXTRACT_CREDITS: f64 = 0.1;
pub(crate) const CREDITS_PER_STEP: f64 = 0.5;
pub(crate) const MAX_TOOL_CALL_DELAY: Duration = Duration::from_millis(50);

pub(crate) struct Env<'a> {
    pub cfg: &'a MockConfig,
    pub clock: &'a Clock,
}

/// Maps `Instant`s to epoch milliseconds, consistently for the life of the mock.
pub(crate) struct Clock {
    base: Instant,
    base_ms: i64,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Clock {
            base: Instant::now(),
            base_ms,
        }
    }

    pub(crate) fn ms(&self, t: Instant) -> i64 {
        self.base_ms + t.saturating_duration_since(self.base).as_millis() as i64
    }

    pub(crate) fn unix(&self, t: Instant) -> i64 {
        self.ms(t).div_euclid(1000)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Waiting,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Status::Done | Status::Failed | Status::Cancelled)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub name: String,
    pub id: String,
    pub payload: Value,
    pub ts: i64,
}

impl Event {
    fn to_json(&self) -> Value {
        json!({"name": self.name, "payload": self.payload, "id": self.id, "timestamp": self.ts})
    }
}

/// A Smooth → client event scheduled for later.
struct Pending {
    due: Instant,
    seq: u64,
    name: String,
    id: String,
    payload: Value,
    credits: f64,
}

struct ToolAnswer {
    code: i64,
    output: Value,
    at: Instant,
}

struct ToolPlan {
    name: String,
    input: Value,
    call_id: String,
    emitted: bool,
    answer: Option<ToolAnswer>,
}

/// A secret given to a session's `run_task`: `{NAME: {value, allowed_urls}}`.
#[derive(Clone)]
pub(crate) struct Secret {
    value: String,
    allowed_urls: Vec<String>,
}

/// What an agent run does next.
enum Step {
    /// Emit the `tool_call` of `calls[i]` at this instant.
    Call(usize, Instant),
    /// Waiting for an answer.
    Parked,
    End(Instant),
}

/// A simulated agent run: a one-shot task, or a `run_task` inside a session.
struct AgentRun {
    text: String,
    response_model: Option<Value>,
    start: Instant,
    run_time: Duration,
    steps: u32,
    fail: bool,
    /// What the run leaves in the task's downloads archive.
    downloads: Contents,
    /// Made one after the other, each `tool_delay` after the previous answer.
    calls: Vec<ToolPlan>,
    tool_delay: Duration,
    type_secrets: Vec<String>,
    secrets: HashMap<String, Secret>,
    /// For a session `run_task`: the id of the event that carries its result.
    result_id: Option<String>,
}

struct RunSpec<'a> {
    text: &'a str,
    response_model: Option<Value>,
    max_steps: u32,
    start: Instant,
    secrets: HashMap<String, Secret>,
    result_id: Option<String>,
}

impl AgentRun {
    fn new(spec: RunSpec<'_>, cfg: &MockConfig) -> AgentRun {
        let d = directives::parse(spec.text);
        let run_time = d.duration.unwrap_or(cfg.run_time);
        let steps = if cfg.step_time.is_zero() {
            1
        } else {
            run_time
                .as_nanos()
                .div_ceil(cfg.step_time.as_nanos())
                .max(1)
        };
        let steps = steps.min(u128::from(spec.max_steps.max(1))) as u32;
        let calls = d
            .calls
            .into_iter()
            .map(|c| ToolPlan {
                name: c.tool,
                input: c.input,
                call_id: format!("call_{}", random_id(16)),
                emitted: false,
                answer: None,
            })
            .collect();
        AgentRun {
            text: d.clean,
            response_model: spec.response_model,
            start: spec.start,
            run_time,
            steps,
            fail: d.fail,
            downloads: Contents {
                files: d.download,
                hostile: d.archive,
                ..Contents::default()
            },
            calls,
            tool_delay: (cfg.step_time / 2).min(MAX_TOOL_CALL_DELAY),
            type_secrets: d.type_secrets,
            secrets: spec.secrets,
            result_id: spec.result_id,
        }
    }

    /// The run's timeline: time parked on a call does not count as running time; a 500
    /// answer ends the run at once.
    fn step(&self) -> Step {
        let mut resumed = self.start;
        let mut parked = Duration::ZERO;
        for (i, call) in self.calls.iter().enumerate() {
            let at = resumed + self.tool_delay;
            if !call.emitted {
                return Step::Call(i, at);
            }
            let Some(answer) = &call.answer else {
                return Step::Parked;
            };
            resumed = answer.at.max(at);
            if answer.code >= 500 {
                return Step::End(resumed);
            }
            parked += resumed - at;
        }
        Step::End((self.start + self.run_time + parked).max(resumed))
    }

    /// The call waiting for an answer, if it has this id.
    fn waiting_call(&mut self, call_id: &str) -> Option<&mut ToolPlan> {
        self.calls
            .iter_mut()
            .find(|c| c.emitted && c.answer.is_none())
            .filter(|c| c.call_id == call_id)
    }

    fn credits_at(&self, t: Instant, cfg: &MockConfig) -> f64 {
        if t < self.start {
            return 0.0;
        }
        let elapsed = t - self.start;
        let steps = if cfg.step_time.is_zero() {
            u128::from(self.steps)
        } else {
            elapsed
                .as_nanos()
                .div_ceil(cfg.step_time.as_nanos())
                .clamp(1, u128::from(self.steps))
        };
        steps as f64 * CREDITS_PER_STEP
    }

    fn final_credits(&self) -> f64 {
        f64::from(self.steps) * CREDITS_PER_STEP
    }

    /// (succeeded, output) once finished.
    fn outcome(&self) -> (bool, Value) {
        if self.fail {
            return (false, json!("Agent failed: simulated failure"));
        }
        let answered = self
            .calls
            .iter()
            .filter_map(|c| c.answer.as_ref().map(|a| (c, a)));
        if let Some((tool, a)) = answered.clone().find(|(_, a)| a.code >= 500) {
            return (
                false,
                json!(format!(
                    "Agent failed: tool '{}' returned an internal error: {}",
                    tool.name, a.output
                )),
            );
        }
        if let Some(schema) = &self.response_model {
            return (true, schema_fill::fill(schema, "output"));
        }
        let mut out = format!("Simulated result for task: {}", self.text);
        for (tool, a) in answered {
            if a.code >= 400 {
                out.push_str(&format!(
                    " (tool '{}' failed with {}; the agent worked around it)",
                    tool.name, a.output
                ));
            } else {
                out.push_str(&format!(" (tool '{}' returned {})", tool.name, a.output));
            }
        }
        // The raw value on purpose: the server in front of the mock must redact it.
        for name in &self.type_secrets {
            match self.secrets.get(name) {
                Some(s) => out.push_str(&format!(
                    " (typed {name} (value {}) on {})",
                    s.value,
                    s.allowed_urls.join(", ")
                )),
                None => out.push_str(&format!(" (secret {name} was not given)")),
            }
        }
        (true, json!(out))
    }
}

/// `run_task`'s `secrets`: `{NAME: {"value": string, "allowed_urls": [string, ...]}}`.
fn parse_secrets(v: Option<&Value>) -> Result<HashMap<String, Secret>, String> {
    const SHAPE: &str =
        "run_task secrets must be {NAME: {\"value\": string, \"allowed_urls\": [string, ...]}}";
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(HashMap::new());
    };
    let map = v.as_object().ok_or(SHAPE)?;
    let mut out = HashMap::new();
    for (name, s) in map {
        let value = s.get("value").and_then(Value::as_str);
        let urls: Option<Vec<String>> = s
            .get("allowed_urls")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .and_then(|a| a.iter().map(|u| u.as_str().map(str::to_string)).collect());
        let (Some(value), Some(allowed_urls)) = (value, urls) else {
            return Err(format!("{SHAPE}; {name:?} is not"));
        };
        out.insert(
            name.clone(),
            Secret {
                value: value.to_string(),
                allowed_urls,
            },
        );
    }
    Ok(out)
}

/// What the validated `POST /task` body asks for.
pub(crate) struct TaskSpec {
    pub task: Option<String>,
    pub response_model: Option<Value>,
    pub url: Option<String>,
    pub max_steps: u32,
    pub device: String,
    pub enable_recording: bool,
    pub profile_id: Option<String>,
    pub profile_read_only: bool,
    /// What the requested tools leave in the downloads archive (screenshots, printed pages).
    pub downloads: Contents,
}

pub(crate) struct Task {
    pub id: String,
    pub seq: u64,
    created: Instant,
    running_at: Instant,
    session: bool,
    device: String,
    enable_recording: bool,
    profile_id: Option<String>,
    profile_read_only: bool,
    downloads: Contents,
    /// The `X-Amz-Signature` of this task's downloads link: unguessable, so the link is the
    /// only way in (as with a presigned S3 URL).
    download_signature: String,
    status: Status,
    terminal_at: Option<Instant>,
    output: Value,
    /// Credits of finished work (session actions, finished runs, or the final task total).
    credits: f64,
    /// The one-shot task's run, or the session's current `run_task`.
    agent: Option<AgentRun>,
    events: Vec<Event>,
    pending: Vec<Pending>,
    pending_seq: u64,
    last_ts: i64,
    /// Whether `last_ts` has been shown to a client (then later events get a later ms).
    last_ts_served: bool,
    current_url: Option<String>,
    browser_free_at: Instant,
    closing: bool,
    close_end: Option<Instant>,
    notify: watch::Sender<u64>,
}

enum Happening {
    Start,
    Pending(usize),
    ToolCall(usize),
    AgentEnd,
    CloseEnd,
}

/// Why an event could not be accepted (`POST /task/{id}/event`): HTTP 400 with this detail.
pub(crate) struct Rejected(pub String);

impl Task {
    pub(crate) fn new(
        id: String,
        seq: u64,
        spec: TaskSpec,
        now: Instant,
        cfg: &MockConfig,
    ) -> Task {
        let running_at = now + cfg.waiting;
        let session = spec.task.is_none();
        let agent = spec.task.as_deref().map(|text| {
            AgentRun::new(
                RunSpec {
                    text,
                    response_model: spec.response_model.clone(),
                    max_steps: spec.max_steps,
                    start: running_at,
                    secrets: HashMap::new(),
                    result_id: None,
                },
                cfg,
            )
        });
        let downloads = agent
            .as_ref()
            .map_or(spec.downloads, |a| spec.downloads.merge(a.downloads));
        Task {
            id,
            seq,
            created: now,
            running_at,
            session,
            device: spec.device,
            enable_recording: spec.enable_recording,
            profile_id: spec.profile_id,
            profile_read_only: spec.profile_read_only,
            downloads,
            download_signature: uuid::Uuid::new_v4().simple().to_string(),
            status: Status::Waiting,
            terminal_at: None,
            output: Value::Null,
            credits: 0.0,
            agent,
            events: Vec::new(),
            pending: Vec::new(),
            pending_seq: 0,
            last_ts: 0,
            last_ts_served: false,
            current_url: spec.url,
            browser_free_at: now,
            closing: false,
            close_end: None,
            notify: watch::channel(0).0,
        }
    }

    pub(crate) fn status(&self) -> Status {
        self.status
    }

    pub(crate) fn is_live(&self) -> bool {
        !self.status.is_terminal()
    }

    pub(crate) fn terminal_at(&self) -> Option<Instant> {
        self.terminal_at
    }

    pub(crate) fn created_unix(&self, clock: &Clock) -> i64 {
        clock.unix(self.created)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    fn changed(&self) {
        self.notify.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Marks the events currently visible as shown to a client.
    pub(crate) fn mark_served(&mut self) {
        self.last_ts_served = true;
    }

    fn next_happening(&self) -> Option<(Instant, Happening)> {
        if self.status.is_terminal() {
            return None;
        }
        let mut best: Option<(Instant, u8, u64, Happening)> = None;
        let mut offer = |at: Instant, rank: u8, seq: u64, h: Happening| {
            if best
                .as_ref()
                .is_none_or(|(b, r, s, _)| (at, rank, seq) < (*b, *r, *s))
            {
                best = Some((at, rank, seq, h));
            }
        };
        if self.status == Status::Waiting {
            offer(self.running_at, 0, 0, Happening::Start);
        }
        for (i, p) in self.pending.iter().enumerate() {
            offer(p.due, 1, p.seq, Happening::Pending(i));
        }
        if let Some(agent) = &self.agent {
            match agent.step() {
                Step::Call(i, at) => offer(at, 2, 0, Happening::ToolCall(i)),
                Step::Parked => {}
                Step::End(at) => offer(at, 3, 0, Happening::AgentEnd),
            }
        }
        if let Some(end) = self.close_end {
            offer(end, 4, 0, Happening::CloseEnd);
        }
        best.map(|(at, _, _, h)| (at, h))
    }

    /// The next instant at which something will change by itself (for sleeping waiters).
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.next_happening().map(|(at, _)| at)
    }

    /// Materializes everything scheduled up to `now`, in order.
    pub(crate) fn advance(&mut self, now: Instant, env: &Env<'_>, profiles: &mut [Profile]) {
        while let Some((at, happening)) = self.next_happening() {
            if at > now {
                break;
            }
            match happening {
                Happening::Start => self.status = Status::Running,
                Happening::Pending(i) => {
                    let p = self.pending.remove(i);
                    self.credits += p.credits;
                    self.push_event(p.name, p.id, p.payload, p.due, env.clock);
                }
                Happening::ToolCall(i) => {
                    let Some(tool) = self.agent.as_mut().and_then(|a| a.calls.get_mut(i)) else {
                        continue;
                    };
                    tool.emitted = true;
                    let (id, payload) = (
                        tool.call_id.clone(),
                        json!({"name": tool.name, "input": tool.input}),
                    );
                    self.push_event("tool_call".into(), id, payload, at, env.clock);
                }
                Happening::AgentEnd => {
                    let Some(agent) = self.agent.take() else {
                        continue;
                    };
                    let (ok, output) = agent.outcome();
                    self.downloads = self.downloads.merge(agent.downloads);
                    match agent.result_id.clone() {
                        // A session's run_task: report it as the action's result.
                        Some(result_id) => {
                            let credits = agent.final_credits();
                            self.credits += credits;
                            let payload = if ok {
                                action_ok(output, credits, at - agent.start)
                            } else {
                                json!({"code": 400, "output": output})
                            };
                            self.push_event(
                                "session_action".into(),
                                result_id,
                                payload,
                                at,
                                env.clock,
                            );
                        }
                        None => {
                            self.credits = agent.final_credits();
                            self.output = output;
                            let status = if ok { Status::Done } else { Status::Failed };
                            self.end(status, at, env, profiles);
                        }
                    }
                }
                Happening::CloseEnd => self.end(Status::Done, at, env, profiles),
            }
        }
    }

    fn push_event(&mut self, name: String, id: String, payload: Value, at: Instant, clock: &Clock) {
        let mut ts = clock.ms(at).max(self.last_ts);
        if self.last_ts_served && ts <= self.last_ts {
            ts = self.last_ts + 1;
        }
        self.last_ts = ts;
        self.last_ts_served = false;
        self.events.push(Event {
            name,
            id,
            payload,
            ts,
        });
    }

    fn end(&mut self, status: Status, at: Instant, env: &Env<'_>, profiles: &mut [Profile]) {
        self.status = status;
        self.terminal_at = Some(at);
        self.pending.clear();
        self.close_end = None;
        self.closing = false;
        if let (Some(pid), false) = (&self.profile_id, self.profile_read_only)
            && let Some(profile) = profiles.iter_mut().find(|p| &p.id == pid)
        {
            profile.saved(self.current_url.as_deref(), env.clock.unix(at));
        }
    }

    /// `DELETE /task/{id}`: false when already terminal.
    pub(crate) fn cancel(&mut self, now: Instant, env: &Env<'_>, profiles: &mut [Profile]) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        if let Some(agent) = self.agent.take() {
            let used = agent.credits_at(now, env.cfg);
            if agent.result_id.is_some() {
                self.credits += used;
            } else {
                self.credits = used;
            }
        }
        self.end(Status::Cancelled, now, env, profiles);
        self.changed();
        true
    }

    fn credits_now(&self, now: Instant, cfg: &MockConfig) -> f64 {
        let running = match &self.agent {
            Some(a) if self.is_live() => a.credits_at(now, cfg),
            _ => 0.0,
        };
        let total = if self.session {
            self.credits + running
        } else if self.is_live() {
            running
        } else {
            self.credits
        };
        (total * 10_000.0).round() / 10_000.0
    }

    /// Whether the recording and downloads links exist yet (a while after the end).
    fn artifacts_ready(&self, now: Instant, cfg: &MockConfig) -> bool {
        self.terminal_at
            .is_some_and(|t| now >= t + cfg.recording_delay)
    }

    /// What the downloads archive holds, once its link has been published; `None` before,
    /// or when nothing was downloaded.
    pub(crate) fn downloads(&self, now: Instant, cfg: &MockConfig) -> Option<Contents> {
        (self.artifacts_ready(now, cfg) && !self.downloads.is_empty()).then_some(self.downloads)
    }

    pub(crate) fn download_signature(&self) -> &str {
        &self.download_signature
    }

    /// The TaskResponse JSON. `events_after`: include `events` newer than this ms cursor.
    /// `downloads_host`: include `downloads_url`, a link to the mock at this `host[:port]`.
    pub(crate) fn to_json(
        &self,
        now: Instant,
        env: &Env<'_>,
        events_after: Option<i64>,
        downloads_host: Option<&str>,
    ) -> Value {
        let live = self.is_live();
        let live_url = (self.status == Status::Running)
            .then(|| format!("https://live.mock.smooth.sh/{}", self.id));
        let artifacts_ready = self.artifacts_ready(now, env.cfg);
        let recording_url = artifacts_ready.then(|| {
            if self.enable_recording {
                format!("https://recordings.mock.smooth.sh/{}.mp4", self.id)
            } else {
                String::new()
            }
        });
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("status".into(), json!(self.status.as_str()));
        out.insert(
            "output".into(),
            if live {
                Value::Null
            } else {
                self.output.clone()
            },
        );
        out.insert("credits_used".into(), json!(self.credits_now(now, env.cfg)));
        out.insert("device".into(), json!(self.device));
        out.insert("live_url".into(), json!(live_url));
        out.insert("recording_url".into(), json!(recording_url));
        if let Some(host) = downloads_host {
            let downloads_url = artifacts_ready.then(|| {
                if self.downloads.is_empty() {
                    String::new()
                } else {
                    downloads::link(host, &self.id, &self.download_signature)
                }
            });
            out.insert("downloads_url".into(), json!(downloads_url));
        }
        out.insert("created_at".into(), json!(self.created_unix(env.clock)));
        out.insert(
            "events".into(),
            match events_after {
                Some(after) => Value::Array(
                    self.events
                        .iter()
                        .filter(|e| e.ts > after)
                        .map(Event::to_json)
                        .collect(),
                ),
                None => Value::Null,
            },
        );
        Value::Object(out)
    }

    pub(crate) fn has_events_after(&self, after: i64) -> bool {
        self.events.last().is_some_and(|e| e.ts > after)
    }

    /// `POST /task/{id}/event`. The task must have been advanced to `now`.
    pub(crate) fn post_event(
        &mut self,
        now: Instant,
        cfg: &MockConfig,
        name: &str,
        id: &str,
        payload: &Map<String, Value>,
    ) -> Result<(), Rejected> {
        if self.status.is_terminal() || self.closing {
            return Err(Rejected(if self.session {
                "Session is closed".into()
            } else {
                "Task is not running".into()
            }));
        }
        let action = payload.get("name").and_then(Value::as_str).unwrap_or("");
        let input = payload.get("input").unwrap_or(&Value::Null);
        match name {
            "browser_action" => self.browser_action(now, id, action, input),
            "session_action" => self.session_action(now, cfg, id, action, input),
            "tool_call" => return self.answer_tool_call(now, id, payload),
            other => return Err(Rejected(format!("Unknown event name: {other:?}"))),
        }
        self.changed();
        Ok(())
    }

    fn schedule(&mut self, due: Instant, name: &str, id: &str, payload: Value, credits: f64) {
        self.pending_seq += 1;
        self.pending.push(Pending {
            due,
            seq: self.pending_seq,
            name: name.to_string(),
            id: id.to_string(),
            payload,
            credits,
        });
    }

    fn url_or_blank(&self) -> String {
        self.current_url
            .clone()
            .unwrap_or_else(|| "about:blank".into())
    }

    fn browser_action(&mut self, now: Instant, id: &str, action: &str, input: &Value) {
        let (duration, result, credits) = match action {
            "goto" => match input.get("url").and_then(Value::as_str) {
                Some(url) => {
                    self.current_url = Some(url.to_string());
                    (GOTO_TIME, Ok(Value::Null), 0.0)
                }
                None => (Duration::ZERO, Err("goto needs input.url".to_string()), 0.0),
            },
            "extract" => match input.get("schema").filter(|s| s.is_object()) {
                Some(schema) => (
                    EXTRACT_TIME,
                    Ok(schema_fill::fill(schema, "value")),
                    EXTRACT_CREDITS,
                ),
                None => (
                    Duration::ZERO,
                    Err("extract needs input.schema (a JSON Schema object)".to_string()),
                    0.0,
                ),
            },
            "evaluate_js" => match input.get("js").and_then(Value::as_str) {
                Some(code) => {
                    let args = input.get("args").unwrap_or(&Value::Null);
                    (
                        EVALUATE_TIME,
                        js::evaluate(code, args, &self.url_or_blank()),
                        0.0,
                    )
                }
                None => (
                    Duration::ZERO,
                    Err("evaluate_js needs input.js".to_string()),
                    0.0,
                ),
            },
            other => (
                Duration::ZERO,
                Err(format!("Unknown browser action: {other:?}")),
                0.0,
            ),
        };
        // One browser: actions run one after the other, once the browser is up.
        let start = now.max(self.running_at).max(self.browser_free_at);
        let due = start + duration;
        self.browser_free_at = due;
        let payload = match result {
            Ok(data) => action_ok(data, credits, duration),
            Err(msg) => json!({"code": 400, "output": msg}),
        };
        let credits = if payload["code"] == 200 { credits } else { 0.0 };
        self.schedule(due, "browser_action", id, payload, credits);
    }

    fn session_action(
        &mut self,
        now: Instant,
        cfg: &MockConfig,
        id: &str,
        action: &str,
        input: &Value,
    ) {
        let reject = |task: &mut Task, msg: &str| {
            task.schedule(
                now,
                "session_action",
                id,
                json!({"code": 400, "output": msg}),
                0.0,
            );
        };
        if !self.session {
            return reject(
                self,
                "session_action is only available in sessions (task: null)",
            );
        }
        match action {
            "run_task" => {
                if self.agent.is_some() {
                    return reject(self, "An agent task is already running in this session");
                }
                let Some(text) = input
                    .get("task")
                    .and_then(Value::as_str)
                    .filter(|t| !t.trim().is_empty())
                else {
                    return reject(self, "run_task needs input.task (a non-empty string)");
                };
                if let Some(error) = directives::parse(text).errors.first() {
                    return reject(self, error);
                }
                let max_steps = match input.get("max_steps") {
                    None | Some(Value::Null) => 32,
                    Some(v) => match v.as_u64().filter(|n| (2..=128).contains(n)) {
                        Some(n) => n as u32,
                        None => {
                            return reject(self, "max_steps must be an integer between 2 and 128");
                        }
                    },
                };
                if let Some(url) = input.get("url").and_then(Value::as_str) {
                    self.current_url = Some(url.to_string());
                }
                let secrets = match parse_secrets(input.get("secrets")) {
                    Ok(s) => s,
                    Err(msg) => return reject(self, &msg),
                };
                let response_model = input
                    .get("response_model")
                    .filter(|v| v.is_object())
                    .cloned();
                let run = AgentRun::new(
                    RunSpec {
                        text,
                        response_model,
                        max_steps,
                        start: now.max(self.running_at),
                        secrets,
                        result_id: Some(id.to_string()),
                    },
                    cfg,
                );
                self.agent = Some(run);
            }
            "close" => {
                let start = now.max(self.browser_free_at);
                if self.agent.is_some() {
                    let payload = action_ok(json!(false), 0.0, CLOSE_ACK_TIME);
                    self.schedule(start + CLOSE_ACK_TIME, "session_action", id, payload, 0.0);
                } else {
                    let ack = start + CLOSE_ACK_TIME;
                    self.schedule(
                        ack,
                        "session_action",
                        id,
                        action_ok(json!(true), 0.0, CLOSE_ACK_TIME),
                        0.0,
                    );
                    self.closing = true;
                    self.close_end = Some(ack + CLOSE_END_TIME);
                }
            }
            other => reject(self, &format!("Unknown session action: {other:?}")),
        }
    }

    fn answer_tool_call(
        &mut self,
        now: Instant,
        id: &str,
        payload: &Map<String, Value>,
    ) -> Result<(), Rejected> {
        let tool = self
            .agent
            .as_mut()
            .and_then(|a| a.waiting_call(id))
            .ok_or_else(|| Rejected(format!("No pending tool call with id {id:?}")))?;
        let code = payload.get("code").and_then(Value::as_i64).unwrap_or(200);
        let output = payload.get("output").cloned().unwrap_or(Value::Null);
        tool.answer = Some(ToolAnswer {
            code,
            output,
            at: now,
        });
        self.changed();
        Ok(())
    }
}

/// `{"code": 200, "output": {"output": data, "credits_used": c, "duration": s}}` (SDK nesting).
fn action_ok(data: Value, credits: f64, duration: Duration) -> Value {
    let credits = (credits * 10_000.0).round() / 10_000.0;
    let secs = (duration.as_secs_f64() * 1000.0).round() / 1000.0;
    json!({"code": 200, "output": {"output": data, "credits_used": credits, "duration": secs}})
}

#[derive(Clone, Debug)]
pub(crate) struct Profile {
    pub id: String,
    cookie_domains: Vec<String>,
    last_saved_at: Option<i64>,
}

impl Profile {
    pub(crate) fn new(id: String) -> Profile {
        Profile {
            id,
            cookie_domains: Vec::new(),
            last_saved_at: None,
        }
    }

    fn saved(&mut self, url: Option<&str>, at_unix: i64) {
        if let Some(host) = url.and_then(host_of)
            && !self.cookie_domains.contains(&host)
        {
            self.cookie_domains.push(host);
        }
        self.last_saved_at = Some(at_unix);
    }

    pub(crate) fn to_json(&self) -> Value {
        let n = self.cookie_domains.len();
        json!({
            "id": self.id,
            "cookie_domains": self.cookie_domains,
            "cookie_count": n * 3,
            "profile_size_bytes": if n == 0 && self.last_saved_at.is_none() { 0 } else { 4096 + n * 2048 },
            "last_saved_at": self.last_saved_at,
        })
    }
}

/// The host of a URL, without scheme, credentials or port.
pub(crate) fn host_of(url: &str) -> Option<String> {
    let (rest, has_scheme) = url
        .split_once("://")
        .map_or((url, false), |(_, r)| (r, true));
    let authority = rest.split(['/', '?', '#']).next()?;
    // `about:blank`, `data:...`: no host.
    if !has_scheme
        && authority
            .split_once(':')
            .is_some_and(|(_, port)| !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// An uploaded file (kept for completeness; tasks only check that the id exists).
#[derive(Clone, Debug)]
#[allow(dead_code)]
pub(crate) struct FileRec {
    pub file_name: String,
    pub size: usize,
    pub purpose: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct ExtensionRec {
    pub id: String,
    pub file_name: String,
    pub creation_time: i64,
}

#[derive(Default)]
pub(crate) struct World {
    pub tasks: HashMap<String, Task>,
    /// Every task id ever created, in order (a restart forgets the tasks, not this).
    pub created: Vec<String>,
    pub task_seq: u64,
    pub profiles: Vec<Profile>,
    pub files: HashMap<String, FileRec>,
    pub extensions: Vec<ExtensionRec>,
}

impl World {
    pub(crate) fn advance_task(
        &mut self,
        id: &str,
        now: Instant,
        env: &Env<'_>,
    ) -> Option<&mut Task> {
        let World {
            tasks, profiles, ..
        } = self;
        let task = tasks.get_mut(id)?;
        task.advance(now, env, profiles);
        Some(task)
    }

    pub(crate) fn advance_all(&mut self, now: Instant, env: &Env<'_>) {
        let World {
            tasks, profiles, ..
        } = self;
        for task in tasks.values_mut() {
            task.advance(now, env, profiles);
        }
    }

    pub(crate) fn live_count(&self) -> usize {
        self.tasks.values().filter(|t| t.is_live()).count()
    }

    pub(crate) fn cancel_task(&mut self, id: &str, now: Instant, env: &Env<'_>) -> Option<bool> {
        let World {
            tasks, profiles, ..
        } = self;
        let task = tasks.get_mut(id)?;
        task.advance(now, env, profiles);
        Some(task.cancel(now, env, profiles))
    }

    /// A fresh task id; every 7th starts with `-` (real ids may).
    pub(crate) fn next_task_id(&mut self) -> (String, u64) {
        self.task_seq += 1;
        let seq = self.task_seq;
        loop {
            let mut id = random_id(22);
            if seq.is_multiple_of(7) {
                id.replace_range(0..1, "-");
            } else if id.starts_with('-') {
                id.replace_range(0..1, "x");
            }
            if !self.tasks.contains_key(&id) {
                return (id, seq);
            }
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// A random nanoid-style id (URL-safe alphabet, may contain `-` and `_`).
pub(crate) fn random_id(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[usize::from(b & 63)] as char);
        }
    }
    out
}

/// A random lowercase alphanumeric id.
pub(crate) fn random_lower(len: usize) -> String {
    uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(len)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            host_of("https://user:pw@Shop.Example.com:8443/a?b").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(host_of("example.org/x").as_deref(), Some("example.org"));
        assert_eq!(host_of("about:blank").as_deref(), None);
        assert_eq!(host_of("localhost:8080/x").as_deref(), Some("localhost"));
        assert_eq!(host_of("").as_deref(), None);
    }

    fn session(now: Instant, cfg: &MockConfig) -> Task {
        let spec = TaskSpec {
            task: None,
            response_model: None,
            url: None,
            max_steps: 32,
            device: "desktop".into(),
            enable_recording: true,
            profile_id: None,
            profile_read_only: false,
            downloads: Contents::default(),
        };
        Task::new("s".into(), 1, spec, now, cfg)
    }

    fn act(task: &mut Task, now: Instant, cfg: &MockConfig, id: &str, action: Value) {
        let payload = action.as_object().unwrap().clone();
        assert!(
            task.post_event(now, cfg, "browser_action", id, &payload)
                .is_ok()
        );
    }

    #[test]
    fn collisions_never_hide_behind_a_served_cursor() {
        let cfg = MockConfig {
            waiting: Duration::ZERO,
            ..MockConfig::default()
        };
        let clock = Clock::new();
        let env = Env {
            cfg: &cfg,
            clock: &clock,
        };
        let t0 = Instant::now();
        let mut task = session(t0, &cfg);
        task.advance(t0, &env, &mut []);
        assert_eq!(task.status(), Status::Running);
        let goto = json!({"name": "goto", "input": {"url": "https://a.example/"}});
        let eval = json!({"name": "evaluate_js", "input": {"js": "1"}});
        act(&mut task, t0, &cfg, "a", goto);
        act(&mut task, t0, &cfg, "b", eval.clone());
        assert_eq!(task.next_due(), Some(t0 + GOTO_TIME));
        task.advance(t0 + GOTO_TIME, &env, &mut []);
        let ts: Vec<i64> = task.events.iter().map(|e| e.ts).collect();
        assert_eq!(ts, vec![clock.ms(t0 + GOTO_TIME); 2], "same-ms collision");
        // Once a client has seen that millisecond, a later event lands strictly after it.
        task.mark_served();
        act(&mut task, t0 + GOTO_TIME, &cfg, "c", eval);
        task.advance(t0 + GOTO_TIME, &env, &mut []);
        assert_eq!(task.events[2].ts, ts[0] + 1);
        assert!(!task.has_events_after(ts[0] + 1));
    }

    #[test]
    fn ids() {
        let id = random_id(22);
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| ALPHABET.contains(&b)));
        let mut w = World::default();
        let ids: Vec<String> = (0..14).map(|_| w.next_task_id().0).collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(id.starts_with('-'), (i + 1) % 7 == 0, "{id}");
        }
    }
}
