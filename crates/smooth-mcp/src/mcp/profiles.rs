//! Browser profiles (saved logins and cookies): create_profile, list_profiles, delete_profile.

use rmcp::handler::server::common::schema_for_output;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::SmoothServer;
use super::args::{Parameters, required_text};
use super::error::ToolError;
use super::files::{deleted, not_found_or_upstream};
use super::results::{Deleted, ProfileCreated, ProfileInfo, ProfileList, structured};
use smooth_api::SmoothError;

/// Most profiles one result lists.
const MAX_PROFILES: usize = 200;
/// Most cookie domains shown per profile.
const MAX_DOMAINS: usize = 20;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProfileArgs {
    /// An id of your choice, e.g. "work-github" (default: Smooth picks one).
    pub profile_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProfilesArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteProfileArgs {
    /// The profile to delete.
    pub profile_id: String,
}

#[tool_router(router = profile_router, vis = "pub(super)")]
impl SmoothServer {
    #[tool(
        name = "create_profile",
        title = "Create a browser profile",
        description = "Create a profile that keeps logins and cookies across tasks, to work \
            behind a login. Then: open_session with its profile_id, give the user the live_url \
            to log in, session_action close, wait ~5 s, and pass the profile_id to \
            run_browser_task.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false),
        output_schema = schema_for_output::<ProfileCreated>()
    )]
    async fn create_profile(
        &self,
        Parameters(args): Parameters<CreateProfileArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let wanted = match args.profile_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(id) => Some(id.to_owned()),
        };
        let profile = self
            .client(&ctx)
            .create_profile(wanted.as_deref())
            .await
            .map_err(|e| match (&e, &wanted) {
                (SmoothError::Api { status: 409, .. }, Some(id)) => ToolError::Smooth(format!(
                    "A profile with id {id:?} already exists. Use it as it is (list_profiles \
                     shows what it holds), choose another id, or omit profile_id."
                )),
                _ => ToolError::upstream(&e, "creating the profile"),
            })?;
        let id = profile.id;
        let next_step = format!(
            "To log in: open_session with profile_id \"{id}\", give the user the live_url to log \
             in, then session_action close, wait about 5 seconds (the cookies are being saved), \
             and use profile_id \"{id}\" in run_browser_task."
        );
        Ok(structured(
            &ProfileCreated {
                profile_id: id,
                next_step,
            },
            vec![],
        ))
    }

    #[tool(
        name = "list_profiles",
        title = "List browser profiles",
        description = "The account's saved profiles and the sites they hold logins for, to pick \
            a profile_id for run_browser_task or open_session.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ProfileList>()
    )]
    async fn list_profiles(
        &self,
        Parameters(_): Parameters<ListProfilesArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let all = self
            .client(&ctx)
            .list_profiles()
            .await
            .map_err(|e| ToolError::upstream(&e, "listing profiles"))?;
        let total = all.len();
        let ids_only = all.iter().all(|p| {
            p.cookie_domains.is_none()
                && p.cookie_count.is_none()
                && p.profile_size_bytes.is_none()
                && p.last_saved_at.is_none()
        });
        let profiles: Vec<ProfileInfo> = all
            .into_iter()
            .take(MAX_PROFILES)
            .map(|p| {
                let (cookie_domains, more_domains) = match p.cookie_domains {
                    Some(mut d) if d.len() > MAX_DOMAINS => {
                        let more = d.len() - MAX_DOMAINS;
                        d.truncate(MAX_DOMAINS);
                        (Some(d), Some(more))
                    }
                    other => (other, None),
                };
                ProfileInfo {
                    profile_id: p.id,
                    cookie_domains,
                    more_domains,
                    cookie_count: p.cookie_count,
                    size_bytes: p.profile_size_bytes,
                    last_saved_at: p.last_saved_at.filter(|v| !v.is_null()),
                }
            })
            .collect();
        let note = if total > MAX_PROFILES {
            Some(format!(
                "Showing {MAX_PROFILES} of {total} profiles; delete unused ones with delete_profile."
            ))
        } else if total == 0 {
            Some("No profiles yet: create_profile makes one.".to_owned())
        } else if ids_only {
            Some("This Smooth server reports only profile ids, not their cookies.".to_owned())
        } else {
            None
        };
        Ok(structured(&ProfileList { profiles, note }, vec![]))
    }

    #[tool(
        name = "delete_profile",
        title = "Delete a browser profile",
        description = "Permanently delete a profile and the logins and cookies saved in it.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<Deleted>()
    )]
    async fn delete_profile(
        &self,
        Parameters(args): Parameters<DeleteProfileArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let id = required_text("profile_id", &args.profile_id)?;
        let ok =
            self.client(&ctx).delete_profile(&id).await.map_err(|e| {
                not_found_or_upstream(&e, "profile", &id, "list_profiles shows them")
            })?;
        deleted(ok, "profile", id)
    }
}
