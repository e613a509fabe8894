//! `[mock:...]` directives inside task text, which shape a simulated task.
//!
//! A directive ends at the `]` that balances its `[`; brackets inside JSON strings (`"..."`,
//! with `\"` escapes) do not count, so `[mock:tool_call=t {"q": "a]b"}]` is one directive.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::archive::Hostile;

const OPEN: &str = "[mock:";

/// A call the agent makes to one of its client's tools.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PlannedCall {
    pub tool: String,
    pub input: Value,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Directives {
    /// `[mock:duration=30s]` / `=500ms` / `=2m` / `=1.5` (seconds): running time override.
    pub duration: Option<Duration>,
    /// `[mock:fail]`: the task ends `failed`.
    pub fail: bool,
    /// In order, each made once the previous one is answered:
    /// `[mock:tool_call=NAME]` / `[mock:tool_call=NAME {json}]`: tool NAME with that input
    /// (`{}` when absent; a directive with bad JSON is ignored);
    /// `[mock:ask_user=QUESTION]` / `[mock:ask_user=QUESTION | choice | choice]`:
    /// `ask_user {question, choices?}`.
    pub calls: Vec<PlannedCall>,
    /// `[mock:type_secret=NAME]`: the agent types secret NAME (and echoes it in its output).
    pub type_secrets: Vec<String>,
    /// `[mock:download]`: the task produces a downloads archive.
    pub download: bool,
    /// `[mock:archive=KIND]`: the downloads archive is a hostile one.
    pub archive: Option<Hostile>,
    /// Directives the mock refuses (the task is rejected), e.g. an unknown archive kind.
    pub errors: Vec<String>,
    /// The task text with the directives removed.
    pub clean: String,
}

pub(crate) fn parse(text: &str) -> Directives {
    let mut d = Directives::default();
    let mut clean = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let body_start = start + OPEN.len();
        let Some(len) = closing_bracket(&rest[body_start..]) else {
            break;
        };
        clean.push_str(&rest[..start]);
        let body = &rest[body_start..body_start + len];
        let (key, value) = match body.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (body.trim(), None),
        };
        match (key.to_ascii_lowercase().as_str(), value) {
            ("duration", Some(v)) => d.duration = parse_duration(v).or(d.duration),
            ("fail", _) => d.fail = true,
            ("tool_call", Some(v)) => d.calls.extend(tool_call(v)),
            ("ask_user", Some(v)) => d.calls.extend(ask_user(v)),
            ("type_secret", Some(v)) if !v.is_empty() => d.type_secrets.push(v.to_string()),
            ("download", _) => d.download = true,
            ("archive", v) => match v.and_then(Hostile::parse) {
                Some(kind) => d.archive = Some(kind),
                None => d.errors.push(format!(
                    "unknown [mock:archive] kind {:?}: expected one of {}",
                    v.unwrap_or(""),
                    Hostile::ALL.map(Hostile::name).join(", ")
                )),
            },
            _ => {}
        }
        rest = &rest[body_start + len + 1..];
    }
    clean.push_str(rest);
    d.clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    d
}

/// Byte offset of the `]` closing a directive whose body starts `s`.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut depth = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `NAME` or `NAME {json object}`.
fn tool_call(v: &str) -> Option<PlannedCall> {
    let (name, input) = match v.split_once(char::is_whitespace) {
        Some((name, json)) => (name, serde_json::from_str::<Map<String, Value>>(json).ok()?),
        None => (v, Map::new()),
    };
    (!name.is_empty()).then(|| PlannedCall {
        tool: name.to_string(),
        input: Value::Object(input),
    })
}

/// `QUESTION` or `QUESTION | choice | choice`.
fn ask_user(v: &str) -> Option<PlannedCall> {
    let mut parts = v.split('|').map(str::trim);
    let question = parts.next().filter(|q| !q.is_empty())?;
    let choices: Vec<&str> = parts.filter(|c| !c.is_empty()).collect();
    let mut input = json!({"question": question});
    if !choices.is_empty() {
        input["choices"] = json!(choices);
    }
    Some(PlannedCall {
        tool: "ask_user".into(),
        input,
    })
}

