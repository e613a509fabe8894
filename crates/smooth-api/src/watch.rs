//! The task watcher: one poller per live Smooth task, shared by everyone who waits on it.
//!
//! A poller follows the `event_t` cursor, de-duplicates events by id, files action results
//! under the event id that asked for them, and routes agent tool calls (pending calls, their
//! answers and timers live in `tool_calls.rs`). It runs only while somebody is interested (an
//! [`Interest`] guard is alive) and the task is live, so waiting is a cheap `watch`
//! subscription, never a poller of its own. After the end it keeps going, one GET per poll
//! interval, while somebody is interested and a link they want (recording, downloads) has
//! not appeared yet: Smooth fills those in a little after the end. Knows nothing of MCP.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::tool_calls::ToolCallBook;
pub use crate::tool_calls::{
    AgentTools, AnswerError, AnswerFuture, AnsweredBy, AutoAnswer, ToolAnswer, ToolCall,
};
use crate::{
    AccountId, ActionOutcome, SmoothClient, SmoothError, TaskEvent, TaskRequest, TaskResponse,
};

/// Longest pause between polls after repeated transient errors.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(10);
/// A watch nobody has used this long is dropped (a later call replays the task's events).
const FORGET_UNUSED: Duration = Duration::from_secs(3600);
/// How long the ids of tasks this process created are remembered, so a lost creation
/// answer does not name them as candidates (far longer than any request can take).
const REMEMBER_CREATED: Duration = Duration::from_secs(3600);
/// Unreadable poll answers (truncated, mis-shaped) in a row before the poller gives up:
/// one is a glitch worth retrying, a run of them means Smooth changed its API.
const MAX_UNREADABLE: u32 = 5;

/// Which task, for whom: holding an id proves nothing about whose task it is.
type WatchKey = (Option<AccountId>, String);

/// Owns every task watch of this process. Cheap to clone: clones share the watches.
#[derive(Clone)]
pub struct Watcher {
    inner: Arc<WatcherInner>,
}

struct WatcherInner {
    poll_interval: Duration,
    tool_answer_timeout: Duration,
    tasks: Mutex<HashMap<WatchKey, Arc<TaskWatch>>>,
    last_sweep: Mutex<Instant>,
    /// Tasks this process created, oldest first (kept [`REMEMBER_CREATED`]; the registry
    /// forgets ended tasks at once), and whether their end was told to the observer.
    created: Mutex<VecDeque<(Instant, WatchKey, bool)>>,
}

