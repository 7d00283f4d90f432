//! The workload in casbin-rs: RBAC with domains plus ABAC rules in the
//! policy (casbin's documented "`eval(p.rule)`" pattern for many attribute
//! rules): the bench's `casbin-naive` rows. The encoding an expert would
//! write (one policy type per action, grants as role links) is
//! `casbin_expert.rs`, the `casbin` rows.
//!
//! - `g = _, _, _`: user → role (direct assignments) and role →
//!   `cap::teams_view` (a role granting `teams_view`) in the workspace's
//!   domain; user → team and team → role (team assignments) in the domain
//!   `<workspace>/teams`. casbin-rs answers every `gN` function from one
//!   role manager, so a separate `g2` would not keep the two apart; domains do.
//! - `p = sub, dom, act, rule`: one line per (role, permission) grant; `rule`
//!   is `true` for `all`, and for limited access the OR of its scopes, each
//!   true also for a module-level question (`r.obj.is_module`, rule 5).
//! - The matcher puts the cheap comparisons first so casbin short-circuits
//!   the role lookups and the rule evaluation on most lines:
//!   `r.sub.owner || (r.act == p.act && r.dom == p.dom && (g(user, role, dom) ||
//!   (g(user, role, dom/teams) && g(user, "cap::teams_view", dom))) && eval(p.rule))` —
//!   team roles count only with `teams_view` through a direct role (rule 3).
//! - Requests carry the user (`id`, `owner`, `region`, `teams`) and the record
//!   as rhai maps, converted once at setup (casbin's fastest form; converting
//!   a struct per call with `to_dynamic` would be slower).
//! - Rule 6 cannot be written in a casbin matcher (it would need the decision
//!   for another action), so [`CasbinEngine::check`] enforces `view` too, and
//!   for an update with a before state the action on that state, inside the
//!   timed call.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context as _, Result};
use casbin::rhai::serde::to_dynamic;
use casbin::rhai::Dynamic;
use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use permset_core::condition::{CmpOp, Expr, Operand};
use permset_core::{Access, Model, Role};
use serde_json::{json, Value};

use crate::roles::{PeerModel, Scope};
use crate::workload::{BenchRequest, Workload};

/// The casbin model text.
pub const MODEL: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, act, rule

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub.owner || (r.act == p.act && r.dom == p.dom && (g(r.sub.id, p.sub, r.dom) || (g(r.sub.id, p.sub, r.dom + "/teams") && g(r.sub.id, "cap::teams_view", r.dom))) && eval(p.rule))
"#;

pub(crate) const CAP: &str = "cap::teams_view";

pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Translates a permset condition into a rhai expression over `<r>.sub` and
/// `<r>.obj`, `r` being the request type (`r`, `r2`, …).
fn rhai_expr(expr: &Expr, r: &str) -> Result<String> {
    Ok(match expr {
        Expr::Const(b) => b.to_string(),
        Expr::And(items) if items.is_empty() => "true".into(),
        Expr::Or(items) if items.is_empty() => "false".into(),
        Expr::And(items) => {
            let parts: Result<Vec<String>> = items.iter().map(|e| rhai_expr(e, r)).collect();
            format!("({})", parts?.join(" && "))
        }
        Expr::Or(items) => {
            let parts: Result<Vec<String>> = items.iter().map(|e| rhai_expr(e, r)).collect();
            format!("({})", parts?.join(" || "))
        }
        Expr::Not(inner) => format!("!({})", rhai_expr(inner, r)?),
        Expr::Truthy(operand) => format!("({} == true)", rhai_operand(operand, r)?),
        Expr::Compare { left, op, right } => {
            let (a, b) = (rhai_operand(left, r)?, rhai_operand(right, r)?);
            match op {
                CmpOp::Eq => format!("{a} == {b}"),
                CmpOp::Ne => format!("{a} != {b}"),
                CmpOp::Lt => format!("{a} < {b}"),
                CmpOp::Le => format!("{a} <= {b}"),
                CmpOp::Gt => format!("{a} > {b}"),
                CmpOp::Ge => format!("{a} >= {b}"),
                CmpOp::In => format!("{b}.contains({a})"),
                CmpOp::Contains => format!("{a}.contains({b})"),
            }
        }
    })
}

fn rhai_operand(operand: &Operand, r: &str) -> Result<String> {
    Ok(match operand {
        Operand::Field { name, .. } => format!("{r}.obj.{name}"),
        Operand::UserId => format!("{r}.sub.id"),
        Operand::UserTeams => format!("{r}.sub.teams"),
        Operand::UserAttr(name) => format!("{r}.sub.{name}"),
        Operand::Value(value) => rhai_literal(value)?,
    })
}

