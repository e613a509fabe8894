//! What a finished task produced comes back: the files of its downloads archive (saved to
//! disk over stdio, MCP resources over HTTP), the pictures among them as images the model
//! can see, small text files embedded, and the `download_files` tool that fetches them later.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmcp::handler::server::common::schema_for_output;
use rmcp::model::{CallToolResult, ContentBlock, Resource, ResourceContents};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::SmoothServer;
use super::args::{Parameters, required_text};
use super::error::ToolError;
use super::resources::file_uri;
use super::results::{FileInfo, ResultStatus, TaskResult, link, structured};
use crate::pictures::{is_picture, preview};
use smooth_api::SmoothClient;
use smooth_api::downloads::{Archive, ArchiveLimits, DownloadError, SavedFile};

/// At most this many pictures of one result are shown to the model.
const MAX_PICTURES: usize = 3;

/// The folder made in the first allowed directory when `--downloads-dir` is not given.
const DEFAULT_FOLDER: &str = "smooth-downloads";

/// Where a task's files go, and the limits on fetching and showing them.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// Save files on this machine (stdio) rather than serve them as resources (HTTP).
    pub to_disk: bool,
    /// `--downloads-dir`: the operator's choice, used as given.
    pub dir: Option<PathBuf>,
    pub limits: ArchiveLimits,
    /// Most bytes of one picture's base64 text shown to the model.
    pub max_image_bytes: usize,
}

/// Where a call's files go, worked out the first time one of its results has files: that
/// may ask the client for its roots (a round trip, up to a few seconds), which a call whose
/// task has no files, or is still running, should not wait for.
pub(super) struct FileDest {
    ctx: RequestContext<RoleServer>,
    home: tokio::sync::OnceCell<FileHome>,
}

impl FileDest {
    pub(super) fn new(ctx: &RequestContext<RoleServer>) -> Self {
        Self {
            ctx: ctx.clone(),
            home: tokio::sync::OnceCell::new(),
        }
    }
}

/// Where this call's files go.
#[derive(Debug, Clone)]
pub(super) enum FileHome {
    /// Under `base/<task_id>/`; `fallback` when `base` cannot be written (a client that
    /// starts servers in `/`).
    Disk {
        base: PathBuf,
        fallback: Option<PathBuf>,
    },
    /// Listed as `smooth://` resources, read from Smooth on demand.
    Resources,
}

/// A task's files as a result shows them, and the content items that carry them.
#[derive(Debug, Clone)]
pub(super) struct Delivered {
    pub files: Vec<FileInfo>,
    pub dir: Option<String>,
    pub content: Vec<ContentBlock>,
}

/// Files already saved by this process, by task id: a second result for the same task
/// shows them again instead of saving copies.
pub(super) type SavedFiles =
    parking_lot::Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Delivered>>>>;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadFilesArgs {
    /// A finished task's id.
    pub task_id: String,
}

#[tool_router(router = task_files_router, vis = "pub(super)")]
impl SmoothServer {
    #[tool(
        name = "download_files",
        title = "Get a task's files",
        description = "Fetch the files a finished task downloaded or captured (screenshots), \
            e.g. after a client timeout. Smooth keeps them 24 hours.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<TaskResult>()
    )]
    async fn download_files(
        &self,
        Parameters(args): Parameters<DownloadFilesArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let id = required_text("task_id", &args.task_id)?;
        let client = self.client(&ctx);
        let watch = self.state.watcher.watch(&client, &id);
        watch.want_downloads();
        if !watch.is_polling() {
            watch
                .refresh(true)
                .await
                .map_err(|e| ToolError::upstream(&e, &format!("reading task {id}")))?;
        }
        if !watch.state().is_terminal() {
            return Err(ToolError::Smooth(format!(
                "Task {id} has not ended: call get_task with task_id \"{id}\" to wait for it; its \
                 files come with its result."
            )));
        }
        let deadline = tokio::time::Instant::now() + self.state.settings.artifact_wait;
        self.await_links(&watch, deadline, true).await;
        let mut result = self.render_task(&watch, true);
        if result.downloads_url.is_none() {
            return Err(ToolError::Smooth(format!(
                "Task {id}'s files are not ready yet: call download_files again in a few seconds."
            )));
        }
        let mut content = links(&result);
        let files = self
            .add_files(&mut result, Some(&FileDest::new(&ctx)))
            .await
            .map_err(|e| {
                ToolError::Smooth(format!(
                    "Task {id}'s files did not come back: {e}. {}",
                    retry_hint(&e, &id)
                ))
            })?;
        content.extend(files);
        Ok(structured(&result, content))
    }
}

