#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly
//! What a task produced comes back over stdio: files saved (never overwritten, never outside
//! their folder), pictures the model can see, small text files inline, hostile archives
//! refused. Through the real binary and rmcp's client, against the mock's real archives.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use rmcp::model::{CallToolResult, ResourceContents};
use serde_json::json;
use smooth_mock::MockSmooth;
use support::{Launch, Server, archive_of, fast_mock, spawn_against, start_mock, text};

/// Every file under `dir`, by its path relative to `dir`.
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            assert!(!meta.file_type().is_symlink(), "a link was written: {p:?}");
            if meta.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

async fn start(mock: &MockSmooth, dir: &Path) -> Server {
    spawn_against(
        mock,
        Launch::with_args(vec!["--downloads-dir", dir.to_str().unwrap()]),
    )
    .await
}

fn images(r: &CallToolResult) -> Vec<(String, String)> {
    r.content
        .iter()
        .filter_map(|c| c.as_image())
        .map(|i| (i.data.clone(), i.mime_type.clone()))
        .collect()
}

fn embedded_texts(r: &CallToolResult) -> Vec<(String, String)> {
    r.content
        .iter()
        .filter_map(|c| match &c.as_resource()?.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => {
                Some((uri.clone(), text.clone()))
            }
            _ => None,
        })
        .collect()
}

fn resource_links(r: &CallToolResult) -> Vec<String> {
    r.content
        .iter()
        .filter_map(|c| c.as_resource_link())
        .map(|l| l.uri.clone())
        .collect()
}

