//! The issuer's signing keys: where they are (RFC 8414 / OpenID discovery → `jwks_uri`), which
//! algorithm each may verify, and a cache refreshed on a timer and when a token names a key id
//! the cache does not hold (a key rotation) — the latter at most once per
//! [`UNKNOWN_KID_INTERVAL`], so tokens with made-up key ids cannot make the server hammer the
//! issuer.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use parking_lot::RwLock;
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

/// How long fetched keys are used before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(15 * 60);
/// After a failed fetch, how long the keys held (if any) are used before trying again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Least time between two fetches caused by an unknown key id.
pub const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(30);
/// Per request towards the issuer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest metadata or JWKS document read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// Why the keys could not be had; the text names the URL tried, never a token.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(String);

/// One verification key and the algorithms it may verify.
pub struct VerifyKey {
    pub kid: Option<String>,
    pub key: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

/// The keys of one fetch.
pub struct KeySet {
    pub keys: Arc<[VerifyKey]>,
    refresh_at: Instant,
}

impl KeySet {
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

#[derive(Default)]
struct Refresh {
    jwks_uri: Option<Url>,
    last_unknown_kid: Option<Instant>,
    /// When a fetch last failed with no keys held: requests meanwhile fail at once instead
    /// of each waiting for the issuer's timeouts.
    failed_at: Option<Instant>,
}

/// The issuer's keys, fetched on first use.
pub struct IssuerKeys {
    issuer: String,
    http: reqwest::Client,
    cached: RwLock<Option<Arc<KeySet>>>,
    /// Held while fetching: concurrent requests wait for one fetch instead of each making one.
    refresh: tokio::sync::Mutex<Refresh>,
}

#[derive(Deserialize)]
struct IssuerMetadata {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

impl IssuerKeys {
    pub fn new(issuer: String) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("smooth-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            issuer,
            http,
            cached: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(Refresh::default()),
        })
    }

    fn cached(&self) -> Option<Arc<KeySet>> {
        self.cached.read().clone()
    }

    /// The current keys, fetched when there are none or they are due.
    pub async fn current(&self) -> Result<Arc<KeySet>, FetchError> {
        let fresh = |ks: &Arc<KeySet>| Instant::now() < ks.refresh_at;
        if let Some(ks) = self.cached().filter(fresh) {
            return Ok(ks);
        }
        let mut refresh = self.refresh.lock().await;
        // Another request may have fetched them while this one waited.
        if let Some(ks) = self.cached().filter(fresh) {
            return Ok(ks);
        }
        if refresh
            .failed_at
            .is_some_and(|t| t.elapsed() < RETRY_AFTER_FAILURE)
        {
            return Err(FetchError(
                "the issuer's keys could not be fetched lately".to_owned(),
            ));
        }
        self.fetch_and_store(&mut refresh).await
    }

    /// Fetches again because a token names a key id `seen` does not hold, unless the keys
    /// changed meanwhile or the last such fetch was too recent (then `None`).
    pub async fn refresh_for_unknown_kid(&self, seen: &Arc<KeySet>) -> Option<Arc<KeySet>> {
        let mut refresh = self.refresh.lock().await;
        if let Some(ks) = self.cached()
            && !Arc::ptr_eq(&ks, seen)
        {
            return Some(ks);
        }
        if refresh
            .last_unknown_kid
            .is_some_and(|t| t.elapsed() < UNKNOWN_KID_INTERVAL)
        {
            return None;
        }
        refresh.last_unknown_kid = Some(Instant::now());
        self.fetch_and_store(&mut refresh).await.ok()
    }

