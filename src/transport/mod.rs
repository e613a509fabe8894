//! How MCP clients reach the server. Wiring only: the tools live in `crate::mcp`.

pub mod stdio;
