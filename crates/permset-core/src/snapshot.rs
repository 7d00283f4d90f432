//! The compiled, immutable form of a workspace: interned permissions, dense
//! per-role grant tables, compiled conditions and per-user role lists.
//!
//! [`Snapshot::compile`] validates the model (see `validate.rs`) and builds
//! these tables once; every decision then reads them without locking or
//! allocating. The snapshot is never serialized: the model is the durable form.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::catalogue::{self, all_permissions};
use crate::condition::{self, CmpOp, Expr, Operand, Teams, TypeContext, UserContext};
use crate::fields::FieldTable;
use crate::model::{
    Access, Attributes, FieldType, Limit, ListVisibility, Model, ObjectDef, Role, Schema, UserKind,
};
use crate::names::NameIndex;
use crate::role_set::{Grants, RoleSet, UserHot};
use crate::validate::{self, Diagnostic, Severity};

/// Index of a permission in a snapshot.
pub(crate) type PermId = u32;
/// Index of a role in a snapshot.
pub(crate) type RoleIdx = u32;

/// A workspace that failed validation: every error found, in file order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", render_errors(.diagnostics))]
pub struct CompileError {
    /// The errors (never warnings).
    pub diagnostics: Vec<Diagnostic>,
}

fn render_errors(diagnostics: &[Diagnostic]) -> String {
    let parts: Vec<String> = diagnostics.iter().map(|d| format!("{}: {}", d.path, d.message)).collect();
    parts.join("; ")
}

/// What one permission is: its module, action and the object it acts on.
#[derive(Debug)]
pub(crate) struct PermInfo {
    pub(crate) name: String,
    pub(crate) module: String,
    pub(crate) action: String,
    /// Whether the module is an object (has records).
    pub(crate) is_object: bool,
    /// The object's position in `Snapshot::objects`, when it is one.
    pub(crate) object: Option<u32>,
    /// The module's `view` permission, when this action on a record needs view (rule 6).
    pub(crate) needs_view: Option<PermId>,
    /// The action is `update` (checked before and after, rule 6).
    pub(crate) is_update: bool,
    /// The action is `create` (every field of the new record is written, rule 7).
    pub(crate) is_create: bool,
}

/// One limited scope, compiled once into the form both the single check
/// (`matches`) and the list predicate (`to_expr`) read.
#[derive(Debug)]
pub(crate) enum CompiledLimit {
    /// `own` or `team`.
    Scope(Scope),
    /// `rule:` or `where:`.
    Condition(Arc<Expr>),
}

impl CompiledLimit {
    /// Whether the limit holds for `record` and the acting user (rule 5).
    pub(crate) fn matches(&self, record: &crate::Record, user: &UserContext<'_>) -> bool {
        match self {
            CompiledLimit::Scope(scope) => scope.matches(record, user),
            CompiledLimit::Condition(expr) => expr.eval(record, user),
        }
    }

    /// The limit as a predicate over record fields only, the user's values
    /// bound: `to_expr(u).matches(r) == matches(r, u)` for every record.
    pub(crate) fn to_expr(&self, user: &UserContext<'_>) -> Expr {
        match self {
            CompiledLimit::Scope(scope) => scope.to_expr(user),
            CompiledLimit::Condition(expr) => expr.bind(user),
        }
    }

    /// The record fields the limit reads, for explain.
    pub(crate) fn fields(&self) -> Vec<&str> {
        match self {
            CompiledLimit::Scope(scope) => {
                scope.team.iter().chain(&scope.owner).map(String::as_str).collect()
            }
            CompiledLimit::Condition(expr) => expr.fields(),
        }
    }
}

/// Rule 5's `own` and `team` for one object, resolved at compile time: the
/// one place that says what they mean. `own` matches records whose owner
/// field is the user; `team` those whose team field is one of the user's
/// teams, and the user's own records too (Group includes Restricted).
#[derive(Debug)]
pub(crate) struct Scope {
    /// The object's owner field (every scope matches the user's own records).
    owner: Option<String>,
    /// The object's team field, for `team` only.
    team: Option<String>,
}

