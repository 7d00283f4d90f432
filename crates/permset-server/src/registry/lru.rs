//! The memory budget of the snapshot registry: one [`Entry`] per workspace
//! seen, whose snapshot may be unloaded (evicted) least-recently-used when
//! the loaded snapshots together exceed the budget, and loaded again on the
//! next request (`serve --snapshot-memory-mb`; docs/SCALING.md).
//!
//! Sizes are `Snapshot::approx_heap_bytes`, taken once per install. Recency
//! is a coarse clock: it ticks at every install, and a decision stamps its
//! entry with the current tick (a relaxed load and, only when it changed, a
//! relaxed store), so the hot path takes no lock and writes no shared line
//! while a workspace stays hot. Eviction ranks by those stamps: exact up to
//! the order of uses between two loads, which is all eviction needs.
//!
//! An evicted entry keeps its **floor**, the revision it held: a load that
//! read an older revision (it raced the change that was evicted since) is
//! refused, so a workspace's snapshot never goes backwards across an
//! eviction either (registry.rs's invariant).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;
use permset_core::Snapshot;

/// The budget and its counters, shared by every entry.
#[derive(Default)]
pub(crate) struct Budget {
    /// Bytes the loaded snapshots may hold; `None` for no limit.
    limit: Option<usize>,
    /// Bytes the loaded snapshots hold (their estimates, summed).
    total: AtomicUsize,
    /// Ticks at every install (see the module header).
    clock: AtomicU64,
    /// Snapshots loaded from the store (first use or after an eviction).
    pub(crate) loads: AtomicU64,
    /// Snapshots evicted.
    pub(crate) evictions: AtomicU64,
    /// One eviction pass at a time.
    pass: Mutex<()>,
}

/// The registry's memory figures, for `/metrics` and the `tenants` benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Workspaces whose snapshot is loaded.
    pub loaded: usize,
    /// Their estimated heap bytes together.
    pub bytes: usize,
    /// The budget in bytes, if any.
    pub limit: Option<usize>,
    /// Loads from the store so far.
    pub loads: u64,
    /// Evictions so far.
    pub evictions: u64,
}

impl SnapshotStats {
    /// The Prometheus text exposition of these figures.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, kind: &str, value: String| {
            out.push_str(&format!("# TYPE {name} {kind}\n{name} {value}\n"));
        };
        gauge(&mut out, "permset_snapshots_loaded", "gauge", self.loaded.to_string());
        gauge(&mut out, "permset_snapshot_bytes", "gauge", self.bytes.to_string());
        if let Some(limit) = self.limit {
            gauge(&mut out, "permset_snapshot_budget_bytes", "gauge", limit.to_string());
        }
        gauge(&mut out, "permset_snapshot_loads_total", "counter", self.loads.to_string());
        gauge(&mut out, "permset_snapshot_evictions_total", "counter", self.evictions.to_string());
        out
    }
}

impl Budget {
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Budget { limit, ..Budget::default() }
    }

    pub(crate) fn over(&self) -> bool {
        self.limit.is_some_and(|limit| self.total.load(Relaxed) > limit)
    }

    pub(crate) fn stats(&self, loaded: usize) -> SnapshotStats {
        SnapshotStats {
            loaded,
            bytes: self.total.load(Relaxed),
            limit: self.limit,
            loads: self.loads.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
        }
    }

    /// Evicts the least recently used of `entries` (never `keep`, the one
    /// a request is about to use) until the loaded snapshots fit in 90% of
    /// the budget: the slack spares a pass at every load once full.
    pub(crate) fn enforce<'a>(&self, entries: impl Iterator<Item = &'a Arc<Entry>>, keep: &Entry) {
        let Some(limit) = self.limit else { return };
        let Ok(_pass) = self.pass.try_lock() else { return };
        let target = limit / 10 * 9;
        let mut loaded: Vec<(u64, &Arc<Entry>)> = entries
            .filter(|e| !std::ptr::eq(e.as_ref(), keep) && e.current.load().is_some())
            .map(|e| (e.used.load(Relaxed), e))
            .collect();
        loaded.sort_unstable_by_key(|(used, _)| *used);
        for (_, entry) in loaded {
            if self.total.load(Relaxed) <= target {
                break;
            }
            entry.evict(self);
        }
    }
}

/// One workspace's slot: its snapshot when loaded, its size, its last use.
#[derive(Default)]
pub(crate) struct Entry {
    current: ArcSwapOption<Snapshot>,
    used: AtomicU64,
    state: Mutex<State>,
    /// Held while loading after an eviction, so that a burst of requests
    /// to a cold workspace compiles it once.
    pub(crate) loading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// The estimate of the loaded snapshot (0 when unloaded).
    bytes: usize,
    /// The revision held when last evicted: nothing older may be installed.
    floor: u64,
}

impl Entry {
    /// The loaded snapshot, stamped as used now; `None` when evicted.
    pub(crate) fn current(&self, budget: &Budget) -> Option<Arc<Snapshot>> {
        let snapshot = self.current.load_full()?;
        let now = budget.clock.load(Relaxed);
        if self.used.load(Relaxed) != now {
            self.used.store(now, Relaxed);
        }
        Some(snapshot)
    }

    /// The loaded snapshot's revision, without counting a use.
    pub(crate) fn revision(&self) -> Option<u64> {
        self.current.load().as_ref().map(|s| s.revision())
    }

    /// Installs `snapshot` if it is newer than the one held (or, evicted,
    /// not older than the floor); returns the snapshot in force, or `None`
    /// when `snapshot` is older than an evicted one (the caller reloads).
    pub(crate) fn install(&self, snapshot: &Arc<Snapshot>, budget: &Budget) -> Option<Arc<Snapshot>> {
        let bytes = snapshot.approx_heap_bytes();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let held = self.current.load_full();
        let newer = match &held {
            Some(held) => held.revision() < snapshot.revision(),
            None => state.floor <= snapshot.revision(),
        };
        if !newer {
            return held;
        }
        if held.is_none() {
            budget.loads.fetch_add(1, Relaxed);
        }
        self.current.store(Some(Arc::clone(snapshot)));
        budget.total.fetch_add(bytes, Relaxed);
        budget.total.fetch_sub(state.bytes, Relaxed);
        state.bytes = bytes;
        // The install takes the tick and moves the clock on, so a use of
        // any workspace after this install ranks above it.
        self.used.store(budget.clock.fetch_add(1, Relaxed), Relaxed);
        Some(Arc::clone(snapshot))
    }

    /// Unloads the snapshot, keeping its revision as the floor.
    fn evict(&self, budget: &Budget) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = self.current.swap(None) {
            state.floor = held.revision();
            budget.total.fetch_sub(state.bytes, Relaxed);
            state.bytes = 0;
            budget.evictions.fetch_add(1, Relaxed);
        }
    }

    /// Unloads without counting an eviction (the workspace is gone).
    pub(crate) fn clear(&self, budget: &Budget) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if self.current.swap(None).is_some() {
            budget.total.fetch_sub(state.bytes, Relaxed);
            state.bytes = 0;
        }
    }
}
