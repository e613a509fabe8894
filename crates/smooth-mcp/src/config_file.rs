//! The `--config` TOML file: `[tools.NAME]` (operator tools the agent may call) and
//! `[secrets.NAME]` (values the agent may type on named sites). Every table is strict: an
//! unknown table or key stops the server with a message that names it.
//!
//! Errors read `FILE:LINE: message` and never quote the file: a line could hold a value an
//! operator pasted (toml's own `Display` shows the source line, so it is not used).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderName;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::agent_tools::{
    ASK_USER, HandlerSpec, HeaderSource, ToolSpec, check_env_name, check_inputs, check_name,
};
use crate::secrets::{SecretSource, SecretSpec};

/// `output` when a tool does not describe what it returns.
const DEFAULT_OUTPUT: &str = "JSON result";
const DEFAULT_TIMEOUT_S: u64 = 30;
const MAX_TIMEOUT_S: u64 = 3600;

/// The file, checked: every tool has one handler, every secret a source and allowed URLs.
/// Values (secrets, `env:` headers, listed environment) are read later, by
/// `Secrets::from_env` and `OperatorTools::from_env`.
#[derive(Debug, Default)]
pub struct ServerConfigFile {
    pub tools: BTreeMap<String, ToolSpec>,
    pub secrets: Vec<SecretSpec>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", at(path, *line, message))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
}

fn at(path: &Path, line: Option<usize>, message: &str) -> String {
    match line {
        Some(line) => format!("{}:{line}: {message}", path.display()),
        None => format!("{}: {message}", path.display()),
    }
}

