//! Usage attribution (issue 9): which grant decided an allow. The server
//! counts every decision it makes and credits each allow to one grant, so
//! that a usage report can say which grants are used and which nobody has
//! exercised.
//!
//! Two forms of one answer. [`Snapshot::deciding_grant`] spells the grant
//! out by walking the user's assignments like [`Snapshot::explain`] does
//! (allocating, off the hot path: the reference). [`Snapshot::usage_key`]
//! is what a server counts with on every decision: the same walk over the
//! same assignments in the same order, but it allocates nothing and yields
//! a [`UsageKey`] of the snapshot's interned positions (user, permission,
//! role, team, limit) that [`Snapshot::usage_names`] turns into names when
//! the counters are written. A role-level allow of a user whose roles do
//! not depend on the time is not walked at all when counted: its key says
//! so ([`Credit::Module`]), and the walk is done once per key when it is
//! named, not once per decision. The decision itself cannot name the grant:
//! `check` answers from the role set's bitsets, which say *that* some role
//! allows, not which one comes first in assignment order.

use serde::Serialize;

use chrono::{DateTime, Utc};

use crate::decide::Request;
use crate::explain::Assigned;
use crate::ids::{PermId as PermHandle, UserId};
use crate::snapshot::{CompiledAccess, CompiledUser, PermId, RoleIdx, Snapshot, Via};
use crate::Record;

/// The grant credited with an allow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GrantUse {
    /// The role whose grant matched; `None` for an account owner (rule 2).
    pub role: Option<String>,
    /// The grant's access as [`RoleGrant::access`](crate::RoleGrant::access)
    /// spells it (`all`, `own`, `rule:premium`, …); for a module-level
    /// question on a limited grant, the limits joined with ` | `. `all` for
    /// an account owner.
    pub access: String,
    /// How the role is held: `None` directly (or as account owner),
    /// `Some(team)` through that team.
    pub team: Option<String>,
}

/// A decision to count, in the interned positions of the snapshot that
/// made it: the user, the permission (aliases resolved to one id) and what
/// decided it. `Copy` and hashable, built without allocating, so a server
/// can count every decision in a map keyed by it.
///
/// INVARIANT: a key is only meaningful in the snapshot that issued it (the
/// positions move when users or roles are added); like the handles of
/// `ids.rs` it carries the snapshot's generation, and
/// [`Snapshot::usage_names`] refuses a key of any other snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsageKey {
    generation: u64,
    user: u32,
    perm: PermId,
    credit: Credit,
}

/// What a counted decision is credited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Credit {
    /// A deny: credited to nobody.
    Deny,
    /// An account owner's allow (rule 2).
    Owner,
    /// An allow of this role, held directly (`team: None`) or via a team.
    Grant { role: RoleIdx, team: Option<u32>, access: Matched },
    /// A role-level allow of a user whose roles in force are the same at
    /// every time: the grant is the module-level walk's at any time, so it
    /// is worked out when the key is named rather than on every decision.
    Module,
    /// An allow no grant explains (cannot happen while `check` and the walk
    /// agree; counted rather than lost).
    Unattributed,
}

/// Which part of the role's grant matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Matched {
    /// The grant is `all`.
    All,
    /// This limit (its position in the grant) matched the record.
    Limit(u32),
    /// A module-level question on a limited grant: all its limits.
    AnyLimit,
}

/// A [`UsageKey`] spelled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageNames<'a> {
    /// The user key.
    pub user: &'a str,
    /// The canonical permission name.
    pub permission: &'a str,
    /// Whether the decision allowed.
    pub allowed: bool,
    /// For an allow, the grant credited, as [`Snapshot::deciding_grant`]
    /// gives it; `None` for a deny, or for an allow no grant explains.
    pub grant: Option<GrantUse>,
}

impl Snapshot {
    /// The canonical name of a permission (`customers_update` for
    /// `customers_edit`); `None` when unknown.
    pub fn canonical_permission(&self, name: &str) -> Option<&str> {
        let id = self.perm_ids.get(name).copied()?;
        self.perm(id).map(|info| info.name.as_str())
    }

