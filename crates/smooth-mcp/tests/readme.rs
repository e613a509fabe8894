#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! The README's tool, annotation and flag tables are generated from the code, so they cannot
//! drift: the tools from the real binary's `tools/list`, the flags from clap. Each table sits
//! between `<!-- generated:NAME -->` and `<!-- /generated -->` in README.md; this test
//! regenerates them and fails when the file differs. `UPDATE_README=1` rewrites them instead.
//! The prose around the tables is hand-written and left alone.

mod support;

use std::collections::BTreeMap;

use clap::{Arg, ArgAction, CommandFactory};
use serde_json::Value;
use smooth_mcp::config::Cli;
use support::{Launch, spawn};

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
const UPDATE: &str = "UPDATE_README=1 cargo test -p smooth-mcp --test readme";
const END: &str = "<!-- /generated -->";

#[tokio::test]
async fn readme_tables_match_the_code() {
    let tools = listed_tools().await;
    let blocks = [
        ("tools", tools_table(&tools)),
        ("annotations", annotations_table(&tools)),
        ("flags", flag_tables(&Cli::command())),
    ];
    let text = std::fs::read_to_string(README).expect("README.md is readable");
    let updated = fill(&text, &blocks).unwrap_or_else(|e| panic!("README.md: {e}"));
    if updated == text {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some_and(|v| v == "1") {
        std::fs::write(README, &updated).expect("README.md is writable");
        return;
    }
    let (line, old, new) = first_difference(&text, &updated);
    panic!(
        "README.md's generated tables differ from the code (line {line}):\n  README: {old}\n  code:   \
         {new}\nrun `{UPDATE}` to update them"
    );
}

#[test]
fn blocks_are_replaced_between_their_markers_only() {
    let text = "intro\n<!-- generated:a -->\n\nold\n\n<!-- /generated -->\nmiddle\n\
                <!-- generated:b -->\n<!-- /generated -->\nend\n";
    let filled = fill(text, &[("a", "A1\nA2".into()), ("b", "B".into())]).unwrap();
    assert_eq!(
        filled,
        "intro\n<!-- generated:a -->\n\nA1\nA2\n\n<!-- /generated -->\nmiddle\n\
         <!-- generated:b -->\n\nB\n\n<!-- /generated -->\nend\n"
    );
    assert_eq!(fill(&filled, &[("a", "A1\nA2".into())]).unwrap(), filled);
    let e = fill(text, &[("c", "C".into())]).unwrap_err();
    assert!(e.contains("<!-- generated:c -->"), "{e}");
    let e = fill("<!-- generated:a -->\nno end\n", &[("a", "A".into())]).unwrap_err();
    assert!(e.contains(END), "{e}");
    let e = fill(&format!("{text}{text}"), &[("a", "A".into())]).unwrap_err();
    assert!(e.contains("twice"), "{e}");
}

#[test]
fn cells_stay_in_their_column() {
    assert_eq!(cell("a | b\n  c"), "a \\| b c");
}

/// Replaces the body of each `<!-- generated:NAME -->` block (it must occur exactly once)
/// with the given text, set off by blank lines so Markdown ends the table before the marker.
fn fill(text: &str, blocks: &[(&str, String)]) -> Result<String, String> {
    let mut out = text.to_owned();
    for (name, body) in blocks {
        let start = format!("<!-- generated:{name} -->");
        let Some(at) = out.find(&start) else {
            return Err(format!("no `{start}` marker"));
        };
        let open = at + start.len();
        if out[open..].contains(&start) {
            return Err(format!("`{start}` appears twice"));
        }
        let Some(len) = out[open..].find(END) else {
            return Err(format!("`{start}` has no `{END}` after it"));
        };
        out.replace_range(open..open + len, &format!("\n\n{body}\n\n"));
    }
    Ok(out)
}

fn first_difference<'a>(old: &'a str, new: &'a str) -> (usize, &'a str, &'a str) {
    let mut old_lines = old.lines();
    let mut new_lines = new.lines();
    for n in 1.. {
        let (o, w) = (old_lines.next(), new_lines.next());
        if o != w {
            return (n, o.unwrap_or("(end)"), w.unwrap_or("(end)"));
        }
    }
    unreachable!("the texts differ")
}

