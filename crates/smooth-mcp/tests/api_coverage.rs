#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benchmarks fail loudly
//! The profile, file and extension tools, every task option and the server-side defaults,
//! through the real binary on stdio and rmcp's client, against an in-process mock.

mod support;

use std::path::Path;
use std::process::Stdio;

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RequestContext;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};
use smooth_mock::{Fault, MockSmooth};
use support::{Launch, Server, fast_mock, spawn_against, start_mock, text};

/// A minimal valid zip archive (the end-of-central-directory record of an empty one).
const EMPTY_ZIP: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

fn bodies(mock: &MockSmooth, method: &str, path: &str) -> Vec<Value> {
    mock.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path == path)
        .filter_map(|r| r.body)
        .collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[tokio::test]
async fn profiles_lifecycle_and_the_login_hand_off() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;

    let made = server
        .ok("create_profile", json!({"profile_id": "work"}))
        .await;
    assert_eq!(made["profile_id"], "work");
    let next = made["next_step"].as_str().unwrap();
    assert!(
        next.contains("open_session") && next.contains("5 seconds"),
        "{next}"
    );
    let e = server
        .err("create_profile", json!({"profile_id": "work"}))
        .await;
    assert!(e.contains("already exists"), "{e}");
    let picked = server.ok("create_profile", json!({})).await;
    let picked_id = picked["profile_id"].as_str().unwrap().to_owned();
    assert!(!picked_id.is_empty());
    assert_eq!(bodies(&mock, "POST", "/profile").len(), 3);

    // The hand-off: a session with the profile, the human logs in, close, then a task.
    let opened = server
        .ok(
            "open_session",
            json!({"profile_id": "work", "url": "https://github.com/login"}),
        )
        .await;
    let sid = opened["session_id"].as_str().unwrap();
    assert!(opened["live_url"].is_string());
    server
        .ok(
            "session_action",
            json!({"session_id": sid, "action": "close"}),
        )
        .await;
    let listed = server.ok("list_profiles", json!({})).await;
    let profiles = listed["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2, "{listed}");
    let work = profiles.iter().find(|p| p["profile_id"] == "work").unwrap();
    assert_eq!(work["cookie_domains"], json!(["github.com"]), "{work}");
    assert!(work["cookie_count"].as_u64().unwrap() > 0);
    assert!(work["size_bytes"].as_u64().unwrap() > 0);
    assert!(!work["last_saved_at"].is_null());
    let done = server
        .ok(
            "run_browser_task",
            json!({"task": "Star the repo", "profile_id": "work", "profile_read_only": true, "wait_seconds": 20}),
        )
        .await;
    assert_eq!(done["status"], "done");
    let task_body = bodies(&mock, "POST", "/task").pop().unwrap();
    assert_eq!(task_body["profile_id"], "work");
    assert_eq!(task_body["profile_read_only"], true);

    let gone = server
        .ok("delete_profile", json!({"profile_id": "work"}))
        .await;
    assert_eq!(gone, json!({"id": "work", "deleted": true}));
    let e = server
        .err("delete_profile", json!({"profile_id": "work"}))
        .await;
    assert!(
        e.contains("No profile") && e.contains("list_profiles"),
        "{e}"
    );
    let e = server
        .err("delete_profile", json!({"profile_id": "  "}))
        .await;
    assert!(e.contains("profile_id"), "{e}");
    let listed = server.ok("list_profiles", json!({})).await;
    assert_eq!(listed["profiles"].as_array().unwrap().len(), 1);
    assert_eq!(mock.count("DELETE", "/profile/work"), 2);

    // Upstream trouble is a tool error with advice, not a crash.
    mock.inject_fault(Fault::new("GET", "/profile", 403).with_times(4));
    let e = server.err("list_profiles", json!({})).await;
    assert!(e.contains("plan"), "{e}");
    server.quit().await;
}

#[tokio::test]
async fn delete_file_removes_an_upload_once() {
    let mock = start_mock(fast_mock()).await;
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("notes.txt");
    std::fs::write(&file, b"hello").unwrap();
    let server = spawn_against(
        &mock,
        Launch::with_args(vec!["--allow-dir", path_str(root.path())]),
    )
    .await;
    let up = server
        .ok("upload_file", json!({"path": path_str(&file)}))
        .await;
    let id = up["file_id"].as_str().unwrap();
    let del = server.ok("delete_file", json!({"file_id": id})).await;
    assert_eq!(del, json!({"id": id, "deleted": true}));
    let e = server.err("delete_file", json!({"file_id": id})).await;
    assert!(e.contains("No file") && e.contains(id), "{e}");
    assert_eq!(mock.count("DELETE", &format!("/file/{id}")), 2);
    server.quit().await;
}

