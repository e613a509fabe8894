#![allow(clippy::expect_used)] // tests fail loudly
#![cfg(unix)] // file modes; the per-OS paths themselves are unit-tested in setup::clients
//! `smooth-mcp setup <client>` and `smooth-mcp doctor`, through the real binary, with a
//! temporary HOME and nothing else of the environment but PATH.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use smooth_mock::{MockConfig, MockSmooth};

const BIN: &str = env!("CARGO_BIN_EXE_smooth-mcp");
const KEY: &str = "sk-setup-sentinel-4711";
const CLIENTS: [&str; 7] = [
    "claude-desktop",
    "claude-code",
    "cursor",
    "vscode",
    "windsurf",
    "codex",
    "gemini",
];

struct Home {
    dir: tempfile::TempDir,
}

/// One run of the binary.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "{}\n{}", self.stdout, self.stderr);
        self
    }

    fn failed(self) -> Self {
        assert_eq!(self.code, Some(1), "{}\n{}", self.stdout, self.stderr);
        self
    }

    fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Where each client keeps its user config, written out by hand from the clients' docs.
    fn config(&self, client: &str) -> PathBuf {
        let home = self.root();
        let app = if cfg!(target_os = "macos") {
            home.join("Library/Application Support")
        } else {
            home.join(".config")
        };
        match client {
            "claude-desktop" => app.join("Claude/claude_desktop_config.json"),
            "claude-code" => home.join(".claude.json"),
            "cursor" => home.join(".cursor/mcp.json"),
            "vscode" => app.join("Code/User/mcp.json"),
            "windsurf" => home.join(".codeium/windsurf/mcp_config.json"),
            "codex" => home.join(".codex/config.toml"),
            "gemini" => home.join(".gemini/settings.json"),
            other => panic!("unknown client {other}"),
        }
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        self.command_of(BIN, args, env)
    }

    fn command_of(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.root())
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let run = Run::from(self.command(args, env).output().expect("binary runs"));
        assert!(
            !run.output().contains(KEY),
            "the key was printed:\n{}",
            run.output()
        );
        run
    }

    /// Puts a config file in place, readable by everyone (as editors create them).
    fn write(&self, client: &str, text: &str) -> PathBuf {
        let path = self.config(client);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        path
    }

    fn read(&self, client: &str) -> String {
        std::fs::read_to_string(self.config(client)).expect("config file exists")
    }

    /// The whole config file as JSON (Codex's TOML converted).
    fn json(&self, client: &str) -> Value {
        let text = self.read(client);
        if client == "codex" {
            let table: toml::Table = toml::from_str(&text).expect("valid TOML");
            serde_json::to_value(table).expect("as JSON")
        } else {
            serde_json::from_str(&text).expect("valid JSON")
        }
    }

    fn entry(&self, client: &str) -> Value {
        self.json(client)[servers_key(client)]["smooth"].clone()
    }

    fn mode(&self, client: &str) -> u32 {
        std::fs::metadata(self.config(client))
            .expect("config file exists")
            .permissions()
            .mode()
            & 0o777
    }

    /// Every file next to the client's config (backups, leftovers).
    fn siblings(&self, client: &str) -> Vec<String> {
        let path = self.config(client);
        let mut names: Vec<String> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn backup(&self, client: &str) -> PathBuf {
        PathBuf::from(format!("{}.bak", self.config(client).display()))
    }
}

fn servers_key(client: &str) -> &'static str {
    match client {
        "vscode" => "servers",
        "codex" => "mcp_servers",
        _ => "mcpServers",
    }
}

fn exe() -> String {
    std::fs::canonicalize(BIN)
        .expect("binary path")
        .to_str()
        .expect("UTF-8")
        .to_owned()
}

