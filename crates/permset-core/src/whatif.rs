//! What-if, first slice: who gains or loses what between two snapshots.
//!
//! [`access_changes`] compares every user's effective permission table
//! ([`Snapshot::effective_permissions`]) on an old and a new snapshot of a
//! workspace and lists the permissions whose access differs: gained, lost,
//! or with other limits (`customers_view` from `own` to `all`). A user or a
//! permission present in only one snapshot counts as having no access in
//! the other. The what-if endpoint and `permset simulate` show this next to
//! the plan of the change.
//!
//! [`flips`] replays decisions (the server's decision sample) on both
//! snapshots and groups those whose answer differs (part 3).
//!
//! [`view_changes`] finds, for record visibility (part 4 of what-if), every
//! (user, object) whose view predicate differs between the two snapshots:
//! the store counts the records each would gain or lose sight of with the
//! two predicates in SQL. Comparing predicates rather than access texts
//! also catches what the texts hide: an access rule whose condition was
//! rewritten (`rule:premium` on both sides), a user moved to another team
//! (`team` on both sides), a changed attribute a condition reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::condition::Expr;
use crate::decide::Request;
use crate::permissions::EffectivePermission;
use crate::snapshot::{RoleIdx, Snapshot};

/// How a user's access to one permission moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessDelta {
    /// No access before, some after.
    Gained,
    /// Some access before, none after.
    Lost,
    /// Access on both sides, with other limits.
    Changed,
}

/// One permission of one user whose effective access differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAccessChange {
    /// The user key.
    pub user: String,
    /// The permission (`customers_view`).
    pub permission: String,
    /// Gained, lost or changed.
    pub change: AccessDelta,
    /// The access before (`all`, `own | team`), or none.
    pub before: Option<String>,
    /// The access after, or none.
    pub after: Option<String>,
}

/// The access text of a row, `None` for no access.
fn granted(access: Option<&str>) -> Option<&str> {
    access.filter(|a| *a != "none")
}

/// Every (user, permission) whose effective access at `now` differs between
/// `old` and `new`, ordered by user key then permission name.
///
/// A user's effective table depends only on whether they are an account
/// owner and on their roles in force, in order; thousands of users share a
/// few hundred such combinations. So each side's table is built once per
/// combination, and the difference once per (old, new) pair of them: a role
/// edit on 10,000 users costs a few hundred tables, not 20,000.
pub fn access_changes(old: &Snapshot, new: &Snapshot, now: DateTime<Utc>) -> Vec<UserAccessChange> {
    let users: BTreeSet<&str> =
        old.model().users.keys().chain(new.model().users.keys()).map(String::as_str).collect();
    let unchanged = Unchanged::between(old, new);
    let (mut before_tables, mut after_tables) = (Tables::default(), Tables::default());
    let mut diffs: HashMap<(usize, usize), Vec<UserAccessChange>> = HashMap::new();
    let mut out = Vec::new();
    for user in users {
        if unchanged.table_of(old, new, user, now) {
            continue;
        }
        let before = before_tables.of(old, user, now);
        let after = after_tables.of(new, user, now);
        let rows = diffs.entry((before, after)).or_insert_with(|| {
            let empty = Vec::new();
            let (b, a) = (
                before_tables.rows.get(before).unwrap_or(&empty),
                after_tables.rows.get(after).unwrap_or(&empty),
            );
            compare(old, new, b, a)
        });
        out.extend(rows.iter().map(|row| UserAccessChange { user: user.to_owned(), ..row.clone() }));
    }
    out
}

/// What a change left alone, to skip the users it cannot have touched: a
/// user's effective table is a function of the account-owner flag, the
/// roles in force (in order) and their definitions, and the schema, access
/// rules and settings. When none of those moved, the table did not either,
/// and building it twice (most of a simulation's time on a large
/// workspace) is skipped. The brute-force tests of `tests/whatif.rs` hold
/// this shortcut to the full comparison.
struct Unchanged {
    /// Schema, access rules and settings are equal on both sides.
    context: bool,
    /// Custom roles defined differently (or on one side only).
    roles: BTreeSet<String>,
}

impl Unchanged {
    fn between(old: &Snapshot, new: &Snapshot) -> Self {
        let (a, b) = (old.model(), new.model());
        let context = a.schema == b.schema && a.access_rules == b.access_rules && a.settings == b.settings;
        let roles = a
            .roles
            .keys()
            .chain(b.roles.keys())
            .filter(|name| a.roles.get(*name) != b.roles.get(*name))
            .cloned()
            .collect();
        Unchanged { context, roles }
    }

    /// Whether `user`'s effective table is certainly the same on both sides.
    fn table_of(&self, old: &Snapshot, new: &Snapshot, user: &str, now: DateTime<Utc>) -> bool {
        if !self.context {
            return false;
        }
        let (Some(before), Some(after)) = (old.user(user), new.user(user)) else { return false };
        if before.account_owner != after.account_owner {
            return false;
        }
        let (held_before, held_after) = (old.active_roles(before, now), new.active_roles(after, now));
        held_before.len() == held_after.len()
            && held_before.iter().zip(&held_after).all(|((r, _), (s, _))| {
                match (old.role_at(*r), new.role_at(*s)) {
                    (Some(x), Some(y)) => x.key == y.key && !self.roles.contains(&x.key),
                    _ => false,
                }
            })
    }
}

