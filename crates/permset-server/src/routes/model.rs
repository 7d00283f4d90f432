//! The workspace model over HTTP: schema, users, teams, roles (with clone),
//! assignments and access rules, with the administration rules of DESIGN.md
//! §3: system roles are immutable, only `roles_manage` holders manage roles,
//! nobody creates, edits or assigns a role granting more than they hold, and
//! the last account owner stays.
//!
//! Every write is one store transaction (validated by compiling the result,
//! audited, revision bumped) followed by a snapshot swap, so the very next
//! decision sees it.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Utc};
use permset_core::{Assignment, Model, ObjectDef, Role, Snapshot, Team, User};
use permset_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// The answer of a model write: the revision now in force.
fn written(revision: u64) -> Json<Value> {
    Json(json!({ "revision": revision }))
}

fn reason(headers: &HeaderMap) -> String {
    headers.get("x-permset-reason").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// Runs a model change for the caller and swaps the new snapshot in.
async fn change(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    edit: impl FnOnce(&mut Model) -> Result<(), StoreError> + Send,
) -> Result<Json<Value>, ApiError> {
    let revision =
        state.store().change_model(&caller.workspace, &caller.audit_name(), &reason(headers), edit).await?;
    state.refresh(&caller.workspace).await?;
    Ok(written(revision))
}

fn escalation_check(snapshot: &Snapshot, caller: &Caller, role: &Role) -> Result<(), ApiError> {
    if caller.is_service() {
        return Ok(());
    }
    let excess = snapshot.escalation(caller.known_actor(snapshot)?, role, Utc::now());
    if excess.is_empty() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("no escalation: {}", excess.join("; "))).with_details(json!(excess)))
    }
}

fn not_found(what: &str, key: &str) -> StoreError {
    StoreError::NotFound { what: format!("{what} `{key}`") }
}

/// The merged schema (built-in and declared objects, modules, user attributes).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/schema", tag = "model",
    params(("ws" = String, Path, description = "workspace key")),
    responses((status = 200, description = "objects, modules, user_attributes, permissions", body = Object)))]
pub(crate) async fn get_schema(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let permissions: Vec<&str> = snapshot.permission_names().collect();
    Ok(Json(
        json!({ "schema": snapshot.schema(), "permissions": permissions, "revision": snapshot.revision() }),
    ))
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
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "klasses_update")?;
    change(&state, &caller, &headers, move |model| {
        model.schema.objects.insert(object, def);
        Ok(())
    })
    .await
}

/// Every user of the workspace (`users_view`).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/users", tag = "model",
    params(("ws" = String, Path, description = "workspace key")),
    responses((status = 200, body = Object)))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "users_view")?;
    Ok(Json(json!({ "users": snapshot.model().users, "revision": snapshot.revision() })))
}

/// One user (`users_view`, or the user itself).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/users/{user}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("user" = String, Path, description = "user key")),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
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
    Ok(Json(json!({ "key": user, "user": found, "roles": roles, "revision": snapshot.revision() })))
}

