#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly
//! OAuth sign-in over HTTP, black-box: the real binary against a local issuer made here (an
//! EC P-256 key pair, its metadata and JWKS served by a small axum app, tokens signed with
//! it) and the in-process mock Smooth API. Tokens travel in the `Authorization` header (the
//! authorization-code dance itself is the client's and the issuer's business).

mod support;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use smooth_mock::MockSmooth;
use support::{capture_stderr, fast_mock, text};
use tokio::process::{Child, Command};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
const SCOPE: &str = "smooth:browse";
const STATIC_TOKEN: &str = "static-token-for-scripts-0123456789";

/// A signing key of the test issuer.
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn generate(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            encoding,
            jwk: serde_json::to_value(jwk).unwrap(),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// The local authorization server: RFC 8414 metadata and a JWKS that can be changed, with
/// a count of JWKS fetches.
struct Issuer {
    url: String,
    jwks: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct IssuerState {
    url: String,
    jwks: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start(keys: &[&SigningKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/realms/team", listener.local_addr().unwrap());
        let state = IssuerState {
            url: url.clone(),
            jwks: Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect())),
            fetches: Arc::default(),
        };
        let app = Router::new()
            .route(
                "/.well-known/oauth-authorization-server/realms/team",
                get(|State(s): State<IssuerState>| async move {
                    axum::Json(json!({
                        "issuer": s.url,
                        "jwks_uri": format!("{}/keys", s.url),
                        "authorization_endpoint": format!("{}/authorize", s.url),
                        "token_endpoint": format!("{}/token", s.url),
                    }))
                }),
            )
            .route(
                "/realms/team/keys",
                get(|State(s): State<IssuerState>| async move {
                    s.fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = s.jwks.lock().unwrap().clone();
                    axum::Json(json!({ "keys": keys }))
                }),
            )
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            jwks: state.jwks,
            fetches: state.fetches,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Server {
    /// Held so the server is killed when the test ends.
    _child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn resource(&self) -> String {
        format!("{}/mcp", self.base())
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Claims the server accepts, with these changes.
    fn claims(&self, issuer: &Issuer, changes: Value) -> Value {
        let mut claims = json!({
            "iss": issuer.url,
            "aud": self.resource(),
            "sub": "user-1",
            "exp": now() + 600,
            "iat": now(),
            "scope": format!("openid {SCOPE}"),
        });
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    /// A raw `initialize` with this bearer token (none: no header).
    async fn post(&self, token: Option<&str>, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .post(self.resource())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(INIT);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    async fn client(
        &self,
        token: &str,
        headers: &[(&'static str, &str)],
    ) -> RunningService<RoleClient, ()> {
        let custom: HashMap<_, _> = headers
            .iter()
            .map(|(k, v)| {
                (
                    axum::http::HeaderName::from_static(k),
                    axum::http::HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect();
        let config = StreamableHttpClientTransportConfig::with_uri(self.resource())
            .auth_header(token)
            .custom_headers(custom);
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("client initializes")
    }
}

/// Calls `list_profiles` as the holder of `token` (plus `headers`) and checks that every
/// request it made to Smooth carried `billed` as its key.
async fn list_profiles_billed_to(
    server: &Server,
    mock: &MockSmooth,
    token: &str,
    headers: &[(&'static str, &str)],
    billed: &str,
) {
    mock.reset();
    let client = server.client(token, headers).await;
    let r = client.call_tool(list_profiles()).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    client.cancel().await.unwrap();
    let keys: Vec<Option<String>> = mock.requests().into_iter().map(|r| r.apikey).collect();
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| k.as_deref() == Some(billed)),
        "{keys:?}"
    );
}

/// The binary on a free port with OAuth against `issuer`, plus `args` and `env`.
async fn start(mock: &MockSmooth, issuer: &Issuer, args: &[&str], env: &[(&str, &str)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let public = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(support::BIN);
    cmd.args([
        "--transport",
        "http",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .args(["--poll-interval", "0.1", "--log-level", "debug"])
    .args(["--oauth-issuer", &issuer.url, "--public-url", &public])
    .args(args)
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .env("HOME", std::env::var("HOME").unwrap_or_default())
    .env("SMOOTH_BASE_URL", mock.base_url())
    .envs(env.iter().copied())
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let stderr = capture_stderr(child.stderr.take().unwrap());
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("server exited early ({status}): {}", stderr.lock().unwrap());
        }
        if let Ok(r) = http.get(format!("{public}/healthz")).send().await
            && r.status() == 200
        {
            return Server {
                _child: child,
                port,
                stderr,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not come up: {}", stderr.lock().unwrap());
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_metadata_names_the_issuer_and_401_points_at_it() {
    let key = SigningKey::generate("k1");
    let issuer = Issuer::start(&[&key]).await;
    let mock = MockSmooth::start(fast_mock()).await.unwrap();
    let server = start(
        &mock,
        &issuer,
        &["--oauth-required-scope", SCOPE],
        &[("SMOOTH_API_KEY", "k")],
    )
    .await;

    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", server.base());
    for url in [
        metadata_url.clone(),
        format!("{}/.well-known/oauth-protected-resource", server.base()),
    ] {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["resource"], server.resource());
        assert_eq!(doc["authorization_servers"], json!([issuer.url]));
        assert_eq!(doc["scopes_supported"], json!([SCOPE]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }

    let r = server.post(None, &[]).await;
    assert_eq!(r.status(), 401);
    let header = challenge(&r);
    assert!(header.starts_with("Bearer "), "{header}");
    assert!(
        header.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{header}"
    );
    assert!(header.contains(&format!("scope=\"{SCOPE}\"")), "{header}");
    assert!(
        !header.contains("error="),
        "no error before a token was sent: {header}"
    );
    assert_eq!(mock.requests().len(), 0);
}

#[tokio::test]
async fn bearer_jwts_are_checked() {
    let key = SigningKey::generate("k1");
    let stranger = SigningKey::generate("not-published");
    let issuer = Issuer::start(&[&key]).await;
    let mock = MockSmooth::start(fast_mock()).await.unwrap();
    let server = start(
        &mock,
        &issuer,
        &[
            "--oauth-required-scope",
            SCOPE,
            "--auth-token",
            STATIC_TOKEN,
        ],
        &[("SMOOTH_API_KEY", "k")],
    )
    .await;

    let valid = key.sign(&server.claims(&issuer, json!({})));
    assert_eq!(server.post(Some(&valid), &[]).await.status(), 200);
    // A static token keeps working alongside, for scripts.
    assert_eq!(server.post(Some(STATIC_TOKEN), &[]).await.status(), 200);
    // Clock skew within the leeway is fine.
    let skewed = key.sign(&server.claims(&issuer, json!({"exp": now() - 5})));
    assert_eq!(server.post(Some(&skewed), &[]).await.status(), 200);

    let (head, rest) = valid.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
    sig[10] ^= 0x01;
    let tampered_signature = format!("{head}.{payload}.{}", URL_SAFE_NO_PAD.encode(&sig));
    let other_claims = server.claims(&issuer, json!({"sub": "admin"}));
    let tampered_payload = format!(
        "{head}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(other_claims.to_string())
    );
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let alg_none = format!("{none_header}.{payload}.");
    // HS256 "signed" with the public key's bytes: the classic key-confusion attack.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let public_bytes = key.jwk.to_string();
    let hmac = jsonwebtoken::encode(
        &hs,
        &server.claims(&issuer, json!({})),
        &EncodingKey::from_secret(public_bytes.as_bytes()).unwrap(),
    )
    .unwrap();

    let refused = [
        (
            "expired",
            key.sign(&server.claims(&issuer, json!({"exp": now() - 120}))),
            "expired",
        ),
        (
            "not yet valid",
            key.sign(&server.claims(&issuer, json!({"nbf": now() + 300}))),
            "nbf",
        ),
        (
            "wrong audience",
            key.sign(&server.claims(&issuer, json!({"aud": "https://other.example/mcp"}))),
            "aud",
        ),
        (
            "wrong issuer",
            key.sign(&server.claims(&issuer, json!({"iss": "https://evil.example"}))),
            "another issuer",
        ),
        (
            "no audience",
            key.sign(&server.claims(&issuer, json!({"aud": null}))),
            "lacks",
        ),
        (
            "unknown key",
            stranger.sign(&server.claims(&issuer, json!({}))),
            "does not publish",
        ),
        ("alg none", alg_none, "not a JWT"),
        ("tampered signature", tampered_signature, "signature"),
        ("tampered payload", tampered_payload, "signature"),
        ("HS256 with the public key", hmac, "alg"),
        ("not a JWT", "garbage".to_owned(), "not a JWT"),
    ];
    for (what, token, reason) in &refused {
        let r = server.post(Some(token), &[]).await;
        assert_eq!(r.status(), 401, "{what}");
        let header = challenge(&r);
        assert!(
            header.contains("error=\"invalid_token\""),
            "{what}: {header}"
        );
        assert!(header.contains(reason), "{what}: {header}");
        assert!(header.contains("resource_metadata="), "{what}: {header}");
    }

    let no_scope = key.sign(&server.claims(&issuer, json!({"scope": "openid"})));
    let r = server.post(Some(&no_scope), &[]).await;
    assert_eq!(r.status(), 403);
    let header = challenge(&r);
    assert!(header.contains("error=\"insufficient_scope\""), "{header}");
    assert!(header.contains(&format!("scope=\"{SCOPE}\"")), "{header}");
    // `scp` as a list counts too.
    let scp = key.sign(&server.claims(&issuer, json!({"scope": null, "scp": [SCOPE]})));
    assert_eq!(server.post(Some(&scp), &[]).await.status(), 200);

    // Every refusal above is counted as an auth one; a 403 for a scope is not a Host check.
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", server.base()))
        .bearer_auth(STATIC_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rejected = |reason: &str| {
        let name = format!("smooth_mcp_rejected_requests_total{{reason=\"{reason}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name.as_str()))
            .map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
    };
    assert!(rejected("auth") >= (refused.len() + 1) as f64, "{metrics}");
    assert_eq!(rejected("host"), 0.0, "{metrics}");

    // A signed-in client can work.
    let client = server.client(&valid, &[]).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "run_browser_task"));
    client.cancel().await.unwrap();

    let log = server.stderr();
    for (_, token, _) in &refused {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            signature.is_empty() || !log.contains(signature),
            "a token reached the log"
        );
    }
    assert!(!log.contains(&valid) && !log.contains(STATIC_TOKEN));
    assert_eq!(
        mock.requests().len(),
        0,
        "no rejected request reached Smooth"
    );
}

#[tokio::test]
async fn an_unknown_key_id_refreshes_the_keys_at_most_once_in_a_while() {
    let old = SigningKey::generate("old");
    let issuer = Issuer::start(&[&old]).await;
    let mock = MockSmooth::start(fast_mock()).await.unwrap();
    let server = start(&mock, &issuer, &[], &[("SMOOTH_API_KEY", "k")]).await;
    let token = old.sign(&server.claims(&issuer, json!({})));
    assert_eq!(server.post(Some(&token), &[]).await.status(), 200);
    let after_first = issuer.fetches();
    assert_eq!(after_first, 1, "keys fetched once and cached");

    // The issuer rotates: a token signed with the new key makes the server look again.
    let new = SigningKey::generate("new");
    issuer.jwks.lock().unwrap().push(new.jwk.clone());
    let rotated = new.sign(&server.claims(&issuer, json!({})));
    assert_eq!(server.post(Some(&rotated), &[]).await.status(), 200);
    assert_eq!(issuer.fetches(), 2);
    assert_eq!(server.post(Some(&token), &[]).await.status(), 200);

    // Made-up key ids cannot make the server hammer the issuer.
    for i in 0..5 {
        let stranger = SigningKey::generate(&format!("made-up-{i}"));
        let forged = stranger.sign(&server.claims(&issuer, json!({})));
        assert_eq!(server.post(Some(&forged), &[]).await.status(), 401);
    }
    assert_eq!(
        issuer.fetches(),
        2,
        "no refresh within the interval after the last one"
    );
}

#[tokio::test]
async fn a_claim_picks_the_smooth_key_calls_bill_to() {
    const SALES_KEY: &str = "sk-sales-3Jf8QwZp1x";
    const ENG_KEY: &str = "sk-eng-9Lk2RtYv7c";
    const OWN_KEY: &str = "sk-own-5Hb6NmXq4w";
    let key = SigningKey::generate("k1");
    let issuer = Issuer::start(&[&key]).await;
    let mock = MockSmooth::start(fast_mock()).await.unwrap();
    let server = start(
        &mock,
        &issuer,
        &[
            "--key-by-claim",
            "groups",
            "--key-map",
            "sales=KEY_SALES,engineering=KEY_ENG",
            "--client-keys",
        ],
        &[
            ("SMOOTH_API_KEY", "server-key-0"),
            ("KEY_SALES", SALES_KEY),
            ("KEY_ENG", ENG_KEY),
        ],
    )
    .await;

    let sales = key.sign(&server.claims(&issuer, json!({"groups": ["staff", "sales"]})));
    list_profiles_billed_to(&server, &mock, &sales, &[], SALES_KEY).await;
    let eng = key.sign(&server.claims(&issuer, json!({"groups": "engineering"})));
    list_profiles_billed_to(&server, &mock, &eng, &[], ENG_KEY).await;

    // Unmapped: refused, and nothing is billed to the server's own key.
    let nobody = key.sign(&server.claims(&issuer, json!({"groups": ["staff"]})));
    let r = server.post(Some(&nobody), &[]).await;
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("`groups`") && body.contains("--key-map"),
        "{body}"
    );
    let both = key.sign(&server.claims(&issuer, json!({"groups": ["sales", "engineering"]})));
    assert_eq!(server.post(Some(&both), &[]).await.status(), 403);

    // --client-keys still applies: the caller's own key wins over the mapping.
    list_profiles_billed_to(
        &server,
        &mock,
        &nobody,
        &[("x-smooth-api-key", OWN_KEY)],
        OWN_KEY,
    )
    .await;

    let log = server.stderr();
    for secret in [SALES_KEY, ENG_KEY, OWN_KEY, "server-key-0"] {
        assert!(!log.contains(secret), "{secret} reached the log");
    }
}

#[tokio::test]
async fn with_a_key_map_the_server_needs_no_key_of_its_own() {
    const SALES_KEY: &str = "sk-sales-7Tq2WcLm8d";
    let key = SigningKey::generate("k1");
    let issuer = Issuer::start(&[&key]).await;
    let mock = MockSmooth::start(fast_mock()).await.unwrap();
    let server = start(
        &mock,
        &issuer,
        &["--key-by-claim", "groups", "--key-map", "sales=KEY_SALES"],
        &[("KEY_SALES", SALES_KEY)],
    )
    .await;
    let sales = key.sign(&server.claims(&issuer, json!({"groups": "sales"})));
    list_profiles_billed_to(&server, &mock, &sales, &[], SALES_KEY).await;
    let log = server.stderr();
    assert!(!log.contains("no Smooth API key"), "{log}");
    assert!(!log.contains(SALES_KEY));
}

fn list_profiles() -> CallToolRequestParams {
    CallToolRequestParams::new("list_profiles").with_arguments(serde_json::Map::new())
}

#[tokio::test]
async fn a_key_map_naming_an_unset_variable_stops_the_start() {
    let out = Command::new(support::BIN)
        .args([
            "--transport",
            "http",
            "--public-url",
            "https://mcp.example.com",
        ])
        .args(["--oauth-issuer", "https://login.example.com"])
        .args([
            "--key-by-claim",
            "groups",
            "--key-map",
            "sales=NOT_SET_ANYWHERE",
        ])
        .env_clear()
        .env("SMOOTH_API_KEY", "k")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NOT_SET_ANYWHERE"), "{err}");
}

#[tokio::test]
async fn an_unreachable_issuer_is_503_not_a_pass() {
    let key = SigningKey::generate("k1");
    // An issuer on a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/realms/team", closed.local_addr().unwrap());
    drop(closed);
    let issuer = Issuer {
        url,
        jwks: Arc::default(),
        fetches: Arc::default(),
    };
    let mock = MockSmooth::start(fast_mock()).await.unwrap();
    let server = start(&mock, &issuer, &[], &[("SMOOTH_API_KEY", "k")]).await;
    let token = key.sign(&server.claims(&issuer, json!({})));
    for _ in 0..2 {
        let r = server.post(Some(&token), &[]).await;
        assert_eq!(r.status(), 503);
    }
    assert!(
        server
            .stderr()
            .contains("could not fetch the OAuth issuer's signing keys")
    );
}