#[tokio::test]
async fn extensions_lifecycle_and_refused_uploads() {
    let mock = start_mock(fast_mock()).await;
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let zip = root.path().join("adblock.zip");
    std::fs::write(&zip, EMPTY_ZIP).unwrap();
    let server = spawn_against(
        &mock,
        Launch::with_args(vec![
            "--allow-dir",
            path_str(root.path()),
            "--max-upload-mb",
            "1",
            "--toolsets",
            "all",
        ]),
    )
    .await;

    let up = server
        .ok("upload_extension", json!({"path": path_str(&zip)}))
        .await;
    assert_eq!(up["name"], "adblock.zip");
    assert_eq!(up["size_bytes"], EMPTY_ZIP.len());
    let ext = up["extension_id"].as_str().unwrap().to_owned();
    assert_eq!(
        bodies(&mock, "POST", "/extension"),
        vec![json!({"file_name": "adblock.zip", "size": EMPTY_ZIP.len(), "file_purpose": null})]
    );
    let listed = server.ok("list_extensions", json!({})).await;
    assert_eq!(listed["extensions"][0]["extension_id"], ext.as_str());
    assert_eq!(listed["extensions"][0]["file_name"], "adblock.zip");
    assert!(listed["extensions"][0]["created_at"].is_number());

    // A task and a session load it.
    server
        .ok(
            "run_browser_task",
            json!({"task": "t", "browser": {"extensions": [ext]}, "wait_seconds": 20}),
        )
        .await;
    let opened = server
        .ok("open_session", json!({"browser": {"extensions": [ext]}}))
        .await;
    server
        .ok(
            "session_action",
            json!({"session_id": opened["session_id"], "action": "close", "force": true}),
        )
        .await;
    for body in bodies(&mock, "POST", "/task") {
        assert_eq!(body["extensions"], json!([ext]), "{body}");
    }

    // Refused before anything is read or sent.
    let sent_before = mock.count("POST", "/extension");
    std::fs::write(root.path().join("notes.txt"), b"x").unwrap();
    std::fs::write(root.path().join("fake.zip"), b"not a zip").unwrap();
    std::fs::write(outside.path().join("secret.zip"), EMPTY_ZIP).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.zip"),
        root.path().join("link.zip"),
    )
    .unwrap();
    std::fs::create_dir(root.path().join("folder.zip")).unwrap();
    let big = std::fs::File::create(root.path().join("big.zip")).unwrap();
    big.set_len(1024 * 1024 + 1).unwrap();
    let fifo = root.path().join("pipe.zip");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let escape = root
        .path()
        .join("..")
        .join(outside.path().file_name().unwrap())
        .join("secret.zip");
    let cases: [(std::path::PathBuf, &str); 7] = [
        (root.path().join("notes.txt"), "not a .zip"),
        (root.path().join("fake.zip"), "not a .zip"),
        (outside.path().join("secret.zip"), "outside"),
        (root.path().join("link.zip"), "outside"),
        (escape, "outside"),
        (root.path().join("folder.zip"), "directory"),
        (root.path().join("big.zip"), "at most"),
    ];
    for (path, expected) in &cases {
        let e = server
            .err("upload_extension", json!({"path": path_str(path)}))
            .await;
        assert!(e.contains(expected), "{}: {e}", path.display());
    }
    // A pipe would block a reader: it must be refused unread.
    let e = server
        .err("upload_extension", json!({"path": path_str(&fifo)}))
        .await;
    assert!(e.contains("not a regular file"), "{e}");
    let e = server
        .err("upload_extension", json!({"path": "/nonexistent/x.zip"}))
        .await;
    assert!(e.contains("Cannot read"), "{e}");
    assert_eq!(mock.count("POST", "/extension"), sent_before);

    let del = server
        .ok("delete_extension", json!({"extension_id": ext}))
        .await;
    assert_eq!(del["deleted"], true);
    let e = server
        .err("delete_extension", json!({"extension_id": ext}))
        .await;
    assert!(e.contains("No extension"), "{e}");
    // The SDKs' path, not the OpenAPI document's.
    assert_eq!(mock.count("DELETE", &format!("/extension/{ext}")), 2);
    assert_eq!(
        mock.count("DELETE", &format!("/browser/extension/{ext}")),
        0
    );
    let listed = server.ok("list_extensions", json!({})).await;
    assert_eq!(listed["extensions"], json!([]));
    assert!(listed["note"].is_string());
    server.quit().await;
}

