//! The workload in Cedar, written the way Cedar's documentation recommends
//! for RBAC with attribute conditions: the bench's `cedar-naive` rows. The
//! encoding an expert would write (grants in the entity hierarchy, the
//! policy set sliced per action) is `cedar_expert.rs`, the `cedar` rows.
//!
//! - Entities: `User in [Role, Team]` (direct roles and team membership),
//!   `Team in [TeamRole]` (roles assigned to the team), `Role in
//!   [Capability]` (a role that grants `teams_view` is in
//!   `Capability::"teams_view"`), one `Module` entity per module or object for
//!   module-level questions, one entity per record (`Customer`,
//!   `Conversation`, …) whose attributes are the record's fields, user and
//!   team fields as entity references.
//! - Policies, per role: one `permit` for all its `all` grants (`action in
//!   [...]`, any resource); one for the module-level answer of its limited
//!   grants (`resource is Module`, rule 5); one per (object, limit) with the
//!   limit as a `when` clause (`resource.assignee == principal`, `principal
//!   in resource.assignee_team`, translated conditions). A role assigned to a
//!   team gets the same policies again with `principal in TeamRole::"r"` and
//!   `when { principal in Capability::"teams_view" }`: team roles count only
//!   with `teams_view` through a direct role (rule 3). Account owners have one
//!   policy of their own.
//! - Rule 6 has no expression in Cedar (a policy cannot refer to another
//!   action's decision), so [`CedarEngine::check`] asks Cedar again for
//!   `view` (and for `update`, about the record before the change), exactly
//!   as a Cedar application must. Every such call is inside the timed call.
//! - The policies are validated against the schema (strict mode) and the
//!   entities are checked against it when loaded.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context as _, Result};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, Schema, ValidationMode, Validator,
};
use permset_core::condition::{CmpOp, Expr, Operand};
use permset_core::{Access, FieldType, Limit, Model, Role};
use serde_json::{json, Map, Value};

use crate::roles::{PeerModel, Scope};
use crate::workload::{BenchRequest, Workload};

