//! Merging the entry into a JSON client config. Every other key and server is kept as a
//! value; serde_json (without `preserve_order`, which this workspace does not enable) writes
//! object keys in sorted order, so a rewritten file may list them in another order.

use serde_json::{Map, Value, json};

use super::entry::SERVER_NAME;
use super::key::VSCODE_INPUT_ID;
use super::{Change, Merged, Refusal};

/// `entry` goes to `servers_key.smooth`; `input` (VS Code's key prompt) into `inputs`.
pub fn merge(
    existing: Option<&str>,
    servers_key: &str,
    entry: Value,
    input: Option<Value>,
    force: bool,
) -> Result<Merged, Refusal> {
    let mut root = parse(existing)?;
    let mut changes = Vec::new();
    let servers = root
        .entry(servers_key)
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(servers) = servers else {
        return Err(Refusal::Malformed(format!(
            "\"{servers_key}\" is not a JSON object"
        )));
    };
    match servers.get(SERVER_NAME) {
        Some(old) if *old == entry => {}
        Some(_) if !force => {
            return Err(Refusal::Differs(format!("server \"{SERVER_NAME}\"")));
        }
        old => {
            let what = format!("server \"{SERVER_NAME}\"");
            changes.push(if old.is_some() {
                Change::Replaced(what)
            } else {
                Change::Added(what)
            });
            servers.insert(SERVER_NAME.into(), entry);
        }
    }
    if let Some(input) = input {
        let inputs = root
            .entry("inputs")
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(inputs) = inputs else {
            return Err(Refusal::Malformed("\"inputs\" is not a JSON array".into()));
        };
        let id = json!(VSCODE_INPUT_ID);
        match inputs.iter().position(|i| i.get("id") == Some(&id)) {
            Some(i) if inputs[i] == input => {}
            Some(_) if !force => {
                return Err(Refusal::Differs(format!("input \"{VSCODE_INPUT_ID}\"")));
            }
            Some(i) => {
                inputs[i] = input;
                changes.push(Change::Replaced(format!("input \"{VSCODE_INPUT_ID}\"")));
            }
            None => {
                inputs.push(input);
                changes.push(Change::Added(format!(
                    "input \"{VSCODE_INPUT_ID}\" (the key prompt)"
                )));
            }
        }
    }
    if changes.is_empty() {
        return Ok(Merged {
            text: None,
            changes,
        });
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(root))
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    text.push('\n');
    Ok(Merged {
        text: Some(text),
        changes,
    })
}

/// The `smooth` entry of a config file's text, if it has one.
pub fn existing_entry(text: &str, servers_key: &str) -> Result<Option<Value>, Refusal> {
    let root = parse(Some(text))?;
    match root.get(servers_key) {
        None => Ok(None),
        Some(Value::Object(servers)) => Ok(servers.get(SERVER_NAME).cloned()),
        Some(_) => Err(Refusal::Malformed(format!(
            "\"{servers_key}\" is not a JSON object"
        ))),
    }
}

/// A missing or blank file is an empty object; anything but an object is refused.
fn parse(text: Option<&str>) -> Result<Map<String, Value>, Refusal> {
    let text = text.unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(root)) => Ok(root),
        Ok(_) => Err(Refusal::Malformed("the file is not a JSON object".into())),
        // Comments and trailing commas (JSONC, which VS Code accepts) land here too.
        Err(e) => Err(Refusal::Malformed(format!(
            "not valid JSON ({e}); comments and trailing commas are not supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_servers_and_keys_are_kept() {
        let existing =
            r#"{"theme": "dark", "mcpServers": {"other": {"command": "x", "args": [1.5]}}}"#;
        let merged = merge(
            Some(existing),
            "mcpServers",
            json!({"command": "/s"}),
            None,
            false,
        )
        .unwrap();
        let after: Value = serde_json::from_str(merged.text.as_deref().unwrap()).unwrap();
        assert_eq!(after["theme"], "dark");
        assert_eq!(
            after["mcpServers"]["other"],
            json!({"command": "x", "args": [1.5]})
        );
        assert_eq!(after["mcpServers"]["smooth"], json!({"command": "/s"}));
        assert_eq!(merged.changes, [Change::Added("server \"smooth\"".into())]);
    }

    #[test]
    fn the_same_entry_changes_nothing_and_a_different_one_needs_force() {
        let existing = r#"{"mcpServers": {"smooth": {"command": "/s"}}}"#;
        let same = merge(
            Some(existing),
            "mcpServers",
            json!({"command": "/s"}),
            None,
            false,
        );
        assert!(same.unwrap().text.is_none());
        let other = json!({"command": "/t"});
        assert!(matches!(
            merge(Some(existing), "mcpServers", other.clone(), None, false),
            Err(Refusal::Differs(_))
        ));
        let forced = merge(Some(existing), "mcpServers", other, None, true).unwrap();
        assert_eq!(
            forced.changes,
            [Change::Replaced("server \"smooth\"".into())]
        );
    }

    #[test]
    fn malformed_files_are_refused() {
        for bad in ["{", "[]", r#"{"mcpServers": []}"#, "{// c\n}"] {
            assert!(
                matches!(
                    merge(Some(bad), "mcpServers", json!({}), None, true),
                    Err(Refusal::Malformed(_))
                ),
                "{bad}"
            );
        }
        let bad_inputs = r#"{"inputs": {}}"#;
        assert!(
            merge(
                Some(bad_inputs),
                "servers",
                json!({}),
                Some(json!({})),
                true
            )
            .is_err()
        );
    }
}
