//! Explain (DESIGN.md §4): the path of an allow — which role, assigned how,
//! which grant and which limit matched — and for a deny the near misses in
//! the order of the troubleshooting checklist: no such role assigned,
//! assignment in another workspace, expired, team roles ignored for lack of
//! `teams_view`, condition false with the record's values, a field the write
//! touches below `edit` (rule 7), misspelt permission.
//!
//! Explain is off the hot path: it re-walks the assignments instead of using
//! the precomputed role sets, and it re-derives the decision from its own walk
//! only for the path; the decision itself always comes from [`Snapshot::check`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::decide::{Decision, Request};
use crate::model::FieldLevel;
use crate::snapshot::{CompiledAccess, CompiledLimit, CompiledUser, PermId, RoleIdx, Snapshot, Via};
use crate::suggest::nearest;
use crate::Record;

/// How a role reaches a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Assigned {
    /// Assigned to the user.
    Directly,
    /// Assigned to a team the user belongs to.
    ViaTeam {
        /// The team key.
        team: String,
    },
}

impl fmt::Display for Assigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Assigned::Directly => f.write_str("directly"),
            Assigned::ViaTeam { team } => write!(f, "via team `{team}`"),
        }
    }
}

/// One requirement of an allow and what satisfied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The permission required (the request's, or `view` under it per rule 6).
    pub permission: String,
    /// Which state of the record: `record`, `before`, or `module` when no record was given.
    pub on: &'static str,
    /// The role whose grant matched; `None` for an account owner.
    pub role: Option<String>,
    /// How the role is assigned.
    pub assigned: Option<Assigned>,
    /// The grant's access as written (`all`, `own`, `rule:premium`, …).
    pub access: String,
    /// For a limited grant, why it matched.
    pub matched: Option<String>,
}

/// A reason the user came close to being allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NearMiss {
    /// No role granting the permission is assigned; these roles would.
    NotAssigned {
        /// The permission no assigned role grants.
        permission: String,
        /// Roles of the workspace granting it.
        roles: Vec<String>,
    },
    /// The user holds a granting role, but in another workspace.
    OtherWorkspace {
        /// The permission granted there.
        permission: String,
        /// That workspace.
        workspace: String,
        /// The role there.
        role: String,
    },
    /// A granting role's assignment has expired.
    Expired {
        /// The permission the role grants.
        permission: String,
        /// The role.
        role: String,
        /// How it was assigned.
        assigned: Assigned,
        /// When it stopped counting.
        expired_at: DateTime<Utc>,
    },
    /// A team role grants it, but team roles are ignored without `teams_view`.
    TeamRolesIgnored {
        /// The permission the role grants.
        permission: String,
        /// The role.
        role: String,
        /// The team.
        team: String,
    },
    /// A limited grant did not match the record.
    ConditionFalse {
        /// The role.
        role: String,
        /// The permission whose grant did not match.
        permission: String,
        /// Which state: `record` or `before`.
        on: &'static str,
        /// The limit as written.
        limit: String,
        /// The record's values that made it false.
        values: String,
    },
    /// The role's kind does not fit the user's kind (rule 10).
    WrongKind {
        /// The permission the role grants.
        permission: String,
        /// The role.
        role: String,
    },
    /// The write touches a field the user may not edit (rule 7): the store
    /// would refuse it as a whole, so `check` denies it.
    FieldNotWritable {
        /// The object.
        object: String,
        /// The first such field.
        field: String,
        /// The user's level on it (below `edit`).
        level: FieldLevel,
        /// The write: `update` (the field changes) or `create` (the field is set).
        write: &'static str,
    },
    /// The permission does not exist.
    UnknownPermission {
        /// The nearest valid name.
        suggestion: Option<String>,
    },
    /// The user does not exist in this workspace.
    UnknownUser {
        /// The nearest user key.
        suggestion: Option<String>,
    },
}

