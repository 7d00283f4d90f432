//! Revision notifications between replicas (DESIGN.md §5): on PostgreSQL
//! every committed model change sends `NOTIFY permset_revisions, '<workspace>'`
//! inside its transaction (delivered only if it commits), and each server
//! holds a [`RevisionListener`] that wakes it to reload that workspace.
//!
//! Notifications are transient: while the listening connection is down they
//! are lost. The listener therefore reports a lost connection
//! ([`Heard::Reconnected`]) so that the server re-reads every revision, and
//! servers keep polling as a fallback. SQLite has one writer process, so it
//! has no listener.

use sqlx::postgres::PgListener;
use sqlx::{Any, Transaction};

use crate::{Dialect, Store, StoreError};

/// The channel revision changes are announced on.
const CHANNEL: &str = "permset_revisions";

/// What a listener heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A committed change of this workspace (any schema on the database).
    Changed(String),
    /// The connection was lost and re-established: notifications may have
    /// been missed, so every workspace must be re-read.
    Reconnected,
}

/// A subscription to revision notifications.
pub struct RevisionListener {
    inner: PgListener,
}

impl std::fmt::Debug for RevisionListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevisionListener")
    }
}

impl RevisionListener {
    /// Waits for the next notification; reconnects by itself after a lost connection.
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        match self.inner.try_recv().await? {
            Some(notification) => Ok(Heard::Changed(notification.payload().to_owned())),
            None => Ok(Heard::Reconnected),
        }
    }
}

impl Store {
    /// A listener for other replicas' changes; `None` on SQLite.
    pub async fn revision_listener(&self) -> Result<Option<RevisionListener>, StoreError> {
        let Some(url) = self.url.as_deref().filter(|_| self.dialect == Dialect::Postgres) else {
            return Ok(None);
        };
        let mut inner = PgListener::connect(url).await?;
        inner.listen(CHANNEL).await?;
        Ok(Some(RevisionListener { inner }))
    }
}

/// Inside a committing model change: announces the workspace's new revision.
pub(crate) async fn announce(
    dialect: Dialect,
    tx: &mut Transaction<'static, Any>,
    workspace: &str,
) -> Result<(), StoreError> {
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(workspace).execute(&mut **tx).await?;
    }
    Ok(())
}
