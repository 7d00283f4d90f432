//! What "the actor holds it" means for the no-escalation rule, and the
//! excess a change would give beyond it.
//!
//! A grant is held when the actor's own combined access covers it: `all`
//! covers everything; a limited grant is covered limit by limit by the same
//! scope *meaning the same thing*: `own` on the same owner field, `team` on
//! the same team and owner fields (which covers `own` too), a condition with
//! the same text. Rule names are resolved to their condition text, so a
//! rewritten rule is a different scope: holding `rule:premium` before the
//! rewrite covers nothing of what `rule:premium` means after it. What the
//! actor holds is read in the current model; what a change gives, in the
//! model as it would be after the change.
//!
//! A field level is held when the actor's own level on that field is at
//! least as high. Conditions are compared as text, never by implication:
//! conservative, so a narrowing rewrite by someone without `all` access is
//! refused too (an account owner can make it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::decide::Actor;
use crate::model::{Access, FieldLevel, Limit, ListVisibility, Model, ObjectDef, Role};
use crate::snapshot::{CompiledAccess, CompiledUser, PermId, RoleIdx, Snapshot};

/// Whose access a change exceeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "holder", rename_all = "snake_case")]
pub enum Beyond {
    /// The acting user's own access.
    Actor {
        /// The user.
        user: String,
    },
    /// The role the actor's key is limited to.
    KeyRole {
        /// The role.
        role: String,
    },
}

impl std::fmt::Display for Beyond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Beyond::Actor { user } => write!(f, "`{user}`"),
            Beyond::KeyRole { role } => write!(f, "the key's role `{role}`"),
        }
    }
}

/// One thing a change would give beyond what the actor holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Excess {
    /// A grant not held at that access.
    Grant {
        /// The permission.
        permission: String,
        /// The access given.
        access: String,
        /// The role that would give it.
        role: Option<String>,
        /// Whose access it exceeds.
        beyond: Beyond,
    },
    /// A field level above the holder's own.
    Field {
        /// `object.field`.
        field: String,
        /// The level given.
        level: FieldLevel,
        /// The level held.
        held: FieldLevel,
        /// Whose access it exceeds.
        beyond: Beyond,
    },
    /// Opening an admins-only list to everyone.
    OpenList {
        /// The object.
        object: String,
        /// Who may not list it.
        beyond: Beyond,
    },
    /// Removing a protected field: its stored values would show again if it
    /// were declared anew, so only account owners do it.
    RemoveProtectedField {
        /// `object.field`.
        field: String,
    },
    /// Changing one's own access (team memberships, attributes rules read).
    OwnAccess {
        /// The actor.
        user: String,
        /// What was tried.
        what: String,
    },
}

impl std::fmt::Display for Excess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Excess::Grant { permission, access, role, beyond } => {
                write!(f, "`{permission}` at `{access}`")?;
                if let Some(role) = role {
                    write!(f, " (role `{role}`)")?;
                }
                write!(f, " exceeds what {beyond} holds")
            }
            Excess::Field { field, level, held, beyond } => {
                write!(f, "field `{field}` at `{}` exceeds {beyond}'s `{}`", level.as_str(), held.as_str())
            }
            Excess::OpenList { object, beyond } => {
                write!(f, "opening the list of `{object}` to everyone needs list access {beyond} lacks")
            }
            Excess::RemoveProtectedField { field } => write!(
                f,
                "removing protected field `{field}` is for account owners (its stored values would show again if it were declared anew)"
            ),
            Excess::OwnAccess { user, what } => {
                write!(f, "`{user}` may not {what} for themselves (account owners only)")
            }
        }
    }
}

/// What a limit means in one model: rule names resolved to their text and
/// own/team to the object's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope<'m> {
    Own(Option<&'m str>),
    Team(Option<&'m str>, Option<&'m str>),
    /// `None`: a rule that does not exist (compilation refuses it).
    Condition(Option<&'m str>),
}

/// The names a model's limits refer to.
pub(crate) struct Meaning<'m> {
    rules: &'m BTreeMap<String, BTreeMap<String, String>>,
    objects: &'m BTreeMap<String, ObjectDef>,
}

impl<'m> Meaning<'m> {
    /// `objects` must be the model's merged schema (standard objects included).
    pub(crate) fn new(model: &'m Model, objects: &'m BTreeMap<String, ObjectDef>) -> Self {
        Meaning { rules: &model.access_rules, objects }
    }

