//! Decisions over HTTP: `check`, `check/batch`, `explain` and a user's
//! effective permissions. Each answer carries the revision it was decided at.
//! The names of a question are resolved first: an unknown permission or
//! user is a 422 with the nearest name (in a batch, that item's answer),
//! never the quiet deny the engine's total `check` would give.
//!
//! Every answered decision is counted for usage (`state.count`); single
//! checks are also logged with their record, for what-if replay.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use permset_core::{Actor, PermId, Request, Snapshot, UsageKey, UserId};
use permset_store::DecisionLogEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// The most requests one batch may hold.
pub(crate) const MAX_BATCH: usize = 10_000;

/// A batch gives its worker back to other requests after this many decisions.
const YIELD_EVERY: usize = 100;

/// One question. `user` defaults to the acting user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckRequest {
    /// The user asked about (a service key may ask about anyone; a user key about itself).
    pub user: Option<String>,
    /// `customers_update`, …
    pub permission: String,
    /// The record (for an update, its new state).
    #[schema(value_type = Option<Object>)]
    pub record: Option<serde_json::Map<String, Value>>,
    /// For an update, the record before the change.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Map<String, Value>>,
    /// Decide as of this time (default now).
    pub at: Option<DateTime<Utc>>,
}

/// One answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckResponse {
    /// Allowed or not.
    pub allowed: bool,
    /// Allowed for some records only (a module-level question on a limited grant).
    pub limited: bool,
    /// The workspace revision decided at.
    pub revision: u64,
}

/// Many questions at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    /// At most 10,000 requests.
    pub requests: Vec<CheckRequest>,
}

/// The answers, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchResponse {
    /// One per request.
    pub results: Vec<BatchItem>,
    /// The workspace revision decided at.
    pub revision: u64,
}

/// One answer of a batch: a decision, or the error that request alone
/// would have had (an unknown permission or user) — the others are still answered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum BatchItem {
    /// The decision.
    Decision(Decided),
    /// The request's input error (`unknown_permission`, `unknown_user`).
    Error {
        /// The error object of a single `check`.
        error: crate::error::ErrorDetail,
    },
}

/// A decision of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Decided {
    /// Allowed or not.
    pub allowed: bool,
    /// Allowed for some records only.
    pub limited: bool,
}

/// Who a decision is about: the request's `user`, which must be the caller
/// itself unless the caller is a service key or an account owner.
fn subject<'a>(
    caller: &'a Caller,
    snapshot: &Snapshot,
    asked: Option<&'a str>,
) -> Result<Actor<'a>, ApiError> {
    let scope = caller.key.role.as_deref();
    let user = match (asked, caller.user.as_deref()) {
        (Some(asked), Some(me)) if asked != me => {
            if caller.key.user.is_some() && !snapshot.is_account_owner(me) {
                return Err(ApiError::forbidden("a user key may only ask about its own user"));
            }
            asked
        }
        (Some(asked), _) => asked,
        (None, Some(me)) => me,
        (None, None) => {
            return Err(ApiError::bad_request("name the `user` to check, or send `x-permset-user`"))
        }
    };
    Ok(Actor { user, scope })
}

/// The engine's request for an HTTP one, decided at its `at` or else `now`.
fn request<'r>(actor: Actor<'r>, req: &'r CheckRequest, now: DateTime<Utc>) -> Request<'r> {
    Request {
        user: actor.user,
        permission: &req.permission,
        record: req.record.as_ref(),
        before: req.before.as_ref(),
        now: req.at.unwrap_or(now),
    }
}

/// The names of a request, resolved to the snapshot's handles: an unknown
/// user or permission is an input error with the nearest name (422), not
/// the quiet deny `check` gives. Deciding and counting then use the handles,
/// so each name is looked up once per request.
fn resolve(snapshot: &Snapshot, actor: Actor<'_>, req: &CheckRequest) -> Result<Handles, ApiError> {
    let user = snapshot.resolve_user(actor.user).map_err(|e| ApiError::unknown_name(&e))?;
    let perm = snapshot.resolve_permission(&req.permission).map_err(|e| ApiError::unknown_name(&e))?;
    Ok(Handles { user, perm })
}

/// A request's user and permission, resolved in the snapshot deciding it.
#[derive(Clone, Copy)]
struct Handles {
    user: UserId,
    perm: PermId,
}

fn decide(snapshot: &Snapshot, ids: Handles, request: &Request<'_>, scope: Option<&str>) -> Decided {
    let decision =
        snapshot.check_scoped_ids(ids.user, ids.perm, request.record, request.before, request.now, scope);
    Decided { allowed: decision.is_allowed(), limited: decision.is_limited() }
}

/// The key a decision is counted under (`None` when usage is off).
fn usage_key(
    state: &AppState,
    snapshot: &Snapshot,
    ids: Handles,
    request: &Request<'_>,
    allowed: bool,
) -> Option<UsageKey> {
    if !state.counting() {
        return None;
    }
    snapshot.usage_key_ids(ids.user, ids.perm, request.record, request.now, allowed)
}

/// May this user do this?
#[utoipa::path(post, path = "/v1/workspaces/{ws}/check", tag = "decisions",
    params(("ws" = String, Path, description = "workspace key")),
    request_body = CheckRequest,
    responses((status = 200, body = CheckResponse), (status = 401, body = crate::error::ErrorBody),
        (status = 422, description = "`unknown_permission` or `unknown_user`, with the nearest name", body = crate::error::ErrorBody)))]