/// Text for one Markdown table cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn code_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let items: Vec<String> = items
        .into_iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect();
    if items.is_empty() {
        "—".into()
    } else {
        items.join(", ")
    }
}

// ---- tools --------------------------------------------------------------------------------

/// A tool as listed, with where it is listed.
struct Listed {
    tool: Value,
    listed: &'static str,
}

/// The launches whose `tools/list` together show every tool, each with what it adds to
/// core: a toolset, or a tool listed only when there is something for it to list.
const SCENARIOS: [(&str, &str); 6] = [
    ("core", "core"),
    ("files", "files"),
    ("profiles", "profiles"),
    ("extensions", "extensions"),
    (
        "operator tools",
        "core, listed only with operator tools (`[tools.*]` in `--config`)",
    ),
    (
        "secrets",
        "core, listed only with secrets (`--secret`, `[secrets.*]` in `--config`)",
    ),
];

const OPERATOR_TOOL: &str = "[tools.lookup]\ndescription = \"d\"\ninputs = { type = \"object\" }\n\
                             command = [\"true\"]\n";

/// Every tool the server can list, in the order core, files, profiles, extensions, the
/// conditional ones; by name within each (as `tools/list` sorts them).
async fn listed_tools() -> Vec<Listed> {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), OPERATOR_TOOL).unwrap();
    let config = config.path().to_str().unwrap();
    let secret = "readme=env:README_SECRET@https://example.com/*";
    let launch = |args: Vec<&'static str>| Launch::with_args([vec!["--mock"], args].concat());
    let with_config = Launch::with_args(vec!["--mock", "--toolsets", "core", "--config", config]);
    let with_secret = Launch {
        args: vec!["--mock", "--toolsets", "core", "--secret", secret],
        env: vec![("README_SECRET", "not-a-real-secret")],
        ..Launch::default()
    };
    let lists = tokio::join!(
        tools(launch(vec!["--toolsets", "core"])),
        tools(launch(vec!["--toolsets", "files"])),
        tools(launch(vec!["--toolsets", "profiles"])),
        tools(launch(vec!["--toolsets", "extensions"])),
        tools(with_config),
        tools(with_secret),
    );
    let lists = [lists.0, lists.1, lists.2, lists.3, lists.4, lists.5];
    let mut out: Vec<Listed> = Vec::new();
    for ((_, listed), list) in SCENARIOS.iter().zip(lists) {
        for tool in list {
            if !out.iter().any(|l| l.tool["name"] == tool["name"]) {
                out.push(Listed { tool, listed });
            }
        }
    }
    out
}

async fn tools(launch: Launch<'_>) -> Vec<Value> {
    let server = spawn(launch).await;
    let tools = server.client.list_all_tools().await.expect("tools/list");
    server.quit().await;
    tools
        .iter()
        .map(|t| serde_json::to_value(t).expect("a tool serializes"))
        .collect()
}

fn tools_table(tools: &[Listed]) -> String {
    let mut rows = vec![
        "| Tool | Listed | What it is for | Arguments (**required**) | Returns (structured) |"
            .to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];
    for Listed { tool, listed } in tools {
        let title = tool["title"].as_str().unwrap_or_default();
        let description = tool["description"].as_str().unwrap_or_default();
        rows.push(format!(
            "| `{}` | {listed} | {} | {} | {} |",
            tool["name"].as_str().unwrap_or_default(),
            cell(&format!("**{title}.** {description}")),
            arguments(&tool["inputSchema"]),
            returns(&tool["outputSchema"]),
        ));
    }
    rows.join("\n")
}

/// The input schema's properties: the required ones first, in bold.
fn arguments(schema: &Value) -> String {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let names = property_names(schema);
    let (mut firsts, rest): (Vec<&str>, Vec<&str>) = names
        .iter()
        .map(String::as_str)
        .partition(|n| required.contains(n));
    firsts.sort_by_key(|n| required.iter().position(|r| r == n));
    let mut cells: Vec<String> = firsts.iter().map(|n| format!("**`{n}`**")).collect();
    cells.extend(rest.iter().map(|n| format!("`{n}`")));
    if cells.is_empty() {
        "—".into()
    } else {
        cells.join(", ")
    }
}

