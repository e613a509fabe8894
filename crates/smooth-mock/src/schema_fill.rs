//! Deterministic example instances generated from a JSON Schema.
//!
//! object → every property; string → `"example <name>"` (or a value fitting its `format`);
//! integer → 42; number → 4.2 (both clamped into min/max); boolean → true;
//! array → one item (or `minItems`); `enum` → first; `const`; `anyOf`/`oneOf` → first
//! non-null branch; `$ref` into `$defs`/`definitions` is followed.

use serde_json::{Map, Value, json};

const MAX_DEPTH: usize = 16;

/// An instance of `schema`; `name` names the root value in generated strings.
pub(crate) fn fill(schema: &Value, name: &str) -> Value {
    let name = schema
        .get("title")
        .and_then(Value::as_str)
        .map(|t| t.to_lowercase())
        .unwrap_or_else(|| name.to_string());
    fill_in(schema, &name, schema, 0)
}

fn fill_in(schema: &Value, name: &str, root: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let obj = match schema {
        Value::Object(o) => o,
        Value::Bool(true) => return example_string(name, &Map::new()),
        _ => return Value::Null,
    };
    if let Some(target) = obj
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(root, r))
    {
        return fill_in(target, name, root, depth + 1);
    }
    if let Some(c) = obj.get("const") {
        return c.clone();
    }
    if let Some(first) = obj
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = obj.get(key).and_then(Value::as_array) {
            return alts
                .iter()
                .find(|alt| !is_null_schema(alt, root))
                .map(|alt| fill_in(alt, name, root, depth + 1))
                .unwrap_or(Value::Null);
        }
    }
    if let Some(parts) = obj.get("allOf").and_then(Value::as_array) {
        let mut merged: Option<Value> = None;
        for part in parts {
            let v = fill_in(part, name, root, depth + 1);
            merged = Some(match (merged, v) {
                (Some(Value::Object(mut a)), Value::Object(b)) => {
                    a.extend(b);
                    Value::Object(a)
                }
                (Some(a), _) => a,
                (None, v) => v,
            });
        }
        if let Some(m) = merged {
            return m;
        }
    }
    match schema_type(obj).as_deref() {
        Some("object") => {
            let mut out = Map::new();
            if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                for (key, sub) in props {
                    out.insert(key.clone(), fill_in(sub, key, root, depth + 1));
                }
            }
            Value::Object(out)
        }
        Some("array") => {
            let min = obj
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1);
            let max = obj
                .get("maxItems")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX);
            let n = min.min(max).min(64) as usize;
            let items: Vec<Value> = match (obj.get("prefixItems"), obj.get("items")) {
                (Some(Value::Array(prefix)), _) => prefix
                    .iter()
                    .map(|s| fill_in(s, name, root, depth + 1))
                    .collect(),
                (_, Some(Value::Array(tuple))) => tuple
                    .iter()
                    .map(|s| fill_in(s, name, root, depth + 1))
                    .collect(),
                (_, Some(item)) => (0..n)
                    .map(|_| fill_in(item, name, root, depth + 1))
                    .collect(),
                (_, None) => (0..n).map(|_| example_string(name, &Map::new())).collect(),
            };
            Value::Array(items)
        }
        Some("integer") => json!(clamp(42.0, obj, true) as i64),
        Some("number") => json!(clamp(4.2, obj, false)),
        Some("boolean") => Value::Bool(true),
        Some("null") => Value::Null,
        _ => example_string(name, obj),
    }
}

fn schema_type(obj: &Map<String, Value>) -> Option<String> {
    match obj.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or(Some("null"))
            .map(str::to_string),
        _ if obj.contains_key("properties") => Some("object".into()),
        _ if obj.contains_key("items") || obj.contains_key("prefixItems") => Some("array".into()),
        _ => None,
    }
}

fn is_null_schema(schema: &Value, root: &Value) -> bool {
    let schema = match schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(root, r))
    {
        Some(target) => target,
        None => schema,
    };
    schema.get("type").and_then(Value::as_str) == Some("null")
        || schema.get("const") == Some(&Value::Null)
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn clamp(default: f64, obj: &Map<String, Value>, integer: bool) -> f64 {
    let num = |k: &str| obj.get(k).and_then(Value::as_f64);
    let step = if integer { 1.0 } else { 0.1 };
    let mut v = default;
    if let Some(min) = num("minimum") {
        v = v.max(min);
    }
    if let Some(min) = num("exclusiveMinimum")
        && v <= min
    {
        v = min + step;
    }
    if let Some(max) = num("maximum") {
        v = v.min(max);
    }
    if let Some(max) = num("exclusiveMaximum")
        && v >= max
    {
        v = max - step;
    }
    if integer { v.ceil() } else { v }
}

fn example_string(name: &str, obj: &Map<String, Value>) -> Value {
    let mut s = match obj.get("format").and_then(Value::as_str) {
        Some("date-time") => "2024-01-01T00:00:00Z".to_string(),
        Some("date") => "2024-01-01".to_string(),
        Some("time") => "12:00:00".to_string(),
        Some("email") => "example@example.com".to_string(),
        Some("uri" | "url" | "uri-reference") => "https://example.com/".to_string(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_string(),
        _ => format!("example {name}"),
    };
    let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = obj
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    while s.chars().count() < min {
        s.push('x');
    }
    if let Some(max) = max {
        s = s.chars().take(max).collect();
    }
    Value::String(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_documented_shapes() {
        let schema = json!({
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "count": {"type": "integer"},
                "price": {"type": "number"},
                "ok": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "color": {"enum": ["red", "blue"]},
                "kind": {"const": "fixed"},
                "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
                "when": {"type": ["string", "null"], "format": "date-time"}
            }
        });
        assert_eq!(
            fill(&schema, "output"),
            json!({
                "title": "example title", "count": 42, "price": 4.2, "ok": true,
                "tags": ["example tags"], "color": "red", "kind": "fixed", "maybe": 42,
                "when": "2024-01-01T00:00:00Z"
            })
        );
        assert!(jsonschema::is_valid(&schema, &fill(&schema, "output")));
    }

    #[test]
    fn follows_refs_and_respects_bounds() {
        let schema = json!({
            "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 100}}, "required": ["n"]}},
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 2},
                "small": {"type": "number", "maximum": 1},
                "code": {"type": "string", "minLength": 20, "maxLength": 25},
                "opt": {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]}
            },
            "required": ["items"]
        });
        let v = fill(&schema, "output");
        assert_eq!(v["items"], json!([{"n": 100}, {"n": 100}]));
        assert_eq!(v["small"], json!(1.0));
        assert!(jsonschema::is_valid(&schema, &v), "{v}");
        assert_eq!(
            fill(&json!({"type": "string"}), "output"),
            json!("example output")
        );
    }
}
