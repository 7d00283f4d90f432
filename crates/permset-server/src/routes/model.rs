//! The workspace model over HTTP: schema, users, teams (with members),
//! roles (with clone), assignments and access rules.
//!
//! Reads check a module permission here. Writes only say what they want:
//! each handler turns its request into one `ModelChange` and hands it to
//! `change::write`, which has the store decide it (every administration rule
//! lives in `Snapshot::authorize`), commit it and install the new snapshot.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Utc};
use permset_core::{Access, Grant, Holder, Limit, ModelChange, ObjectDef, Role, Team, User};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::change::{write, Written};
use crate::error::ApiError;
use crate::extract::{summary_view, ApiJson, ApiQuery};
use crate::state::AppState;
use crate::user_page::{self, UsersQuery};

/// The merged schema (built-in and declared objects, modules, user attributes), what the
/// workspace itself declares, and its settings (whether team roles need `teams_view`).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/schema", tag = "model",
    params(("ws" = String, Path, description = "workspace key")),
    responses((status = 200,
        description = "schema (the merged objects, modules and user_attributes), declared (what the workspace \
            itself declares: what PUT /schema/objects/{object} replaces), settings \
            (team_roles_require_teams_view), permissions, revision",
        body = Object)))]
pub(crate) async fn get_schema(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let permissions: Vec<&str> = snapshot.permission_names().collect();
    Ok(Json(json!({
        "schema": snapshot.schema(),
        "declared": snapshot.model().schema,
        "settings": snapshot.model().settings,
        "permissions": permissions,
        "revision": snapshot.revision(),
    })))
}

/// Declares or replaces a custom object, or extends a standard one (`klasses_update`).
#[utoipa::path(put, path = "/v1/workspaces/{ws}/schema/objects/{object}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("object" = String, Path, description = "object name")),
    request_body(content = Object, description = "object definition: fields, actions, owner_field, team_field, list_visibility"),
    responses((status = 200, body = Object), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn put_object(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, object)): Path<(String, String)>,
    ApiJson(def): ApiJson<ObjectDef>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::PutObject { object, def }).await
}

/// The workspace's users (`users_view`): every one, or with any of `q`, `team`, `role`, `after`,
/// `limit` a page of them (keyset by key) with their direct assignments.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/users", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), UsersQuery),
    responses((status = 200,
        description = "users (key → user) and revision; paged (any query parameter given): also assignments \
            (key → the page's users' direct assignments), next (the key to pass as `after`, null on the last \
            page), matched (users matching the filters), total (users in the workspace)",
        body = Object), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UsersQuery>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    // INVARIANT: the gate comes before the filters are read, so a caller without users_view learns
    // nothing from which filters match (every request is the same 403).
    caller.require(&snapshot, "users_view")?;
    if !query.is_paged() {
        return Ok(Json(json!({ "users": snapshot.model().users, "revision": snapshot.revision() })));
    }
    let mut body = user_page::page(snapshot.model(), &query)?;
    body["revision"] = json!(snapshot.revision());
    Ok(Json(body))
}

/// One user (`users_view`, or the user itself).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/users/{user}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("user" = String, Path, description = "user key")),
    responses((status = 200, description = "key, user, roles (in force now), assignments (direct, with expiry), revision",
        body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((_ws, user)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    if caller.user.as_deref() != Some(user.as_str()) {
        caller.require(&snapshot, "users_view")?;
    }
    let found = snapshot
        .model()
        .users
        .get(&user)
        .ok_or_else(|| ApiError::not_found(format!("user `{user}` not found")))?;
    let roles = snapshot.roles_of(&user, Utc::now());
    // The user's own direct assignments (with expiry): what its page in the console lists.
    let assignments = snapshot.model().assignments.users.get(&user).cloned().unwrap_or_default();
    Ok(Json(json!({
        "key": user, "user": found, "roles": roles, "assignments": assignments, "revision": snapshot.revision(),
    })))
}

/// Creates or replaces a user (`users_create` / `users_update`; only account
/// owners make, change or demote account owners; the last one stays; joining
/// a team may not give the user roles beyond the actor's own).
#[utoipa::path(put, path = "/v1/workspaces/{ws}/users/{user}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("user" = String, Path, description = "user key")),
    request_body(content = Object, description = "kind, teams, attributes, account_owner"),
    responses((status = 200, body = Written), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn put_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, user)): Path<(String, String)>,
    ApiJson(def): ApiJson<User>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::PutUser { user, def }).await
}

