//! Authentication by API key and the acting user of a request.
//!
//! A key is sent as `authorization: Bearer psk_…` (or `x-permset-key`). A
//! user key acts as its user. A service key acts for any user of its
//! workspace named by `x-permset-user`; without that header it acts as the
//! workspace's service principal, which may administer the workspace
//! (apply, export, keys, audit) but never reads records. A key limited to a
//! role acts with the intersection of that role and the user (DESIGN.md §4),
//! and never as the service principal: without a user it may do nothing.
//! A user header that is present but empty or unreadable is a 400, never
//! silently "no user".
//! A missing or invalid key is 401; another workspace's path is 404, so a key
//! never learns that another workspace exists.
//!
//! A key the database accepted is remembered (`key_cache.rs`) while the
//! snapshot it was checked against stays in force and it has not expired,
//! so most requests authenticate without a query.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use chrono::Utc;
use permset_core::{Actor, Principal, Request, Snapshot};
use permset_store::{secret_digest, KeyInfo};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a workspace route.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The workspace of the route (and of the key).
    pub workspace: String,
    /// The key used.
    pub key: Arc<KeyInfo>,
    /// The acting user, if any.
    pub user: Option<String>,
    /// `at_least_revision` asked by the request.
    pub at_least: Option<u64>,
}

#[derive(Deserialize)]
struct RevisionQuery {
    at_least_revision: Option<u64>,
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let secret = header(parts, "authorization")
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .or_else(|| header(parts, "x-permset-key"))
            .ok_or_else(|| {
                ApiError::unauthorized("missing API key: send `authorization: Bearer <key>` (create one with `permset keys create`)")
            })?
            .trim()
            .to_owned();
        // Read before authenticating (the cache must honour `at_least_revision`),
        // but a bad key is still reported before bad parameters.
        let at_least = at_least_revision(parts);
        let path = Path::<HashMap<String, String>>::from_request_parts(parts, state).await;
        let workspace = path.as_ref().ok().and_then(|p| p.0.get("ws").cloned()).unwrap_or_default();
        let key = authenticate(state, &secret, &workspace, at_least.as_ref().ok().copied().flatten()).await?;
        path.map_err(|e| ApiError::bad_request(e.body_text()))?;
        if workspace != key.workspace {
            return Err(ApiError::not_found(format!("workspace `{workspace}` not found")));
        }
        let asked = match parts.headers.get("x-permset-user") {
            None => None,
            Some(value) => {
                Some(value.to_str().ok().map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| {
                    ApiError::bad_request("`x-permset-user` must name a user (non-empty text)")
                })?)
            }
        };
        let user = match (&key.user, asked) {
            (Some(own), Some(asked)) if own != asked => {
                return Err(ApiError::forbidden(format!(
                    "this key acts only as `{own}`; `x-permset-user: {asked}` needs a service key"
                )))
            }
            (Some(own), _) => Some(own.clone()),
            (None, asked) => asked.map(str::to_owned),
        };
        Ok(Caller { workspace, key, user, at_least: at_least? })
    }
}

/// `at_least_revision` of the query, else `x-permset-at-least-revision`.
fn at_least_revision(parts: &Parts) -> Result<Option<u64>, ApiError> {
    let header_revision = header(parts, "x-permset-at-least-revision")
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request("`x-permset-at-least-revision` must be a number"))
        })
        .transpose()?;
    let query_revision = Query::<RevisionQuery>::try_from_uri(&parts.uri)
        .map_err(|_| ApiError::bad_request("`at_least_revision` must be a number"))?
        .0
        .at_least_revision;
    Ok(query_revision.or(header_revision))
}

/// The key of a secret: the cached one while it is certainly still live,
/// else the database's answer (remembered when it accepts the key).
async fn authenticate(
    state: &AppState,
    secret: &str,
    workspace: &str,
    at_least: Option<u64>,
) -> Result<Arc<KeyInfo>, ApiError> {
    let digest = secret_digest(secret);
    let registry = &state.inner.registry;
    let cache = &state.inner.keys;
    if let Some(key) = cache.get(&digest, |ws| registry.current(ws), at_least, Utc::now()) {
        return Ok(key);
    }
    // INVARIANT: the snapshot is read before the database: a change the
    // answer does not reflect installs a newer snapshot, voiding the entry.
    let before = registry.current(workspace);
    let key = state
        .store()
        .authenticate(secret)
        .await?
        .map(Arc::new)
        .ok_or_else(|| ApiError::unauthorized("invalid or revoked API key"))?;
    if let Some(before) = before {
        cache.insert(digest, Arc::clone(&key), &before);
    }
    Ok(key)
}

impl Caller {
    /// The acting user with the key's scope; 400 when a service key names no user.
    pub(crate) fn actor(&self) -> Result<Actor<'_>, ApiError> {
        let user = self.user.as_deref().ok_or_else(|| match &self.key.role {
            Some(role) => ApiError::bad_request(format!(
                "this key is limited to role `{role}` and acts only for a user: send `x-permset-user: <user>`"
            )),
            None => ApiError::bad_request(
                "this route acts as a user: send `x-permset-user: <user>` with a service key",
            ),
        })?;
        Ok(Actor { user, scope: self.key.role.as_deref() })
    }

    /// Who a model change is decided for: the service principal, or the
    /// acting user with its key's scope (a scoped key needs a user).
    pub(crate) fn principal(&self) -> Result<Principal<'_>, ApiError> {
        if self.is_service() {
            Ok(Principal::Service)
        } else {
            Ok(Principal::User(self.actor()?))
        }
    }

    /// The acting user, checked to exist in the snapshot (404 otherwise).
    pub(crate) fn known_actor<'a>(&'a self, snapshot: &Snapshot) -> Result<Actor<'a>, ApiError> {
        let actor = self.actor()?;
        if snapshot.user_kind(actor.user).is_none() {
            return Err(ApiError::not_found(format!("user `{}` not found", actor.user)));
        }
        Ok(actor)
    }

    /// Who the audit log names: the user, or the key for the service principal.
    pub(crate) fn audit_name(&self) -> String {
        match &self.user {
            Some(user) => user.clone(),
            None => format!("service key `{}`", self.key.id),
        }
    }

    /// The service principal: an unscoped service key with no acting user.
    pub(crate) fn is_service(&self) -> bool {
        self.key.user.is_none() && self.key.role.is_none() && self.user.is_none()
    }

    /// Allows the service principal, or an acting user holding `permission` (module level).
    pub(crate) fn require(&self, snapshot: &Snapshot, permission: &str) -> Result<(), ApiError> {
        if self.is_service() {
            return Ok(());
        }
        let actor = self.known_actor(snapshot)?;
        let request = Request::new(actor.user, permission, Utc::now());
        if snapshot.check_scoped(&request, actor.scope).is_allowed() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("`{}` lacks `{permission}`", actor.user)))
        }
    }

    /// Allows the service principal or an account owner (unscoped key).
    pub(crate) fn require_owner(&self, snapshot: &Snapshot, what: &str) -> Result<(), ApiError> {
        if self.is_service() {
            return Ok(());
        }
        let actor = self.known_actor(snapshot)?;
        if snapshot.is_account_owner(actor.user) && actor.scope.is_none() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("{what} is for account owners and service keys")))
        }
    }
}
