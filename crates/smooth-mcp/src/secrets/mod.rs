//! Secrets the agent may type on the sites they are meant for, which the model never sees.
//!
//! Values are read once at start-up (an environment variable or a file), held as
//! [`SecretString`] and leave this module in exactly two ways: [`Secrets::wire`], which builds
//! the `secrets` of a session `run_task` for Smooth, and the [`Redactor`], which replaces them
//! with `[secret:NAME]` wherever the server writes. The model is told names and allowed URLs
//! only ([`Secrets::list`]). Smooth enforces `allowed_urls`; this server only refuses patterns
//! that would match every site.

mod log;
mod redact;
mod spec;

pub use log::{RedactedEvent, RedactingWriter};
pub use redact::{RedactError, Redactor};
pub use spec::{SecretArgError, SecretArgParser, SecretSource, SecretSpec, check_allowed_url};

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Shorter values would turn ordinary text into `[secret:…]` markers everywhere.
pub const MIN_SECRET_LEN: usize = 4;

/// What the model may know of a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SecretInfo {
    pub name: String,
    pub allowed_urls: Vec<String>,
}

struct Entry {
    value: SecretString,
    allowed_urls: Vec<String>,
}

/// Every secret this server holds, by name.
#[derive(Default)]
pub struct Secrets {
    entries: BTreeMap<String, Entry>,
}

/// Start-up errors: each names the secret and the variable or file, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {0} is configured twice (names must be unique across --config and --secret)")]
    Duplicate(String),
    #[error("secret {name}: {message}")]
    Invalid { name: String, message: String },
    #[error("secret {name}: environment variable {var} is not set (or not UTF-8)")]
    EnvUnset { name: String, var: String },
    #[error("secret {name}: cannot read {}: {source}", path.display())]
    File {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secret {name}: the value is shorter than {MIN_SECRET_LEN} characters")]
    TooShort { name: String },
}

/// A call named a secret this server does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown secret {name:?}; configured secrets: {}", list_or_none(known))]
pub struct UnknownSecret {
    pub name: String,
    pub known: Vec<String>,
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

impl Secrets {
    /// Reads every value now, from the process environment or the named files.
    pub fn from_env(specs: impl IntoIterator<Item = SecretSpec>) -> Result<Self, SecretsError> {
        Self::resolve(specs, &|var| std::env::var(var).ok())
    }

