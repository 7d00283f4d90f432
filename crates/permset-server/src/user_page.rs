//! A page of a workspace's users (`GET /users?q=&team=&role=&after=&limit=`):
//! what the console's People page, a team's members and a role's holders read
//! instead of every user (10,000 users are about 1 MiB of JSON).
//!
//! Keyset pagination by user key: `after` is the last key of the page before,
//! `next` the last key of this one while more match. The filters only narrow
//! the users the unpaged list returns under the same `users_view` gate (the
//! route checks it first), so a page can reveal nothing that list would not;
//! they read the caller's own workspace's snapshot and nothing else.

use std::collections::BTreeMap;
use std::ops::Bound;

use permset_core::{Assignment, Model, User};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use crate::error::ApiError;

/// Users per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
const MAX_LIMIT: u32 = 500;
/// The longest filter text: a key or a name, not a document (also in the
/// OpenAPI document: `max_length` on `q`, as `limit`'s bounds are).
const MAX_QUERY: usize = 200;

/// Paging and filters of `GET /users`. Without any of them the answer is every user, as before.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsersQuery {
    /// Users whose key, one of whose teams or one of whose directly assigned roles contains this text
    /// (case-insensitive).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only members of this team.
    pub team: Option<String>,
    /// Only users holding this role by a direct assignment (in force or not).
    pub role: Option<String>,
    /// Users whose key sorts after this one: the `next` of the page before.
    pub after: Option<String>,
    /// At most this many (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl UsersQuery {
    /// Whether the caller asked for a page rather than every user.
    pub(crate) fn is_paged(&self) -> bool {
        self.q.is_some()
            || self.team.is_some()
            || self.role.is_some()
            || self.after.is_some()
            || self.limit.is_some()
    }
}

/// The page `query` asks for: `users` (key → user), `assignments` (their direct assignments, key →
/// list), `next` (the key to pass as `after` for the following page; null on the last), `matched`
/// (users matching the filters) and `total` (users in the workspace).
pub(crate) fn page(model: &Model, query: &UsersQuery) -> Result<Value, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!("`limit` must be between 1 and {MAX_LIMIT}, not {limit}")));
    }
    let needle = query.q.as_deref().map(str::trim).unwrap_or_default().to_lowercase();
    if needle.chars().count() > MAX_QUERY {
        return Err(ApiError::bad_request(format!("`q` is at most {MAX_QUERY} characters")));
    }
    let none = Vec::new();
    let direct = |key: &str| model.assignments.users.get(key).unwrap_or(&none);
    let matches = |key: &str, user: &User| {
        let roles = direct(key);
        query.team.as_ref().is_none_or(|t| user.teams.contains(t))
            && query.role.as_ref().is_none_or(|r| roles.iter().any(|a| &a.role == r))
            && (needle.is_empty()
                || key.to_lowercase().contains(&needle)
                || user.teams.iter().any(|t| t.to_lowercase().contains(&needle))
                || roles.iter().any(|a| a.role.to_lowercase().contains(&needle)))
    };
    // Matches are counted over the whole workspace (a few ms for 10,000 users) so that the page
    // can say "12 of 10,000"; the page itself starts after the `after` key.
    let matched = model.users.iter().filter(|(k, u)| matches(k, u)).count();
    let start = query.after.as_ref().map_or(Bound::Unbounded, |a| Bound::Excluded(a.clone()));
    let mut users: BTreeMap<&str, &User> = BTreeMap::new();
    let mut assignments: BTreeMap<&str, &Vec<Assignment>> = BTreeMap::new();
    let mut more = false;
    for (key, user) in model.users.range((start, Bound::Unbounded)).filter(|(k, u)| matches(k, u)) {
        if users.len() == limit as usize {
            more = true;
            break;
        }
        users.insert(key, user);
        if let Some(list) = model.assignments.users.get(key) {
            assignments.insert(key, list);
        }
    }
    let next = if more { users.keys().next_back().copied() } else { None };
    Ok(json!({
        "users": users,
        "assignments": assignments,
        "next": next,
        "matched": matched,
        "total": model.users.len(),
    }))
}