fn rhai_literal(value: &Value) -> Result<String> {
    Ok(match value {
        Value::String(s) => quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let parts: Result<Vec<String>> = items.iter().map(rhai_literal).collect();
            format!("[{}]", parts?.join(", "))
        }
        Value::Null | Value::Object(_) => bail!("no rhai literal for `{value}`"),
    })
}

/// A limited scope as a rhai expression over request type `r`.
pub(crate) fn scope_rule(scope: &Scope, r: &str) -> Result<String> {
    Ok(match scope {
        Scope::Own { owner } => format!("{r}.obj.{owner} == {r}.sub.id"),
        Scope::Team { team, owner } => {
            format!("{r}.sub.teams.contains({r}.obj.{team}) || {r}.obj.{owner} == {r}.sub.id")
        }
        Scope::Condition(expr) => rhai_expr(expr, r)?,
    })
}

/// The `p` lines of one role.
pub fn role_policies(model: &Model, peer: &PeerModel, key: &str, role: &Role) -> Result<Vec<Vec<String>>> {
    let mut lines = Vec::new();
    for (perm, grant) in &role.grants {
        let Some((module, _)) = peer.permissions.get(perm) else { continue };
        let rule = match &grant.access {
            Access::None => continue,
            Access::All => "true".to_owned(),
            Access::Limited(limits) => {
                let mut parts = vec!["r.obj.is_module".to_owned()];
                for limit in limits {
                    parts.push(format!("({})", scope_rule(&peer.scope(model, module, limit)?, "r")?));
                }
                parts.join(" || ")
            }
        };
        lines.push(vec![key.to_owned(), model.workspace.clone(), perm.clone(), rule]);
    }
    Ok(lines)
}

/// Every `p` and `g` line of a model.
pub fn policy_lines(w: &Workload, peer: &PeerModel) -> Result<[Vec<Vec<String>>; 2]> {
    let model = &w.model;
    let dom = &model.workspace;
    let mut p = Vec::new();
    let mut g = membership_lines(w, peer);
    for (key, role) in &peer.roles {
        p.extend(role_policies(model, peer, key, role)?);
        if peer.grants_teams_view(role) {
            g.push(vec![key.clone(), CAP.to_owned(), dom.clone()]);
        }
    }
    Ok([p, g])
}

/// The `g` lines of who holds which role: user → role in the workspace's
/// domain, user → team and team → role in `<workspace>/teams`.
pub(crate) fn membership_lines(w: &Workload, peer: &PeerModel) -> Vec<Vec<String>> {
    let model = &w.model;
    let dom = &model.workspace;
    let team_dom = format!("{dom}/teams");
    let mut g = Vec::new();
    for (key, list) in &model.assignments.users {
        let kind = model.users.get(key).map(|u| u.kind);
        for a in list.iter().filter(|a| a.is_active(w.now)) {
            if peer.roles.get(&a.role).map(|r| r.kind) == kind {
                g.push(vec![key.clone(), a.role.clone(), dom.clone()]);
            }
        }
    }
    for (key, user) in &model.users {
        for team in &user.teams {
            g.push(vec![key.clone(), format!("team::{team}"), team_dom.clone()]);
        }
    }
    for (team, list) in &model.assignments.teams {
        for a in list.iter().filter(|a| a.is_active(w.now)) {
            g.push(vec![format!("team::{team}"), a.role.clone(), team_dom.clone()]);
        }
    }
    g
}

/// A request in casbin's terms.
#[derive(Debug, Clone)]
pub struct CasbinRequest {
    sub: Dynamic,
    act: Dynamic,
    view: Option<Dynamic>,
    obj: Dynamic,
    before: Option<Dynamic>,
}

/// casbin-rs, loaded with one workload.
pub struct CasbinEngine {
    /// The enforcer.
    pub enforcer: Enforcer,
    dom: Dynamic,
    subjects: BTreeMap<String, Dynamic>,
}

/// Every user as a rhai map (`id`, `owner`, `region`, `teams`), converted once at setup.
pub(crate) fn subjects(w: &Workload) -> Result<BTreeMap<String, Dynamic>> {
    let mut subjects = BTreeMap::new();
    for (key, user) in &w.model.users {
        let sub = json!({
            "id": key,
            "owner": user.account_owner,
            "region": user.attributes.get("region").cloned().unwrap_or(json!("")),
            "teams": user.teams,
        });
        subjects.insert(key.clone(), to_dyn(&sub)?);
    }
    Ok(subjects)
}