impl Watcher {
    /// A watcher whose pollers ask for news every `poll_interval` (at once after news);
    /// `tool_answer_timeout`: how long an agent tool call may wait before it is answered 400.
    pub fn new(poll_interval: Duration, tool_answer_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(WatcherInner {
                poll_interval,
                tool_answer_timeout,
                tasks: Mutex::new(HashMap::new()),
                last_sweep: Mutex::new(Instant::now()),
                created: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// Creates a task (or session) and starts watching it. `POST /task` is never repeated;
    /// when its answer is lost, the error ([`SmoothError::CreationUnconfirmed`]) names the
    /// account's new tasks that no call of this process knows.
    /// `tools` says which agent tool calls to expect and who answers them.
    pub async fn start(
        &self,
        client: &SmoothClient,
        req: &TaskRequest,
        tools: AgentTools,
    ) -> Result<Arc<TaskWatch>, SmoothError> {
        let created = match client.create_task(req).await {
            Ok(created) => created,
            Err(SmoothError::CreationUnconfirmed {
                cause,
                mut candidates,
                lookup_failed,
            }) => {
                candidates.retain(|t| !self.knows(client.account(), &t.id));
                return Err(SmoothError::CreationUnconfirmed {
                    cause,
                    candidates,
                    lookup_failed,
                });
            }
            Err(e) => return Err(e),
        };
        self.remember_created(client.account(), &created.id);
        if let Some(observer) = client.observer() {
            observer.created(req.task.is_none());
        }
        let watch = self.watch(client, &created.id);
        // A fresh id: nobody can have set the tools before.
        let _ = watch.tools.set(tools);
        watch.absorb(created);
        Ok(watch)
    }

    /// The watch of a task, created by this process or not; one per task and account.
    pub fn watch(&self, client: &SmoothClient, id: &str) -> Arc<TaskWatch> {
        // The caller's span (a server's tool call) learns which task its logs are about.
        tracing::Span::current().record("task_id", id);
        let key = (client.account(), id.to_owned());
        let mut tasks = lock(&self.inner.tasks);
        self.sweep(&mut tasks);
        tasks
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(TaskWatch {
                    id: id.to_owned(),
                    client: client.clone(),
                    poll_interval: self.inner.poll_interval,
                    tool_answer_timeout: self.inner.tool_answer_timeout,
                    tools: OnceLock::new(),
                    state: Mutex::new(TaskState::default()),
                    changed: watch::channel(0).0,
                    interest: AtomicUsize::new(0),
                    polling: AtomicBool::new(false),
                    downloads_wanted: AtomicBool::new(false),
                    kick: Notify::new(),
                    touched: Mutex::new(Instant::now()),
                    owner: Arc::downgrade(&self.inner),
                    key,
                })
            })
            .clone()
    }

    fn remember_created(&self, account: Option<AccountId>, id: &str) {
        let mut created = lock(&self.inner.created);
        while created
            .front()
            .is_some_and(|(at, _, _)| at.elapsed() > REMEMBER_CREATED)
        {
            created.pop_front();
        }
        created.push_back((Instant::now(), (account, id.to_owned()), false));
    }

    /// Whether a call of this process created or follows this task.
    fn knows(&self, account: Option<AccountId>, id: &str) -> bool {
        let key = (account, id.to_owned());
        lock(&self.inner.tasks).contains_key(&key)
            || lock(&self.inner.created).iter().any(|(_, k, _)| *k == key)
    }

    /// Drops watches of tasks nobody has looked at for a long time (tasks abandoned while
    /// live would otherwise stay for the life of the process). At most once a minute.
    fn sweep(&self, tasks: &mut HashMap<WatchKey, Arc<TaskWatch>>) {
        let mut last = lock(&self.inner.last_sweep);
        if last.elapsed() < Duration::from_secs(60) {
            return;
        }
        *last = Instant::now();
        // Held elsewhere (a waiter, a poller, the session registry) means still in use.
        tasks.retain(|_, w| Arc::strong_count(w) > 1 || lock(&w.touched).elapsed() < FORGET_UNUSED);
    }

    /// How many pollers are running now (for tests and benchmarks).
    pub fn active_pollers(&self) -> usize {
        lock(&self.inner.tasks)
            .values()
            .filter(|w| w.polling.load(Ordering::SeqCst))
            .count()
    }
}

/// What is known about one task.
#[derive(Debug, Default, Clone)]
pub struct TaskState {
    /// The latest response, without its events.
    pub task: Option<TaskResponse>,
    /// The poller stopped for good (unknown task, bad key).
    pub fatal: Option<Arc<SmoothError>>,
    /// Events up to this epoch millisecond have been taken in.
    cursor: i64,
    /// Ids of the events taken in (Smooth may send one again).
    seen: HashSet<String>,
    /// Actions sent by this process, by event id, with their result once it arrived.
    actions: HashMap<String, Option<ActionOutcome>>,
    pub(crate) tool_calls: ToolCallBook,
    /// When Smooth last answered a GET of this task (paces the looks for links after the end).
    fetched_at: Option<Instant>,
}

impl TaskState {
    /// Whether the task has ended (`done`, `failed`, `cancelled`).
    pub fn is_terminal(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.status.is_terminal())
    }

    /// Whether the links Smooth fills in after the end are there: `recording_url` (null
    /// means not ready, "" none) and, with `downloads`, `downloads_url`.
    pub fn links_ready(&self, downloads: bool) -> bool {
        self.task
            .as_ref()
            .is_none_or(|t| t.recording_url.is_some() && (!downloads || t.downloads_url.is_some()))
    }

    /// The result of an action this process sent, once it has arrived.
    pub fn action_result(&self, event_id: &str) -> Option<&ActionOutcome> {
        self.actions.get(event_id).and_then(Option::as_ref)
    }

    /// Agent tool calls waiting for [`TaskWatch::answer`], oldest first.
    pub fn pending_tool_calls(&self) -> Vec<ToolCall> {
        self.tool_calls.pending()
    }

    /// Who answered a call that is no longer pending (`None`: never seen, or still pending).
    pub fn tool_call_answered_by(&self, call_id: &str) -> Option<AnsweredBy> {
        self.tool_calls.answered_by(call_id)
    }
}