    /// The grant that decided an allow of `request`: the first role in force
    /// (in assignment order) whose grant of the request's own permission
    /// matches the record (or, without a record, any grant of it). `None`
    /// when the request is not allowed by any grant of the user (an unknown
    /// user or permission, or a deny). Rule 6's underlying `view` is not
    /// credited: the usage is of the permission asked.
    pub fn deciding_grant(&self, request: &Request<'_>) -> Option<GrantUse> {
        let user = self.user(request.user)?;
        let perm = self.perm_ids.get(request.permission).copied()?;
        let (req_perm, on, record) = self.requirements(perm, request).into_iter().next()?;
        let active = self.active_roles(user, request.now);
        let step = self.first_match(user, req_perm, on, record, &active)?;
        let team = match step.assigned {
            Some(Assigned::ViaTeam { team }) => Some(team),
            Some(Assigned::Directly) | None => None,
        };
        let access = match step.role {
            // A limited module-level step spells all its limits; keep that text.
            Some(_) => step.access,
            None => "all".to_owned(),
        };
        Some(GrantUse { role: step.role, access, team })
    }
    /// The key a decision of `request` is counted under, `allowed` being
    /// the decision's answer: for an allow, the grant [`deciding_grant`]
    /// would credit, or when that finds none (a record route knows the
    /// record only as returned, and a limit may read a field hidden from
    /// the user) the grant of the module-level question. `None` when the
    /// user or the permission is unknown: that is an input error, not a
    /// decision. Allocates nothing.
    ///
    /// [`deciding_grant`]: Snapshot::deciding_grant
    pub fn usage_key(&self, request: &Request<'_>, allowed: bool) -> Option<UsageKey> {
        let user = self.user_id(request.user)?;
        let perm = self.perm_id(request.permission)?;
        self.usage_key_ids(user, perm, request.record, request.now, allowed)
    }

    /// [`Snapshot::usage_key`] for pre-resolved handles (the server counts
    /// what it resolved and decided on). `None` for another snapshot's handles.
    pub fn usage_key_ids(
        &self,
        user: UserId,
        perm: PermHandle,
        record: Option<&Record>,
        now: DateTime<Utc>,
        allowed: bool,
    ) -> Option<UsageKey> {
        if !self.issued(user, perm) {
            return None;
        }
        let index = user.index();
        let compiled = self.users.get(index as usize)?;
        let perm_index = perm.index();
        // Only an object's permission is decided on a record (as in `requirements`).
        let record = record.filter(|_| self.perm(perm_index).is_some_and(|p| p.is_object));
        let credit = match (allowed, record) {
            (false, _) => Credit::Deny,
            (true, None) if user.timeless() => Credit::Module,
            (true, _) => self
                .credit(compiled, perm_index, record, now)
                .or_else(|| self.credit(compiled, perm_index, None, now))
                .unwrap_or(Credit::Unattributed),
        };
        Some(UsageKey { generation: self.generation, user: index, perm: perm_index, credit })
    }