/// One side's distinct effective tables, by (account owner, roles in force).
#[derive(Default)]
struct Tables {
    ids: HashMap<Option<(bool, Vec<RoleIdx>)>, usize>,
    rows: Vec<Vec<EffectivePermission>>,
}

impl Tables {
    /// The position of `user`'s table on `snapshot`, built on first sight.
    fn of(&mut self, snapshot: &Snapshot, user: &str, now: DateTime<Utc>) -> usize {
        let key = snapshot
            .user(user)
            .map(|u| (u.account_owner, snapshot.active_roles(u, now).into_iter().map(|(r, _)| r).collect()));
        if let Some(&at) = self.ids.get(&key) {
            return at;
        }
        self.rows.push(snapshot.effective_permissions(user, now));
        self.ids.insert(key, self.rows.len() - 1);
        self.rows.len() - 1
    }
}

/// The permissions whose access differs between two effective tables
/// (`user` left empty), ordered by permission name.
fn compare(
    old: &Snapshot,
    new: &Snapshot,
    before: &[EffectivePermission],
    after: &[EffectivePermission],
) -> Vec<UserAccessChange> {
    let mut out = Vec::new();
    let user = "";
    // The rows of `effective_permissions` are in permission-id order.
    for row in before {
        let then = granted(Some(&row.access));
        let id = new.perm_ids.get(&row.permission).map(|&id| id as usize);
        let now_access = granted(id.and_then(|i| after.get(i)).map(|r| r.access.as_str()));
        push(&mut out, user, &row.permission, then, now_access);
    }
    for row in after {
        // Rows the loop above saw are done; the rest had no access before
        // (a new user, or a permission the old snapshot lacks).
        if !before.is_empty() && old.perm_ids.contains_key(&row.permission) {
            continue;
        }
        push(&mut out, user, &row.permission, None, granted(Some(&row.access)));
    }
    out.sort_by(|a, b| a.permission.cmp(&b.permission));
    out
}

fn push(
    out: &mut Vec<UserAccessChange>,
    user: &str,
    permission: &str,
    before: Option<&str>,
    after: Option<&str>,
) {
    let change = match (before, after) {
        (None, None) => return,
        (Some(a), Some(b)) if a == b => return,
        (None, Some(_)) => AccessDelta::Gained,
        (Some(_), None) => AccessDelta::Lost,
        (Some(_), Some(_)) => AccessDelta::Changed,
    };
    out.push(UserAccessChange {
        user: user.to_owned(),
        permission: permission.to_owned(),
        change,
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
    });
}

/// One user's view of one object, before and after a change.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewChange {
    /// The user key.
    pub user: String,
    /// The object (`customers`).
    pub object: String,
    /// The records the user views on the old snapshot ([`Snapshot::view_predicate`]).
    pub before: Expr,
    /// The records the user would view on the new one.
    pub after: Expr,
}

/// Every (user, object) whose view predicate at `now` differs between `old`
/// and `new` (objects of either schema, users of either model; a side that
/// lacks the user or the object views nothing), ordered by user then object.
/// Unscoped: a key limited to a role is not a user.
pub fn view_changes(old: &Snapshot, new: &Snapshot, now: DateTime<Utc>) -> Vec<ViewChange> {
    let users: BTreeSet<&str> =
        old.model().users.keys().chain(new.model().users.keys()).map(String::as_str).collect();
    let objects: BTreeSet<&str> =
        old.schema().objects.keys().chain(new.schema().objects.keys()).map(String::as_str).collect();
    let mut out = Vec::new();
    for user in users {
        for &object in &objects {
            let before = old.view_predicate(user, object, now);
            let after = new.view_predicate(user, object, now);
            if before != after {
                out.push(ViewChange { user: user.to_owned(), object: object.to_owned(), before, after });
            }
        }
    }
    out
}

/// Replayed decisions of one user and permission whose answer flips one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlipGroup {
    /// The user key, as the decision named it.
    pub user: String,
    /// The permission, as the decision named it.
    pub permission: String,
    /// Whether the old snapshot allowed them (so the new one denies).
    pub was_allowed: bool,
    /// How many decisions flip.
    pub count: u64,
    /// The positions in the sample of the first `examples` of them.
    pub examples: Vec<usize>,
}

/// Every decision of `sample` decided on `old` and on `new`; those whose
/// answer differs, grouped by (user, permission, direction) in that order,
/// with a count and the positions of the first `examples` of each group
/// (in sample order: newest first when the sample is).
pub fn flips(old: &Snapshot, new: &Snapshot, sample: &[Request<'_>], examples: usize) -> Vec<FlipGroup> {
    let mut groups: BTreeMap<(&str, &str, bool), (u64, Vec<usize>)> = BTreeMap::new();
    for (at, request) in sample.iter().enumerate() {
        let was = old.check(request).is_allowed();
        if new.check(request).is_allowed() == was {
            continue;
        }
        let group = groups.entry((request.user, request.permission, was)).or_default();
        group.0 += 1;
        if group.1.len() < examples {
            group.1.push(at);
        }
    }
    groups
        .into_iter()
        .map(|((user, permission, was_allowed), (count, examples))| FlipGroup {
            user: user.to_owned(),
            permission: permission.to_owned(),
            was_allowed,
            count,
            examples,
        })
        .collect()
}
