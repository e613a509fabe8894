//! Property tests of the event cursor and de-duplication: whatever order, repetition and
//! timestamps Smooth's polls carry, the cursor only moves forward, to the newest timestamp
//! seen, and each action's result is taken from the first event that carries its id.

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
            let before = w.state().cursor;
            for ev in &poll {
                if let Some(ts) = ev.timestamp {
                    newest = newest.max(ts);
                }
                if let Some(id) = &ev.id {
                    first.entry(id.clone()).or_insert_with(|| ev.payload["output"].clone());
                }
            }
            w.absorb(response(poll));
            let st = w.state();
            prop_assert!(st.cursor >= before, "the cursor went back");
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
        // Only the actions this process sent are filed.
        prop_assert_eq!(st.actions.len(), expected.len());
    }
}
