//! The `smooth` server entry: the absolute path of this binary (or, when it runs from a
//! package runner's cache, that runner), the few options passed on, and the key.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::key::{KEY_VAR, KeyPlan, Reveal};
use super::{Client, SetupError};

/// The entry's name in every client.
pub const SERVER_NAME: &str = "smooth";

#[derive(Debug, Clone)]
pub struct Entry {
    /// Absolute: desktop clients start servers without the user's `PATH`. Only a package
    /// runner is named bare (`npx`, `uvx`).
    pub command: String,
    pub args: Vec<String>,
    pub key: KeyPlan,
    /// The runner `setup` itself was started through, if any.
    pub runner: Option<Runner>,
}

/// A package runner whose cache the running binary lives in. That cache may be cleared at any
/// time, so the entry starts the runner instead, as its users' configs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// npm's `npx`: packages go to `<npm cache>/_npx/<hash>/node_modules/`.
    Npx,
    /// uv's `uvx`: tools go to `<uv cache>/archive-v0/<hash>/bin/` (`uv tool install` and pipx
    /// install elsewhere, into directories that last).
    Uvx,
}

impl Runner {
    pub fn of(exe: &Path) -> Option<Self> {
        exe.components()
            .find_map(|part| match part.as_os_str().to_str()? {
                "_npx" => Some(Self::Npx),
                name if name
                    .strip_prefix("archive-v")
                    .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())) =>
                {
                    Some(Self::Uvx)
                }
                _ => None,
            })
    }

    /// The program and the arguments that start the published package.
    fn invocation(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Self::Npx => ("npx", &["-y", "smooth-mcp"]),
            Self::Uvx => ("uvx", &["smooth-mcp"]),
        }
    }

    /// Why the entry names the runner, and how to get an absolute path instead.
    pub fn advice(self) -> &'static str {
        match self {
            Self::Npx => {
                "you ran setup through npx, whose cache is no place to start a server from: the \
                 client will run `npx -y smooth-mcp` (it needs Node.js on the PATH the client \
                 sees). For an absolute path, `npm install -g smooth-mcp` and run \
                 `smooth-mcp setup` again."
            }
            Self::Uvx => {
                "you ran setup through uvx, whose cache is no place to start a server from: the \
                 client will run `uvx smooth-mcp` (it needs uv on the PATH the client sees). \
                 For an absolute path, `uv tool install smooth-mcp` and run `smooth-mcp setup` \
                 again."
            }
        }
    }
}

/// What the user asked `setup` to pass on to the server.
#[derive(Debug, Clone, Default)]
pub struct PassThrough {
    pub toolsets: Vec<String>,
    pub allow_dirs: Vec<PathBuf>,
    pub mock: bool,
}

impl Entry {
    /// `exe` is the running binary; it and every `--allow-dir` are made absolute and
    /// symlink-free, since the client starts the server from a directory of its choosing.
    pub fn new(exe: &Path, options: &PassThrough, key: KeyPlan) -> Result<Self, SetupError> {
        let exe = canonical(exe, "this program")?;
        let runner = Runner::of(&exe);
        let (command, mut args) = match runner {
            Some(runner) => {
                let (program, args) = runner.invocation();
                (
                    program.to_owned(),
                    args.iter().map(|a| (*a).to_owned()).collect(),
                )
            }
            None => (utf8(&exe, "this program")?, Vec::new()),
        };
        if !options.toolsets.is_empty() {
            args.push("--toolsets".to_owned());
            args.push(options.toolsets.join(","));
        }
        for dir in &options.allow_dirs {
            let dir = utf8(&canonical(dir, "--allow-dir")?, "--allow-dir")?;
            // The server splits SMOOTH_MCP_ALLOWED_DIRS and each --allow-dir on commas.
            if dir.contains(',') {
                return Err(SetupError::Invalid(format!(
                    "--allow-dir {dir}: the server cannot take a directory whose path holds a comma"
                )));
            }
            args.push("--allow-dir".to_owned());
            args.push(dir);
        }
        if options.mock {
            args.push("--mock".to_owned());
        }
        Ok(Self {
            command,
            args,
            key,
            runner,
        })
    }

    /// The entry as a JSON client stores it.
    pub fn json(&self, client: Client, reveal: Reveal) -> Value {
        let mut entry = Map::new();
        if client.typed_entries() {
            entry.insert("type".into(), json!("stdio"));
        }
        entry.insert("command".into(), json!(self.command));
        entry.insert("args".into(), json!(self.args));
        if let Some(key) = self.key.env_value(reveal) {
            entry.insert("env".into(), json!({ KEY_VAR: key }));
        }
        Value::Object(entry)
    }
}

fn canonical(path: &Path, what: &str) -> Result<PathBuf, SetupError> {
    std::fs::canonicalize(path).map_err(|source| SetupError::Io {
        action: format!("resolving {what} {}", path.display()),
        source,
    })
}

/// Config files are JSON/TOML text: a path must be valid Unicode to be written into one.
fn utf8(path: &Path, what: &str) -> Result<String, SetupError> {
    path.to_str().map(str::to_owned).ok_or_else(|| {
        SetupError::Invalid(format!(
            "{what} {} is not valid Unicode and cannot be written into a config file",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_in_a_runner_cache_is_started_through_the_runner() {
        for (path, runner) in [
            (
                "/home/u/.npm/_npx/0a1b2c/node_modules/@smooth-mcp/linux-x64/bin/smooth-mcp",
                Some(Runner::Npx),
            ),
            (
                "/Users/u/.npm/_npx/0a1b2c/node_modules/@smooth-mcp/darwin-arm64/bin/smooth-mcp",
                Some(Runner::Npx),
            ),
            (
                "/home/u/.cache/uv/archive-v0/L7fuSEgkq/bin/smooth-mcp",
                Some(Runner::Uvx),
            ),
            (
                "/Users/u/Library/Caches/uv/archive-v0/L7fuSEgkq/bin/smooth-mcp",
                Some(Runner::Uvx),
            ),
            // Installed for good: the path itself is what the client should run.
            (
                "/usr/lib/node_modules/smooth-mcp/node_modules/@smooth-mcp/linux-x64/bin/smooth-mcp",
                None,
            ),
            (
                "/home/u/.local/share/uv/tools/smooth-mcp/bin/smooth-mcp",
                None,
            ),
            ("/home/u/.local/pipx/venvs/smooth-mcp/bin/smooth-mcp", None),
            ("/home/u/.cargo/bin/smooth-mcp", None),
            ("/home/u/archive-v2-backup/smooth-mcp", None),
        ] {
            assert_eq!(Runner::of(Path::new(path)), runner, "{path}");
        }
    }
}