/// A config as users have them: another server, other settings, and for VS Code another input.
fn existing_config(client: &str) -> String {
    if client == "codex" {
        return "# my Codex settings\nmodel = \"o3\" # keep\n\n[mcp_servers.other]\ncommand = \"node\"\nargs = [\"x.js\", \"--port\", \"3\"]\nenv = { A = \"b\" }\n".into();
    }
    let mut config = json!({
        "theme": "dark",
        "numbers": [1, 2.5, -3, 1e21, null, true],
        servers_key(client): {"other": {"command": "node", "args": ["x.js"], "env": {"A": "b"}}},
    });
    if client == "vscode" {
        config["inputs"] = json!([{"type": "promptString", "id": "other-token", "password": true}]);
    }
    // Written compactly, in another key order than serde_json's: only the values must survive.
    format!(
        "{{\"{}\": {}, \"theme\": \"dark\", \"numbers\": {}{}}}",
        servers_key(client),
        config[servers_key(client)],
        config["numbers"],
        if client == "vscode" {
            format!(", \"inputs\": {}", config["inputs"])
        } else {
            String::new()
        }
    )
}

#[test]
fn a_fresh_config_gets_the_entry_with_the_key_readable_by_the_owner_only() {
    let home = Home::new();
    for client in CLIENTS {
        let run = home
            .run(&["setup", client], &[("SMOOTH_API_KEY", KEY)])
            .ok();
        let path = home.config(client);
        assert!(
            run.stdout.contains(&path.display().to_string()),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("Restart"), "{}", run.stdout);
        let entry = home.entry(client);
        assert_eq!(entry["command"], exe(), "{client}: {entry}");
        assert_eq!(entry["args"], json!([]), "{client}");
        assert_eq!(entry["env"], json!({"SMOOTH_API_KEY": KEY}), "{client}");
        let typed = matches!(client, "vscode" | "claude-code");
        assert_eq!(entry.get("type").is_some(), typed, "{client}: {entry}");
        if typed {
            assert_eq!(entry["type"], "stdio");
        }
        assert_eq!(home.mode(client), 0o600, "{client}");
        assert!(
            !home.backup(client).exists(),
            "{client}: nothing to back up"
        );
        assert!(
            home.json(client).get("inputs").is_none(),
            "{client}: no prompt"
        );
    }
}

#[test]
fn run_from_a_runner_cache_the_entry_starts_the_runner() {
    let home = Home::new();
    for (cache, runner, invocation) in [
        (
            ".npm/_npx/0a1b2c/node_modules/@smooth-mcp/linux-x64/bin",
            "npx",
            json!(["-y", "smooth-mcp", "--mock"]),
        ),
        (
            ".cache/uv/archive-v0/L7fuSEgkq/bin",
            "uvx",
            json!(["smooth-mcp", "--mock"]),
        ),
    ] {
        let dir = home.root().join(cache);
        std::fs::create_dir_all(&dir).expect("cache dir");
        let copy = dir.join("smooth-mcp");
        std::fs::copy(BIN, &copy).expect("copy the binary");
        for client in ["cursor", "codex"] {
            let out = home
                .command_of(
                    copy.to_str().expect("utf-8"),
                    &["setup", client, "--mock", "--force"],
                    &[],
                )
                .output()
                .expect("binary runs");
            let run = Run::from(out).ok();
            assert!(
                run.stdout
                    .contains(&format!("you ran setup through {runner}")),
                "{}",
                run.stdout
            );
            let entry = home.entry(client);
            assert_eq!(entry["command"], runner, "{client}: {entry}");
            assert_eq!(entry["args"], invocation, "{client}: {entry}");
        }
    }
}

