//! `http = { url, method = "POST", headers = { NAME = "env:VAR" } }`: the input JSON as the
//! body, the JSON response as the answer.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use url::Url;

use super::{HeaderSource, OperatorToolsError, ToolAnswer, head_text};
use crate::secrets::MIN_SECRET_LEN;

/// The same cap as a command tool's stdout.
const MAX_BODY: usize = 1 << 20;
/// How much of an error body without a message field the agent sees.
const ERROR_TEXT: usize = 2048;

pub(super) struct HttpTool {
    url: Url,
    method: Method,
    headers: HeaderMap,
    /// `env:` header values, kept for the Redactor.
    secrets: Vec<(HeaderName, SecretString)>,
}

impl HttpTool {
    pub(super) fn new(
        tool: &str,
        url: &Url,
        method: &Method,
        headers: &[(HeaderName, HeaderSource)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, OperatorToolsError> {
        let mut map = HeaderMap::new();
        let mut secrets = Vec::new();
        for (name, source) in headers {
            let bad_value = || OperatorToolsError::HeaderValue {
                tool: tool.into(),
                header: name.to_string(),
            };
            let value = match source {
                HeaderSource::Literal(text) => {
                    HeaderValue::from_str(text).map_err(|_| bad_value())?
                }
                HeaderSource::Env(var) => {
                    let text = env(var).ok_or_else(|| OperatorToolsError::EnvUnset {
                        tool: tool.into(),
                        var: var.clone(),
                    })?;
                    if text.chars().count() < MIN_SECRET_LEN {
                        return Err(OperatorToolsError::ShortHeader {
                            tool: tool.into(),
                            header: name.to_string(),
                        });
                    }
                    let mut value = HeaderValue::from_str(&text).map_err(|_| bad_value())?;
                    value.set_sensitive(true);
                    secrets.push((name.clone(), SecretString::from(text)));
                    value
                }
            };
            map.insert(name.clone(), value);
        }
        Ok(Self {
            url: url.clone(),
            method: method.clone(),
            headers: map,
            secrets,
        })
    }

    pub(super) fn secret_headers(&self, tool: &str) -> Vec<(String, &SecretString)> {
        self.secrets
            .iter()
            .map(|(header, value)| (format!("{tool}.{header}"), value))
            .collect()
    }

    pub(super) async fn run(
        &self,
        client: &reqwest::Client,
        name: &str,
        timeout: Duration,
        input: &Value,
    ) -> ToolAnswer {
        let sent = client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .timeout(timeout)
            .json(input)
            .send()
            .await;
        // reqwest's own error text names the URL (it may carry a token); ours does not.
        let failed = |e: &reqwest::Error| {
            if e.is_timeout() {
                format!("tool {name} timed out after {} s", timeout.as_secs_f64())
            } else if e.is_connect() {
                format!("tool {name}: could not connect to its service (refused or unreachable)")
            } else {
                format!("tool {name}: the request to its service failed")
            }
        };
        let response = match sent {
            Ok(response) => response,
            Err(e) => return ToolAnswer::error(failed(&e)),
        };
        let status = response.status();
        let body = match crate::capped::read_capped(response, MAX_BODY).await {
            Ok(Some(body)) => body,
            Ok(None) => {
                return ToolAnswer::error(format!(
                    "tool {name}: the response is larger than {} MiB",
                    MAX_BODY >> 20
                ));
            }
            Err(e) => return ToolAnswer::error(failed(&e)),
        };
        answer(name, status, &body)
    }
}

fn answer(name: &str, status: StatusCode, body: &[u8]) -> ToolAnswer {
    if status.is_success() {
        return match serde_json::from_slice(body) {
            Ok(value) => ToolAnswer::ok(value),
            Err(_) => ToolAnswer::error(format!(
                "tool {name}: its service answered {} without JSON",
                status.as_u16()
            )),
        };
    }
    if status.is_client_error() {
        return ToolAnswer::error(format!(
            "tool {name}: {} {}",
            status.as_u16(),
            error_message(body)
        ));
    }
    if status.is_server_error() {
        return ToolAnswer::error(format!(
            "tool {name}: upstream error {} from its service",
            status.as_u16()
        ));
    }
    ToolAnswer::error(format!(
        "tool {name}: unexpected status {} from its service",
        status.as_u16()
    ))
}

/// The body's `message`, `detail` or `error` field, else the start of the body.
fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body)
        && let Some(field) = ["message", "detail", "error"]
            .iter()
            .find_map(|k| map.get(*k))
    {
        return match field {
            Value::String(s) => head_text(s, ERROR_TEXT).to_owned(),
            other => head_text(&other.to_string(), ERROR_TEXT).to_owned(),
        };
    }
    head_text(text.trim(), ERROR_TEXT).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap as AxumHeaders;
    use axum::routing::post;
    use axum::{Json, Router};
    use serde_json::json;

