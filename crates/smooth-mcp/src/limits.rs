//! Spend and concurrency limits, per account (per Smooth key in use): how many tasks and
//! sessions may run at once, and how many credits may be spent in a window. Knows nothing of
//! MCP: the tools ask before creating, and report what they created.
//!
//! Credits are counted when a task or session is seen to have ended (its final
//! `credits_used`), once per id: an entry leaves the registry as it is counted. Before a
//! decision the account's entries are brought up to date: one nobody follows any more is
//! read once (a GET), so an abandoned task does not hold a slot after it ended. Counts live
//! in this process only: replicas count separately.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use smooth_api::watch::{TaskWatch, Watcher};
use smooth_api::{AccountId, SmoothClient, SmoothError};

/// What the operator set; every limit is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitSettings {
    pub max_concurrent_tasks: Option<usize>,
    pub max_open_sessions: Option<usize>,
    pub credit_budget: Option<Budget>,
}

impl LimitSettings {
    fn any(&self) -> bool {
        self.max_concurrent_tasks.is_some()
            || self.max_open_sessions.is_some()
            || self.credit_budget.is_some()
    }
}

/// `--credit-budget N[/day|/hour]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub credits: f64,
    pub window: Window,
}

impl FromStr for Budget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (n, window) = match s.trim().split_once('/') {
            None => (s.trim(), Window::Lifetime),
            Some((n, w)) => match w.trim() {
                "day" => (n.trim(), Window::Day),
                "hour" => (n.trim(), Window::Hour),
                w => return Err(format!("unknown window {w:?}; use /day or /hour")),
            },
        };
        match n.parse::<f64>() {
            Ok(credits) if credits.is_finite() && credits > 0.0 => Ok(Self { credits, window }),
            _ => Err(format!(
                "{n:?} is not a positive number of credits (e.g. 100, 100/day, 20/hour)"
            )),
        }
    }
}

/// Fixed windows aligned to the UTC hour or day; `Lifetime`: the process's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Hour,
    Day,
    Lifetime,
}

impl Window {
    fn length(self) -> Option<u64> {
        match self {
            Self::Hour => Some(3600),
            Self::Day => Some(86_400),
            Self::Lifetime => None,
        }
    }

    /// The start of the window holding `now` (Unix seconds).
    pub fn start(self, now: u64) -> u64 {
        self.length().map_or(0, |len| now - now % len)
    }

    /// When the window holding `now` ends (Unix seconds); `None`: never.
    pub fn end(self, now: u64) -> Option<u64> {
        self.length().map(|len| self.start(now) + len)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Lifetime => "process lifetime",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Task,
    Session,
}

/// Something running on the account, as a refusal names it.
#[derive(Debug, Clone)]
pub struct Running {
    pub kind: Kind,
    pub id: String,
    pub live_url: Option<String>,
}

/// Why a creation is refused; nothing was sent.
#[derive(Debug)]
pub enum Refusal {
    /// The limit on this kind is reached by what runs.
    Busy {
        kind: Kind,
        limit: usize,
        running: Vec<Running>,
    },
    /// The window's budget is spent; `ends`: Unix seconds, `None` for the process lifetime.
    Spent {
        spent: f64,
        budget: Budget,
        ends: Option<u64>,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy {
                kind,
                limit,
                running,
            } => {
                let (what, flag) = match kind {
                    Kind::Task => ("tasks running", "--max-concurrent-tasks"),
                    Kind::Session => ("sessions open", "--max-open-sessions"),
                };
                write!(
                    f,
                    "Not started: {limit} {what} is this server's limit ({flag}), and nothing was \
                     sent to Smooth. Running now:"
                )?;
                for r in running.iter().filter(|r| r.kind == *kind) {
                    match r.kind {
                        Kind::Task => write!(f, " task {}", r.id)?,
                        Kind::Session => write!(f, " session {}", r.id)?,
                    }
                    if let Some(url) = &r.live_url {
                        write!(f, " (live at {url})")?;
                    }
                    f.write_str(";")?;
                }
                match kind {
                    Kind::Task => f.write_str(
                        " wait for one to end (get_task), or stop one with cancel_task, then try \
                         again.",
                    ),
                    Kind::Session => f.write_str(
                        " close one with session_action close (session_id of one above), then \
                         try again.",
                    ),
                }
            }
            Self::Spent {
                spent,
                budget,
                ends,
            } => {
                write!(
                    f,
                    "Not started: this account has used {spent} of its {} credit budget for the {} \
                     (--credit-budget), and nothing was sent to Smooth. Running tasks and \
                     sessions continue.",
                    budget.credits,
                    budget.window.name()
                )?;
                match ends.and_then(rfc3339) {
                    Some(at) => write!(f, " New tasks and sessions can start after {at}."),
                    None => f.write_str(
                        " The budget is for the life of this server process: no new task or \
                         session can start until it is restarted.",
                    ),
                }
            }
        }
    }
}

