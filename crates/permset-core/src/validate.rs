//! Validation of a model against the merged schema (DESIGN.md §3): every
//! finding is a [`Diagnostic`] with a dotted path into the workspace file
//! (the same paths as `SourceMap`), so lint can print `FILE:LINE`.
//!
//! Errors make compilation fail; warnings are reported by lint and kept on
//! the snapshot. This is the one place these rules live.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::catalogue::{all_permissions, PREREQUISITES};
use crate::condition::{self, TypeContext};
use crate::model::{Access, FieldType, Grant, Limit, Model, Role, Schema, UserKind};
use crate::snapshot::canonical_action;
use crate::suggest::did_you_mean;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Blocks saving and compiling.
    Error,
    /// Worth fixing; does not block.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One validation finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Dotted path of the offending node (`roles.set_b.grants.customers_view`).
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

struct Findings(Vec<Diagnostic>);

impl Findings {
    fn error(&mut self, path: String, message: String) {
        self.0.push(Diagnostic { severity: Severity::Error, path, message });
    }
    fn warning(&mut self, path: String, message: String) {
        self.0.push(Diagnostic { severity: Severity::Warning, path, message });
    }
}

/// The types of `user.<attr>`: declared ones, then inferred from users' values.
pub(crate) fn user_attribute_types(model: &Model, schema: &Schema) -> BTreeMap<String, FieldType> {
    let mut types = schema.user_attributes.clone();
    for user in model.users.values() {
        for (name, value) in &user.attributes {
            let ty = match value {
                serde_json::Value::Bool(_) => FieldType::Bool,
                serde_json::Value::Number(_) => FieldType::Number,
                serde_json::Value::Array(_) => FieldType::List(Box::new(FieldType::String)),
                _ => FieldType::String,
            };
            // Looked up before cloning: this runs for every attribute of every user.
            if !types.contains_key(name) {
                types.insert(name.to_owned(), ty);
            }
        }
    }
    types
}

/// Validates a model; `schema` is the merged schema and `system` the system roles.
pub(crate) fn validate(model: &Model, schema: &Schema, system: &BTreeMap<String, Role>) -> Vec<Diagnostic> {
    let mut out = Findings(Vec::new());
    let attributes = user_attribute_types(model, schema);
    let permissions: BTreeSet<String> =
        all_permissions(schema).into_iter().map(|(m, a)| format!("{m}_{a}")).collect();
    validate_names(model, &mut out);
    validate_schema(schema, &mut out);
    validate_rules(model, schema, &attributes, &mut out);
    for (key, role) in &model.roles {
        if system.contains_key(key) {
            out.error(format!("roles.{key}"), format!("`{key}` is a system role; choose another name"));
        }
        let ctx = RoleCtx { key, role, model, schema, attributes: &attributes, permissions: &permissions };
        validate_role(&ctx, &mut out);
    }
    validate_people(model, system, &mut out);
    out.0
}

/// Whether `name` may name a module, action, object, field or role: what
/// the workspace file accepts (`file/load.rs` asks this same function), so
/// that a model accepted through the API always exports and re-applies.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The message for a name [`is_valid_name`] refuses.
pub(crate) fn invalid_name(what: &str, name: &str) -> String {
    format!("invalid {what} name `{name}`: use lowercase letters, digits and `_`, starting with a letter")
}

/// The declared names of modules, actions, objects, fields and roles.
fn validate_names(model: &Model, out: &mut Findings) {
    let mut check = |what: &str, path: String, name: &str| {
        if !is_valid_name(name) {
            out.error(path, invalid_name(what, name));
        }
    };
    for (name, module) in &model.schema.modules {
        check("module", format!("modules.{name}"), name);
        for action in &module.actions {
            check("action", format!("modules.{name}.actions"), action);
        }
    }
    for (name, object) in &model.schema.objects {
        check("object", format!("objects.{name}"), name);
        for action in &object.actions {
            check("action", format!("objects.{name}.actions"), action);
        }
        for field in object.fields.keys() {
            check("field", format!("objects.{name}.fields.{field}"), field);
        }
    }
    for name in model.roles.keys() {
        check("role", format!("roles.{name}"), name);
    }
}

