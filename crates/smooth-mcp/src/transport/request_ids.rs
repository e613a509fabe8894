//! Request ids in flight, so a second request reusing one is refused instead of lost.
//!
//! rmcp 3.11 keys each request it is serving by its id (`local_ct_pool` in
//! `service.rs`): a second request with the id of one still running replaces the first's
//! entry, the first answer takes it out, and the second answer is then dropped as "for a
//! cancelled request" — the client waits forever. MCP forbids reusing an id in a session,
//! but a hostile or buggy client must get an error, not a hang. The guards in front of rmcp
//! admit each request here and answer a reused id with `-32600` themselves.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use rmcp::model::ErrorCode;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

/// The ids in flight, each under its scope (the HTTP session; one scope on stdio).
#[derive(Debug, Default, Clone)]
pub struct InFlight(Arc<Mutex<HashSet<String>>>);

/// What the guards need of a message: its id, and whether it is a request, a response or a
/// cancellation. Unknown fields and large params are skipped, not built.
#[derive(Deserialize)]
struct Head {
    id: Option<Value>,
    method: Option<String>,
    result: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
    params: Option<CancelParams>,
}

#[derive(Deserialize)]
struct CancelParams {
    #[serde(rename = "requestId")]
    request_id: Option<Value>,
}

/// A request admitted under a scope; [`InFlight::done`] with it when its answer is out.
#[derive(Debug)]
pub struct Admitted(String);

impl InFlight {
    /// For a message on its way to rmcp: `Ok(Some(_))` for an admitted request, `Ok(None)`
    /// for anything else, `Err(answer)` when its id is already in flight in `scope`.
    /// A cancellation frees the id it names (rmcp forgets it too).
    pub fn admit(&self, scope: &str, body: &[u8]) -> Result<Option<Admitted>, Value> {
        let Ok(head) = serde_json::from_slice::<Head>(body) else {
            return Ok(None);
        };
        match (head.method.as_deref(), head.id) {
            (Some("notifications/cancelled"), None) => {
                if let Some(id) = head.params.and_then(|p| p.request_id) {
                    self.0.lock().remove(&key(scope, &id));
                }
                Ok(None)
            }
            (Some(_), Some(id)) => {
                let k = key(scope, &id);
                if self.0.lock().insert(k.clone()) {
                    Ok(Some(Admitted(k)))
                } else {
                    Err(json!({
                        "jsonrpc": "2.0",
                        "id": id,
                        "error": {
                            "code": ErrorCode::INVALID_REQUEST.0,
                            "message": "Invalid request: a request with this id is still in \
                                        flight; give each request its own id",
                        },
                    }))
                }
            }
            _ => Ok(None),
        }
    }

    /// For a line rmcp wrote: a response frees its id.
    pub fn answered(&self, scope: &str, line: &[u8]) {
        if let Ok(Head {
            id: Some(id),
            method: None,
            result,
            error,
            ..
        }) = serde_json::from_slice::<Head>(line)
            && (result.is_some() || error.is_some())
        {
            self.0.lock().remove(&key(scope, &id));
        }
    }

    /// The admitted request's answer has been sent in full (or its stream closed).
    pub fn done(&self, admitted: &Admitted) {
        self.0.lock().remove(&admitted.0);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().len()
    }
}

/// `1` and `"1"` are different ids: the key keeps the JSON spelling.
fn key(scope: &str, id: &Value) -> String {
    format!("{scope}\u{0}{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_id_is_refused_until_answered_or_cancelled() {
        let ids = InFlight::default();
        let req = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#;
        assert!(matches!(ids.admit("", req), Ok(Some(_))));
        let refused = ids.admit("", req).unwrap_err();
        assert_eq!(refused["id"], 1);
        assert_eq!(refused["error"]["code"], -32600);
        // Same id, other session; same number as a string: both fine.
        assert!(matches!(ids.admit("s2", req), Ok(Some(_))));
        let as_text = br#"{"jsonrpc":"2.0","id":"1","method":"ping"}"#;
        assert!(matches!(ids.admit("", as_text), Ok(Some(_))));

        ids.answered("", br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        assert!(matches!(ids.admit("", req), Ok(Some(_))));
        // A progress notification or a request from the server frees nothing.
        ids.answered("", br#"{"jsonrpc":"2.0","id":1,"method":"roots/list"}"#);
        assert!(ids.admit("", req).is_err());

        let cancel =
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#;
        assert!(matches!(ids.admit("", cancel), Ok(None)));
        let again = ids.admit("", req).unwrap().unwrap();
        ids.done(&again);
        ids.answered(
            "s2",
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}"#,
        );
        ids.answered("", br#"{"jsonrpc":"2.0","id":"1","result":{}}"#);
        assert_eq!(ids.len(), 0);
    }
}
