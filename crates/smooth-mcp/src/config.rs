//! Configuration: the flags and environment variables (every setting is both), one struct
//! per `--help` section ([`ServerArgs`]), and their conversion into what each layer takes
//! ([`ServerConfig`]). The dependency runs one way: the transports take [`HttpOptions`]
//! from here and know nothing of the flags; nothing here knows the transports.

mod args;
mod commands;
mod http;
mod server;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser};

pub use args::{
    AgentArgs, BrowserArgs, ConnectionArgs, HttpArgs, LogFormat, McpTasks, OnOff, ServerArgs,
    SessionArgs, ToolArgs, Transport, TransportArgs, UploadArgs, WaitArgs,
};
pub use commands::{DoctorArgs, SetupArgs};
pub use http::{AuthTokens, HttpConfigError, HttpOptions, KeyByClaim, OAuthOptions, SHORT_TOKEN};
#[cfg(feature = "mock")]
pub use server::MockArgs;
pub use server::{ConfigError, ServerConfig, TransportConfig};

#[derive(Debug, Parser)]
#[command(name = "smooth-mcp", version, about = "MCP server for the Smooth browser agent", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Without a subcommand the binary is the MCP server.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add the server to an MCP client's config file (Claude Desktop, Cursor, VS Code…).
    Setup(SetupArgs),
    /// Check the key, the connection to Smooth, the upload directories and the clients set up.
    Doctor(DoctorArgs),
    /// Serve the mock Smooth API over HTTP (for tests, demos and benchmarks).
    #[cfg(feature = "mock")]
    Mock(MockArgs),
}

impl Cli {
    /// Parses the process's arguments and environment; on an error prints clap's message
    /// and exits.
    pub fn parse_or_exit() -> Self {
        Self::parse_checked_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses like clap, then applies the rule clap cannot say: the [`HttpArgs`] are for
    /// `--transport http` only.
    pub fn parse_checked_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut cmd = Self::command();
        let matches = cmd.try_get_matches_from_mut(args)?;
        let cli = Self::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))?;
        if cli.serves_mcp() && cli.server.transport.transport != Transport::Http {
            refuse_http_args(&mut cmd, &matches)?;
        }
        Ok(cli)
    }

    fn serves_mcp(&self) -> bool {
        self.command.is_none()
    }
}

/// Fails on the first member of the [`HttpArgs`] group that was set, by flag or environment.
fn refuse_http_args(cmd: &mut clap::Command, matches: &ArgMatches) -> Result<(), clap::Error> {
    let Some(group) = HttpArgs::group_id() else {
        return Ok(());
    };
    let members: Vec<clap::Id> = cmd
        .get_groups()
        .filter(|g| g.get_id() == &group)
        .flat_map(|g| g.get_args().cloned())
        .collect();
    for id in members {
        let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == &id) else {
            continue;
        };
        let long = arg.get_long().unwrap_or(id.as_str());
        let given = match matches.value_source(id.as_str()) {
            Some(ValueSource::CommandLine) => format!("--{long}"),
            Some(ValueSource::EnvVariable) => match arg.get_env() {
                Some(env) => format!("{} (for --{long})", env.to_string_lossy()),
                None => format!("--{long}"),
            },
            _ => continue,
        };
        return Err(cmd.error(
            ErrorKind::ArgumentConflict,
            format!(
                "{given} only applies to --transport http; add `--transport http` (or \
                 SMOOTH_MCP_TRANSPORT=http) or remove it"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
