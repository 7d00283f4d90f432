//! Decisions on a compiled snapshot: `check` (rules 1–6 and 10 of
//! DESIGN.md §2, and rule 7 for the fields a write touches), lookup blanking
//! (rule 8), list visibility (rule 9) and the view predicate the store turns
//! into SQL. Field levels themselves are `fields.rs`.
//!
//! Every function here is total: unknown users, permissions, objects or
//! fields are denied, never errors.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::condition::Expr;
use crate::model::{FieldLevel, FieldType, UserKind};
use crate::role_set::RoleSet;
use crate::snapshot::{CompiledAccess, CompiledUser, ObjectInfo, PermId, RoleIdx, Snapshot};
use crate::Record;

/// The answer to a check. Three states, so that "denied but limited" cannot be said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Denied (the default).
    Deny,
    /// Allowed.
    Allow,
    /// Allowed for some records only: a module-level question answered by a
    /// limited grant (rule 5).
    AllowLimited,
}

impl Decision {
    pub(crate) const DENY: Decision = Decision::Deny;
    pub(crate) const ALLOW: Decision = Decision::Allow;

    /// An allow (limited or not) or a deny.
    pub fn from_allowed(allowed: bool) -> Self {
        if allowed {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }

    /// Whether the request is allowed (for all records, or for some).
    pub fn is_allowed(self) -> bool {
        !matches!(self, Decision::Deny)
    }

    /// Whether the allow covers some records only.
    pub fn is_limited(self) -> bool {
        matches!(self, Decision::AllowLimited)
    }

    /// Both must allow: a deny wins, and limited if either is.
    pub fn and(self, other: Decision) -> Decision {
        match (self, other) {
            (Decision::Deny, _) | (_, Decision::Deny) => Decision::Deny,
            (Decision::AllowLimited, _) | (_, Decision::AllowLimited) => Decision::AllowLimited,
            _ => Decision::Allow,
        }
    }
}

/// The wire shape every caller has read since the first release: `{ "allowed", "limited" }`.
impl Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Decision", 2)?;
        out.serialize_field("allowed", &self.is_allowed())?;
        out.serialize_field("limited", &self.is_limited())?;
        out.end()
    }
}

/// One question: may `user` do `permission`, on `record` if given, at `now`?
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// User key.
    pub user: &'a str,
    /// Permission name (`customers_update`; `edit`/`add` aliases accepted).
    pub permission: &'a str,
    /// The record acted on; for `update`, its new state.
    pub record: Option<&'a Record>,
    /// For `update`: the record before the change (defaults to `record`).
    pub before: Option<&'a Record>,
    /// When the decision is made (assignments expire against it).
    pub now: DateTime<Utc>,
}

impl<'a> Request<'a> {
    /// A module-level request (no record).
    pub fn new(user: &'a str, permission: &'a str, now: DateTime<Utc>) -> Self {
        Request { user, permission, record: None, before: None, now }
    }

    /// The same request about a record.
    pub fn on(mut self, record: &'a Record) -> Self {
        self.record = Some(record);
        self
    }
}

/// Who acts: a user, optionally through a key limited to a role. A scoped
/// actor gets the intersection of the user's permissions and the role's
/// (DESIGN.md §4): an integration or assistant never exceeds either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor<'a> {
    /// The user key.
    pub user: &'a str,
    /// The role a scoped key is limited to.
    pub scope: Option<&'a str>,
}

impl<'a> From<&'a str> for Actor<'a> {
    fn from(user: &'a str) -> Self {
        Actor { user, scope: None }
    }
}

impl<'a> From<&'a String> for Actor<'a> {
    fn from(user: &'a String) -> Self {
        Actor { user, scope: None }
    }
}

/// The module-level answer of a role set (rule 5: limited grants allow, flagged).
fn module_level(set: &RoleSet, perm: PermId) -> Decision {
    if set.grants.all(perm) {
        Decision::ALLOW
    } else if set.grants.any(perm) {
        Decision::AllowLimited
    } else {
        Decision::DENY
    }
}

/// A question without a record (rule 5's module-level answer), with rule
/// 6's `view` under it when the permission needs one.
#[inline]
pub(crate) fn role_level(set: &RoleSet, perm: PermId, view: Option<PermId>) -> Decision {
    let decision = module_level(set, perm);
    match view {
        Some(view) => decision.and(module_level(set, view)),
        None => decision,
    }
}

impl Snapshot {
    /// Decides a request (rules 1–6, 10). Total: anything unknown is a deny.
    pub fn check(&self, request: &Request<'_>) -> Decision {
        let Some(&user) = self.user_ids.get(request.user) else { return Decision::DENY };
        let Some(&perm) = self.perm_ids.get(request.permission) else { return Decision::DENY };
        self.decide_indices(user, perm, request.record, request.before, request.now)
    }