/// A request's object (a record, or `is_module` for a module-level
/// question) and, for an update with a before state, that state.
pub(crate) fn request_objects(
    w: &Workload,
    peer: &PeerModel,
    r: &BenchRequest,
) -> Result<(Dynamic, Option<Dynamic>)> {
    let (module, _) = peer.permissions.get(&r.permission).with_context(|| r.permission.clone())?;
    let record_obj = |i: usize| -> Result<Dynamic> {
        let mut record = w.records.get(i).context("record index")?.clone();
        record.insert("is_module".into(), json!(false));
        to_dyn(&Value::Object(record))
    };
    let obj = match r.record {
        Some(i) if peer.is_object(module) => record_obj(i)?,
        _ => to_dyn(&json!({ "is_module": true }))?,
    };
    let before = match (r.record, r.before) {
        (Some(_), Some(i)) if r.permission.ends_with("_update") => Some(record_obj(i)?),
        _ => None,
    };
    Ok((obj, before))
}

fn to_dyn(value: &Value) -> Result<Dynamic> {
    to_dynamic(value).map_err(|e| anyhow!("rhai value: {e}"))
}

impl CasbinEngine {
    /// Builds the enforcer (model, policies, role links) and the request subjects.
    pub async fn build(w: &Workload) -> Result<Self> {
        let peer = PeerModel::new(&w.model);
        let model = DefaultModel::from_str(MODEL).await.map_err(|e| anyhow!("casbin model: {e}"))?;
        let mut enforcer =
            Enforcer::new(model, MemoryAdapter::default()).await.map_err(|e| anyhow!("casbin: {e}"))?;
        let [p, g] = policy_lines(w, &peer)?;
        enforcer.add_policies(p).await.map_err(|e| anyhow!("casbin p: {e}"))?;
        enforcer.add_named_grouping_policies("g", g).await.map_err(|e| anyhow!("casbin g: {e}"))?;
        let subjects = subjects(w)?;
        Ok(CasbinEngine { enforcer, dom: Dynamic::from(w.model.workspace.clone()), subjects })
    }

    /// Replaces one role's `p` lines through casbin's incremental policy API
    /// (a role edit), and its `cap::teams_view` link if the edit changed it.
    pub async fn replace_role(&mut self, model: &Model, key: &str) -> Result<()> {
        let peer = PeerModel::new(model);
        let role = peer.roles.get(key).with_context(|| format!("role `{key}`"))?;
        let lines = role_policies(model, &peer, key, role)?;
        self.enforcer.remove_filtered_policy(0, vec![key.to_owned()]).await.map_err(|e| anyhow!("{e}"))?;
        self.enforcer.add_policies(lines).await.map_err(|e| anyhow!("{e}"))?;
        let link = vec![key.to_owned(), CAP.to_owned(), model.workspace.clone()];
        let linked = self.enforcer.has_grouping_policy(link.clone());
        if peer.grants_teams_view(role) && !linked {
            self.enforcer.add_named_grouping_policy("g", link).await.map_err(|e| anyhow!("{e}"))?;
        } else if !peer.grants_teams_view(role) && linked {
            self.enforcer.remove_named_grouping_policy("g", link).await.map_err(|e| anyhow!("{e}"))?;
        }
        Ok(())
    }

    /// The casbin form of a workload request.
    pub fn prepare(&self, w: &Workload, peer: &PeerModel, r: &BenchRequest) -> Result<CasbinRequest> {
        let (obj, before) = request_objects(w, peer, r)?;
        let sub = self.subjects.get(&r.user).cloned().unwrap_or_else(|| Dynamic::from(r.user.clone()));
        Ok(CasbinRequest {
            sub,
            act: Dynamic::from(r.permission.clone()),
            view: peer.needs_view(&r.permission).map(Dynamic::from),
            obj,
            before,
        })
    }

    fn allows(&self, sub: &Dynamic, obj: &Dynamic, act: &Dynamic) -> bool {
        let args = vec![sub.clone(), self.dom.clone(), obj.clone(), act.clone()];
        self.enforcer.enforce(args).unwrap_or(false)
    }

    /// One permset-equivalent decision (see the module docs for rule 6).
    pub fn check(&self, r: &CasbinRequest) -> bool {
        if !self.allows(&r.sub, &r.obj, &r.act) {
            return false;
        }
        if let Some(before) = &r.before {
            if !self.allows(&r.sub, before, &r.act) {
                return false;
            }
        }
        match &r.view {
            Some(view) => self.allows(&r.sub, r.before.as_ref().unwrap_or(&r.obj), view),
            None => true,
        }
    }

    /// Enforces and reports casbin's errors (tests only; `check` treats an error as a deny).
    pub fn try_allows(&self, r: &CasbinRequest) -> Result<bool> {
        let args = vec![r.sub.clone(), self.dom.clone(), r.obj.clone(), r.act.clone()];
        self.enforcer.enforce(args).map_err(|e| anyhow!("casbin enforce: {e}"))
    }
}
