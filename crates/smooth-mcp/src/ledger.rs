//! The tasks this process created, and whether each one's id has reached a client.
//!
//! At shutdown a task whose id never left the process is cancelled: nobody could follow or
//! stop it, yet it would run, and bill, to its end. A task whose id went out (in a result, an
//! error, a progress notification or an MCP task status) is left running: it may be followed
//! from elsewhere. Knows nothing of MCP: the tools report what they created and show it
//! everything they send.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use smooth_api::watch::TaskWatch;
use smooth_api::{SmoothClient, SmoothError};

pub struct Ledger {
    inner: Mutex<Inner>,
    /// Creations (and cancels) in flight: shutdown waits for them, or it would miss the
    /// tasks they are about to create.
    busy: watch::Sender<usize>,
}

#[derive(Default)]
struct Inner {
    /// Shutdown has begun: a call cut off now leaves its task to [`Ledger::settle`].
    ending: bool,
    /// [`Ledger::settle`] runs: no new task may be created.
    sealed: bool,
    tasks: HashMap<String, Entry>,
    /// How many entries are undelivered: senders skip the scan when there are none.
    undelivered: usize,
}

struct Entry {
    /// The account that created it (a client's own key over HTTP).
    client: SmoothClient,
    /// Weak: the watcher decides how long a watch lives.
    watch: Weak<TaskWatch>,
    delivered: bool,
}

impl Entry {
    /// Known to have ended: nothing to cancel, nothing to report.
    fn ended(&self) -> bool {
        self.watch
            .upgrade()
            .is_some_and(|w| w.state().is_terminal())
    }
}

/// A creation or cancel in flight; [`Ledger::settle`] waits until it is dropped.
pub struct Busy<'a>(&'a Ledger);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Default for Ledger {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            busy: watch::channel(0).0,
        }
    }
}

impl Ledger {
    /// Starts a creation (or cancel) that shutdown must wait for; `None` once
    /// [`Ledger::settle`] has begun (the task would be created after the sweep).
    pub fn begin(&self) -> Option<Busy<'_>> {
        // Counted under the lock that `settle` seals: either it waits for this one, or
        // this one sees the seal.
        let inner = self.inner.lock();
        if inner.sealed {
            return None;
        }
        self.busy.send_modify(|n| *n += 1);
        Some(Busy(self))
    }

    /// A task this process created; its id has not gone out yet.
    pub fn created(&self, client: &SmoothClient, watch: &Arc<TaskWatch>) {
        let mut inner = self.inner.lock();
        // Forget what is over (and delivered tasks the watcher itself forgot): the ledger
        // stays as small as the number of live tasks.
        inner
            .tasks
            .retain(|_, e| !e.ended() && (!e.delivered || e.watch.strong_count() > 0));
        inner.tasks.insert(
            watch.id.clone(),
            Entry {
                client: client.clone(),
                watch: Arc::downgrade(watch),
                delivered: false,
            },
        );
        inner.undelivered = inner.tasks.values().filter(|e| !e.delivered).count();
    }

    /// Whether some task's id has not gone out yet (else [`Ledger::sent`] has nothing to do).
    pub fn has_undelivered(&self) -> bool {
        self.inner.lock().undelivered > 0
    }

    /// `text` went out to a client: every task it names is delivered.
    pub fn sent(&self, text: &str) {
        let mut inner = self.inner.lock();
        if inner.undelivered == 0 {
            return;
        }
        let mut found = 0;
        for (id, entry) in &mut inner.tasks {
            if !entry.delivered && text.contains(id.as_str()) {
                entry.delivered = true;
                found += 1;
            }
        }
        inner.undelivered -= found;
    }

    /// The task was cancelled by this process (or on a client's request): nothing left to do.
    pub fn forget(&self, id: &str) {
        let mut inner = self.inner.lock();
        if let Some(entry) = inner.tasks.remove(id)
            && !entry.delivered
        {
            inner.undelivered -= 1;
        }
    }

    /// Shutdown has begun (a signal, or the stdio client went away): a call cut off from now
    /// on leaves its task to [`Ledger::settle`], which keeps it running if its id went out.
    pub fn begin_shutdown(&self) {
        self.inner.lock().ending = true;
    }

    pub fn is_ending(&self) -> bool {
        self.inner.lock().ending
    }

    /// At shutdown, once no client can call any more: waits (up to `bound`) for creations in
    /// flight, then cancels every live task whose id never went out and leaves the others
    /// running, one log line per task. Each cancel is bounded by `bound` too.
    pub async fn settle(&self, bound: Duration) {
        {
            let mut inner = self.inner.lock();
            inner.ending = true;
            inner.sealed = true;
        }
        let mut busy = self.busy.subscribe();
        if tokio::time::timeout(bound, busy.wait_for(|n| *n == 0))
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = *self.busy.borrow(),
                "shutdown: task creations still unanswered after {bound:?}; a task they create \
                 is left running"
            );
        }
        let entries: Vec<(String, Entry)> = {
            let mut inner = self.inner.lock();
            inner.undelivered = 0;
            inner.tasks.drain().filter(|(_, e)| !e.ended()).collect()
        };
        let outcomes = entries
            .into_iter()
            .map(|(id, entry)| settle_one(id, entry, bound));
        futures::future::join_all(outcomes).await;
    }
}

async fn settle_one(id: String, entry: Entry, bound: Duration) {
    if entry.delivered {
        tracing::info!(
            task = %id,
            "shutdown: task left running (its id reached a client, who may still follow or \
             cancel it)"
        );
        return;
    }
    match tokio::time::timeout(bound, entry.client.cancel_task(&id)).await {
        // 404: already gone upstream.
        Ok(Ok(_) | Err(SmoothError::Api { status: 404, .. })) => tracing::info!(
            task = %id,
            "shutdown: task cancelled (its id never reached a client, so nobody could follow it)"
        ),
        Ok(Err(e)) => tracing::warn!(
            task = %id,
            error = %e,
            "shutdown: could not cancel a task whose id never reached a client; it may still be \
             running"
        ),
        Err(_) => tracing::warn!(
            task = %id,
            "shutdown: cancelling a task whose id never reached a client timed out; it may \
             still be running"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smooth_api::ClientConfig;
    use smooth_api::watch::Watcher;

    fn task(id: &str) -> (SmoothClient, Arc<TaskWatch>) {
        let client = SmoothClient::new(ClientConfig::default()).expect("client");
        let watch = Watcher::new(Duration::from_secs(1), Duration::from_secs(1)).watch(&client, id);
        (client, watch)
    }

    #[test]
    fn only_text_naming_a_task_delivers_it() {
        let ledger = Ledger::default();
        let (client, a) = task("task-a");
        let (_, b) = task("task-b");
        ledger.created(&client, &a);
        ledger.created(&client, &b);
        ledger.sent("Still running: call get_task with task_id \"task-a\"");
        assert!(ledger.has_undelivered());
        let inner = ledger.inner.lock();
        assert!(inner.tasks["task-a"].delivered);
        assert!(!inner.tasks["task-b"].delivered);
        drop(inner);
        ledger.forget("task-b");
        assert!(!ledger.has_undelivered(), "nothing left undelivered");
    }

    #[tokio::test]
    async fn nothing_is_created_once_the_sweep_began() {
        let ledger = Ledger::default();
        let busy = ledger.begin().expect("before shutdown");
        drop(busy);
        assert!(!ledger.is_ending());
        ledger.settle(Duration::from_millis(10)).await;
        assert!(ledger.is_ending());
        assert!(ledger.begin().is_none(), "sealed");
    }
}
