//! The Smooth REST API client: wire types, errors, retries. Knows nothing of MCP.

mod client;
mod error;
mod tool_calls;
mod types;
pub mod watch;

pub use client::{
    ApiKey, ClientConfig, DEFAULT_BASE_URL, RetryPolicy, SmoothClient, normalize_base_url,
};
pub use error::SmoothError;
pub use types::*;
