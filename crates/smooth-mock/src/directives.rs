//! `[mock:...]` directives inside task text, which shape a simulated task.

use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Directives {
    /// `[mock:duration=30s]` / `=500ms` / `=2m` / `=1.5` (seconds): running time override.
    pub duration: Option<Duration>,
    /// `[mock:fail]`: the task ends `failed`.
    pub fail: bool,
    /// `[mock:tool_call=NAME]`: the agent calls tool NAME with input `{}`.
    pub tool_call: Option<String>,
    /// `[mock:download]`: the task produces a downloads archive.
    pub download: bool,
    /// The task text with the directives removed.
    pub clean: String,
}

pub(crate) fn parse(text: &str) -> Directives {
    let mut d = Directives::default();
    let mut clean = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[mock:") {
        let Some(len) = rest[start..].find(']') else {
            break;
        };
        clean.push_str(&rest[..start]);
        let body = &rest[start + "[mock:".len()..start + len];
        let (key, value) = match body.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (body.trim(), None),
        };
        match (key.to_ascii_lowercase().as_str(), value) {
            ("duration", Some(v)) => d.duration = parse_duration(v).or(d.duration),
            ("fail", _) => d.fail = true,
            ("tool_call", Some(v)) if !v.is_empty() => d.tool_call = Some(v.to_string()),
            ("download", _) => d.download = true,
            _ => {}
        }
        rest = &rest[start + len + 1..];
    }
    clean.push_str(rest);
    d.clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    d
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

    #[test]
    fn parses_directives_and_cleans_text() {
        let d = parse(
            "Find  the price [mock:duration=500ms] of [mock:fail] tea [mock:tool_call=ask_user][mock:download]",
        );
        assert_eq!(d.duration, Some(Duration::from_millis(500)));
        assert!(d.fail && d.download);
        assert_eq!(d.tool_call.as_deref(), Some("ask_user"));
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
}
