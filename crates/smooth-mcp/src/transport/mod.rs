//! How MCP clients reach the server. Wiring only: the tools live in `crate::mcp`.

pub mod connections;
pub mod http;
pub mod jsonrpc_guard;
pub mod oauth;
pub mod rejections;
pub mod request_ids;
pub mod stdio;
