//! A deliberately tiny, deterministic "JavaScript evaluator" for `evaluate_js`.
//!
//! Understands: `document.title`, `location.href` (and `window.`/`document.` variants,
//! `document.URL`), `location.hostname`, JSON literals, single-quoted strings, `args.x.y`
//! paths inside `(args) => ...` / `function (args) { return ...; }`, and `+` between those
//! (numeric sum or string concatenation). Code containing `throw` fails with its message.
//! Anything else is echoed back as `{"js", "args", "note"}` rather than pretending.

use serde_json::{Value, json};

/// `Ok(value)` or `Err("Error: message")`.
pub(crate) fn evaluate(js: &str, args: &Value, url: &str) -> Result<Value, String> {
    if let Some(pos) = js.find("throw") {
        return Err(thrown_message(&js[pos + "throw".len()..]));
    }
    let code = trim_statement(js);
    let value = match parse_function(code) {
        Some((param, body)) => body_expr(body).and_then(|e| expr(e, param, args, url)),
        None => expr(code, None, args, url),
    };
    Ok(value.unwrap_or_else(|| {
        json!({
            "js": js,
            "args": args,
            "note": "the mock Smooth API cannot evaluate this JavaScript; echoing it back",
        })
    }))
}

fn trim_statement(s: &str) -> &str {
    let mut s = s.trim();
    while let Some(rest) = s.strip_suffix(';') {
        s = rest.trim_end();
    }
    s
}

fn thrown_message(after: &str) -> String {
    let after = after.trim_start();
    let (kind, rest) = match after.strip_prefix("new ") {
        Some(r) => {
            let r = r.trim_start();
            let end = r
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(r.len());
            (if end == 0 { "Error" } else { &r[..end] }, &r[end..])
        }
        None => ("Error", after),
    };
    let msg = first_string_literal(rest).unwrap_or_else(|| "Uncaught exception".to_string());
    format!("{kind}: {msg}")
}

fn first_string_literal(s: &str) -> Option<String> {
    let start = s.find(['"', '\'', '`'])?;
    let quote = s[start..].chars().next()?;
    let rest = &s[start + 1..];
    let end = rest.find(quote)?;
    Some(rest[..end].to_string())
}

/// `(p) => body`, `p => body`, `function name?(p) { body }` → (param, body).
fn parse_function(code: &str) -> Option<(Option<&str>, &str)> {
    if let Some(rest) = code.strip_prefix("function") {
        let open = rest.find('(')?;
        let close = rest.find(')')?;
        let param = rest.get(open + 1..close)?.trim();
        let body = rest[close + 1..].trim();
        return Some((first_param(param), body));
    }
    let arrow = code.find("=>")?;
    let head = code[..arrow].trim();
    let body = code[arrow + 2..].trim();
    let param = head
        .strip_prefix("async")
        .map(str::trim)
        .unwrap_or(head)
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    if !param
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ',' || c == ' ')
    {
        return None;
    }
    Some((first_param(param), body))
}

fn first_param(list: &str) -> Option<&str> {
    list.split(',')
        .next()
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// The returned expression of an arrow body or a `{ return EXPR; }` block.
fn body_expr(body: &str) -> Option<&str> {
    match body.strip_prefix('{') {
        Some(block) => {
            let inner = trim_statement(block.strip_suffix('}')?);
            let ret = inner.strip_prefix("return")?;
            (!ret.contains(';')).then(|| ret.trim())
        }
        None => Some(body),
    }
}

fn expr(e: &str, param: Option<&str>, args: &Value, url: &str) -> Option<Value> {
    let e = trim_statement(e);
    let e = e.strip_prefix("return ").map(str::trim).unwrap_or(e);
    let parts = split_plus(e);
    if parts.len() == 1 {
        return term(parts[0], param, args, url);
    }
    let values: Vec<Value> = parts
        .iter()
        .map(|p| term(p, param, args, url))
        .collect::<Option<_>>()?;
    if values.iter().all(Value::is_number) {
        if values.iter().all(|v| v.is_i64()) {
            return Some(json!(values.iter().filter_map(Value::as_i64).sum::<i64>()));
        }
        return Some(json!(values.iter().filter_map(Value::as_f64).sum::<f64>()));
    }
    if values.iter().any(Value::is_string) {
        return Some(Value::String(values.iter().map(js_string).collect()));
    }
    None
}

fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Array(a) => a.iter().map(js_string).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".into(),
        other => other.to_string(),
    }
}