/// `secs` (Unix) as an RFC 3339 UTC time.
pub fn rfc3339(secs: u64) -> Option<String> {
    let at = chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, 0)?;
    Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// What an account has spent and runs now.
#[derive(Debug, Clone)]
pub struct Usage {
    pub window: Window,
    /// Unix seconds; `None`: the process lifetime.
    pub window_ends: Option<u64>,
    pub credits_used: f64,
    pub budget: Option<f64>,
    pub running: Vec<Running>,
    pub settings: LimitSettings,
}

struct Entry {
    kind: Kind,
    /// To read the task again when nobody follows it.
    client: SmoothClient,
    /// Held, not weak: the watcher forgets a watch once its task ends, and this entry must
    /// still read the end (and its credits) without asking Smooth again.
    watch: Arc<TaskWatch>,
}

#[derive(Default)]
struct Account {
    running: HashMap<String, Entry>,
    /// Creations admitted but not answered yet: they count as running.
    reserved: HashMap<Kind, usize>,
    window_start: u64,
    spent: f64,
}

impl Account {
    fn running(&self, kind: Kind) -> usize {
        self.running.values().filter(|e| e.kind == kind).count()
            + self.reserved.get(&kind).copied().unwrap_or(0)
    }

    /// Credits spent in the window holding `now` (a new window starts from zero).
    fn spent(&mut self, window: Window, now: u64) -> f64 {
        let start = window.start(now);
        if start != self.window_start {
            self.window_start = start;
            self.spent = 0.0;
        }
        self.spent
    }

    fn add(&mut self, window: Window, now: u64, credits: f64) {
        self.spent(window, now);
        self.spent += credits;
    }

    /// Counts and drops the entries known to have ended.
    fn sweep(&mut self, window: Window, now: u64) {
        let mut ended = 0.0;
        self.running.retain(|_, e| match ended_credits(e) {
            Some(c) => {
                ended += c;
                false
            }
            None => true,
        });
        if ended > 0.0 {
            self.add(window, now, ended);
        }
    }
}

/// `Some(credits)` when the entry's task is known to have ended, or is unreadable for good.
fn ended_credits(e: &Entry) -> Option<f64> {
    let st = e.watch.state();
    if st.is_terminal() {
        return Some(st.task.as_ref().and_then(|t| t.credits_used).unwrap_or(0.0));
    }
    // Unreadable for good (e.g. deleted): nothing more to learn about it.
    st.fatal.is_some().then_some(0.0)
}

pub struct Limits {
    settings: LimitSettings,
    accounts: Mutex<HashMap<Option<AccountId>, Account>>,
}

/// A creation admitted under the limits; [`Slot::created`] files what it created. Dropped
/// without that (the creation failed), it frees its place.
pub struct Slot<'a> {
    limits: &'a Limits,
    account: Option<AccountId>,
    kind: Kind,
}

