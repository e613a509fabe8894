//! The checks every agent tool and secret name and every tool's `inputs` schema pass before
//! anything reaches Smooth: shared by the `--config` file and the tools a call declares.

use serde_json::{Map, Value};

/// The longest name Smooth accepts for a tool (and the rule this server also uses for secrets).
const MAX_NAME: usize = 64;

/// `^[A-Za-z_][A-Za-z0-9_]{0,63}$`: what Smooth accepts as a tool name; secrets use the same
/// rule so a name is safe in a log line, a TOML key and a `[secret:NAME]` marker.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && name.len() <= MAX_NAME && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!(
            "name {name:?} must be 1-{MAX_NAME} letters, digits or _, not starting with a digit"
        ))
    }
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`. Checked wherever the operator names a variable, so that a value
/// typed where a name belongs (`value_env = "hunter2!"`) stops the start without being
/// echoed in "variable … is not set".
pub fn check_env_name(var: &str) -> Result<(), String> {
    let mut chars = var.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err("an environment variable name (letters, digits and _) is expected there".into())
    }
}

/// A structural check of a tool's `inputs` JSON Schema (no schema engine in the server):
/// an object with `"type": "object"`, `properties` (if any) an object of objects, `required`
/// (if any) a list of property names. `$schema` is dropped: Smooth does not want it.
pub fn check_inputs(inputs: &Value) -> Result<Map<String, Value>, String> {
    let Value::Object(schema) = inputs else {
        return Err("inputs must be a JSON Schema object".into());
    };
    let mut schema = schema.clone();
    schema.remove("$schema");
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(r#"inputs must have "type": "object""#.into());
    }
    let properties = match schema.get("properties") {
        None => None,
        Some(Value::Object(props)) => {
            if let Some((name, _)) = props.iter().find(|(_, p)| !p.is_object()) {
                return Err(format!("inputs.properties.{name} must be a schema object"));
            }
            Some(props)
        }
        Some(_) => return Err("inputs.properties must be an object".into()),
    };
    match schema.get("required") {
        None => {}
        Some(Value::Array(required)) => {
            for item in required {
                let Some(name) = item.as_str() else {
                    return Err("inputs.required must list property names".into());
                };
                if !properties.is_some_and(|p| p.contains_key(name)) {
                    return Err(format!(
                        "inputs.required names {name:?}, which is not in inputs.properties"
                    ));
                }
            }
        }
        Some(_) => return Err("inputs.required must be a list".into()),
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_smooths_rule() {
        for ok in ["a", "_x", "lookup_order", "A9", &"x".repeat(64)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a b", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_names_are_checked_without_echo() {
        assert!(check_env_name("BANK_PASSWORD").is_ok());
        for bad in ["", "1A", "pass word", "hunter2!", "A=B"] {
            let err = check_env_name(bad).unwrap_err();
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }

    #[test]
    fn inputs_are_checked_structurally() {
        let ok = json!({"$schema": "x", "type": "object",
            "properties": {"order": {"type": "string"}}, "required": ["order"]});
        let cleaned = check_inputs(&ok).unwrap();
        assert!(!cleaned.contains_key("$schema"));
        assert!(check_inputs(&json!({"type": "object"})).is_ok());
        for bad in [
            json!("x"),
            json!({}),
            json!({"type": "string"}),
            json!({"type": "object", "properties": []}),
            json!({"type": "object", "properties": {"a": 1}}),
            json!({"type": "object", "required": "a"}),
            json!({"type": "object", "properties": {"a": {}}, "required": ["b"]}),
            json!({"type": "object", "required": [1]}),
        ] {
            assert!(check_inputs(&bad).is_err(), "{bad}");
        }
    }
}
