//! `smooth-mcp`: a Model Context Protocol server that gives AI assistants the Smooth browser
//! agent. The binary (`main.rs`) is thin wiring; this library is the server.
//!
//! A tool call travels one way, and its result comes back the same way:
//!
//! ```text
//! MCP client ─► transport ─► mcp (tool handler) ─► smooth_api::watch (task watcher)
//!                                                 ─► smooth_api::SmoothClient ─► HTTP
//! ```
//!
//! * [`config`]: every flag and environment variable, and their conversion into the settings
//!   each layer takes. Nothing else reads the command line.
//! * [`transport`]: how clients reach the server — stdio and Streamable HTTP (bearer tokens,
//!   Host/Origin checks, body limits). Wiring only: no tool logic.
//! * [`mcp`]: the tools, one module per family (tasks, sessions, files, profiles, extensions),
//!   their argument checks, result shapes, output caps, progress and the one bounded wait they
//!   share. It makes no HTTP calls of its own: everything goes through the watcher or the client.
//! * [`sessions`]: the sessions this process opened — the idle reaper and closing them at
//!   shutdown, so nobody pays for a browser left open. Knows nothing of MCP.
//! * [`ledger`]: the tasks this process created and whether their ids reached a client; at
//!   shutdown the ones nobody knows of are cancelled. Knows nothing of MCP.
//! * [`metrics`]: the counters behind `GET /metrics`; fed by the tool calls, the HTTP
//!   transport and `smooth_api`'s observer hooks.
//! * `telemetry` (the `otel` feature): OpenTelemetry traces of tool calls and Smooth requests.
//! * [`signal`]: SIGINT/SIGTERM, shared by every long-running mode.
//! * [`capped`]: reading a third party's HTTP answer (an operator's endpoint, an OAuth
//!   issuer) up to a size cap.
//! * [`config_file`]: the `--config` TOML file (`[tools.*]`, `[secrets.*]`), checked strictly.
//! * [`agent_tools`]: tools the agent calls that the server answers itself (the operator's
//!   programs and HTTP endpoints) and the checks every agent tool declaration passes.
//! * [`secrets`]: values the agent may type on named sites, and the redaction that keeps
//!   them out of everything the server writes. Knows nothing of MCP but its result type.
//! * [`setup`]: the `setup <client>` and `doctor` subcommands — writing the server into an MCP
//!   client's config file, and checking the key, Smooth, the upload directories and the
//!   clients set up. Not part of the server.
//! * [`pictures`]: previews of the screenshots a task produced, scaled and re-encoded so a
//!   model can see them within the host's size limits. Knows nothing of MCP.
//!
//! The Smooth REST client and the task watcher live in the `smooth-api` crate, which knows
//! nothing of MCP; the fake Smooth API used by `--mock` and the tests is the `smooth-mock`
//! crate, which shares no types with `smooth-api` so that it checks the wire format.

pub mod agent_tools;
pub mod capped;
pub mod config;
pub mod config_file;
pub mod escape;
pub mod ledger;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod pictures;
pub mod secrets;
pub mod sessions;
pub mod setup;
pub mod signal;
#[cfg(feature = "otel")]
pub mod telemetry;
pub mod transport;
