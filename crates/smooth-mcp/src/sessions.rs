//! Sessions this process opened: when they were last used, which agent task runs in them,
//! and closing them when idle or at shutdown, so nobody pays for a browser left open.
//! Knows nothing of MCP.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio::time::Instant;

use smooth_api::SmoothError;
use smooth_api::watch::TaskWatch;

/// How long a graceful close may take before the session is force-closed.
const GRACEFUL_CLOSE: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct SessionEntry {
    pub watch: Arc<TaskWatch>,
    pub opened_at: SystemTime,
    pub last_used: Instant,
    /// The agent task started in this session by `run_task`, until its result is delivered.
    pub pending_task: Option<PendingTask>,
    /// Opened for one `run_browser_task` with secrets (Smooth takes secrets on a session's
    /// run_task only): closed once its one task ends, and shown to the model as a task.
    pub one_shot: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PendingTask {
    pub task: String,
    pub event_id: String,
    pub started: Instant,
}

/// Why a session this process opened is gone.
#[derive(Clone, Debug)]
pub struct Reaped {
    pub idle_for: Duration,
}

pub struct Sessions {
    idle_timeout: Option<Duration>,
    open: Mutex<HashMap<String, SessionEntry>>,
    reaped: Mutex<HashMap<String, Reaped>>,
}

impl Sessions {
    pub fn new(idle_timeout: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            idle_timeout,
            open: Mutex::new(HashMap::new()),
            reaped: Mutex::new(HashMap::new()),
        })
    }

    pub fn opened(&self, watch: Arc<TaskWatch>) {
        self.insert(watch, false);
    }

    /// A session opened to run one task (see [`SessionEntry::one_shot`]).
    pub fn opened_one_shot(&self, watch: Arc<TaskWatch>) {
        self.insert(watch, true);
    }

    fn insert(&self, watch: Arc<TaskWatch>, one_shot: bool) {
        let id = watch.id.clone();
        self.open.lock().insert(
            id,
            SessionEntry {
                watch,
                opened_at: SystemTime::now(),
                last_used: Instant::now(),
                pending_task: None,
                one_shot,
            },
        );
    }

    /// Marks a session as used now; `None` when this process did not open it.
    pub fn touch(&self, id: &str) -> Option<SessionEntry> {
        let mut open = self.open.lock();
        let entry = open.get_mut(id)?;
        entry.last_used = Instant::now();
        Some(entry.clone())
    }

    pub fn get(&self, id: &str) -> Option<SessionEntry> {
        self.open.lock().get(id).cloned()
    }

    pub fn set_pending_task(&self, id: &str, pending: Option<PendingTask>) {
        if let Some(entry) = self.open.lock().get_mut(id) {
            entry.pending_task = pending;
            entry.last_used = Instant::now();
        }
    }

    pub fn reaped(&self, id: &str) -> Option<Reaped> {
        self.reaped.lock().get(id).cloned()
    }

    pub fn forget(&self, id: &str) {
        self.open.lock().remove(id);
    }

    pub fn list(&self) -> Vec<SessionEntry> {
        self.open.lock().values().cloned().collect()
    }

    /// How many are open (without copying them).
    pub fn open_count(&self) -> usize {
        self.open.lock().len()
    }

    /// Closes idle sessions until the process ends. Does nothing when the timeout is off.
    pub fn spawn_reaper(self: &Arc<Self>) {
        let Some(timeout) = self.idle_timeout else {
            return;
        };
        let sessions = Arc::downgrade(self);
        let period = (timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(sessions) = sessions.upgrade() else {
                    return;
                };
                sessions.reap_idle(timeout).await;
            }
        });
    }

    async fn reap_idle(&self, timeout: Duration) {
        let idle: Vec<(SessionEntry, Duration)> = self
            .open
            .lock()
            .values()
            .filter(|e| e.pending_task.is_none())
            .map(|e| (e.clone(), e.last_used.elapsed()))
            .filter(|(_, idle)| *idle >= timeout)
            .collect();
        for (entry, idle_for) in idle {
            let id = entry.watch.id.clone();
            tracing::info!(session = %id, idle_secs = idle_for.as_secs(), "closing idle session");
            // Marked first, so a call that races the close hears why the session is gone.
            self.open.lock().remove(&id);
            self.reaped.lock().insert(id.clone(), Reaped { idle_for });
            if let Err(e) = close(&entry.watch).await {
                tracing::warn!(session = %id, error = %e, "could not close idle session");
                self.reaped.lock().remove(&id);
                self.open.lock().insert(id, entry);
            }
        }
    }

    /// Closes every session this process opened, all at once, within `bound`.
    pub async fn close_all(&self, bound: Duration) -> usize {
        let entries: Vec<SessionEntry> = self.open.lock().drain().map(|(_, e)| e).collect();
        if entries.is_empty() {
            return 0;
        }
        tracing::info!(
            count = entries.len(),
            "closing the sessions this server opened"
        );
        // Every session is either closed or named as left open: it costs money until closed.
        let closes = entries.iter().map(|e| async move {
            match tokio::time::timeout(bound, close(&e.watch)).await {
                Ok(Ok(())) => true,
                Ok(Err(err)) => {
                    tracing::warn!(session = %e.watch.id, error = %err, "could not close a session at shutdown: it may still be open and cost money (close it at https://app.smooth.sh)");
                    false
                }
                Err(_) => {
                    tracing::warn!(session = %e.watch.id, "gave up closing a session at shutdown after {bound:?}: it may still be open and cost money (close it at https://app.smooth.sh)");
                    false
                }
            }
        });
        futures::future::join_all(closes)
            .await
            .into_iter()
            .filter(|closed| *closed)
            .count()
    }
}

