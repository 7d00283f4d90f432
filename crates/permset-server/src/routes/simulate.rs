//! What-if: `POST /v1/workspaces/{ws}/simulate` answers what one model
//! change would do — the plan and who would gain or lose which permission —
//! without writing anything.
//!
//! The change is authorised exactly as if it were being made
//! ([`permset_store::simulate`] runs [`permset_core::Snapshot::authorize`]
//! for the caller's principal), so a simulation refused is the change refused
//! with the same answer, and nobody learns through it more than they may
//! change.
//!
//! Part 3, **flips**: the sampled decisions (the decision log, newest first,
//! at most [`REPLAYED`]) are decided again, now, on the current and on the
//! proposed snapshot; those whose answer differs are grouped by user,
//! permission and direction with a count. The examples carry the sampled
//! records, so they are shown only to those who may read the decision
//! sample's source — account owners, Administrator and the service
//! principal; anyone else who may make the change sees the counts only.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use permset_core::{access_changes, ModelChange, Request, Snapshot};
use permset_store::{simulate as store_simulate, Author, DecisionLogEntry};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::admin::require_auditor;
use crate::state::AppState;

/// The most sampled decisions replayed (the sample's default cap).
const REPLAYED: u32 = 100_000;
/// Examples shown per group of flips.
const EXAMPLES: usize = 3;

/// The sampled decisions whose answer differs between `old` and `new`,
/// both decided at `now`: groups of (user, permission, from, to), each with
/// a count and up to [`EXAMPLES`] examples (newest first), ordered by user,
/// permission, direction. The sample's scoped keys are not known: each is
/// replayed for the user unscoped.
fn flips(old: &Snapshot, new: &Snapshot, sample: &[DecisionLogEntry], examples: bool) -> Vec<Value> {
    let now = Utc::now();
    let mut groups: BTreeMap<(&str, &str, bool), (u64, Vec<Value>)> = BTreeMap::new();
    for entry in sample {
        let (record, before) = (
            entry.record.as_ref().and_then(Value::as_object),
            entry.before.as_ref().and_then(Value::as_object),
        );
        let request = Request { user: &entry.user, permission: &entry.permission, record, before, now };
        let was = old.check(&request).is_allowed();
        if new.check(&request).is_allowed() == was {
            continue;
        }
        let group = groups.entry((&entry.user, &entry.permission, was)).or_default();
        group.0 += 1;
        if examples && group.1.len() < EXAMPLES {
            group.1.push(json!({
                "at": entry.at, "record_id": entry.record_id, "record": entry.record, "before": entry.before,
                "logged": if entry.allowed { "allow" } else { "deny" }, "revision": entry.revision,
            }));
        }
    }
    groups
        .into_iter()
        .map(|((user, permission, was), (count, shown))| {
            let mut row = json!({
                "user": user, "permission": permission,
                "from": if was { "allow" } else { "deny" }, "to": if was { "deny" } else { "allow" },
                "count": count,
            });
            if examples {
                row["examples"] = Value::Array(shown);
            }
            row
        })
        .collect()
}

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
    let examples = require_auditor(&caller, &snapshot).is_ok();
    let sample = state.store().recent_decisions(&caller.workspace, REPLAYED).await?;
    let replayed = sample.len();
    // One effective table per user on each side, and the replay: CPU work, off the async workers.
    let (changes, flipped) = tokio::task::spawn_blocking(move || {
        (access_changes(&snapshot, &new, Utc::now()), flips(&snapshot, &new, &sample, examples))
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({
        "plan": plan, "access_changes": changes, "replayed": replayed, "flips": flipped, "revision": revision
    })))
}