#[test]
fn existing_configs_keep_every_other_server_and_setting() {
    let home = Home::new();
    let uploads = home.root().join("uploads");
    std::fs::create_dir(&uploads).expect("mkdir");
    let uploads = std::fs::canonicalize(uploads).expect("canonical");
    let uploads = uploads.to_str().expect("UTF-8");
    for client in CLIENTS {
        let original = existing_config(client);
        home.write(client, &original);
        let before = home.json(client);
        let args = [
            "setup",
            client,
            "--api-key",
            KEY,
            "--toolsets",
            "files,extensions",
            "--allow-dir",
            uploads,
        ];
        home.run(&args, &[]).ok();
        let after = home.json(client);
        let key = servers_key(client);
        for (name, value) in before.as_object().expect("object") {
            if name == key {
                continue;
            }
            assert_eq!(&after[name], value, "{client}: {name}");
        }
        assert_eq!(after[key]["other"], before[key]["other"], "{client}");
        assert_eq!(
            after[key]["smooth"]["args"],
            json!(["--toolsets", "files,extensions", "--allow-dir", uploads]),
            "{client}"
        );
        if client == "codex" {
            // toml_edit leaves the user's text, comments included, as it was.
            assert!(
                home.read(client).starts_with(&original),
                "{}",
                home.read(client)
            );
        }
        let backup = std::fs::read_to_string(home.backup(client)).expect("backup");
        assert_eq!(backup, original, "{client}: the backup is the old file");
        assert_eq!(
            home.mode(client),
            0o600,
            "{client}: a key made the file private"
        );
    }
}

#[test]
fn malformed_configs_are_refused_and_left_alone() {
    let home = Home::new();
    for client in CLIENTS {
        let broken = if client == "codex" {
            "[mcp_servers\ncommand = 1\n"
        } else {
            "{\"mcpServers\": {\"other\": {\"command\": \"x\",}}}"
        };
        home.write(client, broken);
        let siblings = home.siblings(client);
        let run = home
            .run(&["setup", client, "--force"], &[("SMOOTH_API_KEY", KEY)])
            .failed();
        let path = home.config(client).display().to_string();
        assert!(run.stderr.contains(&path), "{}", run.stderr);
        assert!(run.stderr.contains("Nothing was changed"), "{}", run.stderr);
        assert_eq!(home.read(client), broken, "{client}: untouched");
        assert_eq!(home.mode(client), 0o644, "{client}");
        assert_eq!(
            home.siblings(client),
            siblings,
            "{client}: no backup, no leftovers"
        );
    }
}

#[test]
fn print_shows_the_entry_and_the_path_and_changes_nothing() {
    let home = Home::new();
    for client in CLIENTS {
        let run = home
            .run(&["setup", client, "--print"], &[("SMOOTH_API_KEY", KEY)])
            .ok();
        assert!(!home.config(client).exists(), "{client}: no file created");
        assert!(
            run.stdout
                .contains(&home.config(client).display().to_string()),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains(&exe()), "{}", run.stdout);
        assert!(run.stdout.contains("smooth"), "{}", run.stdout);

        let original = existing_config(client);
        home.write(client, &original);
        let run = home.run(&["setup", client, "--print", "--mock"], &[]).ok();
        assert!(run.stdout.contains("--mock"), "{}", run.stdout);
        assert_eq!(home.read(client), original, "{client}: untouched");
        assert!(!home.backup(client).exists(), "{client}");
    }
}

#[test]
fn a_different_entry_is_replaced_only_with_force() {
    let home = Home::new();
    for client in CLIENTS {
        home.run(&["setup", client], &[]).ok();
        let first = home.read(client);
        let again = home.run(&["setup", client], &[]).ok();
        assert!(again.stdout.contains("already set up"), "{}", again.stdout);
        assert!(!home.backup(client).exists(), "{client}: nothing rewritten");

        let refused = home
            .run(&["setup", client, "--toolsets", "all"], &[])
            .failed();
        assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
        assert_eq!(home.read(client), first, "{client}: untouched");

        let forced = home
            .run(&["setup", client, "--toolsets", "all", "--force"], &[])
            .ok();
        assert!(forced.stdout.contains("replaced"), "{}", forced.stdout);
        assert_eq!(home.entry(client)["args"], json!(["--toolsets", "all"]));
        let backup = std::fs::read_to_string(home.backup(client)).expect("backup kept");
        assert_eq!(backup, first, "{client}");
    }
}

