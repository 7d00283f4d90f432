//! `GET /usage` and `POST /usage/flush`: the usage report of a workspace
//! over a window (docs/WHATIF.md, "Usage"), for account owners,
//! Administrators and service keys, as the audit log is. The report reads
//! the flushed counters; `POST /usage/flush` writes what is still in memory
//! first (a report right after a burst of decisions asks for it).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use permset_core::{FieldLevel, Snapshot};
use permset_store::UsageCount;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::routes::admin::require_auditor;
use crate::state::AppState;

/// The report's window and format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageQuery {
    /// Start of the window (default: the retention before `until`).
    pub since: Option<DateTime<Utc>>,
    /// End of the window (default now).
    pub until: Option<DateTime<Utc>>,
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

impl UsageQuery {
    /// Whether CSV was asked for (`json`, the default, otherwise); any other format is a 400.
    pub(crate) fn csv(&self) -> Result<bool, ApiError> {
        match self.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => {
                Err(ApiError::bad_request(format!("unknown format `{other}`; use `json` or `csv`")))
            }
        }
    }

    /// The window `(since, until)`: `until` defaults to `now`, `since` to the
    /// retention before it; `since` after `until` is a 400.
    pub(crate) fn window(
        &self,
        now: DateTime<Utc>,
        retention_days: u32,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        let until = self.until.unwrap_or(now);
        let since = self.since.unwrap_or(until - Duration::days(i64::from(retention_days)));
        if since > until {
            return Err(ApiError::bad_request("`since` is after `until`"));
        }
        Ok((since, until))
    }
}

/// Allows of one grant over the window.
#[derive(Debug, Serialize)]
struct GrantRow {
    role: String,
    permission: String,
    access: String,
    via: String,
    allows: u64,
    last_used: DateTime<Utc>,
}

/// A grant of the current model nobody used over the window.
#[derive(Debug, Serialize)]
struct UnusedGrant {
    role: String,
    permission: String,
    access: String,
    holders: Vec<String>,
}

/// A permission a user holds now, and when they last exercised it.
#[derive(Debug, Serialize)]
struct HeldRow {
    permission: String,
    access: String,
    allows: u64,
    last_exercised: Option<DateTime<Utc>>,
}

/// Denies of one user and permission.
#[derive(Debug, Serialize)]
struct DenyRow {
    user: String,
    permission: String,
    denies: u64,
    last_denied: DateTime<Utc>,
}

/// (role, permission, access, via) of a credited grant.
type GrantKey = (String, String, String, String);

/// Whether holding this permission makes a user powerful (the list:
/// account owners, `roles_manage`, `*_delete`, `*_export`, and protected-field
/// reads, which [`protected_reads`] finds).
fn powerful(permission: &str) -> bool {
    permission == "roles_manage" || permission.ends_with("_delete") || permission.ends_with("_export")
}

/// The protected fields (`customers.ssn`) `user` may read or edit, with the level.
fn protected_reads(snapshot: &Snapshot, user: &str, now: DateTime<Utc>) -> Vec<(String, FieldLevel)> {
    let mut out = Vec::new();
    for (object, def) in &snapshot.schema().objects {
        for (field, _) in def.fields.iter().filter(|(_, f)| f.protected) {
            let level = snapshot.field_level(user, object, field, now);
            if level >= FieldLevel::Read {
                out.push((format!("{object}.{field}"), level));
            }
        }
    }
    out
}

/// Writes what is still counted in memory, so that a report sees every decision made so far.
#[utoipa::path(post, path = "/v1/workspaces/{ws}/usage/flush", tag = "admin",
    params(("ws" = String, Path, description = "workspace key")),
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn flush(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    require_auditor(&caller, &snapshot)?;
    state.flush_usage().await?;
    Ok(Json(json!({ "flushed": true })))
}

