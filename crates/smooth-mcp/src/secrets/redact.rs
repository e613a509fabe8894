//! Replaces secret values with `[secret:NAME]` in what the server writes: tool results and
//! errors, progress and task status, elicitation text, and log lines.

use std::borrow::Cow;

use aho_corasick::AhoCorasick;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// All secret values, matched in one pass over the text. Where occurrences overlap (one value
/// contains or runs into another) every byte of all of them is hidden under one marker, named
/// after the longest value there: no part of any value survives, and markers are never
/// rescanned.
#[derive(Default)]
pub struct Redactor {
    /// `None` when there is nothing to hide (most servers).
    matcher: Option<AhoCorasick>,
    /// The marker for each pattern, by pattern index.
    markers: Vec<String>,
    /// The length of each pattern, by pattern index.
    lengths: Vec<usize>,
    names: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the secret redactor: {0}")]
pub struct RedactError(#[from] aho_corasick::BuildError);

impl Redactor {
    /// `pairs` are `(NAME, value)`. Each value is also matched in the escaped forms it takes
    /// inside JSON text and `Debug` output (a quote or backslash in a password), which is how
    /// it would appear in a serialized result or a log field, and in those forms escaped once
    /// more as a JSON log line (`--log-format json`) writes them.
    pub fn new<'a>(
        pairs: impl IntoIterator<Item = (String, &'a SecretString)>,
    ) -> Result<Self, RedactError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut markers = Vec::new();
        let mut lengths = Vec::new();
        let mut names = Vec::new();
        for (name, value) in pairs {
            let raw = value.expose_secret();
            if raw.is_empty() {
                continue;
            }
            let marker = format!("[secret:{name}]");
            let json = serde_json::to_string(raw).unwrap_or_default();
            let debug = format!("{raw:?}");
            let json_of_json = serde_json::to_string(unquote(&json)).unwrap_or_default();
            let json_of_debug = serde_json::to_string(unquote(&debug)).unwrap_or_default();
            for form in [
                raw,
                unquote(&json),
                unquote(&debug),
                unquote(&json_of_json),
                unquote(&json_of_debug),
            ] {
                if !form.is_empty() && !patterns.iter().any(|p| p == form) {
                    patterns.push(form.to_owned());
                    markers.push(marker.clone());
                    lengths.push(form.len());
                }
            }
            names.push(name);
        }
        let matcher = if patterns.is_empty() {
            None
        } else {
            // Standard match kind: the only one that reports overlapping matches.
            Some(AhoCorasick::new(&patterns)?)
        };
        Ok(Self {
            matcher,
            markers,
            lengths,
            names,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    pub fn redact<'s>(&self, text: &'s str) -> Cow<'s, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Values are whole UTF-8 strings, so cuts fall on character boundaries.
            Cow::Owned(bytes) => Cow::Owned(
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    pub fn redact_bytes<'s>(&self, bytes: &'s [u8]) -> Cow<'s, [u8]> {
        let Some(matcher) = &self.matcher else {
            return Cow::Borrowed(bytes);
        };
        let mut found: Vec<_> = matcher.find_overlapping_iter(bytes).collect();
        if found.is_empty() {
            return Cow::Borrowed(bytes);
        }
        // (start, end, pattern of the longest match) of each run of overlapping matches.
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        found.sort_by_key(|m| (m.start(), std::cmp::Reverse(m.end())));
        for m in found {
            match runs.last_mut() {
                Some((_, end, longest)) if m.start() < *end => {
                    *end = (*end).max(m.end());
                    if m.len() > self.lengths[*longest] {
                        *longest = m.pattern().as_usize();
                    }
                }
                _ => runs.push((m.start(), m.end(), m.pattern().as_usize())),
            }
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut copied = 0;
        for (start, end, pattern) in runs {
            out.extend_from_slice(&bytes[copied..start]);
            out.extend_from_slice(self.markers[pattern].as_bytes());
            copied = end;
        }
        out.extend_from_slice(&bytes[copied..]);
        Cow::Owned(out)
    }

    /// Redacts a string in place, allocating only when it holds a secret.
    pub fn redact_string(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.redact(text) {
            *text = clean;
        }
    }

    /// Every string in the value, object keys included.
    pub fn redact_json(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => self.redact_string(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let dirty_key = map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_)));
                if dirty_key {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| (self.redact(&k).into_owned(), v))
                        .collect();
                }
                map.values_mut().for_each(|v| self.redact_json(v));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// A tool result (or a tool error, which is a result too): text blocks, embedded text
    /// resources and the structured content.
    pub fn redact_result(&self, result: &mut CallToolResult) {
        if self.is_empty() {
            return;
        }
        for block in &mut result.content {
            match block {
                ContentBlock::Text(t) => self.redact_string(&mut t.text),
                ContentBlock::Resource(r) => {
                    if let ResourceContents::TextResourceContents { text, .. } = &mut r.resource {
                        self.redact_string(text);
                    }
                }
                _ => {}
            }
        }
        if let Some(structured) = &mut result.structured_content {
            self.redact_json(structured);
        }
    }
}

/// The inside of `"…"` (exactly one quote each side: the value may itself end in a quote).
fn unquote(quoted: &str) -> &str {
    quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(quoted)
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redactor(pairs: &[(&str, &str)]) -> Redactor {
        let values: Vec<(String, SecretString)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), SecretString::from(v.to_string())))
            .collect();
        Redactor::new(values.iter().map(|(n, v)| (n.clone(), v))).unwrap()
    }

    #[test]
    fn longest_value_wins_where_values_overlap() {
        let r = redactor(&[("short", "pass"), ("long", "password123"), ("pin", "1234")]);
        assert_eq!(
            r.redact("a password123 b pass c 123456 é"),
            "a [secret:long] b [secret:short] c [secret:pin]56 é"
        );
        // Overlapping occurrences of two values: neither leaves a piece behind.
        let r = redactor(&[("long", "abcdef"), ("short", "xabc")]);
        assert_eq!(
            r.redact("1xabcdef2 xabc abcdef"),
            "1[secret:long]2 [secret:short] [secret:long]"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        assert!(!format!("{r:?}").contains("pass"));
    }

    #[test]
    fn markers_are_not_matched_again() {
        // One pass: a value that occurs inside another's marker is not replaced in it.
        let r = redactor(&[("pw", "hunter22"), ("other", "cret:pw")]);
        assert_eq!(r.redact("x hunter22 y"), "x [secret:pw] y");
    }

    #[test]
    fn json_strings_keys_and_escaped_forms() {
        let r = redactor(&[("pw", r#"a"b\c-sentinel"#)]);
        let mut v = json!({
            r#"key a"b\c-sentinel"#: [r#"value a"b\c-sentinel"#, 1, null],
            "nested": {"text": "ok"}
        });
        r.redact_json(&mut v);
        assert_eq!(
            v,
            json!({"key [secret:pw]": ["value [secret:pw]", 1, null], "nested": {"text": "ok"}})
        );
        // The same value inside serialized JSON text and in Debug output.
        let text = serde_json::to_string(&json!({"out": r#"a"b\c-sentinel"#})).unwrap();
        assert_eq!(r.redact(&text), r#"{"out":"[secret:pw]"}"#);
        let debug = format!("{:?}", r#"a"b\c-sentinel"#);
        assert_eq!(r.redact(&debug), r#""[secret:pw]""#);
        // A value that ends in a quote keeps it in its escaped forms.
        let r = redactor(&[("q", r#"sentinel""#)]);
        let text = serde_json::to_string(&json!([r#"sentinel""#])).unwrap();
        assert_eq!(r.redact(&text), r#"["[secret:q]"]"#);
    }

    #[test]
    fn tool_results_text_and_structured_content() {
        let r = redactor(&[("pw", "hunter2-sentinel")]);
        let mut result = CallToolResult::success(vec![
            ContentBlock::text("typed hunter2-sentinel"),
            ContentBlock::embedded_text("file:///x", "hunter2-sentinel"),
        ]);
        result.structured_content = Some(json!({"output": "hunter2-sentinel"}));
        r.redact_result(&mut result);
        let all = serde_json::to_string(&result).unwrap();
        assert!(!all.contains("sentinel"), "{all}");
        assert_eq!(all.matches("[secret:pw]").count(), 3, "{all}");
    }

    #[test]
    fn no_secrets_no_work() {
        let r = Redactor::default();
        assert!(r.is_empty());
        assert!(matches!(r.redact("x"), Cow::Borrowed(_)));
    }
}
