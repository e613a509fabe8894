//! Tools the agent may call that the server answers itself, without the model: the
//! operator's `[tools.*]` from the `--config` file (a program or an HTTP endpoint), plus the
//! name checks and the built-in `ask_user` declaration every agent tool shares.
//!
//! Operator tools run without a shell, in a clean environment, with a timeout. What the agent
//! sends them is trusted to the operator's program; their input, output and stderr are never
//! logged (only the tool name, the answer code and the time taken).

mod command;
mod http;
mod schema;

pub use schema::{check_env_name, check_inputs, check_name};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::HeaderName;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use smooth_api::CustomTool;
use smooth_api::watch::{AnswerFuture, ToolAnswer};
use url::Url;

use command::CommandTool;
use http::HttpTool;

/// The built-in agent tool that asks the user a question.
pub const ASK_USER: &str = "ask_user";

/// The declaration of `ask_user {question, choices?}` sent to Smooth.
pub fn ask_user_tool() -> CustomTool {
    CustomTool {
        name: ASK_USER.into(),
        description: "Ask the user a question and wait for the answer: a one-time code, a \
                      choice between options, a confirmation before an irreversible step."
            .into(),
        inputs: json!({
            "type": "object",
            "properties": {
                "question": {"type": "string", "description": "The question, as the user will read it"},
                "choices": {"type": "array", "items": {"type": "string"},
                            "description": "The answers to choose from, if the question has a fixed set"}
            },
            "required": ["question"]
        }),
        output: "The user's answer as text".into(),
    }
}

/// One `[tools.NAME]` table, checked (see `config_file`).
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub description: String,
    pub inputs: Map<String, Value>,
    pub output: String,
    pub timeout: Duration,
    pub handler: HandlerSpec,
}

#[derive(Debug, Clone)]
pub enum HandlerSpec {
    /// `argv[0]` run with `argv[1..]`; `env` names the variables passed through.
    Command { argv: Vec<String>, env: Vec<String> },
    Http {
        url: Url,
        method: Method,
        headers: Vec<(HeaderName, HeaderSource)>,
    },
}

/// A header value: `env:VAR` is read at start-up and treated as a secret; anything else is
/// sent as written.
#[derive(Clone, PartialEq, Eq)]
pub enum HeaderSource {
    Env(String),
    Literal(String),
}

impl std::fmt::Debug for HeaderSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(var) => write!(f, "Env({var})"),
            Self::Literal(_) => f.write_str("Literal(***)"),
        }
    }
}

/// Start-up errors; each names the tool and the variable or header, never a value.
#[derive(Debug, thiserror::Error)]
pub enum OperatorToolsError {
    #[error("tool {tool}: environment variable {var} is not set (or not UTF-8)")]
    EnvUnset { tool: String, var: String },
    #[error("tool {tool}: the value of header {header} is not a valid header value")]
    HeaderValue { tool: String, header: String },
    #[error(
        "tool {tool}: the value of header {header} is shorter than {} characters",
        crate::secrets::MIN_SECRET_LEN
    )]
    ShortHeader { tool: String, header: String },
    #[error("cannot build the HTTP client for operator tools: {0}")]
    Client(#[source] reqwest::Error),
}

struct OperatorTool {
    name: String,
    spec: ToolSpec,
    handler: Handler,
}

enum Handler {
    Command(CommandTool),
    Http(HttpTool),
}

/// The operator's tools, by name. Cheap to share behind an `Arc`; each answer runs on its own
/// future, so concurrent calls run concurrently.
pub struct OperatorTools {
    tools: BTreeMap<String, Arc<OperatorTool>>,
    client: reqwest::Client,
}

impl OperatorTools {
    /// Reads every `env:` header and listed variable now, from the process environment.
    pub fn from_env(specs: BTreeMap<String, ToolSpec>) -> Result<Self, OperatorToolsError> {
        Self::resolve(specs, &|var| std::env::var(var).ok())
    }