impl Scope {
    /// The scope of `limit` (`own` or `team`) on an object; `None` for a
    /// condition, or when the object lacks the field (validation refuses that).
    pub(crate) fn of(def: &ObjectDef, limit: &Limit) -> Option<Scope> {
        match limit {
            Limit::Own => Some(Scope { owner: Some(def.owner_field.clone()?), team: None }),
            Limit::Team => {
                Some(Scope { owner: def.owner_field.clone(), team: Some(def.team_field.clone()?) })
            }
            Limit::Rule(_) | Limit::Where(_) => None,
        }
    }

    fn matches(&self, record: &crate::Record, user: &UserContext<'_>) -> bool {
        let value =
            |field: &Option<String>| field.as_deref().and_then(|f| record.get(f)).and_then(|v| v.as_str());
        let in_team = || value(&self.team).is_some_and(|t| user.teams.contains(t));
        value(&self.owner) == Some(user.id) || in_team()
    }

    fn to_expr(&self, user: &UserContext<'_>) -> Expr {
        let field = |name: &String, ty: FieldType| Operand::Field { name: name.clone(), ty };
        let own = self.owner.as_ref().map(|f| Expr::Compare {
            left: field(f, FieldType::User),
            op: CmpOp::Eq,
            right: Operand::Value(Value::String(user.id.to_owned())),
        });
        let team = self.team.as_ref().map(|f| Expr::Compare {
            left: field(f, FieldType::Team),
            op: CmpOp::In,
            right: Operand::Value(Value::Array(
                user.teams.iter().map(|t| Value::String(t.to_owned())).collect(),
            )),
        });
        let mut any: Vec<Expr> = team.into_iter().chain(own).collect();
        match any.len() {
            0 => Expr::Const(false),
            1 => any.pop().unwrap_or(Expr::Const(false)),
            _ => Expr::Or(any),
        }
    }
}

/// A grant's access, compiled.
#[derive(Debug)]
pub(crate) enum CompiledAccess {
    None,
    All,
    /// The limits paired with the model's spelling of each, for explain.
    Limited(Box<[(CompiledLimit, Limit)]>),
}

#[derive(Debug)]
pub(crate) struct CompiledRole {
    pub(crate) key: String,
    pub(crate) system: bool,
    pub(crate) role: Role,
    /// Dense by permission id.
    pub(crate) table: Box<[CompiledAccess]>,
    /// The table as bitsets.
    pub(crate) grants: Grants,
    /// Rule 7: the role's level on every field (see `fields.rs`).
    pub(crate) field_levels: FieldTable,
}

/// Where a role of a user comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Direct,
    Team(u32),
}

#[derive(Debug, Clone)]
pub(crate) struct UserAssignment {
    pub(crate) role: RoleIdx,
    pub(crate) via: Via,
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

/// A user, compiled: a fixed-size row whose variable parts (team keys,
/// assignments) live in flat arenas of the snapshot and whose attributes
/// are one of the snapshot's distinct attribute sets, so a million users
/// cost a million small rows, not millions of allocations. The key is read
/// back from the user index (`Snapshot::user_key`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompiledUser {
    /// Position in `Snapshot::users` (and `Snapshot::hot`, and the user index's entries).
    pub(crate) index: u32,
    pub(crate) kind: UserKind,
    pub(crate) account_owner: bool,
    /// Index into `Snapshot::attribute_sets`.
    attributes: u32,
    /// `[from, to)` in `Snapshot::user_teams`: the teams, sorted by key.
    teams: (u32, u32),
    /// `[from, to)` in `Snapshot::user_assignments`: every assignment
    /// reaching the user (direct, then via teams), active or not.
    assignments: (u32, u32),
}

/// An object's compiled facts.
#[derive(Debug)]
pub(crate) struct ObjectInfo {
    pub(crate) def: ObjectDef,
    pub(crate) view: PermId,
    /// Position among the objects (the first index of a role's field table).
    pub(crate) index: u32,
    /// Field name → position in `def.fields` (the second index); `id` comes last.
    pub(crate) field_index: NameIndex,
}

