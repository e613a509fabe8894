#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! The task watcher against the mock: many waiters share one poller; the cursor and event
//! de-duplication route every action result to its waiter.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use smooth_api::watch::{AgentTools, Watcher};
use smooth_api::{ApiKey, ClientConfig, SmoothClient, TaskRequest};
use smooth_mock::{MockConfig, MockSmooth};
use tokio::time::Instant;

async fn setup(cfg: MockConfig) -> (MockSmooth, SmoothClient, Watcher) {
    let mock = MockSmooth::start(cfg).await.unwrap();
    let client = SmoothClient::new(ClientConfig {
        base_url: mock.base_url(),
        api_key: ApiKey::new("k"),
        request_timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    })
    .unwrap();
    (
        mock,
        client,
        Watcher::new(Duration::from_millis(100), Duration::from_secs(600)),
    )
}

#[tokio::test]
async fn a_thousand_waiters_share_one_poller() {
    let (mock, client, watcher) = setup(MockConfig {
        waiting: Duration::from_millis(50),
        run_time: Duration::from_millis(1500),
        ..MockConfig::default()
    })
    .await;
    let req = TaskRequest {
        task: Some("shared".into()),
        ..TaskRequest::default()
    };
    let watch = watcher
        .start(&client, &req, AgentTools::default())
        .await
        .unwrap();
    let id = watch.id.clone();
    let mut waiters = Vec::new();
    for _ in 0..1000 {
        let w = watcher.watch(&client, &id);
        assert!(Arc::ptr_eq(&w, &watch), "one watch per task");
        waiters.push(tokio::spawn(async move {
            let mut interest = w.interest();
            interest
                .until(Instant::now() + Duration::from_secs(30), |st| {
                    st.is_terminal().then_some(())
                })
                .await
                .is_some()
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(watcher.active_pollers(), 1);
    for w in waiters {
        assert!(w.await.unwrap(), "every waiter saw the end");
    }
    let polls = mock.count("GET", &format!("/task/{id}"));
    // One poller at 100 ms for ~1.5 s, not a thousand.
    assert!(polls < 60, "{polls} polls for 1000 waiters");
    for _ in 0..100 {
        if watcher.active_pollers() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the poller did not stop after the end");
}

#[tokio::test]
async fn action_results_reach_their_waiters_under_long_poll() {
    let (mock, client, watcher) = setup(MockConfig {
        waiting: Duration::from_millis(20),
        long_poll: Duration::from_secs(5),
        ..MockConfig::default()
    })
    .await;
    let watch = watcher
        .start(&client, &TaskRequest::default(), AgentTools::default())
        .await
        .unwrap();
    let mut interest = watch.interest();
    interest
        .until(Instant::now() + Duration::from_secs(10), |st| {
            st.task.as_ref().and_then(|t| t.live_url.clone())
        })
        .await
        .expect("session running");
    // Several quick actions, so results share polls and, sometimes, milliseconds.
    let mut ids = Vec::new();
    for i in 0..5 {
        let js = format!("{i}");
        ids.push(
            watch
                .send_action(
                    "browser_action",
                    json!({"name": "evaluate_js", "input": {"js": js}}),
                )
                .await
                .unwrap(),
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let out = interest
            .until(Instant::now() + Duration::from_secs(10), |st| {
                st.action_result(id).cloned()
            })
            .await
            .expect("result arrives");
        assert!(out.is_success());
        assert_eq!(out.output, json!(i));
    }
    drop(interest);
    mock.shutdown().await;
}

/// A session with one finished action, so every poll answer has an event to repeat.
async fn session_with_an_event(
    client: &SmoothClient,
    watcher: &Watcher,
) -> Arc<smooth_api::watch::TaskWatch> {
    let session = watcher
        .start(client, &TaskRequest::default(), AgentTools::default())
        .await
        .unwrap();
    let mut interest = session.interest();
    let id = session
        .send_action(
            "browser_action",
            json!({"name": "evaluate_js", "input": {"js": "1 + 1"}}),
        )
        .await
        .unwrap();
    interest
        .until(Instant::now() + Duration::from_secs(10), |st| {
            st.action_result(&id).cloned()
        })
        .await
        .expect("the action's result arrives");
    session
}

#[tokio::test]
async fn answers_that_only_repeat_seen_events_are_paced_not_repolled_at_once() {
    let (mock, client, watcher) = setup(MockConfig {
        waiting: Duration::from_millis(10),
        ..MockConfig::default()
    })
    .await;
    let session = session_with_an_event(&client, &watcher).await;
    let path = format!("/task/{}", session.id);
    mock.inject_fault(
        smooth_mock::Fault::broken("GET", &path, smooth_mock::FaultMode::ReplayEvents)
            .with_times(usize::MAX),
    );
    let before = mock.count("GET", &path);
    let started = Instant::now();
    let mut interest = session.interest();
    // Ten poll intervals of interest; a poller that re-polls on repeats makes thousands.
    interest
        .until(started + Duration::from_secs(1), |_| None::<()>)
        .await;
    let polls = mock.count("GET", &path) - before;
    let intervals = started.elapsed().as_secs_f64() / 0.1;
    assert!(
        (polls as f64) <= intervals + 3.0,
        "{polls} polls in {intervals:.0} poll intervals"
    );
    assert!(session.state().fatal.is_none());
}

#[tokio::test]
async fn a_truncated_or_mis_shaped_poll_answer_is_retried_not_fatal() {
    let (mock, client, watcher) = setup(MockConfig {
        waiting: Duration::from_millis(10),
        run_time: Duration::from_millis(300),
        ..MockConfig::default()
    })
    .await;
    let req = TaskRequest {
        task: Some("glitchy".into()),
        ..TaskRequest::default()
    };
    let watch = watcher
        .start(&client, &req, AgentTools::default())
        .await
        .unwrap();
    let path = format!("/task/{}", watch.id);
    for mode in [
        smooth_mock::FaultMode::Truncate,
        smooth_mock::FaultMode::Malformed,
        smooth_mock::FaultMode::WrongShape,
    ] {
        mock.inject_fault(smooth_mock::Fault::broken("GET", &path, mode));
    }
    let ended = watch
        .interest()
        .until(Instant::now() + Duration::from_secs(20), |st| {
            (st.is_terminal() || st.fatal.is_some()).then(|| st.fatal.is_none())
        })
        .await;
    assert_eq!(
        ended,
        Some(true),
        "the task's end was seen despite three bad answers"
    );
}

#[tokio::test]
async fn a_run_of_unreadable_poll_answers_stops_the_watch() {
    let (mock, client, watcher) = setup(MockConfig {
        waiting: Duration::from_millis(10),
        run_time: Duration::from_secs(60),
        ..MockConfig::default()
    })
    .await;
    let req = TaskRequest {
        task: Some("api changed".into()),
        ..TaskRequest::default()
    };
    let watch = watcher
        .start(&client, &req, AgentTools::default())
        .await
        .unwrap();
    let path = format!("/task/{}", watch.id);
    mock.inject_fault(
        smooth_mock::Fault::broken("GET", &path, smooth_mock::FaultMode::WrongShape)
            .with_times(usize::MAX),
    );
    let fatal = watch
        .interest()
        .until(Instant::now() + Duration::from_secs(30), |st| {
            st.fatal.clone()
        })
        .await
        .expect("gives up");
    assert!(
        matches!(*fatal, smooth_api::SmoothError::Decode(_)),
        "{fatal}"
    );
    // The first answer plus the bounded retries, not one per millisecond.
    assert_eq!(mock.count("GET", &path), 6);
}

/// What an observer heard, in order.
#[derive(Default)]
struct Heard(std::sync::Mutex<Vec<String>>);

impl smooth_api::observe::Observer for Heard {
    fn exchange(&self, e: &smooth_api::observe::Exchange<'_>) {
        let status = e.status.map_or("none".to_owned(), |s| s.to_string());
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {} {status}", e.method, e.endpoint));
    }
    fn created(&self, session: bool) {
        self.0.lock().unwrap().push(format!("created {session}"));
    }
    fn ended(&self, status: smooth_api::TaskStatus, credits: Option<f64>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("ended {status:?} {}", credits.is_some()));
    }
}

#[tokio::test]
async fn the_observer_hears_templates_and_each_created_task_end_once() {
    let (_mock, client, watcher) = setup(MockConfig {
        waiting: Duration::from_millis(20),
        run_time: Duration::from_millis(200),
        ..MockConfig::default()
    })
    .await;
    let heard = Arc::new(Heard::default());
    let client = client.with_observer(heard.clone());
    let req = TaskRequest {
        task: Some("observed".into()),
        ..TaskRequest::default()
    };
    let watch = watcher
        .start(&client, &req, AgentTools::default())
        .await
        .unwrap();
    let id = watch.id.clone();
    watch
        .interest()
        .until(Instant::now() + Duration::from_secs(30), |st| {
            st.is_terminal().then_some(())
        })
        .await
        .expect("the task ends");
    drop(watch);
    // Looking again (a later get_task, a watch made anew) does not count the end twice;
    // nor does another process's watcher that only follows the task.
    watcher.watch(&client, &id).refresh(false).await.unwrap();
    let elsewhere = Watcher::new(Duration::from_millis(100), Duration::from_secs(600));
    elsewhere.watch(&client, &id).refresh(false).await.unwrap();

    let heard = heard.0.lock().unwrap().clone();
    assert_eq!(heard[0], "POST /task 200", "{heard:?}");
    assert_eq!(heard[1], "created false", "{heard:?}");
    let ends: Vec<&String> = heard.iter().filter(|h| h.starts_with("ended")).collect();
    assert_eq!(ends, ["ended Done true"], "{heard:?}");
    assert!(heard.iter().any(|h| h == "GET /task/{id} 200"), "{heard:?}");
    assert!(heard.iter().all(|h| !h.contains(&id)), "{heard:?}");
}