/// Removes a user and its assignments (`users_delete`; account owners only by
/// account owners, and never the last one).
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/users/{user}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("user" = String, Path, description = "user key")),
    responses((status = 200, body = Object), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, user)): Path<(String, String)>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::DeleteUser { user }).await
}

/// Every team (`teams_view`).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/teams", tag = "model",
    params(("ws" = String, Path, description = "workspace key")), responses((status = 200, body = Object)))]
pub(crate) async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "teams_view")?;
    Ok(Json(json!({ "teams": snapshot.model().teams, "revision": snapshot.revision() })))
}

/// Creates or renames a team (`teams_create` / `teams_update`).
#[utoipa::path(put, path = "/v1/workspaces/{ws}/teams/{team}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("team" = String, Path, description = "team key")),
    request_body(content = Object, description = "name"), responses((status = 200, body = Object)))]
pub(crate) async fn put_team(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, team)): Path<(String, String)>,
    ApiJson(def): ApiJson<Team>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::PutTeam { team, def }).await
}

/// Removes a team, its assignments and memberships (`teams_delete`).
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/teams/{team}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("team" = String, Path, description = "team key")),
    responses((status = 200, body = Object)))]
pub(crate) async fn delete_team(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, team)): Path<(String, String)>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::DeleteTeam { team }).await
}

/// Puts a user in a team (`teams_update`; joining gives the team's roles,
/// so no escalation, and nobody but an account owner joins teams themselves).
#[utoipa::path(put, path = "/v1/workspaces/{ws}/teams/{team}/members/{user}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("team" = String, Path, description = "team key"), ("user" = String, Path, description = "user key")),
    responses((status = 200, body = Written), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, team, user)): Path<(String, String, String)>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::AddMember { team, user }).await
}

/// Takes a user out of a team (`teams_update`).
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/teams/{team}/members/{user}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("team" = String, Path, description = "team key"), ("user" = String, Path, description = "user key")),
    responses((status = 200, body = Written), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, team, user)): Path<(String, String, String)>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::RemoveMember { team, user }).await
}

/// How much of each role `GET /roles` returns. Other query parameters
/// pass (`at_least_revision`, read by the caller's extractor, is one).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RolesQuery {
    /// `full` (default): each role's whole definition; `summary`: name, description, system flag and
    /// counts, without the grants (what a list needs; a role's grants come from `GET /roles/{role}`).
    #[param(pattern = "^(full|summary)$")]
    pub view: Option<String>,
}

/// Every role, system and custom (`roles_view`), whole or as summaries.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/roles", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), RolesQuery),
    responses((status = 200,
        description = "roles: [{key, system, role}] (view=full) or [{key, system, kind, description, cloned_from, \
            grants (count), fields (count), teams_view (whether it grants teams_view), rules ([permission, rule] \
            pairs its grants use), holders ({users: direct holders, teams: [[team, members]]}, only for a \
            caller with users_view)}] (view=summary); revision",
        body = Object), (status = 400, body = crate::error::ErrorBody)))]
