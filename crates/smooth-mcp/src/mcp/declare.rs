//! The agent tools a task or session gets: the call's own `custom_tools` (answered by the
//! assistant through answer_tool_call), the operator's tools (narrowed by `tools`), and the
//! built-in `ask_user`. Everything is checked before anything is sent to Smooth.

use std::collections::HashSet;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::AppState;
use super::error::{ToolResult, invalid};
use crate::agent_tools::{ASK_USER, ask_user_tool, check_inputs, check_name};
use smooth_api::CustomTool;
use smooth_api::watch::{AgentTools, AutoAnswer};

/// `output` when a call does not describe what its tool returns.
const DEFAULT_OUTPUT: &str = "JSON result";

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomToolArg {
    /// Letters, digits and _ (at most 64).
    pub name: String,
    pub description: String,
    /// JSON Schema of its input ("type": "object").
    pub inputs: Map<String, Value>,
    /// What the answer holds.
    pub output: Option<String>,
}

/// What to send as `custom_tools`, and what the watcher needs to route the agent's calls.
pub fn declare(
    custom: Option<Vec<CustomToolArg>>,
    narrow: Option<Vec<String>>,
    state: &AppState,
) -> ToolResult<(Vec<CustomTool>, AgentTools)> {
    let operator = &state.operator_tools;
    let mut tools = operator.custom_tools();
    if let Some(names) = narrow {
        let known: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
        if let Some(unknown) = names.iter().find(|n| !known.contains(n)) {
            return Err(invalid(format!(
                "tools: {unknown:?} is not an operator tool; configured: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        tools.retain(|t| names.contains(&t.name));
    }
    let mut names: HashSet<String> = HashSet::new();
    for (i, tool) in custom.unwrap_or_default().into_iter().enumerate() {
        let at = |m: String| invalid(format!("custom_tools[{i}]: {m}"));
        check_name(&tool.name).map_err(at)?;
        if tool.name == ASK_USER || operator.handles(&tool.name) {
            return Err(at(format!(
                "{} is a built-in or operator tool; choose another name",
                tool.name
            )));
        }
        if !names.insert(tool.name.clone()) {
            return Err(at(format!("{} is declared twice", tool.name)));
        }
        if tool.description.trim().is_empty() {
            return Err(at("description must not be empty".into()));
        }
        let inputs = check_inputs(&Value::Object(tool.inputs)).map_err(at)?;
        tools.push(CustomTool {
            name: tool.name,
            description: tool.description,
            inputs: Value::Object(inputs),
            output: tool.output.unwrap_or_else(|| DEFAULT_OUTPUT.into()),
        });
    }
    if state.settings.ask_user {
        tools.push(ask_user_tool());
    }
    let agent_tools = AgentTools {
        declared: tools.iter().map(|t| t.name.clone()).collect(),
        auto: (!operator.is_empty()).then(|| operator.clone() as Arc<dyn AutoAnswer>),
    };
    Ok((tools, agent_tools))
}
