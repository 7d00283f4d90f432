//! A deliberately plain reference evaluator, written straight from DESIGN.md §2
//! rules 1–10, for the differential test and the data-driven cases.
//!
//! It reads the raw [`Model`] (never a compiled `Snapshot`) and decides by
//! looping over assignments and comparing strings. Conditions are parsed and
//! evaluated by its own small evaluator (`condition.rs`), never by the
//! engine's `Expr`, and the system roles come from its own table
//! (`system_roles.rs`, read from DESIGN.md §3 and the seed articles), never
//! from the catalogue; `tests/system_roles.rs` compares the two. It still
//! takes the merged schema (modules, objects, fields) from the catalogue.
//!
//! Where DESIGN.md is silent it follows the engine's documented conventions:
//! - a role counts only when its kind equals the user's kind (rule 10);
//! - every action except `view` and `create` needs `view` of the same module
//!   (rule 6, extended to module-specific actions and to modules without records);
//! - `update` needs the grant on the new state and, when given, on `before`;
//!   view is needed on the existing state (`before`, defaulting to the record);
//! - with no record (or a record for a module that has none) the question is
//!   about the module: a limited grant answers allow with `limited`;
//! - `limited` is only ever reported on an allow.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
pub mod condition;
pub mod system_roles;
use permset_core::{
    merged_schema, Access, FieldLevel, Grant, Limit, ListVisibility, Model, Record, Role, Schema, User,
    STANDARD_ACTIONS,
};

/// The catalogue merged with a model, computed once per model.
pub struct Reference<'m> {
    pub model: &'m Model,
    pub schema: Schema,
    pub system: BTreeMap<String, Role>,
    /// Every permission name (aliases included) → what it means.
    names: BTreeMap<String, Perm>,
}

/// A permission name resolved to its module and canonical action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Perm {
    pub module: String,
    pub action: String,
    pub is_object: bool,
}

/// One-shot form: `(allowed, limited)`.
pub fn check(
    model: &Model,
    user: &str,
    permission: &str,
    record: Option<&Record>,
    before: Option<&Record>,
    now: DateTime<Utc>,
) -> (bool, bool) {
    Reference::new(model).check(user, permission, record, before, now)
}

impl<'m> Reference<'m> {
    pub fn new(model: &'m Model) -> Self {
        let schema = merged_schema(&model.schema);
        let system = system_roles::system_roles(&schema);
        let mut reference = Reference { model, schema, system, names: BTreeMap::new() };
        reference.names = reference.all_names();
        reference
    }

    fn all_names(&self) -> BTreeMap<String, Perm> {
        let mut names = BTreeMap::new();
        let modules: Vec<&String> = self.schema.objects.keys().chain(self.schema.modules.keys()).collect();
        for module in &modules {
            for action in self.actions_of(module).unwrap_or_default() {
                names.insert(format!("{module}_{action}"), self.perm(module, &action));
            }
        }
        for module in &modules {
            let actions = self.actions_of(module).unwrap_or_default();
            for (alias, canonical) in [("edit", "update"), ("add", "create")] {
                if actions.iter().any(|a| a == canonical) {
                    names.entry(format!("{module}_{alias}")).or_insert_with(|| self.perm(module, canonical));
                }
            }
        }
        names
    }

    /// Every action of a module or object, standard ones first.
    fn actions_of(&self, module: &str) -> Option<Vec<String>> {
        let extra = match (self.schema.objects.get(module), self.schema.modules.get(module)) {
            (Some(o), _) => &o.actions,
            (None, Some(m)) => &m.actions,
            (None, None) => return None,
        };
        let mut out: Vec<String> = STANDARD_ACTIONS.iter().map(|a| a.to_string()).collect();
        out.extend(extra.iter().cloned());
        Some(out)
    }

    /// `<module>_<action>`, exact names first, then the `edit`/`add` aliases.
    pub fn resolve(&self, name: &str) -> Option<Perm> {
        self.names.get(name).cloned()
    }

    fn perm(&self, module: &str, action: &str) -> Perm {
        Perm {
            module: module.to_string(),
            action: action.to_string(),
            is_object: self.schema.objects.contains_key(module),
        }
    }

    fn role(&self, key: &str) -> Option<&Role> {
        self.model.roles.get(key).or_else(|| self.system.get(key))
    }

    /// Rule 3: a grant that gives something (an empty list of limits gives nothing).
    fn gives(grant: &Grant) -> bool {
        match &grant.access {
            Access::None => false,
            Access::All => true,
            Access::Limited(limits) => !limits.is_empty(),
        }
    }

