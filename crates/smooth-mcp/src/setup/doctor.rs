//! `smooth-mcp doctor`: checks what the server needs — a key Smooth accepts, Smooth within
//! reach, readable upload directories — and which clients on this machine start it, each
//! finding with what to do about it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use smooth_api::{ApiKey, ClientConfig, RetryPolicy, SmoothClient, SmoothError};

use super::clients::Dirs;
use super::key::{KEY_VAR, PLACEHOLDER};
use super::{Client, Installed, error_chain, installed};
use crate::config::DoctorArgs;

/// One answer is enough: a doctor that retries an unreachable host only makes the user wait.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What to check: the server's connection settings (with `--mock`, the embedded mock's).
#[derive(Debug)]
pub struct Checkup {
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    pub allow_dirs: Vec<PathBuf>,
    pub mock: bool,
}

impl Checkup {
    pub fn from_args(args: &DoctorArgs) -> Self {
        Self {
            base_url: args.base_url.clone(),
            api_key: args.api_key(),
            allow_dirs: args.allow_dirs.clone(),
            mock: args.mock(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    /// Worth knowing, nothing to fix.
    Note,
    Problem,
}

/// The findings, in order; a [`Report::problems`] count above zero fails the command.
#[derive(Debug, Default)]
pub struct Report {
    lines: Vec<(Verdict, String)>,
}

impl Report {
    fn add(&mut self, verdict: Verdict, message: impl Into<String>) {
        self.lines.push((verdict, message.into()));
    }

    pub fn problems(&self) -> usize {
        self.lines
            .iter()
            .filter(|(v, _)| *v == Verdict::Problem)
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (verdict, message) in &self.lines {
            let tag = match verdict {
                Verdict::Ok => "ok  ",
                Verdict::Note => "note",
                Verdict::Problem => "FAIL",
            };
            writeln!(f, "{tag}  {message}")?;
        }
        match self.problems() {
            0 => writeln!(f, "No problems found."),
            n => writeln!(f, "{n} problem(s) found."),
        }
    }
}

pub async fn run(checkup: &Checkup) -> Report {
    let mut report = Report::default();
    check_smooth(checkup, &mut report).await;
    check_upload_dirs(&checkup.allow_dirs, &mut report);
    match Dirs::from_process_env() {
        Ok(dirs) => check_clients(&dirs, &mut report),
        Err(e) => report.add(Verdict::Problem, format!("clients: {e}")),
    }
    report
}

/// The key, then one cheap authenticated read (the newest task) that also proves Smooth is
/// reachable; without a key, a plain request for reachability alone.
async fn check_smooth(checkup: &Checkup, report: &mut Report) {
    let base = checkup.base_url.as_str();
    let key = match &checkup.api_key {
        _ if checkup.mock => {
            report.add(Verdict::Ok, "key: not needed (--mock: the embedded mock)");
            checkup.api_key.clone()
        }
        None => {
            report.add(
                Verdict::Problem,
                format!(
                    "key: none. Set {KEY_VAR} or pass --api-key (get a key at \
                     https://app.smooth.sh); `smooth-mcp setup <client> --api-key …` writes it \
                     into a client's config"
                ),
            );
            None
        }
        Some(key) => {
            report.add(Verdict::Ok, "key: set");
            Some(key.clone())
        }
    };
    let config = ClientConfig {
        base_url: base.to_owned(),
        api_key: key.clone(),
        request_timeout: REQUEST_TIMEOUT,
        retry: RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        },
        user_agent: Some(concat!("smooth-mcp/", env!("CARGO_PKG_VERSION"), " (doctor)").into()),
    };
    let client = match SmoothClient::new(config) {
        Ok(client) => client,
        Err(e) => {
            report.add(
                Verdict::Problem,
                format!("Smooth: {e} (fix --base-url or SMOOTH_BASE_URL)"),
            );
            return;
        }
    };
    let base = client.base_url().to_owned();
    if key.is_none() {
        check_reachable(&base, report).await;
        return;
    }
    match client.list_tasks(None, Some(1)).await {
        Ok(_) => report.add(
            Verdict::Ok,
            format!("Smooth at {base}: reachable, key accepted"),
        ),
        Err(SmoothError::Api {
            status: status @ (401 | 403),
            message,
            ..
        }) => report.add(
            Verdict::Problem,
            format!(
                "Smooth at {base}: key rejected (HTTP {status}: {message}). Check the key at \
                 https://app.smooth.sh and update it where you set it"
            ),
        ),
        Err(e @ (SmoothError::Transport(_) | SmoothError::Timeout)) => {
            report.add(Verdict::Problem, unreachable(&base, &e));
        }
        Err(e) => report.add(
            Verdict::Problem,
            format!("Smooth at {base}: reachable, but the check failed: {e}"),
        ),
    }
}

/// Any HTTP answer at all means Smooth (or something at that address) is there.
async fn check_reachable(base: &str, report: &mut Report) {
    let answer = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(http) => http.get(base).send().await.map(|_| ()),
        Err(e) => Err(e),
    };
    match answer {
        Ok(()) => report.add(
            Verdict::Ok,
            format!("Smooth at {base}: reachable (the key is not checked without one)"),
        ),
        Err(e) => report.add(
            Verdict::Problem,
            unreachable(base, &SmoothError::Transport(error_chain(&e.without_url()))),
        ),
    }
}

fn unreachable(base: &str, e: &SmoothError) -> String {
    format!(
        "Smooth at {base}: not reachable ({e}). Check the network or proxy, or --base-url / \
         SMOOTH_BASE_URL"
    )
}

fn check_upload_dirs(dirs: &[PathBuf], report: &mut Report) {
    if dirs.is_empty() {
        report.add(
            Verdict::Note,
            "uploads: no --allow-dir; upload_file reads from the roots the client lists, else \
             the server's working directory",
        );
    }
    for dir in dirs {
        match std::fs::read_dir(dir) {
            Ok(_) => report.add(
                Verdict::Ok,
                format!("uploads: {} is a readable directory", dir.display()),
            ),
            Err(e) => report.add(
                Verdict::Problem,
                format!(
                    "uploads: --allow-dir {} cannot be read ({e}); create it, fix its \
                     permissions or drop it",
                    dir.display()
                ),
            ),
        }
    }
}

fn check_clients(dirs: &Dirs, report: &mut Report) {
    let mut set_up = 0;
    for client in Client::ALL {
        let path = client.config_path(dirs);
        let place = format!("{} ({})", client.title(), path.display());
        match installed(client, &path) {
            Installed::NoFile => {}
            Installed::NoEntry => report.add(
                Verdict::Note,
                format!(
                    "{place}: no smooth entry (`smooth-mcp setup {}` adds it)",
                    client.id()
                ),
            ),
            Installed::Unreadable(reason) => report.add(
                Verdict::Problem,
                format!("{place}: cannot be read: {reason}"),
            ),
            Installed::Entry(entry) => {
                set_up += 1;
                check_entry(client, &place, &entry, report);
            }
        }
    }
    if set_up == 0 {
        report.add(
            Verdict::Note,
            "clients: none starts this server yet; `smooth-mcp setup <client>` adds it \
             (`smooth-mcp setup --list` lists the clients)",
        );
    }
}

/// The entry's program must exist (a moved or deleted binary is the usual breakage), and its
/// key must not be the placeholder `setup` leaves.
fn check_entry(client: Client, place: &str, entry: &Value, report: &mut Report) {
    let fix = format!("rerun `smooth-mcp setup {} --force`", client.id());
    let Some(command) = entry.get("command").and_then(Value::as_str) else {
        report.add(
            Verdict::Problem,
            format!("{place}: the smooth entry has no command; {fix}"),
        );
        return;
    };
    let path = Path::new(command);
    let mut fine = true;
    if !path.is_absolute() {
        report.add(
            Verdict::Note,
            format!(
                "{place}: the smooth entry runs `{command}`, not an absolute path; clients that \
                 do not see your PATH (Claude Desktop on macOS) will not find it"
            ),
        );
    } else if !path.is_file() {
        fine = false;
        report.add(
            Verdict::Problem,
            format!("{place}: the smooth entry runs {command}, which does not exist; {fix}"),
        );
    }
    let key = entry
        .get("env")
        .and_then(|env| env.get(KEY_VAR))
        .and_then(Value::as_str);
    if key == Some(PLACEHOLDER) {
        fine = false;
        report.add(
            Verdict::Problem,
            format!("{place}: replace \"{PLACEHOLDER}\" with your Smooth API key"),
        );
    }
    if fine {
        report.add(Verdict::Ok, format!("{place}: smooth runs {command}"));
    }
}
