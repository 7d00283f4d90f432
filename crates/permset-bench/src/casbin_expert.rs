//! The workload in casbin-rs the way an expert would write it for speed:
//! the bench's `casbin` rows (the documented single-`p` encoding,
//! `casbin_peer.rs`, is kept as `casbin-naive`).
//!
//! casbin evaluates the matcher on every line of the policy type it is
//! asked about, so:
//!
//! - One policy type per action and kind of question (module-level, or on
//!   a record of an object): each has its own request, policy, effect and
//!   matcher definitions `r<i>`, `p<i>`, `e<i>`, `m<i>` (casbin's suffixes:
//!   ``, `2`, `3`, …), chosen per call with
//!   `enforce_with_context(EnforceContext::new(suffix), …)`; each call scans
//!   only the lines that can apply to it (a handful).
//! - One `p<i>` line per distinct grant that can apply:
//!   `grant::<permission>|<kind>` and its rule — `true` for `all` (in both
//!   types) and for the module-level answer of a limited grant (rule 5),
//!   the limit as a rhai expression for records.
//! - Roles hold grants through `g`: role → `grant::…` in the workspace's
//!   domain, and again in `<workspace>/teams` for roles assigned to teams; the
//!   membership links (user → role, user → team → role) and role →
//!   `cap::teams_view` are the naive encoding's.
//! - The matcher: `r<i>.sub.owner || ((g(user, p<i>.sub, dom) || (g(user,
//!   p<i>.sub, dom/teams) && g(user, "cap::teams_view", dom))) &&
//!   eval(p<i>.rule))` — team roles count only with `teams_view` held
//!   directly (rule 3).
//! - A role edit is casbin's incremental API: the role's `g` links are
//!   replaced, and `p` lines are added for grants no role held before.
//! - Rule 6 is asked of casbin again, inside the timed call, as in the naive
//!   encoding.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use anyhow::{anyhow, Context as _, Result};
use casbin::rhai::Dynamic;
use casbin::{CoreApi, DefaultModel, EnforceContext, Enforcer, MemoryAdapter, MgmtApi};
use permset_core::{Access, Limit, Model, Role};

use crate::casbin_peer::{membership_lines, request_objects, scope_rule, subjects, CAP};
use crate::roles::PeerModel;
use crate::workload::{BenchRequest, Workload};

/// casbin's suffix of the `i`th definition: ``, `2`, `3`, …
fn suffix(i: usize) -> String {
    if i == 0 {
        String::new()
    } else {
        (i + 1).to_string()
    }
}

/// The model text: `n` request/policy/effect/matcher definitions.
pub fn model_text(n: usize) -> String {
    let mut r = String::from("[request_definition]\n");
    let mut p = String::from("[policy_definition]\n");
    let mut e = String::from("[policy_effect]\n");
    let mut m = String::from("[matchers]\n");
    for i in 0..n {
        let s = suffix(i);
        let _ = writeln!(r, "r{s} = sub, dom, obj");
        let _ = writeln!(p, "p{s} = sub, rule");
        let _ = writeln!(e, "e{s} = some(where (p.eft == allow))");
        let _ = writeln!(
            m,
            "m{s} = r{s}.sub.owner || ((g(r{s}.sub.id, p{s}.sub, r{s}.dom) || (g(r{s}.sub.id, p{s}.sub, r{s}.dom + \"/teams\") && g(r{s}.sub.id, \"{CAP}\", r{s}.dom))) && eval(p{s}.rule))"
        );
    }
    format!("{r}\n{p}\n[role_definition]\ng = _, _, _\n\n{e}\n{m}")
}

/// Each permission's definitions: the suffix for module-level questions and,
/// for an object, the one for records.
type Sections = HashMap<String, (String, Option<String>)>;

