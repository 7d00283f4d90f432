//! Usage counting (issue 9): every decision the server makes is counted in
//! memory per (workspace, hour, user, permission, grant, answer) and flushed
//! to the store in batches every few seconds, at shutdown, and on demand
//! (`POST /usage/flush`). A crash loses at most the counters of one flush
//! interval; a flush that fails puts its counters back.
//!
//! Counting is on the hot path, so it works in the snapshot's interned ids:
//! a decision is counted under the [`UsageKey`] core builds for it (user,
//! permission and deciding grant as positions, no allocation) and the hour
//! as an integer, in a map keyed by the snapshot that decided it. The
//! counters are sharded by thread, so the server's workers never wait on
//! one another's lock. Names are resolved only when the counters are
//! written, against the very snapshot the ids came from: each shard keeps
//! that snapshot alive until the flush, and spells out its counts early
//! when a newer snapshot of the same workspace comes along (so a shard
//! holds at most one snapshot per workspace).

use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use permset_core::{Snapshot, UsageKey};
use permset_store::{Store, UsageCount};
use rustc_hash::FxHashMap;

/// How usage is kept.
#[derive(Debug, Clone)]
pub struct UsageSettings {
    /// Count decisions at all (off: nothing is counted or sampled).
    pub enabled: bool,
    /// How often counters are written to the store.
    pub flush_every: Duration,
    /// Counters and sampled decisions older than this are deleted on flush.
    pub retention_days: u32,
    /// The most sampled decisions kept per workspace.
    pub sample_cap: u32,
}

impl Default for UsageSettings {
    fn default() -> Self {
        UsageSettings {
            enabled: true,
            flush_every: Duration::from_secs(5),
            retention_days: 90,
            sample_cap: 100_000,
        }
    }
}

/// A counter's key as the store keeps it. Deny keys have empty role, access and via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Named {
    workspace: String,
    hour: DateTime<Utc>,
    user: String,
    permission: String,
    role: String,
    access: String,
    via: String,
    allowed: bool,
}

/// How many decisions, and the last of them.
#[derive(Debug, Clone, Copy)]
struct Tally {
    uses: u64,
    last: DateTime<Utc>,
}

impl Tally {
    fn add(&mut self, uses: u64, at: DateTime<Utc>) {
        self.uses += uses;
        self.last = self.last.max(at);
    }
}

/// Adds a tally to a named map.
fn merge(into: &mut FxHashMap<Named, Tally>, key: Named, tally: Tally) {
    match into.entry(key) {
        Entry::Occupied(mut e) => e.get_mut().add(tally.uses, tally.last),
        Entry::Vacant(e) => {
            e.insert(tally);
        }
    }
}

/// The counts of decisions made on one snapshot, by hour (since the epoch) and key.
struct Group {
    /// INVARIANT: the keys below were issued by this snapshot, which is kept
    /// alive so that they can be named (and so that its address, the
    /// group's id in the shard, is never reused by another snapshot).
    snapshot: Arc<Snapshot>,
    counts: FxHashMap<(i64, UsageKey), Tally>,
}

impl Group {
    /// Spells the counts out into `into`.
    fn name_into(self, into: &mut FxHashMap<Named, Tally>) {
        let workspace = self.snapshot.workspace();
        for ((hour, key), tally) in self.counts {
            // A key always names in its own snapshot; one that does not is dropped, not misattributed.
            let Some(names) = self.snapshot.usage_names(&key) else { continue };
            let (role, access, via) = match names.grant {
                Some(grant) => {
                    let via = match (&grant.role, &grant.team) {
                        (None, _) => "owner".to_owned(),
                        (Some(_), Some(team)) => format!("team:{team}"),
                        (Some(_), None) => "direct".to_owned(),
                    };
                    (grant.role.unwrap_or_default(), grant.access, via)
                }
                None if names.allowed => (String::new(), String::new(), "unattributed".to_owned()),
                None => (String::new(), String::new(), String::new()),
            };
            let named = Named {
                workspace: workspace.to_owned(),
                hour: DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default(),
                user: names.user.to_owned(),
                permission: names.permission.to_owned(),
                role,
                access,
                via,
                allowed: names.allowed,
            };
            merge(into, named, tally);
        }
    }
}

/// One shard's counters: groups by snapshot address, and counts already named.
#[derive(Default)]
struct Shard {
    groups: FxHashMap<usize, Group>,
    named: FxHashMap<Named, Tally>,
}

impl Shard {
    /// The counts of `snapshot`'s decisions. A new snapshot of a workspace
    /// retires the shard's older ones: their counts are named now.
    fn counts(&mut self, snapshot: &Arc<Snapshot>) -> &mut FxHashMap<(i64, UsageKey), Tally> {
        let id = Arc::as_ptr(snapshot) as usize;
        if !self.groups.contains_key(&id) {
            let older: Vec<usize> = self
                .groups
                .iter()
                .filter(|(_, group)| group.snapshot.workspace() == snapshot.workspace())
                .map(|(&id, _)| id)
                .collect();
            for old in older {
                if let Some(group) = self.groups.remove(&old) {
                    group.name_into(&mut self.named);
                }
            }
        }
        let group = self
            .groups
            .entry(id)
            .or_insert_with(|| Group { snapshot: Arc::clone(snapshot), counts: FxHashMap::default() });
        &mut group.counts
    }
}

/// Shards of the counters; a thread always uses the same one.
const SHARDS: usize = 8;

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, handed out round robin as threads first count.
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

