//! Client text in messages and logs, made safe to print.
//!
//! Tool arguments, ids and names arrive as JSON strings, which may hold NUL, ESC, CR/LF and
//! other control characters. Interpolated with `{}` they would reach a terminal or a log raw
//! (forged log lines, terminal escape sequences); `tracing-subscriber` only neutralises ESC
//! and a few others, not NUL or CR/LF. Every message that can quote client text passes
//! through [`controls`].

use std::borrow::Cow;

/// `text` with each control character written as its Rust escape (`\n`, `\0`, `\u{1b}`).
pub fn controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::controls;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(controls("plain «text»"), "plain «text»");
        assert_eq!(
            controls("a\0b\u{1b}[31mc\r\nd\u{85}"),
            "a\\0b\\u{1b}[31mc\\r\\nd\\u{85}"
        );
    }
}
