//! Tool schemas every MCP host accepts. schemars writes valid JSON Schema 2020-12, but hosts
//! read less: the TypeScript SDK rejects the whole tool list over one boolean sub-schema,
//! Gemini-style hosts choke on `$ref`/`$defs` and `type` arrays. So each input and output
//! schema is rewritten once, when the router is built, into the plain form:
//! - `$ref`s inlined, `$defs` gone;
//! - one `type` per schema: `null` is dropped (an optional input is simply not `required`,
//!   and results leave unset fields out rather than write `null`), other unions become `anyOf`;
//! - no boolean sub-schemas, and no schema that constrains nothing: "any JSON value" is
//!   spelled as the `anyOf` of every JSON type;
//! - no `additionalProperties: true` (the default), no `$schema` (2020-12 is the MCP default,
//!   and some older clients choke on it), no schemars numeric `format`s (`uint64`, `double`:
//!   the type and bounds remain).

use serde_json::{Map, Value, json};

/// Keywords whose value is one schema.
const SCHEMA_KEYWORDS: [&str; 3] = ["items", "additionalProperties", "not"];
/// Keywords whose value is a list of schemas.
const SCHEMA_LIST_KEYWORDS: [&str; 4] = ["anyOf", "oneOf", "allOf", "prefixItems"];
/// Keywords that make a schema accept less than every value.
const CONSTRAINING: [&str; 20] = [
    "type",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "properties",
    "items",
    "prefixItems",
    "additionalProperties",
    "required",
    "minimum",
    "maximum",
    "pattern",
    "format",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
];
const NUMERIC_FORMATS: [&str; 12] = [
    "int8", "int16", "int32", "int64", "int", "uint8", "uint16", "uint32", "uint64", "uint",
    "float", "double",
];

/// Rewrites a tool's input or output schema into the portable form (see the module docs).
pub fn make_portable(schema: &mut Map<String, Value>) {
    schema.remove("$schema");
    let defs = schema
        .remove("$defs")
        .and_then(into_object)
        .unwrap_or_default();
    portable_node(schema, &defs, &mut Vec::new());
}

fn into_object(v: Value) -> Option<Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// `stack` holds the definitions being inlined, so a recursive type cannot loop forever.
fn portable_node(
    node: &mut Map<String, Value>,
    defs: &Map<String, Value>,
    stack: &mut Vec<String>,
) {
    drop_null_branches(node);
    inline_ref(node, defs, stack);
    split_type_union(node);
    if node
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| NUMERIC_FORMATS.contains(&f))
    {
        node.remove("format");
    }
    if node.get("additionalProperties") == Some(&Value::Bool(true)) {
        node.remove("additionalProperties");
    }
    if let Some(Value::Object(props)) = node.get_mut("properties") {
        for sub in props.values_mut() {
            portable_value(sub, defs, stack);
        }
    }
    for key in SCHEMA_KEYWORDS {
        // `additionalProperties: false` is a real constraint, and a keyword made for booleans.
        if key == "additionalProperties" && node.get(key).is_some_and(Value::is_boolean) {
            continue;
        }
        if let Some(sub) = node.get_mut(key) {
            portable_value(sub, defs, stack);
        }
    }
    for key in SCHEMA_LIST_KEYWORDS {
        if let Some(Value::Array(subs)) = node.get_mut(key) {
            for sub in subs {
                portable_value(sub, defs, stack);
            }
        }
    }
    if !CONSTRAINING.iter().any(|k| node.contains_key(*k)) {
        node.insert("anyOf".into(), any_json());
    }
}

/// A sub-schema in any spelling: `true`/`false` become objects first.
fn portable_value(value: &mut Value, defs: &Map<String, Value>, stack: &mut Vec<String>) {
    match value {
        Value::Bool(true) => *value = json!({}),
        Value::Bool(false) => *value = json!({"not": {}}),
        _ => {}
    }
    if let Value::Object(node) = value {
        portable_node(node, defs, stack);
    }
}

/// Every JSON type, one branch each: "any value" that strict hosts and linters accept.
fn any_json() -> Value {
    json!(["object", "array", "string", "number", "boolean", "null"].map(|t| json!({ "type": t })))
}