/// Splits on top-level `+` (outside quotes and brackets).
fn split_plus(e: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0usize);
    let mut escaped = false;
    for (i, c) in e.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            '+' if depth == 0 => {
                parts.push(e[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(e[start..].trim());
    parts
}

fn term(t: &str, param: Option<&str>, args: &Value, url: &str) -> Option<Value> {
    let t = t.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(inner) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        return expr(inner, param, args, url);
    }
    match t {
        "document.title" | "window.document.title" => {
            return Some(json!(format!("Mock page: {url}")));
        }
        "location.href"
        | "window.location.href"
        | "document.location.href"
        | "document.URL"
        | "window.location.toString()"
        | "location.toString()" => return Some(json!(url)),
        "location.hostname" | "window.location.hostname" => {
            return Some(json!(super::state::host_of(url).unwrap_or_default()));
        }
        "undefined" | "null" => return Some(Value::Null),
        _ => {}
    }
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return Some(v);
    }
    if t.len() >= 2 && t.starts_with('\'') && t.ends_with('\'') && !t[1..t.len() - 1].contains('\'')
    {
        return Some(json!(t[1..t.len() - 1]));
    }
    let param = param?;
    let path = t.strip_prefix(param)?;
    let mut cur = args;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end]).unwrap_or(&Value::Null);
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let key = r[..end].trim();
            cur = match key.parse::<usize>() {
                Ok(i) => cur.get(i).unwrap_or(&Value::Null),
                Err(_) => cur
                    .get(key.trim_matches(['"', '\'']))
                    .unwrap_or(&Value::Null),
            };
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://example.com/page";

    #[test]
    fn evaluates_the_supported_subset() {
        let none = Value::Null;
        assert_eq!(
            evaluate("document.title", &none, URL),
            Ok(json!("Mock page: https://example.com/page"))
        );
        assert_eq!(
            evaluate("window.location.href;", &none, URL),
            Ok(json!(URL))
        );
        assert_eq!(
            evaluate("return location.hostname", &none, URL),
            Ok(json!("example.com"))
        );
        assert_eq!(
            evaluate("[1, 2, {\"a\": 3}]", &none, URL),
            Ok(json!([1, 2, {"a": 3}]))
        );
        assert_eq!(evaluate("1 + 2", &none, URL), Ok(json!(3)));
        assert_eq!(
            evaluate("'Title: ' + document.title", &none, URL),
            Ok(json!("Title: Mock page: https://example.com/page"))
        );
        let args = json!({"a": 2, "b": 40, "n": {"list": ["x", "y"]}});
        assert_eq!(
            evaluate("(args) => args.a + args.b", &args, URL),
            Ok(json!(42))
        );
        assert_eq!(
            evaluate("args => args.n.list[1]", &args, URL),
            Ok(json!("y"))
        );
        assert_eq!(
            evaluate("function (a) { return a.a + 0.5; }", &args, URL),
            Ok(json!(2.5))
        );
        assert_eq!(evaluate("(x) => x.missing", &args, URL), Ok(Value::Null));
    }

    #[test]
    fn throws_and_echoes() {
        let none = Value::Null;
        assert_eq!(
            evaluate("throw new Error('boom')", &none, URL),
            Err("Error: boom".into())
        );
        assert_eq!(
            evaluate("(() => { throw new TypeError(\"bad\"); })()", &none, URL),
            Err("TypeError: bad".into())
        );
        assert_eq!(
            evaluate("throw 42", &none, URL),
            Err("Error: Uncaught exception".into())
        );
        let echoed = evaluate("document.querySelectorAll('a').length", &none, URL).unwrap();
        assert_eq!(echoed["js"], json!("document.querySelectorAll('a').length"));
        assert_eq!(echoed["args"], Value::Null);
    }
}
