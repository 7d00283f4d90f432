//! `GET /review`: an access review of a workspace (docs/WHATIF.md,
//! "Access reviews") — every user with their roles, how each is held
//! (directly or through a team, until when), and when each of the role's
//! grants was last used by that user over the window; flags for roles
//! unused over the window and assignments past their end; and the revocations
//! that follow, as model changes ready for `POST /simulate` and then the
//! assignment routes. For account owners, Administrators and service keys,
//! as usage is.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use permset_core::Assignment;
use permset_store::UsageCount;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::routes::admin::require_auditor;
use crate::routes::usage::{csv_cell, UsageQuery};
use crate::state::AppState;

/// Every user's roles, how held, last use per grant, flags and proposed revocations.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/review", tag = "admin",
    params(("ws" = String, Path, description = "workspace key"), UsageQuery),
    responses((status = 200, description = "users, proposed_changes (docs/WHATIF.md); with `format=csv` one row per user and role", body = Object),
        (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn review(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Response, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    require_auditor(&caller, &snapshot)?;
    let csv = query.csv()?;
    let now = Utc::now();
    let (since, until) = query.window(now, state.inner.settings.retention_days)?;
    let rows = state
        .store()
        .usage(&caller.workspace, since - Duration::hours(1) + Duration::microseconds(1), until)
        .await?;
    // (user, role, via) → permission → (access texts, last use)
    let mut last: BTreeMap<(&str, &str, &str), Vec<&UsageCount>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.allowed) {
        last.entry((&r.user, &r.role, &r.via)).or_default().push(r);
    }
    let model = snapshot.model();
    let mut users = serde_json::Map::new();
    let mut proposed: Vec<Value> = Vec::new();
    for (key, user) in &model.users {
        let mut held: Vec<(String, &Assignment)> = Vec::new();
        for a in model.assignments.users.get(key).into_iter().flatten() {
            held.push(("direct".to_owned(), a));
        }
        for team in &user.teams {
            for a in model.assignments.teams.get(team).into_iter().flatten() {
                held.push((format!("team:{team}"), a));
            }
        }
        let in_force = snapshot.roles_of(key, now);
        let mut roles = Vec::new();
        for (via, a) in held {
            let uses = last.get(&(key.as_str(), a.role.as_str(), via.as_str()));
            let grants: Vec<Value> = snapshot
                .role_grants(&a.role)
                .into_iter()
                .map(|g| {
                    let used = uses
                        .into_iter()
                        .flatten()
                        .filter(|u| u.permission == g.permission && u.access.split(" | ").any(|x| x == g.access))
                        .map(|u| u.last_at)
                        .max();
                    json!({ "permission": g.permission, "access": g.access, "last_used": used, "unused": used.is_none() })
                })
                .collect();
            let last_used: Option<DateTime<Utc>> =
                grants.iter().filter_map(|g| g["last_used"].as_str()?.parse().ok()).max();
            let expired = a.expires_at.is_some_and(|at| at <= now);
            let unused = last_used.is_none();
            if expired || (unused && via == "direct") {
                let change = json!({ "op": "unassign", "holder": { "user": key }, "role": a.role });
                if via == "direct" && !proposed.contains(&change) {
                    proposed.push(change);
                }
            }
            if expired {
                if let Some(team) = via.strip_prefix("team:") {
                    let change = json!({ "op": "unassign", "holder": { "team": team }, "role": a.role });
                    if !proposed.contains(&change) {
                        proposed.push(change);
                    }
                }
            }
            roles.push(json!({
                "role": a.role, "held": via, "expires_at": a.expires_at,
                "in_force": in_force.contains(&a.role.as_str()),
                "last_used": last_used,
                "flags": { "unused": unused, "expired": expired },
                "grants": grants,
            }));
        }
        users.insert(key.clone(), json!({ "account_owner": user.account_owner, "roles": roles }));
    }
    let report = json!({
        "workspace": snapshot.workspace(), "revision": snapshot.revision(), "since": since, "until": until,
        "users": users, "proposed_changes": proposed,
    });
    if csv {
        return Ok(([(header::CONTENT_TYPE, "text/csv")], to_csv(&report)).into_response());
    }
    Ok(Json(report).into_response())
}

/// One row per (user, role held): how, until when, in force, last used, flags.
fn to_csv(report: &Value) -> String {
    let mut out = String::from("user,role,held,expires_at,in_force,last_used,unused,expired\n");
    for (user, u) in report["users"].as_object().into_iter().flatten() {
        for r in u["roles"].as_array().into_iter().flatten() {
            let cols = [
                &Value::String(user.clone()),
                &r["role"],
                &r["held"],
                &r["expires_at"],
                &r["in_force"],
                &r["last_used"],
                &r["flags"]["unused"],
                &r["flags"]["expired"],
            ];
            out.push_str(&cols.map(csv_cell).join(","));
            out.push('\n');
        }
    }
    out
}
