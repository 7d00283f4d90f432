//! The workload in Cedar the way an expert would write it for speed: the
//! bench's `cedar` rows (the documentation's straightforward encoding,
//! `cedar_peer.rs`, is kept as `cedar-naive`).
//!
//! Cedar 4 evaluates every policy of the set passed to `is_authorized`
//! (about a microsecond each here, whatever the policy's shape) and leaves
//! choosing the relevant policies to the application. So:
//!
//! - Grants live in the entity hierarchy: `Role in [Capability, Grant]`,
//!   with one `Grant::"<permission>|<kind>"` per distinct grant (`all`,
//!   `module` — the module-level answer of a limited grant, rule 5 — `own`,
//!   `team`, `rule:<name>`, `where:<condition>`), and `TeamRole in
//!   [TeamGrant]` for roles assigned to teams. Users are `in [Role, Team]`,
//!   teams `in [TeamRole]`, as in the naive encoding.
//! - One policy per distinct (permission, kind), `action == Action::"…"`:
//!   `permit(principal, action == Action::"customers_view", resource is
//!   Customer) when { (principal in Grant::"customers_view|own" || (principal
//!   in TeamGrant::"customers_view|own" && principal in
//!   Capability::"teams_view")) && resource.owner == principal };` — team
//!   roles' grants count only with `teams_view` held directly (rule 3). A
//!   role edit then changes entities, not policies (unless it introduces a
//!   grant no role held before).
//! - The policy set is sliced at setup per action and resource type
//!   (`Module` for module-level questions, the object's type for records):
//!   each call evaluates the account owners' policy and the grant policies
//!   that can apply to it (a handful). The slice is looked up inside the
//!   timed call, as the application would.
//! - Rule 6 is asked of Cedar again, as in the naive encoding
//!   ([`CedarRequest`]'s `decide`).
//!
//! Everything is validated in strict mode against the schema; the
//! equivalence test proves the decisions identical to permset's.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use anyhow::{anyhow, Context as _, Result};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet,
    Request, Schema, Validator,
};
use permset_core::{Access, Limit, Model, Role};
use serde_json::{json, Value};

use crate::cedar_peer::{
    entities_json, quote, schema_text, scope_condition, type_name, uid, validate, CedarRequest,
    ACCOUNT_OWNERS,
};
use crate::roles::PeerModel;
use crate::workload::Workload;

/// One distinct grant of a permission: a `Grant` entity and the policy that gives it meaning.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GrantKind {
    permission: String,
    /// `all`, `module`, `own`, `team`, `rule:<name>` or `where:<condition>`.
    kind: String,
    /// The resource type the policy is for (`None`: any resource).
    resource: Option<String>,
    /// The `when` condition, empty for none.
    condition: String,
}

impl GrantKind {
    /// The id of its `Grant` / `TeamGrant` entity.
    fn id(&self) -> String {
        format!("{}|{}", self.permission, self.kind)
    }

    /// The policy id and text. One policy serves direct and team roles: a
    /// team role's grant counts only with `teams_view` held directly (rule 3).
    fn policy(&self) -> (String, String) {
        let id = self.id();
        let holder = format!(
            "(principal in Grant::{0} || (principal in TeamGrant::{0} && principal in Capability::\"teams_view\"))",
            quote(&id)
        );
        let resource = match &self.resource {
            Some(ty) => format!("resource is {ty}"),
            None => "resource".to_owned(),
        };
        let when =
            if self.condition.is_empty() { holder } else { format!("{holder} && ({})", self.condition) };
        let text = format!(
            "permit(principal, action == Action::{}, {resource}) when {{ {when} }};",
            quote(&self.permission)
        );
        (id, text)
    }
}

/// The distinct grants of one role.
fn role_grants(model: &Model, peer: &PeerModel, role: &Role) -> Result<Vec<GrantKind>> {
    let mut out = Vec::new();
    for (perm, grant) in &role.grants {
        let Some((module, _)) = peer.permissions.get(perm) else { continue };
        let kind = |kind: String, resource: Option<String>, condition: String| GrantKind {
            permission: perm.clone(),
            kind,
            resource,
            condition,
        };
        match &grant.access {
            Access::None => {}
            Access::All => out.push(kind("all".into(), None, String::new())),
            Access::Limited(limits) => {
                out.push(kind("module".into(), Some("Module".into()), String::new()));
                for limit in limits {
                    let name = match limit {
                        Limit::Own => "own".to_owned(),
                        Limit::Team => "team".to_owned(),
                        Limit::Rule(name) => format!("rule:{name}"),
                        Limit::Where(text) => format!("where:{text}"),
                    };
                    let condition = scope_condition(&peer.scope(model, module, limit)?)?;
                    out.push(kind(name, Some(type_name(module)), condition));
                }
            }
        }
    }
    Ok(out)
}

