//! Precomputed role sets: the roles a user holds, with two bitsets over
//! permission ids — which permissions the set grants with `all`, and which
//! with any access. A role-level decision is then two bit tests, and a
//! record-level one only walks the roles when the answer depends on limits.
//!
//! Users with the same roles share one set, so a workspace of a million
//! users holds as many sets as it has distinct role combinations.

use crate::snapshot::{CompiledAccess, PermId, RoleIdx};

/// Which permissions a role (or a set of roles) grants.
#[derive(Debug, Clone, Default)]
pub(crate) struct Grants {
    all: Box<[u64]>,
    any: Box<[u64]>,
}

fn bit(words: &[u64], perm: PermId) -> bool {
    words.get(perm as usize / 64).is_some_and(|w| w & (1 << (perm % 64)) != 0)
}

impl Grants {
    /// The grants of one role's dense table.
    pub(crate) fn of_table(table: &[CompiledAccess]) -> Self {
        let words = table.len().div_ceil(64);
        let (mut all, mut any) = (vec![0u64; words], vec![0u64; words]);
        for (perm, access) in table.iter().enumerate() {
            let (word, mask) = (perm / 64, 1u64 << (perm % 64));
            let (Some(a), Some(b)) = (all.get_mut(word), any.get_mut(word)) else { continue };
            match access {
                CompiledAccess::All => {
                    *a |= mask;
                    *b |= mask;
                }
                CompiledAccess::Limited(_) => *b |= mask,
                CompiledAccess::None => {}
            }
        }
        Grants { all: all.into_boxed_slice(), any: any.into_boxed_slice() }
    }

    /// The union of several roles' grants (rule 4: additive).
    pub(crate) fn union<'a>(words: usize, parts: impl IntoIterator<Item = &'a Grants>) -> Self {
        let (mut all, mut any) = (vec![0u64; words], vec![0u64; words]);
        for part in parts {
            for (dst, src) in all.iter_mut().zip(part.all.iter()) {
                *dst |= src;
            }
            for (dst, src) in any.iter_mut().zip(part.any.iter()) {
                *dst |= src;
            }
        }
        Grants { all: all.into_boxed_slice(), any: any.into_boxed_slice() }
    }

    /// Some role grants `perm` with `all`.
    pub(crate) fn all(&self, perm: PermId) -> bool {
        bit(&self.all, perm)
    }

    /// Some role grants `perm` with any access.
    pub(crate) fn any(&self, perm: PermId) -> bool {
        bit(&self.any, perm)
    }
}

/// The roles in force for some users, and what they grant together.
#[derive(Debug, Clone)]
pub(crate) struct RoleSet {
    pub(crate) roles: Box<[RoleIdx]>,
    pub(crate) grants: Grants,
}

/// The hot part of a user: what a decision reads before it needs the record.
/// `[from, until)` (microseconds since the epoch) is the time window in which
/// the precomputed `role_set` is exact; outside it, decisions re-read the
/// assignments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserHot {
    pub(crate) account_owner: bool,
    pub(crate) role_set: u32,
    pub(crate) from: i64,
    pub(crate) until: i64,
}

impl UserHot {
    /// Whether the precomputed role set is exact at `now`. Most users have no
    /// expiring assignment, so the time is only converted when there is a window.
    pub(crate) fn covers(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        if self.from == i64::MIN && self.until == i64::MAX {
            return true;
        }
        let at = now.timestamp_micros();
        self.from <= at && at < self.until
    }
}
