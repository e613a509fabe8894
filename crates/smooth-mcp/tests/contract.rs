#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! Contract: every JSON body our client sends validates against the vendor's OpenAPI schema
//! for its route (fields the document lacks are allowed, as the document allows them).

mod support;

use serde_json::{Value, json};
use support::{Launch, fast_mock, spawn_against, start_mock};

fn openapi() -> Value {
    serde_json::from_str(include_str!("fixtures/smooth-openapi.json")).expect("OpenAPI parses")
}

/// A validator for one component, resolving `$ref`s within the document.
fn validator(doc: &Value, component: &str) -> jsonschema::Validator {
    let schema = json!({
        "$ref": format!("#/components/schemas/{component}"),
        "components": doc["components"],
    });
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn component_for(method: &str, path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("POST", ["task"]) => Some("TaskRequest"),
        ("POST", ["task", _, "event"]) => Some("TaskEvent"),
        ("POST", ["profile"]) => Some("ProfileRequest"),
        _ => None,
    }
}

#[tokio::test]
async fn every_request_body_matches_the_openapi_document() {
    let mock = start_mock(fast_mock()).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("client.p12");
    std::fs::write(&cert, b"p12").unwrap();
    let server = spawn_against(
        &mock,
        Launch {
            args: vec![
                "--client-certificate",
                cert.to_str().unwrap(),
                "--proxy-server",
                "socks5://proxy.example:1080",
                "--default-additional-tools",
                r#"{"screenshot": {"full_page": true}}"#,
            ],
            env: vec![("SMOOTH_MCP_CLIENT_CERTIFICATE_PASSWORD", "pw")],
            ..Launch::default()
        },
    )
    .await;

    server
        .ok(
            "run_browser_task",
            json!({
                "task": "Everything at once [mock:tool_call=unknown_tool]",
                "url": "https://example.com/start",
                "response_model": {"type": "object", "properties": {"a": {"type": "string"}}},
                "metadata": {"s": "x", "n": 1.5, "b": false},
                "max_steps": 12,
                "device": "desktop-lg",
                "allowed_urls": ["https://**.example.com/**"],
                "enable_recording": false,
                "agent": "smooth-lite",
                "wait_seconds": 20
            }),
        )
        .await;
    let s = server
        .ok(
            "open_session",
            json!({"url": "https://example.com", "device": "mobile"}),
        )
        .await;
    let id = s["session_id"].as_str().unwrap().to_owned();
    for action in [
        json!({"action": "goto", "url": "https://example.com/a"}),
        json!({"action": "extract", "schema": {"type": "object", "properties": {"t": {"type": "string"}}}, "prompt": "title"}),
        json!({"action": "evaluate_js", "js": "(args) => args.a + args.b", "args": {"a": 1, "b": 2}}),
        json!({"action": "run_task", "task": "look around", "max_steps": 4, "metadata": {"k": "v"}}),
        json!({"action": "close"}),
    ] {
        let mut call = action.clone();
        call["session_id"] = json!(id);
        server.ok("session_action", call).await;
    }

    let doc = openapi();
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    for req in mock.requests() {
        let Some(component) = component_for(&req.method, &req.path) else {
            continue;
        };
        let body = req
            .body
            .clone()
            .unwrap_or_else(|| panic!("{} {} has no JSON body", req.method, req.path));
        let v = validator(&doc, component);
        let errors: Vec<String> = v
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} {} does not match {component}: {errors:?}\n{body:#}",
            req.method,
            req.path
        );
        *checked.entry(component).or_default() += 1;
    }
    assert!(
        checked.get("TaskRequest").copied().unwrap_or(0) >= 2,
        "{checked:?}"
    );
    // goto, extract, evaluate_js, run_task, close and the tool_call answer.
    assert!(
        checked.get("TaskEvent").copied().unwrap_or(0) >= 6,
        "{checked:?}"
    );

    // The downloads archive is fetched from its presigned link (another host for Smooth),
    // never with the Smooth key; it is not part of the API document.
    let (archives, api): (Vec<_>, Vec<_>) = mock
        .requests()
        .into_iter()
        .partition(|r| r.path.starts_with("/_downloads/"));
    for req in &archives {
        assert_eq!(req.apikey, None, "the key went to the download host");
        assert_eq!(req.status, 200, "{}", req.path);
    }

    // Query parameters as the document defines them.
    for req in api.iter().filter(|r| r.method == "GET") {
        for pair in req.query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "event_t" => assert!(v.parse::<i64>().is_ok(), "event_t={v}"),
                "downloads" => assert_eq!(v, "true"),
                "l" => assert!((1..=128).contains(&v.parse::<u32>().unwrap())),
                "t" => assert!(v.parse::<f64>().is_ok()),
                other => panic!("unexpected query parameter {other} on {}", req.path),
            }
        }
    }
}
