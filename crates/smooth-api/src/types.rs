//! Wire types of the Smooth REST API (`shared/smooth-api.md`).
//!
//! Requests send only the fields that are set, so Smooth applies its own defaults.
//! Responses tolerate unknown fields: the server adds fields over time.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /task`. `task: None` opens an interactive session.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TaskRequest {
    /// Serialized even when `None`: a null task is what opens a session.
    pub task: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_model: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_recording: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_stealth: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_adblock: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_captcha_solver: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_tools: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_tools: Option<Vec<CustomTool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experimental_features: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_cursor: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Vec<Certificate>>,
}

/// A client certificate: a base64 .p12 file and its password. Both are secrets.
#[derive(Clone, Serialize, PartialEq)]
pub struct Certificate {
    pub file: String,
    pub password: Option<String>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certificate(***)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomTool {
    pub name: String,
    pub description: String,
    pub inputs: Value,
    pub output: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    #[default]
    Waiting,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task or session as Smooth reports it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct TaskResponse {
    pub id: String,
    pub status: TaskStatus,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub credits_used: Option<f64>,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub live_url: Option<String>,
    /// `None` = not ready yet, `Some("")` = there is none.
    #[serde(default)]
    pub recording_url: Option<String>,
    /// Only present when asked for; `None` = not ready, `Some("")` = nothing downloaded.
    #[serde(default)]
    pub downloads_url: Option<String>,
    #[serde(default)]
    pub created_at: Option<f64>,
    #[serde(default)]
    pub events: Option<Vec<TaskEvent>>,
}

/// An event in either direction; `timestamp` is epoch milliseconds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TaskEvent {
    pub name: String,
    #[serde(default)]
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct IdResponse {
    pub id: String,
}

/// A profile as newer servers list it; old servers only give ids.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Profile {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_domains: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_saved_at: Option<Value>,
}

/// `GET /profile`: a list of objects, or the legacy `{"profile_ids": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ProfileList {
    Objects(Vec<Profile>),
    Legacy { profile_ids: Vec<String> },
}

impl ProfileList {
    pub(crate) fn into_profiles(self) -> Vec<Profile> {
        match self {
            Self::Objects(p) => p,
            Self::Legacy { profile_ids } => profile_ids
                .into_iter()
                .map(|id| Profile {
                    id,
                    ..Profile::default()
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Extension {
    pub id: String,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub creation_time: Option<Value>,
}

/// The result of an action or session task, as carried by an event payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome {
    pub code: i64,
    pub output: Value,
    pub credits_used: Option<f64>,
    pub duration_s: Option<f64>,
}

impl ActionOutcome {
    /// Accepts both the SDK's nested `{"output": data, "credits_used", "duration"}` and the
    /// docs' bare value.
    pub fn from_payload(payload: &Value) -> Self {
        let code = payload.get("code").and_then(Value::as_i64).unwrap_or(200);
        let raw = payload.get("output").cloned().unwrap_or(Value::Null);
        match raw {
            Value::Object(ref obj) if code == 200 && obj.contains_key("output") => Self {
                code,
                output: obj.get("output").cloned().unwrap_or(Value::Null),
                credits_used: obj.get("credits_used").and_then(Value::as_f64),
                duration_s: obj.get("duration").and_then(Value::as_f64),
            },
            other => Self {
                code,
                output: other,
                credits_used: None,
                duration_s: None,
            },
        }
    }

    pub fn is_success(&self) -> bool {
        self.code == 200
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_sends_only_what_is_set_but_always_task() {
        let v = serde_json::to_value(TaskRequest::default()).unwrap();
        assert_eq!(v, json!({"task": null}));
        let v = serde_json::to_value(TaskRequest {
            task: Some("t".into()),
            max_steps: Some(5),
            ..TaskRequest::default()
        })
        .unwrap();
        assert_eq!(v, json!({"task": "t", "max_steps": 5}));
    }

    #[test]
    fn response_tolerates_unknown_fields_and_missing_optionals() {
        let r: TaskResponse =
            serde_json::from_value(json!({"id": "-x", "status": "running", "brand_new": 1}))
                .unwrap();
        assert_eq!(r.id, "-x");
        assert_eq!(r.status, TaskStatus::Running);
        assert!(r.recording_url.is_none());
    }

    #[test]
    fn action_outcome_accepts_nested_and_bare() {
        let nested = ActionOutcome::from_payload(
            &json!({"code": 200, "output": {"output": {"a": 1}, "credits_used": 0.1, "duration": 2.0}}),
        );
        assert_eq!(nested.output, json!({"a": 1}));
        assert_eq!(nested.credits_used, Some(0.1));
        assert_eq!(nested.duration_s, Some(2.0));
        let bare = ActionOutcome::from_payload(&json!({"code": 200, "output": "title"}));
        assert_eq!(bare.output, json!("title"));
        let failed = ActionOutcome::from_payload(&json!({"code": 400, "output": "bad selector"}));
        assert!(!failed.is_success());
        assert_eq!(failed.output, json!("bad selector"));
    }

    #[test]
    fn profile_list_accepts_both_shapes() {
        let new: ProfileList =
            serde_json::from_value(json!([{"id": "p1", "cookie_count": 3}])).unwrap();
        assert_eq!(new.into_profiles()[0].cookie_count, Some(3));
        let old: ProfileList = serde_json::from_value(json!({"profile_ids": ["a", "b"]})).unwrap();
        let ids: Vec<_> = old.into_profiles().into_iter().map(|p| p.id).collect();
        assert_eq!(ids, ["a", "b"]);
    }
}
