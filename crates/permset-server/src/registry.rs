//! The current compiled snapshot of each workspace, behind atomic pointers.
//!
//! Decisions load the snapshot with one atomic read (`ArcSwap::load_full`):
//! no lock on the decision path and never a torn state. After every
//! committed change the writer recompiles and swaps the new snapshot in
//! before answering, so the next decision sees it. A swap never goes
//! backwards: a slower refresh of an older revision is dropped. Replicas
//! sharing one database catch up when PostgreSQL notifies them of a change
//! (`poll_one`), by polling revisions as a fallback (`poll`), and on demand
//! when a request asks for `at_least_revision`.
//!
//! Many tenants: a snapshot loads on its workspace's first use and, under a
//! memory budget, the least recently used are evicted and load again when
//! next used (`lru.rs`). The polling fallback asks the store for every
//! revision in one query and reloads only the loaded workspaces that moved.

mod lru;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::Utc;
use permset_core::Snapshot;
use permset_store::{Store, StoreError};

pub use lru::SnapshotStats;
use lru::{Budget, Entry};

type Slot = Arc<Entry>;

/// Snapshots by workspace key.
#[derive(Default)]
pub(crate) struct Registry {
    slots: ArcSwap<HashMap<String, Slot>>,
    budget: Budget,
}

impl Registry {
    /// A registry whose loaded snapshots keep within `limit` bytes (none: unbounded).
    pub(crate) fn with_budget(limit: Option<usize>) -> Self {
        Registry { slots: ArcSwap::default(), budget: Budget::new(limit) }
    }

    /// The current snapshot of a workspace, loading it from the store the
    /// first time and after an eviction.
    pub(crate) async fn get(&self, store: &Store, workspace: &str) -> Result<Arc<Snapshot>, StoreError> {
        let Some(slot) = self.slots.load().get(workspace).cloned() else {
            return self.refresh(store, workspace).await;
        };
        if let Some(snapshot) = slot.current(&self.budget) {
            return Ok(snapshot);
        }
        // Evicted: one request loads it, the others wait for that load.
        let _loading = slot.loading.lock().await;
        match slot.current(&self.budget) {
            Some(snapshot) => Ok(snapshot),
            None => self.refresh(store, workspace).await,
        }
    }

    /// The snapshot in force for a loaded workspace, without loading it
    /// (`None` when never loaded or evicted).
    pub(crate) fn current(&self, workspace: &str) -> Option<Arc<Snapshot>> {
        self.slots.load().get(workspace).and_then(|slot| slot.current(&self.budget))
    }

    /// The current snapshot, at `at_least` or newer (reloading if this replica is behind).
    pub(crate) async fn at_least(
        &self,
        store: &Store,
        workspace: &str,
        at_least: Option<u64>,
    ) -> Result<Arc<Snapshot>, StoreError> {
        let current = self.get(store, workspace).await?;
        match at_least {
            Some(wanted) if current.revision() < wanted => {
                let fresh = self.refresh(store, workspace).await?;
                if fresh.revision() < wanted {
                    return Err(StoreError::Conflict {
                        message: format!(
                            "revision {wanted} is not committed yet (the workspace is at {})",
                            fresh.revision()
                        ),
                    });
                }
                Ok(fresh)
            }
            _ => Ok(current),
        }
    }

    /// Loads and compiles the stored model, and swaps it in unless a newer one is already there.
    pub(crate) async fn refresh(&self, store: &Store, workspace: &str) -> Result<Arc<Snapshot>, StoreError> {
        // A load that read a revision older than one evicted meanwhile is
        // refused by the entry; the second read is at least that new.
        for _ in 0..2 {
            let (model, revision) = store.load(workspace).await?;
            let compiled = Arc::new(Snapshot::compile_owned(model, Utc::now(), revision)?);
            if let Some(in_force) = self.try_install(workspace, &compiled) {
                return Ok(in_force);
            }
        }
        Err(StoreError::Conflict { message: format!("workspace `{workspace}` changed while loading; retry") })
    }

    /// Swaps a snapshot in if it is newer than the installed one; returns the one in force.
    pub(crate) fn install(&self, workspace: &str, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        // A committed change's snapshot is the newest revision there is, so
        // it is never below an evicted floor; were it, it is still the
        // stored model, and the caller answers about its own commit.
        self.try_install(workspace, &snapshot).unwrap_or(snapshot)
    }

    fn try_install(&self, workspace: &str, snapshot: &Arc<Snapshot>) -> Option<Arc<Snapshot>> {
        let slot = self.slot(workspace);
        let in_force = slot.install(snapshot, &self.budget);
        if self.budget.over() {
            self.budget.enforce(self.slots.load().values(), &slot);
        }
        in_force
    }

    fn slot(&self, workspace: &str) -> Slot {
        if let Some(slot) = self.slots.load().get(workspace) {
            return Arc::clone(slot);
        }
        let mut created = None;
        self.slots.rcu(|map| {
            let mut map = HashMap::clone(map);
            let slot = map.entry(workspace.to_owned()).or_default().clone();
            created = Some(slot);
            map
        });
        created.unwrap_or_default()
    }

    /// Drops a workspace (after it was deleted, or to force a reload).
    pub(crate) fn forget(&self, workspace: &str) {
        let mut removed = None;
        self.slots.rcu(|map| {
            let mut map = HashMap::clone(map);
            removed = map.remove(workspace);
            map
        });
        if let Some(slot) = removed {
            slot.clear(&self.budget);
        }
    }

    /// The memory figures of the loaded snapshots.
    pub(crate) fn stats(&self) -> SnapshotStats {
        let loaded = self.slots.load().values().filter(|slot| slot.revision().is_some()).count();
        self.budget.stats(loaded)
    }

    /// The loaded workspaces and their revisions.
    fn loaded(&self) -> Vec<(String, u64)> {
        self.slots.load().iter().filter_map(|(k, slot)| Some((k.clone(), slot.revision()?))).collect()
    }

    /// Reloads every loaded workspace whose stored revision moved on (the
    /// polling fallback that keeps replicas in step): one query for every
    /// revision, however many workspaces are loaded.
    pub(crate) async fn poll(&self, store: &Store) {
        let loaded = self.loaded();
        if loaded.is_empty() {
            return;
        }
        let stored: HashMap<String, u64> = match store.workspaces().await {
            Ok(all) => all.into_iter().map(|info| (info.key, info.revision)).collect(),
            Err(error) => {
                tracing::warn!("cannot read revisions: {error}");
                return;
            }
        };
        for (workspace, revision) in loaded {
            match stored.get(&workspace) {
                Some(&stored) if stored > revision => self.reload(store, &workspace).await,
                Some(_) => {}
                None => self.forget(&workspace),
            }
        }
    }

    /// Reloads one workspace if it is loaded here and its stored revision moved
    /// on (a revision notification from another replica).
    pub(crate) async fn poll_one(&self, store: &Store, workspace: &str) {
        let Some(revision) = self.slots.load().get(workspace).and_then(|slot| slot.revision()) else {
            return;
        };
        match store.revision(workspace).await {
            Ok(stored) if stored > revision => self.reload(store, workspace).await,
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => self.forget(workspace),
            Err(error) => tracing::warn!(%workspace, "cannot read revision: {error}"),
        }
    }

    async fn reload(&self, store: &Store, workspace: &str) {
        if let Err(error) = self.refresh(store, workspace).await {
            tracing::warn!(%workspace, "cannot reload workspace: {error}");
        }
    }
}
