#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! The Smooth client against the mock: what is retried, what never is, and how errors read.

use std::time::Duration;

use serde_json::json;
use smooth_api::{
    ApiKey, ClientConfig, RetryPolicy, SmoothClient, SmoothError, TaskEvent, TaskRequest,
};
use smooth_mock::{Fault, MockConfig, MockSmooth};

async fn setup() -> (MockSmooth, SmoothClient) {
    let mock = MockSmooth::start(MockConfig::default()).await.unwrap();
    let client = SmoothClient::new(ClientConfig {
        base_url: mock.base_url(),
        api_key: ApiKey::new("k"),
        request_timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
        },
        user_agent: None,
    })
    .unwrap();
    (mock, client)
}

fn task() -> TaskRequest {
    TaskRequest {
        task: Some("t".into()),
        ..TaskRequest::default()
    }
}

#[tokio::test]
async fn safe_requests_are_retried_on_5xx_and_429() {
    let (mock, client) = setup().await;
    let id = client.create_task(&task()).await.unwrap().id;
    let path = format!("/task/{id}");
    mock.inject_fault(Fault::new("GET", &path, 503).with_times(2));
    client
        .get_task(&id, 0, false)
        .await
        .expect("third try succeeds");
    assert_eq!(mock.count("GET", &path), 3);

    mock.inject_fault(Fault::new("GET", &path, 429).with_retry_after(1));
    client
        .get_task(&id, 0, false)
        .await
        .expect("after Retry-After");
    assert_eq!(mock.count("GET", &path), 5);

    // An event carrying our own id is safe to send again.
    let events = format!("/task/{id}/event");
    mock.inject_fault(Fault::new("POST", &events, 502));
    let ev = TaskEvent {
        name: "tool_call".into(),
        payload: json!({"code": 400, "output": "no"}),
        id: Some("evt-1".into()),
        timestamp: None,
    };
    let _ = client.send_event(&id, &ev).await;
    assert_eq!(mock.count("POST", &events), 2);
}

#[tokio::test]
async fn creating_a_task_is_never_repeated_once_sent() {
    let (mock, client) = setup().await;
    mock.inject_fault(Fault::new("POST", "/task", 503));
    let e = client.create_task(&task()).await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(mock.count("POST", "/task"), 1);
}

#[tokio::test]
async fn a_retry_after_longer_than_we_would_wait_is_returned_at_once() {
    let (mock, client) = setup().await;
    mock.inject_fault(Fault::new("GET", "/profile", 429).with_retry_after(3600));
    let e = client.list_profiles().await.unwrap_err();
    assert_eq!(e.status(), Some(429));
    assert_eq!(mock.count("GET", "/profile"), 1);
}

#[tokio::test]
async fn errors_read_cleanly() {
    let (mock, client) = setup().await;
    let e = client
        .create_task(&TaskRequest {
            max_steps: Some(500),
            ..task()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SmoothError::Api { status: 422, message, .. } if message.contains("max_steps")),
        "{e}"
    );
    mock.inject_fault(Fault::new("GET", "/extension", 400).with_detail("<<raw>>"));
    let e = client.list_extensions().await.unwrap_err();
    assert!(e.to_string().contains("upstream exploded"), "{e}");
    let e = client.get_task("missing", 0, false).await.unwrap_err();
    assert_eq!(e.status(), Some(404));

    let no_key = client.with_key(None);
    assert!(matches!(
        no_key.list_profiles().await,
        Err(SmoothError::MissingKey)
    ));
    let bad = client.with_key(ApiKey::new("cmzr-forbidden"));
    assert_eq!(bad.list_profiles().await.unwrap_err().status(), Some(403));
}

#[tokio::test]
async fn an_unreachable_api_is_a_transport_error_without_secrets() {
    let client = SmoothClient::new(ClientConfig {
        base_url: "http://127.0.0.1:9/api/v1".into(),
        api_key: ApiKey::new("cmzr-very-secret"),
        request_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_retries: 1,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        },
        user_agent: None,
    })
    .unwrap();
    let e = client.create_task(&task()).await.unwrap_err();
    assert!(matches!(e, SmoothError::Transport(_)), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("very-secret"));
}

fn candidates(e: &SmoothError) -> Vec<String> {
    match e {
        SmoothError::CreationUnconfirmed { candidates, .. } => {
            candidates.iter().map(|t| t.id.clone()).collect()
        }
        other => panic!("expected CreationUnconfirmed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_lost_creation_answer_names_the_new_task_and_is_not_repeated() {
    use smooth_mock::FaultMode;
    let (mock, client) = setup().await;
    for mode in [
        FaultMode::ResetAfter,
        FaultMode::Truncate,
        FaultMode::Malformed,
        FaultMode::WrongShape,
    ] {
        let posts = mock.count("POST", "/task");
        mock.inject_fault(Fault::broken("POST", "/task", mode));
        let e = client.create_task(&task()).await.unwrap_err();
        assert_eq!(
            mock.count("POST", "/task"),
            posts + 1,
            "{mode:?}: sent once"
        );
        let ids = candidates(&e);
        let newest = client.list_tasks(None, Some(1)).await.unwrap()[0]
            .id
            .clone();
        assert_eq!(ids.first(), Some(&newest), "{mode:?}: {e}");
        // The window starts a few seconds before the request: older tasks of this test may
        // be named too (the watcher leaves out the ones it knows), never as certain.
        assert!(
            !e.is_transient(),
            "{mode:?}: never a reason to send it again"
        );
    }
}

#[tokio::test]
async fn a_stalled_creation_answer_names_the_task() {
    let mock = MockSmooth::start(MockConfig::default()).await.unwrap();
    let client = SmoothClient::new(ClientConfig {
        base_url: mock.base_url(),
        api_key: ApiKey::new("k"),
        request_timeout: Duration::from_millis(500),
        ..ClientConfig::default()
    })
    .unwrap();
    mock.inject_fault(
        Fault::broken("POST", "/task", smooth_mock::FaultMode::StallAfter)
            .with_delay(Duration::from_secs(2)),
    );
    let e = client.create_task(&task()).await.unwrap_err();
    assert!(
        matches!(&e, SmoothError::CreationUnconfirmed { cause, .. } if matches!(**cause, SmoothError::Timeout)),
        "{e:?}"
    );
    assert_eq!(candidates(&e).len(), 1);
    assert_eq!(mock.count("POST", "/task"), 1);
}

#[tokio::test]
async fn a_reset_before_the_task_was_made_names_no_candidate() {
    let (mock, client) = setup().await;
    mock.inject_fault(Fault::broken(
        "POST",
        "/task",
        smooth_mock::FaultMode::ResetBefore,
    ));
    let e = client.create_task(&task()).await.unwrap_err();
    assert!(candidates(&e).is_empty(), "{e}");
    assert_eq!(mock.count("POST", "/task"), 1);
    assert_eq!(
        mock.count("GET", "/task"),
        1,
        "one look at the account's tasks"
    );
}
