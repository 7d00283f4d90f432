//! Administration rules that need the engine (DESIGN.md §3, §4): no
//! escalation when creating, editing or assigning a role, and scoped keys
//! that act with the intersection of a role and a user.

use chrono::{DateTime, Utc};

use crate::decide::{Actor, Decision, Request};
use crate::model::{Access, Limit, Role};
use crate::snapshot::{CompiledAccess, RoleIdx, Snapshot};

impl Snapshot {
    /// What `role` grants beyond what the actor holds itself at `now`, one
    /// line per excess; empty when the actor may create, edit or assign it.
    /// A scoped actor must also stay within its key's role.
    ///
    /// An actor "holds" a grant when its own combined access covers it: `all`
    /// covers everything; a limited grant is covered by the same limits (same
    /// rule name or condition text, `own`, or `team`, which covers `own`).
    /// Field permissions must not exceed the actor's own field level.
    pub fn escalation<'a>(
        &self,
        actor: impl Into<Actor<'a>>,
        role: &Role,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let actor = actor.into();
        let Some(user) = self.user(actor.user) else {
            return vec![format!("unknown user `{}`", actor.user)];
        };
        let mut excess = Vec::new();
        if !user.account_owner {
            let who = format!("`{}`", actor.user);
            self.with_roles(user, now, |roles| self.excess_over(roles, role, &who, &mut excess));
        }
        if let Some(scope) = actor.scope {
            match self.role_ids.get(scope) {
                Some(&r) => self.excess_over(&[r], role, &format!("the key's role `{scope}`"), &mut excess),
                None => excess.push(format!("unknown key role `{scope}`")),
            }
        }
        for (path, level) in &role.fields {
            let Some((object, field)) = path.split_once('.') else { continue };
            let own = self.field_level(actor, object, field, now);
            if *level > own {
                excess.push(format!(
                    "field `{path}` at `{}` exceeds `{}`'s `{}`",
                    level.as_str(),
                    actor.user,
                    own.as_str()
                ));
            }
        }
        excess
    }

    /// The grants of `role` that `roles` together do not cover.
    fn excess_over(&self, roles: &[RoleIdx], role: &Role, who: &str, excess: &mut Vec<String>) {
        for (name, grant) in &role.grants {
            if grant.access == Access::None {
                continue;
            }
            // The permission table resolves the `edit`/`add` aliases too.
            let Some(&perm) = self.perm_ids.get(name.as_str()) else {
                excess.push(format!("unknown permission `{name}`"));
                continue;
            };
            let mut held_all = false;
            let mut held: Vec<&Limit> = Vec::new();
            for &r in roles {
                match self.role_at(r).and_then(|role| role.table.get(perm as usize)) {
                    Some(CompiledAccess::All) => held_all = true,
                    Some(CompiledAccess::Limited(limits)) => held.extend(limits.iter().map(|(_, l)| l)),
                    _ => {}
                }
            }
            let covered = held_all
                || match &grant.access {
                    Access::Limited(wanted) => wanted
                        .iter()
                        .all(|w| held.iter().any(|h| *h == w || (**h == Limit::Team && *w == Limit::Own))),
                    _ => false,
                };
            if !covered {
                excess.push(format!("`{name}` at `{}` exceeds what {who} holds", grant.access));
            }
        }
    }

    /// A check for a key limited to `scope_role`: allowed only if the user is
    /// allowed and the role alone would allow the same request for that user
    /// (DESIGN.md §4, scoped keys). An unknown role denies everything.
    pub fn check_scoped(&self, request: &Request<'_>, scope_role: Option<&str>) -> Decision {
        let decision = self.check(request);
        let Some(scope) = scope_role else { return decision };
        if !decision.is_allowed() {
            return decision;
        }
        let (Some(user), Some(&role), Some(&perm)) =
            (self.user(request.user), self.role_ids.get(scope), self.perm_ids.get(request.permission))
        else {
            return Decision::DENY;
        };
        let Some(set) = self.single_sets.get(role as usize) else { return Decision::DENY };
        let scoped = self.decide(user.index, set, perm, request.record, request.before);
        decision.and(scoped)
    }
}
