//! Merging the entry into Codex's `config.toml` as `[mcp_servers.smooth]`. Edited with
//! `toml_edit`, so the user's comments, order and formatting survive; compared through the
//! `toml` crate's plain values.

use serde_json::Value;
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, value};

use super::entry::{Entry, SERVER_NAME};
use super::key::{KEY_VAR, Reveal};
use super::{Change, Client, Merged, Refusal};

const SERVERS_KEY: &str = "mcp_servers";

pub fn merge(existing: Option<&str>, entry: &Entry, force: bool) -> Result<Merged, Refusal> {
    let text = existing.unwrap_or_default();
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| Refusal::Malformed(format!("not valid TOML ({e})")))?;
    let change = match existing_entry(text)? {
        Some(old) if old == entry.json(Client::Codex, Reveal::Write) => {
            return Ok(Merged {
                text: None,
                changes: vec![],
            });
        }
        Some(_) if !force => return Err(Refusal::Differs(format!("server \"{SERVER_NAME}\""))),
        Some(_) => Change::Replaced,
        None => Change::Added,
    };
    let servers = doc.entry(SERVERS_KEY).or_insert_with(|| {
        // `[mcp_servers.smooth]` alone, without an empty `[mcp_servers]` above it.
        let mut servers = Table::new();
        servers.set_implicit(true);
        Item::Table(servers)
    });
    let table = table(entry, Reveal::Write);
    match servers {
        Item::Table(servers) => {
            servers.insert(SERVER_NAME, Item::Table(table));
        }
        Item::Value(toml_edit::Value::InlineTable(servers)) => {
            servers.insert(
                SERVER_NAME,
                toml_edit::Value::InlineTable(table.into_inline_table()),
            );
        }
        _ => return Err(not_a_table()),
    }
    Ok(Merged {
        text: Some(doc.to_string()),
        changes: vec![change(format!("server \"{SERVER_NAME}\""))],
    })
}

/// The entry as its own small document, to show.
pub fn snippet(entry: &Entry) -> String {
    let mut servers = Table::new();
    servers.set_implicit(true);
    servers.insert(SERVER_NAME, Item::Table(table(entry, Reveal::Hide)));
    let mut doc = DocumentMut::new();
    doc.insert(SERVERS_KEY, Item::Table(servers));
    doc.to_string()
}

/// The `smooth` entry of a config file's text, as JSON, if it has one.
pub fn existing_entry(text: &str) -> Result<Option<Value>, Refusal> {
    let root: toml::Table =
        toml::from_str(text).map_err(|e| Refusal::Malformed(format!("not valid TOML ({e})")))?;
    let Some(servers) = root.get(SERVERS_KEY) else {
        return Ok(None);
    };
    let servers = servers.as_table().ok_or_else(not_a_table)?;
    servers
        .get(SERVER_NAME)
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| Refusal::Malformed(e.to_string()))
}

fn table(entry: &Entry, reveal: Reveal) -> Table {
    let mut table = Table::new();
    table.insert("command", value(entry.command.as_str()));
    let args: Array = entry.args.iter().map(String::as_str).collect();
    table.insert("args", value(args));
    if let Some(key) = entry.key.env_value(reveal) {
        let mut env = InlineTable::new();
        env.insert(KEY_VAR, key.into());
        table.insert("env", value(env));
    }
    table
}

fn not_a_table() -> Refusal {
    Refusal::Malformed(format!("\"{SERVERS_KEY}\" is not a table"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::key::KeyPlan;

    fn sample() -> Entry {
        Entry {
            command: "/bin/smooth-mcp".into(),
            args: vec!["--mock".into()],
            key: KeyPlan::Placeholder,
            runner: None,
        }
    }

    #[test]
    fn comments_and_other_servers_survive() {
        let existing =
            "# my settings\nmodel = \"o3\" # the best\n\n[mcp_servers.other]\ncommand = \"x\"\n";
        let merged = merge(Some(existing), &sample(), false).unwrap();
        let text = merged.text.unwrap();
        assert!(text.starts_with(existing), "{text}");
        assert!(text.contains("[mcp_servers.smooth]\ncommand = \"/bin/smooth-mcp\"\nargs = [\"--mock\"]\nenv = { SMOOTH_API_KEY = \"<your Smooth API key>\" }\n"), "{text}");
        assert_eq!(
            existing_entry(&text).unwrap().unwrap(),
            sample().json(Client::Codex, Reveal::Write)
        );
        assert!(merge(Some(&text), &sample(), false).unwrap().text.is_none());
    }

    #[test]
    fn a_fresh_file_gets_only_the_server_table() {
        let text = merge(None, &sample(), false).unwrap().text.unwrap();
        assert!(text.starts_with("[mcp_servers.smooth]\n"), "{text}");
        let inline = "mcp_servers = { other = { command = \"x\" } }\n";
        let text = merge(Some(inline), &sample(), false).unwrap().text.unwrap();
        assert!(existing_entry(&text).unwrap().is_some(), "{text}");
        assert!(matches!(
            merge(Some("mcp_servers = 3"), &sample(), false),
            Err(Refusal::Malformed(_))
        ));
    }
}
