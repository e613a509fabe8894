//! Property tests of what a client controls: every tool's arguments, output capping, and
//! upload paths. Case counts stay small: the whole module runs in seconds in CI.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::answers::AnswerArgs;
use super::extensions::{DeleteExtensionArgs, ListExtensionsArgs, UploadExtensionArgs};
use super::files::{DeleteFileArgs, UploadFileArgs, check_upload_path};
use super::listing::NoArgs;
use super::output::cap_output;
use super::profiles::{CreateProfileArgs, DeleteProfileArgs, ListProfilesArgs};
use super::results::{SessionActionResult, structured};
use super::sessions::{ActionKind, ListSessionsArgs, OpenSessionArgs, SessionActionArgs};
use super::task_files::DownloadFilesArgs;
use super::tasks::{CancelTaskArgs, GetTaskArgs, RunTaskArgs};
use super::usage::UsageArgs;
use super::{SmoothServer, Toolset, schema};

/// Deserializes `args` the way [`super::args::Parameters`] does, into the tool's own type;
/// `None` for a tool this table does not know.
fn parse(tool: &str, args: Value) -> Option<Result<(), String>> {
    fn de<T: DeserializeOwned>(args: Value) -> Result<(), String> {
        serde_path_to_error::deserialize::<_, T>(args)
            .map(drop)
            .map_err(|e| e.to_string())
    }
    Some(match tool {
        "run_browser_task" => de::<RunTaskArgs>(args),
        "get_task" => de::<GetTaskArgs>(args),
        "cancel_task" => de::<CancelTaskArgs>(args),
        "open_session" => de::<OpenSessionArgs>(args),
        "session_action" => de::<SessionActionArgs>(args),
        "list_sessions" => de::<ListSessionsArgs>(args),
        "answer_tool_call" => de::<AnswerArgs>(args),
        "upload_file" => de::<UploadFileArgs>(args),
        "delete_file" => de::<DeleteFileArgs>(args),
        "create_profile" => de::<CreateProfileArgs>(args),
        "list_profiles" => de::<ListProfilesArgs>(args),
        "delete_profile" => de::<DeleteProfileArgs>(args),
        "upload_extension" => de::<UploadExtensionArgs>(args),
        "list_extensions" => de::<ListExtensionsArgs>(args),
        "delete_extension" => de::<DeleteExtensionArgs>(args),
        "download_files" => de::<DownloadFilesArgs>(args),
        "usage" => de::<UsageArgs>(args),
        "list_agent_tools" | "list_secrets" => de::<NoArgs>(args),
        _ => return None,
    })
}

/// Every tool any configuration can list, with the input schema clients see.
fn all_tools() -> Vec<(String, Value)> {
    let mut router = SmoothServer::listing_router();
    for set in Toolset::ALL {
        router += set.router();
    }
    router
        .list_all()
        .into_iter()
        .map(|tool| {
            let mut input = Arc::unwrap_or_clone(tool.input_schema);
            schema::make_portable(&mut input);
            (tool.name.into_owned(), Value::Object(input))
        })
        .collect()
}

/// Any JSON: strings from all of Unicode (control characters and multi-byte ones included).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with some of the tool's own field names (so the deserializer gets past "unknown
/// field") and sometimes a stray one, every value arbitrary.
fn hostile_args(schema: &Value) -> impl Strategy<Value = Value> + use<> {
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    names.push("not_a_field".into());
    prop::collection::vec((prop::sample::select(names), any_json()), 0..6)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
}

