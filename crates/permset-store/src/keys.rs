//! API keys for the server: a service key acts for any user of its
//! workspace, a user key as its user; either may be scoped to a role. Only
//! the sha256 of a secret is stored, so a database leak gives no usable key.
//! Creating and revoking keys are audited, each as a revision of the workspace.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::{self, Append};
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
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

type Row = (String, String, Option<String>, Option<String>, String, String);

fn info((id, workspace, user, role, label, created_at): Row) -> Result<KeyInfo, StoreError> {
    Ok(KeyInfo { id, workspace, user, role, label, created_at: parse_time(&created_at)? })
}

impl Store {
    /// Creates a key; returns it and its secret (`psk_` + 64 hex), shown once.
    /// The user and role must exist in the workspace's model.
    pub async fn create_key(
        &self,
        workspace: &str,
        actor: &str,
        spec: KeySpec,
    ) -> Result<(KeyInfo, String), StoreError> {
        let (model, _) = self.load(workspace).await?;
        if let Some(user) = &spec.user {
            if !model.users.contains_key(user) {
                let hint = permset_core::did_you_mean(user, model.users.keys().map(String::as_str));
                return Err(StoreError::invalid(format!("unknown user `{user}`{hint}")));
            }
        }
        if let Some(role) = &spec.role {
            let known =
                model.roles.contains_key(role) || permset_core::system_role_names().contains(&role.as_str());
            if !known {
                let names = model
                    .roles
                    .keys()
                    .map(String::as_str)
                    .chain(permset_core::system_role_names().iter().copied());
                return Err(StoreError::invalid(format!(
                    "unknown role `{role}`{}",
                    permset_core::did_you_mean(role, names)
                )));
            }
        }
        let secret = format!("psk_{}", random_hex(32));
        let now = Utc::now();
        let key = KeyInfo {
            id: format!("key_{}", random_hex(8)),
            workspace: workspace.to_owned(),
            user: spec.user,
            role: spec.role,
            label: spec.label,
            created_at: parse_time(&time_text(now))?,
        };
        let mut tx = self.begin_write().await?;
        // A key change is a revision, like a model change: one audit entry each.
        audit::bump_revision(&mut tx, workspace, now).await?;
        sqlx::query(
            "INSERT INTO api_keys (id, workspace, secret_hash, user_key, role, label, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(workspace)
        .bind(hash(&secret))
        .bind(key.user.clone())
        .bind(key.role.clone())
        .bind(&key.label)
        .bind(time_text(now))
        .execute(&mut *tx)
        .await?;
        let after = serde_json::to_value(&key).map_err(StoreError::corrupt)?;
        let entry = Append {
            workspace,
            actor,
            action: "create_key",
            reason: "",
            before: &serde_json::Value::Null,
            after: &after,
            at: now,
        };
        audit::append(&mut tx, self.audit_key.as_ref(), entry).await?;
        tx.commit().await?;
        Ok((key, secret))
    }

    /// The key a secret belongs to, unless unknown or revoked.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<KeyInfo>, StoreError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, workspace, user_key, role, label, created_at FROM api_keys \
             WHERE secret_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        row.map(info).transpose()
    }

    /// The workspace's keys that are not revoked, by id.
    pub async fn list_keys(&self, workspace: &str) -> Result<Vec<KeyInfo>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, workspace, user_key, role, label, created_at FROM api_keys \
             WHERE workspace = $1 AND revoked_at IS NULL ORDER BY id",
        )
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(info).collect()
    }

    /// Revokes a key; `NotFound` if the workspace has no such live key.
    pub async fn revoke_key(&self, workspace: &str, actor: &str, id: &str) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE workspace = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(time_text(now))
        .bind(workspace)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("key `{id}`")));
        }
        audit::bump_revision(&mut tx, workspace, now).await?;
        let before = serde_json::json!({ "id": id });
        let entry = Append {
            workspace,
            actor,
            action: "revoke_key",
            reason: "",
            before: &before,
            after: &serde_json::Value::Null,
            at: now,
        };
        audit::append(&mut tx, self.audit_key.as_ref(), entry).await?;
        tx.commit().await?;
        Ok(())
    }
}
