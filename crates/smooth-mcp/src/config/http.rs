//! What the HTTP transport is configured with, checked before anything starts: a bad token or
//! an unprotected address is a configuration error. `crate::transport::http` consumes these.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use smooth_api::ApiKey;
use subtle::{Choice, ConstantTimeEq};
use url::Url;

/// Tokens shorter than this are accepted with a warning.
pub const SHORT_TOKEN: usize = 16;

/// Why the HTTP options are refused.
#[derive(Debug, thiserror::Error)]
pub enum HttpConfigError {
    #[error(
        "refusing to listen on {addr} without an auth token: it is not a loopback address, so \
         anyone who can reach it could run browsers billed to your Smooth account. Set \
         SMOOTH_MCP_AUTH_TOKEN (or --auth-token) to a long random secret (e.g. `openssl rand \
         -hex 32`) and give it to your clients as `Authorization: Bearer <token>`, sign clients \
         in with --oauth-issuer, or listen on 127.0.0.1"
    )]
    UnprotectedBind { addr: SocketAddr },
    #[error("an empty --auth-token / SMOOTH_MCP_AUTH_TOKEN entry was given; remove it")]
    EmptyToken,
    #[error(
        "an --auth-token contains characters an HTTP header cannot carry; use letters, digits \
         and -._~+/= only"
    )]
    BadToken,
    #[error("{flag} must be an http(s) URL without a query or fragment, e.g. {example}")]
    BadUrl {
        flag: &'static str,
        example: &'static str,
    },
    #[error("--key-map entry {0:?} is not VALUE=ENV_VAR")]
    BadKeyMapEntry(String),
    #[error(
        "--key-map names environment variable {var}, which is not set or empty (it should hold \
         the Smooth key for that claim value)"
    )]
    MissingMappedKey { var: String },
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
    /// OAuth sign-in (`--oauth-issuer`), besides the static tokens.
    pub oauth: Option<Arc<OAuthOptions>>,
    /// Serve `GET /metrics` without the bearer token.
    pub metrics_public: bool,
}

/// What the OAuth resource server checks a bearer JWT against.
#[derive(Debug, Clone)]
pub struct OAuthOptions {
    /// Exactly as the issuer writes it in `iss` (and in its metadata's `issuer`).
    pub issuer: String,
    /// The MCP endpoint's public URL: the protected resource's identifier.
    pub resource: Url,
    /// `aud` values accepted (any one of them).
    pub audiences: Vec<String>,
    /// Scopes every token must grant.
    pub required_scopes: Vec<String>,
    /// `--key-by-claim`: which Smooth key a user's calls bill to.
    pub key_by_claim: Option<KeyByClaim>,
}

/// A claim of the signed-in user's token and the Smooth key each of its values bills to.
#[derive(Debug, Clone)]
pub struct KeyByClaim {
    pub claim: String,
    /// Claim value → key. `ApiKey` never shows itself in `Debug`.
    pub keys: Arc<HashMap<String, ApiKey>>,
}

impl KeyByClaim {
    /// Reads each `VALUE=ENV_VAR` entry's key from the environment now, so a missing
    /// variable stops the start (the error names the variable, never a value).
    pub fn from_env(claim: &str, entries: &[String]) -> Result<Self, HttpConfigError> {
        let mut keys = HashMap::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            // Split at the last `=`: claim values may hold one, variable names cannot.
            let Some((value, var)) = entry.rsplit_once('=') else {
                return Err(HttpConfigError::BadKeyMapEntry(entry.to_owned()));
            };
            let (value, var) = (value.trim(), var.trim());
            if value.is_empty() || var.is_empty() {
                return Err(HttpConfigError::BadKeyMapEntry(entry.to_owned()));
            }
            let key = std::env::var(var)
                .ok()
                .and_then(ApiKey::new)
                .ok_or_else(|| HttpConfigError::MissingMappedKey {
                    var: var.to_owned(),
                })?;
            keys.insert(value.to_owned(), key);
        }
        Ok(Self {
            claim: claim.trim().to_owned(),
            keys: Arc::new(keys),
        })
    }
}

/// `--public-url`, checked: http(s), no query or fragment, no trailing slash in its path.
pub fn public_url(raw: &str) -> Result<Url, HttpConfigError> {
    let mut url = http_url(raw, "--public-url", "https://mcp.example.com")?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// `--oauth-issuer`, checked like [`public_url`] but kept exactly as written (it is compared
/// with the token's `iss` byte for byte).
pub fn issuer(raw: &str) -> Result<String, HttpConfigError> {
    http_url(
        raw,
        "--oauth-issuer",
        "https://login.example.com/realms/team",
    )?;
    Ok(raw.trim().to_owned())
}

/// An http(s) URL with a host and neither query nor fragment.
fn http_url(raw: &str, flag: &'static str, example: &'static str) -> Result<Url, HttpConfigError> {
    let bad = || HttpConfigError::BadUrl { flag, example };
    let url = Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad());
    }
    Ok(url)
}

impl HttpOptions {
    /// Whether `--allowed-host '*'` turned the `Host` check off.
    pub fn any_host(&self) -> bool {
        self.allowed_hosts.iter().any(|h| h == "*")
    }

    /// Whether `/mcp` needs a bearer token (a static one or an OAuth sign-in).
    pub fn auth_required(&self) -> bool {
        self.tokens.is_enabled() || self.oauth.is_some()
    }

    /// Refuses a non-loopback address without a token or OAuth.
    pub fn check_bind(&self) -> Result<(), HttpConfigError> {
        if !self.listen.ip().is_loopback() && !self.auth_required() {
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
            oauth: None,
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
