pub mod config;
pub mod mcp;
pub mod mock;
pub mod sessions;
pub mod signal;
pub mod smooth;
pub mod transport;
pub mod watch;
