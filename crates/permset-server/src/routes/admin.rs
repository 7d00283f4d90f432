//! Workspace administration: `apply` a whole workspace file (with a dry-run
//! plan), `export` it back, the audit chain with `verify`, and API keys.
//! These are for account owners and the workspace's service principal.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use permset_core::{load_workspace_file, to_workspace_file, ModelChange};
use permset_store::{preview, Author};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::change::{commit, parse_origin};
use crate::error::ApiError;
use crate::extract::{summary_view, ApiBytes, ApiJson, ApiQuery};
use crate::state::AppState;

/// Options of `apply`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ApplyQuery {
    /// Only report the plan; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Why (kept in the audit entry).
    pub reason: Option<String>,
    /// Where the change comes from: `review` for a revocation an access
    /// review proposed (kept in the audit entry; the file may then only
    /// take assignments away).
    pub origin: Option<String>,
}

/// Replaces the workspace's model with a workspace file (YAML body) as one
/// validated, audited change; with `dry_run` only the plan.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/apply", tag = "admin",
    params(("ws" = String, Path, description = "workspace key"), ApplyQuery),
    request_body(content = String, content_type = "application/yaml", description = "the workspace file"),
    responses((status = 200, description = "the plan: changes, from_revision, to_revision", body = Object),
        (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ApplyQuery>,
    ApiBytes(body): ApiBytes,
) -> Result<Json<Value>, ApiError> {
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the workspace file must be UTF-8"))?;
    let (model, _) = load_workspace_file(text).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        ApiError::invalid(format!("the workspace file is not valid: {}", lines.join("; ")))
            .with_details(json!(lines))
    })?;
    let reason = query.reason.unwrap_or_default();
    let origin = parse_origin(query.origin.as_deref())?;
    let change = ModelChange::Replace { model: Box::new(model) };
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let name = caller.audit_name();
    let author = Author { principal: caller.principal()?, name: &name, reason: &reason, origin };
    // The plan first: a dry run stops here, and a file that changes nothing writes nothing.
    let plan = preview(&snapshot, &author, &change)?;
    if query.dry_run || plan.changes.is_empty() {
        return Ok(Json(serde_json::to_value(&plan).map_err(|e| ApiError::internal(&e))?));
    }
    let (plan, _) = commit(&state, &caller, &reason, origin, &change).await?;
    Ok(Json(serde_json::to_value(&plan).map_err(|e| ApiError::internal(&e))?))
}

/// The workspace's model as a workspace file (YAML).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/export", tag = "admin",
    params(("ws" = String, Path, description = "workspace key")),
    responses((status = 200, content_type = "application/yaml", body = Object,
        description = "the workspace file: a YAML map (docs/WORKSPACE_FILE.md)")))]
pub(crate) async fn export(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require_owner(&snapshot, "exporting the workspace file")?;
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/yaml"));
    Ok((headers, to_workspace_file(snapshot.model())))
}

/// Paging of the audit chain.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Entries after this sequence number (an empty list past the end).
    pub after: Option<u64>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
    /// `full` (default): every entry whole; `summary`: without `before`/`after` (a model change holds
    /// the whole model twice), with `size` (their bytes), `changed` (how many paths differ) and
    /// `changes` (the first 40 as `[op, path, text]`); an entry whose states exceed 512 KiB has
    /// `changed: null` and no changes (they are not read); a whole entry is `after=seq-1&limit=1`.
    #[param(pattern = "^(full|summary)$")]
    pub view: Option<String>,
}

pub(crate) fn require_auditor(caller: &Caller, snapshot: &permset_core::Snapshot) -> Result<(), ApiError> {
    if caller.is_service() {
        return Ok(());
    }
    let actor = caller.known_actor(snapshot)?;
    let admin = snapshot.is_account_owner(actor.user)
        || snapshot.roles_of(actor.user, chrono::Utc::now()).contains(&"administrator");
    if admin && actor.scope.is_none() {
        Ok(())
    } else {
        Err(ApiError::forbidden("the audit log is for account owners and administrators"))
    }
}

/// The audit chain, oldest first.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/audit", tag = "admin",
    params(("ws" = String, Path, description = "workspace key"), AuditQuery),
    responses((status = 200, body = Object)))]
pub(crate) async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let summary = summary_view(query.view.as_deref())?;
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    require_auditor(&caller, &snapshot)?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let after = query.after.unwrap_or(0);
    if summary {
        // The store leaves out states too large to list (a whole model, twice), reading only their size.
        let lines = state
            .store()
            .audit_lines(&caller.workspace, after, limit, crate::audit_view::MAX_STATE_BYTES)
            .await?;
        let entries =
            lines.into_iter().map(crate::audit_view::entry_summary).collect::<Result<Vec<_>, _>>()?;
        return Ok(Json(json!({ "entries": entries, "revision": snapshot.revision() })));
    }
    let entries = state.store().audit(&caller.workspace, after, limit).await?;
    Ok(Json(json!({ "entries": entries, "revision": snapshot.revision() })))
}

/// Walks the audit chain against the workspace's revision and head (and the
/// audit key, when the server has one) and names the first broken entry and why.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/audit/verify", tag = "admin",
    params(("ws" = String, Path, description = "workspace key")),
    responses((status = 200,
        description = "entries, revision, head, keyed_from, unchecked, first_broken, problem (docs/API.md, Audit)",
        body = Object)))]
pub(crate) async fn verify(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    require_auditor(&caller, &snapshot)?;
    let report = state.store().verify(&caller.workspace).await?;
    Ok(Json(serde_json::to_value(&report).map_err(|e| ApiError::internal(&e))?))
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyRequest {
    /// The user the key acts as; absent for a service key.
    pub user: Option<String>,
    /// The role the key is limited to.
    pub role: Option<String>,
    /// A label for people.
    #[serde(default)]
    pub label: String,
    /// When the key stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a key; the secret is in this answer only.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/keys", tag = "admin",
    params(("ws" = String, Path, description = "workspace key")),
    request_body = KeyRequest,
    responses((status = 200, description = "key and secret", body = Object)))]
pub(crate) async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<KeyRequest>,
) -> Result<Json<Value>, ApiError> {
    let change = ModelChange::CreateKey {
        user: req.user,
        role: req.role,
        expires_at: req.expires_at,
        label: req.label,
    };
    let (plan, key) = commit(&state, &caller, "", None, &change).await?;
    let (key, secret) = key.ok_or_else(|| ApiError::internal(&"a committed key change returned no key"))?;
    Ok(Json(json!({ "key": key, "secret": secret, "revision": plan.to_revision })))
}

/// The workspace's keys (never their secrets).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/keys", tag = "admin",
    params(("ws" = String, Path, description = "workspace key")), responses((status = 200, body = Object)))]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require_owner(&snapshot, "listing keys")?;
    Ok(Json(json!({ "keys": state.store().list_keys(&caller.workspace).await? })))
}

/// Revokes a key.
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/keys/{id}", tag = "admin",
    params(("ws" = String, Path, description = "workspace key"), ("id" = String, Path, description = "key id")),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((_ws, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (plan, _) = commit(&state, &caller, "", None, &ModelChange::RevokeKey { id: id.clone() }).await?;
    Ok(Json(json!({ "revoked": id, "revision": plan.to_revision })))
}
