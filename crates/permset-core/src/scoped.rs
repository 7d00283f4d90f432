//! Scoped keys (DESIGN.md §4): a key limited to a role acts with the
//! intersection of that role and the user.

use chrono::{DateTime, Utc};

use crate::decide::{Decision, Request};
use crate::ids::{PermId, UserId};
use crate::snapshot::{PermId as PermIdx, Snapshot};
use crate::Record;

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
        self.within_scope(decision, user, perm, request.record, request.before, scope)
    }

    /// [`Snapshot::check_scoped`] for pre-resolved handles (a request
    /// handler that resolved the names to report a typo decides on what it
    /// resolved). A handle made by another snapshot is denied.
    pub fn check_scoped_ids(
        &self,
        user: UserId,
        perm: PermId,
        record: Option<&Record>,
        before: Option<&Record>,
        now: DateTime<Utc>,
        scope_role: Option<&str>,
    ) -> Decision {
        let decision = self.check_ids(user, perm, record, before, now);
        let Some(scope) = scope_role else { return decision };
        self.within_scope(decision, user.index(), perm.index(), record, before, scope)
    }

    /// The user's `decision` narrowed to what the scope role alone allows.
    fn within_scope(
        &self,
        decision: Decision,
        user: u32,
        perm: PermIdx,
        record: Option<&Record>,
        before: Option<&Record>,
        scope: &str,
    ) -> Decision {
        if !decision.is_allowed() {
            return decision;
        }
        let Some(set) = self.role_ids.get(scope).and_then(|&role| self.single_sets.get(role as usize)) else {
            return Decision::DENY;
        };
        decision.and(self.decide(user, set, perm, record, before))
    }
}