/// Closes a session gracefully (so a profile's cookies are saved), forcing it when the
/// graceful close is refused (an agent task still runs) or does not answer in time.
pub async fn close(watch: &Arc<TaskWatch>) -> Result<(), SmoothError> {
    match close_gracefully(watch, GRACEFUL_CLOSE).await {
        Ok(Graceful::Closed) => return Ok(()),
        Ok(other) => tracing::debug!(session = %watch.id, ?other, "graceful close did not happen"),
        Err(e) => tracing::debug!(session = %watch.id, error = %e, "graceful close failed"),
    }
    tracing::info!(session = %watch.id, "force-closing session");
    match watch.cancel().await {
        Ok(_) | Err(SmoothError::Api { status: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// How a graceful close (`session_action` `close`) went.
#[derive(Debug, Clone, PartialEq)]
pub enum Graceful {
    Closed,
    /// Smooth said no: an agent task is still running in the session.
    Refused,
    /// The close action failed (a code other than 200) with this message.
    Failed {
        code: i64,
        message: String,
    },
    /// No answer within the wait.
    NoAnswer,
}

/// Asks Smooth to close a session and waits up to `wait` for its answer.
pub async fn close_gracefully(
    watch: &Arc<TaskWatch>,
    wait: Duration,
) -> Result<Graceful, SmoothError> {
    if watch.state().is_terminal() {
        return Ok(Graceful::Closed);
    }
    let event_id = match watch
        .send_action("session_action", json!({"name": "close"}))
        .await
    {
        Ok(id) => id,
        // A session that is already closed answers 400 or 404: nothing left to close.
        Err(SmoothError::Api {
            status: 400 | 404, ..
        }) => return Ok(Graceful::Closed),
        Err(e) => return Err(e),
    };
    let mut interest = watch.interest();
    let answer = interest
        .until(Instant::now() + wait, |st| {
            match st.action_result(&event_id) {
                Some(r) if !r.is_success() => Some(Graceful::Failed {
                    code: r.code,
                    message: r.output.to_string(),
                }),
                Some(r) if r.output == json!(false) => Some(Graceful::Refused),
                Some(_) => Some(Graceful::Closed),
                None => st.is_terminal().then_some(Graceful::Closed),
            }
        })
        .await;
    Ok(answer.unwrap_or(Graceful::NoAnswer))
}
