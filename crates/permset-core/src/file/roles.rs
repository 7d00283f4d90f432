//! Roles as written, and `clone:` resolution: a clone starts from another
//! role's grants and fields (a role of the file, resolved first, or a system
//! role) and then applies its own, entry by entry.

use std::collections::BTreeMap;

use super::load::Loader;
use crate::model::{FieldLevel, Grant, Role, UserKind};
use crate::suggest::did_you_mean;

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
