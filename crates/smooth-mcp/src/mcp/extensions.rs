//! Chrome extensions for the cloud browser: upload_extension, list_extensions,
//! delete_extension. Uploads pass the same path checks as upload_file.

use rmcp::handler::server::common::schema_for_output;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::SmoothServer;
use super::args::{Parameters, required_text};
use super::error::ToolError;
use super::files::{deleted, not_found_or_upstream, read_checked};
use super::results::{Deleted, ExtensionInfo, ExtensionList, ExtensionUploaded, structured};

/// Most extensions one result lists.
const MAX_EXTENSIONS: usize = 200;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadExtensionArgs {
    /// Path of a local .zip of an unpacked Chrome extension, under a directory the server
    /// allows.
    pub path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListExtensionsArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteExtensionArgs {
    /// The extension to delete.
    pub extension_id: String,
}

/// Whether the name ends in `.zip`, in any case.
fn is_zip_name(name: &str) -> bool {
    std::path::Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// A zip archive starts with a local file header (or, empty, with the end record).
fn is_zip_data(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

#[tool_router(router = extension_router, vis = "pub(super)")]
impl SmoothServer {
    #[tool(
        name = "upload_extension",
        title = "Upload a Chrome extension",
        description = "Upload a Chrome extension (a .zip of its folder) for the cloud browser \
            to load: pass the returned extension_id in browser.extensions of run_browser_task or \
            open_session.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false),
        output_schema = schema_for_output::<ExtensionUploaded>()
    )]
    async fn upload_extension(
        &self,
        Parameters(args): Parameters<UploadExtensionArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let raw = required_text("path", &args.path)?;
        let not_zip = || {
            ToolError::File(format!(
                "{raw:?} is not a .zip file. Zip the extension's folder (the one holding \
                 manifest.json) and upload the .zip."
            ))
        };
        if !is_zip_name(&raw) {
            return Err(not_zip());
        }
        let file = self.checked_upload(&raw, &ctx).await?;
        let name = file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| is_zip_name(n))
            .ok_or_else(not_zip)?;
        let bytes = read_checked(&raw, &file).await?;
        if !is_zip_data(&bytes) {
            return Err(not_zip());
        }
        let extension_id = self
            .client(&ctx)
            .upload_extension(&name, bytes)
            .await
            .map_err(|e| ToolError::upstream(&e, &format!("uploading the extension {name:?}")))?;
        Ok(structured(
            &ExtensionUploaded {
                extension_id,
                name,
                size_bytes: file.size,
            },
            vec![],
        ))
    }

    #[tool(
        name = "list_extensions",
        title = "List uploaded extensions",
        description = "The Chrome extensions uploaded to the account, to pick ids for \
            browser.extensions or to clean up.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ExtensionList>()
    )]
    async fn list_extensions(
        &self,
        Parameters(_): Parameters<ListExtensionsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let all = self
            .client(&ctx)
            .list_extensions()
            .await
            .map_err(|e| ToolError::upstream(&e, "listing extensions"))?;
        let total = all.len();
        let extensions = all
            .into_iter()
            .take(MAX_EXTENSIONS)
            .map(|e| ExtensionInfo {
                extension_id: e.id,
                file_name: e.file_name,
                created_at: e.creation_time.filter(|v| !v.is_null()),
            })
            .collect();
        let note = if total > MAX_EXTENSIONS {
            Some(format!(
                "Showing {MAX_EXTENSIONS} of {total} extensions; delete unused ones with \
                 delete_extension."
            ))
        } else if total == 0 {
            Some("No extensions yet: upload_extension adds one.".to_owned())
        } else {
            None
        };
        Ok(structured(&ExtensionList { extensions, note }, vec![]))
    }

    #[tool(
        name = "delete_extension",
        title = "Delete an extension",
        description = "Permanently delete an uploaded Chrome extension.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<Deleted>()
    )]
    async fn delete_extension(
        &self,
        Parameters(args): Parameters<DeleteExtensionArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let id = required_text("extension_id", &args.extension_id)?;
        let ok = self.client(&ctx).delete_extension(&id).await.map_err(|e| {
            not_found_or_upstream(&e, "extension", &id, "list_extensions shows them")
        })?;
        deleted(ok, "extension", id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_checks() {
        assert!(is_zip_name("a.zip") && is_zip_name("/x/A.ZIP"));
        assert!(!is_zip_name("a.zip.txt") && !is_zip_name("zip") && !is_zip_name("a.crx"));
        assert!(is_zip_data(b"PK\x03\x04rest") && is_zip_data(b"PK\x05\x06"));
        assert!(!is_zip_data(b"hello") && !is_zip_data(b""));
    }
}
