//! Argument types shared by several tools, and the checks that make bad input a clear tool
//! error before anything is sent to Smooth.

use std::time::Duration;

use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Settings;
use super::error::{ToolError, ToolResult, invalid};
use smooth_api::TaskRequest;

// The one list of devices: tools take it through serde, and `--default-device` can through
// clap (`ValueEnum`, kebab-case like serde). Plain comments: a doc comment would be sent to
// the model in every schema that has a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, clap::ValueEnum)]
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

// The agents of one-shot tasks; like `Device`, usable by clap for `--default-agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, clap::ValueEnum)]
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
    match url::Url::parse(trimmed) {
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
                // serde quotes unknown fields and variants raw: escape their control characters.
                let message = format!(
                    "failed to deserialize parameters: {field}{}",
                    e.into_inner()
                );
                rmcp::ErrorData::invalid_params(
                    crate::escape::controls(&message).into_owned(),
                    None,
                )
            })
    }
}

/// A proxy the browser goes through. The credentials travel with the server they belong to.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub server: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

/// Task options the operator sets once (flags or environment). A call's own value wins.
#[derive(Debug, Clone, Default)]
pub struct TaskDefaults {
    pub device: Option<Device>,
    /// One-shot tasks only.
    pub agent: Option<Agent>,
    pub proxy: Option<Proxy>,
    pub use_adblock: Option<bool>,
    pub use_captcha_solver: Option<bool>,
    pub use_stealth: Option<bool>,
    pub show_cursor: Option<bool>,
    pub extensions: Option<Vec<String>>,
    /// Agent tools every one-shot task gets; a call's `additional_tools` are added to these.
    pub additional_tools: Option<Map<String, Value>>,
    pub experimental_features: Option<Map<String, Value>>,
    /// Client certificates every browser presents (server configuration only: secrets).
    pub certificates: Option<Vec<smooth_api::Certificate>>,
}

impl TaskDefaults {
    /// Checks what the flags could not; the message names the flag.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = &self.proxy
            && !is_proxy_url(&p.server)
        {
            return Err(
                "--proxy-server must be a proxy URL such as http://host:8080 or socks5://host:1080"
                    .into(),
            );
        }
        if let Some(tools) = &self.additional_tools {
            check_tool_configs("--default-additional-tools", tools).map_err(|e| e.to_string())?;
        }
        if let Some(ids) = &self.extensions
            && ids.iter().any(|id| id.trim().is_empty())
        {
            return Err("--default-extensions must not contain empty ids".into());
        }
        Ok(())
    }
}

/// Browser setup; omit it to use the server's defaults.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrowserOptions {
    /// e.g. "http://host:8080" or "socks5://host:1080".
    pub proxy_server: Option<String>,
    pub proxy_username: Option<String>,
    /// Never shown back.
    #[schemars(with = "Option<String>")]
    pub proxy_password: Option<SecretString>,
    pub use_adblock: Option<bool>,
    pub use_captcha_solver: Option<bool>,
    pub use_stealth: Option<bool>,
    pub show_cursor: Option<bool>,
    /// Ids from upload_extension.
    pub extensions: Option<Vec<String>>,
    pub experimental_features: Option<Map<String, Value>>,
}