fn validate_schema(schema: &Schema, out: &mut Findings) {
    for (name, def) in &schema.objects {
        let fields_of = |ty: &FieldType| -> Vec<&str> {
            def.fields.iter().filter(|(_, f)| &f.ty == ty).map(|(n, _)| n.as_str()).collect()
        };
        for (slot, wanted, ty) in [
            ("owner_field", &def.owner_field, FieldType::User),
            ("team_field", &def.team_field, FieldType::Team),
        ] {
            let Some(field) = wanted else { continue };
            if def.fields.get(field).is_none_or(|f| f.ty != ty) {
                let candidates = fields_of(&ty);
                out.error(
                    format!("objects.{name}.{slot}"),
                    format!(
                        "`{field}` is not a {} field of `{name}`{}",
                        if ty == FieldType::User { "user" } else { "team" },
                        did_you_mean(field, candidates)
                    ),
                );
            }
        }
        for (field, def) in &def.fields {
            let mut ty = &def.ty;
            if let FieldType::List(inner) = ty {
                ty = inner;
            }
            match ty {
                FieldType::Lookup(target) if !schema.objects.contains_key(target) => out.error(
                    format!("objects.{name}.fields.{field}"),
                    format!(
                        "lookup to unknown object `{target}`{}",
                        did_you_mean(target, schema.objects.keys().map(String::as_str))
                    ),
                ),
                FieldType::Enum(values) if values.is_empty() => out.error(
                    format!("objects.{name}.fields.{field}"),
                    "an enum needs at least one value".into(),
                ),
                FieldType::List(_) => out.error(
                    format!("objects.{name}.fields.{field}"),
                    "lists of lists are not supported".into(),
                ),
                _ => {}
            }
        }
    }
}

fn validate_rules(
    model: &Model,
    schema: &Schema,
    attributes: &BTreeMap<String, FieldType>,
    out: &mut Findings,
) {
    for (object, rules) in &model.access_rules {
        let Some(def) = schema.objects.get(object) else {
            out.error(
                format!("access_rules.{object}"),
                format!(
                    "unknown object `{object}`{}",
                    did_you_mean(object, schema.objects.keys().map(String::as_str))
                ),
            );
            continue;
        };
        let ctx = TypeContext { object, fields: &def.fields, user_attributes: attributes };
        for (name, text) in rules {
            if let Err(e) = condition::compile(text, &ctx) {
                out.error(format!("access_rules.{object}.{name}"), format!("in rule `{name}`: {e}"));
            }
            let used = model.roles.values().flat_map(|r| r.grants.values()).any(|g| match &g.access {
                Access::Limited(limits) => limits.iter().any(|l| matches!(l, Limit::Rule(n) if n == name)),
                _ => false,
            });
            if !used {
                out.warning(
                    format!("access_rules.{object}.{name}"),
                    format!("access rule `{name}` is not used by any role"),
                );
            }
        }
    }
}

struct RoleCtx<'a> {
    key: &'a str,
    role: &'a Role,
    model: &'a Model,
    schema: &'a Schema,
    attributes: &'a BTreeMap<String, FieldType>,
    permissions: &'a BTreeSet<String>,
}

/// Splits a valid permission name into (module, canonical action).
fn split_permission<'p>(name: &'p str, schema: &Schema) -> Option<(&'p str, &'p str)> {
    name.char_indices().filter(|(_, c)| *c == '_').find_map(|(i, _)| {
        let module = name.get(..i)?;
        let action = name.get(i + 1..)?;
        let known = schema.objects.contains_key(module) || schema.modules.contains_key(module);
        known.then_some((module, action))
    })
}