    /// On failure keeps the keys held (if any) and tries again after a short while.
    async fn fetch_and_store(&self, refresh: &mut Refresh) -> Result<Arc<KeySet>, FetchError> {
        match self.fetch(refresh).await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "loaded the OAuth issuer's signing keys");
                refresh.failed_at = None;
                let set = Arc::new(KeySet {
                    keys: keys.into(),
                    refresh_at: Instant::now() + KEYS_TTL,
                });
                *self.cached.write() = Some(set.clone());
                Ok(set)
            }
            Err(e) => {
                let held = self.cached();
                tracing::warn!(error = %e, keeping_old_keys = held.is_some(), "could not fetch the OAuth issuer's signing keys");
                let Some(old) = held else {
                    refresh.failed_at = Some(Instant::now());
                    return Err(e);
                };
                let set = Arc::new(KeySet {
                    keys: old.keys.clone(),
                    refresh_at: Instant::now() + RETRY_AFTER_FAILURE,
                });
                *self.cached.write() = Some(set.clone());
                Ok(set)
            }
        }
    }

    async fn fetch(&self, refresh: &mut Refresh) -> Result<Vec<VerifyKey>, FetchError> {
        let jwks_uri = match &refresh.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = self.discover().await?;
                refresh.jwks_uri = Some(uri.clone());
                uri
            }
        };
        let jwks: RawJwks = self.get_json(&jwks_uri).await?;
        Ok(jwks.keys.into_iter().filter_map(verify_key).collect())
    }

    /// The issuer's `jwks_uri`, from the first metadata document that answers and names this
    /// issuer (RFC 8414 §3.3: a document for another issuer must not be used).
    async fn discover(&self) -> Result<Url, FetchError> {
        let mut tried = Vec::new();
        for url in metadata_urls(&self.issuer)? {
            match self.get_json::<IssuerMetadata>(&url).await {
                Ok(meta) if meta.issuer == self.issuer => {
                    return Url::parse(&meta.jwks_uri)
                        .map_err(|e| FetchError(format!("{url}: jwks_uri: {e}")));
                }
                Ok(meta) => tried.push(format!("{url} (names issuer {:?})", meta.issuer)),
                Err(e) => tried.push(e.0),
            }
        }
        Err(FetchError(format!(
            "no authorization server metadata for issuer {}: {}",
            self.issuer,
            tried.join("; ")
        )))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T, FetchError> {
        let fail = |what: String| FetchError(format!("{url}: {what}"));
        let response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let body = crate::capped::read_capped(response, MAX_DOCUMENT)
            .await
            .map_err(|e| fail(e.without_url().to_string()))?
            .ok_or_else(|| fail("document too large".to_owned()))?;
        serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))
    }
}

/// Where the issuer's metadata may be: RFC 8414's and OpenID's well-known names inserted
/// before the issuer's path, then OpenID's appended to it (the order the MCP spec gives).
fn metadata_urls(issuer: &str) -> Result<Vec<Url>, FetchError> {
    let url = Url::parse(issuer).map_err(|e| FetchError(format!("issuer {issuer}: {e}")))?;
    let path = url.path().trim_end_matches('/');
    let at = |p: String| {
        let mut u = url.clone();
        u.set_path(&p);
        u
    };
    let mut urls = vec![
        at(format!("/.well-known/oauth-authorization-server{path}")),
        at(format!("/.well-known/openid-configuration{path}")),
        at(format!("{path}/.well-known/openid-configuration")),
    ];
    urls.dedup();
    Ok(urls)
}

/// A JWK as a verification key, or `None` for one no token may be checked with: symmetric
/// (`oct`) keys never (a shared secret has no place in a public key set, and accepting it
/// would let anyone who reads the set sign tokens), encryption keys, unknown types and
/// curves, and keys whose `alg` does not fit their type.
fn verify_key(raw: serde_json::Value) -> Option<VerifyKey> {
    let jwk: Jwk = serde_json::from_value(raw).ok()?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let family: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => &[],
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        _ => &[],
    };
    // The key's own `alg`, when it names one, is the only algorithm it verifies.
    let algorithms: Vec<Algorithm> = match jwk.common.key_algorithm {
        Some(alg) => Algorithm::try_from(alg)
            .ok()
            .filter(|a| family.contains(a))
            .into_iter()
            .collect(),
        None => family.to_vec(),
    };
    if algorithms.is_empty() {
        return None;
    }
    Some(VerifyKey {
        kid: jwk.common.key_id.clone(),
        key: DecodingKey::from_jwk(&jwk).ok()?,
        algorithms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_urls_follow_the_mcp_order() {
        let urls: Vec<String> = metadata_urls("https://login.example.com/realms/team/")
            .expect("urls")
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            urls,
            [
                "https://login.example.com/.well-known/oauth-authorization-server/realms/team",
                "https://login.example.com/.well-known/openid-configuration/realms/team",
                "https://login.example.com/realms/team/.well-known/openid-configuration",
            ]
        );
        let root: Vec<String> = metadata_urls("https://login.example.com")
            .expect("urls")
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            root,
            [
                "https://login.example.com/.well-known/oauth-authorization-server",
                "https://login.example.com/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn symmetric_and_mismatched_keys_are_never_used() {
        assert!(verify_key(json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"})).is_none());
        let ec = json!({"kty": "EC", "crv": "P-256", "kid": "a",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let key = verify_key(ec.clone()).expect("an EC key");
        assert_eq!(key.algorithms, [Algorithm::ES256]);
        let mut hs = ec.clone();
        hs["alg"] = json!("HS256");
        assert!(verify_key(hs).is_none(), "an EC key never verifies HS256");
        let mut enc = ec;
        enc["use"] = json!("enc");
        assert!(verify_key(enc).is_none());
    }
}
