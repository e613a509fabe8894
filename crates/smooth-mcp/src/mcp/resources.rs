//! A task's files as MCP resources, `smooth://tasks/{task_id}/files/{name}`: read from Smooth
//! on every `resources/read`, so any replica can serve them and nothing is kept here.

use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, ResourceContents, ResourceTemplate};
use smooth_api::SmoothClient;

use super::task_files::{is_text, mime_of};

const PREFIX: &str = "smooth://tasks/";

/// RFC 6570 simple expansion: everything but unreserved characters is escaped (so a `/` in
/// a file's folder stays inside the one segment).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(super) fn file_uri(task_id: &str, name: &str) -> String {
    format!(
        "{PREFIX}{}/files/{}",
        utf8_percent_encode(task_id, SEGMENT),
        utf8_percent_encode(name, SEGMENT)
    )
}

/// The task id and file name a `smooth://` URI names.
fn parse(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix(PREFIX)?;
    let (task, name) = rest.split_once("/files/")?;
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
            .filter(|s| !s.is_empty())
    };
    Some((decode(task)?, decode(name)?))
}

pub(super) fn template() -> ResourceTemplate {
    let mut t = ResourceTemplate::new(format!("{PREFIX}{{task_id}}/files/{{name}}"), "task-file");
    t.title = Some("A file a browser task produced".into());
    t.description = Some(
        "Files a Smooth task downloaded or captured, while Smooth keeps them (24 hours).".into(),
    );
    t
}

/// Reads one file of a task's downloads archive, as the account of `client` sees it.
pub(super) async fn read(
    client: &SmoothClient,
    uri: &str,
    limits: &smooth_api::downloads::ArchiveLimits,
) -> Result<ReadResourceResult, ErrorData> {
    let (task_id, name) = parse(uri).ok_or_else(|| {
        ErrorData::invalid_params(
            format!("not a task file URI: expected {PREFIX}{{task_id}}/files/{{name}}"),
            None,
        )
    })?;
    let not_found = |why: String| ErrorData::resource_not_found(why, None);
    let task = client.get_task(&task_id, 0, true).await.map_err(|e| {
        not_found(format!(
            "task {task_id} cannot be read with this key ({e}); its files are not available"
        ))
    })?;
    let url = match task.downloads_url.as_deref() {
        Some("") => return Err(not_found(format!("task {task_id} has no files"))),
        Some(url) => url.to_owned(),
        None => {
            return Err(not_found(format!(
                "task {task_id}'s files are not ready yet; try again in a few seconds"
            )));
        }
    };
    let archive = client
        .fetch_archive(&url, limits)
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let bytes = archive
        .read(&name)
        .map_err(|e| not_found(format!("task {task_id}: {e}")))?;
    let mime = mime_of(&name);
    let contents = if is_text(&mime) {
        match String::from_utf8(bytes) {
            Ok(text) => text_contents(uri, mime, text),
            Err(e) => blob(uri, mime, e.as_bytes()),
        }
    } else {
        blob(uri, mime, &bytes)
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

fn text_contents(uri: &str, mime: String, text: String) -> ResourceContents {
    ResourceContents::TextResourceContents {
        uri: uri.to_owned(),
        mime_type: Some(mime),
        text,
        meta: None,
    }
}

fn blob(uri: &str, mime: String, bytes: &[u8]) -> ResourceContents {
    ResourceContents::BlobResourceContents {
        uri: uri.to_owned(),
        mime_type: Some(mime),
        blob: base64::engine::general_purpose::STANDARD.encode(bytes),
        meta: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        for (task, name) in [
            ("abc", "report.csv"),
            ("-x1", "shots/final page.png"),
            ("t", "100%/ü?#.txt"),
        ] {
            let uri = file_uri(task, name);
            assert!(uri.starts_with(PREFIX), "{uri}");
            assert_eq!(uri.matches('/').count(), 5, "{uri}");
            assert_eq!(parse(&uri), Some((task.to_owned(), name.to_owned())));
        }
        assert_eq!(parse("smooth://tasks//files/a"), None);
        assert_eq!(parse("file:///tmp/a"), None);
        assert_eq!(parse("smooth://tasks/a/files/"), None);
    }
}
