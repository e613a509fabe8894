//! Where the entry gets its Smooth API key. The key is held as a [`SecretString`] and exposed
//! only into the text written to the user's (then owner-only) config file; everything shown
//! on screen uses [`Reveal::Hide`].

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::Client;

/// The environment variable the server reads its key from.
pub const KEY_VAR: &str = "SMOOTH_API_KEY";
/// What a user without a key finds in the file, to replace.
pub const PLACEHOLDER: &str = "<your Smooth API key>";
/// The id of VS Code's prompt for the key.
pub const VSCODE_INPUT_ID: &str = "smooth-api-key";
/// Shown instead of a key.
const HIDDEN: &str = "<your key, hidden>";

/// How the entry's `env.SMOOTH_API_KEY` is filled.
#[derive(Debug, Clone)]
pub enum KeyPlan {
    /// The user's key, written into the file.
    Literal(SecretString),
    /// VS Code asks for it on first start and keeps it in its secret storage.
    Prompt,
    /// A placeholder the user replaces by hand.
    Placeholder,
    /// No key at all: the entry runs the server against its embedded mock.
    None,
}

/// Whether a rendering is for the file or for the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reveal {
    Write,
    Hide,
}

impl KeyPlan {
    pub fn choose(key: Option<SecretString>, client: Client, mock: bool) -> Self {
        // A blank key (an empty SMOOTH_API_KEY) counts as none.
        let key = key.filter(|k| !k.expose_secret().trim().is_empty());
        match key {
            _ if mock => Self::None,
            Some(key) => Self::Literal(SecretString::from(key.expose_secret().trim().to_owned())),
            None if client == Client::Vscode => Self::Prompt,
            None => Self::Placeholder,
        }
    }

    /// Whether the file will hold a secret (and so must be readable by its owner only).
    pub fn writes_secret(&self) -> bool {
        matches!(self, Self::Literal(_))
    }

    /// The value of `SMOOTH_API_KEY` in the entry's `env`, if it has one.
    pub fn env_value(&self, reveal: Reveal) -> Option<String> {
        match self {
            Self::Literal(key) => Some(match reveal {
                Reveal::Write => key.expose_secret().to_owned(),
                Reveal::Hide => HIDDEN.to_owned(),
            }),
            Self::Prompt => Some(format!("${{input:{VSCODE_INPUT_ID}}}")),
            Self::Placeholder => Some(PLACEHOLDER.to_owned()),
            Self::None => None,
        }
    }

    /// VS Code's `inputs` entry for [`KeyPlan::Prompt`].
    pub fn vscode_input(&self) -> Option<Value> {
        matches!(self, Self::Prompt).then(|| {
            json!({
                "type": "promptString",
                "id": VSCODE_INPUT_ID,
                "description": "Smooth API key (https://app.smooth.sh)",
                "password": true,
            })
        })
    }

    /// What the user is told about the key after setup.
    pub fn advice(&self, client: Client) -> String {
        match self {
            Self::Literal(_) => {
                "key: written into the entry's env (the file is readable by you only)".to_owned()
            }
            Self::Prompt => format!(
                "key: {} asks for it the first time it starts the server and keeps it in its \
                 secret storage",
                client.title()
            ),
            Self::Placeholder => format!(
                "key: not given. Replace \"{PLACEHOLDER}\" in that file with your key (get one at \
                 https://app.smooth.sh), or rerun with SMOOTH_API_KEY set or --api-key"
            ),
            Self::None => "key: none needed, the entry runs against the embedded mock".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_shows_only_in_what_is_written() {
        let plan = KeyPlan::choose(Some(" sk-sentinel ".into()), Client::Cursor, false);
        assert!(plan.writes_secret());
        assert_eq!(
            plan.env_value(Reveal::Write).as_deref(),
            Some("sk-sentinel")
        );
        assert!(!plan.env_value(Reveal::Hide).unwrap().contains("sentinel"));
        assert!(!format!("{plan:?}").contains("sentinel"));
        assert!(!plan.advice(Client::Cursor).contains("sentinel"));
    }

    #[test]
    fn without_a_key_vscode_prompts_and_others_get_a_placeholder() {
        let vscode = KeyPlan::choose(Some("  ".into()), Client::Vscode, false);
        assert_eq!(
            vscode.env_value(Reveal::Write).as_deref(),
            Some("${input:smooth-api-key}")
        );
        assert_eq!(vscode.vscode_input().unwrap()["password"], true);
        let other = KeyPlan::choose(None, Client::Gemini, false);
        assert_eq!(other.env_value(Reveal::Write).as_deref(), Some(PLACEHOLDER));
        assert!(other.vscode_input().is_none());
        let mock = KeyPlan::choose(Some("k".into()), Client::Vscode, true);
        assert!(mock.env_value(Reveal::Write).is_none() && !mock.writes_secret());
    }
}
