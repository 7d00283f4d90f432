//! What every handler shares: the store, the snapshot registry, the key
//! cache, the metrics, the decision log's queue and the usage counters.

use std::sync::Arc;

use chrono::Utc;
use permset_core::{Request, Snapshot, UsageKey};
use permset_store::{DecisionLogEntry, Store};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;
use crate::key_cache::KeyCache;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::sample::SampleCache;
use crate::usage::{Counters, UsageSettings};

/// Shared server state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) registry: Registry,
    pub(crate) keys: KeyCache,
    pub(crate) metrics: Metrics,
    decision_log: Option<mpsc::Sender<LogItem>>,
    pub(crate) usage: Counters,
    pub(crate) settings: UsageSettings,
    /// The parsed decision sample of recently simulated workspaces.
    pub(crate) sample: Arc<SampleCache>,
}

/// What the decision-log writer receives: an entry, or a barrier answered
/// once every entry queued before it is written.
enum LogItem {
    Entry(String, Box<DecisionLogEntry>),
    Barrier(oneshot::Sender<()>),
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
        Self::with_usage(store, UsageSettings::default())
    }

    /// State with these usage settings. Inside a tokio runtime, with usage
    /// on, this also starts the task that flushes the counters every
    /// `flush_every`.
    pub fn with_usage(store: Store, settings: UsageSettings) -> Self {
        Self::with_limits(store, settings, None)
    }

    /// [`AppState::with_usage`] with a memory budget for the loaded
    /// snapshots, in bytes (`None`: every workspace used stays loaded).
    pub fn with_limits(store: Store, settings: UsageSettings, snapshot_memory: Option<usize>) -> Self {
        let runtime = tokio::runtime::Handle::try_current().ok();
        let sample = Arc::new(SampleCache::default());
        let decision_log = runtime.as_ref().filter(|_| settings.enabled).map(|runtime| {
            let (sender, receiver) = mpsc::channel(DECISION_LOG_QUEUE);
            let writer =
                write_decision_log(store.clone(), receiver, settings.sample_cap, Arc::clone(&sample));
            runtime.spawn(writer);
            sender
        });
        let inner = Inner {
            store,
            registry: Registry::with_budget(snapshot_memory),
            keys: KeyCache::default(),
            metrics: Metrics::default(),
            decision_log,
            usage: Counters::default(),
            settings,
            sample,
        };
        let state = AppState { inner: Arc::new(inner) };
        if let Some(runtime) = runtime.filter(|_| state.inner.settings.enabled) {
            let weak = Arc::downgrade(&state.inner);
            let every = state.inner.settings.flush_every;
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    // The task ends with the state.
                    let Some(inner) = weak.upgrade() else { return };
                    if let Err(error) = inner.usage.flush(&inner.store, &inner.settings).await {
                        tracing::warn!("cannot write usage counters: {error}");
                    }
                }
            });
        }
        state
    }

    /// Queues a decision for the decision log (dropped, and counted, when the queue is full).
    pub(crate) fn log_decision(&self, workspace: &str, entry: DecisionLogEntry) {
        let Some(log) = &self.inner.decision_log else { return };
        if log.try_send(LogItem::Entry(workspace.to_owned(), Box::new(entry))).is_err() {
            self.inner.metrics.decisions_unlogged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Counts one decision made on `snapshot` now (nothing when usage is
    /// off, or when the request names an unknown user or permission: that
    /// is an input error, not a decision).
    pub(crate) fn count(&self, snapshot: &Arc<Snapshot>, request: &Request<'_>, allowed: bool) {
        if self.inner.settings.enabled {
            if let Some(key) = snapshot.usage_key(request, allowed) {
                self.inner.usage.add(snapshot, Utc::now(), &[key]);
            }
        }
    }

    /// Counts many decisions made on `snapshot` now, under one lock.
    pub(crate) fn count_all(&self, snapshot: &Arc<Snapshot>, keys: &[UsageKey]) {
        if self.inner.settings.enabled {
            self.inner.usage.add(snapshot, Utc::now(), keys);
        }
    }

    /// Whether usage is counted.
    pub(crate) fn counting(&self) -> bool {
        self.inner.settings.enabled
    }

    /// Writes everything decided so far: the queued decision log, then the counters.
    pub async fn flush_usage(&self) -> Result<(), ApiError> {
        if let Some(log) = &self.inner.decision_log {
            let (done, wait) = oneshot::channel();
            if log.send(LogItem::Barrier(done)).await.is_ok() {
                let _ = wait.await;
            }
        }
        self.inner.usage.flush(&self.inner.store, &self.inner.settings).await?;
        Ok(())
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The store to answer a record read decided on `snapshot`: the read
    /// replica when it has replayed what the read needs, else the primary
    /// (permset-store's `replica.rs`).
    pub(crate) async fn reader(&self, snapshot: &Snapshot) -> Store {
        use std::sync::atomic::Ordering::Relaxed;
        match self.inner.store.replica_for(snapshot.workspace(), snapshot.revision()).await {
            Some(standby) => {
                self.inner.metrics.replica_reads.fetch_add(1, Relaxed);
                standby
            }
            None => {
                self.inner.metrics.primary_reads.fetch_add(1, Relaxed);
                self.inner.store.clone()
            }
        }
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

    /// The loaded snapshots' memory figures (also on `/metrics`).
    pub fn snapshot_stats(&self) -> crate::SnapshotStats {
        self.inner.registry.stats()
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

/// How long the decision-log writer gathers entries before writing them:
/// one transaction (and one fsync) per interval rather than per check.
const DECISION_LOG_LINGER: std::time::Duration = std::time::Duration::from_millis(200);

/// Drains the decision queue into the store, one batch per workspace at a
/// time, keeping at most `cap` entries per workspace; answers barriers once
/// the entries before them are written. Entries are gathered for up to
/// [`DECISION_LOG_LINGER`] (or [`DECISION_LOG_BATCH`] of them) before a
/// write, except that a barrier is answered without waiting. What it wrote
/// also goes to the workspace's parsed sample, if what-if keeps one.
async fn write_decision_log(
    store: Store,
    mut receiver: mpsc::Receiver<LogItem>,
    cap: u32,
    sample: Arc<SampleCache>,
) {
    let mut batch = Vec::with_capacity(DECISION_LOG_BATCH);
    while receiver.recv_many(&mut batch, DECISION_LOG_BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + DECISION_LOG_LINGER;
        let mut seen = 0;
        loop {
            let barrier =
                batch.get(seen..).unwrap_or_default().iter().any(|i| matches!(i, LogItem::Barrier(_)));
            seen = batch.len();
            if barrier || batch.len() >= DECISION_LOG_BATCH {
                break;
            }
            let more = DECISION_LOG_BATCH - batch.len();
            match tokio::time::timeout_at(deadline, receiver.recv_many(&mut batch, more)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let mut by_workspace: std::collections::BTreeMap<String, Vec<DecisionLogEntry>> = Default::default();
        let mut barriers = Vec::new();
        for item in batch.drain(..) {
            match item {
                LogItem::Entry(workspace, entry) => by_workspace.entry(workspace).or_default().push(*entry),
                LogItem::Barrier(done) => barriers.push(done),
            }
        }
        for (workspace, entries) in by_workspace {
            match store.log_decisions(&workspace, &entries, cap).await {
                Ok(keys) => sample.written(&workspace, keys, entries).await,
                Err(error) => tracing::warn!(%workspace, "cannot write the decision log: {error}"),
            }
        }
        for done in barriers {
            let _ = done.send(());
        }
    }
}