/// A compiled workspace. Cheap to query, immutable, safe to share across threads.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) workspace: String,
    pub(crate) revision: u64,
    /// Process-unique, fresh for every compile: the stamp of the handles
    /// this snapshot issues (`ids.rs`), so another snapshot's are denied.
    pub(crate) generation: u64,
    pub(crate) model: Model,
    pub(crate) schema: Schema,
    pub(crate) perms: Vec<PermInfo>,
    /// Permission names (aliases included) → ids.
    pub(crate) perm_ids: NameIndex,
    /// The objects, by their `index`.
    pub(crate) objects: Vec<ObjectInfo>,
    /// Object names → positions in `objects`.
    pub(crate) object_ids: NameIndex,
    pub(crate) roles: Vec<CompiledRole>,
    pub(crate) role_ids: FxHashMap<String, RoleIdx>,
    pub(crate) users: Vec<CompiledUser>,
    /// What decisions read first, dense and small, parallel to `users`.
    pub(crate) hot: Vec<UserHot>,
    /// User keys → positions in `users`; entry `i` is user `i`'s key.
    pub(crate) user_ids: NameIndex,
    /// Every user's teams as positions in `team_keys`, user after user
    /// (`CompiledUser::teams`): four bytes a membership, not a string.
    pub(crate) user_teams: Vec<u32>,
    /// Every user's assignments, user after user (`CompiledUser::assignments`).
    pub(crate) user_assignments: Vec<UserAssignment>,
    /// The distinct attribute sets of the users; the first is the empty one.
    /// The model's users share these (see `share_attributes`).
    pub(crate) attribute_sets: Vec<Attributes>,
    pub(crate) team_keys: Vec<String>,
    /// Distinct role combinations in force at compile time; `hot[u].role_set` indexes it.
    pub(crate) role_sets: Vec<RoleSet>,
    /// One set per role, for keys scoped to that role.
    pub(crate) single_sets: Vec<RoleSet>,
    pub(crate) teams_view: Option<PermId>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Snapshot {
    /// Validates and compiles a model, as of the beginning of time (every
    /// assignment with an expiry still in force). Prefer [`Snapshot::compile_at`]
    /// with the current time so that the precomputed fast path covers today.
    pub fn compile(model: &Model) -> Result<Snapshot, CompileError> {
        Self::compile_at(model, DateTime::<Utc>::MIN_UTC, 0)
    }

    /// Validates and compiles a model at a revision, precomputing each user's
    /// roles as they stand at `now`. Decisions at any other time stay exact:
    /// they take a slower path that re-reads the assignments.
    pub fn compile_at(model: &Model, now: DateTime<Utc>, revision: u64) -> Result<Snapshot, CompileError> {
        Self::compile_owned(model.clone(), now, revision)
    }

    /// [`Snapshot::compile_at`] for a model the caller no longer needs: the
    /// snapshot keeps it without copying (how the server recompiles after a change).
    /// Users with equal attributes then share one copy of them in the kept model.
    pub fn compile_owned(model: Model, now: DateTime<Utc>, revision: u64) -> Result<Snapshot, CompileError> {
        let schema = catalogue::merged_schema(&model.schema);
        let system = catalogue::system_roles(&schema);
        let diagnostics = validate::validate(&model, &schema, &system);
        let (errors, warnings): (Vec<_>, Vec<_>) =
            diagnostics.into_iter().partition(|d| d.severity == Severity::Error);
        if !errors.is_empty() {
            return Err(CompileError { diagnostics: errors });
        }
        let mut builder = Builder::new(&model, schema);
        builder.intern_permissions();
        builder.compile_roles(&model, system);
        let snapshot = builder.finish(model, now, revision, warnings);
        Ok(snapshot)
    }

    /// The workspace key.
    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// The revision this snapshot was compiled at.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The model this snapshot was compiled from.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The merged schema (catalogue plus declarations).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Validation warnings found while compiling.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Every valid permission name (aliases excluded), in catalogue order.
    pub fn permission_names(&self) -> impl Iterator<Item = &str> {
        self.perms.iter().map(|p| p.name.as_str())
    }

    /// A role by key (system or custom), with whether it is a system role.
    pub fn role(&self, key: &str) -> Option<(&Role, bool)> {
        let idx = *self.role_ids.get(key)?;
        self.roles.get(idx as usize).map(|r| (&r.role, r.system))
    }

    /// Every role key, system roles first.
    pub fn role_keys(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(|r| r.key.as_str())
    }

    pub(crate) fn perm(&self, id: PermId) -> Option<&PermInfo> {
        self.perms.get(id as usize)
    }

    pub(crate) fn role_at(&self, idx: RoleIdx) -> Option<&CompiledRole> {
        self.roles.get(idx as usize)
    }

    pub(crate) fn team_key(&self, idx: u32) -> &str {
        self.team_keys.get(idx as usize).map_or("", String::as_str)
    }

    pub(crate) fn user(&self, key: &str) -> Option<&CompiledUser> {
        let idx = *self.user_ids.get(key)?;
        self.users.get(idx as usize)
    }
}

