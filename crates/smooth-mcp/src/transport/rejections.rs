//! Rejected HTTP requests, summarised: one log line per interval with counts by reason,
//! instead of one line per request (a client looping on a bad token wrote thousands).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// How often a summary may be written (only when something was rejected).
pub const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Why a request to `/mcp` was refused before MCP saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No `Authorization` header.
    MissingToken,
    /// An `Authorization` header that is not the server's bearer token.
    BadToken,
    /// `X-Smooth-Api-Key` sent to a server without `--client-keys`.
    ClientKeyNotAccepted,
    /// `X-Smooth-Api-Key` empty or not a valid header value.
    BadClientKey,
    /// A valid sign-in without a scope `--oauth-required-scope` asks for.
    MissingScope,
    /// A valid sign-in whose `--key-by-claim` claim maps to no Smooth key.
    UnmappedClaim,
    /// Sign-ins could not be checked: the OAuth issuer's keys could not be fetched.
    IssuerUnavailable,
}

const REASONS: [(Reason, &str); 7] = [
    (Reason::MissingToken, "missing_token"),
    (Reason::BadToken, "bad_token"),
    (Reason::ClientKeyNotAccepted, "client_key_not_accepted"),
    (Reason::BadClientKey, "bad_client_key"),
    (Reason::MissingScope, "missing_scope"),
    (Reason::UnmappedClaim, "unmapped_claim"),
    (Reason::IssuerUnavailable, "issuer_unavailable"),
];

/// Counts by reason name (only those above zero), and the last peer refused.
type Summary = (Vec<(&'static str, u64)>, Option<SocketAddr>);

/// Counts since the last summary, and the last peer refused (a hint where to look).
#[derive(Debug, Default)]
pub struct Rejections {
    counts: [AtomicU64; REASONS.len()],
    last_peer: Mutex<Option<SocketAddr>>,
}

impl Rejections {
    pub fn record(&self, reason: Reason, peer: Option<SocketAddr>) {
        self.counts[reason as usize].fetch_add(1, Ordering::Relaxed);
        if peer.is_some() {
            *self.last_peer.lock() = peer;
        }
    }

    /// Takes the counts (zeroing them); `None` when nothing was refused.
    fn take(&self) -> Option<Summary> {
        let counts: Vec<(&'static str, u64)> = REASONS
            .iter()
            .map(|(r, name)| (*name, self.counts[*r as usize].swap(0, Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        (!counts.is_empty()).then(|| (counts, self.last_peer.lock().take()))
    }

    /// Writes the summary of what was refused since the last one, if anything was.
    pub fn log(&self) {
        if let Some((counts, last_peer)) = self.take() {
            let total: u64 = counts.iter().map(|(_, n)| n).sum();
            let by_reason: Vec<String> = counts.iter().map(|(r, n)| format!("{r}={n}")).collect();
            tracing::warn!(
                total,
                by_reason = %by_reason.join(" "),
                ?last_peer,
                "rejected MCP requests in the last {}s",
                SUMMARY_EVERY.as_secs()
            );
        }
    }

    /// Writes a summary every [`SUMMARY_EVERY`] while anything was refused, until `stop`
    /// (the server writes the last one itself: the runtime may not run this task again).
    pub fn spawn_summaries(self: Arc<Self>, stop: CancellationToken) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SUMMARY_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => self.log(),
                    () = stop.cancelled() => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason_then_reset() {
        let r = Rejections::default();
        assert!(r.take().is_none());
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        for _ in 0..3 {
            r.record(Reason::BadToken, Some(peer));
        }
        r.record(Reason::MissingToken, None);
        let (counts, last) = r.take().unwrap();
        assert_eq!(counts, [("missing_token", 1), ("bad_token", 3)]);
        assert_eq!(last, Some(peer));
        assert!(r.take().is_none());
    }
}