    /// The names of a key this snapshot issued; `None` for another snapshot's.
    pub fn usage_names(&self, key: &UsageKey) -> Option<UsageNames<'_>> {
        if key.generation != self.generation {
            return None;
        }
        let compiled_user = self.users.get(key.user as usize)?;
        let user = self.user_key(compiled_user);
        let permission = self.perm(key.perm)?.name.as_str();
        let credit = match key.credit {
            // The user's roles are the same at every time: any time walks them.
            Credit::Module => self
                .credit(compiled_user, key.perm, None, DateTime::UNIX_EPOCH)
                .unwrap_or(Credit::Unattributed),
            credit => credit,
        };
        let (allowed, grant) = match credit {
            Credit::Deny => (false, None),
            Credit::Unattributed => (true, None),
            Credit::Owner => (true, Some(GrantUse { role: None, access: "all".to_owned(), team: None })),
            Credit::Grant { role, team, access } => {
                let compiled = self.role_at(role)?;
                let access = match (access, compiled.table.get(key.perm as usize)?) {
                    (Matched::All, _) => "all".to_owned(),
                    (Matched::Limit(i), CompiledAccess::Limited(limits)) => {
                        limits.get(i as usize)?.1.to_string()
                    }
                    (Matched::AnyLimit, CompiledAccess::Limited(limits)) => {
                        let written: Vec<String> = limits.iter().map(|(_, l)| l.to_string()).collect();
                        written.join(" | ")
                    }
                    _ => return None,
                };
                let team = team.map(|t| self.team_key(t).to_owned());
                (true, Some(GrantUse { role: Some(compiled.key.clone()), access, team }))
            }
            // `credit` walks to a grant, never to another deferred key.
            Credit::Module => return None,
        };
        Some(UsageNames { user, permission, allowed, grant })
    }

    /// [`Snapshot::deciding_grant`]'s walk without its allocations: the
    /// first assignment in force (direct ones first, then by team, as
    /// `active_roles` orders them) whose role grants `perm` with `all`, or
    /// with a limit matching the record; without a record, `all` anywhere
    /// beats the first limited grant. A role held twice is met first through
    /// its first assignment in force, which is the one explain names.
    /// `record` is given only for an object's permission (as in `requirements`).
    fn credit(
        &self,
        user: &CompiledUser,
        perm: PermId,
        record: Option<&Record>,
        now: DateTime<Utc>,
    ) -> Option<Credit> {
        if user.account_owner {
            return Some(Credit::Owner);
        }
        let ctx = self.user_context(user);
        self.with_role_set(user.index, now, |set| {
            let mut limited = None;
            for a in self.assignments_of(user) {
                let in_force = a.expires_at.is_none_or(|at| now < at) && set.roles.contains(&a.role);
                if !in_force {
                    continue;
                }
                let team = match a.via {
                    Via::Direct => None,
                    Via::Team(t) => Some(t),
                };
                let grant = |access| Credit::Grant { role: a.role, team, access };
                match (self.role_at(a.role).and_then(|r| r.table.get(perm as usize)), record) {
                    (Some(CompiledAccess::All), _) => return Some(grant(Matched::All)),
                    (Some(CompiledAccess::Limited(_)), None) => {
                        limited = limited.or(Some(grant(Matched::AnyLimit)));
                    }
                    (Some(CompiledAccess::Limited(limits)), Some(rec)) => {
                        if let Some(i) = limits.iter().position(|(limit, _)| limit.matches(rec, &ctx)) {
                            return Some(grant(Matched::Limit(i as u32)));
                        }
                    }
                    _ => {}
                }
            }
            limited
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use crate::{load_workspace_file, GrantUse, Record, Request, Snapshot};

    const YAML: &str = "workspace: w\n\
        users: { ann: {}, bob: { teams: [desk] }, own: { account_owner: true }, eve: {} }\n\
        teams: { desk: {} }\n\
        roles:\n  viewer:\n    grants:\n      teams_view: all\n  \
        limited:\n    grants:\n      customers_view: [own, team]\n  \
        wide:\n    grants:\n      customers_view: all\n\
        assignments:\n  users: { ann: [limited, wide], bob: [viewer] }\n  teams: { desk: [wide] }\n";

    fn use_of(role: Option<&str>, access: &str, team: Option<&str>) -> Option<GrantUse> {
        Some(GrantUse { role: role.map(Into::into), access: access.into(), team: team.map(Into::into) })
    }

    #[test]
    fn the_first_matching_grant_is_credited() {
        let (model, _) = load_workspace_file(YAML).unwrap();
        let s = Snapshot::compile(&model).unwrap();
        let now = Utc::now();
        let mine: Record = json!({ "id": "c1", "assignee": "ann" }).as_object().unwrap().clone();
        let other: Record = json!({ "id": "c2", "assignee": "zed" }).as_object().unwrap().clone();
        let ask = |user, rec: Option<&Record>| {
            let mut r = Request::new(user, "customers_view", now);
            r.record = rec;
            s.deciding_grant(&r)
        };
        // ann: `limited` comes first and matches her own record; another's falls through to `wide`.
        assert_eq!(ask("ann", Some(&mine)), use_of(Some("limited"), "own", None));
        assert_eq!(ask("ann", Some(&other)), use_of(Some("wide"), "all", None));
        // Module level: `wide` gives all, which beats a limited grant met first.
        assert_eq!(ask("ann", None), use_of(Some("wide"), "all", None));
        // bob holds `wide` through his team (he has teams_view directly).
        assert_eq!(ask("bob", Some(&other)), use_of(Some("wide"), "all", Some("desk")));
        assert_eq!(ask("own", None), use_of(None, "all", None));
        // Denies and unknown names are credited to nobody.
        assert_eq!(ask("eve", None), None);
        assert_eq!(ask("nobody", None), None);
        assert_eq!(s.deciding_grant(&Request::new("ann", "customers_fly", now)), None);
        assert_eq!(s.canonical_permission("customers_edit"), Some("customers_update"));
        assert_eq!(s.canonical_permission("customers_fly"), None);
    }

    #[test]
    fn a_usage_key_names_the_grant_deciding_grant_names() {
        let (model, _) = load_workspace_file(YAML).unwrap();
        let s = Snapshot::compile(&model).unwrap();
        let now = Utc::now();
        let mine: Record = json!({ "id": "c1", "assignee": "ann" }).as_object().unwrap().clone();
        let other: Record = json!({ "id": "c2", "assignee": "zed" }).as_object().unwrap().clone();
        for user in ["ann", "bob", "own", "eve"] {
            for permission in ["customers_view", "customers_edit", "teams_view", "billing_view"] {
                for record in [None, Some(&mine), Some(&other)] {
                    let mut r = Request::new(user, permission, now);
                    r.record = record;
                    let allowed = s.check(&r).is_allowed();
                    let key = s.usage_key(&r, allowed).unwrap();
                    let names = s.usage_names(&key).unwrap();
                    let expected = if allowed { s.deciding_grant(&r) } else { None };
                    assert_eq!(names.grant, expected, "{user} {permission} {record:?}");
                    assert_eq!((names.user, names.allowed), (user, allowed));
                    assert_eq!(Some(names.permission), s.canonical_permission(permission));
                }
            }
        }
        // Unknown names are no decision; another snapshot's key names nothing.
        assert_eq!(s.usage_key(&Request::new("nobody", "customers_view", now), false), None);
        assert_eq!(s.usage_key(&Request::new("ann", "customers_fly", now), false), None);
        let key = s.usage_key(&Request::new("ann", "customers_view", now), true).unwrap();
        let recompiled = Snapshot::compile(&model).unwrap();
        assert_eq!(recompiled.usage_names(&key), None);
    }
}
