//! Scoped keys (DESIGN.md §4): a key limited to a role acts with the
//! intersection of that role and the user.

use crate::decide::{Decision, Request};
use crate::snapshot::Snapshot;

impl Snapshot {
    /// A check for a key limited to `scope_role`: allowed only if the user is
    /// allowed and the role alone would allow the same request for that user
    /// (DESIGN.md §4, scoped keys). An unknown role denies everything.
    pub fn check_scoped(&self, request: &Request<'_>, scope_role: Option<&str>) -> Decision {
        let Some(scope) = scope_role else { return self.check(request) };
        // The names are looked up once for both questions.
        let (Some(&user), Some(&perm)) =
            (self.user_ids.get(request.user), self.perm_ids.get(request.permission))
        else {
            return Decision::DENY;
        };
        let decision = self.decide_indices(user, perm, request.record, request.before, request.now);
        if !decision.is_allowed() {
            return decision;
        }
        let Some(set) = self.role_ids.get(scope).and_then(|&role| self.single_sets.get(role as usize)) else {
            return Decision::DENY;
        };
        let scoped = self.decide(user, set, perm, request.record, request.before);
        decision.and(scoped)
    }
}