/// The Cedar entity type of a module or object.
pub fn type_name(object: &str) -> String {
    let singular = match object {
        "companies" => "company".to_owned(),
        other => other.strip_suffix('s').unwrap_or(other).to_owned(),
    };
    let mut out = String::new();
    for part in singular.split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

pub(crate) fn uid(ty: &str, id: &str) -> Result<EntityUid> {
    let ty = EntityTypeName::from_str(ty).map_err(|e| anyhow!("entity type `{ty}`: {e}"))?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}

pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Cedar's type for a permset field type.
fn cedar_type(ty: &FieldType) -> String {
    match ty {
        FieldType::Bool => "Bool".into(),
        FieldType::Number => "Long".into(),
        FieldType::User => "User".into(),
        FieldType::Team => "Team".into(),
        FieldType::List(inner) => format!("Set<{}>", cedar_type(inner)),
        FieldType::String | FieldType::Enum(_) | FieldType::Datetime | FieldType::Lookup(_) => {
            "String".into()
        }
    }
}

/// The Cedar schema of a model, in Cedar's own syntax. With `grants`, roles
/// are also members of `Grant` entities and team roles of `TeamGrant`
/// entities (the expert encoding, `cedar_expert.rs`).
pub fn schema_text(peer: &PeerModel, grants: bool) -> String {
    let mut s = String::new();
    if grants {
        s.push_str(
            "entity Grant;\nentity TeamGrant;\nentity Capability;\nentity TeamRole in [TeamGrant];\n\
             entity Role in [Capability, Grant];\nentity Team in [TeamRole];\n",
        );
    } else {
        s.push_str(
            "entity Capability;\nentity TeamRole;\nentity Role in [Capability];\nentity Team in [TeamRole];\n",
        );
    }
    s.push_str("entity Module;\n");
    let mut attrs = vec!["account_owner: Bool".to_owned()];
    for (name, ty) in &peer.schema.user_attributes {
        attrs.push(format!("{name}: {}", cedar_type(ty)));
    }
    let _ = writeln!(s, "entity User in [Role, Team] {{ {} }};", attrs.join(", "));
    for (name, def) in &peer.schema.objects {
        let fields: Vec<String> =
            def.fields.iter().map(|(f, d)| format!("{f}: {}", cedar_type(&d.ty))).collect();
        let _ = writeln!(s, "entity {} {{ {} }};", type_name(name), fields.join(", "));
    }
    for (perm, (module, _)) in &peer.permissions {
        let resources = if peer.is_object(module) {
            format!("Module, {}", type_name(module))
        } else {
            "Module".to_owned()
        };
        let _ =
            writeln!(s, "action {} appliesTo {{ principal: User, resource: [{resources}] }};", quote(perm));
    }
    s
}

/// Translates a permset condition into a Cedar expression.
fn cedar_expr(expr: &Expr) -> Result<String> {
    Ok(match expr {
        Expr::Const(b) => b.to_string(),
        Expr::And(items) if items.is_empty() => "true".into(),
        Expr::Or(items) if items.is_empty() => "false".into(),
        Expr::And(items) => {
            let parts: Result<Vec<String>> = items.iter().map(cedar_expr).collect();
            format!("({})", parts?.join(" && "))
        }
        Expr::Or(items) => {
            let parts: Result<Vec<String>> = items.iter().map(cedar_expr).collect();
            format!("({})", parts?.join(" || "))
        }
        Expr::Not(inner) => format!("!({})", cedar_expr(inner)?),
        Expr::Truthy(operand) => cedar_operand(operand, None)?,
        Expr::Compare { left, op, right } => {
            // A user field compared with a literal key compares with that User entity.
            let hint = |o: &Operand| match o {
                Operand::Field { ty, .. } => Some(ty.clone()),
                _ => None,
            };
            let (l, r) = (cedar_operand(left, hint(right))?, cedar_operand(right, hint(left))?);
            match op {
                CmpOp::Eq => format!("{l} == {r}"),
                CmpOp::Ne => format!("{l} != {r}"),
                CmpOp::Lt => format!("{l} < {r}"),
                CmpOp::Le => format!("{l} <= {r}"),
                CmpOp::Gt => format!("{l} > {r}"),
                CmpOp::Ge => format!("{l} >= {r}"),
                CmpOp::In => format!("{r}.contains({l})"),
                CmpOp::Contains => format!("{l}.contains({r})"),
            }
        }
    })
}

fn cedar_operand(operand: &Operand, other: Option<FieldType>) -> Result<String> {
    Ok(match operand {
        Operand::Field { name, .. } => format!("resource.{name}"),
        Operand::UserId => "principal".into(),
        Operand::UserAttr(name) => format!("principal.{name}"),
        Operand::UserTeams => bail!("`user.teams` has no translation here; use `team` access"),
        Operand::Value(value) => cedar_literal(value, other.as_ref())?,
    })
}

fn cedar_literal(value: &Value, ty: Option<&FieldType>) -> Result<String> {
    Ok(match (value, ty) {
        (Value::String(s), Some(FieldType::User)) => format!("User::{}", quote(s)),
        (Value::String(s), Some(FieldType::Team)) => format!("Team::{}", quote(s)),
        (Value::String(s), _) => quote(s),
        (Value::Bool(b), _) => b.to_string(),
        (Value::Number(n), _) => {
            n.as_i64().map(|n| n.to_string()).ok_or_else(|| anyhow!("non-integer {n}"))?
        }
        (Value::Array(items), _) => {
            let inner = match ty {
                Some(FieldType::List(inner)) => Some(inner.as_ref()),
                other => other,
            };
            let parts: Result<Vec<String>> = items.iter().map(|v| cedar_literal(v, inner)).collect();
            format!("[{}]", parts?.join(", "))
        }
        (Value::Null | Value::Object(_), _) => bail!("no Cedar literal for `{value}`"),
    })
}

/// The policy every encoding starts with: account owners may do everything (rule 2).
pub const ACCOUNT_OWNERS: &str =
    "@id(\"account_owners\")\npermit(principal, action, resource) when { principal.account_owner };\n";

/// The policies of a model, in Cedar's syntax.
pub fn policies_text(model: &Model, peer: &PeerModel) -> Result<String> {
    let mut out = String::from(ACCOUNT_OWNERS);
    for (key, role) in &peer.roles {
        out.push_str(&role_policies_text(model, peer, key, role)?);
    }
    Ok(out)
}

/// The policies of one role (ids start with `<role>/`), in Cedar's syntax.
pub fn role_policies_text(model: &Model, peer: &PeerModel, key: &str, role: &Role) -> Result<String> {
    let mut out = String::new();
    let actions = |names: &[&String]| -> String {
        let list: Vec<String> = names.iter().map(|n| format!("Action::{}", quote(n))).collect();
        format!("[{}]", list.join(", "))
    };
    let mut all: Vec<&String> = Vec::new();
    let mut limited: Vec<&String> = Vec::new();
    // (object, scope) -> actions, in first-seen order.
    let mut scoped: Vec<(String, String, Vec<&String>)> = Vec::new();
    for (perm, grant) in &role.grants {
        let Some((module, _)) = peer.permissions.get(perm) else { continue };
        match &grant.access {
            Access::None => {}
            Access::All => all.push(perm),
            Access::Limited(limits) => {
                limited.push(perm);
                for limit in limits {
                    let cond = scope_condition(&peer.scope(model, module, limit)?)?;
                    match scoped.iter_mut().find(|(m, c, _)| *m == *module && *c == cond) {
                        Some((_, _, list)) => list.push(perm),
                        None => scoped.push((module.clone(), cond, vec![perm])),
                    }
                }
            }
        }
    }
    let mut principals = vec![(format!("Role::{}", quote(key)), String::new())];
    if peer.team_roles.contains(key) {
        principals
            .push((format!("TeamRole::{}", quote(key)), "principal in Capability::\"teams_view\"".into()));
    }
    for (i, (principal, guard)) in principals.iter().enumerate() {
        let when = |cond: &str| -> String {
            match (cond.is_empty(), guard.is_empty()) {
                (true, true) => String::new(),
                (false, true) => format!(" when {{ {cond} }}"),
                (true, false) => format!(" when {{ {guard} }}"),
                (false, false) => format!(" when {{ {guard} && ({cond}) }}"),
            }
        };
        let via = if i == 0 { "direct" } else { "team" };
        if !all.is_empty() {
            let _ = writeln!(
                out,
                "@id(\"{key}/{via}/all\")\npermit(principal in {principal}, action in {}, resource){};",
                actions(&all),
                when("")
            );
        }
        if !limited.is_empty() {
            let _ = writeln!(
                out,
                "@id(\"{key}/{via}/module\")\npermit(principal in {principal}, action in {}, resource is Module){};",
                actions(&limited),
                when("")
            );
        }
        for (n, (object, cond, perms)) in scoped.iter().enumerate() {
            let _ = writeln!(
                out,
                "@id(\"{key}/{via}/{object}/{n}\")\npermit(principal in {principal}, action in {}, resource is {}){};",
                actions(perms),
                type_name(object),
                when(cond)
            );
        }
    }
    Ok(out)
}

pub(crate) fn scope_condition(scope: &Scope) -> Result<String> {
    Ok(match scope {
        Scope::Own { owner } => format!("resource.{owner} == principal"),
        Scope::Team { team, owner } => {
            format!("principal in resource.{team} || resource.{owner} == principal")
        }
        Scope::Condition(expr) => cedar_expr(expr)?,
    })
}

fn entity_ref(ty: &str, id: &str) -> Value {
    json!({ "__entity": { "type": ty, "id": id } })
}

/// A record's fields as Cedar attributes.
fn record_attrs(peer: &PeerModel, object: &str, record: &Map<String, Value>) -> Value {
    let mut attrs = Map::new();
    let Some(def) = peer.schema.objects.get(object) else { return Value::Object(attrs) };
    for (name, field) in &def.fields {
        let Some(value) = record.get(name) else { continue };
        let converted = match (&field.ty, value) {
            (FieldType::User, Value::String(s)) => entity_ref("User", s),
            (FieldType::Team, Value::String(s)) => entity_ref("Team", s),
            (FieldType::List(inner), Value::Array(items)) if **inner == FieldType::User => {
                Value::Array(items.iter().filter_map(Value::as_str).map(|s| entity_ref("User", s)).collect())
            }
            (_, v) => v.clone(),
        };
        attrs.insert(name.clone(), converted);
    }
    Value::Object(attrs)
}

/// The entities of a workload: users, teams, roles and modules, and with
/// `records` every record too. A role edit rebuilds the first kind only.
pub fn entities_json(w: &Workload, peer: &PeerModel, records: bool) -> Value {
    let model = &w.model;
    let mut list =
        vec![json!({ "uid": { "type": "Capability", "id": "teams_view" }, "attrs": {}, "parents": [] })];
    let team_parent = |a: &permset_core::Assignment| a.is_active(w.now);
    for (key, role) in &peer.roles {
        let parents: Vec<Value> = if peer.grants_teams_view(role) {
            vec![json!({ "type": "Capability", "id": "teams_view" })]
        } else {
            Vec::new()
        };
        list.push(json!({ "uid": { "type": "Role", "id": key }, "attrs": {}, "parents": parents }));
        list.push(json!({ "uid": { "type": "TeamRole", "id": key }, "attrs": {}, "parents": [] }));
    }
    for team in model.teams.keys() {
        let parents: Vec<Value> = model
            .assignments
            .teams
            .get(team)
            .into_iter()
            .flatten()
            .filter(|a| team_parent(a))
            .map(|a| json!({ "type": "TeamRole", "id": a.role }))
            .collect();
        list.push(json!({ "uid": { "type": "Team", "id": team }, "attrs": {}, "parents": parents }));
    }
    for (key, user) in &model.users {
        let mut parents: Vec<Value> = model
            .assignments
            .users
            .get(key)
            .into_iter()
            .flatten()
            .filter(|a| a.is_active(w.now) && peer.roles.get(&a.role).is_some_and(|r| r.kind == user.kind))
            .map(|a| json!({ "type": "Role", "id": a.role }))
            .collect();
        parents.extend(user.teams.iter().map(|t| json!({ "type": "Team", "id": t })));
        let mut attrs = Map::new();
        attrs.insert("account_owner".into(), json!(user.account_owner));
        for name in peer.schema.user_attributes.keys() {
            attrs.insert(name.clone(), user.attributes.get(name).cloned().unwrap_or(json!("")));
        }
        list.push(json!({ "uid": { "type": "User", "id": key }, "attrs": attrs, "parents": parents }));
    }
    let modules: BTreeSet<&String> = peer.permissions.values().map(|(m, _)| m).collect();
    for module in modules {
        list.push(json!({ "uid": { "type": "Module", "id": module }, "attrs": {}, "parents": [] }));
    }
    let records = if records { w.records.len() } else { 0 };
    for (i, (record, object)) in w.records.iter().zip(&w.record_objects).take(records).enumerate() {
        let attrs = record_attrs(peer, object, record);
        list.push(json!({ "uid": { "type": type_name(object), "id": format!("r{i}") }, "attrs": attrs, "parents": [] }));
    }
    Value::Array(list)
}

/// A request in Cedar's terms: the EntityUids a caller would hold.
#[derive(Debug, Clone)]
pub struct CedarRequest {
    pub(crate) principal: EntityUid,
    pub(crate) action: EntityUid,
    /// Rule 6: the `view` action, when the action needs it.
    pub(crate) view: Option<EntityUid>,
    pub(crate) resource: EntityUid,
    /// For an update with a before state: the record before the change.
    pub(crate) before: Option<EntityUid>,
}

impl CedarRequest {
    /// The Cedar form of a workload request (both encodings use the same entities for it).
    pub fn new(w: &Workload, peer: &PeerModel, r: &BenchRequest) -> Result<Self> {
        let (module, _) = peer.permissions.get(&r.permission).with_context(|| r.permission.clone())?;
        let record_uid = |i: usize| -> Result<EntityUid> {
            let object = w.record_objects.get(i).context("record index")?;
            uid(&type_name(object), &format!("r{i}"))
        };
        let resource = match r.record {
            Some(i) if peer.is_object(module) => record_uid(i)?,
            _ => uid("Module", module)?,
        };
        let before = match (r.record, r.before) {
            (Some(_), Some(i)) if r.permission.ends_with("_update") => Some(record_uid(i)?),
            _ => None,
        };
        Ok(CedarRequest {
            principal: uid("User", &r.user)?,
            action: uid("Action", &r.permission)?,
            view: peer.needs_view(&r.permission).map(|v| uid("Action", &v)).transpose()?,
            resource,
            before,
        })
    }

    /// One permset-equivalent decision from `allows` (one Cedar call): the
    /// action, then for an update with a before state the action on that
    /// state, then (rule 6) `view` of the existing record.
    pub(crate) fn decide(&self, allows: impl Fn(&EntityUid, &EntityUid, &EntityUid) -> bool) -> bool {
        if !allows(&self.principal, &self.action, &self.resource) {
            return false;
        }
        if let Some(before) = &self.before {
            if !allows(&self.principal, &self.action, before) {
                return false;
            }
        }
        match &self.view {
            Some(view) => allows(&self.principal, view, self.before.as_ref().unwrap_or(&self.resource)),
            None => true,
        }
    }

    /// Validates the request against a schema (setup and tests only).
    pub fn validate(&self, schema: &Schema) -> Result<()> {
        Request::new(
            self.principal.clone(),
            self.action.clone(),
            self.resource.clone(),
            Context::empty(),
            Some(schema),
        )
        .map(|_| ())
        .map_err(|e| anyhow!("cedar request: {e}"))
    }
}

/// Cedar, loaded with one workload.
pub struct CedarEngine {
    /// The validated policies.
    pub policies: PolicySet,
    /// Users, teams, roles, modules and records.
    pub entities: Entities,
    /// The schema everything was validated against.
    pub schema: Schema,
    validator: Validator,
    /// Roles that are in `Capability::"teams_view"`.
    capable: BTreeSet<String>,
    authorizer: Authorizer,
}

impl CedarEngine {
    /// Translates, parses and validates the model and loads the entities: Cedar's whole setup.
    pub fn build(w: &Workload) -> Result<Self> {
        let peer = PeerModel::new(&w.model);
        let (schema, _warnings) = Schema::from_cedarschema_str(&schema_text(&peer, false))
            .map_err(|e| anyhow!("cedar schema: {e:?}"))?;
        let validator = Validator::new(schema.clone());
        let policies = parse_with_ids(&policies_text(&w.model, &peer)?)?;
        validate(&validator, &policies)?;
        let entities = Entities::from_json_value(entities_json(w, &peer, true), Some(&schema))
            .map_err(|e| anyhow!("cedar entities: {e}"))?;
        let capable =
            peer.roles.iter().filter(|(_, r)| peer.grants_teams_view(r)).map(|(k, _)| k.clone()).collect();
        Ok(CedarEngine { policies, entities, schema, validator, capable, authorizer: Authorizer::new() })
    }

    /// A role edit the incremental way (as casbin's API does it): translate,
    /// parse and validate only the edited role's policies, swap them in with
    /// `PolicySet::remove_static` and `add`, and move the role in or out of
    /// `Capability::"teams_view"` if the edit changed that (which recomputes
    /// the entities' transitive closure).
    pub fn replace_role(&mut self, model: &Model, key: &str) -> Result<()> {
        let peer = PeerModel::new(model);
        let role = peer.roles.get(key).with_context(|| format!("role `{key}`"))?;
        let new = parse_with_ids(&role_policies_text(model, &peer, key, role)?)?;
        validate(&self.validator, &new)?;
        let prefix = format!("{key}/");
        let old: Vec<_> = self
            .policies
            .policies()
            .filter(|p| AsRef::<str>::as_ref(p.id()).starts_with(&prefix))
            .map(|p| p.id().clone())
            .collect();
        for id in old {
            self.policies.remove_static(id).map_err(|e| anyhow!("cedar: {e}"))?;
        }
        for policy in new.policies() {
            self.policies.add(policy.clone()).map_err(|e| anyhow!("cedar: {e}"))?;
        }
        let capable = peer.grants_teams_view(role);
        if capable != self.capable.contains(key) {
            let parents: HashSet<EntityUid> =
                if capable { [uid("Capability", "teams_view")?].into() } else { HashSet::new() };
            let entity = Entity::new_no_attrs(uid("Role", key)?, parents);
            let entities = std::mem::replace(&mut self.entities, Entities::empty());
            self.entities =
                entities.upsert_entities([entity], Some(&self.schema)).map_err(|e| anyhow!("cedar: {e}"))?;
            if capable {
                self.capable.insert(key.to_owned());
            } else {
                self.capable.remove(key);
            }
        }
        Ok(())
    }

    /// The Cedar form of a workload request.
    pub fn prepare(&self, w: &Workload, peer: &PeerModel, r: &BenchRequest) -> Result<CedarRequest> {
        CedarRequest::new(w, peer, r)
    }

    fn allows(&self, principal: &EntityUid, action: &EntityUid, resource: &EntityUid) -> bool {
        // Requests were validated against the schema when prepared (see the equivalence test),
        // so the timed call skips re-validating each one: Cedar's fastest correct use.
        match Request::new(principal.clone(), action.clone(), resource.clone(), Context::empty(), None) {
            Ok(request) => {
                self.authorizer.is_authorized(&request, &self.policies, &self.entities).decision()
                    == Decision::Allow
            }
            Err(_) => false,
        }
    }

    /// One permset-equivalent decision: the action, then (rule 6) `view` of
    /// the existing record, and for an update with a before state the action
    /// on that state too.
    pub fn check(&self, r: &CedarRequest) -> bool {
        r.decide(|p, a, res| self.allows(p, a, res))
    }

    /// Validates a request against the schema (setup and tests only).
    pub fn validate_request(&self, r: &CedarRequest) -> Result<()> {
        r.validate(&self.schema)
    }
}

/// Parses policies, each under the id its `@id` annotation names (Cedar
/// numbers them `policy0`, … otherwise), so that one role's can be removed.
fn parse_with_ids(text: &str) -> Result<PolicySet> {
    let parsed = PolicySet::from_str(text).map_err(|e| anyhow!("cedar policies: {e:?}"))?;
    let renamed = parsed.policies().map(|p| {
        let id = p.annotation("id").with_context(|| format!("no @id on `{p}`"))?;
        Ok(p.new_id(PolicyId::new(id)))
    });
    PolicySet::from_policies(renamed.collect::<Result<Vec<_>>>()?).map_err(|e| anyhow!("cedar policies: {e}"))
}

/// Validates policies against the schema in strict mode.
pub(crate) fn validate(validator: &Validator, policies: &PolicySet) -> Result<()> {
    let result = validator.validate(policies, ValidationMode::Strict);
    if !result.validation_passed() {
        let errors: Vec<String> = result.validation_errors().take(5).map(|e| format!("{e}")).collect();
        bail!("cedar validation: {}", errors.join("; "));
    }
    Ok(())
}

/// Lists a role's limits, for tests that want to see every kind was generated.
pub fn limit_kinds(model: &Model) -> BTreeSet<&'static str> {
    let mut kinds = BTreeSet::new();
    for role in model.roles.values() {
        for grant in role.grants.values() {
            if let Access::Limited(limits) = &grant.access {
                for l in limits {
                    kinds.insert(match l {
                        Limit::Own => "own",
                        Limit::Team => "team",
                        Limit::Rule(_) => "rule",
                        Limit::Where(_) => "where",
                    });
                }
            }
        }
    }
    kinds
}
