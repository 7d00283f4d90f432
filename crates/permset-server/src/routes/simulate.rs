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
//! at most [`REPLAYED`], kept parsed in memory by `sample.rs`) are decided again, now, on the current and on the
//! proposed snapshot; those whose answer differs are grouped by user,
//! permission and direction with a count. The examples carry the sampled
//! records, so they are shown only to those who may read the decision
//! sample's source — account owners, Administrator and the service
//! principal; anyone else who may make the change sees the counts only.
//!
//! Part 4, **record visibility**: every (user, object) whose view predicate
//! differs between the two snapshots ([`permset_core::view_changes`]), and
//! for the first [`VISIBILITY_USERS`] of those users (by key) how many stored
//! records they would gain or lose sight of, counted in SQL with both
//! predicates ([`permset_store::Store::count_visibility`]). A count over a
//! predicate the caller writes is an oracle on records they may not read
//! (`ssn == "…"` gains 1), so counts go only to the same callers as the
//! flip examples; anyone else sees how many users are affected.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chrono::Utc;
use permset_core::{
    access_changes, view_changes, ModelChange, Request, Snapshot, UserAccessChange, ViewChange,
};
use permset_store::{simulate as store_simulate, Author, DecisionLogEntry, Plan, VisibilityCount};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::change::origin;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::admin::require_auditor;
use crate::state::AppState;

/// The most sampled decisions replayed (the sample's default cap).
pub(crate) const REPLAYED: u32 = 100_000;
/// Examples shown per group of flips.
const EXAMPLES: usize = 3;
/// The most users whose record visibility is counted (one SQL scan per
/// object answers 16 users; beyond this the answer says it stopped).
pub(crate) const VISIBILITY_USERS: usize = 100;

/// The answer of `POST /simulate` (docs/WHATIF.md).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Simulation {
    /// The revision the change was simulated on (unchanged).
    revision: u64,
    /// Part 1: the plan, as `apply --dry-run` shows it.
    #[schema(value_type = Object)]
    plan: Plan,
    /// Part 2: per user, each permission whose effective access moves.
    #[schema(value_type = Vec<Object>)]
    access_changes: Vec<UserAccessChange>,
    /// How many sampled decisions were replayed.
    replayed: usize,
    /// Part 3: replayed decisions whose answer flips, grouped by user, permission and direction.
    #[schema(value_type = Vec<Object>)]
    flips: Vec<Value>,
    /// Part 4: records each affected user would gain or lose sight of.
    record_visibility: RecordVisibility,
}

/// Part 4 of a simulation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordVisibility {
    /// Users whose view of at least one object changes.
    users_affected: usize,
    /// Users whose records were counted: the first `cap` by key, or none
    /// when the caller may not see counts (`counted` false).
    users_counted: usize,
    /// The most users counted in one simulation.
    cap: usize,
    /// Whether users were left uncounted because of the cap.
    truncated: bool,
    /// Whether counts are shown to this caller (owners, Administrator, the service principal).
    counted: bool,
    /// Per counted user and object with a difference: records gained and lost (zero rows left out).
    #[schema(value_type = Vec<Object>)]
    changes: Vec<VisibilityCount>,
}

/// The sampled decisions whose answer differs between `old` and `new`,
/// both decided at `now` ([`permset_core::flips`]): groups of (user,
/// permission, from, to), each with a count and, when `examples`, up to
/// [`EXAMPLES`] sampled decisions (newest first). The sample's scoped keys
/// are not known: each is replayed for the user unscoped.
fn flips(old: &Snapshot, new: &Snapshot, sample: &[Arc<DecisionLogEntry>], examples: bool) -> Vec<Value> {
    let now = Utc::now();
    let requests: Vec<Request<'_>> = sample
        .iter()
        .map(|entry| Request {
            user: &entry.user,
            permission: &entry.permission,
            record: entry.record.as_ref().and_then(Value::as_object),
            before: entry.before.as_ref().and_then(Value::as_object),
            now,
        })
        .collect();
    let shown = if examples { EXAMPLES } else { 0 };
    permset_core::flips(old, new, &requests, shown)
        .into_iter()
        .map(|group| {
            let word = |allowed: bool| if allowed { "allow" } else { "deny" };
            let mut row = json!({
                "user": group.user, "permission": group.permission,
                "from": word(group.was_allowed), "to": word(!group.was_allowed), "count": group.count,
            });
            if examples {
                let shown: Vec<Value> = group
                    .examples
                    .iter()
                    .filter_map(|&at| sample.get(at))
                    .map(|e| {
                        json!({
                            "at": e.at, "record_id": e.record_id, "record": e.record, "before": e.before,
                            "logged": word(e.allowed), "revision": e.revision,
                        })
                    })
                    .collect();
                row["examples"] = Value::Array(shown);
            }
            row
        })
        .collect()
}