/// A value valid against `schema`, for the keywords the tool schemas use (`type`, `enum`,
/// `anyOf`, `properties`/`required`, `additionalProperties`, `items`, `minimum`).
fn valid(schema: &Value, depth: u32) -> BoxedStrategy<Value> {
    if let Some(choices) = schema["enum"].as_array() {
        return prop::sample::select(choices.clone()).boxed();
    }
    if let Some(any_of) = schema["anyOf"].as_array() {
        let options: Vec<BoxedStrategy<Value>> = any_of.iter().map(|s| valid(s, depth)).collect();
        return prop::strategy::Union::new(options).boxed();
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        // No type: anything goes (a JSON Schema or settings object the tool passes on).
        _ => return any_json().boxed(),
    };
    let options: Vec<BoxedStrategy<Value>> = types
        .into_iter()
        .map(|t| match t {
            "null" => Just(Value::Null).boxed(),
            "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
            "integer" => {
                let min = schema["minimum"].as_i64().unwrap_or(-1_000);
                (min..min + 1_000).prop_map(Value::from).boxed()
            }
            "number" => (-1e6..1e6f64).prop_map(Value::from).boxed(),
            "string" => any::<String>().prop_map(Value::String).boxed(),
            "array" => {
                let items = if depth == 0 {
                    Just(Value::Null).boxed()
                } else {
                    valid(&schema["items"], depth - 1)
                };
                let len = if depth == 0 { 0..1 } else { 0..4 };
                prop::collection::vec(items, len)
                    .prop_map(Value::Array)
                    .boxed()
            }
            "object" => valid_object(schema, depth),
            other => panic!("a tool schema uses type {other:?}: teach this generator"),
        })
        .collect();
    prop::strategy::Union::new(options).boxed()
}

fn valid_object(schema: &Value, depth: u32) -> BoxedStrategy<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
    if let Some(props) = schema["properties"].as_object() {
        for (name, sub) in props {
            let name = name.clone();
            let value = valid(sub, depth.saturating_sub(1));
            fields.push(if required.contains(&name.as_str()) {
                value.prop_map(move |v| Some((name.clone(), v))).boxed()
            } else {
                prop::option::of(value.prop_map(move |v| (name.clone(), v))).boxed()
            });
        }
    }
    let extra = match &schema["additionalProperties"] {
        Value::Bool(false) => None,
        // Only objects the schema leaves open, e.g. metadata or settings maps.
        Value::Object(sub) if depth > 0 => Some(valid(&Value::Object(sub.clone()), depth - 1)),
        _ if depth > 0 && schema.get("properties").is_none() => Some(any_json().boxed()),
        _ => None,
    };
    let extra = match extra {
        Some(v) => prop::collection::btree_map("[a-z_]{1,8}", v, 0..3).boxed(),
        None => Just(Default::default()).boxed(),
    };
    (fields, extra)
        .prop_map(|(fields, extra)| {
            let mut obj: Map<String, Value> = extra.into_iter().collect();
            obj.extend(fields.into_iter().flatten());
            Value::Object(obj)
        })
        .boxed()
}

#[test]
fn every_listed_tool_is_in_the_table() {
    for (name, _) in all_tools() {
        assert!(
            parse(&name, json!({})).is_some(),
            "tool {name} has no entry in `parse`: add its argument type"
        );
    }
}

