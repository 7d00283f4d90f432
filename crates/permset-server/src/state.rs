//! What every handler shares: the store, the snapshot registry and the metrics.

use std::sync::Arc;

use permset_core::Snapshot;
use permset_store::Store;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registry::Registry;

/// Shared server state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) registry: Registry,
    pub(crate) metrics: Metrics,
}

impl AppState {
    /// State over an opened store.
    pub fn new(store: Store) -> Self {
        AppState {
            inner: Arc::new(Inner { store, registry: Registry::default(), metrics: Metrics::default() }),
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The snapshot to decide on, honouring `at_least_revision`.
    pub(crate) async fn snapshot(
        &self,
        workspace: &str,
        at_least: Option<u64>,
    ) -> Result<Arc<Snapshot>, ApiError> {
        Ok(self.inner.registry.at_least(&self.inner.store, workspace, at_least).await?)
    }

    /// Recompiles and swaps in a workspace's snapshot after a committed change.
    pub(crate) async fn refresh(&self, workspace: &str) -> Result<Arc<Snapshot>, ApiError> {
        Ok(self.inner.registry.refresh(&self.inner.store, workspace).await?)
    }

    /// One round of the replica catch-up poll.
    pub async fn poll_revisions(&self) {
        self.inner.registry.poll(&self.inner.store).await;
    }
}
