//! The one authority over model changes: [`Snapshot::authorize`] holds every
//! administration rule of DESIGN.md §3 and §4, and nothing else in permset
//! decides who may change what. The store calls it inside the transaction
//! that commits the change, on the snapshot of the revision it locked.
//!
//! The rules, per change:
//! - module permissions: `klasses_create`/`klasses_update` for objects,
//!   `users_*`, `teams_*`, `roles_manage` for roles and access rules,
//!   `users_update`/`teams_update` for assignments and memberships;
//! - API keys and whole-file `apply` are for account owners (unscoped) and
//!   the workspace's service principal;
//! - only account owners make, change, demote or remove account owners, and
//!   the last one stays (whoever asks);
//! - **no escalation**: whatever a change makes a role grant — a role
//!   created, edited, cloned or assigned, a team joined, an access rule
//!   rewritten, an object's owner/team field moved, a protected field
//!   opened, a list opened to everyone — the actor must hold itself, and
//!   so must the role of a scoped key (`escalation.rs` says what "hold" means);
//! - **no self-service**: nobody but an account owner changes their own team
//!   memberships or the attributes conditions read about them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::change::{Holder, ModelChange};
use crate::condition::{Expr, Operand};
use crate::decide::{Actor, Request};
use crate::escalation::{Excess, Holdings, Meaning};
use crate::model::Model;
use crate::snapshot::{CompiledAccess, CompiledLimit, Snapshot};

/// Who asks for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// The workspace's service principal: an unscoped service key acting for
    /// no user. It administers the workspace; only the invariants bind it.
    Service,
    /// A user, possibly through a key limited to a role.
    User(Actor<'a>),
}

/// Why a change was refused. Carries its data; `Display` is the message.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum AdminError {
    /// The acting user does not exist in the workspace.
    #[error("user `{user}` not found")]
    UnknownActor {
        /// The user named.
        user: String,
    },
    /// The actor lacks the module permission the change needs.
    #[error("`{user}` lacks `{permission}`")]
    MissingPermission {
        /// The actor.
        user: String,
        /// The permission needed.
        permission: String,
    },
    /// Only account owners (with an unscoped key) and the service principal may.
    #[error("{what} is for account owners and service keys")]
    OwnersOnly {
        /// What was asked.
        what: String,
    },
    /// System roles are immutable.
    #[error("`{role}` is a system role and cannot be changed; clone it with POST …/roles/{role}/clone")]
    SystemRole {
        /// The role.
        role: String,
    },
    /// The change gives what the actor (or its key's role) does not hold.
    #[error("no escalation: {}", join(.excess))]
    Escalation {
        /// Each thing given beyond the actor's own access.
        excess: Vec<Excess>,
    },
    /// The change would leave the workspace without an account owner.
    #[error("the change would leave no account owner ({}); make another user account owner first", quoted(.owners))]
    LastOwner {
        /// The owners removed or demoted.
        owners: Vec<String>,
    },
    /// Something the change names does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// Something the change creates exists already.
    #[error("{what} already exists")]
    Exists {
        /// What exists.
        what: String,
    },
    /// A role cannot be deleted while someone holds it.
    #[error("role `{role}` is still assigned to {}; unassign it first", .holders.join(", "))]
    StillAssigned {
        /// The role.
        role: String,
        /// Who holds it.
        holders: Vec<String>,
    },
    /// The change itself is malformed.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
    },
}

