//! The mock's stand-in for `evaluate_js`: a few known snippets, not a JavaScript engine.
//!
//! Known: `document.title` (`"Mock page: <url>"`), `location.href` / `document.URL`,
//! `(args) => args.a + args.b` (numbers), `throw new Error('…')`, and any JSON literal.
//! Anything else is echoed back as `{"js", "args", "note"}` rather than pretending.

use serde_json::{Value, json};

/// `Ok(value)` or `Err("Error: message")`, as a page would report a thrown error.
pub(crate) fn evaluate(js: &str, args: &Value, url: &str) -> Result<Value, String> {
    let code = js.trim().trim_end_matches(';').trim_end();
    if let Some(message) = thrown(code) {
        return Err(format!("Error: {message}"));
    }
    let known = match code {
        "document.title" => Some(json!(format!("Mock page: {url}"))),
        "location.href" | "window.location.href" | "document.URL" => Some(json!(url)),
        "(args) => args.a + args.b" => sum(&args["a"], &args["b"]),
        _ => None,
    };
    Ok(known
        .or_else(|| serde_json::from_str(code).ok())
        .unwrap_or_else(|| {
            json!({
                "js": js,
                "args": args,
                "note": "the mock Smooth API cannot evaluate this JavaScript; echoing it back",
            })
        }))
}

/// `throw new Error('message')` (either quote) → `message`.
fn thrown(code: &str) -> Option<&str> {
    let quoted = code.strip_prefix("throw new Error(")?.strip_suffix(')')?;
    ['\'', '"']
        .iter()
        .find_map(|q| quoted.strip_prefix(*q)?.strip_suffix(*q))
}

/// JavaScript `+` on two numbers; integers stay integers.
fn sum(a: &Value, b: &Value) -> Option<Value> {
    match (a.as_i64(), b.as_i64()) {
        (Some(a), Some(b)) => Some(json!(a.checked_add(b)?)),
        _ => Some(json!(a.as_f64()? + b.as_f64()?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://example.com/page";

    #[test]
    fn known_snippets() {
        let none = Value::Null;
        assert_eq!(
            evaluate("document.title", &none, URL),
            Ok(json!("Mock page: https://example.com/page"))
        );
        assert_eq!(evaluate("location.href;", &none, URL), Ok(json!(URL)));
        assert_eq!(
            evaluate("[1, {\"a\": 3}]", &none, URL),
            Ok(json!([1, {"a": 3}]))
        );
        let sum = "(args) => args.a + args.b";
        assert_eq!(evaluate(sum, &json!({"a": 2, "b": 40}), URL), Ok(json!(42)));
        assert_eq!(
            evaluate(sum, &json!({"a": 2, "b": 0.5}), URL),
            Ok(json!(2.5))
        );
        assert_eq!(
            evaluate("throw new Error('boom')", &none, URL),
            Err("Error: boom".into())
        );
    }

    #[test]
    fn anything_else_is_echoed() {
        let args = json!({"a": "x"});
        for js in [
            "document.querySelectorAll('a').length",
            "(args) => args.a + args.b",
        ] {
            let echoed = evaluate(js, &args, URL).unwrap();
            assert_eq!(echoed["js"], json!(js));
            assert_eq!(echoed["args"], args);
        }
    }
}