/// The grants of one role: (definitions' suffix, `grant::<permission>|<kind>`, rule over that request type).
fn role_grants(
    model: &Model,
    peer: &PeerModel,
    sections: &Sections,
    role: &Role,
) -> Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for (perm, grant) in &role.grants {
        let (Some((module, _)), Some((on_module, on_record))) =
            (peer.permissions.get(perm), sections.get(perm))
        else {
            continue;
        };
        let name = |kind: &str| format!("grant::{perm}|{kind}");
        match &grant.access {
            Access::None => {}
            Access::All => {
                out.push((on_module.clone(), name("all"), "true".to_owned()));
                if let Some(s) = on_record {
                    out.push((s.clone(), name("all"), "true".to_owned()));
                }
            }
            Access::Limited(limits) => {
                // Rule 5: a limited grant answers the module-level question.
                out.push((on_module.clone(), name("module"), "true".to_owned()));
                let Some(s) = on_record else { continue };
                for limit in limits {
                    let kind = match limit {
                        Limit::Own => "own".to_owned(),
                        Limit::Team => "team".to_owned(),
                        Limit::Rule(name) => format!("rule:{name}"),
                        Limit::Where(text) => format!("where:{text}"),
                    };
                    let rule = scope_rule(&peer.scope(model, module, limit)?, &format!("r{s}"))?;
                    out.push((s.clone(), name(&kind), rule));
                }
            }
        }
    }
    Ok(out)
}

/// A request in the expert encoding's terms.
#[derive(Debug, Clone)]
pub struct CasbinExpertRequest {
    sub: Dynamic,
    permission: String,
    /// Whether this is a module-level question (no record).
    on_module: bool,
    view: Option<String>,
    obj: Dynamic,
    before: Option<Dynamic>,
}

/// casbin-rs, loaded with one workload in the expert encoding.
pub struct CasbinExpert {
    /// The enforcer.
    pub enforcer: Enforcer,
    dom: Dynamic,
    /// Permission → its definitions' suffixes.
    sections: Sections,
    subjects: BTreeMap<String, Dynamic>,
}

