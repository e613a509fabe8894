//! OAuth 2.1 sign-in (`--oauth-issuer`): the server is a resource server as the MCP
//! authorization spec describes. It publishes where tokens come from (RFC 9728 protected
//! resource metadata), answers a request without a token 401 with a `WWW-Authenticate`
//! challenge pointing there, and checks each bearer JWT: signed by one of the issuer's keys
//! with an algorithm that key allows (never `none`, never HMAC), `iss`, `aud`, `exp`/`nbf`
//! (with [`LEEWAY_S`] of clock skew), then the required scopes (403 `insufficient_scope`).
//!
//! With `--key-by-claim`, a valid sign-in also picks the Smooth key the call bills to. Tokens
//! and claims are never logged; rejections log only their reason.

mod keys;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value, json};
use smooth_api::ApiKey;

use super::rejections::Reason;
use crate::config::{KeyByClaim, OAuthOptions};
pub use keys::FetchError;
use keys::IssuerKeys;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_S: u64 = 30;
/// RFC 9728's well-known name for protected resource metadata.
const METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// Why a bearer JWT was refused; the text goes into `error_description` (no quotes in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invalid {
    Malformed,
    UnknownKey,
    WrongAlgorithm,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    MissingClaim,
    Other,
}

impl Invalid {
    fn describe(self) -> &'static str {
        match self {
            Self::Malformed => "the bearer token is not a JWT this server accepts",
            Self::UnknownKey => "the token is signed with a key the issuer does not publish",
            Self::WrongAlgorithm => "the token's alg is not one the issuer's key allows",
            Self::BadSignature => "the token's signature does not verify",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet (nbf)",
            Self::WrongIssuer => "the token is from another issuer",
            Self::WrongAudience => "the token is not meant for this server (aud)",
            Self::MissingClaim => "the token lacks exp, iss or aud",
            Self::Other => "the token is invalid",
        }
    }

    fn from_kind(kind: &ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidIssuer => Self::WrongIssuer,
            ErrorKind::InvalidAudience => Self::WrongAudience,
            ErrorKind::MissingRequiredClaim(_) => Self::MissingClaim,
            ErrorKind::InvalidAlgorithm => Self::WrongAlgorithm,
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) => Self::Malformed,
            _ => Self::Other,
        }
    }
}

/// Checks sign-ins against one issuer for one resource.
pub struct ResourceServer {
    opts: Arc<OAuthOptions>,
    keys: IssuerKeys,
    /// The resource's metadata URL, as the challenge names it.
    metadata_url: String,
    metadata: Value,
}

impl ResourceServer {
    pub fn new(opts: Arc<OAuthOptions>) -> Result<Self, FetchError> {
        let resource_path = opts.resource.path().trim_end_matches('/');
        let mut metadata_url = opts.resource.clone();
        metadata_url.set_path(&format!("{METADATA_PREFIX}{resource_path}"));
        let mut metadata = json!({
            "resource": opts.resource.as_str(),
            "authorization_servers": [opts.issuer],
            "bearer_methods_supported": ["header"],
            "resource_name": "Smooth browser agent (smooth-mcp)",
        });
        if !opts.required_scopes.is_empty() {
            metadata["scopes_supported"] = json!(opts.required_scopes);
        }
        Ok(Self {
            keys: IssuerKeys::new(opts.issuer.clone())?,
            opts,
            metadata_url: metadata_url.to_string(),
            metadata,
        })
    }

    /// Fetches the issuer's keys now, so a wrong issuer shows in the log at start-up rather
    /// than at the first sign-in (a failure is logged and tried again on demand).
    pub async fn warm_up(&self) {
        let _ = self.keys.current().await;
    }