/// Links to the recording and the downloads archive.
fn links(result: &TaskResult) -> Vec<ContentBlock> {
    [
        result
            .recording_url
            .as_deref()
            .and_then(|u| link(u, "recording", "video/mp4")),
        result
            .downloads_url
            .as_deref()
            .and_then(|u| link(u, "downloads", "application/zip")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

impl SmoothServer {
    /// A task's result with its links and, once it has ended, its files (`home`: where they
    /// go; `None` when they were not asked for). Files that cannot be had leave a note.
    pub(super) async fn reply(
        &self,
        mut result: TaskResult,
        home: Option<&FileDest>,
    ) -> CallToolResult {
        let mut content = links(&result);
        match self.add_files(&mut result, home).await {
            Ok(files) => content.extend(files),
            Err(e) => {
                tracing::warn!(task = %result.task_id, error = %e, "files not delivered");
                let note = format!(
                    "Its files did not come back: {e}. {}",
                    retry_hint(&e, &result.task_id)
                );
                result.next_step = Some(match result.next_step.take() {
                    Some(step) => format!("{step} {note}"),
                    None => note,
                });
            }
        }
        structured(&result, content)
    }

    /// Fills in `files` (and `files_dir`) of an ended task's result; returns the content
    /// items that carry them.
    async fn add_files(
        &self,
        result: &mut TaskResult,
        home: Option<&FileDest>,
    ) -> Result<Vec<ContentBlock>, DownloadError> {
        let ended = matches!(
            result.status,
            ResultStatus::Done | ResultStatus::Failed | ResultStatus::Cancelled
        );
        let (Some(home), Some(url), true) = (home, result.downloads_url.clone(), ended) else {
            return Ok(Vec::new());
        };
        if url.is_empty() {
            result.files = Some(Vec::new());
            return Ok(Vec::new());
        }
        let home = home.home.get_or_init(|| self.file_home(&home.ctx)).await;
        let d = self
            .deliver(&self.state.client, &result.task_id, &url, home)
            .await?;
        result.files = Some(d.files);
        result.files_dir = d.dir;
        Ok(d.content)
    }

    /// Where files of this request go: the operator's folder, else `smooth-downloads/` in the
    /// first allowed directory (the client's roots, as uploads choose them).
    pub(super) async fn file_home(&self, ctx: &RequestContext<RoleServer>) -> FileHome {
        let files = &self.state.settings.files;
        if !files.to_disk {
            return FileHome::Resources;
        }
        if let Some(dir) = &files.dir {
            return FileHome::Disk {
                base: dir.clone(),
                fallback: None,
            };
        }
        let root = self.upload_roots(ctx).await.into_iter().next();
        let fallback = std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join("Downloads").join(DEFAULT_FOLDER));
        match root {
            Some(root) => FileHome::Disk {
                base: root.join(DEFAULT_FOLDER),
                fallback,
            },
            None => match fallback {
                Some(base) => FileHome::Disk {
                    base,
                    fallback: None,
                },
                None => FileHome::Resources,
            },
        }
    }

    /// Fetches a finished task's downloads archive and turns it into files, pictures and
    /// embedded text. Saved files are remembered, so they are saved once per task.
    pub(super) async fn deliver(
        &self,
        client: &SmoothClient,
        task_id: &str,
        url: &str,
        home: &FileHome,
    ) -> Result<Delivered, DownloadError> {
        let files = &self.state.settings.files;
        match home {
            FileHome::Resources => {
                let archive = client.fetch_archive(url, &files.limits).await?;
                Ok(self.present(task_id, archive, None).await)
            }
            FileHome::Disk { base, fallback } => {
                let cell = self
                    .state
                    .saved_files
                    .lock()
                    .entry(task_id.to_owned())
                    .or_default()
                    .clone();
                cell.get_or_try_init(|| async {
                    let archive = client.fetch_archive(url, &files.limits).await?;
                    let (archive, dir, saved) =
                        save(archive, task_id, base, fallback.as_deref()).await?;
                    Ok(self.present(task_id, archive, Some((dir, saved))).await)
                })
                .await
                .cloned()
            }
        }
    }

    /// The result's view of an archive: every file as a link, up to [`MAX_PICTURES`] scaled
    /// pictures, and text files small enough to read inline.
    async fn present(
        &self,
        task_id: &str,
        archive: Archive,
        saved: Option<(PathBuf, Vec<SavedFile>)>,
    ) -> Delivered {
        let settings = &self.state.settings;
        let max_image = settings.files.max_image_bytes;
        let text_cap = settings.output_cap;
        let (dir, listed): (Option<PathBuf>, Vec<Listed>) = match saved {
            Some((dir, saved)) => {
                let listed = saved
                    .into_iter()
                    .map(|f| Listed {
                        shown: f
                            .path
                            .strip_prefix(&dir)
                            .map_or_else(|_| f.name.clone(), |p| p.to_string_lossy().into_owned()),
                        uri: url::Url::from_file_path(&f.path)
                            .map_or_else(|()| f.path.display().to_string(), String::from),
                        name: f.name,
                        size_bytes: f.size_bytes,
                    })
                    .collect();
                (Some(dir), listed)
            }
            None => {
                let listed = archive
                    .entries()
                    .iter()
                    .map(|e| Listed {
                        shown: e.name.clone(),
                        uri: file_uri(task_id, &e.name),
                        name: e.name.clone(),
                        size_bytes: e.size_bytes,
                    })
                    .collect();
                (None, listed)
            }
        };
        let archive = Arc::new(archive);
        let mut files = Vec::with_capacity(listed.len());
        let mut links = Vec::new();
        let mut extras = Vec::new();
        let mut pictures = 0;
        for Listed {
            name,
            shown,
            uri,
            size_bytes,
        } in listed
        {
            let mime = mime_of(&name);
            links.push(ContentBlock::resource_link(
                Resource::new(uri.clone(), shown.clone())
                    .with_mime_type(mime.clone())
                    .with_size(size_bytes),
            ));
            if pictures < MAX_PICTURES && is_picture(&mime) {
                match picture(&archive, &name, max_image).await {
                    Ok(block) => {
                        pictures += 1;
                        extras.push(block);
                    }
                    Err(e) => {
                        tracing::warn!(task = %task_id, file = %name, error = %e, "picture not shown")
                    }
                }
            } else if is_text(&mime)
                && size_bytes <= text_cap as u64
                && let Some(text) = archive
                    .read(&name)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|t| t.chars().count() <= text_cap)
            {
                extras.push(embedded_text(&uri, &mime, text));
            }
            files.push(FileInfo {
                name: shown,
                size_bytes,
                mime_type: mime,
                uri,
            });
        }
        links.extend(extras);
        Delivered {
            files,
            dir: dir.map(|d| d.display().to_string()),
            content: links,
        }
    }
}

/// What to do when the files did not come back: retry what may pass, not a refused archive.
fn retry_hint(e: &DownloadError, task_id: &str) -> String {
    if matches!(
        e,
        DownloadError::Refused { .. }
            | DownloadError::TooLarge { .. }
            | DownloadError::Damaged { .. }
    ) {
        "The archive stays available at downloads_url for 24 hours.".to_owned()
    } else {
        format!("Call download_files with task_id \"{task_id}\" to try again.")
    }
}

/// One file as a result lists it: `name` in the archive, `shown` as saved (it may have been
/// renamed so as not to overwrite), and where to read it.
struct Listed {
    name: String,
    shown: String,
    uri: String,
    size_bytes: u64,
}

/// Unpacks into `base/<task_id>/`, or the fallback's when `base` cannot be written; off
/// the async threads.
async fn save(
    archive: Archive,
    task_id: &str,
    base: &Path,
    fallback: Option<&Path>,
) -> Result<(Archive, PathBuf, Vec<SavedFile>), DownloadError> {
    let folder = task_folder(task_id);
    let first = base.join(&folder);
    let second = fallback.map(|f| f.join(&folder));
    let joined = tokio::task::spawn_blocking(move || {
        let saved = match (archive.extract_to(&first), second) {
            (Err(DownloadError::Write { .. }), Some(dir)) => {
                archive.extract_to(&dir).map(|saved| (dir, saved))
            }
            (saved, _) => saved.map(|saved| (first, saved)),
        };
        (archive, saved)
    })
    .await;
    match joined {
        Ok((archive, saved)) => saved.map(|(dir, saved)| (archive, dir, saved)),
        Err(e) => Err(DownloadError::Write {
            entry: String::new(),
            path: base.to_path_buf(),
            reason: e.to_string(),
            cleanup: Default::default(),
        }),
    }
}

/// A task id as a folder name: ids may start with `-` or hold characters a path must not.
fn task_folder(task_id: &str) -> String {
    task_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

async fn picture(archive: &Arc<Archive>, name: &str, max: usize) -> Result<ContentBlock, String> {
    let archive = archive.clone();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let bytes = archive.read(&name).map_err(|e| e.to_string())?;
        let p = preview(&bytes, max).map_err(|e| e.to_string())?;
        Ok(ContentBlock::image(p.base64, p.mime_type))
    })
    .await
    .map_err(|e| e.to_string())?
}

