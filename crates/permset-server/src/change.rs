//! The server's side of a model change: a handler turns its request into a
//! [`ModelChange`] and hands it here. The store decides it against the
//! snapshot it was read at, inside the committing transaction
//! (`Snapshot::authorize` holds every administration rule; no handler checks
//! any), and the snapshot it compiled is installed as it is, before the
//! answer, so the very next decision sees the change.
//!
//! When another change committed in between, the store decides on the
//! revision it locked, never on the older snapshot this server held.

use axum::http::HeaderMap;
use permset_core::{ModelChange, Origin};
use permset_store::{Author, Plan};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The answer of a model write.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Written {
    /// The revision now in force (wait for it elsewhere with `at_least_revision`).
    pub revision: u64,
    /// What changed, in workspace-file order.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<permset_core::Change>,
}

/// The reason a caller gave for a change (`x-permset-reason`), for the audit log.
pub(crate) fn reason(headers: &HeaderMap) -> String {
    headers.get("x-permset-reason").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The origin a caller marked a change with (`x-permset-origin: review`),
/// for the audit log; an unknown one is refused before anything is decided.
pub(crate) fn origin(headers: &HeaderMap) -> Result<Option<Origin>, ApiError> {
    let Some(value) = headers.get("x-permset-origin") else { return Ok(None) };
    let text = value.to_str().map_err(|_| ApiError::bad_request("`x-permset-origin` must be text"))?;
    parse_origin(Some(text))
}

/// An origin's name (a header's or a query's) as an [`Origin`]; empty is none.
pub(crate) fn parse_origin(text: Option<&str>) -> Result<Option<Origin>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => Origin::parse(text).map(Some).map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

/// Decides and commits `change` for the caller; installs the new snapshot.
/// Returns the plan and, for a key created, the key and its secret.
pub(crate) async fn commit(
    state: &AppState,
    caller: &Caller,
    reason: &str,
    origin: Option<Origin>,
    change: &ModelChange,
) -> Result<(Plan, Option<(permset_store::KeyInfo, String)>), ApiError> {
    let principal = caller.principal()?;
    let name = caller.audit_name();
    let author = Author { principal, name: &name, reason, origin };
    let current = state.snapshot(&caller.workspace, caller.at_least).await?;
    let committed = state.store().change_model(&current, &author, change).await?;
    state.install(&caller.workspace, committed.snapshot);
    Ok((committed.plan, committed.key))
}

/// [`commit`] answered as `{ revision, changes }`.
pub(crate) async fn write(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    change: ModelChange,
) -> Result<axum::Json<Written>, ApiError> {
    let (plan, _) = commit(state, caller, &reason(headers), origin(headers)?, &change).await?;
    let revision = plan.to_revision.unwrap_or(plan.from_revision);
    Ok(axum::Json(Written { revision, changes: plan.changes }))
}
