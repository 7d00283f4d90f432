//! What every handler shares: the store, the snapshot registry and the metrics.

use std::sync::Arc;

use permset_core::Snapshot;
use permset_store::{DecisionLogEntry, Store};
use tokio::sync::mpsc;

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
    decision_log: Option<mpsc::Sender<(String, DecisionLogEntry)>>,
}

/// Decisions waiting to be logged; beyond this the newest are dropped (and counted).
const DECISION_LOG_QUEUE: usize = 65_536;
/// The most decisions written in one batch.
const DECISION_LOG_BATCH: usize = 1_000;

impl AppState {
    /// State over an opened store.
    ///
    /// Inside a tokio runtime this also starts the decision-log writer: checks
    /// hand their decisions to a bounded queue and a background task writes
    /// them in batches, so logging never slows or blocks a decision.
    pub fn new(store: Store) -> Self {
        let decision_log = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (sender, receiver) = mpsc::channel(DECISION_LOG_QUEUE);
            runtime.spawn(write_decision_log(store.clone(), receiver));
            sender
        });
        let inner = Inner { store, registry: Registry::default(), metrics: Metrics::default(), decision_log };
        AppState { inner: Arc::new(inner) }
    }

    /// Queues a decision for the decision log (dropped, and counted, when the queue is full).
    pub(crate) fn log_decision(&self, workspace: &str, entry: DecisionLogEntry) {
        let Some(log) = &self.inner.decision_log else { return };
        if log.try_send((workspace.to_owned(), entry)).is_err() {
            self.inner.metrics.decisions_unlogged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

    /// Swaps in the snapshot a committed change returned (no second compile).
    pub(crate) fn install(&self, workspace: &str, snapshot: Snapshot) -> Arc<Snapshot> {
        self.inner.registry.install(workspace, Arc::new(snapshot))
    }

    /// Catches up on one workspace another replica changed.
    pub async fn poll_workspace(&self, workspace: &str) {
        self.inner.registry.poll_one(&self.inner.store, workspace).await;
    }

    /// One round of the replica catch-up poll.
    pub async fn poll_revisions(&self) {
        self.inner.registry.poll(&self.inner.store).await;
    }
}

/// Drains the decision queue into the store, one batch per workspace at a time.
async fn write_decision_log(store: Store, mut receiver: mpsc::Receiver<(String, DecisionLogEntry)>) {
    let mut batch = Vec::with_capacity(DECISION_LOG_BATCH);
    while receiver.recv_many(&mut batch, DECISION_LOG_BATCH).await > 0 {
        let mut by_workspace: std::collections::BTreeMap<String, Vec<DecisionLogEntry>> = Default::default();
        for (workspace, entry) in batch.drain(..) {
            by_workspace.entry(workspace).or_default().push(entry);
        }
        for (workspace, entries) in by_workspace {
            if let Err(error) = store.log_decisions(&workspace, &entries).await {
                tracing::warn!(%workspace, "cannot write the decision log: {error}");
            }
        }
    }
}