    /// [`Snapshot::check`] after the names are resolved (also
    /// [`Snapshot::check_ids`]'s, once the handles' stamps are checked).
    /// Inlined into both, so a role-level check is one function with no
    /// call; the record path stays out of line (see [`Snapshot::decide`]).
    #[inline(always)]
    pub(crate) fn decide_indices(
        &self,
        user: u32,
        perm: PermId,
        record: Option<&Record>,
        before: Option<&Record>,
        now: DateTime<Utc>,
    ) -> Decision {
        let Some(hot) = self.hot.get(user as usize) else { return Decision::DENY };
        if hot.account_owner {
            return Decision::ALLOW;
        }
        // The fast path: the precomputed set, exact inside its window.
        if hot.covers(now) {
            if let Some(set) = self.role_sets.get(hot.role_set as usize) {
                // Role-level (rule 5), the common question: answered here,
                // as `decide` would, without entering the record path.
                if record.is_none() {
                    let Some(info) = self.perm(perm) else { return Decision::DENY };
                    return role_level(set, perm, info.needs_view);
                }
                return self.decide(user, set, perm, record, before);
            }
        }
        self.with_role_set(user, now, |set| self.decide(user, set, perm, record, before))
    }

    /// Rules 4–6 for a user holding exactly the roles of `set`. Not
    /// inlined: its frame (the record, before, the user row, the limits)
    /// would otherwise be set up on every role-level check as well.
    #[inline(never)]
    pub(crate) fn decide(
        &self,
        user: u32,
        set: &RoleSet,
        perm: PermId,
        record: Option<&Record>,
        before: Option<&Record>,
    ) -> Decision {
        let Some(info) = self.perm(perm) else { return Decision::DENY };
        let Some(record) = record.filter(|_| info.is_object) else {
            return role_level(set, perm, info.needs_view);
        };
        let Some(user) = self.users.get(user as usize) else { return Decision::DENY };
        // Rule 6: update holds before and after; the existing record must be viewable.
        let existing = if info.is_update { before.unwrap_or(record) } else { record };
        let mut allowed = self.record_level(set, perm, user, record);
        if allowed && info.is_update && before.is_some() {
            allowed = self.record_level(set, perm, user, existing);
        }
        if allowed {
            if let Some(view) = info.needs_view {
                allowed = self.record_level(set, view, user, existing);
            }
        }
        // Rule 7: a write touching a field below `edit` is denied as a whole,
        // here as in the store, so that `check` answers what the write will do.
        if allowed {
            allowed = self.first_unwritable_in(&set.roles, info, record, before).is_none();
        }
        Decision::from_allowed(allowed)
    }

    /// Whether any role of the set matches the record for `perm`; the roles'
    /// limits are walked only when no role grants it to `all`.
    fn record_level(&self, set: &RoleSet, perm: PermId, user: &CompiledUser, record: &Record) -> bool {
        if set.grants.all(perm) {
            return true;
        }
        if !set.grants.any(perm) {
            return false;
        }
        let ctx = self.user_context(user);
        set.roles.iter().any(|&r| match self.role_at(r).and_then(|role| role.table.get(perm as usize)) {
            Some(CompiledAccess::Limited(limits)) => {
                limits.iter().any(|(limit, _)| limit.matches(record, &ctx))
            }
            _ => false,
        })
    }