impl fmt::Display for NearMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suggest =
            |s: &Option<String>| s.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
        match self {
            NearMiss::NotAssigned { permission, roles } if roles.is_empty() => {
                write!(f, "no role of this workspace grants `{permission}`")
            }
            NearMiss::NotAssigned { permission, roles } => {
                let list: Vec<String> = roles.iter().map(|r| format!("`{r}`")).collect();
                write!(f, "no role granting `{permission}` is assigned; roles that grant it: {}", list.join(", "))
            }
            NearMiss::OtherWorkspace { permission, workspace, role } => {
                write!(f, "role `{role}` grants `{permission}`, but in workspace `{workspace}`")
            }
            NearMiss::Expired { permission, role, assigned, expired_at } => write!(
                f,
                "role `{role}` ({assigned}) grants `{permission}`, but the assignment expired at {}",
                expired_at.to_rfc3339()
            ),
            NearMiss::TeamRolesIgnored { permission, role, team } => write!(
                f,
                "role `{role}` grants `{permission}` via team `{team}`, but team roles are ignored without `teams_view` on a directly assigned role"
            ),
            NearMiss::ConditionFalse { role, permission, on, limit, values } => {
                write!(f, "role `{role}` grants `{permission}` only for `{limit}`, false for the {on}: {values}")
            }
            NearMiss::WrongKind { permission, role } => {
                write!(f, "role `{role}` grants `{permission}` but is of the other kind of user and counts for nothing")
            }
            NearMiss::FieldNotWritable { object, field, level, write } => {
                let verb = if *write == "create" { "sets" } else { "changes" };
                write!(
                    f,
                    "the {write} {verb} field `{object}.{field}`, which is `{}` for this user; writing it needs `edit`",
                    level.as_str()
                )
            }
            NearMiss::UnknownPermission { suggestion } => write!(f, "unknown permission{}", suggest(suggestion)),
            NearMiss::UnknownUser { suggestion } => write!(f, "unknown user{}", suggest(suggestion)),
        }
    }
}

/// A decision with its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The decision, exactly as [`Snapshot::check`] gives it.
    pub decision: Decision,
    /// The user asked about.
    pub user: String,
    /// The permission asked about.
    pub permission: String,
    /// The workspace revision.
    pub revision: u64,
    /// For an allow: each requirement and what met it.
    pub path: Vec<Step>,
    /// For a deny: near misses, most likely cause first.
    pub near_misses: Vec<NearMiss>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.decision.is_allowed() { "allow" } else { "deny" };
        let limited = if self.decision.is_limited() { " (limited: only some records)" } else { "" };
        writeln!(
            f,
            "{verdict}{limited}: `{}` for `{}` at revision {}",
            self.permission, self.user, self.revision
        )?;
        for step in &self.path {
            match (&step.role, &step.assigned) {
                (Some(role), Some(assigned)) => write!(
                    f,
                    "  `{}` on the {}: role `{role}` ({assigned}) grants `{}`",
                    step.permission, step.on, step.access
                )?,
                _ => write!(f, "  `{}` on the {}: account owner", step.permission, step.on)?,
            }
            match &step.matched {
                Some(why) => writeln!(f, "; {why}")?,
                None => writeln!(f)?,
            }
        }
        for miss in &self.near_misses {
            writeln!(f, "  - {miss}")?;
        }
        Ok(())
    }
}

impl Snapshot {
    /// Explains a request. `others` are snapshots of the caller's other
    /// workspaces, searched for the "assigned in another workspace" near miss.
    pub fn explain(&self, request: &Request<'_>, others: &[&Snapshot]) -> Explanation {
        let decision = self.check(request);
        let mut out = Explanation {
            decision,
            user: request.user.to_owned(),
            permission: request.permission.to_owned(),
            revision: self.revision,
            path: Vec::new(),
            near_misses: Vec::new(),
        };
        let perm = self.perm_ids.get(request.permission).copied();
        let Some(user) = self.user(request.user) else {
            let keys = self.user_ids.keys();
            out.near_misses
                .push(NearMiss::UnknownUser { suggestion: nearest(request.user, keys).map(Into::into) });
            if perm.is_none() {
                out.near_misses.push(self.unknown_permission(request.permission));
            }
            return out;
        };
        let Some(perm) = perm else {
            out.near_misses.push(self.unknown_permission(request.permission));
            return out;
        };
        let requirements = self.requirements(perm, request);
        let active = self.active_roles(user, request.now);
        let mut condition_misses = Vec::new();
        for (req_perm, on, record) in &requirements {
            match self.first_match(user, *req_perm, on, *record, &active) {
                Some(step) => out.path.push(step),
                None => condition_misses.extend(self.condition_misses(user, *req_perm, on, *record, &active)),
            }
        }
        if decision.is_allowed() {
            return out;
        }
        out.path.clear();
        let denied: Vec<PermId> = requirements
            .iter()
            .filter(|(p, on, r)| self.first_match(user, *p, on, *r, &active).is_none())
            .map(|(p, _, _)| *p)
            .collect();
        for p in dedup(denied) {
            self.assignment_misses(user, p, request.now, others, &active, &mut out.near_misses);
        }
        out.near_misses.extend(condition_misses);
        out.near_misses.extend(self.field_miss(user, perm, request));
        out.near_misses.sort_by_key(miss_order);
        // A role assigned twice (directly and via a team) yields the same line twice.
        let mut seen = Vec::new();
        out.near_misses.retain(|m| {
            let fresh = !seen.contains(m);
            if fresh {
                seen.push(m.clone());
            }
            fresh
        });
        out
    }