pub(super) fn mime_of(name: &str) -> String {
    mime_guess::from_path(name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// Text a model reads well inline.
pub(super) fn is_text(mime: &str) -> bool {
    mime.starts_with("text/") || mime == "application/json"
}

fn embedded_text(uri: &str, mime: &str, text: String) -> ContentBlock {
    let contents = ResourceContents::TextResourceContents {
        uri: uri.to_owned(),
        mime_type: Some(mime.to_owned()),
        text,
        meta: None,
    };
    ContentBlock::resource(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_folders_are_safe_names() {
        assert_eq!(task_folder("-abc_1"), "-abc_1");
        assert_eq!(task_folder("../x/y"), "___x_y");
    }

    #[test]
    fn text_types() {
        assert!(is_text(&mime_of("a.csv")));
        assert!(is_text(&mime_of("a.json")));
        assert!(is_text(&mime_of("a.md")));
        assert!(is_text(&mime_of("a.txt")));
        assert!(!is_text(&mime_of("a.pdf")));
        assert_eq!(mime_of("noext"), "application/octet-stream");
    }

    #[test]
    fn pictures_are_known_by_their_names() {
        for name in [
            "shot.png",
            "dir/Shot.PNG",
            "photo.jpg",
            "photo.JPEG",
            "page.final.webp",
        ] {
            assert!(is_picture(&mime_of(name)), "{name}");
        }
        for name in ["anim.gif", "report.pdf", "png", "shot.png.txt", ""] {
            assert!(!is_picture(&mime_of(name)), "{name}");
        }
    }
}