/// Normalises an action alias: `edit` is `update`, `add` is `create`.
pub(crate) fn canonical_action(action: &str) -> &str {
    match action {
        "edit" => "update",
        "add" => "create",
        other => other,
    }
}

struct Builder {
    schema: Schema,
    perms: Vec<PermInfo>,
    perm_ids: FxHashMap<String, PermId>,
    /// `perm_ids` in insertion order (names, then aliases), for the snapshot's index.
    perm_order: Vec<(String, PermId)>,
    roles: Vec<CompiledRole>,
    role_ids: FxHashMap<String, RoleIdx>,
    conditions: FxHashMap<(String, String), Arc<Expr>>,
    user_attributes: BTreeMap<String, crate::model::FieldType>,
}

impl Builder {
    fn new(model: &Model, schema: Schema) -> Self {
        let user_attributes = validate::user_attribute_types(model, &schema);
        Builder {
            schema,
            perms: Vec::new(),
            perm_ids: FxHashMap::default(),
            perm_order: Vec::new(),
            roles: Vec::new(),
            role_ids: FxHashMap::default(),
            conditions: FxHashMap::default(),
            user_attributes,
        }
    }

    fn intern_permissions(&mut self) {
        for (module, action) in all_permissions(&self.schema) {
            let id = self.perms.len() as PermId;
            let name = format!("{module}_{action}");
            self.perm_ids.insert(name.clone(), id);
            self.perm_order.push((name.clone(), id));
            let object = self.schema.objects.get(&module);
            let info = PermInfo {
                is_object: object.is_some(),
                object: None,
                is_update: action == "update",
                is_create: action == "create",
                name,
                module,
                action,
                needs_view: None,
            };
            self.perms.push(info);
        }
        for (alias, canonical) in [("edit", "update"), ("add", "create")] {
            let pairs: Vec<(String, PermId)> = self
                .perms
                .iter()
                .enumerate()
                .filter(|(_, p)| p.action == canonical)
                .map(|(id, p)| (format!("{}_{alias}", p.module), id as PermId))
                .collect();
            for (name, id) in pairs {
                if !self.perm_ids.contains_key(&name) {
                    self.perm_ids.insert(name.clone(), id);
                    self.perm_order.push((name, id));
                }
            }
        }
        // Rule 6: every action on a record except view and create needs view of it.
        let views: Vec<Option<PermId>> = self
            .perms
            .iter()
            .map(|p| {
                let needs = p.action != "view" && p.action != "create";
                if needs {
                    self.perm_ids.get(&format!("{}_view", p.module)).copied()
                } else {
                    None
                }
            })
            .collect();
        for (perm, view) in self.perms.iter_mut().zip(views) {
            perm.needs_view = view;
        }
    }

    fn compile_roles(&mut self, model: &Model, system: BTreeMap<String, Role>) {
        let system_order = catalogue::system_role_names();
        let mut ordered: Vec<(String, Role, bool)> = Vec::new();
        let mut system = system;
        for name in system_order {
            if let Some(role) = system.remove(*name) {
                ordered.push(((*name).to_owned(), role, true));
            }
        }
        for (key, role) in &model.roles {
            ordered.push((key.clone(), role.clone(), false));
        }
        for (key, role, is_system) in ordered {
            let mut table: Vec<CompiledAccess> =
                (0..self.perms.len()).map(|_| CompiledAccess::None).collect();
            for (name, grant) in &role.grants {
                let Some(&id) = self.perm_ids.get(name.as_str()) else { continue };
                let object = self.perms.get(id as usize).map(|p| p.module.clone()).unwrap_or_default();
                let compiled = self.compile_access(model, &object, &grant.access);
                if let Some(slot) = table.get_mut(id as usize) {
                    *slot = merge_access(std::mem::replace(slot, CompiledAccess::None), compiled);
                }
            }
            let idx = self.roles.len() as RoleIdx;
            self.role_ids.insert(key.clone(), idx);
            let grants = Grants::of_table(&table);
            self.roles.push(CompiledRole {
                key,
                system: is_system,
                role,
                table: table.into_boxed_slice(),
                grants,
                field_levels: FieldTable::default(),
            });
        }
    }

