//! A change to a workspace's model, as an administrator asks for it.
//!
//! Every write path — an HTTP route, `apply` of a workspace file, the
//! console, a what-if preview — states its intent as one [`ModelChange`].
//! [`crate::Snapshot::authorize`] decides whether a principal may make it
//! (`authorize.rs`), and [`ModelChange::apply`] makes it on a model. The
//! store runs both inside the one transaction that commits the change, so
//! the rules are checked against exactly the revision the change is applied to.
//!
//! `apply` refuses what cannot be done whoever asks (a missing user, a
//! system role edited, a role deleted while assigned); who may ask is not
//! its business.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::authorize::AdminError;
use crate::catalogue::{self, system_role_names};
use crate::model::{Assignment, Model, ObjectDef, Role, Team, User};

/// Who holds an assignment: a user or a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holder {
    /// A user key.
    User(String),
    /// A team key.
    Team(String),
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::User(user) => write!(f, "user `{user}`"),
            Holder::Team(team) => write!(f, "team `{team}`"),
        }
    }
}

/// One change to a workspace's model (API keys included: they are access too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelChange {
    /// Declares or replaces an object (or extends a standard one).
    PutObject {
        /// The object's plural name.
        object: String,
        /// Its definition.
        def: ObjectDef,
    },
    /// Creates or replaces a user.
    PutUser {
        /// The user key.
        user: String,
        /// Kind, teams, attributes, account owner.
        def: User,
    },
    /// Removes a user, its assignments and its API keys.
    DeleteUser {
        /// The user key.
        user: String,
    },
    /// Creates or renames a team.
    PutTeam {
        /// The team key.
        team: String,
        /// Its display name.
        def: Team,
    },
    /// Removes a team, its assignments and memberships.
    DeleteTeam {
        /// The team key.
        team: String,
    },
    /// Puts a user in a team.
    AddMember {
        /// The team key.
        team: String,
        /// The user key.
        user: String,
    },
    /// Takes a user out of a team.
    RemoveMember {
        /// The team key.
        team: String,
        /// The user key.
        user: String,
    },
    /// Creates or replaces a custom role.
    PutRole {
        /// The role key.
        role: String,
        /// Its grants and field permissions.
        def: Role,
    },
    /// Copies any role into a new custom role.
    CloneRole {
        /// The role copied.
        source: String,
        /// The new role's key.
        role: String,
        /// Its description (default: the source's).
        #[serde(default)]
        description: Option<String>,
    },
    /// Deletes a custom role nobody holds (and the keys limited to it).
    DeleteRole {
        /// The role key.
        role: String,
    },
    /// Gives a role to a user or team, replacing an assignment of the same role.
    Assign {
        /// Who receives it.
        holder: Holder,
        /// The role key.
        role: String,
        /// When it stops counting.
        #[serde(default)]
        expires_at: Option<DateTime<Utc>>,
    },
    /// Takes a role from a user or team.
    Unassign {
        /// Who loses it.
        holder: Holder,
        /// The role key.
        role: String,
    },
    /// Creates or rewrites a named access rule.
    PutAccessRule {
        /// The object the rule filters.
        object: String,
        /// The rule's name.
        rule: String,
        /// Its condition.
        condition: String,
    },
    /// Deletes an access rule no role uses.
    DeleteAccessRule {
        /// The object.
        object: String,
        /// The rule's name.
        rule: String,
    },
    /// Creates an API key (the store writes it; the model is unchanged).
    CreateKey {
        /// The user it acts as; none for a service key.
        #[serde(default)]
        user: Option<String>,
        /// The role it is limited to.
        #[serde(default)]
        role: Option<String>,
        /// When it stops working.
        #[serde(default)]
        expires_at: Option<DateTime<Utc>>,
        /// A label for people.
        #[serde(default)]
        label: String,
    },
    /// Revokes an API key (the store does it; the model is unchanged).
    RevokeKey {
        /// The key's id.
        id: String,
    },
    /// Replaces the whole model (a workspace file applied).
    Replace {
        /// The new model.
        model: Box<Model>,
    },
}