/// One task (or session) as the [`Watcher`] follows it; get one from [`Watcher::start`] or
/// [`Watcher::watch`], read it with [`TaskWatch::state`], wait on it through an [`Interest`].
pub struct TaskWatch {
    /// The task (or session) id.
    pub id: String,
    pub(crate) client: SmoothClient,
    poll_interval: Duration,
    pub(crate) tool_answer_timeout: Duration,
    /// Set by [`Watcher::start`]; unknown for a task this process did not start.
    pub(crate) tools: OnceLock<AgentTools>,
    state: Mutex<TaskState>,
    pub(crate) changed: watch::Sender<u64>,
    interest: AtomicUsize,
    polling: AtomicBool,
    /// Somebody asked for the downloads link: every GET asks Smooth for it.
    downloads_wanted: AtomicBool,
    pub(crate) kick: Notify,
    /// Last time somebody declared interest.
    touched: Mutex<Instant>,
    owner: std::sync::Weak<WatcherInner>,
    key: WatchKey,
}

/// Keeps the poller of a task running while it lives.
pub struct Interest {
    watch: Arc<TaskWatch>,
    rx: watch::Receiver<u64>,
}

impl Drop for Interest {
    fn drop(&mut self) {
        self.watch.interest.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Interest {
    /// Waits until something changed or `deadline` passed; `false` on the deadline (or if
    /// the watch is gone).
    pub async fn changed(&mut self, deadline: Instant) -> bool {
        matches!(
            tokio::time::timeout_at(deadline, self.rx.changed()).await,
            Ok(Ok(()))
        )
    }

    /// Waits until `check` answers (it is asked now and after every change) or `deadline`
    /// passes; `None` on the deadline.
    pub async fn until<R>(
        &mut self,
        deadline: Instant,
        mut check: impl FnMut(&TaskState) -> Option<R>,
    ) -> Option<R> {
        loop {
            self.rx.borrow_and_update();
            if let Some(r) = check(&self.watch.state()) {
                return Some(r);
            }
            if !self.changed(deadline).await {
                return check(&self.watch.state());
            }
        }
    }
}

impl TaskWatch {
    /// What is known now. Hold the guard briefly: the poller waits for it.
    pub fn state(&self) -> MutexGuard<'_, TaskState> {
        lock(&self.state)
    }

    /// The account this task is watched for (`None`: a client without a key).
    pub fn account(&self) -> Option<AccountId> {
        self.key.0
    }

    /// A copy of what is known now.
    pub fn snapshot(&self) -> TaskState {
        self.state().clone()
    }

    /// Whether a poller is running: then [`TaskWatch::state`] is at most one poll old and a
    /// fresh GET would only repeat it.
    pub fn is_polling(&self) -> bool {
        self.polling.load(Ordering::SeqCst)
    }

    /// From now on every GET asks for `downloads_url` too, and the poller waits for it
    /// after the end like for the recording.
    pub fn want_downloads(&self) {
        self.downloads_wanted.store(true, Ordering::SeqCst);
    }

    /// Somebody asked this task's downloads link (so its files are wanted).
    pub fn wants_downloads(&self) -> bool {
        self.downloads_wanted.load(Ordering::SeqCst)
    }

    /// Declares interest; the poller runs until every guard is dropped, or the task has
    /// ended and its wanted links are there.
    pub fn interest(self: &Arc<Self>) -> Interest {
        self.interest.fetch_add(1, Ordering::SeqCst);
        *lock(&self.touched) = Instant::now();
        let rx = self.changed.subscribe();
        self.ensure_polling();
        Interest {
            watch: self.clone(),
            rx,
        }
    }

    /// Sends an action event (`browser_action` or `session_action`) and returns its event id;
    /// the result shows up in [`TaskState::action_result`].
    pub async fn send_action(&self, name: &str, payload: Value) -> Result<String, SmoothError> {
        let event_id = uuid::Uuid::new_v4().to_string();
        self.state().actions.insert(event_id.clone(), None);
        let event = TaskEvent {
            name: name.to_owned(),
            payload,
            id: Some(event_id.clone()),
            timestamp: Some(now_ms()),
        };
        if let Err(e) = self.client.send_event(&self.id, &event).await {
            self.state().actions.remove(&event_id);
            return Err(e);
        }
        self.kick.notify_one();
        Ok(event_id)
    }

    /// Registers an action sent earlier (by another caller, or before this watch was
    /// forgotten) so its result is kept when it arrives.
    pub fn expect_action(&self, event_id: &str) {
        self.state()
            .actions
            .entry(event_id.to_owned())
            .or_insert(None);
    }

    /// Cancels a task or force-closes a session, and wakes the poller so the end shows
    /// up at once.
    pub async fn cancel(&self) -> Result<bool, SmoothError> {
        let ok = self.client.cancel_task(&self.id).await?;
        self.kick.notify_one();
        Ok(ok)
    }

    /// Fetches the task now (with `downloads`, or when [`TaskWatch::want_downloads`] was
    /// called, asking for the download archive too), for a task nobody is polling.
    pub async fn refresh(self: &Arc<Self>, downloads: bool) -> Result<TaskResponse, SmoothError> {
        let cursor = self.state().cursor;
        let downloads = downloads || self.downloads_wanted.load(Ordering::SeqCst);
        match self.client.get_task(&self.id, cursor, downloads).await {
            Ok(resp) => {
                self.absorb(resp.clone());
                Ok(resp)
            }
            Err(e) => {
                if !e.is_transient() {
                    // An unknown id (or a rejected key) is not worth remembering.
                    self.forget();
                }
                Err(e)
            }
        }
    }

    fn ensure_polling(self: &Arc<Self>) {
        if !self.worth_polling() {
            return;
        }
        if self
            .polling
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            tokio::spawn(self.clone().poll_loop());
        }
    }

