//! The decision sample, parsed, in memory: what-if replays up to 100,000
//! sampled decisions per simulation, and reading and parsing them from the
//! store (two JSON documents each) cost more than the simulation itself.
//!
//! A workspace's sample is cached from its first simulation on. The store
//! stays the source of truth: every simulation first compares the cache
//! with the store's count and id sum up to the newest cached id
//! ([`Store::sample_fingerprint`], one index read); when they agree it reads
//! only newer rows. Otherwise it reads the keys (id and time, no record) of
//! the newest rows, then parses from the store only the rows the cache lacks — those written by another server or a replica's
//! primary, or before this server started — and forgets the cached rows the
//! store no longer has (dropped by the sample's cap or its retention). So
//! the answer is the store's sample, whoever wrote it. This server's own
//! decision-log writer hands each batch it wrote, with the keys the store
//! gave it, to the caches of workspaces already cached, so rows written here
//! are never parsed again.
//!
//! Bounded: a cache holds at most [`REPLAYED`] entries (what a simulation
//! replays; the oldest go first), and at most [`WORKSPACES`] workspaces are cached, the
//! least recently simulated going first.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use permset_store::{DecisionLogEntry, SampleKey, Store, StoreError};

use crate::routes::simulate::REPLAYED;

/// Workspaces whose sample is kept parsed (each up to `cap` entries).
const WORKSPACES: usize = 4;

/// One workspace's parsed sample, by id, with the time as stored.
type Cached = BTreeMap<i64, (String, Arc<DecisionLogEntry>)>;

/// The parsed samples of the most recently simulated workspaces.
#[derive(Default)]
pub(crate) struct SampleCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Each workspace's cache and when it was last simulated on (a counter, for eviction).
    workspaces: HashMap<String, (u64, Arc<tokio::sync::Mutex<Cached>>)>,
    clock: u64,
}

impl SampleCache {
    /// The newest [`REPLAYED`] sampled decisions of `workspace`, newest
    /// first, as the store holds them now; parses only rows not cached yet.
    pub(crate) async fn recent(
        &self,
        store: &Store,
        workspace: &str,
    ) -> Result<Vec<Arc<DecisionLogEntry>>, StoreError> {
        let cached = self.workspace(workspace);
        // One simulation at a time fills a workspace's cache; the writer waits for it too.
        let mut cached = cached.lock().await;
        // The cheap path: the store holds exactly the cached rows up to the
        // newest cached id (same count and id sum), so only newer rows are read.
        if let Some((&last, _)) = cached.last_key_value() {
            let held = (cached.len() as i64, cached.keys().sum::<i64>());
            if store.sample_fingerprint(workspace, last).await? == held {
                let newer = store.decisions_between(workspace, last + 1, i64::MAX, |_| true).await?;
                for (key, entry) in newer {
                    cached.insert(key.id, (key.at, Arc::new(entry)));
                }
                trim(&mut cached);
                return Ok(cached.values().rev().map(|(_, e)| Arc::clone(e)).collect());
            }
        }
        let keys = store.sample_keys(workspace, REPLAYED).await?;
        let missing: Vec<&SampleKey> =
            keys.iter().filter(|k| cached.get(&k.id).is_none_or(|(at, _)| *at != k.at)).collect();
        if let (Some(newest), Some(oldest)) = (missing.first(), missing.last()) {
            let wanted: std::collections::HashSet<&SampleKey> = missing.iter().copied().collect();
            let rows =
                store.decisions_between(workspace, oldest.id, newest.id, |k| wanted.contains(k)).await?;
            for (key, entry) in rows {
                cached.insert(key.id, (key.at, Arc::new(entry)));
            }
        }
        // Forget what the store no longer holds (or holds under another time).
        let live: HashMap<i64, &str> = keys.iter().map(|k| (k.id, k.at.as_str())).collect();
        cached.retain(|id, (at, _)| live.get(id).is_some_and(|a| a == at));
        trim(&mut cached);
        // Newest first, as the store lists them; a row deleted between the two reads is left out.
        Ok(keys.iter().filter_map(|k| cached.get(&k.id).map(|(_, e)| Arc::clone(e))).collect())
    }

    /// Adds rows this server just wrote to a workspace's cache, if it has one.
    pub(crate) async fn written(
        &self,
        workspace: &str,
        keys: Vec<SampleKey>,
        entries: Vec<DecisionLogEntry>,
    ) {
        let Some(cached) = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .workspaces
            .get(workspace)
            .map(|(_, c)| Arc::clone(c))
        else {
            return;
        };
        let mut cached = cached.lock().await;
        for (key, entry) in keys.into_iter().zip(entries) {
            cached.insert(key.id, (key.at, Arc::new(entry)));
        }
        trim(&mut cached);
    }

    /// The cache of `workspace`, made (and another evicted) if need be.
    fn workspace(&self, workspace: &str) -> Arc<tokio::sync::Mutex<Cached>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.clock += 1;
        let now = inner.clock;
        if !inner.workspaces.contains_key(workspace) && inner.workspaces.len() >= WORKSPACES {
            let oldest = inner.workspaces.iter().min_by_key(|(_, (used, _))| *used).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                inner.workspaces.remove(&oldest);
            }
        }
        let (used, cached) = inner.workspaces.entry(workspace.to_owned()).or_default();
        *used = now;
        Arc::clone(cached)
    }
}

/// Keeps the newest [`REPLAYED`] entries (no simulation reads older ones).
fn trim(entries: &mut Cached) {
    while entries.len() > REPLAYED as usize {
        entries.pop_first();
    }
}
