//! The effective permissions of a user: for every permission of the
//! workspace, the combined access of the roles in force (rule 4) and the
//! roles it comes from. This is the matrix `permset permissions` prints and
//! the admin page shows.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::decide::Actor;
use crate::explain::Assigned;
use crate::snapshot::{CompiledAccess, Snapshot};

/// One row of a user's effective permission matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectivePermission {
    /// `customers_update`.
    pub permission: String,
    /// `customers`.
    pub module: String,
    /// `update`.
    pub action: String,
    /// `all`, `none`, or the limited scopes OR-ed (`own | rule:premium`).
    pub access: String,
    /// The roles granting it and how each is assigned.
    pub sources: Vec<(String, Assigned)>,
}

impl Snapshot {
    /// Every permission of the workspace with the actor's combined access at
    /// `now`. For a scoped actor each access is intersected with the key's
    /// role (`own & rule:premium` when both are limited). An unknown user
    /// gets an empty list.
    pub fn effective_permissions<'a>(
        &self,
        actor: impl Into<Actor<'a>>,
        now: DateTime<Utc>,
    ) -> Vec<EffectivePermission> {
        let actor = actor.into();
        let Some(u) = self.user(actor.user) else { return Vec::new() };
        let scope = actor.scope.map(|key| self.role_ids.get(key).and_then(|&r| self.role_at(r)));
        let sources = self.active_roles(u, now);
        self.perms
            .iter()
            .enumerate()
            .map(|(id, info)| {
                let mut all = u.account_owner;
                let mut limited: Vec<String> = Vec::new();
                let mut from = Vec::new();
                for (r, assigned) in &sources {
                    let Some(role) = self.role_at(*r) else { continue };
                    match role.table.get(id) {
                        Some(CompiledAccess::All) => all = true,
                        Some(CompiledAccess::Limited(limits)) => {
                            for (_, written) in limits.iter() {
                                let text = written.to_string();
                                if !limited.contains(&text) {
                                    limited.push(text);
                                }
                            }
                        }
                        _ => continue,
                    }
                    from.push((role.key.clone(), assigned.clone()));
                }
                let mut access = if all {
                    "all".to_owned()
                } else if limited.is_empty() {
                    "none".to_owned()
                } else {
                    limited.join(" | ")
                };
                if let Some(scope_role) = scope {
                    let within = scope_role.and_then(|r| r.table.get(id)).map_or("none".to_owned(), describe);
                    access = intersect(&access, &within);
                }
                EffectivePermission {
                    permission: info.name.clone(),
                    module: info.module.clone(),
                    action: info.action.clone(),
                    access,
                    sources: from,
                }
            })
            .collect()
    }
}

fn describe(access: &CompiledAccess) -> String {
    match access {
        CompiledAccess::None => "none".to_owned(),
        CompiledAccess::All => "all".to_owned(),
        CompiledAccess::Limited(limits) => {
            let written: Vec<String> = limits.iter().map(|(_, l)| l.to_string()).collect();
            written.join(" | ")
        }
    }
}

/// The access of a scoped key: what both the user and the key's role allow.
fn intersect(user: &str, scope: &str) -> String {
    match (user, scope) {
        ("none", _) | (_, "none") => "none".to_owned(),
        ("all", other) | (other, "all") => other.to_owned(),
        (a, b) if a == b => a.to_owned(),
        (a, b) => format!("({a}) & ({b})"),
    }
}