    /// Live, or ended with a wanted link still missing.
    fn worth_polling(&self) -> bool {
        let st = self.state();
        st.fatal.is_none()
            && (!st.is_terminal() || !st.links_ready(self.downloads_wanted.load(Ordering::SeqCst)))
    }

    fn wanted(&self) -> bool {
        self.interest.load(Ordering::SeqCst) > 0 && self.worth_polling()
    }

    async fn poll_loop(self: Arc<Self>) {
        let mut backoff = self.poll_interval;
        let mut unreadable = 0;
        loop {
            if !self.wanted() {
                self.polling.store(false, Ordering::SeqCst);
                // Someone may have arrived between the check and the store.
                if self.wanted()
                    && self
                        .polling
                        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                {
                    continue;
                }
                break;
            }
            let (cursor, ended_at) = {
                let st = self.state();
                (
                    st.cursor,
                    st.is_terminal().then_some(st.fetched_at).flatten(),
                )
            };
            // Ended: only links are awaited, and Smooth answers at once (no long-poll), so
            // one look per poll interval, counted from the last answer (a refresh included).
            if let Some(at) = ended_at
                && Instant::now() < at + self.poll_interval
            {
                self.pause_until(at + self.poll_interval).await;
                continue;
            }
            let downloads = self.downloads_wanted.load(Ordering::SeqCst);
            match self.client.get_task(&self.id, cursor, downloads).await {
                Ok(resp) => {
                    backoff = self.poll_interval;
                    unreadable = 0;
                    let ended = resp.status.is_terminal();
                    // Only news: an answer repeating events already seen is no reason to
                    // ask again at once (that would spin while Smooth repeats itself).
                    if self.absorb(resp) && !ended {
                        continue; // new events came: there may be more right behind them
                    }
                    if !ended {
                        self.pause(self.poll_interval).await;
                    }
                }
                // A truncated or mis-shaped answer may be a glitch on the way: retried with
                // backoff like a 5xx, but only a few times in a row.
                Err(e @ SmoothError::Decode(_)) if unreadable < MAX_UNREADABLE => {
                    unreadable += 1;
                    tracing::debug!(task = ?self.id, error = %e, unreadable, "unreadable poll answer");
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(MAX_ERROR_BACKOFF);
                }
                Err(e) if e.is_transient() => {
                    tracing::debug!(task = ?self.id, error = %e, "transient poll error");
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(MAX_ERROR_BACKOFF);
                }
                Err(e) => {
                    tracing::info!(task = ?self.id, error = %e, "stopped watching task");
                    self.state().fatal = Some(Arc::new(e));
                    self.notify();
                }
            }
        }
        let st = self.state();
        let done = st.is_terminal() || st.fatal.is_some();
        drop(st);
        if done {
            self.forget();
        }
    }

    async fn pause(&self, d: Duration) {
        self.pause_until(Instant::now() + d).await;
    }