#[test]
fn without_a_key_vscode_prompts_for_it_and_the_others_get_a_placeholder() {
    let home = Home::new();
    for client in CLIENTS {
        let run = home.run(&["setup", client], &[]).ok();
        let config = home.json(client);
        let key = &home.entry(client)["env"]["SMOOTH_API_KEY"];
        if client == "vscode" {
            assert_eq!(key, "${input:smooth-api-key}");
            let inputs = config["inputs"].as_array().expect("inputs");
            assert_eq!(inputs.len(), 1);
            assert_eq!(inputs[0]["type"], "promptString");
            assert_eq!(inputs[0]["id"], "smooth-api-key");
            assert_eq!(inputs[0]["password"], true);
            assert!(run.stdout.contains("asks for it"), "{}", run.stdout);
        } else {
            assert_eq!(key, "<your Smooth API key>", "{client}");
            assert!(run.stdout.contains("Replace"), "{}", run.stdout);
        }
    }
    // The prompt goes next to the inputs a user already has.
    let home = Home::new();
    home.write("vscode", &existing_config("vscode"));
    home.run(&["setup", "vscode"], &[]).ok();
    let ids: Vec<Value> = home.json("vscode")["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(ids, [json!("other-token"), json!("smooth-api-key")]);
}

#[test]
fn a_mock_entry_carries_no_key_and_list_names_every_client() {
    let home = Home::new();
    home.run(&["setup", "cursor", "--mock"], &[("SMOOTH_API_KEY", KEY)])
        .ok();
    let entry = home.entry("cursor");
    assert_eq!(entry["args"], json!(["--mock"]));
    assert!(entry.get("env").is_none(), "{entry}");
    let list = home.run(&["setup", "--list"], &[]).ok();
    for client in CLIENTS {
        let line = list
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(client))
            .unwrap_or_else(|| panic!("{client} listed:\n{}", list.stdout));
        assert!(
            line.contains(&home.config(client).display().to_string()),
            "{line}"
        );
        assert_eq!(line.contains("(set up)"), client == "cursor", "{line}");
    }
}

async fn doctor(home: &Home, mock: &MockSmooth, key: &str) -> Run {
    let base = mock.base_url();
    let env = [("SMOOTH_BASE_URL", base.as_str()), ("SMOOTH_API_KEY", key)];
    let out = tokio::process::Command::from(home.command(&["doctor"], &env))
        .output()
        .await
        .expect("binary runs");
    Run::from(out)
}

#[tokio::test]
async fn doctor_accepts_a_good_key_and_says_when_one_is_rejected() {
    let mock = MockSmooth::start(MockConfig {
        api_key: Some("cmzr-good".into()),
        ..MockConfig::default()
    })
    .await
    .expect("mock starts");
    let home = Home::new();
    home.run(&["setup", "cursor", "--api-key", "cmzr-good"], &[])
        .ok();

    let good = doctor(&home, &mock, "cmzr-good").await.ok();
    assert!(good.stdout.contains("key accepted"), "{}", good.stdout);
    assert!(
        good.stdout.contains(&format!("smooth runs {}", exe())),
        "the Cursor entry is found: {}",
        good.stdout
    );
    assert!(!good.output().contains("cmzr-good"), "{}", good.output());

    let bad = doctor(&home, &mock, "cmzr-wrong").await.failed();
    assert!(bad.stdout.contains("key rejected"), "{}", bad.stdout);
    assert!(!bad.output().contains("cmzr-wrong"), "{}", bad.output());

    // A client whose entry points at a binary that is gone.
    let mut config = home.json("cursor");
    config["mcpServers"]["smooth"]["command"] = json!("/nonexistent/smooth-mcp");
    home.write("cursor", &config.to_string());
    let moved = doctor(&home, &mock, "cmzr-good").await.failed();
    assert!(moved.stdout.contains("does not exist"), "{}", moved.stdout);
    assert!(
        moved.stdout.contains("setup cursor --force"),
        "{}",
        moved.stdout
    );
}
