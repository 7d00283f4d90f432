//! The effective permissions of a user: for every permission of the
//! workspace, the combined access of the roles in force (rule 4) and the
//! roles it comes from. This is the matrix `permset permissions` prints and
//! the admin page shows.

use chrono::{DateTime, Utc};
use serde::Serialize;

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
    /// Every permission of the workspace with the user's combined access at `now`.
    /// An unknown user gets an empty list.
    pub fn effective_permissions(&self, user: &str, now: DateTime<Utc>) -> Vec<EffectivePermission> {
        let Some(u) = self.user(user) else { return Vec::new() };
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
                let access = if all {
                    "all".to_owned()
                } else if limited.is_empty() {
                    "none".to_owned()
                } else {
                    limited.join(" | ")
                };
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
