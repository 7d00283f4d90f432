//! Usage counts (issue 9): how many decisions each user's grants decided,
//! per hour. The server aggregates decisions in memory and upserts them here
//! in batches (one row per workspace, hour, user, permission, grant and
//! answer); reports read them back over a window. Rows older than the
//! retention are deleted by [`Store::prune_usage`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{parse_time, time_text};
use crate::{Store, StoreError};

/// One counter: the decisions of one hour for one user, permission, grant and answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageCount {
    /// The workspace.
    pub workspace: String,
    /// The start of the hour the decisions were made in.
    pub hour: DateTime<Utc>,
    /// The acting user.
    pub user: String,
    /// The permission asked (canonical name).
    pub permission: String,
    /// For an allow, the role whose grant decided it (empty for an account
    /// owner); empty for a deny.
    pub role: String,
    /// For an allow, the grant's access (`all`, `own`, …); empty for a deny.
    pub access: String,
    /// For an allow, how the role is held: `direct`, `team:<key>` or
    /// `owner` (account owner); empty for a deny.
    pub via: String,
    /// Allowed or denied.
    pub allowed: bool,
    /// How many decisions.
    pub uses: u64,
    /// The last of them.
    pub last_at: DateTime<Utc>,
}

/// Counters per statement (10 parameters each; well under both back ends' limits).
const ROWS_PER_UPSERT: usize = 100;

impl Store {
    /// Adds counters: a row that exists gets the uses added and the later last-use time.
    /// Rows must be distinct by key within one call (the server's aggregate is).
    pub async fn add_usage(&self, counts: &[UsageCount]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for chunk in counts.chunks(ROWS_PER_UPSERT) {
            let sql = format!(
                "INSERT INTO usage_counts (workspace, hour_at, user_key, permission, role, access, via, allowed, \
                 uses, last_at) VALUES {} ON CONFLICT (workspace, hour_at, user_key, permission, role, access, via, \
                 allowed) DO UPDATE SET uses = usage_counts.uses + excluded.uses, last_at = CASE \
                 WHEN excluded.last_at > usage_counts.last_at THEN excluded.last_at ELSE usage_counts.last_at END",
                self.dialect.values_rows(chunk.len(), 10)
            );
            let mut query = sqlx::query(&sql);
            for c in chunk {
                // Borrowed, not cloned: a flush binds hundreds of thousands of names.
                query = query
                    .bind(c.workspace.as_str())
                    .bind(time_text(c.hour))
                    .bind(c.user.as_str())
                    .bind(c.permission.as_str())
                    .bind(c.role.as_str())
                    .bind(c.access.as_str())
                    .bind(c.via.as_str())
                    .bind(i64::from(c.allowed))
                    .bind(c.uses.min(i64::MAX as u64) as i64)
                    .bind(time_text(c.last_at));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A workspace's counters whose hour starts in `[since, until)`, by hour, user, permission.
    pub async fn usage(
        &self,
        workspace: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<UsageCount>, StoreError> {
        type Row = (String, String, String, String, String, String, i64, i64, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT hour_at, user_key, permission, role, access, via, allowed, uses, last_at FROM usage_counts \
             WHERE workspace = $1 AND hour_at >= $2 AND hour_at < $3 \
             ORDER BY hour_at, user_key, permission, role, access, via, allowed",
        )
        .bind(workspace)
        .bind(time_text(since))
        .bind(time_text(until))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(hour, user, permission, role, access, via, allowed, uses, last_at)| {
                Ok(UsageCount {
                    workspace: workspace.to_owned(),
                    hour: parse_time(&hour)?,
                    user,
                    permission,
                    role,
                    access,
                    via,
                    allowed: allowed != 0,
                    uses: uses.max(0) as u64,
                    last_at: parse_time(&last_at)?,
                })
            })
            .collect()
    }

    /// Deletes every workspace's counters of hours before `before`; returns how many went.
    pub async fn prune_usage(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM usage_counts WHERE hour_at < $1")
            .bind(time_text(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
