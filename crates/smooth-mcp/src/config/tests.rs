use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::parse_checked_from(std::iter::once("smooth-mcp").chain(args.iter().copied()))
}

#[test]
fn http_flags_need_the_http_transport() {
    for args in [
        &["--client-keys"][..],
        &["--listen", "127.0.0.1:9000"],
        &["--auth-token", "a-long-enough-token-123"],
        &["--stateless"],
        &["--drain-seconds", "3"],
        &["--public-url", "https://mcp.example.com"],
        &["--metrics-public"],
        &["--transport", "stdio", "--allowed-host", "mcp.example.com"],
    ] {
        let err = parse(args).expect_err("refused without --transport http");
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
        let message = err.to_string();
        assert!(
            message.contains(&format!(
                "{} only applies to --transport http",
                args.iter()
                    .find(|a| a.starts_with("--") && **a != "--transport")
                    .expect("a flag")
            )),
            "{message}"
        );
    }
    let cli = parse(&["--transport", "http", "--client-keys", "--stateless"]).expect("accepted");
    assert!(cli.server.transport.http.client_keys);
    assert!(
        parse(&[]).is_ok(),
        "the defaults of the HTTP group do not count as given"
    );
}

#[test]
fn debug_output_shows_no_secret() {
    let secrets = [
        "sk-the-api-key-0123",
        "the-auth-token-0123456789",
        "second-token-0123456789",
        "the-proxy-password",
        "the-certificate-password",
    ];
    let cli = parse(&[
        "--api-key",
        secrets[0],
        "--transport",
        "http",
        "--auth-token",
        &format!("{},{}", secrets[1], secrets[2]),
        "--proxy-server",
        "http://proxy.example.com:8080",
        "--proxy-password",
        secrets[3],
        "--client-certificate-password",
        secrets[4],
    ])
    .expect("parsed");
    let shown = format!("{cli:?}");
    assert!(
        shown.contains("proxy.example.com"),
        "the rest is shown: {shown}"
    );
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    let config = cli.server.into_config().expect("valid");
    let shown = format!("{config:?}");
    assert!(shown.contains("proxy.example.com"), "{shown}");
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn http_options_come_from_the_http_group() {
    let cli = parse(&[
        "--transport",
        "http",
        "--listen",
        "0.0.0.0:9000",
        "--auth-token",
        " a-long-enough-token-123 ",
        "--allowed-host",
        "mcp.example.com, ,*",
        "--max-body-mb",
        "2",
        "--wait-seconds",
        "20",
        "--max-wait-seconds",
        "30",
    ])
    .expect("parsed");
    let config = cli.server.into_config().expect("valid");
    let TransportConfig::Http(http) = config.transport else {
        panic!("http transport expected");
    };
    assert_eq!(http.listen.to_string(), "0.0.0.0:9000");
    assert!(http.tokens.accepts(b"a-long-enough-token-123"));
    assert_eq!(http.allowed_hosts, ["mcp.example.com", "*"]);
    assert_eq!(http.max_body_bytes, 2 * 1024 * 1024);
    assert_eq!(http.drain, std::time::Duration::from_secs(35));
    assert!(!config.settings.client_keys);
}

#[test]
fn oauth_options_come_from_the_http_group() {
    let cli = parse(&[
        "--transport",
        "http",
        "--listen",
        "0.0.0.0:9000",
        "--public-url",
        "https://mcp.example.com/",
        "--oauth-issuer",
        "https://login.example.com/realms/team/",
        "--oauth-required-scope",
        "smooth:browse, ,openid",
    ])
    .expect("parsed");
    let config = cli
        .server
        .into_config()
        .expect("OAuth alone protects a public address");
    let TransportConfig::Http(http) = config.transport else {
        panic!("http transport expected");
    };
    let oauth = http.oauth.expect("oauth options");
    assert_eq!(oauth.resource.as_str(), "https://mcp.example.com/mcp");
    // `iss` is compared byte for byte: the issuer stays exactly as given.
    assert_eq!(oauth.issuer, "https://login.example.com/realms/team/");
    assert_eq!(
        oauth.audiences,
        [
            "https://mcp.example.com/mcp",
            "https://mcp.example.com",
            "https://mcp.example.com/"
        ]
    );
    assert_eq!(oauth.required_scopes, ["smooth:browse", "openid"]);
    assert!(oauth.key_by_claim.is_none());
    assert_eq!(http.allowed_hosts, ["mcp.example.com"]);

    let with_audience = parse(&[
        "--transport",
        "http",
        "--public-url",
        "https://mcp.example.com/team",
        "--oauth-issuer",
        "https://login.example.com",
        "--oauth-audience",
        "api://smooth",
    ])
    .expect("parsed");
    let TransportConfig::Http(http) = with_audience.server.into_config().expect("valid").transport
    else {
        panic!("http transport expected");
    };
    let oauth = http.oauth.expect("oauth options");
    assert_eq!(oauth.resource.as_str(), "https://mcp.example.com/team/mcp");
    assert_eq!(oauth.audiences, ["api://smooth"]);
}

#[test]
fn oauth_flags_are_checked() {
    let needs_public_url = parse(&[
        "--transport",
        "http",
        "--oauth-issuer",
        "https://login.example.com",
    ]);
    assert!(needs_public_url.is_err());
    let needs_a_map = parse(&[
        "--transport",
        "http",
        "--public-url",
        "https://mcp.example.com",
        "--oauth-issuer",
        "https://login.example.com",
        "--key-by-claim",
        "groups",
    ]);
    assert!(needs_a_map.is_err());
    for (flag, value) in [
        ("--public-url", "mcp.example.com"),
        ("--public-url", "https://mcp.example.com/?x=1"),
        ("--public-url", "ftp://mcp.example.com"),
        ("--oauth-issuer", "login.example.com"),
    ] {
        let mut args = vec![
            "--transport",
            "http",
            "--public-url",
            "https://mcp.example.com",
            "--oauth-issuer",
            "https://login.example.com",
        ];
        let at = args.iter().position(|a| *a == flag).expect("flag") + 1;
        args[at] = value;
        let err = parse(&args)
            .expect("parsed")
            .server
            .into_config()
            .expect_err("refused");
        assert!(err.to_string().contains(flag), "{flag} {value}: {err}");
    }
    let bad_entry = parse(&[
        "--transport",
        "http",
        "--public-url",
        "https://mcp.example.com",
        "--oauth-issuer",
        "https://login.example.com",
        "--key-by-claim",
        "groups",
        "--key-map",
        "sales",
    ])
    .expect("parsed")
    .server
    .into_config()
    .expect_err("refused");
    assert!(
        bad_entry.to_string().contains("VALUE=ENV_VAR"),
        "{bad_entry}"
    );
}

#[test]
fn an_unprotected_address_is_a_config_error() {
    let cli = parse(&["--transport", "http", "--listen", "0.0.0.0:9000"]).expect("parsed");
    let err = cli.server.into_config().expect_err("refused");
    assert!(err.to_string().contains("SMOOTH_MCP_AUTH_TOKEN"), "{err}");
}

#[test]
fn waits_are_checked() {
    let cli = parse(&["--wait-seconds", "60", "--max-wait-seconds", "55"]).expect("parsed");
    let err = cli.server.into_config().expect_err("refused");
    assert!(err.to_string().contains("--wait-seconds (60)"), "{err}");
}

#[test]
fn the_artifact_wait_reaches_the_settings() {
    let config = |args: &[&str]| parse(args).expect("parsed").server.into_config();
    let wait = |args: &[&str]| config(args).expect("valid").settings.artifact_wait;
    assert_eq!(wait(&[]), std::time::Duration::from_secs(5));
    assert_eq!(
        wait(&["--artifact-wait-seconds", "0.5"]),
        std::time::Duration::from_millis(500)
    );
    assert_eq!(
        wait(&["--artifact-wait-seconds", "0"]),
        std::time::Duration::ZERO
    );
    assert!(parse(&["--artifact-wait-seconds", "-1"]).is_err());
}

#[cfg(not(feature = "mock"))]
#[test]
fn without_the_mock_feature_there_is_no_mock() {
    assert!(parse(&["--mock"]).is_err());
    assert!(parse(&["mock"]).is_err());
}

#[cfg(feature = "mock")]
#[test]
fn the_mock_subcommand_ignores_the_transport_rule() {
    let cli = parse(&["mock", "--listen", "127.0.0.1:9999"]).expect("parsed");
    assert!(matches!(cli.command, Some(Command::Mock(_))));
}

#[test]
fn agent_flags_reach_the_settings() {
    let cli = parse(&["--ask-user", "off", "--tool-answer-timeout", "2.5"]).expect("parsed");
    let config = cli.server.into_config().expect("valid");
    assert!(!config.settings.ask_user);
    assert_eq!(
        config.settings.tool_answer_timeout,
        std::time::Duration::from_millis(2500)
    );
    assert!(config.agent.operator_tools.is_empty() && config.agent.secrets.is_empty());
    let defaults = parse(&[])
        .expect("parsed")
        .server
        .into_config()
        .expect("valid");
    assert!(defaults.settings.ask_user);
    assert_eq!(
        defaults.settings.tool_answer_timeout,
        std::time::Duration::from_secs(600)
    );
}

#[test]
fn config_file_and_secret_errors_name_what_to_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("smooth.toml");
    std::fs::write(&path, "[tools.t]\ndescription = \"d\"\ninputs = { type = \"object\" }\ncommand = [\"x\"]\nretries = 2\n")
        .expect("written");
    let cli = parse(&["--config", path.to_str().expect("utf-8")]).expect("parsed");
    let err = cli.server.into_config().expect_err("refused").to_string();
    assert!(err.contains("smooth.toml:"), "{err}");
    assert!(err.contains("tools.t.retries"), "{err}");

    let missing = parse(&["--config", "/nonexistent/smooth.toml"]).expect("parsed");
    let err = missing
        .server
        .into_config()
        .expect_err("refused")
        .to_string();
    assert!(err.contains("/nonexistent/smooth.toml"), "{err}");

    let unset = parse(&[
        "--secret",
        "bank=env:SMOOTH_MCP_TEST_UNSET_VAR@https://bank.example/*",
    ])
    .expect("parsed");
    let err = unset.server.into_config().expect_err("refused").to_string();
    assert_eq!(
        err,
        "secret bank: environment variable SMOOTH_MCP_TEST_UNSET_VAR is not set (or not UTF-8)"
    );
}