fn join(excess: &[Excess]) -> String {
    excess.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn quoted(keys: &[String]) -> String {
    let parts: Vec<String> = keys.iter().map(|k| format!("`{k}` removed or demoted")).collect();
    parts.join(", ")
}

/// The instant up to which a change gives access: an assignment's expiry,
/// else forever. The actor must hold what it gives until then (a temporary
/// administrator cannot hand out permanent access, nor extend its own).
fn horizon(now: DateTime<Utc>, end: Option<DateTime<Utc>>) -> DateTime<Utc> {
    end.unwrap_or(DateTime::<Utc>::MAX_UTC).max(now)
}

impl Snapshot {
    /// Whether `principal` may make `change` on this snapshot's model at
    /// `now` (DESIGN.md §3, §4). `Ok` means the change may be applied to
    /// exactly this revision; compiling the result is still required.
    pub fn authorize(
        &self,
        principal: Principal<'_>,
        change: &ModelChange,
        now: DateTime<Utc>,
    ) -> Result<(), AdminError> {
        self.keeps_an_owner(change)?;
        let actor = match principal {
            Principal::Service => return Ok(()),
            Principal::User(actor) => actor,
        };
        let Some(user) = self.user(actor.user) else {
            return Err(AdminError::UnknownActor { user: actor.user.to_owned() });
        };
        let owner = user.account_owner && actor.scope.is_none();
        let gate = Gate { snapshot: self, actor, owner, now };
        let model = self.model();
        let current = Meaning::new(model, &self.schema().objects);
        let own_access = |what: String| Excess::OwnAccess { user: actor.user.to_owned(), what };
        match change {
            ModelChange::PutObject { object, def } => {
                let exists = self.schema().objects.contains_key(object);
                gate.require(if exists { "klasses_update" } else { "klasses_create" })?;
                let proposed_model = proposed(model, change)?;
                let schema = crate::catalogue::merged_schema(&proposed_model.schema);
                let proposed = Meaning::new(&proposed_model, &schema.objects);
                let mut found = Vec::new();
                if !owner {
                    let removed = self.schema().objects.get(object).into_iter().flat_map(|old| {
                        old.fields.iter().filter(|(name, f)| f.protected && !def.fields.contains_key(*name))
                    });
                    found.extend(
                        removed.map(|(name, _)| Excess::RemoveProtectedField {
                            field: format!("{object}.{name}"),
                        }),
                    );
                }
                gate.no_excess(found, |h, out| {
                    h.changed_scopes_excess(object, &proposed, out);
                    h.object_excess(object, def, out);
                })
            }
            ModelChange::PutUser { user: key, def } => {
                let existing = model.users.get(key);
                gate.require(if existing.is_some() { "users_update" } else { "users_create" })?;
                if def.account_owner || existing.is_some_and(|u| u.account_owner) {
                    gate.owner("making, changing or demoting an account owner")?;
                }
                let old_teams = existing.map(|u| u.teams.as_slice()).unwrap_or_default();
                let joined: Vec<&String> = def.teams.iter().filter(|t| !old_teams.contains(t)).collect();
                let mut found = Vec::new();
                if key == actor.user && !owner {
                    let read = self.condition_user_attributes();
                    let old = existing.map(|u| &u.attributes);
                    if read.iter().any(|a| old.and_then(|o| o.get(a)) != def.attributes.get(a)) {
                        found.push(own_access("change the attributes access rules read".into()));
                    }
                    found.extend(joined.iter().map(|t| own_access(format!("join team `{t}`"))));
                }
                gate.no_excess(found, |h, out| {
                    for team in &joined {
                        h.team_roles_excess(team, &current, out);
                    }
                })
            }
            ModelChange::DeleteUser { user: key } => {
                gate.require("users_delete")?;
                if self.is_account_owner(key) {
                    gate.owner("removing an account owner")?;
                }
                Ok(())
            }
            ModelChange::PutTeam { team, .. } => {
                gate.require(if model.teams.contains_key(team) { "teams_update" } else { "teams_create" })
            }
            ModelChange::DeleteTeam { .. } => gate.require("teams_delete"),
            ModelChange::AddMember { team, user: member } => {
                gate.require("teams_update")?;
                let mut found = Vec::new();
                if member == actor.user && !owner {
                    found.push(own_access(format!("join team `{team}`")));
                }
                gate.no_excess(found, |h, out| h.team_roles_excess(team, &current, out))
            }
            ModelChange::RemoveMember { .. } => gate.require("teams_update"),
            ModelChange::PutRole { role, def } => {
                gate.require("roles_manage")?;
                gate.no_excess(Vec::new(), |h, out| {
                    h.role_excess(Some(role), def, &current, horizon(now, None), out)
                })
            }
            ModelChange::CloneRole { role, .. } => {
                gate.require("roles_manage")?;
                let proposed_model = proposed(model, change)?;
                let Some(def) = proposed_model.roles.get(role) else { return Ok(()) };
                gate.no_excess(Vec::new(), |h, out| {
                    h.role_excess(Some(role), def, &current, horizon(now, None), out)
                })
            }
            ModelChange::DeleteRole { .. } => gate.require("roles_manage"),
            ModelChange::Assign { holder, role, expires_at } => {
                gate.require(match holder {
                    Holder::User(_) => "users_update",
                    Holder::Team(_) => "teams_update",
                })?;
                let Some((def, _)) = self.role(role) else {
                    return Err(AdminError::Invalid { message: self.unknown_role(role) });
                };
                gate.no_excess(Vec::new(), |h, out| {
                    h.role_excess(Some(role), def, &current, horizon(now, *expires_at), out)
                })
            }
            ModelChange::Unassign { holder, .. } => gate.require(match holder {
                Holder::User(_) => "users_update",
                Holder::Team(_) => "teams_update",
            }),
            ModelChange::PutAccessRule { object, .. } => {
                gate.require("roles_manage")?;
                let proposed_model = proposed(model, change)?;
                let proposed = Meaning::new(&proposed_model, &self.schema().objects);
                gate.no_excess(Vec::new(), |h, out| h.changed_scopes_excess(object, &proposed, out))
            }
            ModelChange::DeleteAccessRule { .. } => gate.require("roles_manage"),
            ModelChange::CreateKey { .. } => gate.owner("creating keys"),
            ModelChange::RevokeKey { .. } => gate.owner("revoking keys"),
            ModelChange::Replace { .. } => gate.owner("applying a workspace file"),
        }
    }

    /// DESIGN.md §3: the last account owner cannot be removed or demoted, by any path.
    fn keeps_an_owner(&self, change: &ModelChange) -> Result<(), AdminError> {
        if let ModelChange::Replace { model } = change {
            if model.workspace != self.workspace {
                return Err(AdminError::Invalid {
                    message: format!(
                        "the file is for workspace `{}`, not `{}`",
                        model.workspace, self.workspace
                    ),
                });
            }
        }
        let owners: Vec<&String> =
            self.model().users.iter().filter(|(_, u)| u.account_owner).map(|(k, _)| k).collect();
        let lost: Vec<String> = match change {
            ModelChange::PutUser { user, def } if !def.account_owner => {
                owners.iter().filter(|k| **k == user).map(|k| (*k).clone()).collect()
            }
            ModelChange::DeleteUser { user } => {
                owners.iter().filter(|k| **k == user).map(|k| (*k).clone()).collect()
            }
            ModelChange::Replace { model } if !model.users.values().any(|u| u.account_owner) => {
                owners.iter().map(|k| (*k).clone()).collect()
            }
            _ => Vec::new(),
        };
        if !lost.is_empty() && lost.len() == owners.len() {
            return Err(AdminError::LastOwner { owners: lost });
        }
        Ok(())
    }

    /// User attributes that some condition in force reads (`user.<name>`).
    fn condition_user_attributes(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        let limits = self.roles.iter().flat_map(|r| r.table.iter()).flat_map(|access| match access {
            CompiledAccess::Limited(limits) => limits.iter().map(|(limit, _)| limit).collect(),
            _ => Vec::new(),
        });
        for limit in limits {
            if let CompiledLimit::Condition(expr) = limit {
                user_attributes(expr, &mut names);
            }
        }
        names
    }

    fn unknown_role(&self, role: &str) -> String {
        format!("unknown role `{role}`{}", crate::did_you_mean(role, self.role_keys()))
    }
}

/// Adds the `user.<name>` attributes `expr` reads to `out`, once each.
fn user_attributes<'e>(expr: &'e Expr, out: &mut Vec<&'e str>) {
    let mut add = |operand: &'e Operand| {
        if let Operand::UserAttr(name) = operand {
            if !out.contains(&name.as_str()) {
                out.push(name);
            }
        }
    };
    match expr {
        Expr::Const(_) => {}
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| user_attributes(e, out)),
        Expr::Not(inner) => user_attributes(inner, out),
        Expr::Compare { left, right, .. } => {
            add(left);
            add(right);
        }
        Expr::Truthy(operand) => add(operand),
    }
}

