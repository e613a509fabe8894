//! Argument types shared by several tools, and the checks that make bad input a clear tool
//! error before anything is sent to Smooth.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Settings;
use super::error::{ToolResult, invalid};

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Device {
    Desktop,
    Mobile,
    DesktopLg,
}

impl Device {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Mobile => "mobile",
            Self::DesktopLg => "desktop-lg",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Agent {
    Smooth,
    SmoothLite,
}

impl Agent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smooth => "smooth",
            Self::SmoothLite => "smooth-lite",
        }
    }
}

/// A metadata value: Smooth accepts strings, numbers and booleans.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MetaValue {
    Text(String),
    Number(f64),
    Flag(bool),
}

pub type Metadata = std::collections::BTreeMap<String, MetaValue>;

const MAX_METADATA_KEYS: usize = 16;
const MAX_METADATA_VALUE: usize = 2048;

pub fn metadata_to_wire(meta: Option<Metadata>) -> ToolResult<Option<Map<String, Value>>> {
    let Some(meta) = meta else { return Ok(None) };
    if meta.len() > MAX_METADATA_KEYS {
        return Err(invalid(format!(
            "metadata has {} keys; Smooth accepts at most {MAX_METADATA_KEYS}",
            meta.len()
        )));
    }
    let mut out = Map::new();
    for (k, v) in meta {
        let v = match v {
            MetaValue::Text(s) if s.chars().count() > MAX_METADATA_VALUE => {
                return Err(invalid(format!(
                    "metadata value of {k:?} is longer than {MAX_METADATA_VALUE} characters"
                )));
            }
            MetaValue::Text(s) => Value::String(s),
            MetaValue::Number(n) => serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| {
                    invalid(format!("metadata value of {k:?} is not a finite number"))
                })?,
            MetaValue::Flag(b) => Value::Bool(b),
        };
        out.insert(k, v);
    }
    Ok(Some(out))
}

pub fn required_text(field: &str, value: &str) -> ToolResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(format!("`{field}` must not be empty")));
    }
    Ok(v.to_owned())
}

pub fn check_url(field: &str, url: Option<String>) -> ToolResult<Option<String>> {
    let Some(url) = url else { return Ok(None) };
    let trimmed = url.trim();
    match reqwest::Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(trimmed.to_owned())),
        _ => Err(invalid(format!(
            "`{field}` must be an absolute http(s) URL such as https://example.com, got {trimmed:?}"
        ))),
    }
}

pub fn check_max_steps(max_steps: Option<u32>, settings: &Settings) -> ToolResult<Option<u32>> {
    match max_steps {
        Some(n) if !(2..=settings.max_steps_cap).contains(&n) => Err(invalid(format!(
            "`max_steps` must be between 2 and {} (this server's cap), got {n}",
            settings.max_steps_cap
        ))),
        other => Ok(other),
    }
}

pub fn check_ids(field: &str, ids: Option<Vec<String>>) -> ToolResult<Option<Vec<String>>> {
    let Some(ids) = ids else { return Ok(None) };
    if ids.iter().any(|id| id.trim().is_empty()) {
        return Err(invalid(format!("`{field}` must not contain empty ids")));
    }
    Ok(Some(ids))
}

pub fn check_json_schema(
    field: &str,
    schema: Option<Map<String, Value>>,
) -> ToolResult<Option<Value>> {
    let Some(schema) = schema else {
        return Ok(None);
    };
    if schema.is_empty() {
        return Err(invalid(format!(
            "`{field}` must be a JSON Schema object such as {{\"type\": \"object\", \"properties\": {{...}}}}"
        )));
    }
    Ok(Some(Value::Object(schema)))
}

/// The wait budget of a call: its own `wait_seconds`, capped by the server's maximum.
pub fn wait_budget(wait_seconds: Option<u64>, settings: &Settings) -> Duration {
    wait_seconds
        .map_or(settings.default_wait, Duration::from_secs)
        .min(settings.max_wait)
}

/// Tool arguments, as rmcp's `Parameters` (the tool macros find it by this name), but a
/// bad argument is named in the error: "`device`: unknown variant `tablet`, …".
pub struct Parameters<T>(pub T);

impl<T: JsonSchema> JsonSchema for Parameters<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

impl<S, T: serde::de::DeserializeOwned>
    rmcp::handler::server::common::FromContextPart<
        rmcp::handler::server::tool::ToolCallContext<'_, S>,
    > for Parameters<T>
{
    fn from_context_part(
        context: &mut rmcp::handler::server::tool::ToolCallContext<'_, S>,
    ) -> Result<Self, rmcp::ErrorData> {
        let arguments = Value::Object(context.arguments.take().unwrap_or_default());
        serde_path_to_error::deserialize(arguments)
            .map(Parameters)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    String::new()
                } else {
                    format!("`{path}`: ")
                };
                // This prefix is how rmcp knows to answer with a tool error the model can read.
                rmcp::ErrorData::invalid_params(
                    format!(
                        "failed to deserialize parameters: {field}{}",
                        e.into_inner()
                    ),
                    None,
                )
            })
    }
}