/// Usage over a window: grants used, grants unused, per-user permissions and last use, powerful holders, denies.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/usage", tag = "admin",
    params(("ws" = String, Path, description = "workspace key"), UsageQuery),
    responses((status = 200, description = "grants, unused_grants, users, powerful, denies (docs/WHATIF.md); CSV rows with `format=csv`",
        content((Object = "application/json"), (String = "text/csv"))),
        (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Response, ApiError> {
    let snapshot = state.snapshot(&caller.workspace, caller.at_least).await?;
    require_auditor(&caller, &snapshot)?;
    let csv = query.csv()?;
    let (since, until) = query.window(Utc::now(), state.inner.settings.retention_days)?;
    // Counters are per hour: the hour holding `since` counts.
    let from = since - Duration::hours(1) + Duration::microseconds(1);
    let rows = state.store().usage(&caller.workspace, from, until).await?;
    let report = build(&snapshot, &rows, since, until);
    if csv {
        return Ok(([(header::CONTENT_TYPE, "text/csv")], to_csv(&report)).into_response());
    }
    Ok(Json(report).into_response())
}

fn build(
    snapshot: &Snapshot,
    rows: &[UsageCount],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> serde_json::Value {
    let now = Utc::now();
    let mut grants: BTreeMap<GrantKey, (u64, DateTime<Utc>)> = BTreeMap::new();
    let mut exercised: BTreeMap<(String, String), (u64, DateTime<Utc>)> = BTreeMap::new();
    let mut denies: BTreeMap<(String, String), (u64, DateTime<Utc>)> = BTreeMap::new();
    let add = |slot: &mut (u64, DateTime<Utc>), r: &UsageCount| {
        slot.0 += r.uses;
        slot.1 = slot.1.max(r.last_at);
    };
    for r in rows {
        let zero = (0, r.last_at);
        if r.allowed {
            let key = (r.role.clone(), r.permission.clone(), r.access.clone(), r.via.clone());
            add(grants.entry(key).or_insert(zero), r);
            add(exercised.entry((r.user.clone(), r.permission.clone())).or_insert(zero), r);
        } else {
            add(denies.entry((r.user.clone(), r.permission.clone())).or_insert(zero), r);
        }
    }
    let grant_rows: Vec<GrantRow> = grants
        .iter()
        .map(|((role, permission, access, via), &(allows, last_used))| GrantRow {
            role: role.clone(),
            permission: permission.clone(),
            access: access.clone(),
            via: via.clone(),
            allows,
            last_used,
        })
        .collect();
    // Holders of each role now, to list the unused grants of roles someone holds.
    let users: Vec<&String> = snapshot.model().users.keys().collect();
    let mut holders: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for user in &users {
        for role in snapshot.roles_of(user, now) {
            holders.entry(role).or_default().push((*user).clone());
        }
    }
    let mut unused = Vec::new();
    for (role, holders) in &holders {
        for grant in snapshot.role_grants(role) {
            // A module-level allow on a limited grant is credited to all its limits (`own | team`).
            let used = grants.keys().any(|(r, p, a, _)| {
                r == role && *p == grant.permission && a.split(" | ").any(|one| one == grant.access)
            });
            if !used {
                unused.push(UnusedGrant {
                    role: (*role).to_owned(),
                    permission: grant.permission,
                    access: grant.access,
                    holders: holders.clone(),
                });
            }
        }
    }
    let mut per_user = serde_json::Map::new();
    let mut powerful_holders = Vec::new();
    for user in &users {
        let owner = snapshot.is_account_owner(user);
        if owner {
            powerful_holders.push(json!({ "user": user, "permission": null, "reason": "account owner" }));
        }
        let held: Vec<HeldRow> = snapshot
            .effective_permissions(user.as_str(), now)
            .into_iter()
            .filter(|p| p.access != "none")
            .map(|p| {
                let used = exercised.get(&((*user).clone(), p.permission.clone()));
                if !owner && powerful(&p.permission) {
                    powerful_holders
                        .push(json!({ "user": user, "permission": p.permission, "access": p.access }));
                }
                HeldRow {
                    allows: used.map_or(0, |u| u.0),
                    last_exercised: used.map(|u| u.1),
                    permission: p.permission,
                    access: p.access,
                }
            })
            .collect();
        if !owner {
            for (field, level) in protected_reads(snapshot, user, now) {
                powerful_holders.push(json!({
                    "user": user, "permission": null, "field": field, "access": level.as_str(),
                    "reason": "protected field",
                }));
            }
        }
        per_user.insert((*user).clone(), json!({ "account_owner": owner, "held": held }));
    }
    let deny_rows: Vec<DenyRow> = denies
        .into_iter()
        .map(|((user, permission), (denies, last_denied))| DenyRow { user, permission, denies, last_denied })
        .collect();
    json!({
        "workspace": snapshot.workspace(),
        "revision": snapshot.revision(),
        "since": since,
        "until": until,
        "grants": grant_rows,
        "unused_grants": unused,
        "users": per_user,
        "powerful": powerful_holders,
        "denies": deny_rows,
    })
}

/// One CSV cell: null is empty; a cell with a separator, a quote or a line
/// break is quoted, and one a spreadsheet would run as a formula is
/// quoted and prefixed with `'`.
pub(crate) fn csv_cell(v: &serde_json::Value) -> String {
    let text = match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n']) || text.starts_with(['=', '+', '-', '@']) {
        format!("\"'{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One CSV for auditors: a `section` column, then the fields of each section's rows.
fn to_csv(report: &serde_json::Value) -> String {
    let mut out = String::from("section,role,permission,access,via,user,count,last\n");
    let cell = csv_cell;
    let mut line = |cols: [&serde_json::Value; 8]| {
        out.push_str(&cols.map(cell).join(","));
        out.push('\n');
    };
    let null = serde_json::Value::Null;
    let s = |t: &str| serde_json::Value::String(t.to_owned());
    for g in report["grants"].as_array().into_iter().flatten() {
        line([
            &s("grant"),
            &g["role"],
            &g["permission"],
            &g["access"],
            &g["via"],
            &null,
            &g["allows"],
            &g["last_used"],
        ]);
    }
    for g in report["unused_grants"].as_array().into_iter().flatten() {
        let holders = s(&g["holders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(" "));
        line([&s("unused_grant"), &g["role"], &g["permission"], &g["access"], &null, &holders, &null, &null]);
    }
    for (user, u) in report["users"].as_object().into_iter().flatten() {
        for h in u["held"].as_array().into_iter().flatten() {
            line([
                &s("held"),
                &null,
                &h["permission"],
                &h["access"],
                &null,
                &s(user),
                &h["allows"],
                &h["last_exercised"],
            ]);
        }
    }
    for p in report["powerful"].as_array().into_iter().flatten() {
        // A protected field read goes in the permission column (`customers.ssn`).
        let what = if p["permission"].is_null() { &p["field"] } else { &p["permission"] };
        line([&s("powerful"), &null, what, &p["access"], &p["reason"], &p["user"], &null, &null]);
    }
    for d in report["denies"].as_array().into_iter().flatten() {
        line([
            &s("deny"),
            &null,
            &d["permission"],
            &null,
            &null,
            &d["user"],
            &d["denies"],
            &d["last_denied"],
        ]);
    }
    out
}
