#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! What the model sees: the full `tools/list` of every toolset, snapshotted, so any change to
//! names, descriptions, schemas or annotations is deliberate. Also: the toolsets list exactly
//! their tools, and the list stays small.

mod support;

use serde_json::{Value, json};
use support::{Launch, spawn};

const CORE: [&str; 6] = [
    "cancel_task",
    "get_task",
    "list_sessions",
    "open_session",
    "run_browser_task",
    "session_action",
];
const FILES: [&str; 2] = ["delete_file", "upload_file"];
const PROFILES: [&str; 3] = ["create_profile", "delete_profile", "list_profiles"];
const EXTENSIONS: [&str; 3] = ["delete_extension", "list_extensions", "upload_extension"];

/// Byte budgets for `tools/list` (compact JSON): raise them only on purpose.
const DEFAULT_BUDGET: usize = 20_000;
const ALL_BUDGET: usize = 22_500;

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

fn size(tools: &[Value]) -> usize {
    serde_json::to_vec(&json!({ "tools": tools }))
        .expect("serializes")
        .len()
}

#[tokio::test]
async fn tools_list_of_all_toolsets() {
    let all = tools(Some("all")).await;
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
        "tools/list, --toolsets all: {} tools, {bytes} bytes",
        all.len()
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
    assert_eq!(names(&default), sorted(&[&CORE, &FILES, &PROFILES]));
    let bytes = size(&default);
    eprintln!(
        "tools/list, default toolsets: {} tools, {bytes} bytes",
        default.len()
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
