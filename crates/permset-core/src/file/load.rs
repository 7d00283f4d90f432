//! From the line-marked YAML tree to the [`Model`], collecting every error
//! and recording where each named part was declared.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::yaml::{Entry, Key, Node, Value};
use super::{FileError, SourceMap};
use crate::model::{
    Assignment, FieldDef, FieldType, ListVisibility, Model, ModuleDef, ObjectDef, Team, User, UserKind,
};
use crate::suggest::did_you_mean;

const TOP_KEYS: &[&str] = &[
    "workspace",
    "settings",
    "modules",
    "user_attributes",
    "objects",
    "access_rules",
    "teams",
    "users",
    "roles",
    "assignments",
];
const SETTINGS_KEYS: &[&str] = &["team_roles_require_teams_view"];
const MODULE_KEYS: &[&str] = &["actions", "end_users"];
const OBJECT_KEYS: &[&str] = &["actions", "fields", "owner_field", "team_field", "list_visibility"];
const TYPE_NAMES: &[&str] = &["string", "number", "bool", "datetime", "user", "team"];
const TYPE_KEYS: &[&str] = &["type", "enum", "lookup", "list", "protected", "indexed"];
const TEAM_KEYS: &[&str] = &["name"];
const USER_KEYS: &[&str] = &["kind", "teams", "attributes", "account_owner"];
const ASSIGNMENTS_KEYS: &[&str] = &["users", "teams"];
const ASSIGNMENT_KEYS: &[&str] = &["role", "expires_at"];

/// Converts the tree (`None` for an empty document) to a model.
pub(super) fn load(root: Option<&Node>) -> Result<(Model, SourceMap), Vec<FileError>> {
    let mut cx = Loader::default();
    let mut model = Model::default();
    match root {
        None => cx.err(1, "missing key `workspace`"),
        Some(root) => cx.model(root, &mut model),
    }
    if cx.errors.is_empty() {
        Ok((model, cx.map))
    } else {
        Err(cx.errors)
    }
}

/// The keys of one mapping, after unknown ones were reported.
pub(super) struct Keys<'n> {
    entries: &'n [Entry],
}

impl<'n> Keys<'n> {
    pub(super) fn get(&self, name: &str) -> Option<(&'n Key, &'n Node)> {
        self.entries.iter().find(|(k, _)| k.text == name).map(|(k, v)| (k, v))
    }
}

/// Conversion state: errors so far and the source map being built.
#[derive(Default)]
pub(super) struct Loader {
    pub(super) errors: Vec<FileError>,
    pub(super) map: SourceMap,
}

/// A scalar as a message shows it: control characters escaped (a block
/// scalar holds newlines, and a message is one line) and at most 40 characters.
fn shown(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(40)
        .map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() })
        .collect();
    if s.chars().nth(40).is_some() {
        out.push('…');
    }
    out
}

impl Loader {
    pub(super) fn err(&mut self, line: usize, message: impl Into<String>) {
        self.errors.push(FileError { line, message: message.into() });
    }

    pub(super) fn record(&mut self, path: String, line: usize) {
        self.map.insert(path, line);
    }

    fn expected(&mut self, node: &Node, what: &str, path: &str) {
        let at = if path.is_empty() { "at the top level".to_owned() } else { format!("at `{path}`") };
        let found = match &node.value {
            Value::Str(s) => format!("string `{}`", shown(s)),
            Value::Number(n) => format!("number `{n}` (quote it to make it a string)"),
            Value::Bool(b) => format!("boolean `{b}` (quote it to make it a string)"),
            _ => node.describe().to_owned(),
        };
        self.err(node.line, format!("expected {what} {at}, found {found}"));
    }