#[test]
fn tool_arguments_never_panic_and_valid_ones_are_accepted() {
    let mut runner = proptest::test_runner::TestRunner::new(Config::with_cases(48));
    for (name, input) in all_tools() {
        let validator = jsonschema::validator_for(&input).expect("a tool schema compiles");
        runner
            .run(&hostile_args(&input), |args| {
                // Anything at all: an answer (accepted or a named error), never a panic.
                let _ = parse(&name, args);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        runner
            .run(&valid(&input, 3), |args| {
                prop_assert!(validator.is_valid(&args), "generator made {args}");
                let parsed = parse(&name, args.clone()).expect("in the table");
                prop_assert!(parsed.is_ok(), "{args} fits the schema but: {parsed:?}");
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn capping_cuts_on_characters_and_keeps_the_ids(output in any_json(), cap in 0usize..64) {
        let text = match &output {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let (capped, cut) = cap_output(output.clone(), cap);
        if cut {
            let Value::String(s) = &capped else {
                return Err(TestCaseError::fail("a cut output is not a string"));
            };
            // Whole characters only, exactly `cap` of them, from the start of the text.
            prop_assert_eq!(s.chars().count(), cap);
            prop_assert!(text.starts_with(s.as_str()));
            prop_assert!(text.is_char_boundary(s.len()));
        } else {
            prop_assert_eq!(&capped, &output);
            prop_assert!(text.chars().count() <= cap);
        }
        // The capped value sits beside the ids in the result, never in their place.
        let result = SessionActionResult {
            output: Some(capped),
            output_truncated: cut,
            ..SessionActionResult::new("sess-1", ActionKind::Extract, super::results::ActionStatus::Done, None)
        };
        let sent = structured(&result, vec![]).structured_content.unwrap_or_default();
        prop_assert_eq!(&sent["session_id"], &json!("sess-1"));
        prop_assert_eq!(&sent["output_truncated"].as_bool().unwrap_or(false), &cut);
    }
}

/// Two directories side by side: the allowed root (with a file, a subdirectory and links
/// out) and a sibling outside it (with a secret).
struct Tree {
    _base: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn tree() -> Tree {
    let base = tempfile::tempdir().expect("tempdir");
    let root = base.path().join("root");
    let outside = base.path().join("outside");
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(root.join("ok.txt"), b"ok").expect("write");
    std::fs::write(root.join("sub").join("deep.txt"), b"deep").expect("write");
    std::fs::write(outside.join("secret.txt"), b"secret").expect("write");
    let link = |target: &Path, at: &str| {
        std::os::unix::fs::symlink(target, root.join(at)).expect("symlink");
    };
    link(&outside.join("secret.txt"), "to_secret");
    link(&outside, "to_outside");
    link(Path::new("/etc"), "to_etc");
    link(Path::new("../outside/secret.txt"), "relative_out");
    link(Path::new("ok.txt"), "to_ok");
    Tree {
        root,
        outside,
        _base: base,
    }
}

/// Path pieces an attacker would try: `..`, links out, absolute system paths, NUL, odd
/// separators, names of real files inside and outside.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "..",
            ".",
            "",
            "ok.txt",
            "sub",
            "deep.txt",
            "secret.txt",
            "outside",
            "root",
            "to_secret",
            "to_outside",
            "to_etc",
            "relative_out",
            "to_ok",
            "etc",
            "passwd",
            "proc",
            "self",
            "root\0",
            "ok.txt\0.png",
            "%2e%2e",
            "~",
        ])
        .prop_map(str::to_owned),
        "[a-z.\\x00]{0,4}",
    ]
}

fn upload_path(tree: &Tree) -> impl Strategy<Value = String> + use<> {
    let starts = vec![
        tree.root.display().to_string(),
        tree.outside.display().to_string(),
        "/".to_owned(),
        String::new(),
    ];
    (
        prop::sample::select(starts),
        prop::collection::vec(piece(), 0..6),
        prop::sample::select(vec!["/", "//", "/./"]),
    )
        .prop_map(|(start, pieces, sep)| {
            let mut path = start;
            for p in pieces {
                path.push_str(sep);
                path.push_str(&p);
            }
            path
        })
}

#[test]
fn no_upload_path_escapes_the_allowed_directories() {
    let tree = tree();
    let roots = vec![tree.root.clone()];
    let real_root = std::fs::canonicalize(&tree.root).expect("root");
    let real_outside = std::fs::canonicalize(&tree.outside).expect("outside");
    let mut runner = proptest::test_runner::TestRunner::new(Config::with_cases(512));
    runner
        .run(&upload_path(&tree), |raw| {
            if let Ok(file) = check_upload_path(&raw, &roots, 1 << 20) {
                prop_assert!(
                    file.path.starts_with(&real_root),
                    "{raw:?} → {:?}",
                    file.path
                );
                prop_assert!(!file.path.starts_with(&real_outside));
                prop_assert!(file.path.is_file());
                let bytes = std::fs::read(&file.path).expect("read");
                prop_assert!(bytes == b"ok" || bytes == b"deep", "{raw:?} read {bytes:?}");
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // The generator does reach the files inside (so the property is not vacuous).
    for raw in [
        format!("{}/sub/../ok.txt", tree.root.display()),
        format!("{}/to_ok", tree.root.display()),
    ] {
        assert!(check_upload_path(&raw, &roots, 1 << 20).is_ok(), "{raw}");
    }
}
