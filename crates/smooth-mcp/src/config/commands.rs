//! `smooth-mcp setup` and `smooth-mcp doctor`: their flags. The work is done in
//! [`crate::setup`]; this module only reads the command line.

use std::path::PathBuf;

use secrecy::SecretString;
use smooth_api::{ApiKey, DEFAULT_BASE_URL};

use super::args::toolset_name;
use super::server::resolved_api_key;
use crate::setup::Client;

/// `smooth-mcp setup <client>`: writes the `smooth` server into the client's own config file.
#[derive(Debug, Clone, clap::Args)]
pub struct SetupArgs {
    /// The MCP client to set up.
    #[arg(value_enum, required_unless_present = "list")]
    pub client: Option<Client>,

    /// List the clients and where each keeps its configuration on this machine.
    #[arg(long, conflicts_with_all = ["client", "print", "force"])]
    pub list: bool,

    /// Only show the entry and the file it would go into; change nothing.
    #[arg(long)]
    pub print: bool,

    /// Replace a `smooth` entry that differs from this one (a backup is kept).
    #[arg(long)]
    pub force: bool,

    /// Smooth API key to write into the entry (the file is then made readable by you only);
    /// prefer the environment variable (flags show in `ps`). Without it, VS Code prompts for
    /// the key and other clients get a placeholder to replace.
    #[arg(long, env = "SMOOTH_API_KEY", hide_env_values = true)]
    pub api_key: Option<SecretString>,

    /// Passed on to the server: the tool families to list (see `smooth-mcp --help`).
    #[arg(long, value_delimiter = ',', value_parser = toolset_name)]
    pub toolsets: Vec<String>,

    /// Passed on to the server: a directory uploads may read from (repeatable). Made absolute.
    #[arg(long = "allow-dir")]
    pub allow_dirs: Vec<PathBuf>,

    /// Passed on to the server: run against the embedded mock (no key needed, results simulated).
    #[cfg(feature = "mock")]
    #[arg(long)]
    pub mock: bool,
}

impl SetupArgs {
    /// Whether the entry starts the server against the mock.
    pub fn mock(&self) -> bool {
        #[cfg(feature = "mock")]
        return self.mock;
        #[cfg(not(feature = "mock"))]
        false
    }
}

/// `smooth-mcp doctor`: the same connection and upload settings as the server, by flag or
/// environment variable, so it checks what the server would see.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// Smooth API key (falls back to CIRCLEMIND_API_KEY, as the server does).
    #[arg(long, env = "SMOOTH_API_KEY", hide_env_values = true)]
    pub api_key: Option<SecretString>,

    /// Smooth API base URL.
    #[arg(long, env = "SMOOTH_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: String,

    /// Directories uploads may read from (repeat or comma-separate).
    #[arg(
        long = "allow-dir",
        env = "SMOOTH_MCP_ALLOWED_DIRS",
        value_delimiter = ','
    )]
    pub allow_dirs: Vec<PathBuf>,

    /// Check against the embedded mock instead of Smooth.
    #[cfg(feature = "mock")]
    #[arg(long, env = "SMOOTH_MCP_MOCK")]
    pub mock: bool,
}

impl DoctorArgs {
    /// The key the server would use.
    pub fn api_key(&self) -> Option<ApiKey> {
        resolved_api_key(self.api_key.as_ref())
    }

    pub fn mock(&self) -> bool {
        #[cfg(feature = "mock")]
        return self.mock;
        #[cfg(not(feature = "mock"))]
        false
    }
}