    fn compile_access(&mut self, model: &Model, object: &str, access: &Access) -> CompiledAccess {
        match access {
            Access::None => CompiledAccess::None,
            Access::All => CompiledAccess::All,
            Access::Limited(limits) => {
                let compiled: Vec<(CompiledLimit, Limit)> = limits
                    .iter()
                    .filter_map(|l| Some((self.compile_limit(model, object, l)?, l.clone())))
                    .collect();
                if compiled.is_empty() {
                    CompiledAccess::None
                } else {
                    CompiledAccess::Limited(compiled.into_boxed_slice())
                }
            }
        }
    }

    /// Validation has already type-checked every condition, so a failure here
    /// cannot happen; it would only drop the limit (deny by default).
    fn compile_limit(&mut self, model: &Model, object: &str, limit: &Limit) -> Option<CompiledLimit> {
        let source = match limit {
            Limit::Own | Limit::Team => {
                return Scope::of(self.schema.objects.get(object)?, limit).map(CompiledLimit::Scope)
            }
            Limit::Rule(name) => model.access_rules.get(object)?.get(name)?.clone(),
            Limit::Where(text) => text.clone(),
        };
        let key = (object.to_owned(), source);
        if let Some(expr) = self.conditions.get(&key) {
            return Some(CompiledLimit::Condition(Arc::clone(expr)));
        }
        let def = self.schema.objects.get(object)?;
        let ctx = TypeContext { object, fields: &def.fields, user_attributes: &self.user_attributes };
        let expr = Arc::new(condition::compile(&key.1, &ctx).ok()?);
        self.conditions.insert(key, Arc::clone(&expr));
        Some(CompiledLimit::Condition(expr))
    }

    /// Builds the users and moves the model into the snapshot (no copy of it is made).
    fn finish(
        self,
        mut model: Model,
        now: DateTime<Utc>,
        revision: u64,
        warnings: Vec<Diagnostic>,
    ) -> Snapshot {
        let team_keys: Vec<String> = model.teams.keys().cloned().collect();
        let team_idx: FxHashMap<&str, u32> =
            team_keys.iter().enumerate().map(|(i, k)| (k.as_str(), i as u32)).collect();
        let teams_view = self.perm_ids.get("teams_view").copied();
        let perm_ids = NameIndex::build(self.perm_order.iter().map(|(name, id)| (name.as_str(), *id)));
        // The users are built while `model` is borrowed; it moves in at the end.
        // Until then the snapshot holds its settings, which roles_in_force reads.
        let placeholder = Model { settings: model.settings.clone(), ..Model::default() };
        let mut snapshot = Snapshot {
            workspace: model.workspace.clone(),
            revision,
            generation: crate::ids::next_generation(),
            model: placeholder,
            schema: self.schema,
            perms: self.perms,
            perm_ids,
            objects: Vec::new(),
            object_ids: NameIndex::default(),
            roles: self.roles,
            role_ids: self.role_ids,
            users: Vec::with_capacity(model.users.len()),
            hot: Vec::with_capacity(model.users.len()),
            user_ids: NameIndex::default(),
            user_teams: Vec::new(),
            user_assignments: Vec::new(),
            attribute_sets: vec![Attributes::new()],
            team_keys: Vec::new(),
            role_sets: Vec::new(),
            single_sets: Vec::new(),
            teams_view,
            warnings,
        };
        let mut names: Vec<&str> = Vec::new();
        for (name, def) in &snapshot.schema.objects {
            if let Some(&view) = snapshot.perm_ids.get(&format!("{name}_view")) {
                let index = snapshot.objects.len() as u32;
                let fields = def.fields.keys().map(String::as_str).chain(["id"]);
                let field_index = NameIndex::build(fields.enumerate().map(|(i, f)| (f, i as u32)));
                snapshot.objects.push(ObjectInfo { def: def.clone(), view, index, field_index });
                names.push(name);
            }
        }
        snapshot.object_ids = NameIndex::build(names.iter().enumerate().map(|(i, name)| (*name, i as u32)));
        for perm in &mut snapshot.perms {
            perm.object = snapshot.object_ids.get(&perm.module).copied();
        }
        let objects: Vec<(&str, &ObjectInfo)> =
            snapshot.objects.iter().map(|info| (snapshot.object_ids.key(info.index), info)).collect();
        let tables: Vec<FieldTable> =
            snapshot.roles.iter().map(|role| snapshot.field_table(role, &objects)).collect();
        for (role, table) in snapshot.roles.iter_mut().zip(tables) {
            role.field_levels = table;
        }
        snapshot.single_sets =
            (0..snapshot.roles.len() as RoleIdx).map(|r| snapshot.role_set(Box::new([r]))).collect();
        let attributes = snapshot.share_attributes(&mut model);
        snapshot.compile_users(&model, &team_idx, &attributes, now);
        snapshot.team_keys = team_keys;
        snapshot.model = model;
        snapshot
    }
}