/// The model as it would be after `change` (for rules that compare before and after).
fn proposed(model: &Model, change: &ModelChange) -> Result<Model, AdminError> {
    let mut next = model.clone();
    change.apply(&mut next)?;
    Ok(next)
}

/// One actor's view of the rules: permission gates and excess collection.
struct Gate<'s, 'a> {
    snapshot: &'s Snapshot,
    actor: Actor<'a>,
    /// An account owner acting with an unscoped key.
    owner: bool,
    now: DateTime<Utc>,
}

impl Gate<'_, '_> {
    /// The actor holds `permission` (module level, within its key's role).
    fn require(&self, permission: &str) -> Result<(), AdminError> {
        let request = Request::new(self.actor.user, permission, self.now);
        if self.snapshot.check_scoped(&request, self.actor.scope).is_allowed() {
            Ok(())
        } else {
            Err(AdminError::MissingPermission {
                user: self.actor.user.to_owned(),
                permission: permission.to_owned(),
            })
        }
    }

    fn owner(&self, what: &str) -> Result<(), AdminError> {
        if self.owner {
            Ok(())
        } else {
            Err(AdminError::OwnersOnly { what: what.to_owned() })
        }
    }

    /// Collects what the change gives beyond the actor's own access and
    /// beyond its key's role (`found` holds what was found already); any
    /// excess refuses the change. Account owners hold everything, but their
    /// key's role still bounds them.
    fn no_excess(
        &self,
        found: Vec<Excess>,
        find: impl Fn(&Holdings<'_>, &mut Vec<Excess>),
    ) -> Result<(), AdminError> {
        let mut excess = found;
        for holdings in Holdings::of(self.snapshot, self.actor, self.now) {
            find(&holdings, &mut excess);
        }
        if excess.is_empty() {
            Ok(())
        } else {
            Err(AdminError::Escalation { excess })
        }
    }
}