fn missing(what: impl Into<String>) -> AdminError {
    AdminError::NotFound { what: what.into() }
}

/// A role's definition by key: declared, or a system role of this schema.
fn role_def(model: &Model, key: &str) -> Option<Role> {
    if let Some(role) = model.roles.get(key) {
        return Some(role.clone());
    }
    catalogue::system_roles(&catalogue::merged_schema(&model.schema)).remove(key)
}

fn is_system_role(key: &str) -> bool {
    system_role_names().contains(&key)
}

/// The keys holding `role` directly or through a team, for messages.
pub(crate) fn holders_of(model: &Model, role: &str) -> Vec<String> {
    let users = model.assignments.users.iter().map(|(k, list)| (Holder::User(k.clone()), list));
    let teams = model.assignments.teams.iter().map(|(k, list)| (Holder::Team(k.clone()), list));
    users
        .chain(teams)
        .filter(|(_, list)| list.iter().any(|a| a.role == role))
        .map(|(h, _)| h.to_string())
        .collect()
}

impl ModelChange {
    /// A short name for the audit log and messages (`put_role`, …).
    pub fn op(&self) -> &'static str {
        match self {
            ModelChange::PutObject { .. } => "put_object",
            ModelChange::PutUser { .. } => "put_user",
            ModelChange::DeleteUser { .. } => "delete_user",
            ModelChange::PutTeam { .. } => "put_team",
            ModelChange::DeleteTeam { .. } => "delete_team",
            ModelChange::AddMember { .. } => "add_member",
            ModelChange::RemoveMember { .. } => "remove_member",
            ModelChange::PutRole { .. } => "put_role",
            ModelChange::CloneRole { .. } => "clone_role",
            ModelChange::DeleteRole { .. } => "delete_role",
            ModelChange::Assign { .. } => "assign",
            ModelChange::Unassign { .. } => "unassign",
            ModelChange::PutAccessRule { .. } => "put_access_rule",
            ModelChange::DeleteAccessRule { .. } => "delete_access_rule",
            ModelChange::CreateKey { .. } => "create_key",
            ModelChange::RevokeKey { .. } => "revoke_key",
            ModelChange::Replace { .. } => "apply",
        }
    }

    /// Makes the change on `model`. Refuses, leaving `model` as it was, what
    /// nobody may do: naming what does not exist, creating what does, editing
    /// a system role, deleting a role that is still assigned. Validation of
    /// the result is compilation's job.
    pub fn apply(&self, model: &mut Model) -> Result<(), AdminError> {
        match self {
            ModelChange::PutObject { object, def } => {
                model.schema.objects.insert(object.clone(), def.clone());
            }
            ModelChange::PutUser { user, def } => {
                model.users.insert(user.clone(), def.clone());
            }
            ModelChange::DeleteUser { user } => {
                model.users.remove(user).ok_or_else(|| missing(format!("user `{user}`")))?;
                model.assignments.users.remove(user);
            }
            ModelChange::PutTeam { team, def } => {
                model.teams.insert(team.clone(), def.clone());
            }
            ModelChange::DeleteTeam { team } => {
                model.teams.remove(team).ok_or_else(|| missing(format!("team `{team}`")))?;
                model.assignments.teams.remove(team);
                for user in model.users.values_mut() {
                    user.teams.retain(|t| t != team);
                }
            }
            ModelChange::AddMember { team, user } => {
                if !model.teams.contains_key(team) {
                    return Err(missing(format!("team `{team}`")));
                }
                let def = model.users.get_mut(user).ok_or_else(|| missing(format!("user `{user}`")))?;
                if !def.teams.contains(team) {
                    def.teams.push(team.clone());
                }
            }
            ModelChange::RemoveMember { team, user } => {
                let def = model.users.get_mut(user).ok_or_else(|| missing(format!("user `{user}`")))?;
                let before = def.teams.len();
                def.teams.retain(|t| t != team);
                if def.teams.len() == before {
                    return Err(missing(format!("membership of `{user}` in team `{team}`")));
                }
            }
            ModelChange::PutRole { role, def } => {
                if is_system_role(role) {
                    return Err(AdminError::SystemRole { role: role.clone() });
                }
                model.roles.insert(role.clone(), def.clone());
            }
            ModelChange::CloneRole { source, role, description } => {
                if is_system_role(role) || model.roles.contains_key(role) {
                    return Err(AdminError::Exists { what: format!("role `{role}`") });
                }
                let mut clone = role_def(model, source).ok_or_else(|| missing(format!("role `{source}`")))?;
                clone.cloned_from = Some(source.clone());
                if description.is_some() {
                    clone.description = description.clone();
                }
                model.roles.insert(role.clone(), clone);
            }
            ModelChange::DeleteRole { role } => {
                if is_system_role(role) {
                    return Err(AdminError::SystemRole { role: role.clone() });
                }
                if !model.roles.contains_key(role) {
                    return Err(missing(format!("role `{role}`")));
                }
                let holders = holders_of(model, role);
                if !holders.is_empty() {
                    return Err(AdminError::StillAssigned { role: role.clone(), holders });
                }
                model.roles.remove(role);
            }
            ModelChange::Assign { holder, role, expires_at } => {
                let list = match holder {
                    Holder::User(user) if model.users.contains_key(user) => {
                        model.assignments.users.entry(user.clone()).or_default()
                    }
                    Holder::Team(team) if model.teams.contains_key(team) => {
                        model.assignments.teams.entry(team.clone()).or_default()
                    }
                    other => return Err(missing(other.to_string())),
                };
                list.retain(|a| a.role != *role);
                list.push(Assignment { role: role.clone(), expires_at: *expires_at });
            }
            ModelChange::Unassign { holder, role } => {
                let list = match holder {
                    Holder::User(user) => model.assignments.users.get_mut(user),
                    Holder::Team(team) => model.assignments.teams.get_mut(team),
                };
                let found = list.is_some_and(|list| {
                    let before = list.len();
                    list.retain(|a| a.role != *role);
                    list.len() < before
                });
                if !found {
                    return Err(missing(format!("assignment of `{role}` to {holder}")));
                }
                model.assignments.users.retain(|_, list| !list.is_empty());
                model.assignments.teams.retain(|_, list| !list.is_empty());
            }
            ModelChange::PutAccessRule { object, rule, condition } => {
                model.access_rules.entry(object.clone()).or_default().insert(rule.clone(), condition.clone());
            }
            ModelChange::DeleteAccessRule { object, rule } => {
                let rules = model
                    .access_rules
                    .get_mut(object)
                    .ok_or_else(|| missing(format!("access rules of `{object}`")))?;
                rules.remove(rule).ok_or_else(|| missing(format!("access rule `{rule}` of `{object}`")))?;
                if rules.is_empty() {
                    model.access_rules.remove(object);
                }
            }
            ModelChange::CreateKey { user, role, .. } => {
                if let Some(user) = user {
                    if !model.users.contains_key(user) {
                        return Err(AdminError::Invalid {
                            message: format!(
                                "unknown user `{user}`{}",
                                crate::did_you_mean(user, model.users.keys().map(String::as_str))
                            ),
                        });
                    }
                }
                if let Some(role) = role {
                    if !is_system_role(role) && !model.roles.contains_key(role) {
                        let names =
                            model.roles.keys().map(String::as_str).chain(system_role_names().iter().copied());
                        return Err(AdminError::Invalid {
                            message: format!("unknown role `{role}`{}", crate::did_you_mean(role, names)),
                        });
                    }
                }
            }
            ModelChange::RevokeKey { .. } => {}
            ModelChange::Replace { model: new } => {
                if new.workspace != model.workspace {
                    return Err(AdminError::Invalid {
                        message: format!(
                            "the file is for workspace `{}`, not `{}`",
                            new.workspace, model.workspace
                        ),
                    });
                }
                *model = (**new).clone();
            }
        }
        Ok(())
    }

    /// Whether the change leaves the model as it is (API keys only).
    pub fn is_key_change(&self) -> bool {
        matches!(self, ModelChange::CreateKey { .. } | ModelChange::RevokeKey { .. })
    }
}
