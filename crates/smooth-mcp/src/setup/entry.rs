//! The `smooth` server entry: the absolute path of this binary, the few options passed on,
//! and the key.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::key::{KEY_VAR, KeyPlan, Reveal};
use super::{Client, SetupError};

/// The entry's name in every client.
pub const SERVER_NAME: &str = "smooth";

#[derive(Debug, Clone)]
pub struct Entry {
    /// Absolute: desktop clients start servers without the user's `PATH`.
    pub command: String,
    pub args: Vec<String>,
    pub key: KeyPlan,
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
        let command = utf8(&canonical(exe, "this program")?, "this program")?;
        let mut args = Vec::new();
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
        Ok(Self { command, args, key })
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