/// Replaces `$ref: "#/$defs/Name"` by the definition; the node's own keywords (a field's
/// description) win over the definition's.
fn inline_ref(node: &mut Map<String, Value>, defs: &Map<String, Value>, stack: &mut Vec<String>) {
    let Some(Value::String(reference)) = node.remove("$ref") else {
        return;
    };
    let name = reference.trim_start_matches("#/$defs/").to_owned();
    let Some(Value::Object(def)) = defs.get(&name) else {
        return;
    };
    if stack.contains(&name) {
        // A recursive type: below this depth, any object.
        node.entry("type").or_insert_with(|| json!("object"));
        return;
    }
    stack.push(name);
    let mut def = def.clone();
    portable_node(&mut def, defs, stack);
    stack.pop();
    merge_under(node, def);
}

/// Adds `from`'s keywords that `node` does not have.
fn merge_under(node: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        node.entry(k).or_insert(v);
    }
}

/// `anyOf: [X, {"type": "null"}]` (schemars' `Option<X>`) becomes X.
fn drop_null_branches(node: &mut Map<String, Value>) {
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = node.get_mut(key) else {
            continue;
        };
        branches.retain(|b| b != &json!({"type": "null"}));
        if branches.len() == 1
            && let Some(Value::Object(only)) = branches.pop()
        {
            node.remove(key);
            merge_under(node, only);
        }
    }
}

/// `type: ["string", "null"]` becomes `type: "string"`; a union of several types, `anyOf`.
fn split_type_union(node: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = node.get_mut("type") else {
        return;
    };
    types.retain(|t| t != "null");
    match types.len() {
        1 => {
            let only = types.remove(0);
            node.insert("type".into(), only);
        }
        _ => {
            let branches: Vec<Value> = types.iter().map(|t| json!({ "type": t })).collect();
            node.remove("type");
            node.insert("anyOf".into(), Value::Array(branches));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portable(mut schema: Value) -> Value {
        make_portable(schema.as_object_mut().unwrap());
        schema
    }

    #[test]
    fn inlines_definitions_and_keeps_the_fields_description() {
        let schema = portable(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": {
                "Device": {"type": "string", "enum": ["desktop", "mobile"]},
                "Opts": {"description": "Options.", "type": "object",
                         "properties": {"d": {"$ref": "#/$defs/Device"}}}
            },
            "type": "object",
            "properties": {
                "device": {"anyOf": [{"$ref": "#/$defs/Device"}, {"type": "null"}],
                           "description": "Which device."},
                "opts": {"anyOf": [{"$ref": "#/$defs/Opts"}, {"type": "null"}]}
            }
        }));
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "device": {"type": "string", "enum": ["desktop", "mobile"],
                               "description": "Which device."},
                    "opts": {"description": "Options.", "type": "object",
                             "properties": {"d": {"type": "string", "enum": ["desktop", "mobile"]}}}
                }
            })
        );
    }

    #[test]
    fn one_type_per_schema_and_no_boolean_or_empty_schemas() {
        let schema = portable(json!({
            "type": "object",
            "properties": {
                "n": {"type": ["integer", "null"], "format": "uint64", "minimum": 0},
                "format": {"type": "string", "format": "date-time"},
                "either": {"type": ["string", "number"]},
                "xs": {"type": ["array", "null"], "items": {"type": "number", "format": "double"}},
                "any": true,
                "never": false,
                "described": {"description": "Anything."},
                "map": {"type": "object", "additionalProperties": true},
                "closed": {"type": "object", "additionalProperties": false}
            }
        }));
        let any = any_json();
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "minimum": 0},
                    "format": {"type": "string", "format": "date-time"},
                    "either": {"anyOf": [{"type": "string"}, {"type": "number"}]},
                    "xs": {"type": "array", "items": {"type": "number"}},
                    "any": {"anyOf": any},
                    "never": {"not": {"anyOf": any}},
                    "described": {"description": "Anything.", "anyOf": any},
                    "map": {"type": "object"},
                    "closed": {"type": "object", "additionalProperties": false}
                }
            })
        );
    }

    #[test]
    fn a_recursive_definition_stops() {
        let schema = portable(json!({
            "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
            "$ref": "#/$defs/Node"
        }));
        assert_eq!(
            schema,
            json!({"type": "object", "properties": {"next": {"type": "object"}}})
        );
    }
}
