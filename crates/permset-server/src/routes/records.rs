//! Records over HTTP: create, read, update, delete, list (filter, cursor),
//! search and streamed export, every one decided for the acting user by the
//! store against the current snapshot. A write that raced a model change
//! (`Stale`) is decided again on a fresh snapshot (a few times at most),
//! never on the old one.
//!
//! Each route counts one decision for usage (a list, search or export once
//! per request, not per record): allowed when it succeeds, denied when it is
//! refused (403, or 404 — the store does not tell a hidden record from a
//! missing one). Other errors (bad input, conflicts) decide nothing and
//! are not counted.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use futures::StreamExt;
use permset_core::{Record, Snapshot};
use permset_store::{ExportFormat, ListQuery, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// A condition over the object's fields, e.g. `status == "open"`.
    pub filter: Option<String>,
    /// Text searched (case-insensitively) in the fields the user may read.
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<u32>,
    /// Export format: `ndjson` (default) or `csv`.
    #[param(pattern = "^(ndjson|csv)$")]
    pub format: Option<String>,
}

impl ListParams {
    fn query(&self) -> ListQuery {
        ListQuery {
            filter: self.filter.clone(),
            search: self.q.clone(),
            after: self.after.clone(),
            limit: self.limit,
        }
    }
}

/// Counts the route's decision of `<object>_<action>` for usage; `record`
/// is the record as returned, when there is one.
async fn count<T>(
    state: &AppState,
    caller: &Caller,
    object: &str,
    action: &str,
    outcome: &Result<T, ApiError>,
    record: Option<&Record>,
) {
    let Some(allowed) = decided(outcome) else { return };
    if let Ok(snapshot) = state.snapshot(&caller.workspace, caller.at_least).await {
        count_on(state, caller, &snapshot, object, action, allowed, record);
    }
}

/// Whether a route's outcome is a decision: allowed, refused (403 or 404), or no decision.
fn decided<T>(outcome: &Result<T, ApiError>) -> Option<bool> {
    match outcome {
        Ok(_) => Some(true),
        Err(e) if matches!(e.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => Some(false),
        Err(_) => None,
    }
}

/// [`count`] on a snapshot in hand.
fn count_on(
    state: &AppState,
    caller: &Caller,
    snapshot: &Arc<Snapshot>,
    object: &str,
    action: &str,
    allowed: bool,
    record: Option<&Record>,
) {
    let Some(user) = caller.user.as_deref().filter(|_| state.counting()) else { return };
    let permission = format!("{object}_{action}");
    // An unknown user or permission is no decision: `count` counts nothing for it.
    let request =
        permset_core::Request { user, permission: &permission, record, before: None, now: Utc::now() };
    state.count(snapshot, &request, allowed);
}

/// How many times a write that raced a model change is decided again.
const STALE_RETRIES: usize = 5;

/// Runs a store write on the current snapshot. If the model moved on
/// meanwhile (`Stale`), the write is decided again, from the start, on a
/// snapshot at least as new as the stored revision — never on the old
/// decision — up to [`STALE_RETRIES`] times.
async fn with_fresh_snapshot<T, F, Fut>(
    state: &AppState,
    caller: &Caller,
    write: F,
) -> Result<(T, u64), ApiError>
where
    F: Fn(Arc<Snapshot>) -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let mut retries = 0;
    loop {
        match write(Arc::clone(&snapshot)).await {
            Err(StoreError::Stale { current }) if retries < STALE_RETRIES => {
                retries += 1;
                snapshot = state.snapshot(&caller.workspace, Some(current)).await?;
            }
            other => return Ok((other?, snapshot.revision())),
        }
    }
}

/// Lists the records the acting user may view.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/objects/{object}/records", tag = "records",
    params(("ws" = String, Path, description = "workspace key"), ("object" = String, Path, description = "object"), ListParams),
    responses((status = 200, description = "records, next_cursor, revision", body = Object)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((_ws, object)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let outcome = async {
        let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
        let actor = caller.known_actor(&snapshot)?;
        let reader = state.reader(&snapshot).await;
        let page = reader.list_records(&snapshot, actor, &object, &params.query(), Utc::now()).await?;
        Ok(Json(
            json!({ "records": page.records, "next_cursor": page.next_cursor, "revision": snapshot.revision() }),
        ))
    }
    .await;
    count(&state, &caller, &object, "view", &outcome, None).await;
    outcome
}

/// Searches the records the acting user may view (`q` is required).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/objects/{object}/search", tag = "records",
    params(("ws" = String, Path, description = "workspace key"), ("object" = String, Path, description = "object"), ListParams),
    responses((status = 200, description = "records, next_cursor, revision", body = Object)))]
pub(crate) async fn search(
    state: State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    if params.q.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request("search needs `q`, the text to look for"));
    }
    list(state, caller, path, ApiQuery(params)).await
}

/// Streams the records the acting user may export, as NDJSON or CSV.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/objects/{object}/export", tag = "records",
    params(("ws" = String, Path, description = "workspace key"), ("object" = String, Path, description = "object"), ListParams),
    responses((status = 200, description = "NDJSON lines, or CSV rows with `format=csv`",
        content((String = "application/x-ndjson"), (String = "text/csv")))))]
