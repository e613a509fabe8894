//! `smooth-mcp setup <client>` and `smooth-mcp doctor`: installing the server into an MCP
//! client's own config file, and checking an installation. Knows nothing of MCP.
//!
//! * `clients`: the clients, where each keeps its servers on each OS, and their shapes.
//! * `entry`: the `smooth` entry — this binary's absolute path and the options passed on.
//! * `key`: where the entry's key comes from (the user's, VS Code's prompt, a placeholder).
//! * `json_file`, `toml_file`: merging the entry into a JSON or TOML config, every other server
//!   and setting kept; `write`: backups, owner-only files for keys, atomic replacement.
//! * [`doctor`]: the checks.

mod clients;
pub mod doctor;
mod entry;
mod json_file;
mod key;
mod toml_file;
mod write;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub use clients::Client;

use clients::{Dirs, Format, NoHome};
use entry::{Entry, PassThrough, SERVER_NAME};
use key::{KeyPlan, Reveal};

use crate::config::SetupArgs;

/// Why `setup` changed nothing. Messages name the file and what to do; never a key.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    NoHome(#[from] NoHome),
    #[error("{action}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "{}: {reason}. Nothing was changed: fix the file (or move it aside) and rerun, or add \
         the entry by hand (--print shows it)",
        path.display()
    )]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "{} already has a different {what}. Nothing was changed: rerun with --force to replace \
         it (the old file is kept as a backup), or with --print to see the new entry",
        path.display()
    )]
    Differs { path: PathBuf, what: String },
}

/// Why a merge left a file alone (the caller adds the path).
#[derive(Debug)]
enum Refusal {
    Malformed(String),
    /// What differs: `server "smooth"` or VS Code's key input.
    Differs(String),
}

impl Refusal {
    fn at(self, path: &Path) -> SetupError {
        let path = path.to_path_buf();
        match self {
            Self::Malformed(reason) => SetupError::Malformed { path, reason },
            Self::Differs(what) => SetupError::Differs { path, what },
        }
    }
}

/// A merged config: the new text (`None`: already set up) and what changed, for the user.
#[derive(Debug)]
struct Merged {
    text: Option<String>,
    changes: Vec<Change>,
}

/// One thing a merge adds or replaces: `server "smooth"`, VS Code's key input.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Added(String),
    Replaced(String),
}

impl Change {
    fn done(&self) -> String {
        match self {
            Self::Added(what) => format!("added {what}"),
            Self::Replaced(what) => format!("replaced {what}"),
        }
    }

    fn planned(&self) -> String {
        match self {
            Self::Added(what) => format!("add {what}"),
            Self::Replaced(what) => format!("replace {what}"),
        }
    }
}

/// Runs `setup`; returns what to tell the user.
pub fn run(args: &SetupArgs) -> Result<String, SetupError> {
    let dirs = Dirs::from_process_env()?;
    let Some(client) = args.client.filter(|_| !args.list) else {
        return Ok(list(&dirs));
    };
    let exe = std::env::current_exe().map_err(|source| SetupError::Io {
        action: "finding this program's path".into(),
        source,
    })?;
    let options = PassThrough {
        toolsets: args.toolsets.clone(),
        allow_dirs: args.allow_dirs.clone(),
        mock: args.mock(),
    };
    let key = KeyPlan::choose(args.api_key.clone(), client, options.mock);
    let entry = Entry::new(&exe, &options, key)?;
    let path = client.config_path(&dirs);
    let existing = read_existing(&path)?;
    let merged = merge(client, existing.as_deref(), &entry, args.force);
    if args.print {
        return Ok(preview(client, &path, &entry, merged));
    }
    let merged = merged.map_err(|r| r.at(&path))?;
    let Some(text) = merged.text else {
        return Ok(format!(
            "{} is already set up in {}: nothing changed.\n",
            client.title(),
            path.display()
        ));
    };
    let backup = write::replace_file(&path, &text, entry.key.writes_secret())?;
    let mut out = format!("Updated {}:\n", path.display());
    for change in &merged.changes {
        let _ = writeln!(out, "  {}", change.done());
    }
    let _ = writeln!(out, "  command: {}", command_line(&entry));
    if let Some(runner) = entry.runner {
        let _ = writeln!(out, "  {}", runner.advice());
    }
    if let Some(backup) = backup {
        let _ = writeln!(out, "  backup of the previous file: {}", backup.display());
    }
    let _ = writeln!(out, "  {}", entry.key.advice(client));
    let _ = writeln!(out, "Restart {} to load the server.", client.title());
    Ok(out)
}