/// Distinct attribute sets, found by a hash of their contents (users in one
/// region share one set instead of each holding a copy).
#[derive(Default)]
struct AttributeSets {
    by_hash: FxHashMap<u64, Vec<u32>>,
    /// Allocations already seen → their set. Sound because no attribute
    /// set is allocated while the users are interned: an address freed
    /// meanwhile (a user's copy replaced by the shared one) cannot come
    /// back as another user's set.
    by_allocation: FxHashMap<usize, u32>,
}

impl AttributeSets {
    /// The index of `attributes` in `sets`, added if new.
    fn intern(&mut self, sets: &mut Vec<Attributes>, attributes: &Attributes) -> u32 {
        let Some(at) = attributes.allocation() else { return 0 };
        // Users built from one cached set (see `attributes.rs`) share its
        // allocation: found by address without hashing the contents.
        if let Some(&i) = self.by_allocation.get(&at) {
            return i;
        }
        let bucket = self.by_hash.entry(attributes.content_hash()).or_default();
        let i = match bucket.iter().find(|&&i| sets.get(i as usize) == Some(attributes)) {
            Some(&i) => i,
            None => {
                let i = sets.len() as u32;
                sets.push(attributes.clone());
                bucket.push(i);
                i
            }
        };
        self.by_allocation.insert(at, i);
        i
    }
}

impl Snapshot {
    /// Finds the users' distinct attribute sets and makes every user of
    /// `model` share its set's one allocation, so that the model the
    /// snapshot keeps holds no per-user copy of them (a million users in
    /// a few regions: a few allocations, not a million). Returns each
    /// user's set index in `attribute_sets`, in key order.
    fn share_attributes(&mut self, model: &mut Model) -> Vec<u32> {
        let mut sets = AttributeSets::default();
        let mut indexes = Vec::with_capacity(model.users.len());
        for user in model.users.values_mut() {
            let i = sets.intern(&mut self.attribute_sets, &user.attributes);
            if let Some(shared) = self.attribute_sets.get(i as usize) {
                if shared.allocation() != user.attributes.allocation() {
                    user.attributes = shared.clone();
                }
            }
            indexes.push(i);
        }
        indexes
    }

