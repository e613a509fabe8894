//! Property tests of the event cursor and de-duplication: whatever order, repetition and
//! timestamps Smooth's polls carry, the cursor moves to the newest timestamp seen (never
//! back), a poll counts as news only when it brings something not seen before, and each
//! action's result is taken from the first event that carries its id.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::{ApiKey, ClientConfig, TaskEvent, TaskResponse, TaskStatus};

fn watch() -> Arc<TaskWatch> {
    let client = SmoothClient::new(ClientConfig {
        base_url: "http://127.0.0.1:9/api/v1".into(),
        api_key: ApiKey::new("k"),
        ..ClientConfig::default()
    })
    .expect("client");
    Watcher::new(Duration::from_secs(1), Duration::from_secs(600)).watch(&client, "t")
}

/// An event from a small pool of ids (so repeats are common), any timestamp or none, and a
/// payload that tells its copies apart.
fn event() -> impl Strategy<Value = TaskEvent> {
    (
        prop::option::weighted(0.9, 0u8..12),
        prop::option::weighted(0.9, -5i64..1_000_000),
        prop::sample::select(vec!["browser_action", "session_action", "log"]),
        any::<u16>(),
    )
        .prop_map(|(id, timestamp, name, copy)| TaskEvent {
            name: name.to_owned(),
            payload: json!({"code": 200, "output": copy}),
            id: id.map(|i| format!("ev-{i}")),
            timestamp,
        })
}

fn response(events: Vec<TaskEvent>) -> TaskResponse {
    TaskResponse {
        id: "t".into(),
        status: TaskStatus::Running,
        events: Some(events),
        ..TaskResponse::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn cursor_and_dedup_hold_for_any_poll_sequence(
        polls in prop::collection::vec(prop::collection::vec(event(), 0..8), 1..12),
        expected in prop::collection::hash_set(0u8..12, 0..12),
    ) {
        let w = watch();
        for i in &expected {
            w.expect_action(&format!("ev-{i}"));
        }
        let mut newest = 0i64;
        let mut first: HashMap<String, Value> = HashMap::new();
        for poll in polls {
            // News (what makes the poller ask again at once): an id not seen before, or an
            // event without one that is later than the cursor.
            let mut news = false;
            for ev in &poll {
                let before = newest;
                if let Some(ts) = ev.timestamp {
                    newest = newest.max(ts);
                }
                match &ev.id {
                    Some(id) if !first.contains_key(id) => {
                        news = true;
                        first.insert(id.clone(), ev.payload["output"].clone());
                    }
                    Some(_) => {}
                    None => news |= ev.timestamp.is_some_and(|ts| ts > before),
                }
            }
            prop_assert_eq!(w.absorb(response(poll)), news, "news");
            let st = w.state();
            prop_assert_eq!(st.cursor, newest);
            let ids: HashSet<&String> = first.keys().collect();
            prop_assert_eq!(st.seen.iter().collect::<HashSet<_>>(), ids);
        }
        let st = w.state();
        for i in &expected {
            let id = format!("ev-{i}");
            let got = st.action_result(&id).map(|o| o.output.clone());
            prop_assert_eq!(got, first.get(&id).cloned(), "action {}", id);
        }
    }
}
