//! Usage counting (issue 9): every decision the server makes is counted in
//! memory per (workspace, hour, user, permission, grant, answer) and flushed
//! to the store in batches every few seconds, at shutdown, and on demand
//! (`POST /usage/flush`). An allow is credited to the grant that decided it
//! ([`Snapshot::deciding_grant`]), asked only after the decision, so the
//! check itself does no extra work. A crash loses at most the counters of
//! one flush interval; a flush that fails puts its counters back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use permset_core::{Request, Snapshot};
use permset_store::{Store, UsageCount};

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

/// One counter's key. Deny keys have empty role, access and via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    workspace: String,
    hour: DateTime<Utc>,
    user: String,
    permission: String,
    role: String,
    access: String,
    via: String,
    allowed: bool,
}

/// A decision to count: the key's parts, computed outside the lock.
pub(crate) struct Counted(Key, DateTime<Utc>);

/// The in-memory counters.
#[derive(Default)]
pub(crate) struct Counters {
    map: Mutex<HashMap<Key, (u64, DateTime<Utc>)>>,
}

/// The counter key of a decision made now: the deciding grant for an allow.
pub(crate) fn counted(workspace: &str, snapshot: &Snapshot, request: &Request<'_>, allowed: bool) -> Counted {
    let now = Utc::now();
    let hour = now.duration_trunc(chrono::Duration::hours(1)).unwrap_or(now);
    let permission = canonical(snapshot, request.permission);
    // A record route knows the record only as returned (redacted): when the
    // fields a limit reads are hidden, credit the grant of the module-level question.
    let grant = allowed
        .then(|| {
            snapshot
                .deciding_grant(request)
                .or_else(|| snapshot.deciding_grant(&Request { record: None, before: None, ..*request }))
        })
        .flatten();
    let (role, access, via) = match grant {
        Some(grant) => {
            let via = match (&grant.role, grant.team) {
                (None, _) => "owner".to_owned(),
                (Some(_), Some(team)) => format!("team:{team}"),
                (Some(_), None) => "direct".to_owned(),
            };
            (grant.role.unwrap_or_default(), grant.access, via)
        }
        // An allow no grant explains cannot happen (the check and the walk
        // agree); count it rather than lose it.
        None if allowed => (String::new(), String::new(), "unattributed".to_owned()),
        None => (String::new(), String::new(), String::new()),
    };
    let key = Key {
        workspace: workspace.to_owned(),
        hour,
        user: request.user.to_owned(),
        permission,
        role,
        access,
        via,
        allowed,
    };
    Counted(key, now)
}

/// The canonical permission name (`customers_edit` is counted as `customers_update`).
fn canonical(snapshot: &Snapshot, permission: &str) -> String {
    snapshot.canonical_permission(permission).unwrap_or(permission).to_owned()
}

impl Counters {
    /// Adds decisions (one lock for all of them).
    pub(crate) fn add(&self, decisions: impl IntoIterator<Item = Counted>) {
        let mut map = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for Counted(key, at) in decisions {
            let entry = map.entry(key).or_insert((0, at));
            entry.0 += 1;
            entry.1 = entry.1.max(at);
        }
    }

    fn take(&self) -> HashMap<Key, (u64, DateTime<Utc>)> {
        std::mem::take(&mut *self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Writes the counters to the store and applies retention. On failure
    /// the counters are put back, to be written by the next flush.
    pub(crate) async fn flush(
        &self,
        store: &Store,
        settings: &UsageSettings,
    ) -> Result<(), permset_store::StoreError> {
        let taken = self.take();
        let rows: Vec<UsageCount> = taken
            .iter()
            .map(|(k, &(uses, last_at))| UsageCount {
                workspace: k.workspace.clone(),
                hour: k.hour,
                user: k.user.clone(),
                permission: k.permission.clone(),
                role: k.role.clone(),
                access: k.access.clone(),
                via: k.via.clone(),
                allowed: k.allowed,
                uses,
                last_at,
            })
            .collect();
        if let Err(error) = store.add_usage(&rows).await {
            let mut map = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (key, (uses, at)) in taken {
                let entry = map.entry(key).or_insert((0, at));
                entry.0 += uses;
                entry.1 = entry.1.max(at);
            }
            return Err(error);
        }
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(settings.retention_days));
        store.prune_usage(cutoff).await?;
        store.prune_decisions(cutoff).await?;
        Ok(())
    }
}
