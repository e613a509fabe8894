//! The clients `setup` knows: where each keeps its MCP servers on each OS, and in what shape.
//!
//! Paths come from the environment (`HOME`, `USERPROFILE`, `APPDATA`, `XDG_CONFIG_HOME`, and the
//! clients' own `CLAUDE_CONFIG_DIR` and `CODEX_HOME`), never from a hard-coded user, so tests
//! and unusual set-ups can point them anywhere. Each path was checked against the client's
//! documentation or, where a client documents none (Claude Desktop on Linux), what it does.

use std::ffi::OsString;
use std::path::PathBuf;

/// An MCP client whose user-level configuration `setup` can edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    ClaudeDesktop,
    ClaudeCode,
    Cursor,
    Vscode,
    Windsurf,
    Codex,
    Gemini,
}

/// How a client's file holds its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON object with the servers under this key.
    Json { servers_key: &'static str },
    /// TOML with one `[mcp_servers.NAME]` table per server (Codex).
    Toml,
}

impl Client {
    pub const ALL: [Client; 7] = [
        Self::ClaudeDesktop,
        Self::ClaudeCode,
        Self::Cursor,
        Self::Vscode,
        Self::Windsurf,
        Self::Codex,
        Self::Gemini,
    ];

    /// The name on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Self::ClaudeDesktop => "claude-desktop",
            Self::ClaudeCode => "claude-code",
            Self::Cursor => "cursor",
            Self::Vscode => "vscode",
            Self::Windsurf => "windsurf",
            Self::Codex => "codex",
            Self::Gemini => "gemini",
        }
    }

    /// The name users know.
    pub fn title(self) -> &'static str {
        match self {
            Self::ClaudeDesktop => "Claude Desktop",
            Self::ClaudeCode => "Claude Code",
            Self::Cursor => "Cursor",
            Self::Vscode => "VS Code",
            Self::Windsurf => "Windsurf",
            Self::Codex => "Codex CLI",
            Self::Gemini => "Gemini CLI",
        }
    }

    pub fn format(self) -> Format {
        match self {
            Self::Vscode => Format::Json {
                servers_key: "servers",
            },
            Self::Codex => Format::Toml,
            _ => Format::Json {
                servers_key: "mcpServers",
            },
        }
    }

    /// Whether entries name their transport: VS Code requires `"type"`, and Claude Code
    /// writes it itself (`claude mcp add`), so an entry of ours looks like one of its own.
    pub fn typed_entries(self) -> bool {
        matches!(self, Self::Vscode | Self::ClaudeCode)
    }

    /// The user-level config file on this machine.
    pub fn config_path(self, dirs: &Dirs) -> PathBuf {
        let home = &dirs.home;
        match self {
            Self::ClaudeDesktop => dirs
                .app_config
                .join("Claude")
                .join("claude_desktop_config.json"),
            // User scope: the top-level `mcpServers` of ~/.claude.json (moved with the rest of
            // Claude Code's state by CLAUDE_CONFIG_DIR).
            Self::ClaudeCode => dirs
                .claude_config_dir
                .as_ref()
                .unwrap_or(home)
                .join(".claude.json"),
            Self::Cursor => home.join(".cursor").join("mcp.json"),
            // The user profile's mcp.json, next to settings.json (not inside it).
            Self::Vscode => dirs.app_config.join("Code").join("User").join("mcp.json"),
            Self::Windsurf => home
                .join(".codeium")
                .join("windsurf")
                .join("mcp_config.json"),
            Self::Codex => dirs
                .codex_home
                .clone()
                .unwrap_or_else(|| home.join(".codex"))
                .join("config.toml"),
            Self::Gemini => home.join(".gemini").join("settings.json"),
        }
    }
}

/// The operating systems whose conventions differ here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Mac,
    Windows,
    /// Linux and the other Unixes (XDG conventions).
    Unix,
}

impl Os {
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::Mac
        } else if cfg!(windows) {
            Self::Windows
        } else {
            Self::Unix
        }
    }
}

/// The directories client configs live under, read from the environment once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub home: PathBuf,
    /// Where desktop apps keep per-user settings: `~/Library/Application Support`,
    /// `%APPDATA%` or `$XDG_CONFIG_HOME` (default `~/.config`).
    pub app_config: PathBuf,
    pub claude_config_dir: Option<PathBuf>,
    pub codex_home: Option<PathBuf>,
}

