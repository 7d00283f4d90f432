//! What both peers need to know about a model, read once from its declared
//! form: every role with its grants (system roles from the catalogue), which
//! roles are assigned to teams, which permissions need `view` (rule 6) and
//! each access rule's condition as a typed expression to translate.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, Context as _, Result};
use permset_core::condition::{self, Expr, TypeContext};
use permset_core::{all_permissions, merged_schema, system_roles, Access, Limit, Model, Role, Schema};

/// A model as the peers translate it.
#[derive(Debug, Clone)]
pub struct PeerModel {
    /// The merged schema (catalogue plus declarations).
    pub schema: Schema,
    /// Every role, system and custom, by key.
    pub roles: BTreeMap<String, Role>,
    /// Roles assigned to at least one team.
    pub team_roles: BTreeSet<String>,
    /// Every permission: name → (module, action).
    pub permissions: BTreeMap<String, (String, String)>,
}

/// One limited scope of a grant, ready to translate.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// The owner field is the user.
    Own {
        /// The object's owner field.
        owner: String,
    },
    /// The team field is one of the user's teams, or the owner field is the user.
    Team {
        /// The object's team field.
        team: String,
        /// The object's owner field.
        owner: String,
    },
    /// A condition (access rule or inline).
    Condition(Expr),
}

impl PeerModel {
    /// Reads a model.
    pub fn new(model: &Model) -> Self {
        let schema = merged_schema(&model.schema);
        let mut roles = system_roles(&schema);
        roles.extend(model.roles.iter().map(|(k, r)| (k.clone(), r.clone())));
        let team_roles = model.assignments.teams.values().flatten().map(|a| a.role.clone()).collect();
        let permissions =
            all_permissions(&schema).into_iter().map(|(m, a)| (format!("{m}_{a}"), (m, a))).collect();
        PeerModel { schema, roles, team_roles, permissions }
    }

    /// Whether a role grants `teams_view` (so team roles count for its holders, rule 3).
    pub fn grants_teams_view(&self, role: &Role) -> bool {
        role.grants.get("teams_view").is_some_and(|g| g.access != Access::None)
    }

    /// Rule 6: the `view` permission an action also needs, if any.
    pub fn needs_view(&self, permission: &str) -> Option<String> {
        let (module, action) = self.permissions.get(permission)?;
        let view = format!("{module}_view");
        (action != "view" && action != "create" && self.permissions.contains_key(&view)).then_some(view)
    }

    /// Whether a module has records.
    pub fn is_object(&self, module: &str) -> bool {
        self.schema.objects.contains_key(module)
    }

    /// A limit of a grant on `object`, resolved.
    pub fn scope(&self, model: &Model, object: &str, limit: &Limit) -> Result<Scope> {
        let def = self.schema.objects.get(object).ok_or_else(|| anyhow!("`{object}` has no records"))?;
        let owner = def.owner_field.clone().ok_or_else(|| anyhow!("`{object}` has no owner field"))?;
        let source = match limit {
            Limit::Own => return Ok(Scope::Own { owner }),
            Limit::Team => {
                let team = def.team_field.clone().ok_or_else(|| anyhow!("`{object}` has no team field"))?;
                return Ok(Scope::Team { team, owner });
            }
            Limit::Rule(name) => model
                .access_rules
                .get(object)
                .and_then(|r| r.get(name))
                .cloned()
                .ok_or_else(|| anyhow!("unknown rule `{name}` of `{object}`"))?,
            Limit::Where(text) => text.clone(),
        };
        let ctx = TypeContext { object, fields: &def.fields, user_attributes: &self.schema.user_attributes };
        let expr = condition::compile(&source, &ctx).with_context(|| format!("condition `{source}`"))?;
        Ok(Scope::Condition(expr))
    }
}