    fn scope(&self, module: &str, limit: &'m Limit) -> Scope<'m> {
        let object = self.objects.get(module);
        let owner = object.and_then(|o| o.owner_field.as_deref());
        match limit {
            Limit::Own => Scope::Own(owner),
            Limit::Team => Scope::Team(object.and_then(|o| o.team_field.as_deref()), owner),
            Limit::Rule(name) => {
                Scope::Condition(self.rules.get(module).and_then(|r| r.get(name)).map(String::as_str))
            }
            Limit::Where(text) => Scope::Condition(Some(text)),
        }
    }

    fn scopes(&self, module: &str, access: &'m Access) -> Vec<Scope<'m>> {
        match access {
            Access::Limited(limits) => limits.iter().map(|l| self.scope(module, l)).collect(),
            _ => Vec::new(),
        }
    }
}

fn covers(held: &Scope<'_>, wanted: &Scope<'_>) -> bool {
    match (held, wanted) {
        (_, Scope::Condition(None)) => true,
        (Scope::Condition(None), _) => false,
        (Scope::Team(_, owner), Scope::Own(wanted_owner)) => owner == wanted_owner,
        _ => held == wanted,
    }
}

enum Source<'s> {
    User(&'s CompiledUser),
    KeyRole(Option<RoleIdx>, String),
}

/// One bound on a change: the acting user's own access, or its key's role.
pub(crate) struct Holdings<'s> {
    snapshot: &'s Snapshot,
    source: Source<'s>,
    now: DateTime<Utc>,
}

impl<'s> Holdings<'s> {
    /// The bounds on `actor`: its own access (none for an account owner, who
    /// holds everything) and its key's role.
    pub(crate) fn of(snapshot: &'s Snapshot, actor: Actor<'_>, now: DateTime<Utc>) -> Vec<Holdings<'s>> {
        let mut out = Vec::new();
        if let Some(user) = snapshot.user(actor.user).filter(|u| !u.account_owner) {
            out.push(Holdings { snapshot, source: Source::User(user), now });
        }
        if let Some(scope) = actor.scope {
            let role = snapshot.role_ids.get(scope).copied();
            out.push(Holdings { snapshot, source: Source::KeyRole(role, scope.to_owned()), now });
        }
        out
    }

    fn beyond(&self) -> Beyond {
        match &self.source {
            Source::User(user) => Beyond::Actor { user: self.snapshot.user_key(user).to_owned() },
            Source::KeyRole(_, role) => Beyond::KeyRole { role: role.clone() },
        }
    }

    /// The roles held at `at` (at least now).
    fn roles_at(&self, at: DateTime<Utc>) -> Vec<RoleIdx> {
        match &self.source {
            Source::User(user) => self.snapshot.roles_in_force(user, at.max(self.now)),
            Source::KeyRole(role, _) => role.iter().copied().collect(),
        }
    }