pub(crate) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path((_ws, object)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    let (format, content_type) = match params.format.as_deref() {
        None | Some("ndjson") => (ExportFormat::Ndjson, "application/x-ndjson"),
        Some("csv") => (ExportFormat::Csv, "text/csv"),
        Some(other) => {
            return Err(ApiError::bad_request(format!("unknown format `{other}`; use `ndjson` or `csv`")))
        }
    };
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let reader = state.reader(&snapshot).await;
    let outcome = caller.known_actor(&snapshot).and_then(|actor| {
        Ok(reader.export_records(
            Arc::clone(&snapshot),
            actor,
            &object,
            &params.query(),
            format,
            Utc::now(),
        )?)
    });
    if let Some(allowed) = decided(&outcome) {
        count_on(&state, &caller, &snapshot, &object, "export", allowed, None);
    }
    let stream = outcome?;
    let body = Body::from_stream(stream.map(|chunk| {
        chunk.map_err(|error| {
            tracing::error!("export failed mid-stream: {error}");
            std::io::Error::other("export failed")
        })
    }));
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Creates a record (checked on the new record; every field must be editable).
#[utoipa::path(post, path = "/v1/workspaces/{ws}/objects/{object}/records", tag = "records",
    params(("ws" = String, Path, description = "workspace key"), ("object" = String, Path, description = "object")),
    request_body(content = Object, description = "field values; `id` optional"),
    responses((status = 201, body = Object), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((_ws, object)): Path<(String, String)>,
    ApiJson(fields): ApiJson<Record>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = caller.actor()?;
    let outcome = with_fresh_snapshot(&state, &caller, |snapshot| {
        let fields = fields.clone();
        let object = object.clone();
        let store = state.store().clone();
        async move { store.create_record(&snapshot, actor, &object, fields, Utc::now()).await }
    })
    .await;
    let returned = outcome.as_ref().ok().and_then(|(r, _)| serde_json::to_value(r).ok());
    count(&state, &caller, &object, "create", &outcome, returned.as_ref().and_then(Value::as_object)).await;
    let (record, revision) = outcome?;
    Ok((StatusCode::CREATED, Json(json!({ "record": record, "revision": revision }))))
}

/// Reads one record (404 when it does not exist or the user may not view it).
#[utoipa::path(get, path = "/v1/workspaces/{ws}/objects/{object}/records/{id}", tag = "records",
    params(("ws" = String, Path, description = "workspace key"), ("object" = String, Path, description = "object"), ("id" = String, Path, description = "record id")),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((_ws, object, id)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let outcome = async {
        let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
        let actor = caller.known_actor(&snapshot)?;
        let record =
            state.reader(&snapshot).await.get_record(&snapshot, actor, &object, &id, Utc::now()).await?;
        Ok((record, snapshot.revision()))
    }
    .await;
    let returned = outcome.as_ref().ok().and_then(|(r, _)| serde_json::to_value(r).ok());
    count(&state, &caller, &object, "view", &outcome, returned.as_ref().and_then(Value::as_object)).await;
    let (record, revision) = outcome?;
    Ok(Json(json!({ "record": record, "revision": revision })))
}

/// Updates fields of a record (checked before and after; every touched field must be editable).
#[utoipa::path(patch, path = "/v1/workspaces/{ws}/objects/{object}/records/{id}", tag = "records",
    params(("ws" = String, Path, description = "workspace key"), ("object" = String, Path, description = "object"), ("id" = String, Path, description = "record id")),
    request_body(content = Object, description = "the fields to change"),
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((_ws, object, id)): Path<(String, String, String)>,
    ApiJson(patch): ApiJson<Record>,
) -> Result<Json<Value>, ApiError> {
    let actor = caller.actor()?;
    let outcome = with_fresh_snapshot(&state, &caller, |snapshot| {
        let (patch, object, id) = (patch.clone(), object.clone(), id.clone());
        let store = state.store().clone();
        async move { store.update_record(&snapshot, actor, &object, &id, patch, Utc::now()).await }
    })
    .await;
    let returned = outcome.as_ref().ok().and_then(|(r, _)| serde_json::to_value(r).ok());
    count(&state, &caller, &object, "update", &outcome, returned.as_ref().and_then(Value::as_object)).await;
    let (record, revision) = outcome?;
    Ok(Json(json!({ "record": record, "revision": revision })))
}

/// Deletes a record (needs delete and view of it).
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/objects/{object}/records/{id}", tag = "records",
    params(("ws" = String, Path, description = "workspace key"), ("object" = String, Path, description = "object"), ("id" = String, Path, description = "record id")),
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((_ws, object, id)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let actor = caller.actor()?;
    let outcome = with_fresh_snapshot(&state, &caller, |snapshot| {
        let (object, id) = (object.clone(), id.clone());
        let store = state.store().clone();
        async move { store.delete_record(&snapshot, actor, &object, &id, Utc::now()).await }
    })
    .await;
    count(&state, &caller, &object, "delete", &outcome, None).await;
    let ((), revision) = outcome?;
    Ok(Json(json!({ "deleted": id, "revision": revision })))
}