/// `500ms`, `30s`, `2m`, `1.5s`; a bare number is seconds.
pub(crate) fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim().to_ascii_lowercase();
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        (v.as_str(), 1.0)
    };
    let n: f64 = num.trim().parse().ok()?;
    (n.is_finite() && n >= 0.0 && n * scale < 1e9).then(|| Duration::from_secs_f64(n * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(tool: &str, input: Value) -> PlannedCall {
        PlannedCall {
            tool: tool.into(),
            input,
        }
    }

    #[test]
    fn parses_directives_and_cleans_text() {
        let d = parse(
            "Find  the price [mock:duration=500ms] of [mock:fail] tea [mock:tool_call=lookup][mock:download]",
        );
        assert_eq!(d.duration, Some(Duration::from_millis(500)));
        assert!(d.fail && d.download);
        assert_eq!(d.calls, [call("lookup", json!({}))]);
        assert_eq!(d.clean, "Find the price of tea");
        assert_eq!(
            parse("x [mock:duration=30s]").duration,
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse("x [mock:duration=2m]").duration,
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse("x [mock:duration=1.5]").duration,
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse("x [mock:duration=soon]").duration, None);
        assert_eq!(
            parse("unterminated [mock:fail").clean,
            "unterminated [mock:fail"
        );
        assert_eq!(parse("[mock:whatever] plain").clean, "plain");
    }

    #[test]
    fn tool_calls_carry_json_input_and_keep_their_order() {
        let d = parse(
            r#"Order [mock:tool_call=lookup {"order": "A]1", "tags": ["x", "y"], "q": "say \"hi]\""}] then [mock:ask_user=Which account? | personal | business] and [mock:tool_call=notify]"#,
        );
        assert_eq!(
            d.calls,
            [
                call(
                    "lookup",
                    json!({"order": "A]1", "tags": ["x", "y"], "q": "say \"hi]\""})
                ),
                call(
                    "ask_user",
                    json!({"question": "Which account?", "choices": ["personal", "business"]})
                ),
                call("notify", json!({})),
            ]
        );
        assert_eq!(d.clean, "Order then and");
    }

    #[test]
    fn ask_user_without_choices_and_bad_input_is_ignored() {
        assert_eq!(
            parse("[mock:ask_user=What is the one-time code?]").calls,
            [call(
                "ask_user",
                json!({"question": "What is the one-time code?"})
            )]
        );
        // Bad JSON, a JSON non-object, an empty name or question: no call, text still cleaned.
        let d = parse(
            "a [mock:tool_call=t {oops}] b [mock:tool_call=t [1]] [mock:tool_call=] [mock:ask_user= | x] c",
        );
        assert_eq!(d.calls, []);
        assert_eq!(d.clean, "a b c");
    }

    #[test]
    fn type_secret_names_are_collected() {
        let d = parse("Log in [mock:type_secret=bank_password] [mock:type_secret=otp_seed]");
        assert_eq!(d.type_secrets, ["bank_password", "otp_seed"]);
        assert_eq!(d.clean, "Log in");
        assert!(d.calls.is_empty());
    }

    #[test]
    fn archive_kinds_are_known_or_refused() {
        let d = parse("Get it [mock:archive=zip_slip]");
        assert_eq!(d.archive, Some(Hostile::ZipSlip));
        assert!(d.errors.is_empty());
        assert_eq!(d.clean, "Get it");
        for kind in Hostile::ALL {
            assert_eq!(
                parse(&format!("[mock:archive={}]", kind.name())).archive,
                Some(kind)
            );
        }
        let bad = parse("x [mock:archive=tarpit]");
        assert_eq!(bad.archive, None);
        assert_eq!(bad.errors.len(), 1);
        assert!(bad.errors[0].contains("\"tarpit\""), "{:?}", bad.errors);
        assert_eq!(
            parse("x [mock:archive]").errors.len(),
            1,
            "a kind is required"
        );
    }
}