/// What one model change would do: its plan, the effective access it would
/// give or take from each user, the sampled decisions that would flip, and
/// the records each user would gain or lose sight of. Nothing is written;
/// the revision does not move. Refused (403/400/404/422) exactly when making
/// it would be.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/simulate", tag = "admin",
    params(("ws" = String, Path, description = "workspace key")),
    request_body(content = Object, description = "one model change, tagged with `op` (`assign`, `put_role`, …)"),
    responses((status = 200, description = "plan, access_changes, replayed and flips, record_visibility (docs/WHATIF.md)", body = Simulation),
        (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn simulate(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(change): ApiJson<ModelChange>,
) -> Result<Json<Simulation>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    let name = caller.audit_name();
    // A change marked as a review is simulated with the mark: refused as making it would be.
    let author =
        Author { principal: caller.principal()?, name: &name, reason: "", origin: origin(&headers)? };
    let (plan, new) = store_simulate(&snapshot, &author, &change)?;
    let revision = snapshot.revision();
    let auditor = require_auditor(&caller, &snapshot).is_ok();
    // The sample as the store holds it, parsed once per row and kept (`sample.rs`).
    let sample = state.inner.sample.recent(state.store(), &caller.workspace).await?;
    let replayed = sample.len();
    // The view predicates of every user on each side, then the two slow
    // parts side by side: the effective tables and the replay on a blocking
    // thread, the record counts in the database (its own thread for SQLite).
    let (snapshot, new, now) = (snapshot, Arc::new(new), Utc::now());
    let views = {
        let (old, new) = (Arc::clone(&snapshot), Arc::clone(&new));
        tokio::task::spawn_blocking(move || view_changes(&old, &new, now))
            .await
            .map_err(|e| ApiError::internal(&e))?
    };
    let mut users: Vec<&str> = views.iter().map(|v| v.user.as_str()).collect();
    users.dedup();
    let users_affected = users.len();
    // `views` is ordered by user: count everything before the first user past the cap.
    let first_left = users.get(VISIBILITY_USERS).map(|u| (*u).to_owned());
    let counted: Vec<ViewChange> = if auditor {
        views.into_iter().take_while(|v| first_left.as_deref().is_none_or(|f| v.user.as_str() < f)).collect()
    } else {
        Vec::new()
    };
    let decided = tokio::task::spawn_blocking(move || {
        (access_changes(&snapshot, &new, now), flips(&snapshot, &new, &sample, auditor))
    });
    let (decided, changes) =
        tokio::join!(decided, state.store().count_visibility(&caller.workspace, &counted));
    let (access, flipped) = decided.map_err(|e| ApiError::internal(&e))?;
    let mut changes = changes?;
    changes.retain(|c| c.gained > 0 || c.lost > 0);
    let record_visibility = RecordVisibility {
        users_affected,
        users_counted: if auditor { users_affected.min(VISIBILITY_USERS) } else { 0 },
        cap: VISIBILITY_USERS,
        truncated: auditor && users_affected > VISIBILITY_USERS,
        counted: auditor,
        changes,
    };
    Ok(Json(Simulation {
        revision,
        plan,
        access_changes: access,
        replayed,
        flips: flipped,
        record_visibility,
    }))
}
