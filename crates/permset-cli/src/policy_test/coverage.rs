//! Grant coverage: which grants the decisions of a run exercised and which
//! access rules they evaluated, read from the decisions' explanations.
//!
//! Definitions (docs/POLICY_TESTS.md states them for users):
//! - The grants counted are every grant (role, permission, access) of every
//!   custom role of the workspace, and of every system role that appears in
//!   the workspace's assignments (to a user or a team, expired or not); one
//!   grant per limit of a limited grant, `none` left out, as
//!   [`Snapshot::role_grants`] lists them.
//! - A grant is exercised when a step of an allow path names its role,
//!   permission and access: the grant decided (part of) an allow. A module
//!   question answered by a limited grant evaluates no limit, so it
//!   exercises none.
//! - An access rule is evaluated when an explanation names it on a record:
//!   as the limit that matched on an allow path, or as a condition found
//!   false among a deny's near misses.

use std::collections::BTreeSet;

use permset_core::{Explanation, NearMiss, Snapshot};
use serde::Serialize;

/// A grant as coverage counts it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct GrantKey {
    pub(crate) role: String,
    pub(crate) permission: String,
    pub(crate) access: String,
}

/// An access rule: object and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct RuleKey {
    pub(crate) object: String,
    pub(crate) rule: String,
}

/// What a run has exercised so far, against what there is.
#[derive(Debug)]
pub(crate) struct Coverage<'s> {
    snapshot: &'s Snapshot,
    grants: BTreeSet<GrantKey>,
    exercised: BTreeSet<GrantKey>,
    rules: BTreeSet<RuleKey>,
    evaluated: BTreeSet<RuleKey>,
}

/// The figures of a finished run.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub(crate) grants_total: usize,
    pub(crate) grants_exercised: usize,
    /// Exercised grants as a percentage of all counted grants (100 when there are none).
    pub(crate) grant_percent: f64,
    pub(crate) grants_not_exercised: Vec<GrantKey>,
    pub(crate) rules_total: usize,
    pub(crate) rules_evaluated: usize,
    pub(crate) rule_percent: f64,
    pub(crate) rules_not_evaluated: Vec<RuleKey>,
}

/// The object a permission acts on: the longest object name that prefixes it
/// with an underscore after it (object names may hold underscores themselves).
pub(crate) fn object_of(snapshot: &Snapshot, permission: &str) -> Option<String> {
    snapshot
        .schema()
        .objects
        .keys()
        .filter(|o| permission.strip_prefix(o.as_str()).is_some_and(|rest| rest.starts_with('_')))
        .max_by_key(|o| o.len())
        .cloned()
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        100.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

impl<'s> Coverage<'s> {
    /// Everything there is to cover in a workspace.
    pub(crate) fn new(snapshot: &'s Snapshot) -> Self {
        let model = snapshot.model();
        let assigned: BTreeSet<&str> = model
            .assignments
            .users
            .values()
            .chain(model.assignments.teams.values())
            .flatten()
            .map(|a| a.role.as_str())
            .collect();
        let mut grants = BTreeSet::new();
        for role in snapshot.role_keys() {
            let counted = match snapshot.role(role) {
                Some((_, true)) => assigned.contains(role),
                Some((_, false)) => true,
                None => false,
            };
            if !counted {
                continue;
            }
            for g in snapshot.role_grants(role) {
                grants.insert(GrantKey { role: role.to_owned(), permission: g.permission, access: g.access });
            }
        }
        let rules = model
            .access_rules
            .iter()
            .flat_map(|(object, rules)| {
                rules.keys().map(move |rule| RuleKey { object: object.clone(), rule: rule.clone() })
            })
            .collect();
        Coverage { snapshot, grants, exercised: BTreeSet::new(), rules, evaluated: BTreeSet::new() }
    }

    fn rule(&mut self, permission: &str, limit: &str) {
        let (Some(rule), Some(object)) = (limit.strip_prefix("rule:"), object_of(self.snapshot, permission))
        else {
            return;
        };
        let key = RuleKey { object, rule: rule.to_owned() };
        if self.rules.contains(&key) {
            self.evaluated.insert(key);
        }
    }

    /// Records what one decision's explanation shows.
    pub(crate) fn observe(&mut self, explanation: &Explanation) {
        for step in &explanation.path {
            let Some(role) = &step.role else { continue };
            if step.on == "module" && step.access != "all" {
                continue;
            }
            let key = GrantKey {
                role: role.clone(),
                permission: step.permission.clone(),
                access: step.access.clone(),
            };
            if self.grants.contains(&key) {
                self.exercised.insert(key);
            }
            if step.on != "module" {
                self.rule(&step.permission, &step.access);
            }
        }
        for miss in &explanation.near_misses {
            if let NearMiss::ConditionFalse { permission, limit, .. } = miss {
                self.rule(permission, limit);
            }
        }
    }

    pub(crate) fn summary(&self) -> Summary {
        Summary {
            grants_total: self.grants.len(),
            grants_exercised: self.exercised.len(),
            grant_percent: percent(self.exercised.len(), self.grants.len()),
            grants_not_exercised: self.grants.difference(&self.exercised).cloned().collect(),
            rules_total: self.rules.len(),
            rules_evaluated: self.evaluated.len(),
            rule_percent: percent(self.evaluated.len(), self.rules.len()),
            rules_not_evaluated: self.rules.difference(&self.evaluated).cloned().collect(),
        }
    }
}

/// A percentage for people: rounded down to one decimal, so that a figure
/// shown as `80.0%` never fails `--min-coverage 80`.
pub(crate) fn shown(percent: f64) -> String {
    format!("{:.1}%", (percent * 10.0).floor() / 10.0)
}