    /// The entries of a map; null counts as an empty map.
    pub(super) fn map<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            Value::Null => Some(&[]),
            _ => {
                self.expected(node, "a map", path);
                None
            }
        }
    }

    /// The entries of a map whose keys must be among `allowed`; unknown keys are reported.
    pub(super) fn keys<'n>(&mut self, node: &'n Node, allowed: &[&str], path: &str) -> Option<Keys<'n>> {
        let entries = self.map(node, path)?;
        for (key, _) in entries {
            if !allowed.contains(&key.text.as_str()) {
                let within = if path.is_empty() { String::new() } else { format!(" in `{path}`") };
                let hint = did_you_mean(&key.text, allowed.iter().copied());
                self.err(key.line, format!("unknown key `{}`{within}{hint}", key.text));
            }
        }
        Some(Keys { entries })
    }

    /// The items of a list; null counts as an empty list.
    pub(super) fn seq<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            Value::Null => Some(&[]),
            _ => {
                self.expected(node, "a list", path);
                None
            }
        }
    }

    pub(super) fn string<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n str> {
        match &node.value {
            Value::Str(s) => Some(s),
            _ => {
                self.expected(node, "a string", path);
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.expected(node, "`true` or `false`", path);
                None
            }
        }
    }

    /// A string that must be one of `names`.
    pub(super) fn choice(&mut self, node: &Node, names: &[&str], path: &str) -> Option<String> {
        let s = self.string(node, path)?;
        if names.contains(&s) {
            return Some(s.to_owned());
        }
        let expected = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        let hint = did_you_mean(s, names.iter().copied());
        self.err(node.line, format!("unknown value `{s}` at `{path}`; expected one of {expected}{hint}"));
        None
    }

    /// Checks a module, object, field, role or action name: `[a-z][a-z0-9_]*`.
    pub(super) fn name(&mut self, name: &str, what: &str, line: usize) -> bool {
        let ok = crate::validate::is_valid_name(name);
        if !ok {
            self.err(line, crate::validate::invalid_name(what, name));
        }
        ok
    }

    fn strings(&mut self, node: &Node, path: &str) -> Vec<String> {
        let items = self.seq(node, path).unwrap_or_default();
        items.iter().filter_map(|item| self.string(item, path).map(str::to_owned)).collect()
    }

    fn model(&mut self, root: &Node, model: &mut Model) {
        let Some(top) = self.keys(root, TOP_KEYS, "") else { return };
        match top.get("workspace") {
            Some((key, node)) => {
                self.record("workspace".into(), key.line);
                if let Some(s) = self.string(node, "workspace") {
                    model.workspace = s.to_owned();
                }
            }
            None => self.err(root.line, "missing key `workspace`"),
        }
        if let Some((_, node)) = top.get("settings") {
            self.settings(node, model);
        }
        if let Some((_, node)) = top.get("modules") {
            self.modules(node, model);
        }
        if let Some((_, node)) = top.get("user_attributes") {
            for (key, value) in self.map(node, "user_attributes").unwrap_or_default() {
                let path = format!("user_attributes.{}", key.text);
                self.record(path.clone(), key.line);
                if let Some(ty) = self.field_type(value, &path) {
                    model.schema.user_attributes.insert(key.text.clone(), ty);
                }
            }
        }
        if let Some((_, node)) = top.get("objects") {
            for (key, value) in self.map(node, "objects").unwrap_or_default() {
                self.object(key, value, model);
            }
        }
        if let Some((_, node)) = top.get("access_rules") {
            self.access_rules(node, model);
        }
        if let Some((_, node)) = top.get("teams") {
            for (key, value) in self.map(node, "teams").unwrap_or_default() {
                let path = format!("teams.{}", key.text);
                self.record(path.clone(), key.line);
                let mut team = Team::default();
                if let Some(fields) = self.keys(value, TEAM_KEYS, &path) {
                    if let Some((_, name)) = fields.get("name") {
                        team.name = self.string(name, &format!("{path}.name")).map(str::to_owned);
                    }
                }
                model.teams.insert(key.text.clone(), team);
            }
        }
        if let Some((_, node)) = top.get("users") {
            for (key, value) in self.map(node, "users").unwrap_or_default() {
                self.user(key, value, model);
            }
        }
        let specs = match top.get("roles") {
            Some((_, node)) => self.role_specs(node),
            None => BTreeMap::new(),
        };
        // System roles are defined over the catalogue merged with the declared schema.
        let system = crate::catalogue::system_roles(&crate::catalogue::merged_schema(&model.schema));
        model.roles = self.resolve_roles(specs, &system);
        if let Some((_, node)) = top.get("assignments") {
            self.assignments(node, model);
        }
    }

    fn settings(&mut self, node: &Node, model: &mut Model) {
        let Some(keys) = self.keys(node, SETTINGS_KEYS, "settings") else { return };
        if let Some((key, value)) = keys.get("team_roles_require_teams_view") {
            let path = format!("settings.{}", key.text);
            self.record(path.clone(), key.line);
            if let Some(b) = self.boolean(value, &path) {
                model.settings.team_roles_require_teams_view = b;
            }
        }
    }

    fn modules(&mut self, node: &Node, model: &mut Model) {
        for (key, value) in self.map(node, "modules").unwrap_or_default() {
            let path = format!("modules.{}", key.text);
            self.record(path.clone(), key.line);
            self.name(&key.text, "module", key.line);
            let mut module = ModuleDef::default();
            if let Value::Seq(_) = value.value {
                module.actions = self.actions(value, &path);
            } else if let Some(keys) = self.keys(value, MODULE_KEYS, &path) {
                if let Some((_, actions)) = keys.get("actions") {
                    module.actions = self.actions(actions, &format!("{path}.actions"));
                }
                if let Some((_, end_users)) = keys.get("end_users") {
                    module.end_users = self.boolean(end_users, &format!("{path}.end_users")).unwrap_or(false);
                }
            }
            model.schema.modules.insert(key.text.clone(), module);
        }
    }

    fn actions(&mut self, node: &Node, path: &str) -> Vec<String> {
        let items = self.seq(node, path).unwrap_or_default();
        let mut actions = Vec::new();
        for item in items {
            if let Some(action) = self.string(item, path) {
                self.name(action, "action", item.line);
                actions.push(action.to_owned());
            }
        }
        actions
    }

    fn object(&mut self, key: &Key, node: &Node, model: &mut Model) {
        let path = format!("objects.{}", key.text);
        self.record(path.clone(), key.line);
        self.name(&key.text, "object", key.line);
        let mut object = ObjectDef::default();
        if let Some(keys) = self.keys(node, OBJECT_KEYS, &path) {
            if let Some((_, actions)) = keys.get("actions") {
                object.actions = self.actions(actions, &format!("{path}.actions"));
            }
            if let Some((_, fields)) = keys.get("fields") {
                for (field, value) in self.map(fields, &format!("{path}.fields")).unwrap_or_default() {
                    let field_path = format!("{path}.fields.{}", field.text);
                    self.record(field_path.clone(), field.line);
                    self.name(&field.text, "field", field.line);
                    if let Some(def) = self.field_def(value, &field_path) {
                        object.fields.insert(field.text.clone(), def);
                    }
                }
            }
            for which in ["owner_field", "team_field"] {
                if let Some((k, value)) = keys.get(which) {
                    let p = format!("{path}.{which}");
                    self.record(p.clone(), k.line);
                    let name = self.string(value, &p).map(str::to_owned);
                    match which {
                        "owner_field" => object.owner_field = name,
                        _ => object.team_field = name,
                    }
                }
            }
            if let Some((_, value)) = keys.get("list_visibility") {
                object.list_visibility =
                    match self.choice(value, &["everyone", "admins"], &format!("{path}.list_visibility")) {
                        Some(v) if v == "admins" => Some(ListVisibility::Admins),
                        Some(_) => Some(ListVisibility::Everyone),
                        None => None,
                    };
            }
        }
        model.schema.objects.insert(key.text.clone(), object);
    }

    /// A field: a type, or `{ type: TYPE, protected: bool, indexed: bool }`.
    fn field_def(&mut self, node: &Node, path: &str) -> Option<FieldDef> {
        let Value::Map(_) = node.value else { return self.field_type(node, path).map(FieldDef::of) };
        let keys = self.keys(node, TYPE_KEYS, path)?;
        let mut def = FieldDef::of(self.type_of_map(&keys, node, path)?);
        if let Some((_, v)) = keys.get("protected") {
            def.protected = self.boolean(v, &format!("{path}.protected"))?;
        }
        if let Some((_, v)) = keys.get("indexed") {
            def.indexed = self.boolean(v, &format!("{path}.indexed"))?;
        }
        Some(def)
    }

    /// A type: a name (`string`), `{ enum: [..] }`, `{ lookup: OBJ }`, `{ list: TYPE }` or `{ type: TYPE }`.
    fn field_type(&mut self, node: &Node, path: &str) -> Option<FieldType> {
        match &node.value {
            Value::Map(_) => {
                let keys = self.keys(node, TYPE_KEYS, path)?;
                for flag in ["protected", "indexed"] {
                    if let Some((k, _)) = keys.get(flag) {
                        self.err(
                            k.line,
                            format!("`{flag}` is allowed only on object fields, not at `{path}`"),
                        );
                    }
                }
                self.type_of_map(&keys, node, path)
            }
            _ => {
                let name = self.choice(node, TYPE_NAMES, path)?;
                Some(match name.as_str() {
                    "string" => FieldType::String,
                    "number" => FieldType::Number,
                    "bool" => FieldType::Bool,
                    "datetime" => FieldType::Datetime,
                    "user" => FieldType::User,
                    _ => FieldType::Team,
                })
            }
        }
    }

    fn type_of_map(&mut self, keys: &Keys<'_>, node: &Node, path: &str) -> Option<FieldType> {
        let forms: Vec<_> = ["type", "enum", "lookup", "list"]
            .into_iter()
            .filter_map(|form| keys.get(form).map(|(_, v)| (form, v)))
            .collect();
        let [(form, value)] = forms.as_slice() else {
            self.err(node.line, format!("`{path}` needs exactly one of `type`, `enum`, `lookup` or `list`"));
            return None;
        };
        let inner = format!("{path}.{form}");
        match *form {
            "type" => self.field_type(value, &inner),
            "enum" => Some(FieldType::Enum(self.strings(value, &inner))),
            "lookup" => Some(FieldType::Lookup(self.string(value, &inner)?.to_owned())),
            _ => Some(FieldType::List(Box::new(self.field_type(value, &inner)?))),
        }
    }

    fn access_rules(&mut self, node: &Node, model: &mut Model) {
        for (object, rules) in self.map(node, "access_rules").unwrap_or_default() {
            let path = format!("access_rules.{}", object.text);
            let mut by_name = BTreeMap::new();
            for (rule, condition) in self.map(rules, &path).unwrap_or_default() {
                let rule_path = format!("{path}.{}", rule.text);
                self.record(rule_path.clone(), rule.line);
                if let Some(text) = self.string(condition, &rule_path) {
                    by_name.insert(rule.text.clone(), text.to_owned());
                }
            }
            model.access_rules.insert(object.text.clone(), by_name);
        }
    }

    fn user(&mut self, key: &Key, node: &Node, model: &mut Model) {
        let path = format!("users.{}", key.text);
        self.record(path.clone(), key.line);
        let mut user = User::default();
        if let Some(keys) = self.keys(node, USER_KEYS, &path) {
            if let Some((_, kind)) = keys.get("kind") {
                user.kind = self.kind(kind, &format!("{path}.kind")).unwrap_or_default();
            }
            if let Some((k, teams)) = keys.get("teams") {
                self.record(format!("{path}.teams"), k.line);
                user.teams = self.strings(teams, &format!("{path}.teams"));
            }
            if let Some((_, attributes)) = keys.get("attributes") {
                let attributes_path = format!("{path}.attributes");
                // Collected, not inserted one by one: each insert copies the set.
                let mut set = Vec::new();
                for (name, value) in self.map(attributes, &attributes_path).unwrap_or_default() {
                    if let Some(json) = self.json(value, &format!("{attributes_path}.{}", name.text)) {
                        set.push((name.text.clone(), json));
                    }
                }
                user.attributes = set.into_iter().collect();
            }
            if let Some((_, owner)) = keys.get("account_owner") {
                user.account_owner = self.boolean(owner, &format!("{path}.account_owner")).unwrap_or(false);
            }
        }
        model.users.insert(key.text.clone(), user);
    }

    pub(super) fn kind(&mut self, node: &Node, path: &str) -> Option<UserKind> {
        let kind = self.choice(node, &["agent", "end_user"], path)?;
        Some(if kind == "agent" { UserKind::Agent } else { UserKind::EndUser })
    }

    /// Any value as JSON (user attributes).
    fn json(&mut self, node: &Node, path: &str) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match &node.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Number(n.clone()),
            Value::NonFinite(_) => {
                self.err(node.line, format!("`{path}` must be a finite number"));
                return None;
            }
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().filter_map(|item| self.json(item, path)).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .filter_map(|(k, v)| Some((k.text.clone(), self.json(v, &format!("{path}.{}", k.text))?)))
                    .collect(),
            ),
        })
    }

    fn assignments(&mut self, node: &Node, model: &mut Model) {
        let Some(keys) = self.keys(node, ASSIGNMENTS_KEYS, "assignments") else { return };
        for section in ["users", "teams"] {
            let Some((_, holders)) = keys.get(section) else { continue };
            let section_path = format!("assignments.{section}");
            let mut out = BTreeMap::new();
            for (holder, list) in self.map(holders, &section_path).unwrap_or_default() {
                let path = format!("{section_path}.{}", holder.text);
                self.record(path.clone(), holder.line);
                let mut assignments = Vec::new();
                for (index, item) in self.seq(list, &path).unwrap_or_default().iter().enumerate() {
                    let item_path = format!("{path}.{index}");
                    self.record(item_path.clone(), item.line);
                    if let Some(assignment) = self.assignment(item, &item_path) {
                        assignments.push(assignment);
                    }
                }
                out.insert(holder.text.clone(), assignments);
            }
            match section {
                "users" => model.assignments.users = out,
                _ => model.assignments.teams = out,
            }
        }
    }

    /// `ROLE` or `{ role: ROLE, expires_at: RFC3339 }`.
    fn assignment(&mut self, node: &Node, path: &str) -> Option<Assignment> {
        let Value::Map(_) = node.value else { return Some(Assignment::new(self.string(node, path)?)) };
        let keys = self.keys(node, ASSIGNMENT_KEYS, path)?;
        let Some((_, role)) = keys.get("role") else {
            self.err(node.line, format!("`{path}` needs a `role`"));
            return None;
        };
        let role = self.string(role, &format!("{path}.role")).map(str::to_owned);
        let expires_at = match keys.get("expires_at") {
            None => None,
            Some((_, at)) => Some(self.datetime(at, &format!("{path}.expires_at"))?),
        };
        Some(Assignment { role: role?, expires_at })
    }

    fn datetime(&mut self, node: &Node, path: &str) -> Option<DateTime<Utc>> {
        let text = self.string(node, path)?;
        match DateTime::parse_from_rfc3339(text) {
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(_) => {
                self.err(
                    node.line,
                    format!("invalid date-time `{text}` at `{path}`: expected RFC 3339, like `2027-01-01T00:00:00Z`"),
                );
                None
            }
        }
    }
}