pub(crate) async fn check(
    State(state): State<AppState>,
    caller: Caller,
    Path(_ws): Path<String>,
    ApiJson(req): ApiJson<CheckRequest>,
) -> Result<Json<CheckResponse>, ApiError> {
    let started = Instant::now();
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let actor = subject(&caller, &snapshot, req.user.as_deref())?;
    let ids = resolve(&snapshot, actor, &req)?;
    let now = Utc::now();
    let asked = request(actor, &req, now);
    let item = decide(&snapshot, ids, &asked, actor.scope);
    state.metrics().decision(item.allowed);
    state.metrics().check_latency(started.elapsed().as_micros() as u64);
    if let Some(key) = usage_key(&state, &snapshot, ids, &asked, item.allowed) {
        state.count_all(&snapshot, &[key]);
        // Single checks are logged (off the hot path); batches are bulk traffic and are counted only.
        let record_id =
            req.record.as_ref().and_then(|r| r.get("id")).and_then(|v| v.as_str()).map(str::to_owned);
        let entry = DecisionLogEntry {
            at: asked.now,
            user: actor.user.to_owned(),
            permission: req.permission.clone(),
            record_id,
            record: req.record.clone().map(Value::Object),
            before: req.before.clone().map(Value::Object),
            allowed: item.allowed,
            revision: snapshot.revision(),
        };
        state.log_decision(&caller.workspace, entry);
    }
    Ok(Json(CheckResponse { allowed: item.allowed, limited: item.limited, revision: snapshot.revision() }))
}

/// Many decisions on one snapshot.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/check/batch", tag = "decisions",
    params(("ws" = String, Path, description = "workspace key")),
    request_body = BatchRequest,
    responses((status = 200, description = "one result per request; a request naming an unknown permission or user gets `{error}` in its place", body = BatchResponse),
        (status = 413, body = crate::error::ErrorBody)))]
pub(crate) async fn check_batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(_ws): Path<String>,
    ApiJson(batch): ApiJson<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    if batch.requests.len() > MAX_BATCH {
        return Err(ApiError::too_large(format!("a batch holds at most {MAX_BATCH} requests")));
    }
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let mut results = Vec::with_capacity(batch.requests.len());
    let mut counted = Vec::with_capacity(if state.counting() { batch.requests.len() } else { 0 });
    // One clock reading for the batch: its decisions are made at one time.
    let now = Utc::now();
    let (mut allowed, mut denied) = (0, 0);
    for (i, req) in batch.requests.iter().enumerate() {
        if i > 0 && i % YIELD_EVERY == 0 {
            // A batch of thousands must not hold a runtime worker while single checks queue behind it.
            tokio::task::yield_now().await;
        }
        let actor = subject(&caller, &snapshot, req.user.as_deref())?;
        let item = match resolve(&snapshot, actor, req) {
            Ok(ids) => {
                let asked = request(actor, req, now);
                let decided = decide(&snapshot, ids, &asked, actor.scope);
                *(if decided.allowed { &mut allowed } else { &mut denied }) += 1;
                counted.extend(usage_key(&state, &snapshot, ids, &asked, decided.allowed));
                BatchItem::Decision(decided)
            }
            Err(error) => BatchItem::Error { error: error.detail() },
        };
        results.push(item);
    }
    // The shared metrics are touched once per batch, not once per decision.
    state.metrics().allowed.fetch_add(allowed, std::sync::atomic::Ordering::Relaxed);
    state.metrics().denied.fetch_add(denied, std::sync::atomic::Ordering::Relaxed);
    state.count_all(&snapshot, &counted);
    Ok(Json(BatchResponse { results, revision: snapshot.revision() }))
}

/// A decision with its path or near misses.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/explain", tag = "decisions",
    params(("ws" = String, Path, description = "workspace key")),
    request_body = CheckRequest,
    responses((status = 200, description = "the explanation: decision, path, near_misses, revision", body = Object),
        (status = 422, description = "`unknown_permission` or `unknown_user`, with the nearest name", body = crate::error::ErrorBody)))]
pub(crate) async fn explain(
    State(state): State<AppState>,
    caller: Caller,
    Path(_ws): Path<String>,
    ApiJson(req): ApiJson<CheckRequest>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let actor = subject(&caller, &snapshot, req.user.as_deref())?;
    let ids = resolve(&snapshot, actor, &req)?;
    let request = request(actor, &req, Utc::now());
    let mut explanation = snapshot.explain(&request, &[]);
    if let Some(scope) = actor.scope {
        // The key's scope can only narrow: report the scoped decision.
        explanation.decision = snapshot.check_scoped(&request, Some(scope));
    }
    let counted = usage_key(&state, &snapshot, ids, &request, explanation.decision.is_allowed());
    state.count_all(&snapshot, counted.as_slice());
    let mut body = serde_json::to_value(&explanation).map_err(|e| ApiError::internal(&e))?;
    if let Some(map) = body.as_object_mut() {
        map.insert("text".into(), Value::String(explanation.to_string()));
        map.insert("scope".into(), actor.scope.map_or(Value::Null, |s| Value::String(s.to_owned())));
    }
    Ok(Json(body))
}

/// A user's effective permission matrix.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/users/{user}/permissions", tag = "decisions",
    params(("ws" = String, Path, description = "workspace key"), ("user" = String, Path, description = "user key")),
    responses((status = 200, description = "permissions with access and sources", body = Object)))]
pub(crate) async fn permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path((_ws, user)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let actor = subject(&caller, &snapshot, Some(&user))?;
    if snapshot.user_kind(actor.user).is_none() {
        return Err(ApiError::not_found(format!("user `{user}` not found")));
    }
    let rows = snapshot.effective_permissions(actor, Utc::now());
    Ok(Json(serde_json::json!({ "user": user, "permissions": rows, "revision": snapshot.revision() })))
}