fn validate_role(ctx: &RoleCtx<'_>, out: &mut Findings) {
    let key = ctx.key;
    let mut canonical: BTreeMap<String, &Grant> = BTreeMap::new();
    for (name, grant) in &ctx.role.grants {
        let path = format!("roles.{key}.grants.{name}");
        let resolved = split_permission(name, ctx.schema)
            .map(|(m, a)| format!("{m}_{}", canonical_action(a)))
            .filter(|n| ctx.permissions.contains(n));
        let Some(perm) = resolved else {
            out.error(
                path,
                format!(
                    "unknown permission `{name}`{}",
                    did_you_mean(name, ctx.permissions.iter().map(String::as_str))
                ),
            );
            continue;
        };
        let Some((module, _)) = split_permission(&perm, ctx.schema) else { continue };
        validate_access(ctx, module, &grant.access, &path, out);
        if ctx.role.kind == UserKind::EndUser
            && !grant_is_none(grant)
            && ctx.schema.modules.get(module).is_some_and(|m| !m.end_users)
        {
            out.error(path.clone(), format!("end_user role grants `{perm}` of agent-only module `{module}`"));
        }
        canonical.insert(perm, grant);
    }
    for (perm, grant) in &canonical {
        let Some((module, action)) = split_permission(perm, ctx.schema) else { continue };
        let path = format!("roles.{key}.grants.{perm}");
        let view = canonical.get(&format!("{module}_view")).map(|g| &g.access);
        check_view_invariant(module, action, &grant.access, view, &path, out);
        if grant_is_none(grant) {
            continue;
        }
        for (needing, needs) in PREREQUISITES {
            if needing == perm {
                for need in needs.iter().filter(|n| canonical.get(**n).is_none_or(|g| grant_is_none(g))) {
                    out.warning(
                        path.clone(),
                        format!("`{perm}` needs `{need}`, which the role does not grant"),
                    );
                }
            }
        }
        if (action == "delete" || action == "export") && grant.reason.as_deref().is_none_or(str::is_empty) {
            out.warning(path, format!("`{perm}` is a powerful grant; write down the reason for it"));
        }
    }
    for field_path in ctx.role.fields.keys() {
        let known = field_path
            .split_once('.')
            .and_then(|(o, f)| ctx.schema.objects.get(o).map(|def| def.fields.contains_key(f)))
            .unwrap_or(false);
        if !known {
            let all: Vec<String> = ctx
                .schema
                .objects
                .iter()
                .flat_map(|(o, d)| d.fields.keys().map(move |f| format!("{o}.{f}")))
                .collect();
            out.error(
                format!("roles.{key}.fields.{field_path}"),
                format!(
                    "unknown field `{field_path}`{}",
                    did_you_mean(field_path, all.iter().map(String::as_str))
                ),
            );
        }
    }
}

fn grant_is_none(grant: &Grant) -> bool {
    grant.access == Access::None
}

/// Zendesk's rule: add/edit/delete may not exceed view.
fn check_view_invariant(
    module: &str,
    action: &str,
    access: &Access,
    view: Option<&Access>,
    path: &str,
    out: &mut Findings,
) {
    if !matches!(action, "create" | "update" | "delete") {
        return;
    }
    let perm = format!("{module}_{action}");
    match (access, view.unwrap_or(&Access::None)) {
        (Access::None, _)
        | (Access::All, Access::All)
        | (Access::Limited(_), Access::All | Access::Limited(_)) => {}
        (Access::All, Access::Limited(_)) => out.error(
            path.to_owned(),
            format!("`{perm}` is full but `{module}_view` is limited; add/edit/delete may not exceed view"),
        ),
        (_, Access::None) => out.error(
            path.to_owned(),
            format!("`{perm}` is granted without `{module}_view`; add/edit/delete may not exceed view"),
        ),
    }
}

