#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! What the model sees: the full `tools/list` of every toolset, snapshotted, so any change to
//! names, descriptions, schemas or annotations is deliberate. Also: the toolsets list exactly
//! their tools, and the list stays small.

mod support;

use serde_json::{Value, json};
use support::{Launch, spawn};

const CORE: [&str; 8] = [
    "answer_tool_call",
    "cancel_task",
    "get_task",
    "list_sessions",
    "open_session",
    "run_browser_task",
    "session_action",
    "usage",
];
const FILES: [&str; 3] = ["delete_file", "download_files", "upload_file"];
const PROFILES: [&str; 3] = ["create_profile", "delete_profile", "list_profiles"];
const EXTENSIONS: [&str; 3] = ["delete_extension", "list_extensions", "upload_extension"];

/// Byte budgets for `tools/list` (compact JSON): raise them only on purpose. Raised for
/// agent tools (answer_tool_call; custom_tools, tools, secrets; pending_tool_calls results),
/// then for files (download_files, whose output schema is a task result's; `files` results),
/// then for usage (spending and limits, in core).
const DEFAULT_BUDGET: usize = 28_000;
const ALL_BUDGET: usize = 30_000;
/// What the model reads of the default set on every turn (names, descriptions, input
/// schemas), and how many tools: the house budget.
const MODEL_READ_BUDGET: usize = 14 * 1024;
const MAX_DEFAULT_TOOLS: usize = 14;

async fn tools(toolsets: Option<&str>) -> Vec<Value> {
    let mut args = vec!["--mock"];
    if let Some(t) = toolsets {
        args.extend(["--toolsets", t]);
    }
    let server = spawn(Launch {
        args,
        ..Launch::default()
    })
    .await;
    let tools = server.client.list_all_tools().await.expect("tools/list");
    server.quit().await;
    tools
        .iter()
        .map(|t| serde_json::to_value(t).expect("a tool serializes"))
        .collect()
}

fn names(tools: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = tools
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    n.sort();
    n
}

fn sorted(groups: &[&[&str]]) -> Vec<String> {
    let mut n: Vec<String> = groups.concat().iter().map(|s| s.to_string()).collect();
    n.sort();
    n
}

/// The bytes of a tool list the model reads: each name, description and input schema.
fn model_read(tools: &[Value]) -> usize {
    tools
        .iter()
        .map(|t| {
            t["name"].as_str().unwrap_or_default().len()
                + t["description"].as_str().unwrap_or_default().len()
                + serde_json::to_vec(&t["inputSchema"])
                    .expect("serializes")
                    .len()
        })
        .sum()
}

fn size(tools: &[Value]) -> usize {
    serde_json::to_vec(&json!({ "tools": tools }))
        .expect("serializes")
        .len()
}

#[tokio::test]
async fn tools_list_of_all_toolsets() {
    let all = tools(Some("all")).await;
    assert_portable(&all);
    assert_eq!(
        names(&all),
        sorted(&[&CORE, &FILES, &PROFILES, &EXTENSIONS])
    );
    for t in &all {
        let name = &t["name"];
        assert!(t["title"].is_string(), "{name} has no title");
        let a = &t["annotations"];
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(a[hint].is_boolean(), "{name} lacks {hint}");
        }
        assert!(t["outputSchema"].is_object(), "{name} has no output schema");
        assert_eq!(t["inputSchema"]["type"], "object", "{name}");
    }
    let bytes = size(&all);
    eprintln!(
        "tools/list, --toolsets all: {} tools, {bytes} bytes; the model reads {}",
        all.len(),
        model_read(&all)
    );
    assert!(
        bytes <= ALL_BUDGET,
        "tools/list for all toolsets is {bytes} bytes"
    );
    insta::assert_json_snapshot!("tools_list_all", all);
}

#[tokio::test]
async fn default_toolsets_list_exactly_the_default_tools() {
    let default = tools(None).await;
    assert_portable(&default);
    assert_eq!(names(&default), sorted(&[&CORE, &FILES, &PROFILES]));
    let bytes = size(&default);
    let read = model_read(&default);
    eprintln!(
        "tools/list, default toolsets: {} tools, {bytes} bytes; the model reads {read}",
        default.len()
    );
    assert!(
        default.len() <= MAX_DEFAULT_TOOLS,
        "{} tools",
        default.len()
    );
    assert!(
        read <= MODEL_READ_BUDGET,
        "the model reads {read} bytes of the default tools (budget {MODEL_READ_BUDGET})"
    );
    assert!(
        bytes <= DEFAULT_BUDGET,
        "tools/list for the default toolsets is {bytes} bytes"
    );
}

#[tokio::test]
async fn core_is_always_on_and_toolsets_combine() {
    let t = tools(Some("extensions")).await;
    assert_eq!(names(&t), sorted(&[&CORE, &EXTENSIONS]));
    let t = tools(Some("core")).await;
    assert_eq!(names(&t), sorted(&[&CORE]));
}

/// Every schema in the form the strictest hosts accept (the TypeScript SDK rejects the whole
/// list over one boolean sub-schema; Gemini-style hosts reject `$ref`, `$defs`, `type` arrays).
fn assert_portable(tools: &[Value]) {
    for t in tools {
        for which in ["inputSchema", "outputSchema"] {
            let mut problems = Vec::new();
            walk(&t[which], which, &mut problems);
            assert!(problems.is_empty(), "{}: {problems:#?}", t["name"]);
        }
    }
}

/// Collects what is not portable in the schema `node` at `path`.
fn walk(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        problems.push(format!("{path}: a boolean or non-object schema ({node})"));
        return;
    };
    for key in ["$ref", "$defs", "definitions"] {
        if obj.contains_key(key) {
            problems.push(format!("{path}: has {key}"));
        }
    }
    if obj.get("type").is_some_and(Value::is_array) {
        problems.push(format!("{path}: `type` is an array"));
    }
    if !obj.keys().any(|k| {
        [
            "type",
            "enum",
            "const",
            "anyOf",
            "oneOf",
            "allOf",
            "not",
            "properties",
        ]
        .contains(&k.as_str())
    }) {
        problems.push(format!(
            "{path}: constrains nothing (spell \"any JSON\" as anyOf)"
        ));
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            walk(sub, &format!("{path}.properties.{name}"), problems);
        }
    }
    for key in ["items", "not"] {
        if let Some(sub) = obj.get(key) {
            walk(sub, &format!("{path}.{key}"), problems);
        }
    }
    // `additionalProperties: false` is allowed: that keyword is made for booleans.
    if let Some(sub) = obj.get("additionalProperties").filter(|v| !v.is_boolean()) {
        walk(sub, &format!("{path}.additionalProperties"), problems);
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        for (i, sub) in obj
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            walk(sub, &format!("{path}.{key}[{i}]"), problems);
        }
    }
}