    /// The grants a role holds for a permission (a role may spell it twice, e.g. `_edit` and `_update`).
    fn grants_of<'r>(&self, role: &'r Role, perm: &Perm) -> Vec<&'r Grant> {
        role.grants
            .iter()
            .filter(|(name, _)| self.resolve(name).as_ref() == Some(perm))
            .map(|(_, g)| g)
            .collect()
    }

    fn role_gives(&self, role: &Role, perm: &Perm) -> bool {
        self.grants_of(role, perm).into_iter().any(Self::gives)
    }

    /// Rules 1, 3 and 10: the keys of the roles in force for a user at `now`.
    pub fn roles_of(&self, user_key: &str, now: DateTime<Utc>) -> Vec<String> {
        let Some(user) = self.model.users.get(user_key) else { return Vec::new() };
        let counts = |role_key: &str, expires: Option<DateTime<Utc>>| -> bool {
            let active = match expires {
                None => true,
                Some(at) => now < at,
            };
            let kind_ok = match self.role(role_key) {
                Some(role) => role.kind == user.kind,
                None => false,
            };
            active && kind_ok
        };
        let mut direct: Vec<String> = Vec::new();
        if let Some(list) = self.model.assignments.users.get(user_key) {
            for a in list {
                if counts(&a.role, a.expires_at) {
                    direct.push(a.role.clone());
                }
            }
        }
        let teams_view = self.perm("teams", "view");
        let mut team_roles_count = !self.model.settings.team_roles_require_teams_view;
        for key in &direct {
            if let Some(role) = self.role(key) {
                if self.role_gives(role, &teams_view) {
                    team_roles_count = true;
                }
            }
        }
        let mut roles = direct;
        if team_roles_count {
            for team in &user.teams {
                if !self.model.teams.contains_key(team) {
                    continue;
                }
                if let Some(list) = self.model.assignments.teams.get(team) {
                    for a in list {
                        if counts(&a.role, a.expires_at) {
                            roles.push(a.role.clone());
                        }
                    }
                }
            }
        }
        roles.sort();
        roles.dedup();
        roles
    }

    /// Rule 5 for one limit.
    fn limit_matches(
        &self,
        limit: &Limit,
        module: &str,
        user_key: &str,
        user: &User,
        record: &Record,
    ) -> bool {
        let Some(object) = self.schema.objects.get(module) else { return false };
        let field_is_user = |field: &Option<String>| -> bool {
            match field {
                Some(f) => match record.get(f) {
                    Some(serde_json::Value::String(s)) => s == user_key,
                    _ => false,
                },
                None => false,
            }
        };
        match limit {
            Limit::Own => field_is_user(&object.owner_field),
            Limit::Team => {
                let mut in_team = false;
                if let Some(f) = &object.team_field {
                    if let Some(serde_json::Value::String(team)) = record.get(f) {
                        for t in &user.teams {
                            if t == team {
                                in_team = true;
                            }
                        }
                    }
                }
                in_team || field_is_user(&object.owner_field)
            }
            Limit::Rule(name) => {
                let Some(text) = self.model.access_rules.get(module).and_then(|rules| rules.get(name)) else {
                    return false;
                };
                self.condition_holds(text, module, user_key, user, record)
            }
            Limit::Where(text) => self.condition_holds(text, module, user_key, user, record),
        }
    }

    fn condition_holds(
        &self,
        text: &str,
        module: &str,
        user_key: &str,
        user: &User,
        record: &Record,
    ) -> bool {
        let Some(object) = self.schema.objects.get(module) else { return false };
        let types = |field: &str| object.fields.get(field).map(|f| f.ty.clone());
        let actor = condition::Actor { id: user_key, teams: &user.teams, attributes: &user.attributes };
        condition::holds(text, record, &actor, &types)
    }

    /// Whether any role in force gives `perm` for this record (rules 4 and 5).
    fn record_allows(
        &self,
        roles: &[String],
        perm: &Perm,
        user_key: &str,
        user: &User,
        record: &Record,
    ) -> bool {
        for key in roles {
            let Some(role) = self.role(key) else { continue };
            for grant in self.grants_of(role, perm) {
                match &grant.access {
                    Access::None => {}
                    Access::All => return true,
                    Access::Limited(limits) => {
                        for limit in limits {
                            if self.limit_matches(limit, &perm.module, user_key, user, record) {
                                return true;
                            }
                        }
                    }
                }
            }
        }
        false
    }

    /// A module-level question: `(allowed, limited)`.
    fn module_allows(&self, roles: &[String], perm: &Perm) -> (bool, bool) {
        let mut full = false;
        let mut limited = false;
        for key in roles {
            let Some(role) = self.role(key) else { continue };
            for grant in self.grants_of(role, perm) {
                match &grant.access {
                    Access::All => full = true,
                    Access::Limited(limits) if !limits.is_empty() => limited = true,
                    _ => {}
                }
            }
        }
        if full {
            (true, false)
        } else {
            (limited, limited)
        }
    }

    /// The decision: `(allowed, limited)`.
    pub fn check(
        &self,
        user_key: &str,
        permission: &str,
        record: Option<&Record>,
        before: Option<&Record>,
        now: DateTime<Utc>,
    ) -> (bool, bool) {
        // Rule 1: only this workspace's users.
        let Some(user) = self.model.users.get(user_key) else { return (false, false) };
        let Some(perm) = self.resolve(permission) else { return (false, false) };
        // Rule 2.
        if user.account_owner {
            return (true, false);
        }
        let roles = self.roles_of(user_key, now);
        let needs_view = perm.action != "view" && perm.action != "create";
        let view = self.perm(&perm.module, "view");
        let record = if perm.is_object { record } else { None };
        match record {
            None => {
                let (allowed, limited) = self.module_allows(&roles, &perm);
                if !allowed {
                    return (false, false);
                }
                if !needs_view {
                    return (true, limited);
                }
                let (view_allowed, view_limited) = self.module_allows(&roles, &view);
                if !view_allowed {
                    return (false, false);
                }
                (true, limited || view_limited)
            }
            Some(record) => {
                let is_update = perm.action == "update";
                if !self.record_allows(&roles, &perm, user_key, user, record) {
                    return (false, false);
                }
                let existing = match (is_update, before) {
                    (true, Some(before)) => {
                        if !self.record_allows(&roles, &perm, user_key, user, before) {
                            return (false, false);
                        }
                        before
                    }
                    _ => record,
                };
                if needs_view && !self.record_allows(&roles, &view, user_key, user, existing) {
                    return (false, false);
                }
                // Rule 7: a write touching a field below `edit` is denied as a whole.
                let creating = perm.action == "create";
                let touched = match (creating, is_update, before) {
                    (true, _, _) => Self::touched(record, None),
                    (false, true, Some(before)) => Self::touched(record, Some(before)),
                    _ => Vec::new(),
                };
                for field in touched {
                    if self.field_level_as(user_key, &perm.module, &field, now, creating) != FieldLevel::Edit
                    {
                        return (false, false);
                    }
                }
                (true, false)
            }
        }
    }

    /// The fields a write touches (never `id`): for a create every field
    /// with a value; for an update every field whose value differs between
    /// the two states, a `null` counting as no value.
    pub fn touched(record: &Record, before: Option<&Record>) -> Vec<String> {
        let value = |r: &Record, f: &str| -> Option<serde_json::Value> {
            match r.get(f) {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(v.clone()),
            }
        };
        let mut names: Vec<String> = record.keys().cloned().collect();
        if let Some(before) = before {
            names.extend(before.keys().cloned());
        }
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            if name == "id" {
                continue;
            }
            let after = value(record, &name);
            let touched = match before {
                None => after.is_some(),
                Some(before) => after != value(before, &name),
            };
            if touched {
                out.push(name);
            }
        }
        out
    }

    /// Rule 7: a user's level on one field.
    pub fn field_level(&self, user_key: &str, object: &str, field: &str, now: DateTime<Utc>) -> FieldLevel {
        self.field_level_as(user_key, object, field, now, false)
    }

    /// Rule 7, for a field being written: `creating` lets a role that may
    /// create the object fill its unprotected fields.
    pub fn field_level_as(
        &self,
        user_key: &str,
        object: &str,
        field: &str,
        now: DateTime<Utc>,
        creating: bool,
    ) -> FieldLevel {
        let Some(user) = self.model.users.get(user_key) else { return FieldLevel::None };
        let Some(def) = self.schema.objects.get(object) else { return FieldLevel::None };
        if field != "id" && !def.fields.contains_key(field) {
            return FieldLevel::None;
        }
        if user.account_owner {
            return FieldLevel::Edit;
        }
        let protected = def.fields.get(field).map(|f| f.protected).unwrap_or(false);
        let mut best = FieldLevel::None;
        for key in self.roles_of(user_key, now) {
            let Some(role) = self.role(&key) else { continue };
            let level = match role.fields.get(&format!("{object}.{field}")) {
                Some(level) => *level,
                None if protected => FieldLevel::None,
                None if self.role_gives(role, &self.perm(object, "update")) => FieldLevel::Edit,
                None if creating && self.role_gives(role, &self.perm(object, "create")) => FieldLevel::Edit,
                None if self.role_gives(role, &self.perm(object, "view")) => FieldLevel::Read,
                None => FieldLevel::None,
            };
            if level > best {
                best = level;
            }
        }
        best
    }

    /// Rule 9: whether the user may list and search an object's records.
    pub fn may_list(&self, user_key: &str, object: &str, now: DateTime<Utc>) -> bool {
        let Some(user) = self.model.users.get(user_key) else { return false };
        let Some(def) = self.schema.objects.get(object) else { return false };
        if def.list_visibility != Some(ListVisibility::Admins) || user.account_owner {
            return true;
        }
        self.roles_of(user_key, now).iter().any(|r| r == "administrator" || r == "account_owner")
    }
}
