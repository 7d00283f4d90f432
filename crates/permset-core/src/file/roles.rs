//! Roles as written (grants in all their access forms, field levels), and `clone:` resolution: a clone starts from another
//! role's grants and fields (a role of the file, resolved first, or a system
//! role) and then applies its own, entry by entry.

use std::collections::BTreeMap;

use super::load::Loader;
use super::yaml::{Node, Value};
use crate::model::{Access, FieldLevel, Grant, Limit, Role, UserKind};
use crate::suggest::did_you_mean;

const ROLE_KEYS: &[&str] = &["kind", "description", "clone", "cloned_from", "grants", "fields"];
const ACCESS_NAMES: &[&str] = &["all", "none", "own", "team"];
const ACCESS_KEYS: &[&str] = &["access", "rule", "where", "reason"];
const LEVEL_NAMES: &[&str] = &["none", "read", "edit"];

/// A role as the file declares it, before `clone:` is resolved.
#[derive(Debug, Default)]
pub(super) struct RoleSpec {
    /// The line of the role's key.
    pub(super) line: usize,
    pub(super) kind: Option<UserKind>,
    pub(super) description: Option<String>,
    /// The role to start from, and the line of `clone:`.
    pub(super) clone: Option<(String, usize)>,
    pub(super) cloned_from: Option<String>,
    pub(super) grants: BTreeMap<String, Grant>,
    pub(super) fields: BTreeMap<String, FieldLevel>,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Pending,
    Visiting,
    Done,
    Failed,
}