/// Creates or replaces a user (`users_create` / `users_update`; only account
/// owners make, change or demote account owners; the last one stays; joining
/// a team may not give the user roles beyond the actor's own).
#[utoipa::path(put, path = "/v1/workspaces/{ws}/users/{user}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("user" = String, Path, description = "user key")),
    request_body(content = Object, description = "kind, teams, attributes, account_owner"),
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn put_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, key)): Path<(String, String)>,
    ApiJson(user): ApiJson<User>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let existing = snapshot.model().users.get(&key);
    caller.require(&snapshot, if existing.is_some() { "users_update" } else { "users_create" })?;
    let was_owner = existing.is_some_and(|u| u.account_owner);
    // Only account owners make, unmake or edit account owners; the store keeps the last one.
    if user.account_owner || was_owner {
        caller.require_owner(&snapshot, "making, changing or demoting an account owner")?;
    }
    // Joining a team is receiving its roles: no escalation through membership.
    let old_teams = existing.map(|u| u.teams.clone()).unwrap_or_default();
    for team in user.teams.iter().filter(|t| !old_teams.contains(t)) {
        for assignment in snapshot.model().assignments.teams.get(team).into_iter().flatten() {
            if let Some((role, _)) = snapshot.role(&assignment.role) {
                escalation_check(&snapshot, &caller, role)?;
            }
        }
    }
    change(&state, &caller, &headers, move |model| {
        model.users.insert(key, user);
        Ok(())
    })
    .await
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
    Path((_ws, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "users_delete")?;
    if snapshot.is_account_owner(&key) {
        caller.require_owner(&snapshot, "removing an account owner")?;
    }
    change(&state, &caller, &headers, move |model| {
        model.users.remove(&key).ok_or_else(|| not_found("user", &key))?;
        model.assignments.users.remove(&key);
        Ok(())
    })
    .await
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
    Path((_ws, key)): Path<(String, String)>,
    ApiJson(team): ApiJson<Team>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let exists = snapshot.model().teams.contains_key(&key);
    caller.require(&snapshot, if exists { "teams_update" } else { "teams_create" })?;
    change(&state, &caller, &headers, move |model| {
        model.teams.insert(key, team);
        Ok(())
    })
    .await
}

/// Removes a team, its assignments and memberships (`teams_delete`).
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/teams/{team}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("team" = String, Path, description = "team key")),
    responses((status = 200, body = Object)))]
pub(crate) async fn delete_team(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "teams_delete")?;
    change(&state, &caller, &headers, move |model| {
        model.teams.remove(&key).ok_or_else(|| not_found("team", &key))?;
        model.assignments.teams.remove(&key);
        for user in model.users.values_mut() {
            user.teams.retain(|t| *t != key);
        }
        Ok(())
    })
    .await
}

/// Every role, system and custom (`roles_view`).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/roles", tag = "model",
    params(("ws" = String, Path, description = "workspace key")), responses((status = 200, body = Object)))]
pub(crate) async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "roles_view")?;
    let roles: Vec<Value> = snapshot
        .role_keys()
        .filter_map(|key| {
            snapshot.role(key).map(|(role, system)| json!({ "key": key, "system": system, "role": role }))
        })
        .collect();
    Ok(Json(json!({ "roles": roles, "revision": snapshot.revision() })))
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

fn immutable(snapshot: &Snapshot, key: &str) -> Result<(), ApiError> {
    match snapshot.role(key) {
        Some((_, true)) => Err(ApiError::forbidden(format!(
            "`{key}` is a system role and cannot be changed; clone it with POST …/roles/{key}/clone"
        ))),
        _ => Ok(()),
    }
}

/// Creates or replaces a custom role (`roles_manage`, no escalation).
#[utoipa::path(put, path = "/v1/workspaces/{ws}/roles/{role}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("role" = String, Path, description = "role key")),
    request_body(content = Object, description = "kind, description, grants, fields"),
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn put_role(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, key)): Path<(String, String)>,
    ApiJson(role): ApiJson<Role>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "roles_manage")?;
    immutable(&snapshot, &key)?;
    escalation_check(&snapshot, &caller, &role)?;
    change(&state, &caller, &headers, move |model| {
        model.roles.insert(key, role);
        Ok(())
    })
    .await
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
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "roles_manage")?;
    let (role, _) =
        snapshot.role(&source).ok_or_else(|| ApiError::not_found(format!("role `{source}` not found")))?;
    if snapshot.role(&req.name).is_some() {
        return Err(ApiError::conflict(format!("role `{}` already exists", req.name)));
    }
    let mut clone = role.clone();
    clone.cloned_from = Some(source.clone());
    if req.description.is_some() {
        clone.description = req.description;
    }
    escalation_check(&snapshot, &caller, &clone)?;
    change(&state, &caller, &headers, move |model| {
        model.roles.insert(req.name, clone);
        Ok(())
    })
    .await
}

