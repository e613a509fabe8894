//! Files handed to the agent: upload_file, delete_file. Reads only regular files under the
//! allowed roots.
//!
//! The allowed roots are the `--allow-dir` directories. Without any, they are the roots the
//! MCP client declares (when it declares the deprecated roots capability and answers
//! `roots/list` within a few seconds), else the working directory — unless that is `/`, in
//! which case no file may be read until `--allow-dir` is given.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rmcp::handler::server::common::schema_for_output;

use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::SmoothServer;
use super::args::{Parameters, required_text};
use super::error::{ToolError, invalid};
use super::results::{Deleted, UploadResult, structured};
use smooth_api::SmoothError;

/// How long an upload waits for the client's `roots/list` answer.
const ROOTS_WAIT: Duration = Duration::from_secs(3);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteFileArgs {
    /// The file_id from upload_file.
    pub file_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadFileArgs {
    /// Path of a local file, absolute or relative to the server's working directory; it must
    /// lie under a directory the server allows.
    pub path: String,
    /// File name the agent sees (default: the file's own name).
    pub name: Option<String>,
    /// What the file is for, to guide the agent (at most 64 characters).
    pub purpose: Option<String>,
}

/// A file that passed every check, ready to read.
#[derive(Debug)]
pub struct CheckedFile {
    pub path: PathBuf,
    pub size: u64,
}

/// Resolves symlinks and `..` first, then checks the real path against the roots, so no link
/// or relative path can reach outside them.
pub fn check_upload_path(
    raw: &str,
    roots: &[PathBuf],
    max_bytes: u64,
) -> Result<CheckedFile, ToolError> {
    if roots.is_empty() {
        return Err(ToolError::File(
            "This server may not read local files: no directory is allowed (it was started in / \
             without --allow-dir). Ask the user to add --allow-dir <directory> to the server's \
             configuration."
                .to_owned(),
        ));
    }
    let path = Path::new(raw);
    let real = std::fs::canonicalize(path).map_err(|e| {
        ToolError::File(format!(
            "Cannot read {raw:?}: {e}. Give the path of an existing file."
        ))
    })?;
    let inside = roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .any(|root| real.starts_with(&root));
    if !inside {
        let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        return Err(ToolError::File(format!(
            "{raw:?} is outside the directories this server may read ({}). Move the file there, or \
             start the server with --allow-dir for its directory.",
            shown.join(", ")
        )));
    }
    let meta = std::fs::metadata(&real)
        .map_err(|e| ToolError::File(format!("Cannot read {raw:?}: {e}.")))?;
    if meta.is_dir() {
        return Err(ToolError::File(format!(
            "{raw:?} is a directory; give a file (zip a folder first)."
        )));
    }
    if !meta.is_file() {
        return Err(ToolError::File(format!(
            "{raw:?} is not a regular file (a device, pipe or socket)."
        )));
    }
    if meta.len() > max_bytes {
        return Err(ToolError::File(format!(
            "{raw:?} is {} bytes; this server sends files of at most {} bytes (--max-upload-mb).",
            meta.len(),
            max_bytes
        )));
    }
    Ok(CheckedFile {
        path: real,
        size: meta.len(),
    })
}

#[tool_router(router = file_router, vis = "pub(super)")]
impl SmoothServer {
    #[tool(
        name = "upload_file",
        title = "Upload a file for the agent",
        description = "Send a local file to Smooth so a task or session can use it (pass the \
            file_id in `files`), e.g. a document to attach to a form. Files are deleted after 24 hours.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false),
        output_schema = schema_for_output::<UploadResult>()
    )]
    async fn upload_file(
        &self,
        Parameters(args): Parameters<UploadFileArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let raw = required_text("path", &args.path)?;
        let purpose = match args.purpose.as_deref().map(str::trim) {
            Some(p) if p.chars().count() > 64 => {
                return Err(invalid("`purpose` must be at most 64 characters"));
            }
            Some("") | None => None,
            Some(p) => Some(p.to_owned()),
        };
        let file = self.checked_upload(&raw, &ctx).await?;
        let name = match args.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => file
                .path
                .file_name()
                .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned()),
        };
        let bytes = read_checked(&raw, &file).await?;
        let client = self.client(&ctx);
        let file_id = client
            .upload_file(&name, bytes, purpose.as_deref())
            .await
            .map_err(|e| ToolError::upstream(&e, &format!("uploading {name:?}")))?;
        Ok(structured(
            &UploadResult {
                file_id,
                name,
                size_bytes: file.size,
            },
            vec![],
        ))
    }

    #[tool(
        name = "delete_file",
        title = "Delete an uploaded file",
        description = "Delete a file sent with upload_file before Smooth's 24-hour expiry, e.g. \
            a document with personal data once the task is done.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<Deleted>()
    )]
    async fn delete_file(
        &self,
        Parameters(args): Parameters<DeleteFileArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let id = required_text("file_id", &args.file_id)?;
        let ok =
            self.client(&ctx).delete_file(&id).await.map_err(|e| {
                not_found_or_upstream(&e, "file", &id, "upload_file returns file ids")
            })?;
        deleted(ok, "file", id)
    }
}