impl BrowserOptions {
    /// Fills the browser fields of `req` from these options, else from `defaults`.
    pub fn apply(self, defaults: &TaskDefaults, req: &mut TaskRequest) -> ToolResult<()> {
        let proxy = match self.proxy_server {
            Some(server) => {
                let server = server.trim().to_owned();
                if !is_proxy_url(&server) {
                    return Err(invalid(
                        "`browser.proxy_server` must be a proxy URL such as http://host:8080 or \
                         socks5://host:1080",
                    ));
                }
                Some(Proxy {
                    server,
                    username: self.proxy_username,
                    password: self.proxy_password,
                })
            }
            None if self.proxy_username.is_some() || self.proxy_password.is_some() => {
                return Err(invalid(
                    "`browser.proxy_username` and `browser.proxy_password` need \
                     `browser.proxy_server` too",
                ));
            }
            // The configured credentials only ever go with the configured server.
            None => defaults.proxy.clone(),
        };
        if let Some(p) = proxy {
            req.proxy_server = Some(p.server);
            req.proxy_username = p.username;
            // The one place the password leaves its wrapper: into the request sent to Smooth.
            req.proxy_password = p.password.map(|s| s.expose_secret().to_owned());
        }
        req.use_adblock = self.use_adblock.or(defaults.use_adblock);
        req.use_captcha_solver = self.use_captcha_solver.or(defaults.use_captcha_solver);
        req.use_stealth = self.use_stealth.or(defaults.use_stealth);
        req.show_cursor = self.show_cursor.or(defaults.show_cursor);
        req.extensions = match check_ids("browser.extensions", self.extensions)? {
            Some(ids) => Some(ids),
            None => defaults.extensions.clone(),
        };
        req.experimental_features = self
            .experimental_features
            .or_else(|| defaults.experimental_features.clone())
            .map(Value::Object);
        if req.device.is_none() {
            req.device = defaults.device.map(|d| d.as_str().to_owned());
        }
        req.certificates = defaults.certificates.clone();
        Ok(())
    }
}

/// The agent tools of a one-shot task: the server's defaults plus the call's own.
pub fn additional_tools(
    call: Option<Map<String, Value>>,
    defaults: &TaskDefaults,
) -> ToolResult<Option<Map<String, Value>>> {
    if let Some(tools) = &call {
        check_tool_configs("additional_tools", tools)?;
    }
    Ok(match (defaults.additional_tools.clone(), call) {
        (Some(mut all), Some(call)) => {
            all.extend(call);
            Some(all)
        }
        (all, call) => call.or(all),
    })
}

/// Whether the agent's tools leave files in the downloads archive.
pub fn tools_make_files(tools: Option<&Map<String, Value>>) -> bool {
    tools.is_some_and(|t| t.contains_key("screenshot") || t.contains_key("print_page"))
}

fn check_tool_configs(field: &str, tools: &Map<String, Value>) -> ToolResult<()> {
    for (name, config) in tools {
        if name.trim().is_empty() {
            return Err(invalid(format!("`{field}` has an empty tool name")));
        }
        if !(config.is_object() || config.is_null()) {
            return Err(invalid(format!(
                "`{field}.{name}` must be an object of settings (e.g. {{\"full_page\": true}} for \
                 screenshot) or null"
            )));
        }
    }
    Ok(())
}

fn is_proxy_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| {
        matches!(
            u.scheme(),
            "http" | "https" | "socks4" | "socks5" | "socks5h"
        ) && u.host_str().is_some_and(|h| !h.is_empty())
    })
}

/// `e` with every occurrence of `secret` masked, in case Smooth echoed it in an error.
pub fn redact(e: ToolError, secret: Option<&str>) -> ToolError {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return e;
    };
    let mask = |m: String| m.replace(secret, "***");
    match e {
        ToolError::InvalidArgument(m) => ToolError::InvalidArgument(mask(m)),
        ToolError::Smooth(m) => ToolError::Smooth(mask(m)),
        ToolError::File(m) => ToolError::File(mask(m)),
        ToolError::Cancelled(m) => ToolError::Cancelled(mask(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// serde, clap and the wire spell each device and agent the same way.
    #[test]
    fn one_spelling_per_value() {
        for d in Device::value_variants() {
            let name = d.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(name, d.as_str());
            assert_eq!(serde_json::from_value::<Device>(name.into()).unwrap(), *d);
        }
        for a in Agent::value_variants() {
            let name = a.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(name, a.as_str());
            assert_eq!(serde_json::from_value::<Agent>(name.into()).unwrap(), *a);
        }
    }
}