    /// As [`OperatorTools::from_env`], with the environment given.
    pub fn resolve(
        specs: BTreeMap<String, ToolSpec>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, OperatorToolsError> {
        let mut tools = BTreeMap::new();
        for (name, spec) in specs {
            let handler = match &spec.handler {
                HandlerSpec::Command { argv, env: names } => {
                    Handler::Command(CommandTool::new(&name, argv, names, env)?)
                }
                HandlerSpec::Http {
                    url,
                    method,
                    headers,
                } => Handler::Http(HttpTool::new(&name, url, method, headers, env)?),
            };
            let tool = OperatorTool {
                name: name.clone(),
                spec,
                handler,
            };
            tools.insert(name, Arc::new(tool));
        }
        // Redirects are not followed: a header meant for the operator's endpoint must not
        // travel to wherever it points.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(OperatorToolsError::Client)?;
        Ok(Self { tools, client })
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub fn handles(&self, tool: &str) -> bool {
        self.tools.contains_key(tool)
    }

    /// The declarations sent to Smooth as `custom_tools` (also what `list_agent_tools` shows).
    pub fn custom_tools(&self) -> Vec<CustomTool> {
        self.tools
            .values()
            .map(|t| CustomTool {
                name: t.name.clone(),
                description: t.spec.description.clone(),
                inputs: Value::Object(t.spec.inputs.clone()),
                output: t.spec.output.clone(),
            })
            .collect()
    }

    /// `env:` header values, for the Redactor: labelled `TOOL.HEADER`.
    pub fn redaction_pairs(&self) -> impl Iterator<Item = (String, &SecretString)> {
        self.tools.values().flat_map(|t| match &t.handler {
            Handler::Http(h) => h.secret_headers(&t.name),
            Handler::Command(_) => Vec::new(),
        })
    }

    /// Runs the tool on `input`. The future owns what it needs, so the caller may spawn it.
    pub fn answer(&self, tool: &str, input: Value) -> AnswerFuture {
        let Some(tool) = self.tools.get(tool).cloned() else {
            let message = format!("{tool} is not an operator tool");
            return Box::pin(async move { ToolAnswer::error(message) });
        };
        let client = self.client.clone();
        Box::pin(async move {
            let started = Instant::now();
            let answer = match &tool.handler {
                Handler::Command(c) => c.run(&tool.name, tool.spec.timeout, &input).await,
                Handler::Http(h) => h.run(&client, &tool.name, tool.spec.timeout, &input).await,
            };
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(tool = %tool.name, code = answer.code, ms, "operator tool answered");
            answer
        })
    }
}

/// The watcher runs operator tools through this (it knows nothing of how they work).
impl smooth_api::watch::AutoAnswer for OperatorTools {
    fn handles(&self, tool: &str) -> bool {
        OperatorTools::handles(self, tool)
    }

    fn answer(&self, tool: &str, input: Value) -> AnswerFuture {
        OperatorTools::answer(self, tool, input)
    }
}

impl std::fmt::Debug for OperatorTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

/// At most the last `max` bytes of `bytes` as text, starting on a character boundary.
fn tail_text(bytes: &[u8], max: usize) -> String {
    let mut start = bytes.len().saturating_sub(max);
    // Skip UTF-8 continuation bytes (10xxxxxx) so the cut never splits a character.
    while bytes.get(start).is_some_and(|b| b & 0xC0 == 0x80) {
        start += 1;
    }
    String::from_utf8_lossy(&bytes[start..]).trim().to_owned()
}

/// At most the first `max` bytes of `text`, ending on a character boundary.
fn head_text(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_are_char_safe() {
        let text = "é".repeat(10); // 20 bytes
        assert_eq!(tail_text(text.as_bytes(), 5), "éé");
        assert_eq!(head_text(&text, 5), "éé");
        assert_eq!(tail_text(b"  short \n", 2048), "short");
    }

    /// A command tool that marks its start in `dir`, then waits (polling) for the other's.
    fn rendezvous(me: &str, other: &str, dir: &std::path::Path) -> ToolSpec {
        let script =
            r#"touch "$1/$2"; until [ -e "$1/$3" ]; do sleep 0.05; done; echo '{"ok":true}'"#;
        let argv = ["sh", "-c", script, "sh"]
            .into_iter()
            .map(String::from)
            .chain([dir.display().to_string(), me.into(), other.into()])
            .collect();
        ToolSpec {
            description: "d".into(),
            inputs: Map::new(),
            output: "o".into(),
            timeout: Duration::from_secs(20),
            handler: HandlerSpec::Command { argv, env: vec![] },
        }
    }

    #[tokio::test]
    async fn calls_run_concurrently() {
        // Each tool finishes only once the other has started: run one after the other, the
        // first would time out.
        let dir = tempfile::tempdir().unwrap();
        let specs = BTreeMap::from([
            ("a".to_string(), rendezvous("a", "b", dir.path())),
            ("b".to_string(), rendezvous("b", "a", dir.path())),
        ]);
        let tools = OperatorTools::resolve(specs, &|_| None).unwrap();
        let (a, b) = futures::join!(tools.answer("a", json!({})), tools.answer("b", json!({})));
        assert_eq!(a, ToolAnswer::ok(json!({"ok": true})));
        assert_eq!(b, ToolAnswer::ok(json!({"ok": true})));
        let unknown = tools.answer("c", json!({})).await;
        assert_eq!(unknown, ToolAnswer::error("c is not an operator tool"));
    }

    #[test]
    fn ask_user_is_a_valid_declaration() {
        let tool = ask_user_tool();
        assert!(check_name(&tool.name).is_ok());
        assert!(check_inputs(&tool.inputs).is_ok());
    }
}