fn validate_access(ctx: &RoleCtx<'_>, module: &str, access: &Access, path: &str, out: &mut Findings) {
    let Access::Limited(limits) = access else { return };
    let Some(def) = ctx.schema.objects.get(module) else {
        out.error(
            path.to_owned(),
            format!("`{module}` has no records, so its access can only be `all` or `none`"),
        );
        return;
    };
    for limit in limits {
        match limit {
            Limit::Own if def.owner_field.is_none() => {
                out.error(path.to_owned(), format!("`own` needs an owner_field on `{module}`"))
            }
            Limit::Team if def.team_field.is_none() => {
                out.error(path.to_owned(), format!("`team` needs a team_field on `{module}`"))
            }
            Limit::Rule(name) => {
                let rules = ctx.model.access_rules.get(module);
                if rules.is_none_or(|r| !r.contains_key(name)) {
                    let names = rules.into_iter().flat_map(|r| r.keys().map(String::as_str));
                    out.error(
                        path.to_owned(),
                        format!("unknown access rule `{name}` of `{module}`{}", did_you_mean(name, names)),
                    );
                }
            }
            Limit::Where(text) => {
                let tctx =
                    TypeContext { object: module, fields: &def.fields, user_attributes: ctx.attributes };
                if let Err(e) = condition::compile(text, &tctx) {
                    out.error(path.to_owned(), format!("in condition: {e}"));
                }
            }
            Limit::Own | Limit::Team => {}
        }
    }
}

fn validate_people(model: &Model, system: &BTreeMap<String, Role>, out: &mut Findings) {
    // Hash sets for what is asked once per user, membership or assignment
    // (a million times in a large workspace), not B-tree walks.
    let kinds: rustc_hash::FxHashMap<&str, UserKind> =
        system.iter().chain(&model.roles).map(|(k, r)| (k.as_str(), r.kind)).collect();
    let role_kind = |name: &str| kinds.get(name).copied();
    let teams: rustc_hash::FxHashSet<&str> = model.teams.keys().map(String::as_str).collect();
    let role_names: Vec<&str> = model.roles.keys().chain(system.keys()).map(String::as_str).collect();
    for (key, user) in &model.users {
        for team in user.teams.iter().filter(|t| !teams.contains(t.as_str())) {
            out.error(
                format!("users.{key}.teams"),
                format!(
                    "unknown team `{team}`{}",
                    did_you_mean(team, model.teams.keys().map(String::as_str))
                ),
            );
        }
    }
    // Both maps are sorted by key: walk them together.
    let mut users = model.users.iter().peekable();
    for (key, list) in &model.assignments.users {
        while users.next_if(|(k, _)| k.as_str() < key.as_str()).is_some() {}
        let Some((_, user)) = users.next_if(|(k, _)| *k == key) else {
            out.error(
                format!("assignments.users.{key}"),
                format!("unknown user `{key}`{}", did_you_mean(key, model.users.keys().map(String::as_str))),
            );
            continue;
        };
        for (i, a) in list.iter().enumerate() {
            // Paths are built only for findings: this loop runs for every assignment.
            let path = || format!("assignments.users.{key}.{i}");
            match role_kind(&a.role) {
                None => out.error(
                    path(),
                    format!("unknown role `{}`{}", a.role, did_you_mean(&a.role, role_names.iter().copied())),
                ),
                Some(kind) if kind != user.kind => out.error(
                    path(),
                    format!(
                        "`{}` is an {} role and `{key}` is an {}; only {} roles may be assigned to them",
                        a.role,
                        kind.as_str(),
                        user.kind.as_str(),
                        user.kind.as_str()
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    for (key, list) in &model.assignments.teams {
        if !model.teams.contains_key(key) {
            out.error(
                format!("assignments.teams.{key}"),
                format!("unknown team `{key}`{}", did_you_mean(key, model.teams.keys().map(String::as_str))),
            );
        }
        for (i, a) in list.iter().enumerate() {
            let path = || format!("assignments.teams.{key}.{i}");
            match role_kind(&a.role) {
                None => out.error(
                    path(),
                    format!("unknown role `{}`{}", a.role, did_you_mean(&a.role, role_names.iter().copied())),
                ),
                Some(UserKind::EndUser) => out
                    .error(path(), format!("`{}` is an end_user role; teams hold agent roles only", a.role)),
                Some(UserKind::Agent) => {}
            }
        }
    }
}