fn merge(
    client: Client,
    existing: Option<&str>,
    entry: &Entry,
    force: bool,
) -> Result<Merged, Refusal> {
    match client.format() {
        Format::Json { servers_key } => json_file::merge(
            existing,
            servers_key,
            entry.json(client, Reveal::Write),
            entry.key.vscode_input(),
            force,
        ),
        Format::Toml => toml_file::merge(existing, entry, force),
    }
}

/// `--print`: the path, the entry with its key hidden, and what a real run would do.
fn preview(client: Client, path: &Path, entry: &Entry, merged: Result<Merged, Refusal>) -> String {
    let shown = match client.format() {
        Format::Json { servers_key } => {
            let mut doc = json!({ servers_key: { SERVER_NAME: entry.json(client, Reveal::Hide) } });
            if let Some(input) = entry.key.vscode_input() {
                doc["inputs"] = json!([input]);
            }
            let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
            text.push('\n');
            text
        }
        Format::Toml => toml_file::snippet(entry),
    };
    let outcome = match merged {
        Ok(Merged { text: None, .. }) => "already set up: nothing would change".to_owned(),
        Ok(Merged { changes, .. }) => {
            let planned: Vec<String> = changes.iter().map(Change::planned).collect();
            format!("setup would {}", planned.join(" and "))
        }
        Err(Refusal::Malformed(reason)) => format!("would be refused: {reason}"),
        Err(Refusal::Differs(what)) => {
            format!("would be refused: the file has a different {what} (use --force)")
        }
    };
    let runner = entry
        .runner
        .map(|r| format!("{}\n", r.advice()))
        .unwrap_or_default();
    format!(
        "{} config file: {}\n{outcome}. Nothing was changed (--print).\n{runner}\n{shown}",
        client.title(),
        path.display()
    )
}

/// `setup --list`: every client, its file on this machine, and whether it has the server.
fn list(dirs: &Dirs) -> String {
    let mut out = String::from("Clients (smooth-mcp setup <client>) and their config files:\n");
    for client in Client::ALL {
        let path = client.config_path(dirs);
        let state = match installed(client, &path) {
            Installed::NoFile => "no file yet",
            Installed::NoEntry => "no smooth entry",
            Installed::Entry(_) => "set up",
            Installed::Unreadable(_) => "unreadable",
        };
        let _ = writeln!(
            out,
            "  {:<15} {:<15} {} ({state})",
            client.id(),
            client.title(),
            path.display()
        );
    }
    out
}

/// What a client's config file says about this server.
#[derive(Debug)]
enum Installed {
    NoFile,
    NoEntry,
    Entry(Value),
    Unreadable(String),
}

fn installed(client: Client, path: &Path) -> Installed {
    let text = match read_existing(path) {
        Ok(Some(text)) => text,
        Ok(None) => return Installed::NoFile,
        Err(e) => return Installed::Unreadable(error_chain(&e)),
    };
    let found = match client.format() {
        Format::Json { servers_key } => json_file::existing_entry(&text, servers_key),
        Format::Toml => toml_file::existing_entry(&text),
    };
    match found {
        Ok(Some(entry)) => Installed::Entry(entry),
        Ok(None) => Installed::NoEntry,
        Err(Refusal::Malformed(reason) | Refusal::Differs(reason)) => Installed::Unreadable(reason),
    }
}

/// The file's text; `None` when there is no file yet.
fn read_existing(path: &Path) -> Result<Option<String>, SetupError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SetupError::Io {
            action: format!("reading {}", path.display()),
            source,
        }),
    }
}

fn command_line(entry: &Entry) -> String {
    std::iter::once(entry.command.as_str())
        .chain(entry.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(message, ": {s}");
        source = s.source();
    }
    message
}
