//! Where a secret comes from and where it may be typed, from `--secret` or `[secrets.NAME]`.

use std::path::PathBuf;
use std::str::FromStr;

use crate::agent_tools::{check_env_name, check_name};

/// Where the value is read at start-up. The value itself is never in a flag or the config
/// file (flags show in `ps`, files get pasted into bug reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// One secret as configured, before its value is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub name: String,
    pub source: SecretSource,
    pub allowed_urls: Vec<String>,
}

impl SecretSpec {
    /// The checks both sources share: a tool-like name and at least one allowed URL, none a
    /// catch-all.
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.name)?;
        match &self.source {
            SecretSource::Env(var) => check_env_name(var)?,
            SecretSource::File(path) if path.as_os_str().is_empty() => {
                return Err("the secret file path is empty".into());
            }
            SecretSource::File(_) => {}
        }
        if self.allowed_urls.is_empty() {
            return Err("allowed_urls must list at least one URL pattern".into());
        }
        self.allowed_urls
            .iter()
            .try_for_each(|url| check_allowed_url(url))
    }
}

/// An allowed-URL pattern must be `http(s)://HOST…` where HOST names a site: Smooth matches
/// the patterns, and `https://*` would let the agent type the secret anywhere.
pub fn check_allowed_url(pattern: &str) -> Result<(), String> {
    let rest = pattern
        .strip_prefix("https://")
        .or_else(|| pattern.strip_prefix("http://"))
        .ok_or_else(|| format!("allowed URL {pattern:?} must start with https:// or http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    if host.chars().all(|c| c == '*' || c == '.') {
        return Err(format!(
            "allowed URL {pattern:?} must name a site (a host that is not only wildcards)"
        ));
    }
    Ok(())
}

/// `--secret` values that do not parse. Never echoes the argument: whatever was typed there
/// might be a value pasted by mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretArgError {
    #[error("expected NAME=env:VAR@URL[,URL…] or NAME=file:PATH@URL[,URL…]")]
    Shape,
    #[error("{0}")]
    Invalid(String),
}

/// `NAME=env:VAR@https://site/*[,URL…]` or `NAME=file:PATH@URL[,URL…]`.
impl FromStr for SecretSpec {
    type Err = SecretArgError;

    fn from_str(arg: &str) -> Result<Self, Self::Err> {
        let (name, rest) = arg.split_once('=').ok_or(SecretArgError::Shape)?;
        // The URL list starts at the first `@http`: a file path may itself contain `@`.
        let at = ["@https://", "@http://"]
            .iter()
            .filter_map(|sep| rest.find(sep))
            .min()
            .ok_or(SecretArgError::Shape)?;
        let (source, urls) = (&rest[..at], &rest[at + 1..]);
        let source = if let Some(var) = source.strip_prefix("env:") {
            SecretSource::Env(var.into())
        } else if let Some(path) = source.strip_prefix("file:") {
            SecretSource::File(path.into())
        } else {
            return Err(SecretArgError::Shape);
        };
        let spec = SecretSpec {
            name: name.into(),
            source,
            allowed_urls: urls.split(',').map(str::to_owned).collect(),
        };
        spec.check().map_err(SecretArgError::Invalid)?;
        Ok(spec)
    }
}

/// The clap value parser for `--secret`. clap's own message for a bad value quotes it, and
/// that value could be a password typed in the wrong place; this one names only the flag.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretArgParser;

impl clap::builder::TypedValueParser for SecretArgParser {
    type Value = SecretSpec;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<SecretSpec, clap::Error> {
        let flag = arg.map_or_else(|| "--secret".to_owned(), ToString::to_string);
        let fail = |why: String| {
            let message = format!("invalid value for '{flag}': {why}\n");
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, message).with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| fail("not valid UTF-8".into()))?;
        text.parse()
            .map_err(|e: SecretArgError| fail(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_flags_parse() {
        let spec: SecretSpec = "gh=env:GH_PW@https://github.com/*".parse().unwrap();
        assert_eq!(
            spec,
            SecretSpec {
                name: "gh".into(),
                source: SecretSource::Env("GH_PW".into()),
                allowed_urls: vec!["https://github.com/*".into()],
            }
        );
        let spec: SecretSpec =
            "bank=file:/run/s@me/bank@https://*.mybank.example/*,http://localhost:8080/login"
                .parse()
                .unwrap();
        assert_eq!(spec.source, SecretSource::File("/run/s@me/bank".into()));
        assert_eq!(
            spec.allowed_urls,
            ["https://*.mybank.example/*", "http://localhost:8080/login"]
        );
    }

    #[test]
    fn bad_secret_flags_are_refused_without_echoing_them() {
        for bad in [
            "gh",
            "gh=env:GH_PW",
            "gh=hunter2@https://github.com/*",
            "gh=env:@https://github.com/*",
            "gh=env:hunter2!@https://github.com/*",
            "gh=file:@https://github.com/*",
            "9gh=env:GH@https://github.com/*",
            "gh=env:GH@https://*",
            "gh=env:GH@https://*.*/x",
            "gh=env:GH@https://github.com/*,",
            "gh=env:GH@https://github.com/*,ftp://x",
        ] {
            let err = bad.parse::<SecretSpec>().unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_clap_parser_never_echoes_the_value() {
        let cmd = || {
            clap::Command::new("t").arg(
                clap::Arg::new("secret")
                    .long("secret")
                    .action(clap::ArgAction::Append)
                    .value_parser(SecretArgParser),
            )
        };
        let ok = cmd()
            .try_get_matches_from(["t", "--secret", "gh=env:GH@https://github.com/*"])
            .unwrap();
        let spec: &SecretSpec = ok.get_one("secret").unwrap();
        assert_eq!(spec.name, "gh");
        let err = cmd()
            .try_get_matches_from(["t", "--secret", "gh=hunter2-sentinel@https://github.com/*"])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("--secret"), "{err}");
    }

    #[test]
    fn catch_all_url_patterns_are_refused() {
        for ok in [
            "https://github.com/*",
            "http://*.example.com",
            "https://a.b:*/x",
        ] {
            assert!(check_allowed_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://*",
            "https://*/*",
            "http://*.*:443/",
            "https://",
            "github.com/*",
            "*",
        ] {
            assert!(check_allowed_url(bad).is_err(), "{bad}");
        }
    }
}