    /// Compiles every user of `model`: its row, its hot row, its role set
    /// (shared with every user holding the same roles) and the user index.
    /// `attributes` is each user's attribute set, from `share_attributes`.
    fn compile_users(
        &mut self,
        model: &Model,
        team_idx: &FxHashMap<&str, u32>,
        attributes: &[u32],
        now: DateTime<Utc>,
    ) {
        // Each team's assignments, resolved once rather than once per member.
        let mut team_assignments: Vec<Vec<UserAssignment>> = vec![Vec::new(); team_idx.len()];
        for (team, list) in &model.assignments.teams {
            let Some(&t) = team_idx.get(team.as_str()) else { continue };
            let Some(slot) = team_assignments.get_mut(t as usize) else { continue };
            for a in list {
                if let Some(&role) = self.role_ids.get(&a.role) {
                    slot.push(UserAssignment { role, via: Via::Team(t), expires_at: a.expires_at });
                }
            }
        }
        let memberships: usize = model.users.values().map(|u| u.teams.len()).sum();
        self.user_teams.reserve_exact(memberships);
        self.user_assignments.reserve(model.users.len() * 2);
        let mut set_ids: FxHashMap<Box<[RoleIdx]>, u32> = FxHashMap::default();
        let mut roles: Vec<RoleIdx> = Vec::new();
        let mut teams: Vec<(u32, &str)> = Vec::new();
        // Users and their direct assignments are both sorted by key: walk them together.
        let mut direct = model.assignments.users.iter().peekable();
        for ((key, user), &attributes) in model.users.iter().zip(attributes) {
            while direct.next_if(|(k, _)| k.as_str() < key.as_str()).is_some() {}
            let assigned = direct.next_if(|(k, _)| *k == key).map(|(_, list)| list);
            let from = self.user_assignments.len() as u32;
            for a in assigned.into_iter().flatten() {
                if let Some(&role) = self.role_ids.get(&a.role) {
                    self.user_assignments.push(UserAssignment {
                        role,
                        via: Via::Direct,
                        expires_at: a.expires_at,
                    });
                }
            }
            teams.clear();
            teams.extend(
                user.teams
                    .iter()
                    .map(|t| (team_idx.get(t.as_str()).copied().unwrap_or(u32::MAX), t.as_str())),
            );
            teams.sort_unstable_by(|a, b| a.1.cmp(b.1));
            teams.dedup_by(|a, b| a.1 == b.1);
            let teams_from = self.user_teams.len() as u32;
            for &(t, _) in &teams {
                // Validation refused unknown teams, so `t` is a position in `team_keys`.
                self.user_teams.push(t);
                if let Some(list) = team_assignments.get(t as usize) {
                    self.user_assignments.extend_from_slice(list);
                }
            }
            let index = self.users.len() as u32;
            let compiled = CompiledUser {
                index,
                kind: user.kind,
                account_owner: user.account_owner,
                attributes,
                teams: (teams_from, self.user_teams.len() as u32),
                assignments: (from, self.user_assignments.len() as u32),
            };
            let assignments = self.assignments_of(&compiled);
            self.roles_in_force_into(assignments, compiled.kind, now, &mut roles);
            let (from, until) = validity_window(assignments, now);
            let set = match set_ids.get(roles.as_slice()) {
                Some(&set) => set,
                None => {
                    let set = self.role_sets.len() as u32;
                    let boxed: Box<[RoleIdx]> = roles.as_slice().into();
                    set_ids.insert(boxed.clone(), set);
                    let built = self.role_set(boxed);
                    self.role_sets.push(built);
                    set
                }
            };
            self.hot.push(UserHot {
                account_owner: user.account_owner,
                role_set: set,
                from: from.map_or(i64::MIN, |t| t.timestamp_micros()),
                until: until.map_or(i64::MAX, |t| t.timestamp_micros()),
            });
            self.users.push(compiled);
        }
        self.user_assignments.shrink_to_fit();
        self.user_ids = NameIndex::build(model.users.keys().enumerate().map(|(i, k)| (k.as_str(), i as u32)));
    }

    /// A user's key.
    pub(crate) fn user_key(&self, user: &CompiledUser) -> &str {
        self.user_ids.key(user.index)
    }

    /// A user's team keys, sorted.
    pub(crate) fn user_teams(&self, user: &CompiledUser) -> Teams<'_> {
        let ids = self.user_teams.get(user.teams.0 as usize..user.teams.1 as usize).unwrap_or_default();
        Teams::ids(ids, &self.team_keys)
    }

    /// A user's attributes.
    pub(crate) fn user_attributes(&self, user: &CompiledUser) -> &Attributes {
        static EMPTY: Attributes = Attributes::new();
        self.attribute_sets.get(user.attributes as usize).unwrap_or(&EMPTY)
    }

    /// Every assignment reaching a user (direct, then via teams), active or not.
    pub(crate) fn assignments_of(&self, user: &CompiledUser) -> &[UserAssignment] {
        self.user_assignments
            .get(user.assignments.0 as usize..user.assignments.1 as usize)
            .unwrap_or_default()
    }

    /// What the acting user looks like to conditions.
    pub(crate) fn user_context(&self, user: &CompiledUser) -> UserContext<'_> {
        UserContext {
            id: self.user_key(user),
            teams: self.user_teams(user),
            attributes: self.user_attributes(user),
        }
    }
}

/// Two grants of one permission in one role (e.g. `customers_edit` and
/// `customers_update`) are OR-ed like grants of different roles.
fn merge_access(a: CompiledAccess, b: CompiledAccess) -> CompiledAccess {
    match (a, b) {
        (CompiledAccess::All, _) | (_, CompiledAccess::All) => CompiledAccess::All,
        (CompiledAccess::None, other) | (other, CompiledAccess::None) => other,
        (CompiledAccess::Limited(x), CompiledAccess::Limited(y)) => {
            CompiledAccess::Limited(x.into_vec().into_iter().chain(y.into_vec()).collect())
        }
    }
}