    /// Rule 9: whether the actor may list and search the object's records at all.
    pub fn may_list<'a>(&self, actor: impl Into<Actor<'a>>, object: &str, now: DateTime<Utc>) -> bool {
        let actor = actor.into();
        let Some(u) = self.user(actor.user) else { return false };
        if self.object(object).is_none() {
            return false;
        }
        if self.list_is_open(object) {
            return true;
        }
        let admin = ["administrator", "account_owner"].map(|k| self.role_ids.get(k).copied());
        let is_admin = |roles: &[RoleIdx]| roles.iter().any(|r| admin.contains(&Some(*r)));
        let user_may = u.account_owner || self.with_roles(u, now, is_admin);
        let scope_may =
            actor.scope.is_none_or(|scope| self.role_ids.get(scope).is_some_and(|&r| is_admin(&[r])));
        user_may && scope_may
    }

    /// The records of `object` the actor may view, as an expression over
    /// record fields only (the user's values substituted). The store
    /// translates it to SQL; [`Expr::matches`] evaluates it with exactly
    /// `check`'s semantics.
    pub fn view_predicate<'a>(&self, actor: impl Into<Actor<'a>>, object: &str, now: DateTime<Utc>) -> Expr {
        let actor = actor.into();
        let (Some(u), Some(info)) = (self.user(actor.user), self.object(object)) else {
            return Expr::Const(false);
        };
        let own = if u.account_owner {
            Expr::Const(true)
        } else {
            self.with_roles(u, now, |roles| self.predicate_for_roles(u, info, roles))
        };
        let Some(scope) = actor.scope else { return own };
        let Some(&role) = self.role_ids.get(scope) else { return Expr::Const(false) };
        match (own, self.predicate_for_roles(u, info, &[role])) {
            (Expr::Const(false), _) | (_, Expr::Const(false)) => Expr::Const(false),
            (Expr::Const(true), other) | (other, Expr::Const(true)) => other,
            (a, b) => Expr::And(vec![a, b]),
        }
    }

    /// The view predicate given by exactly `roles` for user `u`.
    fn predicate_for_roles(&self, u: &CompiledUser, info: &ObjectInfo, roles: &[RoleIdx]) -> Expr {
        let ctx = self.user_context(u);
        let mut any: Vec<Expr> = Vec::new();
        for &r in roles {
            match self.role_at(r).and_then(|role| role.table.get(info.view as usize)) {
                Some(CompiledAccess::All) => return Expr::Const(true),
                Some(CompiledAccess::Limited(limits)) => {
                    for (limit, _) in limits.iter() {
                        match limit.to_expr(&ctx) {
                            Expr::Const(true) => return Expr::Const(true),
                            Expr::Const(false) => {}
                            Expr::Or(items) => any.extend(items),
                            other => any.push(other),
                        }
                    }
                }
                _ => {}
            }
        }
        // The same scope may come from several roles (`own`, and `team` which includes it).
        let mut distinct: Vec<Expr> = Vec::with_capacity(any.len());
        for expr in any {
            if !distinct.contains(&expr) {
                distinct.push(expr);
            }
        }
        let mut any = distinct;
        match any.len() {
            0 => Expr::Const(false),
            1 => any.pop().unwrap_or(Expr::Const(false)),
            _ => Expr::Or(any),
        }
    }

    /// Rules 7 and 8 applied to a record read by the actor: fields below
    /// `read` are removed, and lookups whose target the actor cannot view are
    /// blanked (`null`). `target` fetches a lookup's target record by object and id.
    pub fn redact<'a, 'r>(
        &self,
        actor: impl Into<Actor<'a>>,
        object: &str,
        record: &Record,
        now: DateTime<Utc>,
        target: &dyn Fn(&str, &str) -> Option<&'r Record>,
    ) -> Record {
        let actor = actor.into();
        let Some(info) = self.object(object) else { return Record::new() };
        let mut out = Record::new();
        for (name, value) in record {
            if self.field_level(actor, object, name, now) == FieldLevel::None {
                continue;
            }
            let viewable = |target_object: &str, id: &serde_json::Value| {
                let Some(id) = id.as_str() else { return false };
                target(target_object, id).is_some_and(|t| {
                    let permission = format!("{target_object}_view");
                    self.check_scoped(&Request::new(actor.user, &permission, now).on(t), actor.scope)
                        .is_allowed()
                })
            };
            let blank = |target_object: &str, id: &serde_json::Value| {
                if id.is_null() || viewable(target_object, id) {
                    id.clone()
                } else {
                    serde_json::Value::Null
                }
            };
            let value = match info.def.fields.get(name).map(|f| &f.ty) {
                Some(FieldType::Lookup(target_object)) => blank(target_object, value),
                // A list of lookups blanks each unviewable element, keeping positions.
                Some(FieldType::List(inner)) => match (&**inner, value) {
                    (FieldType::Lookup(target_object), serde_json::Value::Array(items)) => {
                        serde_json::Value::Array(items.iter().map(|id| blank(target_object, id)).collect())
                    }
                    _ => value.clone(),
                },
                _ => value.clone(),
            };
            out.insert(name.clone(), value);
        }
        out
    }

    /// The kind of a user, if it exists.
    pub fn user_kind(&self, user: &str) -> Option<UserKind> {
        self.user(user).map(|u| u.kind)
    }

    /// Whether the user is an account owner.
    pub fn is_account_owner(&self, user: &str) -> bool {
        self.user(user).is_some_and(|u| u.account_owner)
    }

    /// The keys of the roles in force for a user at `now`.
    pub fn roles_of(&self, user: &str, now: DateTime<Utc>) -> Vec<&str> {
        let Some(u) = self.user(user) else { return Vec::new() };
        self.with_roles(u, now, |roles| {
            roles.iter().filter_map(|&r| self.role_at(r)).map(|r| r.key.as_str()).collect()
        })
    }
}
