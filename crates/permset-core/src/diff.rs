//! What changes between two models: the plan that `apply` shows before it
//! writes a workspace file (DESIGN.md §4, "policy as code").
//!
//! [`diff`] is pure and deterministic: changes come section by section in
//! the order of the workspace file (settings, schema, access rules, teams,
//! users, roles, assignments), keys in sorted order, each with a dotted path
//! (the same paths as the source map and diagnostics) and one human line.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Access, Assignment, FieldType, Model, ObjectDef, Role, User};

/// One difference between two models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `added`, `removed` or `changed`.
    pub kind: &'static str,
    /// Dotted path of what changed (`roles.agent.grants.customers_view`).
    pub path: String,
    /// One line for people: ``grant `customers_view` changed from `all` to `own` ``.
    pub description: String,
}

/// The changes that turn `old` into `new`, in workspace-file order.
pub fn diff(old: &Model, new: &Model) -> Vec<Change> {
    let mut out = Changes(Vec::new());
    if old.workspace != new.workspace {
        out.changed("workspace", format!("workspace key `{}` becomes `{}`", old.workspace, new.workspace));
    }
    let (a, b) = (&old.settings, &new.settings);
    if a.team_roles_require_teams_view != b.team_roles_require_teams_view {
        out.changed(
            "settings.team_roles_require_teams_view",
            format!(
                "setting `team_roles_require_teams_view` changed from `{}` to `{}`",
                a.team_roles_require_teams_view, b.team_roles_require_teams_view
            ),
        );
    }
    out.maps(&old.schema.modules, &new.schema.modules, "modules", "module", |out, path, name, a, b| {
        if a.actions != b.actions {
            out.changed(path, format!("module `{name}` actions changed to [{}]", a_list(&b.actions)));
        }
        if a.end_users != b.end_users {
            out.changed(path, format!("module `{name}` end_users changed to `{}`", b.end_users));
        }
    });
    out.maps(&old.schema.objects, &new.schema.objects, "objects", "object", object_changes);
    out.maps(
        &old.schema.user_attributes,
        &new.schema.user_attributes,
        "user_attributes",
        "user attribute",
        |out, path, name, a, b| {
            out.changed(path, format!("user attribute `{name}` type changed from {} to {}", ty(a), ty(b)));
        },
    );
    let objects: std::collections::BTreeSet<&String> =
        old.access_rules.keys().chain(new.access_rules.keys()).collect();
    let empty = BTreeMap::new();
    for object in objects {
        let a = old.access_rules.get(object).unwrap_or(&empty);
        let b = new.access_rules.get(object).unwrap_or(&empty);
        let prefix = format!("access_rules.{object}");
        out.maps(a, b, &prefix, "access rule", |out, path, name, a, b| {
            out.changed(path, format!("access rule `{name}` of `{object}` changed from `{a}` to `{b}`"));
        });
    }
    out.maps(&old.teams, &new.teams, "teams", "team", |out, path, name, a, b| {
        if a.name != b.name {
            out.changed(path, format!("team `{name}` renamed to `{}`", b.name.as_deref().unwrap_or("")));
        }
    });
    out.maps(&old.users, &new.users, "users", "user", user_changes);
    out.maps(&old.roles, &new.roles, "roles", "role", role_changes);
    for (section, a, b) in [
        ("users", &old.assignments.users, &new.assignments.users),
        ("teams", &old.assignments.teams, &new.assignments.teams),
    ] {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let none = Vec::new();
        for key in keys {
            let (before, after) = (a.get(key).unwrap_or(&none), b.get(key).unwrap_or(&none));
            let holder = if section == "users" { "user" } else { "team" };
            let path = format!("assignments.{section}.{key}");
            for gone in before.iter().filter(|x| !after.contains(x)) {
                out.push(
                    "removed",
                    &path,
                    format!("role `{}` unassigned from {holder} `{key}`", assignment(gone)),
                );
            }
            for new in after.iter().filter(|x| !before.contains(x)) {
                out.push("added", &path, format!("role `{}` assigned to {holder} `{key}`", assignment(new)));
            }
        }
    }
    out.0
}

struct Changes(Vec<Change>);

impl Changes {
    fn push(&mut self, kind: &'static str, path: &str, description: String) {
        self.0.push(Change { kind, path: path.to_owned(), description });
    }

    fn changed(&mut self, path: &str, description: String) {
        self.push("changed", path, description);
    }

    /// Added and removed keys of two maps, then `changed` for keys present in both with different values.
    fn maps<V: PartialEq>(
        &mut self,
        old: &BTreeMap<String, V>,
        new: &BTreeMap<String, V>,
        prefix: &str,
        noun: &str,
        mut changed: impl FnMut(&mut Changes, &str, &str, &V, &V),
    ) {
        let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for key in keys {
            let path = format!("{prefix}.{key}");
            match (old.get(key), new.get(key)) {
                (None, Some(_)) => self.push("added", &path, format!("{noun} `{key}` added")),
                (Some(_), None) => self.push("removed", &path, format!("{noun} `{key}` removed")),
                (Some(a), Some(b)) if a != b => changed(self, &path, key, a, b),
                _ => {}
            }
        }
    }
}

