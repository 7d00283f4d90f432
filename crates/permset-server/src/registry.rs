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

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::Utc;
use permset_core::Snapshot;
use permset_store::{Store, StoreError};

type Slot = Arc<ArcSwap<Snapshot>>;

/// Snapshots by workspace key.
#[derive(Default)]
pub(crate) struct Registry {
    slots: ArcSwap<HashMap<String, Slot>>,
}

impl Registry {
    /// The current snapshot of a workspace, loading it from the store the first time.
    pub(crate) async fn get(&self, store: &Store, workspace: &str) -> Result<Arc<Snapshot>, StoreError> {
        if let Some(slot) = self.slots.load().get(workspace) {
            return Ok(slot.load_full());
        }
        self.refresh(store, workspace).await
    }

    /// The snapshot in force for a loaded workspace, without loading it.
    pub(crate) fn current(&self, workspace: &str) -> Option<Arc<Snapshot>> {
        self.slots.load().get(workspace).map(|slot| slot.load_full())
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
        let (model, revision) = store.load(workspace).await?;
        let compiled = Arc::new(Snapshot::compile_owned(model, Utc::now(), revision)?);
        Ok(self.install(workspace, compiled))
    }

    /// Swaps a snapshot in if it is newer than the installed one; returns the one in force.
    pub(crate) fn install(&self, workspace: &str, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        let slot = self.slot(workspace, &snapshot);
        let previous = slot.rcu(|current| {
            if current.revision() < snapshot.revision() {
                Arc::clone(&snapshot)
            } else {
                Arc::clone(current)
            }
        });
        if previous.revision() < snapshot.revision() {
            snapshot
        } else {
            slot.load_full()
        }
    }

    fn slot(&self, workspace: &str, initial: &Arc<Snapshot>) -> Slot {
        if let Some(slot) = self.slots.load().get(workspace) {
            return Arc::clone(slot);
        }
        let mut created = None;
        self.slots.rcu(|map| {
            let mut map = HashMap::clone(map);
            let slot = map
                .entry(workspace.to_owned())
                .or_insert_with(|| Arc::new(ArcSwap::new(Arc::clone(initial))))
                .clone();
            created = Some(slot);
            map
        });
        created.unwrap_or_else(|| Arc::new(ArcSwap::new(Arc::clone(initial))))
    }

    /// Drops a workspace (after it was deleted, or to force a reload).
    pub(crate) fn forget(&self, workspace: &str) {
        self.slots.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.remove(workspace);
            map
        });
    }

    /// Reloads every loaded workspace whose stored revision moved on (the
    /// polling fallback that keeps replicas in step).
    pub(crate) async fn poll(&self, store: &Store) {
        let loaded: Vec<(String, u64)> =
            self.slots.load().iter().map(|(k, slot)| (k.clone(), slot.load().revision())).collect();
        self.catch_up(store, loaded).await;
    }

    /// Reloads one workspace if it is loaded here and its stored revision moved
    /// on (a revision notification from another replica).
    pub(crate) async fn poll_one(&self, store: &Store, workspace: &str) {
        let Some(revision) = self.slots.load().get(workspace).map(|slot| slot.load().revision()) else {
            return;
        };
        self.catch_up(store, vec![(workspace.to_owned(), revision)]).await;
    }

    async fn catch_up(&self, store: &Store, loaded: Vec<(String, u64)>) {
        for (workspace, revision) in loaded {
            match store.revision(&workspace).await {
                Ok(stored) if stored > revision => {
                    if let Err(error) = self.refresh(store, &workspace).await {
                        tracing::warn!(%workspace, "cannot reload workspace: {error}");
                    }
                }
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => self.forget(&workspace),
                Err(error) => tracing::warn!(%workspace, "cannot read revision: {error}"),
            }
        }
    }
}
