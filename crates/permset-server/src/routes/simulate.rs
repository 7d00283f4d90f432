//! What-if: `POST /v1/workspaces/{ws}/simulate` answers what one model
//! change would do — the plan and who would gain or lose which permission —
//! without writing anything.
//!
//! The change is authorised exactly as if it were being made
//! ([`permset_store::simulate`] runs [`permset_core::Snapshot::authorize`]
//! for the caller's principal), so a simulation refused is the change refused
//! with the same answer, and nobody learns through it more than they may
//! change.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use permset_core::{access_changes, ModelChange};
use permset_store::{simulate as store_simulate, Author};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// What one model change would do: its plan and the effective access it
/// would give or take from each user. Nothing is written; the revision does
/// not move. Refused (403/400/404/422) exactly when making it would be.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/simulate", tag = "admin",
    params(("ws" = String, Path, description = "workspace key")),
    request_body(content = Object, description = "one model change, tagged with `op` (`assign`, `put_role`, …)"),
    responses((status = 200, description = "`plan`, `access_changes` (user, permission, change, before, after) and `revision`", body = Object),
        (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn simulate(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(change): ApiJson<ModelChange>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let name = caller.audit_name();
    let author = Author { principal: caller.principal()?, name: &name, reason: "" };
    let (plan, new) = store_simulate(&snapshot, &author, &change)?;
    let revision = snapshot.revision();
    // One effective table per user on each side: CPU work, off the async workers.
    let changes = tokio::task::spawn_blocking(move || access_changes(&snapshot, &new, Utc::now()))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({ "plan": plan, "access_changes": changes, "revision": revision })))
}