#[tokio::test]
async fn files_are_saved_shown_and_never_overwritten() {
    let mock = start_mock(fast_mock()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("downloads");
    let server = start(&mock, &dir).await;
    let call = server
        .call(
            "run_browser_task",
            json!({"task": "Get the invoice [mock:download]", "screenshot": true, "wait_seconds": 30}),
        )
        .await;
    assert_ne!(call.is_error, Some(true), "{}", text(&call));
    let r = call.structured_content.clone().unwrap();
    assert_eq!(r["status"], "done", "{r}");
    let id = r["task_id"].as_str().unwrap();
    let expected = archive_of(&mock, id).await;
    let names: Vec<&str> = expected.keys().map(String::as_str).collect();
    for want in ["invoice.pdf", "report.csv", "screenshot.png"] {
        assert!(names.contains(&want), "{names:?}");
    }

    // On disk, byte for byte, in <dir>/<task_id>/, and the result says where.
    let task_dir = dir.join(id);
    assert_eq!(r["files_dir"], task_dir.display().to_string());
    assert_eq!(files_under(&task_dir), expected);
    let files = r["files"].as_array().unwrap();
    assert_eq!(files.len(), expected.len());
    for f in files {
        let name = f["name"].as_str().unwrap();
        assert_eq!(f["size_bytes"], expected[name].len());
        let uri = f["uri"].as_str().unwrap();
        let path = url::Url::parse(uri).unwrap().to_file_path().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected[name]);
        assert!(resource_links(&call).iter().any(|u| u == uri));
    }
    let mime = |n: &str| {
        files.iter().find(|f| f["name"] == n).unwrap()["mime_type"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(mime("invoice.pdf"), "application/pdf");
    assert_eq!(mime("report.csv"), "text/csv");
    assert_eq!(mime("screenshot.png"), "image/png");

    // The screenshot as an image the model can see, within the size limit.
    let shown = images(&call);
    assert_eq!(shown.len(), 1, "one picture");
    let (data, mime_type) = &shown[0];
    assert!(data.len() <= 200 * 1024, "{} bytes of base64", data.len());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    assert!(
        img.width().max(img.height()) <= 1568,
        "{}x{}",
        img.width(),
        img.height()
    );
    assert!(mime_type.starts_with("image/"));

    // The CSV inline, the PDF not.
    let texts = embedded_texts(&call);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].1.as_bytes(), expected["report.csv"]);

    // Asking again shows the same files and saves no copies.
    let again = server
        .ok(
            "get_task",
            json!({"task_id": id, "include_downloads": true}),
        )
        .await;
    assert_eq!(again["files"], r["files"]);
    assert_eq!(files_under(&task_dir), expected);
    let later = server.ok("download_files", json!({"task_id": id})).await;
    assert_eq!(later["files"], r["files"]);
    server.quit().await;

    // Another process saves into the same folder without overwriting anything.
    std::fs::write(task_dir.join("report.csv"), b"the user's own edits").unwrap();
    let server2 = start(&mock, &dir).await;
    let second = server2.ok("download_files", json!({"task_id": id})).await;
    let on_disk = files_under(&task_dir);
    assert_eq!(on_disk["report.csv"], b"the user's own edits");
    assert_eq!(on_disk["report (1).csv"], expected["report.csv"]);
    assert_eq!(on_disk["invoice (1).pdf"], expected["invoice.pdf"]);
    let names: Vec<&str> = second["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"report (1).csv"), "{names:?}");
    server2.quit().await;
}

#[tokio::test]
async fn a_task_without_files_says_so() {
    let mock = start_mock(fast_mock()).await;
    let tmp = tempfile::tempdir().unwrap();
    let server = start(&mock, tmp.path()).await;
    let r = server
        .ok(
            "run_browser_task",
            json!({"task": "Look around", "include_downloads": true, "wait_seconds": 30}),
        )
        .await;
    assert_eq!(r["status"], "done");
    assert_eq!(r["downloads_url"], "");
    assert_eq!(r["files"], json!([]));
    assert!(files_under(tmp.path()).is_empty());
    // Not asked for: no files field at all, and nothing fetched.
    let plain = server
        .ok(
            "run_browser_task",
            json!({"task": "Again [mock:download]", "wait_seconds": 30}),
        )
        .await;
    assert!(plain.get("files").is_none(), "{plain}");
    assert!(files_under(tmp.path()).is_empty());
    // A task still running has no files yet: download_files says to wait with get_task.
    let live = server
        .ok(
            "run_browser_task",
            json!({"task": "Slow [mock:duration=30s] [mock:download]", "wait_seconds": 0}),
        )
        .await;
    let live_id = live["task_id"].as_str().unwrap();
    let err = server
        .err("download_files", json!({"task_id": live_id}))
        .await;
    assert!(
        err.contains("has not ended") && err.contains("get_task"),
        "{err}"
    );
    server.ok("cancel_task", json!({"task_id": live_id})).await;
    // download_files fetches them afterwards.
    let id = plain["task_id"].as_str().unwrap();
    let later = server.ok("download_files", json!({"task_id": id})).await;
    assert_eq!(later["files"].as_array().unwrap().len(), 2, "{later}");
    assert_eq!(
        files_under(&tmp.path().join(id)),
        archive_of(&mock, id).await
    );
    server.quit().await;
}

#[tokio::test]
async fn hostile_archives_are_refused_and_nothing_escapes() {
    let mock = start_mock(fast_mock()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("a").join("b").join("downloads");
    let server = start(&mock, &dir).await;
    for (kind, says) in [
        ("zip_slip", "outside"),
        ("symlink", "link"),
        ("many_entries", "entries"),
        ("zip_bomb", ""),
    ] {
        let r = server
            .ok(
                "run_browser_task",
                json!({"task": format!("Fetch [mock:archive={kind}]"), "include_downloads": true, "wait_seconds": 30}),
            )
            .await;
        // The task's own result still comes back, with the reason.
        assert_eq!(r["status"], "done", "{kind}: {r}");
        assert!(r.get("files").is_none(), "{kind}: {r}");
        let step = r["next_step"].as_str().unwrap_or_default();
        assert!(step.contains("did not come back"), "{kind}: {step}");
        assert!(step.contains(says), "{kind}: {step}");
        let id = r["task_id"].as_str().unwrap();
        let err = server.err("download_files", json!({"task_id": id})).await;
        assert!(
            err.contains("refused") || err.contains("too"),
            "{kind}: {err}"
        );
    }
    // Nothing was written anywhere under the temporary tree, nor at the absolute name.
    assert_eq!(files_under(tmp.path()), BTreeMap::new());
    assert!(!Path::new("/tmp/evil.txt").exists());
    server.quit().await;
}