    /// Where the metadata is served: RFC 9728's name for the resource (`…/mcp` appended),
    /// and the bare name, which some clients try first.
    pub fn metadata_paths(&self) -> Vec<String> {
        let resource_path = self.opts.resource.path().trim_end_matches('/');
        let mut paths = vec![
            METADATA_PREFIX.to_owned(),
            format!("{METADATA_PREFIX}{resource_path}"),
        ];
        paths.dedup();
        paths
    }

    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    /// Checks `token` (the bearer value, if any). `Ok` carries the Smooth key the call bills
    /// to under `--key-by-claim`; `own_key` (the caller sent one with `--client-keys`) skips
    /// that mapping. `Err` is why, and the response to send; the caller counts refusals
    /// (a client looping on an expired token must not write a log line each time).
    pub async fn authorize(
        &self,
        token: Option<&str>,
        own_key: bool,
    ) -> Result<Option<ApiKey>, (Reason, Response)> {
        let Some(token) = token else {
            return Err((
                Reason::MissingToken,
                self.challenge(
                    StatusCode::UNAUTHORIZED,
                    None,
                    "Unauthorized: sign in (OAuth) or send the server's token as \
                     `Authorization: Bearer <token>`",
                ),
            ));
        };
        let claims = match self.verify(token).await {
            Ok(claims) => claims,
            Err(Some(invalid)) => {
                tracing::debug!(
                    reason = invalid.describe(),
                    "rejected an OAuth bearer token"
                );
                return Err((
                    Reason::BadToken,
                    self.challenge(
                        StatusCode::UNAUTHORIZED,
                        Some(("invalid_token", invalid.describe())),
                        &format!("Unauthorized: {}", invalid.describe()),
                    ),
                ));
            }
            Err(None) => {
                return Err((
                    Reason::IssuerUnavailable,
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service Unavailable: sign-ins cannot be checked right now (the OAuth \
                         issuer's keys could not be fetched); try again shortly",
                    )
                        .into_response(),
                ));
            }
        };
        let granted = granted_scopes(&claims);
        if let Some(missing) = self
            .opts
            .required_scopes
            .iter()
            .find(|s| !granted.contains(&s.as_str()))
        {
            tracing::debug!(scope = %missing, "rejected an OAuth bearer token without a required scope");
            return Err((
                Reason::MissingScope,
                self.challenge(
                    StatusCode::FORBIDDEN,
                    Some(("insufficient_scope", "the token lacks a required scope")),
                    &format!(
                        "Forbidden: this server needs the scope(s) {}; sign in again granting them",
                        self.opts.required_scopes.join(" ")
                    ),
                ),
            ));
        }
        match &self.opts.key_by_claim {
            Some(by) if !own_key => billed_key(by, &claims).map(Some).map_err(|message| {
                tracing::debug!(claim = %by.claim, "rejected a sign-in whose claim maps to no Smooth key");
                (
                    Reason::UnmappedClaim,
                    (StatusCode::FORBIDDEN, message).into_response(),
                )
            }),
            _ => Ok(None),
        }
    }

