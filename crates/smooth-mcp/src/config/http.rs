//! What the HTTP transport is configured with, checked before anything starts: a bad token or
//! an unprotected address is a configuration error. `crate::transport::http` consumes these.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use subtle::{Choice, ConstantTimeEq};

/// Tokens shorter than this are accepted with a warning.
pub const SHORT_TOKEN: usize = 16;

/// Why the HTTP options are refused.
#[derive(Debug, thiserror::Error)]
pub enum HttpConfigError {
    #[error(
        "refusing to listen on {addr} without an auth token: it is not a loopback address, so \
         anyone who can reach it could run browsers billed to your Smooth account. Set \
         SMOOTH_MCP_AUTH_TOKEN (or --auth-token) to a long random secret (e.g. `openssl rand \
         -hex 32`) and give it to your clients as `Authorization: Bearer <token>`, or listen on \
         127.0.0.1"
    )]
    UnprotectedBind { addr: SocketAddr },
    #[error("an empty --auth-token / SMOOTH_MCP_AUTH_TOKEN entry was given; remove it")]
    EmptyToken,
    #[error(
        "an --auth-token contains characters an HTTP header cannot carry; use letters, digits \
         and -._~+/= only"
    )]
    BadToken,
}

/// The bearer tokens a request may carry; `Debug` shows none of them.
#[derive(Debug, Clone, Default)]
pub struct AuthTokens(Arc<[SecretString]>);

impl AuthTokens {
    /// Trims each token; refuses empty ones and ones no header could carry.
    pub fn new(raw: &[SecretString]) -> Result<Self, HttpConfigError> {
        raw.iter()
            .map(|t| {
                let t = t.expose_secret().trim();
                if t.is_empty() {
                    Err(HttpConfigError::EmptyToken)
                } else if !t.bytes().all(|b| b.is_ascii_graphic()) {
                    Err(HttpConfigError::BadToken)
                } else {
                    Ok(SecretString::from(t))
                }
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn any_short(&self) -> bool {
        self.0.iter().any(|t| t.expose_secret().len() < SHORT_TOKEN)
    }

    pub fn is_enabled(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether `presented` equals one of the tokens. Every token is compared, each in time
    /// that depends only on the token's own length.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let mut any = Choice::from(0);
        for token in self.0.iter() {
            any |= ct_eq(presented, token.expose_secret().as_bytes());
        }
        any.into()
    }
}

fn ct_eq(presented: &[u8], token: &[u8]) -> Choice {
    let mut same = (presented.len() as u64).ct_eq(&(token.len() as u64));
    for (i, t) in token.iter().enumerate() {
        same &= presented.get(i).copied().unwrap_or(0).ct_eq(t);
    }
    same
}

/// Everything the HTTP transport needs besides the shared state.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub listen: SocketAddr,
    pub tokens: AuthTokens,
    /// Accepted besides the loopback names; `*` accepts any.
    pub allowed_hosts: Vec<String>,
    /// Accepted besides the loopback origins.
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub stateless: bool,
    /// Accept a per-request Smooth key in `X-Smooth-Api-Key`.
    pub client_keys: bool,
    /// How long in-flight calls may run after a shutdown signal.
    pub drain: Duration,
    /// Serve `GET /metrics` without the bearer token.
    pub metrics_public: bool,
}

impl HttpOptions {
    /// Whether `--allowed-host '*'` turned the `Host` check off.
    pub fn any_host(&self) -> bool {
        self.allowed_hosts.iter().any(|h| h == "*")
    }

    /// Refuses a non-loopback address without a token.
    pub fn check_bind(&self) -> Result<(), HttpConfigError> {
        if !self.listen.ip().is_loopback() && !self.tokens.is_enabled() {
            return Err(HttpConfigError::UnprotectedBind { addr: self.listen });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(list: &[&str]) -> AuthTokens {
        let owned: Vec<SecretString> = list.iter().map(|s| SecretString::from(*s)).collect();
        AuthTokens::new(&owned).expect("valid tokens")
    }

    #[test]
    fn tokens_match_exactly() {
        let t = tokens(&["first-token-0123456789", "second-token-0123456789"]);
        assert!(t.accepts(b"first-token-0123456789"));
        assert!(t.accepts(b"second-token-0123456789"));
        assert!(!t.accepts(b"first-token-012345678"));
        assert!(!t.accepts(b"first-token-01234567890"));
        assert!(!t.accepts(b""));
        assert!(!t.accepts(b"FIRST-TOKEN-0123456789"));
    }

    #[test]
    fn tokens_are_trimmed() {
        let t = tokens(&["  padded-token-0123456789 "]);
        assert!(t.accepts(b"padded-token-0123456789"));
    }

    #[test]
    fn empty_and_unprintable_tokens_are_refused() {
        assert!(matches!(
            AuthTokens::new(&["ok-token-0123456789".into(), " ".into()]),
            Err(HttpConfigError::EmptyToken)
        ));
        assert!(matches!(
            AuthTokens::new(&["has space inside".into()]),
            Err(HttpConfigError::BadToken)
        ));
    }

    #[test]
    fn token_debug_hides_values() {
        let t = tokens(&["secret-value-0123456789"]);
        assert!(!format!("{t:?}").contains("secret-value"));
    }

    #[test]
    fn non_loopback_needs_a_token() {
        let mut opts = HttpOptions {
            listen: "0.0.0.0:8931".parse().expect("addr"),
            tokens: AuthTokens::default(),
            allowed_hosts: vec![],
            allowed_origins: vec![],
            max_body_bytes: 1,
            stateless: false,
            client_keys: false,
            drain: Duration::ZERO,
            metrics_public: false,
        };
        let err = opts.check_bind().expect_err("refused");
        assert!(err.to_string().contains("SMOOTH_MCP_AUTH_TOKEN"));
        opts.tokens = tokens(&["a-long-enough-token-123"]);
        assert!(opts.check_bind().is_ok());
        opts.tokens = AuthTokens::default();
        opts.listen = "[::1]:8931".parse().expect("addr");
        assert!(opts.check_bind().is_ok());
    }
}