/// The output schema's properties; a list is `name[]`, or `name[{field, …}]` when its items
/// are objects with known fields.
fn returns(schema: &Value) -> String {
    code_list(property_names(schema).into_iter().map(|n| {
        let property = &schema["properties"][&n];
        if property["type"] != "array" {
            return n;
        }
        match property_names(&property["items"]).join(", ") {
            fields if fields.is_empty() => format!("{n}[]"),
            fields => format!("{n}[{{{fields}}}]"),
        }
    }))
}

fn property_names(schema: &Value) -> Vec<String> {
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

const HINTS: [(&str, &str); 4] = [
    ("readOnlyHint", "read-only"),
    ("destructiveHint", "destructive"),
    ("idempotentHint", "idempotent"),
    ("openWorldHint", "open world"),
];

/// One row per combination of hints, naming every tool that has it.
fn annotations_table(tools: &[Listed]) -> String {
    let mut groups: Vec<(Vec<bool>, Vec<&str>)> = Vec::new();
    for Listed { tool, .. } in tools {
        let hints: Vec<bool> = HINTS
            .iter()
            .map(|(key, _)| {
                tool["annotations"][key]
                    .as_bool()
                    .expect("every hint is set")
            })
            .collect();
        let name = tool["name"].as_str().unwrap_or_default();
        match groups.iter_mut().find(|(h, _)| *h == hints) {
            Some((_, names)) => names.push(name),
            None => groups.push((hints, vec![name])),
        }
    }
    let header: Vec<&str> = HINTS.iter().map(|(_, label)| *label).collect();
    let mut rows = vec![
        format!("| Tools | {} |", header.join(" | ")),
        format!("|---|{}", "---|".repeat(HINTS.len())),
    ];
    for (hints, names) in groups {
        let marks: Vec<&str> = hints
            .iter()
            .map(|&h| if h { "yes" } else { "no" })
            .collect();
        rows.push(format!("| {} | {} |", code_list(names), marks.join(" | ")));
    }
    rows.join("\n")
}

// ---- flags --------------------------------------------------------------------------------

/// The server's flags, one table per `--help` heading, in `--help`'s order.
fn flag_tables(cmd: &clap::Command) -> String {
    let mut headings: Vec<&str> = Vec::new();
    let mut by_heading: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for arg in cmd.get_arguments() {
        if arg.is_hide_set() || ["help", "version"].contains(&arg.get_id().as_str()) {
            continue;
        }
        let heading = arg.get_help_heading().unwrap_or("Options");
        if !headings.contains(&heading) {
            headings.push(heading);
        }
        by_heading.entry(heading).or_default().push(flag_row(arg));
    }
    let tables: Vec<String> = headings
        .iter()
        .map(|h| {
            format!(
                "**{h}**\n\n| Flag | Environment | Default | Meaning |\n|---|---|---|---|\n{}",
                by_heading[h].join("\n")
            )
        })
        .collect();
    tables.join("\n\n")
}

fn flag_row(arg: &Arg) -> String {
    let flag = arg
        .get_long()
        .map(|l| format!("`--{l}`"))
        .unwrap_or_else(|| format!("`{}`", arg.get_id()));
    let env = arg
        .get_env()
        .map(|e| format!("`{}`", e.to_string_lossy()))
        .unwrap_or_else(|| "—".into());
    let switch = matches!(arg.get_action(), ArgAction::SetTrue);
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let default = if switch {
        "off".to_owned()
    } else if defaults.is_empty() {
        "—".to_owned()
    } else {
        format!("`{}`", defaults.join(","))
    };
    // clap drops the full stop of a one-sentence help; a table cell of sentences wants it.
    let mut help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string().trim_end().to_owned())
        .unwrap_or_default();
    if !help.is_empty() && !help.ends_with(['.', '!', '?']) {
        help.push('.');
    }
    let values: Vec<String> = if switch {
        Vec::new()
    } else {
        arg.get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_owned())
            .collect()
    };
    let meaning = if values.is_empty() {
        help
    } else {
        format!("{help} One of {}.", code_list(&values))
    };
    format!("| {flag} | {env} | {default} | {} |", cell(&meaning))
}
