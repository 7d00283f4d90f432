//! Writes a [`Model`] as a workspace file: block style for the sections, flow
//! style for short values (types, access, lists of names), and strings
//! quoted whenever a plain scalar could be read back as something else.

use std::fmt::Write as _;

use chrono::SecondsFormat;

use super::yaml::{resolve_plain, Value};
use crate::model::{Access, Assignment, FieldDef, FieldType, Grant, Limit, Model, Settings, UserKind};

/// The whole file.
pub(super) fn write(model: &Model) -> String {
    let mut w = Writer::default();
    w.line(0, &format!("workspace: {}", quote(&model.workspace)));
    if model.settings != Settings::default() {
        w.line(0, "settings:");
        let value = model.settings.team_roles_require_teams_view;
        w.line(1, &format!("team_roles_require_teams_view: {value}"));
    }
    if !model.schema.modules.is_empty() {
        w.line(0, "modules:");
        for (name, module) in &model.schema.modules {
            if module.end_users {
                w.line(1, &format!("{}:", quote(name)));
                w.line(2, &format!("actions: {}", names(&module.actions)));
                w.line(2, "end_users: true");
            } else {
                w.line(1, &format!("{}: {}", quote(name), names(&module.actions)));
            }
        }
    }
    if !model.schema.user_attributes.is_empty() {
        w.line(0, "user_attributes:");
        for (name, ty) in &model.schema.user_attributes {
            w.line(1, &format!("{}: {}", quote(name), field_type(ty)));
        }
    }
    if !model.schema.objects.is_empty() {
        w.line(0, "objects:");
        for (name, object) in &model.schema.objects {
            let mut body = Vec::new();
            if !object.actions.is_empty() {
                body.push((0, format!("actions: {}", names(&object.actions))));
            }
            if !object.fields.is_empty() {
                body.push((0, "fields:".to_owned()));
                for (field, def) in &object.fields {
                    body.push((1, format!("{}: {}", quote(field), field_def(def))));
                }
            }
            if let Some(owner) = &object.owner_field {
                body.push((0, format!("owner_field: {}", quote(owner))));
            }
            if let Some(team) = &object.team_field {
                body.push((0, format!("team_field: {}", quote(team))));
            }
            if let Some(visibility) = object.list_visibility {
                let text = match visibility {
                    crate::model::ListVisibility::Everyone => "everyone",
                    crate::model::ListVisibility::Admins => "admins",
                };
                body.push((0, format!("list_visibility: {text}")));
            }
            w.entry(1, name, body);
        }
    }
    if !model.access_rules.is_empty() {
        w.line(0, "access_rules:");
        for (object, rules) in &model.access_rules {
            let body =
                rules.iter().map(|(rule, cond)| (0, format!("{}: {}", quote(rule), quote(cond)))).collect();
            w.entry(1, object, body);
        }
    }
    if !model.teams.is_empty() {
        w.line(0, "teams:");
        for (key, team) in &model.teams {
            let body = team.name.iter().map(|name| (0, format!("name: {}", quote(name)))).collect();
            w.entry(1, key, body);
        }
    }
    if !model.users.is_empty() {
        w.line(0, "users:");
        for (key, user) in &model.users {
            let mut body = Vec::new();
            if user.kind != UserKind::Agent {
                body.push((0, format!("kind: {}", user.kind.as_str())));
            }
            if !user.teams.is_empty() {
                body.push((0, format!("teams: {}", names(&user.teams))));
            }
            if !user.attributes.is_empty() {
                body.push((0, "attributes:".to_owned()));
                for (name, value) in &user.attributes {
                    body.push((1, format!("{}: {}", quote(name), json(value))));
                }
            }
            if user.account_owner {
                body.push((0, "account_owner: true".to_owned()));
            }
            w.entry(1, key, body);
        }
    }
    if !model.roles.is_empty() {
        w.line(0, "roles:");
        for (key, role) in &model.roles {
            let mut body = Vec::new();
            if role.kind != UserKind::Agent {
                body.push((0, format!("kind: {}", role.kind.as_str())));
            }
            if let Some(description) = &role.description {
                body.push((0, format!("description: {}", quote(description))));
            }
            if let Some(from) = &role.cloned_from {
                body.push((0, format!("cloned_from: {}", quote(from))));
            }
            if !role.grants.is_empty() {
                body.push((0, "grants:".to_owned()));
                for (perm, g) in &role.grants {
                    body.push((1, format!("{}: {}", quote(perm), grant(g))));
                }
            }
            if !role.fields.is_empty() {
                body.push((0, "fields:".to_owned()));
                for (field, level) in &role.fields {
                    body.push((1, format!("{}: {}", quote(field), level.as_str())));
                }
            }
            w.entry(1, key, body);
        }
    }
    let assignments = &model.assignments;
    if !assignments.users.is_empty() || !assignments.teams.is_empty() {
        w.line(0, "assignments:");
        for (section, holders) in [("users", &assignments.users), ("teams", &assignments.teams)] {
            if holders.is_empty() {
                continue;
            }
            w.line(1, &format!("{section}:"));
            for (holder, list) in holders {
                let items: Vec<String> = list.iter().map(assignment).collect();
                w.line(2, &format!("{}: [{}]", quote(holder), items.join(", ")));
            }
        }
    }
    w.out
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// `key: {}` when the body is empty, else `key:` and the body indented below it.
    fn entry(&mut self, indent: usize, key: &str, body: Vec<(usize, String)>) {
        if body.is_empty() {
            self.line(indent, &format!("{}: {{}}", quote(key)));
            return;
        }
        self.line(indent, &format!("{}:", quote(key)));
        for (extra, text) in body {
            self.line(indent + 1 + extra, &text);
        }
    }
}