    /// Rule 7: the first field the write touches that the user's roles do not give at `edit`.
    fn field_miss(&self, user: &CompiledUser, perm: PermId, request: &Request<'_>) -> Option<NearMiss> {
        let info = self.perm(perm)?;
        let record = request.record.filter(|_| info.is_object)?;
        let object = self.object(&info.module)?;
        let roles = self.roles_in_force(user, request.now);
        let field = self.first_unwritable_in(&roles, info, record, request.before)?;
        Some(NearMiss::FieldNotWritable {
            object: info.module.clone(),
            field: field.to_owned(),
            level: self.roles_field_level(&roles, object, field, info.is_create),
            write: if info.is_create { "create" } else { "update" },
        })
    }

    fn unknown_permission(&self, wanted: &str) -> NearMiss {
        let names = self.perm_ids.keys();
        NearMiss::UnknownPermission { suggestion: nearest(wanted, names).map(Into::into) }
    }

    /// What a request needs: the permission on the record (and before), and view under it (rule 6).
    pub(crate) fn requirements<'r>(
        &self,
        perm: PermId,
        req: &Request<'r>,
    ) -> Vec<(PermId, &'static str, Option<&'r Record>)> {
        let Some(info) = self.perm(perm) else { return Vec::new() };
        let record = req.record.filter(|_| info.is_object);
        let mut out = vec![(perm, if record.is_some() { "record" } else { "module" }, record)];
        let is_update = info.action == "update";
        if let (true, Some(before)) = (is_update, req.before.filter(|_| record.is_some())) {
            out.push((perm, "before", Some(before)));
        }
        if let Some(view) = info.needs_view {
            let existing =
                if is_update { req.before.filter(|_| record.is_some()).or(record) } else { record };
            let on = match (existing.is_some(), req.before.is_some() && is_update) {
                (false, _) => "module",
                (true, true) => "before",
                (true, false) => "record",
            };
            out.push((view, on, existing));
        }
        out
    }

    /// Roles in force with how each is assigned (first assignment wins).
    pub(crate) fn active_roles(&self, user: &CompiledUser, now: DateTime<Utc>) -> Vec<(RoleIdx, Assigned)> {
        let in_force = self.roles_in_force(user, now);
        let mut out: Vec<(RoleIdx, Assigned)> = Vec::new();
        for a in self.assignments_of(user) {
            let active = a.expires_at.is_none_or(|at| now < at);
            if active && in_force.contains(&a.role) && !out.iter().any(|(r, _)| *r == a.role) {
                out.push((a.role, self.assigned(a.via)));
            }
        }
        out
    }

    pub(crate) fn assigned(&self, via: Via) -> Assigned {
        match via {
            Via::Direct => Assigned::Directly,
            Via::Team(t) => Assigned::ViaTeam { team: self.team_key(t).to_owned() },
        }
    }

    pub(crate) fn first_match(
        &self,
        user: &CompiledUser,
        perm: PermId,
        on: &'static str,
        record: Option<&Record>,
        active: &[(RoleIdx, Assigned)],
    ) -> Option<Step> {
        let name = self.perm(perm).map(|p| p.name.clone()).unwrap_or_default();
        if user.account_owner {
            let step = Step {
                permission: name,
                on,
                role: None,
                assigned: None,
                access: "all".into(),
                matched: None,
            };
            return Some(step);
        }
        let ctx = self.user_context(user);
        let mut limited_step = None;
        for (r, assigned) in active {
            let Some(role) = self.role_at(*r) else { continue };
            let step = |access: String, matched: Option<String>| Step {
                permission: name.clone(),
                on,
                role: Some(role.key.clone()),
                assigned: Some(assigned.clone()),
                access,
                matched,
            };
            match (role.table.get(perm as usize), record) {
                (Some(CompiledAccess::All), _) => return Some(step("all".into(), None)),
                (Some(CompiledAccess::Limited(limits)), None) if limited_step.is_none() => {
                    let written: Vec<String> = limits.iter().map(|(_, l)| l.to_string()).collect();
                    limited_step = Some(step(written.join(" | "), Some("limited: only some records".into())));
                }
                (Some(CompiledAccess::Limited(limits)), Some(rec)) => {
                    for (limit, written) in limits.iter() {
                        if limit.matches(rec, &ctx) {
                            let why = format!("matched: {}", self.limit_values(limit, rec));
                            return Some(step(written.to_string(), Some(why)));
                        }
                    }
                }
                _ => {}
            }
        }
        limited_step
    }

    /// The record values a limit reads, as `field = value` pairs.
    fn limit_values(&self, limit: &CompiledLimit, record: &Record) -> String {
        let fields = limit.fields();
        let shown: Vec<String> = fields
            .iter()
            .map(|f| format!("{f} = {}", record.get(*f).map_or_else(|| "null".to_owned(), |v| v.to_string())))
            .collect();
        shown.join(", ")
    }

    fn condition_misses(
        &self,
        user: &CompiledUser,
        perm: PermId,
        on: &'static str,
        record: Option<&Record>,
        active: &[(RoleIdx, Assigned)],
    ) -> Vec<NearMiss> {
        let Some(record) = record else { return Vec::new() };
        let ctx = self.user_context(user);
        let name = self.perm(perm).map(|p| p.name.clone()).unwrap_or_default();
        let mut out = Vec::new();
        for (r, _) in active {
            let Some(role) = self.role_at(*r) else { continue };
            let Some(CompiledAccess::Limited(limits)) = role.table.get(perm as usize) else { continue };
            for (limit, written) in limits.iter() {
                if !limit.matches(record, &ctx) {
                    out.push(NearMiss::ConditionFalse {
                        role: role.key.clone(),
                        permission: name.clone(),
                        on,
                        limit: written.to_string(),
                        values: self.limit_values(limit, record),
                    });
                }
            }
        }
        out
    }

    fn grants(&self, role: RoleIdx, perm: PermId) -> bool {
        self.role_at(role)
            .and_then(|r| r.table.get(perm as usize))
            .is_some_and(|a| !matches!(a, CompiledAccess::None))
    }

    fn assignment_misses(
        &self,
        user: &CompiledUser,
        perm: PermId,
        now: DateTime<Utc>,
        others: &[&Snapshot],
        active: &[(RoleIdx, Assigned)],
        out: &mut Vec<NearMiss>,
    ) {
        let perm_name = self.perm(perm).map(|p| p.name.as_str()).unwrap_or_default();
        let held = |r: RoleIdx| self.assignments_of(user).iter().any(|a| a.role == r);
        if !active.iter().any(|(r, _)| self.grants(*r, perm)) {
            let roles: Vec<String> = (0..self.roles.len() as RoleIdx)
                .filter(|&r| self.grants(r, perm) && !held(r))
                .filter_map(|r| self.role_at(r))
                .filter(|r| r.role.kind == user.kind)
                .map(|r| r.key.clone())
                .collect();
            out.push(NearMiss::NotAssigned { permission: perm_name.to_owned(), roles });
        }
        for other in others.iter().filter(|o| o.workspace != self.workspace) {
            for role in other.roles_of(self.user_key(user), now) {
                let grants = other
                    .perm_ids
                    .get(perm_name)
                    .is_some_and(|&p| other.role_ids.get(role).is_some_and(|&r| other.grants(r, p)));
                if grants {
                    out.push(NearMiss::OtherWorkspace {
                        permission: perm_name.to_owned(),
                        workspace: other.workspace.clone(),
                        role: role.to_owned(),
                    });
                }
            }
        }
        let team_roles_count = {
            let direct: Vec<RoleIdx> =
                active.iter().filter(|(_, a)| *a == Assigned::Directly).map(|(r, _)| *r).collect();
            self.team_roles_count(&direct)
        };
        for a in self.assignments_of(user).iter().filter(|a| self.grants(a.role, perm)) {
            let Some(role) = self.role_at(a.role) else { continue };
            let key = role.key.clone();
            if role.role.kind != user.kind {
                out.push(NearMiss::WrongKind { permission: perm_name.to_owned(), role: key });
                continue;
            }
            match a.expires_at {
                Some(at) if at <= now => out.push(NearMiss::Expired {
                    permission: perm_name.to_owned(),
                    role: key,
                    assigned: self.assigned(a.via),
                    expired_at: at,
                }),
                _ => {
                    if let (Via::Team(t), false) = (a.via, team_roles_count) {
                        out.push(NearMiss::TeamRolesIgnored {
                            permission: perm_name.to_owned(),
                            role: key,
                            team: self.team_key(t).to_owned(),
                        });
                    }
                }
            }
        }
    }
}

/// Drops repeated ids, keeping the requirements' order (the asked permission first).
fn dedup(ids: Vec<PermId>) -> Vec<PermId> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// The troubleshooting checklist's order.
fn miss_order(miss: &NearMiss) -> u8 {
    match miss {
        NearMiss::UnknownUser { .. } => 0,
        NearMiss::NotAssigned { .. } => 1,
        NearMiss::OtherWorkspace { .. } => 2,
        NearMiss::Expired { .. } => 3,
        NearMiss::TeamRolesIgnored { .. } => 4,
        NearMiss::WrongKind { .. } => 5,
        NearMiss::ConditionFalse { .. } => 6,
        NearMiss::FieldNotWritable { .. } => 7,
        NearMiss::UnknownPermission { .. } => 8,
    }
}
