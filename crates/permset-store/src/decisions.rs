//! The decision log: what was decided, for whom, at which revision. The
//! what-if simulation replays recent entries against a proposed model, and
//! usage reports count them. Inserts are batched: the server logs decisions
//! off the hot path.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{parse_time, time_text};
use crate::{Store, StoreError};

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
    /// The answer.
    pub allowed: bool,
    /// The revision it was decided at.
    pub revision: u64,
}

const ROWS_PER_INSERT: usize = 100;

impl Store {
    /// Appends decisions to a workspace's log, in batches.
    pub async fn log_decisions(
        &self,
        workspace: &str,
        entries: &[DecisionLogEntry],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for chunk in entries.chunks(ROWS_PER_INSERT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 7;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO decisions (workspace, at, user_key, permission, record_id, allowed, revision) VALUES {}",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for e in chunk {
                query = query
                    .bind(workspace)
                    .bind(time_text(e.at))
                    .bind(e.user.clone())
                    .bind(e.permission.clone())
                    .bind(e.record_id.clone())
                    .bind(i64::from(e.allowed))
                    .bind(e.revision as i64);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The latest `limit` decisions of a workspace, newest first.
    pub async fn recent_decisions(
        &self,
        workspace: &str,
        limit: u32,
    ) -> Result<Vec<DecisionLogEntry>, StoreError> {
        type Row = (String, String, String, Option<String>, i64, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT at, user_key, permission, record_id, allowed, revision FROM decisions \
             WHERE workspace = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(workspace)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(at, user, permission, record_id, allowed, revision)| {
                Ok(DecisionLogEntry {
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