/// The in-memory counters.
pub(crate) struct Counters {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters { shards: (0..SHARDS).map(|_| Mutex::default()).collect() }
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // Counting never panics while holding the lock; a poisoned shard still counts.
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Counters {
    /// Counts decisions made on `snapshot` at `at`, one lock for all of them.
    pub(crate) fn add(&self, snapshot: &Arc<Snapshot>, at: DateTime<Utc>, keys: &[UsageKey]) {
        if keys.is_empty() {
            return;
        }
        let hour = at.timestamp().div_euclid(3600);
        let index = SHARD.with(|s| *s);
        let Some(shard) = self.shards.get(index) else { return };
        let mut shard = lock(shard);
        let counts = shard.counts(snapshot);
        for &key in keys {
            match counts.entry((hour, key)) {
                Entry::Occupied(mut e) => e.get_mut().add(1, at),
                Entry::Vacant(e) => {
                    e.insert(Tally { uses: 1, last: at });
                }
            }
        }
    }

    /// Takes every shard's counters, named and merged (the locks are held
    /// only to take them, not while naming).
    fn take(&self) -> FxHashMap<Named, Tally> {
        let taken: Vec<Shard> = self.shards.iter().map(|shard| std::mem::take(&mut *lock(shard))).collect();
        let mut out = FxHashMap::default();
        for shard in taken {
            for (key, tally) in shard.named {
                merge(&mut out, key, tally);
            }
            for group in shard.groups.into_values() {
                group.name_into(&mut out);
            }
        }
        out
    }

    /// Puts counters back (after a failed write).
    fn put_back(&self, rows: Vec<UsageCount>) {
        let Some(shard) = self.shards.first() else { return };
        let mut shard = lock(shard);
        for row in rows {
            let tally = Tally { uses: row.uses, last: row.last_at };
            let key = Named {
                workspace: row.workspace,
                hour: row.hour,
                user: row.user,
                permission: row.permission,
                role: row.role,
                access: row.access,
                via: row.via,
                allowed: row.allowed,
            };
            merge(&mut shard.named, key, tally);
        }
    }

    /// Writes the counters to the store and applies retention. On failure
    /// the counters are put back, to be written by the next flush.
    pub(crate) async fn flush(
        &self,
        store: &Store,
        settings: &UsageSettings,
    ) -> Result<(), permset_store::StoreError> {
        // The names move into the rows (a flush carries one row per distinct key).
        let rows: Vec<UsageCount> = self
            .take()
            .into_iter()
            .map(|(k, tally)| UsageCount {
                workspace: k.workspace,
                hour: k.hour,
                user: k.user,
                permission: k.permission,
                role: k.role,
                access: k.access,
                via: k.via,
                allowed: k.allowed,
                uses: tally.uses,
                last_at: tally.last,
            })
            .collect();
        if let Err(error) = store.add_usage(&rows).await {
            self.put_back(rows);
            return Err(error);
        }
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(settings.retention_days));
        store.prune_usage(cutoff).await?;
        store.prune_decisions(cutoff).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use permset_core::{load_workspace_file, Request};

    const YAML: &str = "workspace: w\n\
        users: { ann: { teams: [desk] }, own: { account_owner: true }, eve: {} }\n\
        teams: { desk: {} }\n\
        roles:\n  viewer:\n    grants:\n      teams_view: all\n      customers_view: all\n\
        assignments:\n  users: { ann: [viewer] }\n";

    fn snapshot(revision: u64) -> Arc<Snapshot> {
        let (model, _) = load_workspace_file(YAML).unwrap();
        Arc::new(Snapshot::compile_at(&model, Utc::now(), revision).unwrap())
    }

    fn key(s: &Snapshot, user: &str, allowed: bool) -> UsageKey {
        s.usage_key(&Request::new(user, "customers_view", Utc::now()), allowed).unwrap()
    }

    /// Counts made on two snapshots of one workspace, on several threads,
    /// merge into one named counter per grant, with the latest time.
    #[test]
    fn counts_across_snapshots_and_threads_merge_by_name() {
        let counters = Arc::new(Counters::default());
        let (old, new) = (snapshot(1), snapshot(2));
        let at = DateTime::from_timestamp(7_200 * 100 + 60, 0).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (counters, old, new) = (Arc::clone(&counters), Arc::clone(&old), Arc::clone(&new));
                std::thread::spawn(move || {
                    let s = if i % 2 == 0 { &old } else { &new };
                    let when = at + chrono::Duration::seconds(i);
                    counters.add(s, when, &[key(s, "ann", true), key(s, "ann", true), key(s, "eve", false)]);
                    // The newer snapshot retires the older one in this shard.
                    counters.add(&new, when, &[key(&new, "own", true)]);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let named = counters.take();
        let find = |user: &str, via: &str| {
            named.iter().find(|(k, _)| k.user == user && k.via == via).map(|(k, t)| (k.clone(), *t)).unwrap()
        };
        let (ann, tally) = find("ann", "direct");
        assert_eq!((ann.role.as_str(), ann.access.as_str(), tally.uses), ("viewer", "all", 8));
        assert_eq!(ann.hour, DateTime::from_timestamp(7_200 * 100, 0).unwrap());
        assert_eq!(tally.last, at + chrono::Duration::seconds(3));
        assert_eq!(find("eve", "").1.uses, 4);
        assert_eq!(find("own", "owner").1.uses, 4);
        assert_eq!(named.len(), 3);
        assert!(counters.take().is_empty());
    }
}