/// Deletes a custom role that nobody holds (`roles_manage`).
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/roles/{role}", tag = "model",
    params(("ws" = String, Path, description = "workspace key"), ("role" = String, Path, description = "role key")),
    responses((status = 200, body = Object), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((_ws, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "roles_manage")?;
    immutable(&snapshot, &key)?;
    change(&state, &caller, &headers, move |model| {
        let assigned = model
            .assignments
            .users
            .values()
            .chain(model.assignments.teams.values())
            .flatten()
            .any(|a| a.role == key);
        if assigned {
            return Err(StoreError::Conflict {
                message: format!("role `{key}` is still assigned; unassign it first"),
            });
        }
        model.roles.remove(&key).ok_or_else(|| not_found("role", &key))?;
        Ok(())
    })
    .await
}

/// All assignments (`users_view`).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/assignments", tag = "model",
    params(("ws" = String, Path, description = "workspace key")), responses((status = 200, body = Object)))]
pub(crate) async fn list_assignments(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "users_view")?;
    Ok(Json(json!({ "assignments": snapshot.model().assignments, "revision": snapshot.revision() })))
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

enum Holder {
    User(String),
    Team(String),
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
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AssignmentRequest>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let target = holder(&req)?;
    caller.require(
        &snapshot,
        if matches!(target, Holder::User(_)) { "users_update" } else { "teams_update" },
    )?;
    let (role, _) =
        snapshot.role(&req.role).ok_or_else(|| ApiError::invalid(format!("unknown role `{}`", req.role)))?;
    escalation_check(&snapshot, &caller, role)?;
    let assignment = Assignment { role: req.role.clone(), expires_at: req.expires_at };
    change(&state, &caller, &headers, move |model| {
        let list = match target {
            Holder::User(user) => model.assignments.users.entry(user).or_default(),
            Holder::Team(team) => model.assignments.teams.entry(team).or_default(),
        };
        list.retain(|a| a.role != assignment.role);
        list.push(assignment);
        Ok(())
    })
    .await
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
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let target = holder(&req)?;
    caller.require(
        &snapshot,
        if matches!(target, Holder::User(_)) { "users_update" } else { "teams_update" },
    )?;
    change(&state, &caller, &headers, move |model| {
        let (list, who) = match &target {
            Holder::User(user) => (model.assignments.users.get_mut(user), user.clone()),
            Holder::Team(team) => (model.assignments.teams.get_mut(team), team.clone()),
        };
        let list = list.ok_or_else(|| not_found("assignment of", &who))?;
        let before = list.len();
        list.retain(|a| a.role != req.role);
        if list.len() == before {
            return Err(not_found(&format!("assignment of `{}` to", req.role), &who));
        }
        Ok(())
    })
    .await
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
    Path((_ws, object, name)): Path<(String, String, String)>,
    ApiJson(req): ApiJson<RuleRequest>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "roles_manage")?;
    // Rewriting a rule re-scopes every grant that names it: the actor must
    // hold each such grant itself, as if creating those roles (no escalation).
    let uses_rule = |grant: &permset_core::Grant| match &grant.access {
        permset_core::Access::Limited(limits) => {
            limits.iter().any(|l| matches!(l, permset_core::Limit::Rule(n) if *n == name))
        }
        _ => false,
    };
    for role_key in snapshot.role_keys() {
        let Some((role, _)) = snapshot.role(role_key) else { continue };
        let grants: std::collections::BTreeMap<String, permset_core::Grant> = role
            .grants
            .iter()
            .filter(|(perm, grant)| perm.starts_with(&format!("{object}_")) && uses_rule(grant))
            .map(|(perm, grant)| (perm.clone(), grant.clone()))
            .collect();
        if !grants.is_empty() {
            escalation_check(&snapshot, &caller, &Role { grants, ..Role::default() })?;
        }
    }
    change(&state, &caller, &headers, move |model| {
        model.access_rules.entry(object).or_default().insert(name, req.condition);
        Ok(())
    })
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
    Path((_ws, object, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    caller.require(&snapshot, "roles_manage")?;
    change(&state, &caller, &headers, move |model| {
        let rules =
            model.access_rules.get_mut(&object).ok_or_else(|| not_found("access rules of", &object))?;
        rules.remove(&name).ok_or_else(|| not_found("access rule", &name))?;
        Ok(())
    })
    .await
}