    /// The token's claims; `Err(None)` when no key could be had to check it with.
    async fn verify(&self, token: &str) -> Result<Map<String, Value>, Option<Invalid>> {
        // `alg: none` (and any name outside the supported list) fails here already.
        let header = decode_header(token).map_err(|_| Some(Invalid::Malformed))?;
        let mut set = self.keys.current().await.map_err(|_| None)?;
        if let Some(kid) = &header.kid
            && !set.has_kid(kid)
        {
            set = self
                .keys
                .refresh_for_unknown_kid(&set)
                .await
                .filter(|s| s.has_kid(kid))
                .ok_or(Some(Invalid::UnknownKey))?;
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.opts.issuer]);
        validation.set_audience(&self.opts.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let mut outcome = Err(Some(Invalid::WrongAlgorithm));
        let candidates = set
            .keys
            .iter()
            .filter(|k| header.kid.is_none() || k.kid == header.kid)
            .filter(|k| k.algorithms.contains(&header.alg));
        for key in candidates {
            match decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => outcome = Err(Some(Invalid::from_kind(e.kind()))),
            }
        }
        outcome
    }

    /// A response with a `Bearer` challenge naming the metadata (and the scopes needed).
    fn challenge(&self, status: StatusCode, error: Option<(&str, &str)>, body: &str) -> Response {
        let mut params = Vec::new();
        if let Some((code, description)) = error {
            params.push(format!("error=\"{code}\""));
            params.push(format!("error_description=\"{description}\""));
        }
        if !self.opts.required_scopes.is_empty() {
            params.push(format!("scope=\"{}\"", self.opts.required_scopes.join(" ")));
        }
        params.push(format!("resource_metadata=\"{}\"", self.metadata_url));
        let mut response = (status, body.to_owned()).into_response();
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", params.join(", "))) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Scopes from `scope` (RFC 9068: space-separated) and `scp` (a string or a list, as some
/// identity providers send).
fn granted_scopes(claims: &Map<String, Value>) -> Vec<&str> {
    let mut out = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => out.extend(s.split_whitespace()),
            Some(Value::Array(list)) => out.extend(list.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    out
}

/// The one Smooth key the user's claim maps to, or the 403 text. A list claim (such as
/// `groups`) may hold several values; exactly one key must match, so a user is never billed
/// to an account by the accident of map order.
fn billed_key(by: &KeyByClaim, claims: &Map<String, Value>) -> Result<ApiKey, String> {
    let values: Vec<String> = match claims.get(&by.claim) {
        Some(Value::Array(list)) => list.iter().filter_map(scalar).collect(),
        Some(value) => scalar(value).into_iter().collect(),
        None => Vec::new(),
    };
    let mut matched = HashMap::new();
    for key in values.iter().filter_map(|v| by.keys.get(v)) {
        matched.insert(key.account_id(), key);
    }
    let claim = &by.claim;
    let mut keys = matched.into_values();
    match (keys.next(), keys.next()) {
        (Some(key), None) => Ok(key.clone()),
        (None, _) => Err(format!(
            "Forbidden: your sign-in's `{claim}` claim maps to no Smooth key on this server; \
             ask its operator to add your value to --key-map"
        )),
        (Some(_), Some(_)) => Err(format!(
            "Forbidden: your sign-in's `{claim}` claim maps to more than one Smooth key on this \
             server, so which account to bill is unclear; ask its operator to map only one of \
             your values in --key-map"
        )),
    }
}

/// A claim value as map key: strings as they are, numbers and booleans as written.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_claim(pairs: &[(&str, &str)]) -> KeyByClaim {
        KeyByClaim {
            claim: "groups".into(),
            keys: Arc::new(
                pairs
                    .iter()
                    .map(|(v, k)| ((*v).to_owned(), ApiKey::new(*k).expect("key")))
                    .collect(),
            ),
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn scopes_come_from_scope_and_scp() {
        let c = claims(json!({"scope": "a b", "scp": ["c"]}));
        assert_eq!(granted_scopes(&c), ["a", "b", "c"]);
        assert!(granted_scopes(&claims(json!({}))).is_empty());
    }

    #[test]
    fn a_claim_must_map_to_exactly_one_key() {
        let by = by_claim(&[
            ("sales", "key-sales"),
            ("eng", "key-eng"),
            ("ops", "key-eng"),
        ]);
        let want = ApiKey::new("key-sales").expect("key").account_id();
        let got = billed_key(&by, &claims(json!({"groups": ["x", "sales"]}))).expect("mapped");
        assert!(got.account_id() == want);
        // Two values, one key: not ambiguous.
        assert!(billed_key(&by, &claims(json!({"groups": ["eng", "ops"]}))).is_ok());
        let none = billed_key(&by, &claims(json!({"groups": ["x"]}))).expect_err("unmapped");
        assert!(none.contains("`groups`") && none.contains("--key-map"));
        assert!(billed_key(&by, &claims(json!({}))).is_err());
        assert!(billed_key(&by, &claims(json!({"groups": ["sales", "eng"]}))).is_err());
        let msg = billed_key(&by, &claims(json!({"groups": "x"}))).expect_err("unmapped");
        assert!(!msg.contains("key-sales"), "never a key in the message");
    }
}
