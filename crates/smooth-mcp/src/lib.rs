pub mod config;
pub mod mcp;
pub mod sessions;
pub mod signal;
pub mod transport;