/// A role's parents: its `Capability` (if it grants `teams_view`) and `Grant`s.
fn role_entities(peer: &PeerModel, key: &str, role: &Role, grants: &[GrantKind]) -> Result<[Entity; 2]> {
    let mut parents: HashSet<EntityUid> =
        grants.iter().map(|g| uid("Grant", &g.id())).collect::<Result<_>>()?;
    if peer.grants_teams_view(role) {
        parents.insert(uid("Capability", "teams_view")?);
    }
    let team_parents: HashSet<EntityUid> =
        grants.iter().map(|g| uid("TeamGrant", &g.id())).collect::<Result<_>>()?;
    Ok([
        Entity::new_no_attrs(uid("Role", key)?, parents),
        Entity::new_no_attrs(uid("TeamRole", key)?, team_parents),
    ])
}

/// Cedar, loaded with one workload in the expert encoding.
pub struct CedarExpert {
    /// Users, teams, roles, grants, modules and records.
    pub entities: Entities,
    /// The schema everything was validated against.
    pub schema: Schema,
    validator: Validator,
    /// Per action and resource type (`Module` for module-level questions, the
    /// object's type for records): the account owners' policy and the grant
    /// policies that can apply.
    slices: HashMap<EntityUid, Vec<(EntityTypeName, PolicySet)>>,
    /// Ids of the grant policies in force.
    known: HashSet<String>,
    authorizer: Authorizer,
}

impl CedarExpert {
    /// Translates, parses and validates the model, loads the entities and slices the policies per action.
    pub fn build(w: &Workload) -> Result<Self> {
        let model = &w.model;
        let peer = PeerModel::new(model);
        let (schema, _warnings) = Schema::from_cedarschema_str(&schema_text(&peer, true))
            .map_err(|e| anyhow!("cedar schema: {e:?}"))?;
        let validator = Validator::new(schema.clone());

        // Distinct grants.
        let mut by_role: BTreeMap<&String, Vec<GrantKind>> = BTreeMap::new();
        let mut distinct: BTreeSet<GrantKind> = BTreeSet::new();
        for (key, role) in &peer.roles {
            let grants = role_grants(model, &peer, role)?;
            distinct.extend(grants.iter().cloned());
            by_role.insert(key, grants);
        }
        let owners = Policy::from_str(ACCOUNT_OWNERS).map_err(|e| anyhow!("cedar policy: {e:?}"))?;
        let mut slices: HashMap<EntityUid, Vec<(EntityTypeName, PolicySet)>> = HashMap::new();
        for (perm, (module, _)) in &peer.permissions {
            let mut types = vec!["Module".to_owned()];
            if peer.is_object(module) {
                types.push(type_name(module));
            }
            let mut sets = Vec::new();
            for ty in types {
                let mut set = PolicySet::new();
                set.add(owners.clone()).map_err(|e| anyhow!("cedar: {e}"))?;
                let ty = EntityTypeName::from_str(&ty).map_err(|e| anyhow!("entity type `{ty}`: {e}"))?;
                sets.push((ty, set));
            }
            slices.insert(uid("Action", perm)?, sets);
        }
        let mut engine = CedarExpert {
            entities: Entities::empty(),
            schema,
            validator,
            slices,
            known: HashSet::new(),
            authorizer: Authorizer::new(),
        };
        engine.add_policies(&distinct.iter().collect::<Vec<_>>())?;

        // The naive encoding's entities, with roles moved under their grants.
        let mut list = match entities_json(w, &peer, true) {
            Value::Array(list) => list,
            _ => Vec::new(),
        };
        list.retain(|e| !matches!(e["uid"]["type"].as_str(), Some("Role" | "TeamRole")));
        for g in &distinct {
            list.push(json!({ "uid": { "type": "Grant", "id": g.id() }, "attrs": {}, "parents": [] }));
            list.push(json!({ "uid": { "type": "TeamGrant", "id": g.id() }, "attrs": {}, "parents": [] }));
        }
        let entities = Entities::from_json_value(Value::Array(list), Some(&engine.schema))
            .map_err(|e| anyhow!("cedar entities: {e}"))?;
        let mut roles = Vec::new();
        for (key, grants) in &by_role {
            let role = peer.roles.get(*key).context("role")?;
            roles.extend(role_entities(&peer, key, role, grants)?);
        }
        engine.entities =
            entities.add_entities(roles, Some(&engine.schema)).map_err(|e| anyhow!("cedar entities: {e}"))?;
        Ok(engine)
    }