    /// As [`Secrets::from_env`], with the environment given (tests cannot set variables:
    /// `unsafe` is forbidden and the process environment is shared between tests).
    pub fn resolve(
        specs: impl IntoIterator<Item = SecretSpec>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SecretsError> {
        let mut entries = BTreeMap::new();
        for spec in specs {
            let name = spec.name.clone();
            spec.check().map_err(|message| SecretsError::Invalid {
                name: name.clone(),
                message,
            })?;
            if entries.contains_key(&name) {
                return Err(SecretsError::Duplicate(name));
            }
            let value = match &spec.source {
                SecretSource::Env(var) => env(var).ok_or_else(|| SecretsError::EnvUnset {
                    name: name.clone(),
                    var: var.clone(),
                })?,
                SecretSource::File(path) => {
                    read_value_file(path).map_err(|source| SecretsError::File {
                        name: name.clone(),
                        path: path.clone(),
                        source,
                    })?
                }
            };
            if value.chars().count() < MIN_SECRET_LEN {
                return Err(SecretsError::TooShort { name });
            }
            let entry = Entry {
                value: value.into(),
                allowed_urls: spec.allowed_urls,
            };
            entries.insert(name, entry);
        }
        Ok(Self { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Names and allowed URLs, for the model (`list_secrets`, the server's instructions).
    pub fn list(&self) -> Vec<SecretInfo> {
        self.entries
            .iter()
            .map(|(name, e)| SecretInfo {
                name: name.clone(),
                allowed_urls: e.allowed_urls.clone(),
            })
            .collect()
    }

    /// `{NAME: {"value", "allowed_urls"}}` for a session `run_task`. The one place a value is
    /// exposed on purpose: the result goes to Smooth and nowhere else (never log it).
    pub fn wire(&self, names: &[String]) -> Result<Map<String, Value>, UnknownSecret> {
        let mut wire = Map::new();
        for name in names {
            let Some(entry) = self.entries.get(name) else {
                return Err(UnknownSecret {
                    name: name.clone(),
                    known: self.entries.keys().cloned().collect(),
                });
            };
            let secret = json!({
                "value": entry.value.expose_secret(),
                "allowed_urls": entry.allowed_urls,
            });
            wire.insert(name.clone(), secret);
        }
        Ok(wire)
    }

    /// `(NAME, value)` for [`Redactor::new`].
    pub fn redaction_pairs(&self) -> impl Iterator<Item = (String, &SecretString)> {
        self.entries.iter().map(|(n, e)| (n.clone(), &e.value))
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

/// A secret file holds the value; the one trailing newline editors add is not part of it.
fn read_value_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut value = std::fs::read_to_string(path)?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, var: &str) -> SecretSpec {
        SecretSpec {
            name: name.into(),
            source: SecretSource::Env(var.into()),
            allowed_urls: vec!["https://bank.example/*".into()],
        }
    }

    fn env(var: &str) -> Option<String> {
        match var {
            "PW" => Some("hunter2-sentinel".into()),
            "SHORT" => Some("abc".into()),
            _ => None,
        }
    }

    #[test]
    fn values_reach_only_the_wire_form() {
        let secrets = Secrets::resolve([spec("bank", "PW")], &env).unwrap();
        let listed = serde_json::to_string(&secrets.list()).unwrap();
        assert_eq!(
            listed,
            r#"[{"name":"bank","allowed_urls":["https://bank.example/*"]}]"#
        );
        assert!(!format!("{secrets:?}").contains("sentinel"));
        let wire = secrets.wire(&["bank".into()]).unwrap();
        assert_eq!(
            Value::Object(wire),
            json!({"bank": {"value": "hunter2-sentinel", "allowed_urls": ["https://bank.example/*"]}})
        );
    }

    #[test]
    fn unknown_names_are_a_typed_error() {
        let secrets = Secrets::resolve([spec("bank", "PW")], &env).unwrap();
        let err = secrets.wire(&["bank".into(), "mail".into()]).unwrap_err();
        assert_eq!(err.name, "mail");
        assert_eq!(
            err.to_string(),
            r#"unknown secret "mail"; configured secrets: bank"#
        );
    }

    #[test]
    fn start_up_errors_name_the_variable_never_a_value() {
        let unset = Secrets::resolve([spec("bank", "NOPE")], &env).unwrap_err();
        assert_eq!(
            unset.to_string(),
            "secret bank: environment variable NOPE is not set (or not UTF-8)"
        );
        let short = Secrets::resolve([spec("pin", "SHORT")], &env).unwrap_err();
        assert!(matches!(short, SecretsError::TooShort { .. }));
        assert!(!short.to_string().contains("abc"));
        let dup = Secrets::resolve([spec("bank", "PW"), spec("bank", "PW")], &env).unwrap_err();
        assert!(matches!(dup, SecretsError::Duplicate(n) if n == "bank"));
        let mut catch_all = spec("bank", "PW");
        catch_all.allowed_urls = vec!["https://*".into()];
        assert!(Secrets::resolve([catch_all], &env).is_err());
    }

    #[test]
    fn file_values_lose_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "from-a-file\n\n").unwrap();
        let spec = SecretSpec {
            name: "f".into(),
            source: SecretSource::File(path),
            allowed_urls: vec!["https://a.example/*".into()],
        };
        let secrets = Secrets::resolve([spec], &env).unwrap();
        let wire = secrets.wire(&["f".into()]).unwrap();
        assert_eq!(wire["f"]["value"], "from-a-file\n");
    }
}
