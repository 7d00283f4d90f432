//! API keys remembered between requests, so that a request does not query
//! the database to authenticate (`Store::authenticate` went through the
//! small pool the decision-log writer also uses, on every request).
//!
//! A key is cached by the sha256 of its secret, together with the snapshot
//! of its workspace that was in force *before* the database said the key
//! was live. Keys are part of the model: creating or revoking one (or
//! removing its user or role) commits a change that bumps the revision, and
//! this server installs the new snapshot before it answers that change —
//! or, for another replica's change, when it is notified or polls. So an
//! entry answers only while that same snapshot is still the one in force;
//! any newer snapshot of the workspace voids it, and the next request asks
//! the database again. An entry also never outlives the key's expiry, and
//! a request asking `at_least_revision` beyond the snapshot in force goes
//! to the database (which is always current), as read-your-writes demands.
//!
//! Only keys the database accepted are cached: an unknown or revoked secret
//! costs a query each time, as before, and never fills the cache.

use std::sync::{Arc, RwLock, Weak};

use chrono::{DateTime, Utc};
use permset_core::Snapshot;
use permset_store::KeyInfo;
use rustc_hash::FxHashMap;

/// The most keys remembered; beyond it the cache starts again empty.
const MAX_KEYS: usize = 10_000;

struct Entry {
    key: Arc<KeyInfo>,
    /// The snapshot in force when the key was read as live.
    // INVARIANT: a `Weak` keeps the snapshot's allocation, so no other
    // snapshot can ever have this address while the entry exists.
    validated_at: Weak<Snapshot>,
}

/// Keys by secret digest.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: RwLock<FxHashMap<[u8; 32], Entry>>,
}

impl KeyCache {
    /// The cached key of `digest`, if it is still certainly live: the
    /// snapshot it was validated at is the one in force (`current`), that
    /// snapshot satisfies `at_least`, and the key has not expired at `now`.
    pub(crate) fn get(
        &self,
        digest: &[u8; 32],
        current: impl FnOnce(&str) -> Option<Arc<Snapshot>>,
        at_least: Option<u64>,
        now: DateTime<Utc>,
    ) -> Option<Arc<KeyInfo>> {
        let (key, validated_at) = {
            let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let entry = entries.get(digest)?;
            (Arc::clone(&entry.key), entry.validated_at.as_ptr())
        };
        let current = current(&key.workspace)?;
        let same = std::ptr::eq(Arc::as_ptr(&current), validated_at);
        let fresh_enough = at_least.is_none_or(|wanted| current.revision() >= wanted);
        let live = key.expires_at.is_none_or(|at| now < at);
        (same && fresh_enough && live).then_some(key)
    }

    /// Remembers a key the database accepted after `validated_at` was the
    /// snapshot in force for its workspace.
    pub(crate) fn insert(&self, digest: [u8; 32], key: Arc<KeyInfo>, validated_at: &Arc<Snapshot>) {
        if validated_at.workspace() != key.workspace {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= MAX_KEYS && !entries.contains_key(&digest) {
            entries.clear();
        }
        entries.insert(digest, Entry { key, validated_at: Arc::downgrade(validated_at) });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn snapshot(workspace: &str, revision: u64) -> Arc<Snapshot> {
        let (model, _) = permset_core::load_workspace_file(&format!("workspace: {workspace}\n")).unwrap();
        Arc::new(Snapshot::compile_at(&model, Utc::now(), revision).unwrap())
    }

    fn key(workspace: &str, expires_at: Option<DateTime<Utc>>) -> Arc<KeyInfo> {
        Arc::new(KeyInfo {
            id: "key_1".into(),
            workspace: workspace.into(),
            user: None,
            role: None,
            label: String::new(),
            created_at: Utc::now(),
            expires_at,
        })
    }

    #[test]
    fn an_entry_answers_only_for_the_snapshot_it_was_validated_at() {
        let cache = KeyCache::default();
        let now = Utc::now();
        let (old, new) = (snapshot("w", 3), snapshot("w", 4));
        cache.insert([1; 32], key("w", None), &old);
        let at = |s: &Arc<Snapshot>, at_least| cache.get(&[1; 32], |_| Some(Arc::clone(s)), at_least, now);
        assert!(at(&old, None).is_some());
        assert!(at(&old, Some(3)).is_some());
        // A newer snapshot (any change, a revocation among them) voids it.
        assert!(at(&new, None).is_none());
        // So does asking for a revision this replica has not installed yet.
        assert!(at(&old, Some(4)).is_none());
        // So does a recompile of the same revision (a reload after `forget`).
        assert!(at(&snapshot("w", 3), None).is_none());
        // And a workspace no longer loaded.
        assert!(cache.get(&[1; 32], |_| None, None, now).is_none());
        assert!(cache.get(&[2; 32], |_| Some(Arc::clone(&old)), None, now).is_none());
    }

    #[test]
    fn an_entry_never_outlives_the_key() {
        let cache = KeyCache::default();
        let now = Utc::now();
        let s = snapshot("w", 1);
        cache.insert([1; 32], key("w", Some(now + chrono::Duration::seconds(1))), &s);
        assert!(cache.get(&[1; 32], |_| Some(Arc::clone(&s)), None, now).is_some());
        let later = now + chrono::Duration::seconds(1);
        assert!(cache.get(&[1; 32], |_| Some(Arc::clone(&s)), None, later).is_none());
        // Another workspace's snapshot is never a key's validation.
        cache.insert([3; 32], key("w", None), &snapshot("x", 1));
        assert!(cache.get(&[3; 32], |_| Some(Arc::clone(&s)), None, now).is_none());
    }
}