impl CasbinExpert {
    /// Builds the enforcer (model, policies, links) and the request subjects.
    pub async fn build(w: &Workload) -> Result<Self> {
        let peer = PeerModel::new(&w.model);
        let mut sections = Sections::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            suffix(n - 1)
        };
        for (perm, (module, _)) in &peer.permissions {
            let on_record = peer.is_object(module).then(&mut next);
            sections.insert(perm.clone(), (next(), on_record));
        }
        let model = DefaultModel::from_str(&model_text(n)).await.map_err(|e| anyhow!("casbin model: {e}"))?;
        let enforcer =
            Enforcer::new(model, MemoryAdapter::default()).await.map_err(|e| anyhow!("casbin: {e}"))?;
        let mut engine = CasbinExpert {
            enforcer,
            dom: Dynamic::from(w.model.workspace.clone()),
            sections,
            subjects: subjects(w)?,
        };
        let mut links = membership_lines(w, &peer);
        // Suffix → its lines.
        let mut lines: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (key, role) in &peer.roles {
            let grants = role_grants(&w.model, &peer, &engine.sections, role)?;
            links.extend(engine.role_links(&w.model, &peer, key, role, &grants));
            for (s, grant, rule) in grants {
                lines.entry(s).or_default().insert(vec![grant, rule]);
            }
        }
        for (s, set) in lines {
            let ptype = format!("p{s}");
            engine
                .enforcer
                .add_named_policies(&ptype, set.into_iter().collect())
                .await
                .map_err(|e| anyhow!("casbin {ptype}: {e}"))?;
        }
        engine
            .enforcer
            .add_named_grouping_policies("g", links)
            .await
            .map_err(|e| anyhow!("casbin g: {e}"))?;
        Ok(engine)
    }

    /// A role's own `g` lines: its grants (in the team domain too when
    /// teams hold it) and `cap::teams_view`.
    fn role_links(
        &self,
        model: &Model,
        peer: &PeerModel,
        key: &str,
        role: &Role,
        grants: &[(String, String, String)],
    ) -> Vec<Vec<String>> {
        let dom = &model.workspace;
        let mut doms = vec![dom.clone()];
        if peer.team_roles.contains(key) {
            doms.push(format!("{dom}/teams"));
        }
        let mut links: BTreeSet<Vec<String>> = BTreeSet::new();
        for d in &doms {
            for (_, grant, _) in grants {
                links.insert(vec![key.to_owned(), grant.clone(), d.clone()]);
            }
        }
        if peer.grants_teams_view(role) {
            links.insert(vec![key.to_owned(), CAP.to_owned(), dom.clone()]);
        }
        links.into_iter().collect()
    }

    /// A role edit through casbin's incremental API: the role's `g` links
    /// are removed and added again, and `p` lines added for grants no role
    /// held before (lines nobody is linked to any more are harmless).
    pub async fn replace_role(&mut self, model: &Model, key: &str) -> Result<()> {
        let peer = PeerModel::new(model);
        let role = peer.roles.get(key).with_context(|| format!("role `{key}`"))?;
        let grants = role_grants(model, &peer, &self.sections, role)?;
        for (s, grant, rule) in &grants {
            let ptype = format!("p{s}");
            let line = vec![grant.clone(), rule.clone()];
            if !self.enforcer.has_named_policy(&ptype, line.clone()) {
                self.enforcer
                    .add_named_policy(&ptype, line)
                    .await
                    .map_err(|e| anyhow!("casbin {ptype}: {e}"))?;
            }
        }
        let links = self.role_links(model, &peer, key, role, &grants);
        self.enforcer
            .remove_filtered_named_grouping_policy("g", 0, vec![key.to_owned()])
            .await
            .map_err(|e| anyhow!("casbin g: {e}"))?;
        self.enforcer.add_named_grouping_policies("g", links).await.map_err(|e| anyhow!("casbin g: {e}"))?;
        Ok(())
    }

    /// Policy types (one per permission, two for an object's).
    pub fn sections(&self) -> usize {
        self.sections.values().map(|(_, r)| 1 + usize::from(r.is_some())).sum()
    }

    /// Policy lines (`p` of every type) and role links (`g`).
    pub fn line_counts(&self) -> (usize, usize) {
        let suffixes = self.sections.values().flat_map(|(m, r)| std::iter::once(m).chain(r));
        let p = suffixes.map(|s| self.enforcer.get_named_policy(&format!("p{s}")).len()).sum();
        (p, self.enforcer.get_named_grouping_policy("g").len())
    }

    /// The expert encoding's form of a workload request.
    pub fn prepare(&self, w: &Workload, peer: &PeerModel, r: &BenchRequest) -> Result<CasbinExpertRequest> {
        let (obj, before) = request_objects(w, peer, r)?;
        let sub = self.subjects.get(&r.user).cloned().unwrap_or_else(|| Dynamic::from(r.user.clone()));
        let (module, _) = peer.permissions.get(&r.permission).with_context(|| r.permission.clone())?;
        Ok(CasbinExpertRequest {
            sub,
            permission: r.permission.clone(),
            on_module: !(r.record.is_some() && peer.is_object(module)),
            view: peer.needs_view(&r.permission),
            obj,
            before,
        })
    }

    /// One call to casbin: the definitions of the permission and the kind of question, the user, the object.
    fn enforce(&self, sub: &Dynamic, obj: &Dynamic, permission: &str, on_module: bool) -> Result<bool> {
        let (m, r) = self.sections.get(permission).with_context(|| format!("permission `{permission}`"))?;
        let s = if on_module { Some(m) } else { r.as_ref() };
        let s = s.with_context(|| format!("`{permission}` has no records"))?;
        let args = vec![sub.clone(), self.dom.clone(), obj.clone()];
        self.enforcer.enforce_with_context(EnforceContext::new(s), args).map_err(|e| anyhow!("casbin: {e}"))
    }

    fn allows(&self, sub: &Dynamic, obj: &Dynamic, permission: &str, on_module: bool) -> bool {
        self.enforce(sub, obj, permission, on_module).unwrap_or(false)
    }

    /// One permset-equivalent decision (rule 6 asked again, as in the naive encoding).
    pub fn check(&self, r: &CasbinExpertRequest) -> bool {
        if !self.allows(&r.sub, &r.obj, &r.permission, r.on_module) {
            return false;
        }
        if let Some(before) = &r.before {
            if !self.allows(&r.sub, before, &r.permission, r.on_module) {
                return false;
            }
        }
        match &r.view {
            Some(view) => self.allows(&r.sub, r.before.as_ref().unwrap_or(&r.obj), view, r.on_module),
            None => true,
        }
    }

    /// Enforces the action alone and reports casbin's errors (tests only; `check` treats an error as a deny).
    pub fn try_allows(&self, r: &CasbinExpertRequest) -> Result<bool> {
        self.enforce(&r.sub, &r.obj, &r.permission, r.on_module)
    }
}
