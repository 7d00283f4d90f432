//! API keys for the server: a service key acts for any user of its
//! workspace, a user key as its user; either may be scoped to a role and may
//! expire. Only the sha256 of a secret is stored, so a database leak gives
//! no usable key.
//!
//! Keys are access too: creating and revoking them are model changes
//! (`ModelChange::CreateKey`/`RevokeKey`, authorised, audited, revision
//! bumped, see `change.rs`). A key is bound to the identity of its user and
//! role, not to their names: when a change removes either, the keys are
//! revoked in the same transaction, so re-creating the name revives nothing.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use permset_core::{Model, ModelChange};
use sqlx::{Any, Transaction};

use crate::db::{parse_time, time_text};
use crate::{Store, StoreError};

/// What a new key may do.
#[derive(Debug, Clone, Default)]
pub struct KeySpec {
    /// The user the key acts as; `None` for a service key.
    pub user: Option<String>,
    /// The role the key is limited to, if any.
    pub role: Option<String>,
    /// A label for people.
    pub label: String,
    /// When the key stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The key's id (`key_…`).
    pub id: String,
    /// Its workspace.
    pub workspace: String,
    /// The user it acts as; `None` for a service key.
    pub user: Option<String>,
    /// The role it is limited to.
    pub role: Option<String>,
    /// Its label.
    pub label: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The sha256 of a key's secret: what the store keeps, and what a server
/// may cache a key under without keeping the secret itself.
pub fn secret_digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn hash(secret: &str) -> String {
    hex::encode(secret_digest(secret))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

type Row = (String, String, Option<String>, Option<String>, String, String, Option<String>);

// The workspace first, as in every statement (tests/workspace_keyed.rs).
const COLUMNS: &str = "workspace, id, user_key, role, label, created_at, expires_at";

fn info((workspace, id, user, role, label, created_at, expires_at): Row) -> Result<KeyInfo, StoreError> {
    let expires_at = expires_at.as_deref().map(parse_time).transpose()?;
    Ok(KeyInfo { id, workspace, user, role, label, created_at: parse_time(&created_at)?, expires_at })
}

impl Store {
    /// Creates a key as the operator; returns it and its secret (`psk_` +
    /// 64 hex), shown once. The user and role must exist in the workspace.
    pub async fn create_key(
        &self,
        workspace: &str,
        actor: &str,
        spec: KeySpec,
    ) -> Result<(KeyInfo, String), StoreError> {
        let change = ModelChange::CreateKey {
            user: spec.user,
            role: spec.role,
            expires_at: spec.expires_at,
            label: spec.label,
        };
        let committed = self.change_as_operator(workspace, actor, "", &change).await?;
        committed.key.ok_or_else(|| StoreError::corrupt("a committed key change returned no key"))
    }

    /// Revokes a key as the operator; `NotFound` if the workspace has no such live key.
    pub async fn revoke_key(&self, workspace: &str, actor: &str, id: &str) -> Result<(), StoreError> {
        let change = ModelChange::RevokeKey { id: id.to_owned() };
        self.change_as_operator(workspace, actor, "", &change).await.map(|_| ())
    }

    /// Inside a key change: writes a new key.
    pub(crate) async fn insert_key(
        &self,
        tx: &mut Transaction<'static, Any>,
        workspace: &str,
        spec: KeySpec,
        now: DateTime<Utc>,
    ) -> Result<(KeyInfo, String), StoreError> {
        let secret = format!("psk_{}", random_hex(32));
        let key = KeyInfo {
            id: format!("key_{}", random_hex(8)),
            workspace: workspace.to_owned(),
            user: spec.user,
            role: spec.role,
            label: spec.label,
            created_at: parse_time(&time_text(now))?,
            expires_at: spec.expires_at.map(|t| parse_time(&time_text(t))).transpose()?,
        };
        sqlx::query(&format!(
            "INSERT INTO api_keys ({COLUMNS}, secret_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(workspace)
        .bind(&key.id)
        .bind(key.user.clone())
        .bind(key.role.clone())
        .bind(&key.label)
        .bind(time_text(now))
        .bind(key.expires_at.map(time_text))
        .bind(hash(&secret))
        .execute(&mut **tx)
        .await?;
        Ok((key, secret))
    }

    /// Inside a key change: revokes a live key of the workspace.
    pub(crate) async fn revoke_key_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        workspace: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE workspace = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(time_text(now))
        .bind(workspace)
        .bind(id)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("key `{id}`")));
        }
        Ok(())
    }

    /// Inside a model change: revokes the keys of users and custom roles
    /// that `old` had and `new` has not (system roles are never removed).
    pub(crate) async fn revoke_orphan_keys(
        &self,
        tx: &mut Transaction<'static, Any>,
        old: &Model,
        new: &Model,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let users = old.users.keys().filter(|k| !new.users.contains_key(*k)).map(|k| ("user_key", k));
        let roles = old.roles.keys().filter(|k| !new.roles.contains_key(*k)).map(|k| ("role", k));
        for (column, name) in users.chain(roles) {
            sqlx::query(&format!(
                "UPDATE api_keys SET revoked_at = $1 WHERE workspace = $2 AND {column} = $3 AND revoked_at IS NULL"
            ))
            .bind(time_text(now))
            .bind(&old.workspace)
            .bind(name)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// The key a secret belongs to, unless unknown, revoked or expired.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<KeyInfo>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        let key = row.map(info).transpose()?;
        Ok(key.filter(|k| k.expires_at.is_none_or(|at| Utc::now() < at)))
    }

    /// The workspace's keys that are not revoked, by id.
    pub async fn list_keys(&self, workspace: &str) -> Result<Vec<KeyInfo>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE workspace = $1 AND revoked_at IS NULL ORDER BY id"
        ))
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(info).collect()
    }
}
