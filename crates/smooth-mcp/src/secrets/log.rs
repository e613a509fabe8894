//! The log choke point: a `tracing-subscriber` writer that redacts every event before it
//! reaches stderr, whatever the level and whichever crate logged it.

use std::io::{self, Write};
use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;

use super::Redactor;

/// `fmt().with_writer(RedactingWriter::stderr(redactor))`. The fmt layer formats one event
/// into a buffer and writes it whole; this writer keeps the bytes until the event is done
/// (flush or drop), so a value is never split between two writes and missed.
#[derive(Clone)]
pub struct RedactingWriter<M = fn() -> io::Stderr> {
    redactor: Arc<Redactor>,
    inner: M,
}

impl RedactingWriter {
    pub fn stderr(redactor: Arc<Redactor>) -> Self {
        Self::new(redactor, io::stderr)
    }
}

impl<M> RedactingWriter<M> {
    pub fn new(redactor: Arc<Redactor>, inner: M) -> Self {
        Self { redactor, inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingWriter<M> {
    type Writer = RedactedEvent<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactedEvent {
            redactor: &self.redactor,
            inner: self.inner.make_writer(),
            buf: Vec::new(),
        }
    }
}

/// One event on its way out.
pub struct RedactedEvent<'a, W: Write> {
    redactor: &'a Redactor,
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> RedactedEvent<'_, W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let clean = self.redactor.redact_bytes(&self.buf);
        let written = self.inner.write_all(&clean);
        self.buf.clear();
        written?;
        self.inner.flush()
    }
}

impl<W: Write> Write for RedactedEvent<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()
    }
}

impl<W: Write> Drop for RedactedEvent<'_, W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write; the event is lost, as with plain stderr.
        let _ = self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;
    use secrecy::SecretString;

    /// A `MakeWriter` into a shared buffer, standing in for stderr.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn log_some_secrets() {
        let typed = "hunter2-\"sentinel\"";
        let span = tracing::info_span!("tool_call", arg = typed);
        let _entered = span.enter();
        tracing::trace!(input = typed, "typed");
        tracing::debug!(?typed, "debug form");
        tracing::info!("message {typed}");
        tracing::error!(payload = %serde_json::json!({"v": typed}), "json form");
    }

    fn captured(json: bool) -> String {
        let value = SecretString::from("hunter2-\"sentinel\"".to_string());
        let redactor = Arc::new(Redactor::new([("bank".to_string(), &value)]).unwrap());
        let out = Captured::default();
        let logs = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(RedactingWriter::new(redactor, out.clone()));
        if json {
            let subscriber = logs.json().flatten_event(true).finish();
            tracing::subscriber::with_default(subscriber, log_some_secrets);
        } else {
            tracing::subscriber::with_default(logs.finish(), log_some_secrets);
        }
        String::from_utf8(out.0.lock().clone()).unwrap()
    }

    #[test]
    fn json_log_lines_are_redacted_and_stay_json() {
        let text = captured(true);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(!text.contains("sentinel"), "{text}");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect(line);
            assert!(line.contains("[secret:bank]"), "{line}");
            assert_eq!(v["span"]["arg"], "[secret:bank]", "{line}");
        }
    }

    #[test]
    fn log_lines_are_redacted_at_every_level() {
        let text = captured(false);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(!text.contains("sentinel"), "{text}");
        assert!(text.matches("[secret:bank]").count() >= 4, "{text}");
    }
}