    /// Whether `roles` cover `wanted` scopes of `perm` (none wanted: `all`).
    fn covered(&self, roles: &[RoleIdx], perm: PermId, wanted: Option<&[Scope<'_>]>) -> bool {
        let current = Meaning::new(self.snapshot.model(), &self.snapshot.schema().objects);
        let module = self.snapshot.perm(perm).map_or("", |p| p.module.as_str());
        let mut held = Vec::new();
        for &r in roles {
            match self.snapshot.role_at(r).and_then(|role| role.table.get(perm as usize)) {
                Some(CompiledAccess::All) => return true,
                Some(CompiledAccess::Limited(limits)) => {
                    held.extend(limits.iter().map(|(_, limit)| current.scope(module, limit)))
                }
                _ => {}
            }
        }
        wanted.is_some_and(|wanted| wanted.iter().all(|w| held.iter().any(|h| covers(h, w))))
    }

    fn field_level(&self, roles: &[RoleIdx], object: &str, field: &str) -> FieldLevel {
        self.snapshot
            .object(object)
            .map_or(FieldLevel::None, |info| self.snapshot.roles_field_level(roles, info, field, false))
    }

    /// One grant of `role`, meant as in `meaning`, not covered at `at`.
    fn grant_excess(
        &self,
        roles: &[RoleIdx],
        role: Option<&str>,
        (name, access): (&str, &Access),
        meaning: &Meaning<'_>,
        out: &mut Vec<Excess>,
    ) {
        // INVARIANT: an unknown permission is a compile error, and every
        // change is compiled before it commits; it gives nothing to cover.
        let Some(&perm) = self.snapshot.perm_ids.get(name) else { return };
        let module = self.snapshot.perm(perm).map_or("", |p| p.module.as_str());
        let wanted = match access {
            Access::None => return,
            Access::All => None,
            Access::Limited(_) => Some(meaning.scopes(module, access)),
        };
        if !self.covered(roles, perm, wanted.as_deref()) {
            out.push(Excess::Grant {
                permission: name.to_owned(),
                access: access.to_string(),
                role: role.map(str::to_owned),
                beyond: self.beyond(),
            });
        }
    }

    /// Creating, editing, cloning or assigning `def`: every grant and field
    /// permission it has must be held until `at`.
    pub(crate) fn role_excess(
        &self,
        key: Option<&str>,
        def: &Role,
        meaning: &Meaning<'_>,
        at: DateTime<Utc>,
        out: &mut Vec<Excess>,
    ) {
        let roles = self.roles_at(at);
        for (name, grant) in &def.grants {
            self.grant_excess(&roles, key, (name, &grant.access), meaning, out);
        }
        for (path, &level) in &def.fields {
            let Some((object, field)) = path.split_once('.') else { continue };
            let held = self.field_level(&roles, object, field);
            if level > held {
                out.push(Excess::Field { field: path.clone(), level, held, beyond: self.beyond() });
            }
        }
    }

    /// Joining `team`: every role assigned to it must be held until its assignment ends.
    pub(crate) fn team_roles_excess(&self, team: &str, meaning: &Meaning<'_>, out: &mut Vec<Excess>) {
        for assignment in self.snapshot.model().assignments.teams.get(team).into_iter().flatten() {
            if let Some((def, _)) = self.snapshot.role(&assignment.role) {
                let at = assignment.expires_at.unwrap_or(DateTime::<Utc>::MAX_UTC);
                self.role_excess(Some(&assignment.role), def, meaning, at, out);
            }
        }
    }

    /// A change to what `object`'s limits mean (a rule rewritten, its owner
    /// or team field moved): every grant on the object whose meaning changes
    /// is given anew, and must be held.
    pub(crate) fn changed_scopes_excess(&self, object: &str, proposed: &Meaning<'_>, out: &mut Vec<Excess>) {
        let current = Meaning::new(self.snapshot.model(), &self.snapshot.schema().objects);
        let roles = self.roles_at(DateTime::<Utc>::MAX_UTC);
        for compiled in &self.snapshot.roles {
            for (name, grant) in &compiled.role.grants {
                let on_object = self
                    .snapshot
                    .perm_ids
                    .get(name.as_str())
                    .and_then(|&p| self.snapshot.perm(p))
                    .is_some_and(|p| p.module == object);
                if on_object
                    && current.scopes(object, &grant.access) != proposed.scopes(object, &grant.access)
                {
                    self.grant_excess(&roles, Some(&compiled.key), (name, &grant.access), proposed, out);
                }
            }
        }
    }

    /// Redefining `object` as `new`: a protected field opened gives every
    /// role its implied level on it; an admins-only list opened to everyone
    /// gives every viewer the list. Both must be held.
    pub(crate) fn object_excess(&self, object: &str, new: &ObjectDef, out: &mut Vec<Excess>) {
        let Some(old) = self.snapshot.schema().objects.get(object) else { return };
        let roles = self.roles_at(DateTime::<Utc>::MAX_UTC);
        for (field, def) in &old.fields {
            if !def.protected || new.fields.get(field).is_none_or(|f| f.protected) {
                continue;
            }
            let path = format!("{object}.{field}");
            let given = self
                .snapshot
                .roles
                .iter()
                .filter(|r| !r.role.fields.contains_key(&path))
                .map(|r| self.snapshot.implied_field_levels(r, object)[0])
                .max()
                .unwrap_or(FieldLevel::None);
            let held = self.field_level(&roles, object, field);
            if given > held {
                out.push(Excess::Field { field: path, level: given, held, beyond: self.beyond() });
            }
        }
        let opens = old.list_visibility == Some(ListVisibility::Admins)
            && new.list_visibility != Some(ListVisibility::Admins);
        if opens && !self.may_list_all(&roles) {
            out.push(Excess::OpenList { object: object.to_owned(), beyond: self.beyond() });
        }
    }

    /// Rule 9's admins: account owners and Administrator.
    fn may_list_all(&self, roles: &[RoleIdx]) -> bool {
        let admin = ["administrator", "account_owner"].map(|k| self.snapshot.role_ids.get(k).copied());
        roles.iter().any(|r| admin.contains(&Some(*r)))
    }
}
