//! Optional read replica: record reads, lists, search and export may be
//! answered by a PostgreSQL hot standby (`serve --read-replica`), when it is
//! fresh enough for the request; everything else stays on the primary.
//!
//! Fresh enough means both: the standby's row of the workspace is at the
//! revision the request is decided at (the snapshot's, which honours
//! `at_least_revision`), and the standby has replayed the primary's WAL up
//! to where it was when the read began (`pg_last_wal_replay_lsn() >=` the
//! primary's `pg_current_wal_lsn()`), so every write acknowledged before
//! the request, record writes included (they do not move the revision), is
//! there. The revision alone would not do: a record written at the same
//! revision could be missing. The price is two small queries per read, one
//! on each side; the list or export itself, the heavy part, runs on the
//! standby.
//!
//! A standby that fails (down, not a standby, unreachable) is skipped for
//! [`BACKOFF`] and the primary answers: the replica is an optimisation,
//! never a point of failure.

use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

use crate::{Dialect, Store, StoreError};

/// How long a failed standby is left alone before it is tried again.
const BACKOFF: Duration = Duration::from_secs(5);

/// How long a read waits for a standby connection before it goes to the primary.
const ACQUIRE: Duration = Duration::from_millis(500);

/// A hot standby's pool and when it last failed.
#[derive(Debug)]
pub(crate) struct Replica {
    pool: AnyPool,
    failed_at: Mutex<Option<Instant>>,
}

impl Replica {
    fn resting(&self) -> bool {
        let failed = self.failed_at.lock().unwrap_or_else(PoisonError::into_inner);
        failed.is_some_and(|at| at.elapsed() < BACKOFF)
    }

    fn failed(&self, error: &sqlx::Error) {
        tracing::warn!("read replica unavailable, reading from the primary for {BACKOFF:?}: {error}");
        *self.failed_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }
}

impl Store {
    /// This store with a hot standby for reads (PostgreSQL only). The
    /// standby is connected lazily: one that is down at start is skipped
    /// until it answers. Same schema (`search_path`) as the primary.
    pub fn with_read_replica(mut self, url: &str) -> Result<Store, StoreError> {
        if self.dialect != Dialect::Postgres
            || !(url.starts_with("postgres:") || url.starts_with("postgresql:"))
        {
            return Err(StoreError::invalid(
                "a read replica needs PostgreSQL for both the database and the replica",
            ));
        }
        let options = AnyConnectOptions::from_str(url)?;
        let schema = self.schema.clone();
        let pool = AnyPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(ACQUIRE)
            .after_connect(move |conn, _meta| {
                let schema = schema.clone();
                Box::pin(async move {
                    if let Some(schema) = schema {
                        sqlx::Executor::execute(conn, format!("SET search_path TO \"{schema}\"").as_str())
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        self.replica = Some(Arc::new(Replica { pool, failed_at: Mutex::new(None) }));
        Ok(self)
    }

    /// The store to answer a record read of `workspace` decided at
    /// `revision`: the standby when it is fresh enough (module header),
    /// else `None` (read from this store, the primary).
    pub async fn replica_for(&self, workspace: &str, revision: u64) -> Option<Store> {
        let replica = self.replica.as_ref()?;
        if replica.resting() {
            return None;
        }
        let primary_at: String =
            match sqlx::query_scalar("SELECT CAST(pg_current_wal_lsn() AS TEXT)").fetch_one(&self.pool).await
            {
                Ok(lsn) => lsn,
                Err(_) => return None,
            };
        let fresh: Result<(Option<i64>, Option<bool>), sqlx::Error> = sqlx::query_as(
            "SELECT (SELECT revision FROM workspaces WHERE key = $1), \
             pg_last_wal_replay_lsn() >= CAST($2 AS pg_lsn)",
        )
        .bind(workspace)
        .bind(primary_at)
        .fetch_one(&replica.pool)
        .await;
        match fresh {
            Ok((Some(at), Some(true))) if at >= 0 && at as u64 >= revision => {
                Some(Store { pool: replica.pool.clone(), replica: None, ..self.clone() })
            }
            Ok(_) => None,
            Err(error) => {
                replica.failed(&error);
                None
            }
        }
    }
}