#[test]
fn setup_names_one_client_or_lists_them() {
    let cli = parse(&["setup", "claude-desktop", "--toolsets", "files,all"]).expect("parses");
    let Some(Command::Setup(setup)) = cli.command else {
        panic!("setup: {:?}", cli.command);
    };
    assert_eq!(setup.client, Some(crate::setup::Client::ClaudeDesktop));
    assert_eq!(setup.toolsets, ["files", "all"]);
    assert!(parse(&["setup"]).is_err(), "a client or --list");
    assert!(parse(&["setup", "--list"]).is_ok());
    assert!(parse(&["setup", "cursor", "--list"]).is_err());
    assert!(parse(&["setup", "emacs"]).is_err());
    assert!(parse(&["setup", "cursor", "--toolsets", "nope"]).is_err());
}

#[test]
fn limit_flags_reach_the_settings() {
    use crate::limits::{Budget, LimitSettings, Window};
    let cli = parse(&[
        "--max-concurrent-tasks",
        "2",
        "--max-open-sessions",
        "1",
        "--credit-budget",
        "50/day",
    ])
    .expect("parsed");
    let config = cli.server.into_config().expect("valid");
    assert_eq!(
        config.settings.limits,
        LimitSettings {
            max_concurrent_tasks: Some(2),
            max_open_sessions: Some(1),
            credit_budget: Some(Budget {
                credits: 50.0,
                window: Window::Day
            }),
        }
    );
    let defaults = parse(&[])
        .expect("parsed")
        .server
        .into_config()
        .expect("valid");
    assert_eq!(defaults.settings.limits, LimitSettings::default());
    for bad in [
        &["--credit-budget", "50/week"][..],
        &["--credit-budget", "0"],
        &["--max-concurrent-tasks", "0"],
    ] {
        let err = parse(bad).expect_err("refused").to_string();
        assert!(err.contains(bad[0]), "{err}");
    }
}
