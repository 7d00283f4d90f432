//! The audit chain: every change to a workspace's model (and every key
//! created or revoked) appends one entry whose hash covers all its columns
//! and the previous entry's hash, so editing, removing or reordering stored
//! entries is detectable by [`Store::verify`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Any, Transaction};

use crate::db::{parse_time, time_text};
use crate::{Store, StoreError};

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Position in the workspace's chain, from 1.
    pub seq: u64,
    /// Who made the change.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What kind of change (`create_workspace`, `change_model`, `apply`, `create_key`, …).
    pub action: String,
    /// Why, as the actor wrote it.
    pub reason: String,
    /// The state before (JSON; `null` when there was none).
    pub before: Value,
    /// The state after.
    pub after: Value,
    /// The previous entry's hash (empty for the first).
    pub prev_hash: String,
    /// sha256 over the other columns and `prev_hash`, hex.
    pub hash: String,
}

/// The result of walking a workspace's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// How many entries were read.
    pub entries: u64,
    /// The first entry whose hash, link or position is wrong, if any.
    pub first_broken: Option<u64>,
}

/// What one audit row hashes: a JSON array of every column but the hash, as stored.
#[allow(clippy::too_many_arguments)]
fn entry_hash(
    workspace: &str,
    seq: i64,
    actor: &str,
    at: &str,
    action: &str,
    reason: &str,
    before: &str,
    after: &str,
    prev_hash: &str,
) -> String {
    let canonical = serde_json::json!([workspace, seq, actor, at, action, reason, before, after, prev_hash]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// What an audit append records.
pub(crate) struct Append<'a> {
    pub(crate) workspace: &'a str,
    pub(crate) actor: &'a str,
    pub(crate) action: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) before: &'a Value,
    pub(crate) after: &'a Value,
    pub(crate) at: DateTime<Utc>,
}

type Row = (i64, String, String, String, String, String, String, String, String);

/// Appends an entry inside the caller's transaction; returns its seq.
pub(crate) async fn append(tx: &mut Transaction<'static, Any>, entry: Append<'_>) -> Result<u64, StoreError> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit WHERE workspace = $1 ORDER BY seq DESC LIMIT 1")
            .bind(entry.workspace)
            .fetch_optional(&mut **tx)
            .await?;
    let (seq, prev_hash) = last.map_or((1, String::new()), |(seq, hash)| (seq + 1, hash));
    let at = time_text(entry.at);
    let (before, after) = (entry.before.to_string(), entry.after.to_string());
    let hash = entry_hash(
        entry.workspace,
        seq,
        entry.actor,
        &at,
        entry.action,
        entry.reason,
        &before,
        &after,
        &prev_hash,
    );
    sqlx::query(
        "INSERT INTO audit (workspace, seq, actor, at, action, reason, before_state, after_state, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(entry.workspace)
    .bind(seq)
    .bind(entry.actor)
    .bind(at)
    .bind(entry.action)
    .bind(entry.reason)
    .bind(before)
    .bind(after)
    .bind(prev_hash)
    .bind(hash)
    .execute(&mut **tx)
    .await?;
    Ok(seq as u64)
}

const SELECT: &str =
    "SELECT seq, actor, at, action, reason, before_state, after_state, prev_hash, hash FROM audit";

impl Store {
    /// Audit entries of a workspace with `seq > after`, oldest first, at most `limit`.
    pub async fn audit(
        &self,
        workspace: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<Row> =
            sqlx::query_as(&format!("{SELECT} WHERE workspace = $1 AND seq > $2 ORDER BY seq LIMIT $3"))
                .bind(workspace)
                .bind(after as i64)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(seq, actor, at, action, reason, before, after, prev_hash, hash)| {
                Ok(AuditEntry {
                    seq: seq as u64,
                    actor,
                    at: parse_time(&at)?,
                    action,
                    reason,
                    before: serde_json::from_str(&before).map_err(StoreError::corrupt)?,
                    after: serde_json::from_str(&after).map_err(StoreError::corrupt)?,
                    prev_hash,
                    hash,
                })
            })
            .collect()
    }

    /// Walks a workspace's audit chain and names the first entry whose
    /// position, link to the previous entry or own hash is wrong.
    pub async fn verify(&self, workspace: &str) -> Result<VerifyReport, StoreError> {
        let mut entries = 0u64;
        let mut prev = String::new();
        let mut after = 0i64;
        loop {
            let rows: Vec<Row> =
                sqlx::query_as(&format!("{SELECT} WHERE workspace = $1 AND seq > $2 ORDER BY seq LIMIT 500"))
                    .bind(workspace)
                    .bind(after)
                    .fetch_all(&self.pool)
                    .await?;
            if rows.is_empty() {
                return Ok(VerifyReport { entries, first_broken: None });
            }
            for (seq, actor, at, action, reason, before, after_state, prev_hash, hash) in rows {
                entries += 1;
                let expected_seq = after + 1;
                after = seq;
                let recomputed = entry_hash(
                    workspace,
                    seq,
                    &actor,
                    &at,
                    &action,
                    &reason,
                    &before,
                    &after_state,
                    &prev_hash,
                );
                if seq != expected_seq || prev_hash != prev || recomputed != hash {
                    // A gap names the first missing position.
                    let broken = if seq != expected_seq { expected_seq } else { seq };
                    return Ok(VerifyReport { entries, first_broken: Some(broken as u64) });
                }
                prev = hash;
            }
        }
    }
}
