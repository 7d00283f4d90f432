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

/// Where one logged decision sits in the sample: its id within the
/// workspace and its time as stored. Ids are not reused while a row lives,
/// and a SQLite workspace whose rows all went may number from 1 again, so a
/// cache of parsed entries (the server's) matches rows by both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SampleKey {
    /// The row's id within the workspace (newer rows have higher ids).
    pub id: i64,
    /// The decision's time, as stored.
    pub at: String,
}

const ROWS_PER_INSERT: usize = 100;

impl Store {
    /// Appends decisions to a workspace's log, in batches, then deletes the
    /// oldest beyond the newest `cap` of the workspace. Returns where each
    /// entry was written, in the order of `entries`.
    pub async fn log_decisions(
        &self,
        workspace: &str,
        entries: &[DecisionLogEntry],
        cap: u32,
    ) -> Result<Vec<SampleKey>, StoreError> {
        let mut tx = self.begin_write().await?;
        // The key is (workspace, id). The store numbers the rows itself so
        // that it can say which id each entry got: PostgreSQL takes the ids
        // from the column's sequence (ascending, handed out in order);
        // SQLite cannot number a column of a composite key, so the store
        // counts on from the workspace's highest id, safely: SQLite's write
        // transaction excludes other writers.
        let ids: Vec<i64> = match self.dialect {
            Dialect::Postgres => {
                let mut ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT nextval(pg_get_serial_sequence('decisions', 'id')) FROM generate_series(1, $1)",
                )
                .bind(entries.len() as i64)
                .fetch_all(&mut *tx)
                .await?;
                ids.sort_unstable();
                ids
            }
            Dialect::Sqlite => {
                let max: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(id) FROM decisions WHERE workspace = $1")
                        .bind(workspace)
                        .fetch_one(&mut *tx)
                        .await?;
                let first = max.unwrap_or(0) + 1;
                (first..first + entries.len() as i64).collect()
            }
        };
        let keys: Vec<SampleKey> =
            entries.iter().zip(&ids).map(|(e, &id)| SampleKey { id, at: time_text(e.at) }).collect();
        let columns = 10;
        for (chunk, keys) in entries.chunks(ROWS_PER_INSERT).zip(keys.chunks(ROWS_PER_INSERT)) {
            let sql = format!(
                "INSERT INTO decisions (workspace, id, at, user_key, permission, record_id, allowed, revision, \
                 record, before_state) VALUES {}",
                self.dialect.values_rows(chunk.len(), columns)
            );
            let mut query = sqlx::query(&sql);
            for (e, key) in chunk.iter().zip(keys) {
                query = query
                    .bind(workspace)
                    .bind(key.id)
                    .bind(key.at.clone())
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
        Ok(keys)
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
        let keys = self.sample_keys(workspace, limit).await?;
        let (Some(newest), Some(oldest)) = (keys.first(), keys.last()) else { return Ok(Vec::new()) };
        let mut rows = self.decisions_between(workspace, oldest.id, newest.id, |_| true).await?;
        rows.reverse();
        Ok(rows.into_iter().map(|(_, entry)| entry).collect())
    }

    /// Where the latest `limit` decisions of a workspace sit, newest first:
    /// a cheap read (no record is read or parsed) for a cache of the sample
    /// to find what it lacks.
    pub async fn sample_keys(&self, workspace: &str, limit: u32) -> Result<Vec<SampleKey>, StoreError> {
        // One row holding every key as text: the drivers hand rows over one
        // at a time (SQLite's through a channel), which for 100,000 rows
        // costs far more than the query.
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "SELECT group_concat(k, ',') FROM (SELECT id || ' ' || at AS k FROM decisions \
                 WHERE workspace = $1 ORDER BY id DESC LIMIT $2)"
            }
            Dialect::Postgres => {
                "SELECT string_agg(k, ',' ORDER BY id DESC) FROM (SELECT id, id || ' ' || at AS k \
                 FROM decisions WHERE workspace = $1 ORDER BY id DESC LIMIT $2) AS newest"
            }
        };
        let joined: Option<String> =
            sqlx::query_scalar(sql).bind(workspace).bind(i64::from(limit)).fetch_one(&self.pool).await?;
        let Some(joined) = joined.filter(|j| !j.is_empty()) else { return Ok(Vec::new()) };
        let mut keys: Vec<SampleKey> = joined
            .split(',')
            .map(|k| {
                let (id, at) =
                    k.split_once(' ').ok_or_else(|| StoreError::corrupt(format!("sample key `{k}`")))?;
                let id = id.parse().map_err(|_| StoreError::corrupt(format!("sample key `{k}`")))?;
                Ok(SampleKey { id, at: at.to_owned() })
            })
            .collect::<Result<_, StoreError>>()?;
        // SQLite's group_concat keeps the subquery's order in practice, not by contract.
        keys.sort_unstable_by_key(|k| std::cmp::Reverse(k.id));
        Ok(keys)
    }

    /// A fingerprint of a workspace's sample up to id `last`: how many rows,
    /// the sum of their ids. One read of the key's index, no row: a cache
    /// of the sample that holds the same count and sum up to `last` lacks
    /// nothing there and holds nothing the store dropped (rows are only
    /// added, and only the oldest dropped, so a deletion and a late row
    /// cannot cancel out).
    pub async fn sample_fingerprint(&self, workspace: &str, last: i64) -> Result<(i64, i64), StoreError> {
        let (count, sum): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), CAST(SUM(id) AS BIGINT) FROM decisions WHERE workspace = $1 AND id <= $2",
        )
        .bind(workspace)
        .bind(last)
        .fetch_one(&self.pool)
        .await?;
        Ok((count, sum.unwrap_or(0)))
    }

    /// The decisions of a workspace with ids from `first` to `last`, oldest
    /// first, each with its key; only rows `wanted` (by key) are parsed and
    /// returned.
    pub async fn decisions_between(
        &self,
        workspace: &str,
        first: i64,
        last: i64,
        wanted: impl Fn(&SampleKey) -> bool,
    ) -> Result<Vec<(SampleKey, DecisionLogEntry)>, StoreError> {
        type Row = (i64, String, String, String, Option<String>, i64, i64, Option<String>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, at, user_key, permission, record_id, allowed, revision, record, before_state \
             FROM decisions WHERE workspace = $1 AND id >= $2 AND id <= $3 ORDER BY id",
        )
        .bind(workspace)
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, at, user, permission, record_id, allowed, revision, record, before)| {
                (SampleKey { id, at }, user, permission, record_id, allowed, revision, record, before)
            })
            .filter(|row| wanted(&row.0))
            .map(|(key, user, permission, record_id, allowed, revision, record, before)| {
                let json = |text: Option<String>| -> Result<_, StoreError> {
                    text.map(|t| serde_json::from_str(&t).map_err(StoreError::corrupt)).transpose()
                };
                let entry = DecisionLogEntry {
                    record: json(record)?,
                    before: json(before)?,
                    at: parse_time(&key.at)?,
                    user,
                    permission,
                    record_id,
                    allowed: allowed != 0,
                    revision: revision as u64,
                };
                Ok((key, entry))
            })
            .collect()
    }
}