/// Reads and checks the file.
pub fn load(path: &Path) -> Result<ServerConfigFile, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Checks `text`; `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<ServerConfigFile, ConfigFileError> {
    let invalid =
        |span: Option<std::ops::Range<usize>>, message: String| ConfigFileError::Invalid {
            path: path.to_owned(),
            line: span.map(|s| line_of(text, s.start)),
            message,
        };
    let de = toml::Deserializer::parse(text).map_err(|e| invalid(e.span(), scrub(e.message())))?;
    let raw: RawFile = serde_path_to_error::deserialize(de).map_err(|e| {
        // `Spanned` (used for table line numbers) shows up in the path as a private key.
        let key = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        let inner = e.into_inner();
        let message = scrub(inner.message());
        let message = if key == "." || key.is_empty() {
            message
        } else {
            format!("{key}: {message}")
        };
        invalid(inner.span(), message)
    })?;

    let mut file = ServerConfigFile::default();
    for (name, tool) in raw.tools {
        let span = tool.span();
        let spec = tool_spec(&name, tool.into_inner())
            .map_err(|m| invalid(Some(span), format!("[tools.{name}] {m}")))?;
        file.tools.insert(name, spec);
    }
    for (name, secret) in raw.secrets {
        let span = secret.span();
        let spec = secret_spec(&name, secret.into_inner())
            .map_err(|m| invalid(Some(span), format!("[secrets.{name}] {m}")))?;
        file.secrets.push(spec);
    }
    Ok(file)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// serde quotes a mistyped value (`invalid type: string "…", expected …`); the value may be a
/// secret pasted into the wrong key, so the quote goes.
fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("string \"") {
        out.push_str(&rest[..at]);
        out.push_str("a string");
        let quoted = &rest[at + "string \"".len()..];
        let mut escaped = false;
        let end = quoted.char_indices().find_map(|(i, c)| {
            let closes = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            closes.then_some(i + 1)
        });
        rest = end.map_or("", |end| &quoted[end..]);
    }
    out.push_str(rest);
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tools: BTreeMap<String, Spanned<RawTool>>,
    #[serde(default)]
    secrets: BTreeMap<String, Spanned<RawSecret>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    description: String,
    inputs: Value,
    output: Option<String>,
    command: Option<Vec<String>>,
    http: Option<RawHttp>,
    timeout_s: Option<u64>,
    env: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    url: String,
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    value_env: Option<String>,
    value_file: Option<PathBuf>,
    allowed_urls: Vec<String>,
}

fn tool_spec(name: &str, raw: RawTool) -> Result<ToolSpec, String> {
    check_name(name)?;
    if name == ASK_USER {
        return Err(format!("{ASK_USER} is built in; choose another name"));
    }
    if raw.description.trim().is_empty() {
        return Err("description must not be empty".into());
    }
    let inputs = check_inputs(&raw.inputs)?;
    let timeout_s = raw.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
    if !(1..=MAX_TIMEOUT_S).contains(&timeout_s) {
        return Err(format!("timeout_s must be 1..={MAX_TIMEOUT_S}"));
    }
    let handler = match (raw.command, raw.http) {
        (Some(argv), None) => {
            if argv.first().is_none_or(|p| p.is_empty()) {
                return Err("command must name a program: [\"program\", \"arg\", …]".into());
            }
            let env = raw.env.unwrap_or_default();
            for (i, var) in env.iter().enumerate() {
                check_env_name(var).map_err(|m| format!("env[{i}]: {m}"))?;
            }
            HandlerSpec::Command { argv, env }
        }
        (None, Some(http)) => {
            if raw.env.is_some() {
                return Err(
                    "env is for command tools; http tools take headers = { NAME = \"env:VAR\" }"
                        .into(),
                );
            }
            http_spec(http)?
        }
        (Some(_), Some(_)) | (None, None) => {
            return Err(
                "needs exactly one handler: command = [...] or http = { url = ... }".into(),
            );
        }
    };
    Ok(ToolSpec {
        description: raw.description,
        inputs,
        output: raw.output.unwrap_or_else(|| DEFAULT_OUTPUT.into()),
        timeout: Duration::from_secs(timeout_s),
        handler,
    })
}

fn http_spec(raw: RawHttp) -> Result<HandlerSpec, String> {
    let url = url::Url::parse(&raw.url).map_err(|e| format!("http.url: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("http.url must be http:// or https://".into());
    }
    let method = match raw
        .method
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("POST") => Method::POST,
        Some("PUT") => Method::PUT,
        Some("PATCH") => Method::PATCH,
        Some(_) => return Err("http.method must be POST, PUT or PATCH".into()),
    };
    let mut headers = Vec::new();
    for (header, value) in raw.headers {
        let name = HeaderName::try_from(header.as_str())
            .map_err(|_| format!("http.headers: {header:?} is not a header name"))?;
        let source = match value.strip_prefix("env:") {
            Some(var) => {
                check_env_name(var).map_err(|m| format!("http.headers.{header}: {m}"))?;
                HeaderSource::Env(var.into())
            }
            None => HeaderSource::Literal(value),
        };
        headers.push((name, source));
    }
    Ok(HandlerSpec::Http {
        url,
        method,
        headers,
    })
}

fn secret_spec(name: &str, raw: RawSecret) -> Result<SecretSpec, String> {
    let source = match (raw.value_env, raw.value_file) {
        (Some(var), None) => SecretSource::Env(var),
        (None, Some(path)) => SecretSource::File(path),
        _ => {
            return Err("needs exactly one of value_env = \"VAR\" or value_file = \"PATH\"".into());
        }
    };
    let spec = SecretSpec {
        name: name.into(),
        source,
        allowed_urls: raw.allowed_urls,
    };
    spec.check()?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent_tools::OperatorTools;
    use crate::secrets::{Redactor, Secrets};
    use serde_json::json;

    const GOOD: &str = r#"
[tools.lookup_order]
description = "Find an order by number"
inputs = { type = "object", properties = { order = { type = "string" } }, required = ["order"] }
command = ["/usr/local/bin/lookup", "--json"]
timeout_s = 5
env = ["SHOP_TOKEN"]

[tools.crm]
description = "Find a customer"
inputs = { type = "object" }
output = "The customer record"
http = { url = "https://crm.internal/find", headers = { Authorization = "env:CRM_TOKEN", Accept = "application/json" } }

[secrets.bank_password]
value_env = "BANK_PASSWORD"
allowed_urls = ["https://*.mybank.example/*"]
"#;

    fn env(var: &str) -> Option<String> {
        match var {
            "SHOP_TOKEN" => Some("shop-token".into()),
            "CRM_TOKEN" => Some("Bearer crm-sentinel".into()),
            "BANK_PASSWORD" => Some("bank-sentinel".into()),
            _ => None,
        }
    }

    fn err(text: &str) -> String {
        parse(Path::new("smooth.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_full_file_parses_and_resolves() {
        let file = parse(Path::new("smooth.toml"), GOOD).unwrap();
        let lookup = &file.tools["lookup_order"];
        assert_eq!(lookup.timeout, Duration::from_secs(5));
        assert_eq!(lookup.output, DEFAULT_OUTPUT);
        assert!(
            matches!(&lookup.handler, HandlerSpec::Command { env, .. } if env == &["SHOP_TOKEN"])
        );
        let crm = &file.tools["crm"];
        assert_eq!(crm.timeout, Duration::from_secs(DEFAULT_TIMEOUT_S));
        let HandlerSpec::Http {
            method, headers, ..
        } = &crm.handler
        else {
            panic!("crm is an http tool")
        };
        assert_eq!(method, Method::POST);
        assert_eq!(headers.len(), 2);
        assert_eq!(file.secrets[0].name, "bank_password");

        let tools = OperatorTools::resolve(file.tools, &env).unwrap();
        let declared: Vec<_> = tools.custom_tools().into_iter().map(|t| t.name).collect();
        assert_eq!(declared, ["crm", "lookup_order"]);
        assert_eq!(tools.custom_tools()[0].inputs, json!({"type": "object"}));
        let labels: Vec<_> = tools.redaction_pairs().map(|(l, _)| l).collect();
        assert_eq!(labels, ["crm.authorization"]);
        let secrets = Secrets::resolve(file.secrets, &env).unwrap();
        assert_eq!(
            secrets.list()[0].allowed_urls,
            ["https://*.mybank.example/*"]
        );

        // One Redactor hides both kinds of value.
        let redactor =
            Redactor::new(secrets.redaction_pairs().chain(tools.redaction_pairs())).unwrap();
        assert_eq!(
            redactor.redact("bank-sentinel / Bearer crm-sentinel"),
            "[secret:bank_password] / [secret:crm.authorization]"
        );
    }

    #[test]
    fn an_empty_file_is_an_empty_config() {
        let file = parse(Path::new("smooth.toml"), "").unwrap();
        assert!(file.tools.is_empty() && file.secrets.is_empty());
    }

    #[test]
    fn unknown_tables_and_keys_are_named_with_their_line() {
        let table = err("[tool.x]\ndescription = \"d\"\n");
        assert!(table.starts_with("smooth.toml:1: "), "{table}");
        assert!(table.contains("unknown field `tool`"), "{table}");

        let key = err(&GOOD.replace("timeout_s = 5", "timeout_s = 5\nretries = 2"));
        assert!(
            key.starts_with("smooth.toml:7: tools.lookup_order.retries: "),
            "{key}"
        );
        assert!(key.contains("unknown field `retries`"), "{key}");

        let nested = err(&GOOD.replace("value_env", "value"));
        assert!(nested.contains("secrets.bank_password"), "{nested}");
        assert!(nested.contains("unknown field `value`"), "{nested}");
    }

    #[test]
    fn secrets_need_allowed_urls_that_name_sites() {
        let missing = err("[secrets.pw]\nvalue_env = \"PW\"\n");
        assert!(missing.starts_with("smooth.toml:"), "{missing}");
        assert!(
            missing.contains("missing field `allowed_urls`"),
            "{missing}"
        );
        let empty = err("[secrets.pw]\nvalue_env = \"PW\"\nallowed_urls = []\n");
        assert_eq!(
            empty,
            "smooth.toml:1: [secrets.pw] allowed_urls must list at least one URL pattern"
        );
        let catch_all = err("[secrets.pw]\nvalue_env = \"PW\"\nallowed_urls = [\"https://*\"]\n");
        assert!(catch_all.contains("must name a site"), "{catch_all}");
        let pasted =
            err("[secrets.pw]\nvalue_env = \"hunter2!\"\nallowed_urls = [\"https://a.example\"]\n");
        assert!(!pasted.contains("hunter2"), "{pasted}");
        assert!(pasted.contains("environment variable name"), "{pasted}");
        let both = err(
            "[secrets.pw]\nvalue_env = \"PW\"\nvalue_file = \"/x\"\nallowed_urls = [\"https://a.example\"]\n",
        );
        assert!(both.contains("exactly one of value_env"), "{both}");
    }

    #[test]
    fn bad_names_and_handlers_are_refused() {
        let name = err(&GOOD.replace("[tools.crm]", "[tools.\"crm-v2\"]"));
        assert!(
            name.starts_with("smooth.toml:9: [tools.crm-v2] name"),
            "{name}"
        );
        let ask = err(&GOOD.replace("[tools.crm]", "[tools.ask_user]"));
        assert!(ask.contains("ask_user is built in"), "{ask}");
        let neither = err("[tools.t]\ndescription = \"d\"\ninputs = { type = \"object\" }\n");
        assert!(neither.contains("exactly one handler"), "{neither}");
        let method = err(&GOOD.replace("url = ", "method = \"GET\", url = "));
        assert!(
            method.contains("http.method must be POST, PUT or PATCH"),
            "{method}"
        );
        let schema = err(&GOOD.replace(
            "inputs = { type = \"object\" }",
            "inputs = { type = \"string\" }",
        ));
        assert!(schema.contains("[tools.crm] inputs must have"), "{schema}");
        let timeout = err(&GOOD.replace("timeout_s = 5", "timeout_s = 0"));
        assert!(timeout.contains("timeout_s must be 1..=3600"), "{timeout}");
    }

    #[test]
    fn unset_variables_stop_the_start_by_name() {
        let file = parse(Path::new("smooth.toml"), GOOD).unwrap();
        let tools = OperatorTools::resolve(file.tools, &|_| None).unwrap_err();
        assert_eq!(
            tools.to_string(),
            "tool crm: environment variable CRM_TOKEN is not set (or not UTF-8)"
        );
        let secrets = Secrets::resolve(file.secrets, &|_| None).unwrap_err();
        assert_eq!(
            secrets.to_string(),
            "secret bank_password: environment variable BANK_PASSWORD is not set (or not UTF-8)"
        );
    }

    #[test]
    fn errors_never_quote_the_file() {
        let pasted = "[secrets.pw]\nvalue_env = \"PW\"\nallowed_urls = \"hunter2-sentinel\"\n";
        let text = err(pasted);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.starts_with("smooth.toml:3: secrets.pw.allowed_urls: "),
            "{text}"
        );
        let syntax = err("[secrets.pw]\nvalue_env = hunter2-sentinel\n");
        assert!(!syntax.contains("hunter2"), "{syntax}");
        assert!(syntax.starts_with("smooth.toml:2: "), "{syntax}");
        assert_eq!(
            scrub(r#"invalid type: string "a\"b", expected x; string "c""#),
            "invalid type: a string, expected x; a string"
        );
    }
}