const PASSWORD: &str = "hunter2-Pr0xy-secret";
const CALL_PASSWORD: &str = "per-call-S3cret";

fn assert_no_secret(what: &str, s: &str) {
    assert!(
        !s.contains(PASSWORD) && !s.contains(CALL_PASSWORD),
        "a proxy password leaked into {what}: {s}"
    );
}

/// A call whose whole result (text and structured content) must not hold a password.
async fn call_clean(server: &Server, name: &str, args: Value) -> rmcp::model::CallToolResult {
    let r = server.call(name, args).await;
    assert_no_secret(name, &serde_json::to_string(&r).unwrap());
    r
}

#[tokio::test]
async fn task_options_server_defaults_and_the_proxy_password() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(
        &mock,
        Launch {
            args: vec![
                "--proxy-server",
                "http://proxy.example:8080",
                "--proxy-username",
                "bob",
                "--default-device",
                "mobile",
                "--default-agent",
                "smooth-lite",
                "--use-adblock",
                "false",
                "--show-cursor",
                "true",
                "--default-additional-tools",
                r#"{"hover": {}}"#,
                "--experimental-features",
                r#"{"beta": true}"#,
                "--log-level",
                "smooth_mcp=trace",
            ],
            env: vec![("SMOOTH_MCP_PROXY_PASSWORD", PASSWORD)],
            ..Launch::default()
        },
    )
    .await;

    // Defaults fill what the call leaves out; a screenshot asks for the downloads link.
    let r = call_clean(
        &server,
        "run_browser_task",
        json!({"task": "Screenshot the pricing page", "url": "https://example.com",
               "additional_tools": {"screenshot": {"full_page": true}}, "wait_seconds": 20}),
    )
    .await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let out = r.structured_content.unwrap();
    assert!(
        out["downloads_url"].as_str().unwrap().contains(".zip?"),
        "{out}"
    );
    let body = bodies(&mock, "POST", "/task").pop().unwrap();
    assert_eq!(body["proxy_server"], "http://proxy.example:8080");
    assert_eq!(body["proxy_username"], "bob");
    assert_eq!(body["proxy_password"], PASSWORD);
    assert_eq!(body["device"], "mobile");
    assert_eq!(body["agent"], "smooth-lite");
    assert_eq!(body["use_adblock"], false);
    assert_eq!(body["show_cursor"], true);
    assert_eq!(body["experimental_features"], json!({"beta": true}));
    assert_eq!(
        body["additional_tools"],
        json!({"hover": {}, "screenshot": {"full_page": true}})
    );
    for unset in ["use_stealth", "use_captcha_solver", "extensions"] {
        assert!(body.get(unset).is_none(), "{unset} sent: {body}");
    }

    // The call's own values win; the configured credentials never go to another proxy.
    call_clean(
        &server,
        "run_browser_task",
        json!({"task": "t", "device": "desktop", "agent": "smooth", "wait_seconds": 20,
               "browser": {"proxy_server": "socks5://other.example:1080", "use_adblock": true,
                           "use_stealth": false, "use_captcha_solver": false, "show_cursor": false,
                           "experimental_features": {"gamma": 1}}}),
    )
    .await;
    let body = bodies(&mock, "POST", "/task").pop().unwrap();
    assert_eq!(body["proxy_server"], "socks5://other.example:1080");
    assert!(body.get("proxy_username").is_none() && body.get("proxy_password").is_none());
    assert_eq!(body["device"], "desktop");
    assert_eq!(body["agent"], "smooth");
    assert_eq!(body["use_adblock"], true);
    assert_eq!(body["use_stealth"], false);
    assert_eq!(body["use_captcha_solver"], false);
    assert_eq!(body["show_cursor"], false);
    assert_eq!(body["experimental_features"], json!({"gamma": 1}));

    // A per-call password reaches Smooth and nothing else.
    call_clean(
        &server,
        "run_browser_task",
        json!({"task": "t", "wait_seconds": 20,
               "browser": {"proxy_server": "http://p2.example:3128", "proxy_username": "amy",
                           "proxy_password": CALL_PASSWORD}}),
    )
    .await;
    let body = bodies(&mock, "POST", "/task").pop().unwrap();
    assert_eq!(body["proxy_password"], CALL_PASSWORD);

    // Sessions get the browser setup too (not the agent or its tools).
    let r = call_clean(&server, "open_session", json!({})).await;
    let sid = r.structured_content.unwrap()["session_id"].clone();
    let body = bodies(&mock, "POST", "/task").pop().unwrap();
    assert!(body["task"].is_null());
    assert_eq!(body["proxy_password"], PASSWORD);
    assert_eq!(body["device"], "mobile");
    assert!(body.get("agent").is_none() && body.get("additional_tools").is_none());
    call_clean(
        &server,
        "session_action",
        json!({"session_id": sid, "action": "close", "force": true}),
    )
    .await;

    // Bad options are refused before anything is sent, without echoing secrets.
    let sent = mock.count("POST", "/task");
    for (args, expected) in [
        (
            json!({"task": "t", "browser": {"proxy_password": CALL_PASSWORD}}),
            "proxy_server",
        ),
        (
            json!({"task": "t", "browser": {"proxy_server": "ftp://x.example"}}),
            "proxy URL",
        ),
        (
            json!({"task": "t", "additional_tools": {"screenshot": 5}}),
            "additional_tools.screenshot",
        ),
        (
            json!({"task": "t", "browser": {"extensions": [""]}}),
            "browser.extensions",
        ),
        (json!({"task": "t", "browser": {"popups": true}}), "popups"),
    ] {
        let r = call_clean(&server, "run_browser_task", args).await;
        assert_eq!(r.is_error, Some(true));
        let e = text(&r);
        assert!(e.contains(expected), "{e}");
    }
    assert_eq!(mock.count("POST", "/task"), sent);

    // Smooth echoing the password in an error: masked.
    mock.inject_fault(
        Fault::new("POST", "/task", 422).with_detail(json!(format!("proxy {PASSWORD} refused"))),
    );
    let r = call_clean(&server, "run_browser_task", json!({"task": "t"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("proxy *** refused"), "{}", text(&r));

    let (_, stderr) = server.quit().await;
    assert!(
        stderr.contains("task created"),
        "trace logging was on: {stderr}"
    );
    assert_no_secret("stderr", &stderr);
}

#[tokio::test]
async fn bad_defaults_refuse_to_start() {
    let mock = start_mock(fast_mock()).await;
    for (args, expected) in [
        (
            vec!["--toolsets", "core,bogus"],
            "unknown toolset \"bogus\"",
        ),
        (vec!["--proxy-server", "not a url"], "--proxy-server"),
        (
            vec!["--default-additional-tools", "[1]"],
            "must be a JSON object",
        ),
        (vec!["--proxy-password", "x"], "--proxy-server"),
        (vec!["--default-device", "tablet"], "tablet"),
    ] {
        let out = tokio::process::Command::new(support::BIN)
            .args(&args)
            .env_clear()
            .env("SMOOTH_BASE_URL", mock.base_url())
            .env("SMOOTH_API_KEY", "test-key")
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn hidden_toolsets_are_not_callable() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::with_args(vec!["--toolsets", "core"])).await;
    for name in ["create_profile", "upload_file", "upload_extension"] {
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(
            json!({"profile_id": "x", "path": "x.zip"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        assert!(
            server.client.call_tool(params).await.is_err(),
            "{name} is callable"
        );
    }
    assert!(mock.requests().is_empty());
    server.quit().await;
}

/// A client that offers MCP roots.
#[derive(Clone)]
struct RootsClient(String);

#[allow(deprecated)] // roots (SEP-2577) are what this test is about
impl ClientHandler for RootsClient {
    async fn list_roots(
        &self,
        _c: RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, ErrorData> {
        Ok(rmcp::model::ListRootsResult::new(vec![
            rmcp::model::Root::new(self.0.clone()),
        ]))
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_roots().build(),
            Implementation::new("roots-client", "0"),
        )
    }
}

#[tokio::test]
async fn client_roots_are_the_allowed_roots_without_allow_dir() {
    let mock = start_mock(fast_mock()).await;
    let project = tempfile::tempdir().unwrap();
    let file = project.path().join("brief.txt");
    std::fs::write(&file, b"brief").unwrap();
    let root_uri = format!("file://{}", path_str(project.path()));
    let launch = |extra: &[&str]| {
        let mut cmd = tokio::process::Command::new(support::BIN);
        cmd.args(["--poll-interval", "0.1"])
            .args(extra)
            .env_clear()
            .env("SMOOTH_BASE_URL", mock.base_url())
            .env("SMOOTH_API_KEY", "test-key")
            // The working directory does not hold the file.
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        cmd
    };

    // Roots offered, no --allow-dir: the roots decide.
    let mut child = launch(&[]).spawn().unwrap();
    let io = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let client = RootsClient(root_uri.clone()).serve(io).await.unwrap();
    let up = |path: &str| {
        CallToolRequestParams::new("upload_file")
            .with_arguments(json!({"path": path}).as_object().cloned().unwrap())
    };
    let r = client.call_tool(up(path_str(&file))).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let inside_cwd = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let r = client.call_tool(up(inside_cwd)).await.unwrap();
    assert_eq!(
        r.is_error,
        Some(true),
        "the working directory is not a root"
    );
    let _ = client.cancel().await;

    // --allow-dir wins over the client's roots.
    let other = tempfile::tempdir().unwrap();
    let mut child = launch(&["--allow-dir", path_str(other.path())])
        .spawn()
        .unwrap();
    let io = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let client = RootsClient(root_uri).serve(io).await.unwrap();
    let r = client.call_tool(up(path_str(&file))).await.unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("outside"), "{}", text(&r));
    let _ = client.cancel().await;
    assert_eq!(mock.count("POST", "/file"), 1);
}

#[tokio::test]
async fn client_certificates_are_server_configuration_and_stay_secret() {
    const CERT_PASSWORD: &str = "c3rt-Pa55word";
    let mock = start_mock(fast_mock()).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("client.p12");
    std::fs::write(&cert, b"\x30\x82fake-p12-bytes").unwrap();
    let server = spawn_against(
        &mock,
        Launch {
            args: vec!["--client-certificate", path_str(&cert)],
            env: vec![("SMOOTH_MCP_CLIENT_CERTIFICATE_PASSWORD", CERT_PASSWORD)],
            ..Launch::default()
        },
    )
    .await;
    let task = server
        .call("run_browser_task", json!({"task": "mTLS site"}))
        .await;
    let session = server.call("open_session", json!({})).await;
    for r in [&task, &session] {
        let shown = serde_json::to_string(r).unwrap();
        assert!(!shown.contains(CERT_PASSWORD), "{shown}");
    }
    let posts = bodies(&mock, "POST", "/task");
    assert_eq!(posts.len(), 2);
    for body in posts {
        assert_eq!(
            body["certificates"],
            json!([{"file": "MIJmYWtlLXAxMi1ieXRlcw==", "password": CERT_PASSWORD}])
        );
    }
    let (_, stderr) = server.quit().await;
    assert!(!stderr.contains(CERT_PASSWORD));
}

#[tokio::test]
async fn a_session_opens_without_url_then_goes_to_it() {
    let mock = start_mock(fast_mock()).await;
    let server = spawn_against(&mock, Launch::default()).await;

    let opened = server
        .ok("open_session", json!({"url": "https://example.com/start"}))
        .await;
    let sid = opened["session_id"].as_str().unwrap();
    // Smooth refuses a session with a start url: it is created without one, then navigated.
    let created = bodies(&mock, "POST", "/task");
    assert_eq!(created.len(), 1);
    assert!(created[0]["task"].is_null(), "{}", created[0]);
    assert!(created[0]["url"].is_null(), "{}", created[0]);
    let events = bodies(&mock, "POST", &format!("/task/{sid}/event"));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["name"], "browser_action");
    assert_eq!(
        events[0]["payload"],
        json!({"name": "goto", "input": {"url": "https://example.com/start"}})
    );
    let title = server
        .ok(
            "session_action",
            json!({"session_id": sid, "action": "evaluate_js", "js": "location.href"}),
        )
        .await;
    assert_eq!(title["output"], "https://example.com/start", "{title}");

    // A failed navigation is an error that still names the session, so it can be closed.
    mock.inject_fault(Fault::new("POST", "/task/*/event", 400));
    let e = server
        .err("open_session", json!({"url": "https://example.com/other"}))
        .await;
    let failed = mock
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "POST" && r.path.ends_with("/event"))
        .unwrap();
    let other = failed.path.split('/').nth(2).unwrap().to_owned();
    assert_ne!(other, sid);
    assert!(e.contains(&other) && e.contains("close"), "{e}");
    server
        .ok(
            "session_action",
            json!({"session_id": other, "action": "close"}),
        )
        .await;
    server.quit().await;
}
