//! The decision log: what was decided, for whom, at which revision. The
//! what-if simulation replays recent entries against a proposed model, and
//! usage reports count them. Inserts are batched: the server logs decisions
//! off the hot path. The log is a bounded sample: [`Store::log_decisions`]
//! keeps at most a cap of the newest entries per workspace, and
//! [`Store::prune_decisions`] drops entries older than the retention.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{parse_time, time_text};
use crate::{Dialect, Store, StoreError};

/// One logged decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionLogEntry {
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// The acting user.
    pub user: String,
    /// The permission asked.
    pub permission: String,
    /// The record, when the question was about one.
    pub record_id: Option<String>,
    /// The record asked about (for an update, its new state), as sent.
    pub record: Option<serde_json::Value>,
    /// For an update, the record before the change.
    pub before: Option<serde_json::Value>,
    /// The answer.
    pub allowed: bool,
    /// The revision it was decided at.
    pub revision: u64,
}

const ROWS_PER_INSERT: usize = 100;

impl Store {
    /// Appends decisions to a workspace's log, in batches, then deletes the
    /// oldest beyond the newest `cap` of the workspace.
    pub async fn log_decisions(
        &self,
        workspace: &str,
        entries: &[DecisionLogEntry],
        cap: u32,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // The key is (workspace, id). PostgreSQL numbers `id` from a sequence;
        // SQLite cannot number a column of a composite key, so the store
        // does, safely: SQLite's write transaction excludes other writers.
        let mut next_id = match self.dialect {
            Dialect::Postgres => None,
            Dialect::Sqlite => {
                let max: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(id) FROM decisions WHERE workspace = $1")
                        .bind(workspace)
                        .fetch_one(&mut *tx)
                        .await?;
                Some(max.unwrap_or(0) + 1)
            }
        };
        let columns = if next_id.is_some() { 10 } else { 9 };
        for chunk in entries.chunks(ROWS_PER_INSERT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let params: Vec<String> =
                        (1..=columns).map(|k| format!("${}", i * columns + k)).collect();
                    format!("({})", params.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO decisions (workspace, {}at, user_key, permission, record_id, allowed, revision, \
                 record, before_state) VALUES {}",
                if next_id.is_some() { "id, " } else { "" },
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for e in chunk {
                query = query.bind(workspace);
                if let Some(id) = next_id.as_mut() {
                    query = query.bind(*id);
                    *id += 1;
                }
                query = query
                    .bind(time_text(e.at))
                    .bind(e.user.clone())
                    .bind(e.permission.clone())
                    .bind(e.record_id.clone())
                    .bind(i64::from(e.allowed))
                    .bind(e.revision as i64)
                    .bind(e.record.as_ref().map(|v| v.to_string()))
                    .bind(e.before.as_ref().map(|v| v.to_string()));
            }
            query.execute(&mut *tx).await?;
        }
        // INVARIANT: the sample never holds more than `cap` entries of a workspace.
        sqlx::query(
            "DELETE FROM decisions WHERE workspace = $1 AND id <= COALESCE((SELECT id FROM decisions \
             WHERE workspace = $1 ORDER BY id DESC LIMIT 1 OFFSET $2), -1)",
        )
        .bind(workspace)
        .bind(i64::from(cap))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes every workspace's logged decisions made before `before`; returns how many went.
    pub async fn prune_decisions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM decisions WHERE at < $1")
            .bind(time_text(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The latest `limit` decisions of a workspace, newest first.
    pub async fn recent_decisions(
        &self,
        workspace: &str,
        limit: u32,
    ) -> Result<Vec<DecisionLogEntry>, StoreError> {
        type Row = (String, String, String, Option<String>, i64, i64, Option<String>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT at, user_key, permission, record_id, allowed, revision, record, before_state FROM decisions \
             WHERE workspace = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(workspace)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(at, user, permission, record_id, allowed, revision, record, before)| {
                let json = |text: Option<String>| -> Result<_, StoreError> {
                    text.map(|t| serde_json::from_str(&t).map_err(StoreError::corrupt)).transpose()
                };
                Ok(DecisionLogEntry {
                    record: json(record)?,
                    before: json(before)?,
                    at: parse_time(&at)?,
                    user,
                    permission,
                    record_id,
                    allowed: allowed != 0,
                    revision: revision as u64,
                })
            })
            .collect()
    }
}
