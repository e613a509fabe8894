//! Files handed to the agent: upload_file. Reads only regular files under the allowed roots.

use std::path::{Path, PathBuf};

use rmcp::handler::server::common::schema_for_output;

use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::SmoothServer;
use super::args::{Parameters, required_text};
use super::error::{ToolError, invalid};
use super::results::{UploadResult, structured};

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
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true),
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
        let settings = &self.state.settings;
        let file = check_upload_path(&raw, &settings.upload_roots, settings.max_upload_bytes)?;
        let name = match args.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => file
                .path
                .file_name()
                .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned()),
        };
        let bytes = tokio::fs::read(&file.path)
            .await
            .map_err(|e| ToolError::File(format!("Cannot read {raw:?}: {e}.")))?;
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
    }
}