    /// A local service: `/echo` returns the body and the token header it saw, `/reject` a
    /// 422 with a message, `/boom` a 500, `/text` a 200 without JSON, `/hang` never answers.
    async fn service() -> std::net::SocketAddr {
        let app = Router::new()
            .route(
                "/echo",
                post(|headers: AxumHeaders, Json(body): Json<Value>| async move {
                    let token = headers
                        .get("x-token")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    Json(json!({"got": body, "token": token}))
                }),
            )
            .route(
                "/reject",
                post(|| async {
                    (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Json(json!({"message": "order A-1 not found"})),
                    )
                }),
            )
            .route(
                "/boom",
                post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops") }),
            )
            .route("/text", post(|| async { "plain" }))
            .route("/hang", post(std::future::pending::<()>));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn tool(url: &str) -> HttpTool {
        let headers = vec![(
            HeaderName::from_static("x-token"),
            HeaderSource::Env("CRM_TOKEN".into()),
        )];
        let env = |var: &str| (var == "CRM_TOKEN").then(|| "crm-secret-1".to_string());
        HttpTool::new(
            "crm",
            &Url::parse(url).unwrap(),
            &Method::POST,
            &headers,
            &env,
        )
        .unwrap()
    }

    async fn call(url: &str) -> ToolAnswer {
        call_within(url, Duration::from_secs(10)).await
    }

    async fn call_within(url: &str, timeout: Duration) -> ToolAnswer {
        let client = reqwest::Client::new();
        let input = json!({"order": "A-1"});
        tool(url).run(&client, "crm", timeout, &input).await
    }

    #[tokio::test]
    async fn json_in_json_out_with_env_headers() {
        let addr = service().await;
        let answer = call(&format!("http://{addr}/echo")).await;
        assert_eq!(
            answer,
            ToolAnswer::ok(json!({"got": {"order": "A-1"}, "token": "crm-secret-1"}))
        );
    }

    #[tokio::test]
    async fn client_errors_carry_the_message() {
        let addr = service().await;
        let answer = call(&format!("http://{addr}/reject")).await;
        assert_eq!(
            answer,
            ToolAnswer::error("tool crm: 422 order A-1 not found")
        );
    }

    #[tokio::test]
    async fn server_errors_and_non_json_say_so() {
        let addr = service().await;
        let boom = call(&format!("http://{addr}/boom")).await;
        assert_eq!(
            boom,
            ToolAnswer::error("tool crm: upstream error 500 from its service")
        );
        let text = call(&format!("http://{addr}/text")).await;
        assert_eq!(
            text,
            ToolAnswer::error("tool crm: its service answered 200 without JSON")
        );
    }

    #[tokio::test]
    async fn a_service_that_never_answers_times_out() {
        let addr = service().await;
        let answer = call_within(&format!("http://{addr}/hang"), Duration::from_secs(1)).await;
        assert_eq!(answer, ToolAnswer::error("tool crm timed out after 1 s"));
    }

    #[tokio::test]
    async fn a_refused_connection_says_so() {
        // A port that was just free: bound, then dropped.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let answer = call(&format!("http://127.0.0.1:{port}/echo")).await;
        assert_eq!(
            answer,
            ToolAnswer::error(
                "tool crm: could not connect to its service (refused or unreachable)"
            )
        );
    }

    #[test]
    fn env_headers_are_secrets_for_the_redactor() {
        let tool = tool("http://127.0.0.1:1/x");
        let pairs = tool.secret_headers("crm");
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].0, "crm.x-token");
        assert!(!format!("{:?}", tool.headers).contains("crm-secret"));
    }

    #[test]
    fn error_messages_come_from_known_fields() {
        assert_eq!(error_message(br#"{"detail": "bad"}"#), "bad");
        assert_eq!(error_message(br#"{"error": {"code": 1}}"#), r#"{"code":1}"#);
        assert_eq!(error_message(b"  plain text "), "plain text");
    }
}