    async fn pause_until(&self, at: Instant) {
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = self.kick.notified() => {}
        }
    }

    /// Drops a finished task from the registry; waiters that hold it keep their copy.
    fn forget(self: &Arc<Self>) {
        if let Some(owner) = self.owner.upgrade() {
            let mut tasks = lock(&owner.tasks);
            if tasks.get(&self.key).is_some_and(|w| Arc::ptr_eq(w, self)) {
                tasks.remove(&self.key);
            }
        }
    }

    /// Takes in a response; `true` when it carried events not seen before.
    fn absorb(self: &Arc<Self>, mut resp: TaskResponse) -> bool {
        let events = resp.events.take().unwrap_or_default();
        let mut news = false;
        let mut tool_calls = Vec::new();
        let mut ended = None;
        {
            let mut st = self.state();
            for ev in events {
                let before = st.cursor;
                if let Some(ts) = ev.timestamp {
                    st.cursor = st.cursor.max(ts);
                }
                let Some(id) = ev.id.clone() else {
                    // Without an id, only a later timestamp tells news from a repeat.
                    news |= ev.timestamp.is_some_and(|ts| ts > before);
                    continue;
                };
                if !st.seen.insert(id.clone()) {
                    continue;
                }
                news = true;
                if ev.name == "tool_call" {
                    tool_calls.push(ev);
                } else if let Some(slot) = st.actions.get_mut(&id) {
                    *slot = Some(ActionOutcome::from_payload(&ev.payload));
                }
            }
            // A later poll may omit what an earlier one said (live_url once running).
            if let Some(prev) = &st.task {
                if resp.live_url.is_none() && !resp.status.is_terminal() {
                    resp.live_url.clone_from(&prev.live_url);
                }
                if resp.downloads_url.is_none() {
                    resp.downloads_url.clone_from(&prev.downloads_url);
                }
            }
            if resp.status.is_terminal() {
                st.tool_calls.task_over();
                ended = Some((resp.status, resp.credits_used));
            }
            st.task = Some(resp);
            st.fetched_at = Some(Instant::now());
        }
        if let Some((status, credits)) = ended {
            self.report_end(status, credits);
        }
        for call in tool_calls {
            self.on_tool_call(call);
        }
        self.notify();
        news
    }

    /// Tells the observer a task this process created has ended: once per task, whichever
    /// watch (the registry forgets ended tasks, so a later `get_task` makes a new one) saw it.
    fn report_end(&self, status: crate::TaskStatus, credits: Option<f64>) {
        let (Some(observer), Some(owner)) = (self.client.observer(), self.owner.upgrade()) else {
            return;
        };
        let first = lock(&owner.created)
            .iter_mut()
            .find(|(_, key, _)| *key == self.key)
            .is_some_and(|(_, _, told)| !std::mem::replace(told, true));
        if first {
            observer.ended(status, credits);
        }
    }

    pub(crate) fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiKey, ClientConfig};

    fn client() -> SmoothClient {
        SmoothClient::new(ClientConfig {
            base_url: "http://127.0.0.1:9/api/v1".into(),
            api_key: ApiKey::new("k"),
            request_timeout: Duration::from_secs(1),
            ..ClientConfig::default()
        })
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn unused_watches_are_forgotten_but_held_ones_stay() {
        let watcher = Watcher::new(Duration::from_secs(1), Duration::from_secs(600));
        let c = client();
        drop(watcher.watch(&c, "abandoned"));
        let held = watcher.watch(&c, "held");
        tokio::time::advance(FORGET_UNUSED + Duration::from_secs(61)).await;
        drop(watcher.watch(&c, "new"));
        let tasks = lock(&watcher.inner.tasks);
        let ids: HashSet<&str> = tasks.keys().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, HashSet::from(["held", "new"]));
        drop(tasks);
        drop(held);
    }

    #[tokio::test]
    async fn accounts_do_not_share_watches() {
        let watcher = Watcher::new(Duration::from_secs(1), Duration::from_secs(600));
        let a = client();
        let b = a.with_key(ApiKey::new("other"));
        assert!(Arc::ptr_eq(
            &watcher.watch(&a, "t"),
            &watcher.watch(&a, "t")
        ));
        assert!(!Arc::ptr_eq(
            &watcher.watch(&a, "t"),
            &watcher.watch(&b, "t")
        ));
    }
}
