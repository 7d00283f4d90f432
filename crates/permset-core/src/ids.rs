//! Pre-resolved handles: a [`UserId`] and a [`PermId`] are a user key and a
//! permission name looked up once in a snapshot, so a caller deciding many
//! requests (a request handler caching them per snapshot, a batch) pays for
//! the two name lookups once and [`Snapshot::check_ids`] is a few loads and
//! two bit tests.
//!
//! A handle also carries what a role-level check needs, taken from the
//! snapshot when it was made: a [`UserId`] the user's precomputed role set
//! (or that the user is an account owner), a [`PermId`] the `view`
//! permission rule 6 puts under it. A role-level [`Snapshot::check_ids`] is
//! then two stamp compares and the bit tests on one role set.
//!
//! A handle is only valid for the snapshot that made it. Each compiled
//! snapshot gets a process-unique generation at compile time, and every
//! handle carries it; a handle presented to any other snapshot (an older
//! one, a newer one after a recompile, another workspace's) is denied. Users
//! are indexed by position, so without the stamp a handle kept across a
//! recompile that added or removed a user would answer for somebody else.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::decide::{role_level, Decision};
use crate::snapshot::{PermId as PermIdx, Snapshot};
use crate::Record;

/// The next generation handed to a compiled snapshot. Starts at 1 so that a
/// zeroed stamp never matches.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A fresh, process-unique snapshot generation.
pub(crate) fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// `UserId::fast` of an account owner.
const OWNER: u32 = u32::MAX;
/// `UserId::fast` of a user whose role set depends on the time (an expiring assignment).
const BY_TIME: u32 = u32::MAX - 1;
/// `PermId::view` of a permission that needs no view under it.
const NO_VIEW: u32 = u32::MAX;

/// A user of one snapshot, from [`Snapshot::user_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId {
    index: u32,
    /// The user's role set at any time, or [`OWNER`], or [`BY_TIME`].
    fast: u32,
    generation: u64,
}

/// A permission of one snapshot (aliases resolved), from [`Snapshot::perm_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PermId {
    index: PermIdx,
    /// The `view` permission a role-level check also needs (rule 6), or [`NO_VIEW`].
    view: PermIdx,
    generation: u64,
}

impl UserId {
    /// The user's position in the snapshot that made the handle.
    pub(crate) fn index(self) -> u32 {
        self.index
    }

    /// Whether the user's roles in force are the same at every time (no
    /// expiring assignment), or the user is an account owner: then which
    /// grant decides a role-level question does not depend on when it is asked.
    pub(crate) fn timeless(self) -> bool {
        self.fast != BY_TIME
    }
}

impl PermId {
    /// The permission's position in the snapshot that made the handle.
    pub(crate) fn index(self) -> PermIdx {
        self.index
    }
}

impl Snapshot {
    /// Whether a handle was made by this snapshot.
    pub(crate) fn issued(&self, user: UserId, perm: PermId) -> bool {
        user.generation == self.generation && perm.generation == self.generation
    }

    /// The handle of a user key, valid for this snapshot only.
    pub fn user_id(&self, user: &str) -> Option<UserId> {
        let index = *self.user_ids.get(user)?;
        let hot = self.hot.get(index as usize)?;
        let fast = match hot.role_set {
            _ if hot.account_owner => OWNER,
            set if hot.always() && set < BY_TIME => set,
            _ => BY_TIME,
        };
        Some(UserId { index, fast, generation: self.generation })
    }

    /// The handle of a permission name (`edit`/`add` aliases accepted),
    /// valid for this snapshot only.
    pub fn perm_id(&self, permission: &str) -> Option<PermId> {
        let index = *self.perm_ids.get(permission)?;
        let view = self.perm(index)?.needs_view.unwrap_or(NO_VIEW);
        Some(PermId { index, view, generation: self.generation })
    }

    /// [`Snapshot::check`] for pre-resolved handles: the same decision as
    /// `check` with the names they were made from. A handle made by another
    /// snapshot is denied.
    pub fn check_ids(
        &self,
        user: UserId,
        perm: PermId,
        record: Option<&Record>,
        before: Option<&Record>,
        now: DateTime<Utc>,
    ) -> Decision {
        // INVARIANT: an index is only meaningful in the snapshot that issued it.
        if !self.issued(user, perm) {
            return Decision::DENY;
        }
        // Role-level: everything needed is in the handles (valid: same generation).
        if record.is_none() {
            match user.fast {
                OWNER => return Decision::ALLOW,
                BY_TIME => {}
                set => {
                    if let Some(set) = self.role_sets.get(set as usize) {
                        return role_level(set, perm.index, (perm.view != NO_VIEW).then_some(perm.view));
                    }
                }
            }
        }
        self.decide_indices(user.index, perm.index, record, before, now)
    }
}
