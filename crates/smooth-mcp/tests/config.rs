#![allow(clippy::expect_used)] // tests fail loudly
//! Start-up configuration errors, through the real binary: they stop it before it serves.

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_smooth-mcp");

/// Runs the binary with exactly `args` and `env`; returns its exit code and stderr.
fn start(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_http_setting_in_the_environment_needs_the_http_transport() {
    let (code, err) = start(&[], &[("SMOOTH_MCP_CLIENT_KEYS", "true")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("SMOOTH_MCP_CLIENT_KEYS (for --client-keys) only applies to --transport http"),
        "{err}"
    );
}

#[test]
fn http_settings_pass_the_rule_with_the_http_transport_from_the_environment() {
    // Past the rule, the next check speaks: a public address without a token.
    let (code, err) = start(
        &["--client-keys"],
        &[
            ("SMOOTH_MCP_TRANSPORT", "http"),
            ("SMOOTH_MCP_LISTEN", "0.0.0.0:0"),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("refusing to listen on 0.0.0.0"), "{err}");
}

/// Without the `otel` feature, asking for traces stops the start instead of being ignored.
#[cfg(not(feature = "otel"))]
#[test]
fn otlp_endpoint_needs_the_otel_feature() {
    let (code, err) = start(
        &["--otlp-endpoint", "http://127.0.0.1:4318/v1/traces"],
        &[("SMOOTH_API_KEY", "k")],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("`otel` feature"), "{err}");
}
