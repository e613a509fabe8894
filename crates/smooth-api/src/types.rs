//! Wire types of the Smooth REST API: requests, tasks, events, profiles, extensions.
//!
//! Requests send only the fields that are set, so Smooth applies its own defaults.
//! Responses tolerate unknown fields: the server adds fields over time.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /task`. `task: None` opens an interactive session.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TaskRequest {
    /// What the agent should do, in plain words. Serialized even when `None`: a null task
    /// is what opens a session.
    pub task: Option<String>,
    /// A JSON Schema the task's output must follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_model: Option<Value>,
    /// The page to start on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Your own data, kept with the task and shown to the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Ids of uploaded files ([`SmoothClient::upload_file`](crate::SmoothClient::upload_file))
    /// the agent may use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// Which agent runs the task (Smooth's default when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The most steps the agent may take (each costs credits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u32>,
    /// `desktop` or `mobile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// URL patterns the browser may visit; others are blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_urls: Option<Vec<String>>,
    /// Record a video of the browser (`TaskResponse::recording_url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_recording: Option<bool>,
    /// A browser profile to start from ([`SmoothClient::create_profile`](crate::SmoothClient::create_profile)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// Use the profile without saving changes back to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_read_only: Option<bool>,
    /// Make the browser harder to tell from a person's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_stealth: Option<bool>,
    /// A proxy for the browser's traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_server: Option<String>,
    /// The proxy's user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_username: Option<String>,
    /// The proxy's password (a secret: never logged by this crate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_password: Option<String>,
    /// Block ads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_adblock: Option<bool>,
    /// Let the agent solve captchas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_captcha_solver: Option<bool>,
    /// Smooth's built-in tools to enable, with their options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_tools: Option<Map<String, Value>>,
    /// Tools of your own the agent may call (answered through `tool_call` events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_tools: Option<Vec<CustomTool>>,
    /// Features Smooth is still trying out, passed through as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experimental_features: Option<Value>,
    /// Ids of uploaded browser extensions to install.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<String>>,
    /// Draw the mouse cursor in the live view and recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_cursor: Option<bool>,
    /// Client certificates the browser presents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Vec<Certificate>>,
}

/// A client certificate: a base64 .p12 file and its password. Both are secrets.
#[derive(Clone, Serialize, PartialEq)]
pub struct Certificate {
    /// The `.p12` file, base64-encoded.
    pub file: String,
    /// Its password, if it has one.
    pub password: Option<String>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certificate(***)")
    }
}

/// A tool of your own that the agent may call; calls arrive as `tool_call` events and
/// are answered with a `tool_call` event of the same id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomTool {
    /// The name the agent calls it by.
    pub name: String,
    /// What it does, for the agent.
    pub description: String,
    /// A JSON Schema of its arguments.
    pub inputs: Value,
    /// What it returns, in words.
    pub output: String,
}

/// Where a task or session is in its life; the last three are final.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Queued for a browser.
    #[default]
    Waiting,
    /// A browser is working on it (a session stays here until closed).
    Running,
    /// Finished; `output` holds the result.
    Done,
    /// Ended in failure; `output` says why.
    Failed,
    /// Cancelled, or the session was closed.
    Cancelled,
}

impl TaskStatus {
    /// Every status, in the order of a task's life.
    pub const ALL: [Self; 5] = [
        Self::Waiting,
        Self::Running,
        Self::Done,
        Self::Failed,
        Self::Cancelled,
    ];

    /// `done`, `failed` or `cancelled`: nothing will change any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    /// The wire name (as serde writes it; a test keeps the two in step).
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

/// A plain string enum: the derive would turn the variants' docs into a `oneOf` of
/// described constants, several times the size of what tool schemas need.
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for TaskStatus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TaskStatus".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names = Self::ALL.map(Self::as_str);
        schemars::json_schema!({"type": "string", "enum": names})
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
    /// The task (or session) id.
    pub id: String,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// The result once done (text, or JSON following `response_model`), or why it failed.
    #[serde(default)]
    pub output: Option<Value>,
    /// Credits spent so far.
    #[serde(default)]
    pub credits_used: Option<f64>,
    /// `desktop` or `mobile`.
    #[serde(default)]
    pub device: Option<String>,
    /// A page showing the browser live, while it runs.
    #[serde(default)]
    pub live_url: Option<String>,
    /// `None` = not ready yet, `Some("")` = there is none.
    #[serde(default)]
    pub recording_url: Option<String>,
    /// Only present when asked for; `None` = not ready, `Some("")` = nothing downloaded.
    #[serde(default)]
    pub downloads_url: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: Option<f64>,
    /// Events after the requested `event_t` cursor ([`SmoothClient::get_task`](crate::SmoothClient::get_task)).
    #[serde(default)]
    pub events: Option<Vec<TaskEvent>>,
}

/// An event in either direction; `timestamp` is epoch milliseconds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TaskEvent {
    /// `browser_action` (goto, extract, evaluate_js), `session_action` (run_task, close),
    /// `tool_call`, ...
    pub name: String,
    /// What to do (`{"name", "input"}`) or, coming back, its result (`{"code", "output"}`).
    #[serde(default)]
    pub payload: Value,
    /// Set it when sending: the answer carries the same id, and a retry cannot act twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// `{"id": ...}`: what creating an event, file or extension answers.
#[derive(Debug, Deserialize)]
pub(crate) struct IdResponse {
    pub(crate) id: String,
}

/// A profile as newer servers list it; old servers only give ids.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Profile {
    /// The profile id (`TaskRequest::profile_id`).
    pub id: String,
    /// Sites it holds cookies for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_domains: Option<Vec<String>>,
    /// How many cookies it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_count: Option<u64>,
    /// Its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_size_bytes: Option<u64>,
    /// When a session last saved into it, as Smooth sends it.
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

/// An uploaded browser extension.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Extension {
    /// The extension id (`TaskRequest::extensions`).
    pub id: String,
    /// The name it was uploaded under.
    #[serde(default)]
    pub file_name: Option<String>,
    /// When it was uploaded, as Smooth sends it.
    #[serde(default)]
    pub creation_time: Option<Value>,
}

/// The result of an action or session task, as carried by an event payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome {
    /// 200 on success; 400 or 500 when the action failed.
    pub code: i64,
    /// The result, or on failure the error message.
    pub output: Value,
    /// Credits the action cost, when reported.
    pub credits_used: Option<f64>,
    /// Seconds the action took, when reported.
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

    /// Whether the action succeeded (code 200).
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
    fn status_names_match_the_wire() {
        for s in TaskStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
            assert_eq!(
                serde_json::from_value::<TaskStatus>(json!(s.to_string())).unwrap(),
                s
            );
        }
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