/// The interval around `now` in which no assignment starts or stops counting.
fn validity_window(
    assignments: &[UserAssignment],
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let mut from = None;
    let mut until = None;
    for at in assignments.iter().filter_map(|a| a.expires_at) {
        if at <= now {
            from = Some(from.map_or(at, |f: DateTime<Utc>| f.max(at)));
        } else {
            until = Some(until.map_or(at, |u: DateTime<Utc>| u.min(at)));
        }
    }
    (from, until)
}

impl Snapshot {
    /// Rule 3 (with rule 10): the roles in force for a user at `now`.
    pub(crate) fn roles_in_force(&self, user: &CompiledUser, now: DateTime<Utc>) -> Vec<RoleIdx> {
        let mut roles = Vec::new();
        self.roles_in_force_into(self.assignments_of(user), user.kind, now, &mut roles);
        roles
    }

    /// [`Snapshot::roles_in_force`] of a user of `kind` with `assignments`, into `roles` (cleared first).
    fn roles_in_force_into(
        &self,
        assignments: &[UserAssignment],
        kind: UserKind,
        now: DateTime<Utc>,
        roles: &mut Vec<RoleIdx>,
    ) {
        let counts = |a: &UserAssignment| {
            a.expires_at.is_none_or(|at| now < at)
                && self.role_at(a.role).is_some_and(|r| r.role.kind == kind)
        };
        roles.clear();
        roles.extend(assignments.iter().filter(|a| a.via == Via::Direct && counts(a)).map(|a| a.role));
        if self.team_roles_count(roles) {
            roles.extend(assignments.iter().filter(|a| a.via != Via::Direct && counts(a)).map(|a| a.role));
        }
        roles.sort_unstable();
        roles.dedup();
    }

    /// Whether team-assigned roles count for a user whose direct roles are `direct`.
    pub(crate) fn team_roles_count(&self, direct: &[RoleIdx]) -> bool {
        if !self.model.settings.team_roles_require_teams_view {
            return true;
        }
        let Some(teams_view) = self.teams_view else { return false };
        direct.iter().any(|&r| {
            self.role_at(r)
                .and_then(|role| role.table.get(teams_view as usize))
                .is_some_and(|a| !matches!(a, CompiledAccess::None))
        })
    }

    /// A role set over `roles`, with their grants combined.
    pub(crate) fn role_set(&self, roles: Box<[RoleIdx]>) -> RoleSet {
        let words = self.perms.len().div_ceil(64);
        let grants = Grants::union(words, roles.iter().filter_map(|&r| self.role_at(r)).map(|r| &r.grants));
        RoleSet { roles, grants }
    }

    /// The role set in force for a user at `now`: the precomputed one when
    /// `now` is inside its window (the fast path), else rebuilt from the assignments.
    pub(crate) fn with_role_set<R>(&self, user: u32, now: DateTime<Utc>, f: impl FnOnce(&RoleSet) -> R) -> R {
        let hot = self.hot.get(user as usize);
        if let Some(set) = hot.filter(|h| h.covers(now)).and_then(|h| self.role_sets.get(h.role_set as usize))
        {
            return f(set);
        }
        let roles = self.users.get(user as usize).map(|u| self.roles_in_force(u, now)).unwrap_or_default();
        f(&self.role_set(roles.into_boxed_slice()))
    }

    /// The roles in force for a user at `now` (see [`Snapshot::with_role_set`]).
    pub(crate) fn with_roles<R>(
        &self,
        user: &CompiledUser,
        now: DateTime<Utc>,
        f: impl FnOnce(&[RoleIdx]) -> R,
    ) -> R {
        self.with_role_set(user.index, now, |set| f(&set.roles))
    }

    /// The object definition of a module, when it is an object.
    pub(crate) fn object(&self, name: &str) -> Option<&ObjectInfo> {
        self.objects.get(*self.object_ids.get(name)? as usize)
    }

    /// Whether the object's list and search are open to everyone with view (rule 9).
    pub(crate) fn list_is_open(&self, object: &str) -> bool {
        self.object(object).is_none_or(|o| o.def.list_visibility != Some(ListVisibility::Admins))
    }
}