impl Slot<'_> {
    pub fn created(self, client: &SmoothClient, watch: &Arc<TaskWatch>) {
        let mut accounts = self.limits.accounts.lock();
        let account = accounts.entry(self.account).or_default();
        account.running.insert(
            watch.id.clone(),
            Entry {
                kind: self.kind,
                client: client.clone(),
                watch: watch.clone(),
            },
        );
        // `self` drops here and frees its reservation: the entry replaced it.
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut accounts = self.limits.accounts.lock();
        if let Some(n) = accounts
            .get_mut(&self.account)
            .and_then(|a| a.reserved.get_mut(&self.kind))
        {
            *n = n.saturating_sub(1);
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            settings,
            accounts: Mutex::default(),
        }
    }

    fn window(&self) -> Window {
        self.settings
            .credit_budget
            .map_or(Window::Lifetime, |b| b.window)
    }

    /// Admits a creation of `kind` for `client`'s account, or says why not.
    pub async fn admit(
        &self,
        watcher: &Watcher,
        client: &SmoothClient,
        kind: Kind,
    ) -> Result<Slot<'_>, Refusal> {
        if self.settings.any() {
            self.bring_up_to_date(watcher, client).await;
        }
        let now = now();
        let mut accounts = self.accounts.lock();
        let account = accounts.entry(client.account()).or_default();
        account.sweep(self.window(), now);
        let limit = match kind {
            Kind::Task => self.settings.max_concurrent_tasks,
            Kind::Session => self.settings.max_open_sessions,
        };
        if let Some(limit) = limit
            && account.running(kind) >= limit
        {
            return Err(Refusal::Busy {
                kind,
                limit,
                running: running(account),
            });
        }
        self.check_budget(account, now)?;
        *account.reserved.entry(kind).or_default() += 1;
        Ok(Slot {
            limits: self,
            account: client.account(),
            kind,
        })
    }

    /// Whether new paid work (an agent task in an open session) may start: the budget only.
    pub async fn admit_spending(
        &self,
        watcher: &Watcher,
        client: &SmoothClient,
    ) -> Result<(), Refusal> {
        if self.settings.credit_budget.is_none() {
            return Ok(());
        }
        self.bring_up_to_date(watcher, client).await;
        let now = now();
        let mut accounts = self.accounts.lock();
        let account = accounts.entry(client.account()).or_default();
        account.sweep(self.window(), now);
        self.check_budget(account, now)
    }

    fn check_budget(&self, account: &mut Account, now: u64) -> Result<(), Refusal> {
        let Some(budget) = self.settings.credit_budget else {
            return Ok(());
        };
        let spent = account.spent(budget.window, now);
        if spent >= budget.credits {
            return Err(Refusal::Spent {
                spent: round(spent),
                budget,
                ends: budget.window.end(now),
            });
        }
        Ok(())
    }

    /// The account's spending in the current window and what runs now.
    pub async fn usage(&self, watcher: &Watcher, client: &SmoothClient) -> Usage {
        self.bring_up_to_date(watcher, client).await;
        let now = now();
        let window = self.window();
        let mut accounts = self.accounts.lock();
        let account = accounts.entry(client.account()).or_default();
        account.sweep(window, now);
        Usage {
            window,
            window_ends: window.end(now),
            credits_used: round(account.spent(window, now)),
            budget: self.settings.credit_budget.map(|b| b.credits),
            running: running(account),
            settings: self.settings.clone(),
        }
    }

    /// Reads once each of the account's live entries that no poller follows (nobody waits
    /// for it), so an ended one is counted and frees its place.
    async fn bring_up_to_date(&self, watcher: &Watcher, client: &SmoothClient) {
        let stale: Vec<(String, SmoothClient)> = {
            let accounts = self.accounts.lock();
            let Some(account) = accounts.get(&client.account()) else {
                return;
            };
            account
                .running
                .iter()
                .filter(|(_, e)| ended_credits(e).is_none() && !e.watch.is_polling())
                .map(|(id, e)| (id.clone(), e.client.clone()))
                .collect()
        };
        let reads = stale.into_iter().map(|(id, client)| async move {
            let watch = watcher.watch(&client, &id);
            let read = watch.refresh(false).await;
            (id, watch, read)
        });
        let read = futures::future::join_all(reads).await;
        let mut accounts = self.accounts.lock();
        let Some(account) = accounts.get_mut(&client.account()) else {
            return;
        };
        for (id, watch, outcome) in &read {
            let Some(entry) = account.running.get_mut(id) else {
                continue;
            };
            match outcome {
                // The watch now knows where it stands; keep the one that does.
                Ok(_) => entry.watch = watch.clone(),
                // Gone upstream: it runs no more and its credits cannot be read.
                Err(SmoothError::Api { status: 404, .. }) => {
                    account.running.remove(id);
                }
                // Unknown for now: it keeps its place (the safe side of a limit).
                Err(e) => {
                    tracing::debug!(task = %id, error = %e, "could not read a task for the limits")
                }
            }
        }
        account.sweep(self.window(), now());
    }
}