pub(crate) async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RolesQuery>,
) -> Result<Json<Value>, ApiError> {
    // A bad view is a 400 whoever asks: it depends on the query alone and reveals nothing.
    let summary = summary_view(query.view.as_deref())?;
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    // INVARIANT: the summary is derived from the same roles under the same permission as the full
    // list, so it can reveal nothing the full list would not.
    caller.require(&snapshot, "roles_view")?;
    // Who holds each role is assignment and membership data: counted only for a caller who may read
    // those (`users_view`, the gate of GET /assignments and GET /users).
    let holders = (summary && caller.require(&snapshot, "users_view").is_ok())
        .then(|| crate::holders::counts(snapshot.model()));
    let roles: Vec<Value> = snapshot
        .role_keys()
        .filter_map(|key| {
            snapshot.role(key).map(|(role, system)| {
                if summary {
                    let mut value = role_summary(key, system, role);
                    if let Some(counts) = &holders {
                        value["holders"] =
                            counts.get(key).cloned().unwrap_or_else(|| json!({ "users": 0, "teams": [] }));
                    }
                    value
                } else {
                    json!({ "key": key, "system": system, "role": role })
                }
            })
        })
        .collect();
    Ok(Json(json!({ "roles": roles, "revision": snapshot.revision() })))
}

/// A role without its grants: what a list of 1,000 roles needs (a tenth of the bytes), plus the two
/// facts the console derives from grants for every role (the `teams_view` gate and rule use).
fn role_summary(key: &str, system: bool, role: &Role) -> Value {
    let granted = |g: &&Grant| g.access != Access::None;
    let rules: Vec<[&str; 2]> = role
        .grants
        .iter()
        .filter_map(|(permission, grant)| match &grant.access {
            Access::Limited(limits) => Some(limits.iter().filter_map(move |l| match l {
                Limit::Rule(rule) => Some([permission.as_str(), rule.as_str()]),
                _ => None,
            })),
            _ => None,
        })
        .flatten()
        .collect();
    json!({
        "key": key,
        "system": system,
        "kind": role.kind,
        "description": role.description,
        "cloned_from": role.cloned_from,
        "grants": role.grants.values().filter(granted).count(),
        "fields": role.fields.len(),
        "teams_view": role.grants.get("teams_view").is_some_and(|g| granted(&g)),
        "rules": rules,
    })
}

/// One role (`roles_view`).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/roles/{role}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("role" = String, Path, description = "role key")),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((_ws, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "roles_view")?;
    let (role, system) =
        snapshot.role(&key).ok_or_else(|| ApiError::not_found(format!("role `{key}` not found")))?;
    Ok(Json(json!({ "key": key, "system": system, "role": role, "revision": snapshot.revision() })))
}

/// Creates or replaces a custom role (`roles_manage`, no escalation).
#[utoipa::path(put, path = "/v1/workspaces/{ws}/roles/{role}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("role" = String, Path, description = "role key")),
    request_body(content = Object, description = "kind, description, grants, fields"),
    responses((status = 200, body = Written), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn put_role(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, role)): Path<(String, String)>,
    ApiJson(def): ApiJson<Role>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::PutRole { role, def }).await
}

/// The body of a clone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloneRequest {
    /// The new role's key.
    pub name: String,
    /// Its description (default: the source's).
    pub description: Option<String>,
}

/// Clones any role into a new custom role (`roles_manage`, no escalation).
#[utoipa::path(post, path = "/v1/workspaces/{ws}/roles/{role}/clone", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("role" = String, Path, description = "source role key")),
    request_body = CloneRequest,
    responses((status = 200, body = Object), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn clone_role(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, source)): Path<(String, String)>,
    ApiJson(req): ApiJson<CloneRequest>,
) -> Result<Json<Written>, ApiError> {
    let change = ModelChange::CloneRole { source, role: req.name, description: req.description };
    write(&state, &caller, &headers, change).await
}

/// Deletes a custom role that nobody holds (`roles_manage`).
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/roles/{role}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("role" = String, Path, description = "role key")),
    responses((status = 200, body = Object), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, role)): Path<(String, String)>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::DeleteRole { role }).await
}

/// Which assignments `GET /assignments` returns.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AssignmentsQuery {
    /// `all` (default): users' and teams'; `teams`: only the teams' (a few hundred, where the users'
    /// are one or more per user: a user's come with `GET /users?…` pages).
    #[param(pattern = "^(all|teams)$")]
    pub holders: Option<String>,
}