fn a_list(items: &[String]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

fn ty(t: &FieldType) -> String {
    match t {
        FieldType::String => "string".into(),
        FieldType::Number => "number".into(),
        FieldType::Bool => "bool".into(),
        FieldType::Enum(values) => format!("enum [{}]", a_list(values)),
        FieldType::Datetime => "datetime".into(),
        FieldType::User => "user".into(),
        FieldType::Team => "team".into(),
        FieldType::Lookup(target) => format!("lookup to `{target}`"),
        FieldType::List(inner) => format!("list of {}", ty(inner)),
    }
}

fn assignment(a: &Assignment) -> String {
    match a.expires_at {
        Some(at) => format!("{}` until `{}", a.role, at.to_rfc3339()),
        None => a.role.clone(),
    }
}

fn object_changes(out: &mut Changes, path: &str, name: &str, a: &ObjectDef, b: &ObjectDef) {
    let prefix = format!("{path}.fields");
    out.maps(&a.fields, &b.fields, &prefix, &format!("field of `{name}`"), |out, path, field, x, y| {
        if x.ty != y.ty {
            out.changed(
                path,
                format!("field `{name}.{field}` type changed from {} to {}", ty(&x.ty), ty(&y.ty)),
            );
        }
        if x.protected != y.protected {
            out.changed(path, format!("field `{name}.{field}` protected changed to `{}`", y.protected));
        }
        if x.indexed != y.indexed {
            out.changed(path, format!("field `{name}.{field}` indexed changed to `{}`", y.indexed));
        }
    });
    if a.actions != b.actions {
        out.changed(path, format!("object `{name}` actions changed to [{}]", a_list(&b.actions)));
    }
    for (slot, x, y) in
        [("owner_field", &a.owner_field, &b.owner_field), ("team_field", &a.team_field, &b.team_field)]
    {
        if x != y {
            let y = y.as_deref().unwrap_or("none");
            out.changed(&format!("{path}.{slot}"), format!("object `{name}` {slot} changed to `{y}`"));
        }
    }
    if a.list_visibility != b.list_visibility {
        let v = b.list_visibility.map_or("default", |v| match v {
            crate::model::ListVisibility::Everyone => "everyone",
            crate::model::ListVisibility::Admins => "admins",
        });
        out.changed(
            &format!("{path}.list_visibility"),
            format!("object `{name}` list_visibility changed to `{v}`"),
        );
    }
}

fn user_changes(out: &mut Changes, path: &str, name: &str, a: &User, b: &User) {
    if a.kind != b.kind {
        out.changed(path, format!("user `{name}` kind changed to `{}`", b.kind.as_str()));
    }
    if a.account_owner != b.account_owner {
        let what = if b.account_owner { "became an account owner" } else { "is no longer an account owner" };
        out.changed(path, format!("user `{name}` {what}"));
    }
    for team in b.teams.iter().filter(|t| !a.teams.contains(t)) {
        out.push("added", &format!("{path}.teams"), format!("user `{name}` joined team `{team}`"));
    }
    for team in a.teams.iter().filter(|t| !b.teams.contains(t)) {
        out.push("removed", &format!("{path}.teams"), format!("user `{name}` left team `{team}`"));
    }
    let attributes = |u: &User| -> BTreeMap<String, serde_json::Value> {
        u.attributes.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect()
    };
    out.maps(
        &attributes(a),
        &attributes(b),
        &format!("{path}.attributes"),
        "attribute",
        |out, p, attr, _, y| {
            out.changed(p, format!("attribute `{attr}` of user `{name}` changed to `{y}`"));
        },
    );
}

fn role_changes(out: &mut Changes, path: &str, name: &str, a: &Role, b: &Role) {
    if a.kind != b.kind {
        out.changed(path, format!("role `{name}` kind changed to `{}`", b.kind.as_str()));
    }
    if a.description != b.description {
        out.changed(path, format!("role `{name}` description changed"));
    }
    if a.cloned_from != b.cloned_from {
        out.changed(path, format!("role `{name}` cloned_from changed"));
    }
    let access = |x: &Access| x.to_string();
    out.maps(
        &a.grants,
        &b.grants,
        &format!("{path}.grants"),
        &format!("grant of `{name}`"),
        |out, p, perm, x, y| {
            if x.access != y.access {
                let what = format!("from `{}` to `{}`", access(&x.access), access(&y.access));
                out.changed(p, format!("role `{name}` grant `{perm}` changed {what}"));
            } else {
                out.changed(p, format!("role `{name}` grant `{perm}` reason changed"));
            }
        },
    );
    out.maps(
        &a.fields,
        &b.fields,
        &format!("{path}.fields"),
        &format!("field level of `{name}`"),
        |out, p, f, x, y| {
            let what = format!("from `{}` to `{}`", x.as_str(), y.as_str());
            out.changed(p, format!("role `{name}` field `{f}` changed {what}"));
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_workspace_file;

    #[test]
    fn diff_names_each_change_with_a_path() {
        let (old, _) = load_workspace_file(
            "workspace: acme\nusers: { bob: {}, ann: {} }\nroles: { r: { grants: { customers_view: all } } }\n\
             assignments: { users: { bob: [r] } }\n",
        )
        .unwrap();
        let (new, _) = load_workspace_file(
            "workspace: acme\nusers: { bob: {}, cy: {} }\nroles: { r: { grants: { customers_view: own } } }\n\
             assignments: { users: { bob: [r, light_agent] } }\n",
        )
        .unwrap();
        let changes = diff(&old, &new);
        let paths: Vec<(&str, &str)> = changes.iter().map(|c| (c.kind, c.path.as_str())).collect();
        assert_eq!(
            paths,
            vec![
                ("removed", "users.ann"),
                ("added", "users.cy"),
                ("changed", "roles.r.grants.customers_view"),
                ("added", "assignments.users.bob"),
            ]
        );
        assert_eq!(changes[2].description, "role `r` grant `customers_view` changed from `all` to `own`");
        assert!(diff(&new, &new).is_empty());
    }
}