fn running(account: &Account) -> Vec<Running> {
    let mut out: Vec<Running> = account
        .running
        .iter()
        .map(|(id, e)| Running {
            kind: e.kind,
            id: id.clone(),
            live_url: e
                .watch
                .state()
                .task
                .as_ref()
                .and_then(|t| t.live_url.clone()),
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Credits as Smooth shows them (no float noise from adding).
fn round(credits: f64) -> f64 {
    (credits * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_to_utc() {
        // 2026-12-01T18:07:25Z
        let t = 1_796_148_445;
        assert_eq!(
            rfc3339(Window::Hour.start(t)).unwrap(),
            "2026-12-01T18:00:00Z"
        );
        assert_eq!(
            rfc3339(Window::Hour.end(t).unwrap()).unwrap(),
            "2026-12-01T19:00:00Z"
        );
        assert_eq!(
            rfc3339(Window::Day.start(t)).unwrap(),
            "2026-12-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339(Window::Day.end(t).unwrap()).unwrap(),
            "2026-12-02T00:00:00Z"
        );
        // The last second of a window is in it; the next one starts the next window.
        let end = Window::Hour.end(t).unwrap();
        assert_eq!(Window::Hour.start(end - 1), Window::Hour.start(t));
        assert_eq!(Window::Hour.start(end), end);
        assert_eq!(Window::Lifetime.start(t), 0);
        assert_eq!(Window::Lifetime.end(t), None);
    }

    #[test]
    fn spending_restarts_with_each_window() {
        let mut a = Account::default();
        let t = 1_796_148_445;
        a.add(Window::Hour, t, 3.0);
        a.add(Window::Hour, t + 60, 1.5);
        assert_eq!(a.spent(Window::Hour, t + 120), 4.5);
        let next = Window::Hour.end(t).unwrap();
        assert_eq!(
            a.spent(Window::Hour, next),
            0.0,
            "a new hour starts from zero"
        );
        a.add(Window::Lifetime, next, 2.0);
        assert_eq!(a.spent(Window::Lifetime, next + 86_400 * 400), 2.0);
    }

    #[test]
    fn budgets_parse() {
        let b = |s: &str| s.parse::<Budget>();
        assert_eq!(
            b("100").unwrap(),
            Budget {
                credits: 100.0,
                window: Window::Lifetime
            }
        );
        assert_eq!(b("2.5/hour").unwrap().window, Window::Hour);
        assert_eq!(b(" 50 / day").unwrap().window, Window::Day);
        assert!(b("50/week").unwrap_err().contains("/day"));
        assert!(b("0").is_err());
        assert!(b("-3/day").is_err());
        assert!(b("lots").is_err());
    }

    #[test]
    fn a_refused_creation_says_what_runs_and_how_to_free_it() {
        let busy = Refusal::Busy {
            kind: Kind::Task,
            limit: 1,
            running: vec![
                Running {
                    kind: Kind::Task,
                    id: "t1".into(),
                    live_url: Some("https://live/t1".into()),
                },
                Running {
                    kind: Kind::Session,
                    id: "s1".into(),
                    live_url: None,
                },
            ],
        }
        .to_string();
        assert!(busy.contains("task t1 (live at https://live/t1)"), "{busy}");
        assert!(!busy.contains("s1"), "only what holds this limit: {busy}");
        assert!(busy.contains("cancel_task"), "{busy}");
        let spent = Refusal::Spent {
            spent: 10.5,
            budget: "10/day".parse().unwrap(),
            ends: Some(1_796_169_600),
        }
        .to_string();
        assert!(spent.contains("after 2026-12-02T00:00:00Z"), "{spent}");
    }
}
