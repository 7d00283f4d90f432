//! Precomputed role sets: the roles a user holds, with two bitsets over
//! permission ids — which permissions the set grants with `all`, and which
//! with any access. A role-level decision is then two bit tests, and a
//! record-level one only walks the roles when the answer depends on limits.
//!
//! Users with the same roles share one set, so a workspace of a million
//! users holds as many sets as it has distinct role combinations.

use crate::snapshot::{CompiledAccess, PermId, RoleIdx};

/// Which permissions a role (or a set of roles) grants: per word of 64
/// permission ids, `[all, any]` side by side, so a role-level answer reads
/// one cache line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Grants {
    words: Box<[[u64; 2]]>,
}

const ALL: usize = 0;
const ANY: usize = 1;

impl Grants {
    /// The grants of one role's dense table.
    pub(crate) fn of_table(table: &[CompiledAccess]) -> Self {
        let mut words = vec![[0u64; 2]; table.len().div_ceil(64)];
        for (perm, access) in table.iter().enumerate() {
            let (word, mask) = (perm / 64, 1u64 << (perm % 64));
            let Some([all, any]) = words.get_mut(word) else { continue };
            match access {
                CompiledAccess::All => {
                    *all |= mask;
                    *any |= mask;
                }
                CompiledAccess::Limited(_) => *any |= mask,
                CompiledAccess::None => {}
            }
        }
        Grants { words: words.into_boxed_slice() }
    }

    /// The union of several roles' grants (rule 4: additive).
    pub(crate) fn union<'a>(words: usize, parts: impl IntoIterator<Item = &'a Grants>) -> Self {
        let mut out = vec![[0u64; 2]; words];
        for part in parts {
            for (dst, src) in out.iter_mut().zip(part.words.iter()) {
                dst[ALL] |= src[ALL];
                dst[ANY] |= src[ANY];
            }
        }
        Grants { words: out.into_boxed_slice() }
    }

    /// The `[all, any]` bits of `perm`.
    #[inline]
    fn bits(&self, perm: PermId) -> (bool, bool) {
        let mask = 1u64 << (perm % 64);
        self.words
            .get(perm as usize / 64)
            .map_or((false, false), |[all, any]| (all & mask != 0, any & mask != 0))
    }

    /// Some role grants `perm` with `all`.
    #[inline]
    pub(crate) fn all(&self, perm: PermId) -> bool {
        self.bits(perm).0
    }

    /// Some role grants `perm` with any access.
    #[inline]
    pub(crate) fn any(&self, perm: PermId) -> bool {
        self.bits(perm).1
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
    /// Whether the precomputed role set is exact at every time (no expiring assignment).
    #[inline]
    pub(crate) fn always(&self) -> bool {
        self.from == i64::MIN && self.until == i64::MAX
    }

    /// Whether the precomputed role set is exact at `now`. Most users have no
    /// expiring assignment, so the time is only converted when there is a window.
    #[inline]
    pub(crate) fn covers(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        if self.always() {
            return true;
        }
        let at = now.timestamp_micros();
        self.from <= at && at < self.until
    }
}