/// All assignments (`users_view`), or only the teams'.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/assignments", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), AssignmentsQuery),
    responses((status = 200, description = "assignments ({users, teams}; users empty with holders=teams), revision",
        body = Object), (status = 400, body = crate::error::ErrorBody)))]
pub(crate) async fn list_assignments(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AssignmentsQuery>,
) -> Result<Json<Value>, ApiError> {
    let teams_only = match query.holders.as_deref() {
        None | Some("all") => false,
        Some("teams") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!("unknown holders `{other}`; use `all` or `teams`")))
        }
    };
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "users_view")?;
    let all = &snapshot.model().assignments;
    if teams_only {
        let assignments = json!({ "users": {}, "teams": all.teams });
        return Ok(Json(json!({ "assignments": assignments, "revision": snapshot.revision() })));
    }
    Ok(Json(json!({ "assignments": all, "revision": snapshot.revision() })))
}

/// One role given to (or taken from) a user or a team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignmentRequest {
    /// The user (or give `team`).
    pub user: Option<String>,
    /// The team (or give `user`).
    pub team: Option<String>,
    /// The role key.
    pub role: String,
    /// When the assignment stops counting.
    pub expires_at: Option<DateTime<Utc>>,
}

fn holder(req: &AssignmentRequest) -> Result<Holder, ApiError> {
    match (&req.user, &req.team) {
        (Some(user), None) => Ok(Holder::User(user.clone())),
        (None, Some(team)) => Ok(Holder::Team(team.clone())),
        _ => Err(ApiError::bad_request("give exactly one of `user` and `team`")),
    }
}

/// Assigns a role (`users_update` or `teams_update`; no escalation).
#[utoipa::path(post, path = "/v1/workspaces/{ws}/assignments", tag = "model",
    params(("ws" = String, Path, description = "workspace key")),
    request_body = AssignmentRequest,
    responses((status = 200, body = Written), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AssignmentRequest>,
) -> Result<Json<Written>, ApiError> {
    let change = ModelChange::Assign { holder: holder(&req)?, role: req.role, expires_at: req.expires_at };
    write(&state, &caller, &headers, change).await
}

/// Takes a role away (`users_update` or `teams_update`).
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/assignments", tag = "model",
    params(("ws" = String, Path, description = "workspace key")),
    request_body = AssignmentRequest, responses((status = 200, body = Object)))]
pub(crate) async fn unassign(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AssignmentRequest>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::Unassign { holder: holder(&req)?, role: req.role }).await
}

/// Every access rule (`roles_view`).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/access_rules", tag = "model",
    params(("ws" = String, Path, description = "workspace key")), responses((status = 200, body = Object)))]
pub(crate) async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "roles_view")?;
    Ok(Json(json!({ "access_rules": snapshot.model().access_rules, "revision": snapshot.revision() })))
}

/// The body of an access rule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleRequest {
    /// The condition (`tier in ["standard", "vip"]`).
    pub condition: String,
}

/// Creates or replaces a named access rule (`roles_manage`).
#[utoipa::path(put, path = "/v1/workspaces/{ws}/access_rules/{object}/{rule}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("object" = String, Path, description = "object"), ("rule" = String, Path, description = "rule name")),
    request_body = RuleRequest,
    responses((status = 200, body = Object), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn put_rule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, object, rule)): Path<(String, String, String)>,
    ApiJson(req): ApiJson<RuleRequest>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::PutAccessRule { object, rule, condition: req.condition })
        .await
}

/// Deletes an access rule no role uses (`roles_manage`).
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/access_rules/{object}/{rule}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("object" = String, Path, description = "object"), ("rule" = String, Path, description = "rule name")),
    responses((status = 200, body = Object), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, object, rule)): Path<(String, String, String)>,
) -> Result<Json<Written>, ApiError> {
    write(&state, &caller, &headers, ModelChange::DeleteAccessRule { object, rule }).await
}
