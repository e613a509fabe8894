//! list_agent_tools and list_secrets: what the agent has besides the browser. Routed only
//! when the operator configured something to list; the same lists are in the instructions.

use rmcp::handler::server::common::schema_for_output;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::args::Parameters;
use super::error::ToolError;
use super::results::structured;
use super::{AppState, SmoothServer};
use crate::agent_tools::ask_user_tool;
use crate::secrets::SecretInfo;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AgentToolInfo {
    pub name: String,
    pub description: String,
    pub inputs: Value,
    /// operator (answered by this server) or built-in (ask_user: you relay it).
    pub source: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AgentToolList {
    pub tools: Vec<AgentToolInfo>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SecretList {
    pub secrets: Vec<SecretInfo>,
}

/// Every agent tool a task gets when its call narrows nothing.
fn agent_tools(state: &AppState) -> Vec<AgentToolInfo> {
    let operator = state
        .operator_tools
        .custom_tools()
        .into_iter()
        .map(|t| (t, "operator"));
    let built_in = state
        .settings
        .ask_user
        .then(|| (ask_user_tool(), "built-in"));
    operator
        .chain(built_in)
        .map(|(t, source)| AgentToolInfo {
            name: t.name,
            description: t.description,
            inputs: t.inputs,
            source: source.into(),
        })
        .collect()
}

/// The instructions' part about agent tools and secrets (empty when nothing is configured
/// and ask_user is off).
pub fn instructions(state: &AppState) -> String {
    let mut text = String::new();
    let tools = agent_tools(state);
    if !tools.is_empty() {
        text.push_str(
            "\n- The agent can call tools mid-task. When a result says waiting_for_answer, answer \
             with answer_tool_call (for ask_user, ask the user). Agent tools:",
        );
        for t in &tools {
            text.push_str(&format!(
                "\n  - {} ({}): {}",
                t.name, t.source, t.description
            ));
        }
    }
    let secrets = state.secrets.list();
    if !secrets.is_empty() {
        text.push_str(
            "\n- Secrets the agent may type (pass their names in `secrets`; you never see the \
             values):",
        );
        for s in &secrets {
            text.push_str(&format!(
                "\n  - {} on {}",
                s.name,
                s.allowed_urls.join(", ")
            ));
        }
    }
    text
}

#[tool_router(router = listing_router, vis = "pub(super)")]
impl SmoothServer {
    #[tool(
        name = "list_agent_tools",
        title = "List the agent's tools",
        description = "Tools the agent may call mid-task: the operator's (answered by this \
            server; narrow them with `tools`) and ask_user.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<AgentToolList>()
    )]
    async fn list_agent_tools(
        &self,
        Parameters(_): Parameters<NoArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let tools = agent_tools(&self.state);
        Ok(structured(&AgentToolList { tools }, vec![]))
    }

    #[tool(
        name = "list_secrets",
        title = "List secrets",
        description = "Secrets the agent may type (names and the sites they are for; never \
            values): pass names in `secrets`.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<SecretList>()
    )]
    async fn list_secrets(
        &self,
        Parameters(_): Parameters<NoArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let secrets = self.state.secrets.list();
        Ok(structured(&SecretList { secrets }, vec![]))
    }
}
