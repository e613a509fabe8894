pub mod config;
pub mod escape;
pub mod mcp;
pub mod sessions;
pub mod signal;
pub mod transport;