/// Neither `HOME` nor (on Windows) `USERPROFILE` is set.
#[derive(Debug, thiserror::Error)]
#[error("cannot find your home directory: set HOME{}", if cfg!(windows) { " or USERPROFILE" } else { "" })]
pub struct NoHome;

impl Dirs {
    pub fn from_process_env() -> Result<Self, NoHome> {
        Self::from_env(Os::current(), |name| std::env::var_os(name))
    }

    /// `var` reads one environment variable; empty values count as unset, and relative ones
    /// for the XDG directory too (the XDG rule).
    pub fn from_env(os: Os, var: impl Fn(&str) -> Option<OsString>) -> Result<Self, NoHome> {
        let path = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = match os {
            Os::Windows => path("USERPROFILE").or_else(|| path("HOME")),
            _ => path("HOME"),
        }
        .ok_or(NoHome)?;
        let app_config = match os {
            Os::Mac => home.join("Library").join("Application Support"),
            Os::Windows => path("APPDATA").unwrap_or_else(|| home.join("AppData").join("Roaming")),
            Os::Unix => path("XDG_CONFIG_HOME")
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| home.join(".config")),
        };
        Ok(Self {
            app_config,
            claude_config_dir: path("CLAUDE_CONFIG_DIR"),
            codex_home: path("CODEX_HOME"),
            home,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(os: Os, vars: &[(&str, &str)]) -> Dirs {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Dirs::from_env(os, |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into())
        })
        .unwrap()
    }

    fn paths(dirs: &Dirs) -> Vec<String> {
        Client::ALL
            .iter()
            .map(|c| c.config_path(dirs).display().to_string())
            .collect()
    }

    #[test]
    fn each_os_has_its_own_locations() {
        let mac = dirs(Os::Mac, &[("HOME", "/Users/ann")]);
        assert_eq!(
            paths(&mac),
            [
                "/Users/ann/Library/Application Support/Claude/claude_desktop_config.json",
                "/Users/ann/.claude.json",
                "/Users/ann/.cursor/mcp.json",
                "/Users/ann/Library/Application Support/Code/User/mcp.json",
                "/Users/ann/.codeium/windsurf/mcp_config.json",
                "/Users/ann/.codex/config.toml",
                "/Users/ann/.gemini/settings.json",
            ]
        );
        let linux = dirs(
            Os::Unix,
            &[("HOME", "/home/ann"), ("XDG_CONFIG_HOME", "/xdg")],
        );
        assert_eq!(
            paths(&linux)[..4],
            [
                "/xdg/Claude/claude_desktop_config.json",
                "/home/ann/.claude.json",
                "/home/ann/.cursor/mcp.json",
                "/xdg/Code/User/mcp.json",
            ]
        );
        let relative_xdg = dirs(Os::Unix, &[("HOME", "/home/ann"), ("XDG_CONFIG_HOME", "x")]);
        assert_eq!(relative_xdg.app_config, PathBuf::from("/home/ann/.config"));
    }

    #[test]
    fn windows_uses_the_profile_and_appdata() {
        let win = dirs(
            Os::Windows,
            &[("USERPROFILE", "C:/Users/ann"), ("APPDATA", "C:/AppData")],
        );
        assert_eq!(win.home, PathBuf::from("C:/Users/ann"));
        assert_eq!(
            Client::ClaudeDesktop.config_path(&win),
            PathBuf::from("C:/AppData")
                .join("Claude")
                .join("claude_desktop_config.json")
        );
        let no_appdata = dirs(Os::Windows, &[("USERPROFILE", "C:/Users/ann")]);
        assert_eq!(
            no_appdata.app_config,
            PathBuf::from("C:/Users/ann")
                .join("AppData")
                .join("Roaming")
        );
    }

    #[test]
    fn client_overrides_and_a_missing_home() {
        let moved = dirs(
            Os::Unix,
            &[
                ("HOME", "/h"),
                ("CLAUDE_CONFIG_DIR", "/cc"),
                ("CODEX_HOME", "/cx"),
            ],
        );
        assert_eq!(
            Client::ClaudeCode.config_path(&moved),
            PathBuf::from("/cc/.claude.json")
        );
        assert_eq!(
            Client::Codex.config_path(&moved),
            PathBuf::from("/cx/config.toml")
        );
        assert!(Dirs::from_env(Os::Unix, |_| Some(OsString::new())).is_err());
    }
}