impl SmoothServer {
    /// The directories uploads may come from, for this request (see the module docs).
    #[allow(deprecated)] // roots (SEP-2577): used only when the client offers them
    pub(super) async fn upload_roots(&self, ctx: &RequestContext<RoleServer>) -> Vec<PathBuf> {
        let settings = &self.state.settings;
        if settings.upload_roots_explicit
            || ctx.client_capabilities().is_none_or(|c| c.roots.is_none())
        {
            return settings.upload_roots.clone();
        }
        let asked = tokio::time::timeout(ROOTS_WAIT, ctx.peer.list_roots()).await;
        match asked {
            Ok(Ok(list)) => {
                let dirs: Vec<PathBuf> = list
                    .roots
                    .iter()
                    .filter_map(|r| url::Url::parse(&r.uri).ok())
                    .filter(|u| u.scheme() == "file")
                    .filter_map(|u| u.to_file_path().ok())
                    .collect();
                if !dirs.is_empty() {
                    return dirs;
                }
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "the client did not list its roots"),
            Err(_) => tracing::debug!("the client did not answer roots/list in time"),
        }
        settings.upload_roots.clone()
    }

    /// Checks `raw` against this request's roots and the size limit; nothing is read yet.
    pub(super) async fn checked_upload(
        &self,
        raw: &str,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CheckedFile, ToolError> {
        let roots = self.upload_roots(ctx).await;
        check_upload_path(raw, &roots, self.state.settings.max_upload_bytes)
    }
}

/// Reads a checked file, at most one byte past its checked size, so a file that grew since
/// the check is refused rather than read whole.
pub(super) async fn read_checked(raw: &str, file: &CheckedFile) -> Result<Vec<u8>, ToolError> {
    use tokio::io::AsyncReadExt;
    let cannot = |e: std::io::Error| ToolError::File(format!("Cannot read {raw:?}: {e}."));
    let handle = tokio::fs::File::open(&file.path).await.map_err(cannot)?;
    let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
    handle
        .take(file.size.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(cannot)?;
    if bytes.len() as u64 > file.size {
        return Err(ToolError::File(format!(
            "{raw:?} changed while it was being read; try again."
        )));
    }
    Ok(bytes)
}

/// The result of a delete Smooth answered; `false` means it did not delete.
pub(super) fn deleted(ok: bool, what: &str, id: String) -> Result<CallToolResult, ToolError> {
    if !ok {
        return Err(ToolError::Smooth(format!(
            "Smooth answered that {what} {id:?} was not deleted. Retry in a few seconds."
        )));
    }
    Ok(structured(&Deleted::new(id), vec![]))
}

/// A 404 on a delete is a clear "no such thing"; anything else is an upstream failure.
pub(super) fn not_found_or_upstream(
    e: &SmoothError,
    what: &str,
    id: &str,
    hint: &str,
) -> ToolError {
    match e {
        SmoothError::Api { status: 404, .. } => ToolError::Smooth(format!(
            "No {what} with id {id:?} exists on this Smooth account (it may already be deleted, \
             or have expired). Nothing was deleted. Check the id: {hint}."
        )),
        _ => ToolError::upstream(e, &format!("deleting {what} {id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes_dirs_and_large_files() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let ok = root.path().join("a.txt");
        std::fs::write(&ok, b"hello").unwrap();
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, b"x").unwrap();
        let roots = vec![root.path().to_path_buf()];

        let f = check_upload_path(ok.to_str().unwrap(), &roots, 100).unwrap();
        assert_eq!(f.size, 5);

        let dotdot = root
            .path()
            .join("..")
            .join(outside.path().file_name().unwrap())
            .join("secret.txt");
        let e = check_upload_path(dotdot.to_str().unwrap(), &roots, 100).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");

        let link = root.path().join("link.txt");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        let e = check_upload_path(link.to_str().unwrap(), &roots, 100).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");

        let e = check_upload_path(root.path().to_str().unwrap(), &roots, 100).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");

        let e = check_upload_path(ok.to_str().unwrap(), &roots, 2).unwrap_err();
        assert!(e.to_string().contains("at most 2 bytes"), "{e}");

        let e = check_upload_path("/dev/null", &[PathBuf::from("/dev")], 100).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");

        let e = check_upload_path(ok.to_str().unwrap(), &[], 100).unwrap_err();
        assert!(e.to_string().contains("--allow-dir"), "{e}");
    }
}