    /// Parses and validates grant policies not yet in force and adds each to
    /// the slices of its action that it can apply to.
    fn add_policies(&mut self, grants: &[&GrantKind]) -> Result<()> {
        let mut new = PolicySet::new();
        let mut placed = Vec::new();
        for grant in grants {
            let (id, text) = grant.policy();
            if self.known.contains(&id) {
                continue;
            }
            let policy = Policy::parse(Some(PolicyId::new(&id)), &text)
                .map_err(|e| anyhow!("cedar policy `{text}`: {e:?}"))?;
            new.add(policy).map_err(|e| anyhow!("cedar: {e}"))?;
            placed.push((id, uid("Action", &grant.permission)?, grant.resource.clone()));
        }
        validate(&self.validator, &new)?;
        for (id, action, resource) in placed {
            let policy = new.policy(&PolicyId::new(&id)).cloned().context("policy just added")?;
            let sets = self.slices.get_mut(&action).with_context(|| format!("action `{action}`"))?;
            for (ty, set) in sets.iter_mut() {
                if resource.as_deref().is_none_or(|r| r == ty.to_string()) {
                    set.add(policy.clone()).map_err(|e| anyhow!("cedar: {e}"))?;
                }
            }
            self.known.insert(id);
        }
        Ok(())
    }

    /// A role edit: upsert the role's two entities with their new `Grant`
    /// parents (Cedar recomputes the transitive closure), after adding and
    /// validating the policies of grants no role held before. Policies of
    /// grants nobody holds any more stay: nobody is in their `Grant`.
    pub fn replace_role(&mut self, model: &Model, key: &str) -> Result<()> {
        let peer = PeerModel::new(model);
        let role = peer.roles.get(key).with_context(|| format!("role `{key}`"))?;
        let grants = role_grants(model, &peer, role)?;
        self.add_policies(&grants.iter().collect::<Vec<_>>())?;
        let mut upsert = role_entities(&peer, key, role, &grants)?.to_vec();
        // New grants become entities too (re-upserting existing ones would make
        // Cedar strip and repair every member's closure for nothing).
        for g in &grants {
            for ty in ["Grant", "TeamGrant"] {
                let grant = uid(ty, &g.id())?;
                if self.entities.get(&grant).is_none() {
                    upsert.push(Entity::new_no_attrs(grant, HashSet::new()));
                }
            }
        }
        let entities = std::mem::replace(&mut self.entities, Entities::empty());
        self.entities = entities
            .upsert_entities(upsert, Some(&self.schema))
            .map_err(|e| anyhow!("cedar entities: {e}"))?;
        Ok(())
    }

    /// Grant policies in force, and the mean and largest number of policies
    /// one call evaluates (over the actions that have grant policies).
    pub fn policy_counts(&self) -> (usize, f64, usize) {
        let sizes: Vec<usize> =
            self.slices.values().flatten().map(|(_, s)| s.policies().count()).filter(|n| *n > 1).collect();
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
        (self.known.len(), mean, sizes.iter().copied().max().unwrap_or(0))
    }

    fn allows(&self, principal: &EntityUid, action: &EntityUid, resource: &EntityUid) -> bool {
        // The application picks the slice of the action and the resource's
        // type; an unknown action or type has none and is denied.
        let Some(sets) = self.slices.get(action) else { return false };
        let ty = resource.type_name();
        let Some((_, policies)) = sets.iter().find(|(t, _)| t == ty) else { return false };
        match Request::new(principal.clone(), action.clone(), resource.clone(), Context::empty(), None) {
            Ok(request) => {
                self.authorizer.is_authorized(&request, policies, &self.entities).decision()
                    == Decision::Allow
            }
            Err(_) => false,
        }
    }

    /// One permset-equivalent decision (rule 6 as in the naive encoding).
    pub fn check(&self, r: &CedarRequest) -> bool {
        r.decide(|p, a, res| self.allows(p, a, res))
    }

    /// Validates a request against the schema (setup and tests only).
    pub fn validate_request(&self, r: &CedarRequest) -> Result<()> {
        r.validate(&self.schema)
    }
}