/// `[a, b]`.
fn names(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

fn field_def(def: &FieldDef) -> String {
    if !def.protected && !def.indexed {
        return field_type(&def.ty);
    }
    let mut text = format!("{{type: {}", field_type(&def.ty));
    if def.protected {
        text.push_str(", protected: true");
    }
    if def.indexed {
        text.push_str(", indexed: true");
    }
    text.push('}');
    text
}

fn field_type(ty: &FieldType) -> String {
    match ty {
        FieldType::String => "string".into(),
        FieldType::Number => "number".into(),
        FieldType::Bool => "bool".into(),
        FieldType::Datetime => "datetime".into(),
        FieldType::User => "user".into(),
        FieldType::Team => "team".into(),
        FieldType::Enum(values) => format!("{{enum: {}}}", names(values)),
        FieldType::Lookup(object) => format!("{{lookup: {}}}", quote(object)),
        FieldType::List(inner) => format!("{{list: {}}}", field_type(inner)),
    }
}

fn grant(g: &Grant) -> String {
    match &g.reason {
        None => access(&g.access),
        Some(reason) => format!("{{access: {}, reason: {}}}", access(&g.access), quote(reason)),
    }
}

fn access(a: &Access) -> String {
    match a {
        Access::None => "none".into(),
        Access::All => "all".into(),
        Access::Limited(limits) => match limits.as_slice() {
            [one] => limit(one),
            many => format!("[{}]", many.iter().map(limit).collect::<Vec<_>>().join(", ")),
        },
    }
}

fn limit(l: &Limit) -> String {
    match l {
        Limit::Own => "own".into(),
        Limit::Team => "team".into(),
        Limit::Rule(name) => format!("{{rule: {}}}", quote(name)),
        Limit::Where(cond) => format!("{{where: {}}}", quote(cond)),
    }
}

fn assignment(a: &Assignment) -> String {
    match a.expires_at {
        None => quote(&a.role),
        Some(at) => {
            let at = at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            format!("{{role: {}, expires_at: {}}}", quote(&a.role), quote(&at))
        }
    }
}

/// A JSON value in flow style.
fn json(value: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match value {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            // Debug keeps a `.0` or an exponent, so the text reads back as a float.
            (None, None, Some(f)) => format!("{f:?}"),
            (None, None, None) => n.to_string(),
        },
        J::String(s) => quote(s),
        J::Array(items) => format!("[{}]", items.iter().map(json).collect::<Vec<_>>().join(", ")),
        J::Object(entries) => {
            let parts: Vec<String> =
                entries.iter().map(|(k, v)| format!("{}: {}", quote(k), json(v))).collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// A string as a YAML scalar: plain when that is unambiguous in any context
/// (block or flow), else single-quoted, else double-quoted with escapes.
pub(super) fn quote(s: &str) -> String {
    if is_plain_safe(s) {
        return s.to_owned();
    }
    if s.chars().all(is_single_quote_safe) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if is_single_quote_safe(c) => out.push(c),
            c if (c as u32) <= 0xFF => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Conservative: names, words and sentences of ASCII letters, digits, spaces
/// and `_ . / - + @`, starting with a letter, digit or `_`, that do not
/// read back as null, a boolean or a number (nor as a YAML 1.1 boolean, for
/// other tools' sake).
fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    if !(first.is_ascii_alphanumeric() || first == '_') || s.ends_with(' ') {
        return false;
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | '/' | '-' | '+' | '@')) {
        return false;
    }
    if s.contains(" -") {
        // Harmless in YAML, but keep lists of words from looking like block sequences to a reader.
        return false;
    }
    const YAML_1_1_WORDS: &[&str] =
        &["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"];
    matches!(resolve_plain(s), Value::Str(_)) && !YAML_1_1_WORDS.contains(&s)
}

/// Printable characters that need no escape inside single quotes (no line
/// breaks, controls, or characters parsers treat as breaks or byte-order marks).
fn is_single_quote_safe(c: char) -> bool {
    matches!(c as u32, 0x20..=0x7E | 0xA0..=0x2027 | 0x202A..=0xD7FF | 0xE000..=0xFEFE | 0xFF00..=0xFFFD | 0x10000..)
}