/// What a role is cloned from.
enum Base<'a> {
    Nothing,
    File(&'a str),
    Role(&'a Role, &'a str),
    Unknown(&'a str, usize),
}

impl Loader {
    /// Resolves `clone:` in dependency order. The walk keeps its own stack so
    /// that a long chain of clones cannot exhaust the call stack.
    pub(super) fn resolve_roles(
        &mut self,
        specs: BTreeMap<String, RoleSpec>,
        system: &BTreeMap<String, Role>,
    ) -> BTreeMap<String, Role> {
        let mut state: BTreeMap<&str, State> = BTreeMap::new();
        for (name, spec) in &specs {
            if system.contains_key(name) {
                self.err(
                    spec.line,
                    format!("role `{name}` is a system role; give the custom role another name"),
                );
                state.insert(name, State::Failed);
            } else {
                state.insert(name, State::Pending);
            }
        }
        let mut out: BTreeMap<String, Role> = BTreeMap::new();
        for start in specs.keys() {
            if state.get(start.as_str()) != Some(&State::Pending) {
                continue;
            }
            state.insert(start, State::Visiting);
            let mut stack: Vec<&str> = vec![start];
            while let Some(&top) = stack.last() {
                let Some(spec) = specs.get(top) else {
                    stack.pop();
                    continue;
                };
                let base = match &spec.clone {
                    None => Base::Nothing,
                    Some((from, line)) => match system.get(from) {
                        Some(role) => Base::Role(role, from),
                        None if specs.contains_key(from) => Base::File(from),
                        None => Base::Unknown(from, *line),
                    },
                };
                let resolved = match base {
                    Base::Nothing => Some(build(spec, None)),
                    Base::Role(role, from) => Some(build(spec, Some((role, from)))),
                    Base::Unknown(from, line) => {
                        let candidates = specs.keys().chain(system.keys()).map(String::as_str);
                        let hint = did_you_mean(from, candidates);
                        self.err(line, format!("unknown role `{from}` in `roles.{top}.clone`{hint}"));
                        None
                    }
                    Base::File(from) => match state.get(from).copied().unwrap_or(State::Failed) {
                        State::Pending => {
                            state.insert(from, State::Visiting);
                            stack.push(from);
                            continue;
                        }
                        State::Visiting => {
                            let at = stack.iter().position(|name| *name == from).unwrap_or(0);
                            let cycle: Vec<String> = stack
                                .get(at..)
                                .unwrap_or_default()
                                .iter()
                                .chain(std::iter::once(&from))
                                .map(|name| format!("`{name}`"))
                                .collect();
                            let line = spec.clone.as_ref().map_or(spec.line, |(_, line)| *line);
                            self.err(
                                line,
                                format!("roles clone each other in a cycle: {}", cycle.join(" -> ")),
                            );
                            None
                        }
                        State::Done => out.get(from).map(|role| build(spec, Some((role, from)))),
                        State::Failed => None,
                    },
                };
                match resolved {
                    Some(role) => {
                        state.insert(top, State::Done);
                        out.insert(top.to_owned(), role);
                    }
                    None => {
                        state.insert(top, State::Failed);
                    }
                }
                stack.pop();
            }
        }
        out
    }
}

impl Loader {
    pub(super) fn role_specs(&mut self, node: &Node) -> BTreeMap<String, RoleSpec> {
        let mut specs = BTreeMap::new();
        for (key, value) in self.map(node, "roles").unwrap_or_default() {
            let path = format!("roles.{}", key.text);
            self.record(path.clone(), key.line);
            self.name(&key.text, "role", key.line);
            let mut spec = RoleSpec { line: key.line, ..RoleSpec::default() };
            if let Some(keys) = self.keys(value, ROLE_KEYS, &path) {
                if let Some((_, kind)) = keys.get("kind") {
                    spec.kind = self.kind(kind, &format!("{path}.kind"));
                }
                if let Some((_, text)) = keys.get("description") {
                    spec.description = self.string(text, &format!("{path}.description")).map(str::to_owned);
                }
                if let Some((k, from)) = keys.get("clone") {
                    self.record(format!("{path}.clone"), k.line);
                    if let Some(name) = self.string(from, &format!("{path}.clone")) {
                        spec.clone = Some((name.to_owned(), k.line));
                    }
                }
                if let Some((k, from)) = keys.get("cloned_from") {
                    self.record(format!("{path}.cloned_from"), k.line);
                    spec.cloned_from = self.string(from, &format!("{path}.cloned_from")).map(str::to_owned);
                    if spec.clone.is_some() {
                        self.err(
                            k.line,
                            format!("`{path}` has both `clone` and `cloned_from`; keep `clone`"),
                        );
                    }
                }
                if let Some((_, grants)) = keys.get("grants") {
                    for (perm, access) in self.map(grants, &format!("{path}.grants")).unwrap_or_default() {
                        let grant_path = format!("{path}.grants.{}", perm.text);
                        self.record(grant_path.clone(), perm.line);
                        if let Some(grant) = self.grant(access, &grant_path) {
                            spec.grants.insert(perm.text.clone(), grant);
                        }
                    }
                }
                if let Some((_, fields)) = keys.get("fields") {
                    for (field, level) in self.map(fields, &format!("{path}.fields")).unwrap_or_default() {
                        let field_path = format!("{path}.fields.{}", field.text);
                        self.record(field_path.clone(), field.line);
                        if let Some(level) = self.level(level, &field_path) {
                            spec.fields.insert(field.text.clone(), level);
                        }
                    }
                }
            }
            specs.insert(key.text.clone(), spec);
        }
        specs
    }

    fn level(&mut self, node: &Node, path: &str) -> Option<FieldLevel> {
        Some(match self.choice(node, LEVEL_NAMES, path)?.as_str() {
            "none" => FieldLevel::None,
            "read" => FieldLevel::Read,
            _ => FieldLevel::Edit,
        })
    }

    /// A grant: any access form, or the long form `{ access: ACCESS, reason: TEXT }`.
    fn grant(&mut self, node: &Node, path: &str) -> Option<Grant> {
        let Value::Map(entries) = &node.value else { return Some(Grant::new(self.access(node, path)?)) };
        if !entries.iter().any(|(k, _)| k.text == "access" || k.text == "reason") {
            return Some(Grant::new(self.access(node, path)?));
        }
        let keys = self.keys(node, ACCESS_KEYS, path)?;
        for form in ["rule", "where"] {
            if let Some((k, _)) = keys.get(form) {
                self.err(k.line, format!("`{form}` goes inside `access` in the long form at `{path}`"));
            }
        }
        let reason = match keys.get("reason") {
            Some((_, text)) => self.string(text, &format!("{path}.reason")).map(str::to_owned),
            None => None,
        };
        let Some((_, access)) = keys.get("access") else {
            self.err(node.line, format!("`{path}` has a `reason` but no `access`"));
            return None;
        };
        Some(Grant { access: self.access(access, &format!("{path}.access"))?, reason })
    }

    /// `all`, `none`, a limit, or a list of limits.
    fn access(&mut self, node: &Node, path: &str) -> Option<Access> {
        match &node.value {
            Value::Str(s) if s == "all" => Some(Access::All),
            Value::Str(s) if s == "none" => Some(Access::None),
            Value::Seq(items) => {
                let mut limits = Vec::new();
                let mut ok = true;
                for item in items {
                    if let Value::Str(s) = &item.value {
                        if s == "all" || s == "none" {
                            self.err(
                                item.line,
                                format!("`{s}` cannot be part of an access list at `{path}`; write it alone"),
                            );
                            ok = false;
                            continue;
                        }
                    }
                    match self.limit(item, path) {
                        Some(limit) => limits.push(limit),
                        None => ok = false,
                    }
                }
                ok.then_some(Access::Limited(limits))
            }
            _ => Some(Access::Limited(vec![self.limit(node, path)?])),
        }
    }

    /// `own`, `team`, `{ rule: NAME }` or `{ where: CONDITION }`.
    fn limit(&mut self, node: &Node, path: &str) -> Option<Limit> {
        match &node.value {
            Value::Str(s) if s == "own" => Some(Limit::Own),
            Value::Str(s) if s == "team" => Some(Limit::Team),
            Value::Map(entries) => {
                let keys = self.keys(node, ACCESS_KEYS, path)?;
                for form in ["access", "reason"] {
                    if let Some((k, _)) = keys.get(form) {
                        self.err(
                            k.line,
                            format!("`{form}` is allowed only at the top of a grant, not at `{path}`"),
                        );
                    }
                }
                match (keys.get("rule"), keys.get("where")) {
                    (Some((_, name)), None) => {
                        Some(Limit::Rule(self.string(name, &format!("{path}.rule"))?.to_owned()))
                    }
                    (None, Some((_, cond))) => {
                        Some(Limit::Where(self.string(cond, &format!("{path}.where"))?.to_owned()))
                    }
                    (rule, _) => {
                        if rule.is_some() || entries.is_empty() {
                            self.err(node.line, format!("`{path}` needs exactly one of `rule` or `where`"));
                        }
                        None
                    }
                }
            }
            _ => {
                let shown = match &node.value {
                    Value::Str(s) => format!("`{s}`"),
                    _ => node.describe().to_owned(),
                };
                let hint = match &node.value {
                    Value::Str(s) => {
                        did_you_mean(s, ACCESS_NAMES.iter().copied().chain(ACCESS_KEYS.iter().copied()))
                    }
                    _ => String::new(),
                };
                self.err(
                    node.line,
                    format!(
                        "invalid access {shown} at `{path}`: expected `all`, `none`, `own`, `team`, \
                         `{{ rule: NAME }}`, `{{ where: CONDITION }}` or a list{hint}"
                    ),
                );
                None
            }
        }
    }
}

/// The role a spec declares, starting from `base` when it is a clone.
fn build(spec: &RoleSpec, base: Option<(&Role, &str)>) -> Role {
    let mut role = Role {
        kind: spec.kind.unwrap_or_default(),
        description: spec.description.clone(),
        cloned_from: spec.cloned_from.clone(),
        grants: BTreeMap::new(),
        fields: BTreeMap::new(),
    };
    if let Some((base, from)) = base {
        role.kind = spec.kind.unwrap_or(base.kind);
        role.cloned_from = Some(from.to_owned());
        role.grants = base.grants.clone();
        role.fields = base.fields.clone();
    }
    role.grants.extend(spec.grants.iter().map(|(k, v)| (k.clone(), v.clone())));
    role.fields.extend(spec.fields.iter().map(|(k, v)| (k.clone(), *v)));
    role
}
