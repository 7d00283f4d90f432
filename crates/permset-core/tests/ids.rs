//! Pre-resolved handles (`Snapshot::user_id`, `perm_id`, `check_ids`): the
//! same decisions as `check`, and a handle is worth nothing in any snapshot
//! but the one that issued it, so a cached handle kept across a recompile
//! can never answer for a different user.
#![expect(clippy::unwrap_used, reason = "a broken fixture should fail the test loudly")]

use chrono::Utc;
use permset_core::{load_workspace_file, Decision, Request, Snapshot};

const BEFORE: &str = "workspace: acme
users: { alice: { account_owner: true }, bob: {} }
assignments: { users: { bob: [support_agent] } }
";

/// After the edit alice is gone: `bob` takes her position, and a new
/// `aaron` (no roles) sorts first, so positions shift both ways.
const AFTER: &str = "workspace: acme
users: { aaron: {}, bob: {} }
assignments: { users: { bob: [support_agent] } }
";

fn compile(text: &str, revision: u64) -> Snapshot {
    let (model, _) = load_workspace_file(text).unwrap();
    Snapshot::compile_at(&model, Utc::now(), revision).unwrap()
}

#[test]
fn handles_answer_what_check_answers() {
    let s = compile(BEFORE, 1);
    let now = Utc::now();
    for user in ["alice", "bob"] {
        for perm in ["conversations_reply", "billing_view", "customers_edit", "teams_view"] {
            let by_name = s.check(&Request::new(user, perm, now));
            let by_ids = s.check_ids(s.user_id(user).unwrap(), s.perm_id(perm).unwrap(), None, None, now);
            assert_eq!(by_ids, by_name, "{user} {perm}");
        }
    }
    assert!(s.user_id("mallory").is_none());
    assert!(s.perm_id("billing_steal").is_none());
}

#[test]
fn a_stale_user_handle_never_answers_for_another_user() {
    let old = compile(BEFORE, 1);
    let alice = old.user_id("alice").unwrap();
    let perm = old.perm_id("billing_view").unwrap();
    assert_eq!(old.check_ids(alice, perm, None, None, Utc::now()), Decision::Allow);
    // The account owner's handle, presented to the next snapshot, where her
    // position belongs to someone else: denied, with a fresh perm handle too.
    let new = compile(AFTER, 2);
    let fresh_perm = new.perm_id("billing_view").unwrap();
    assert_eq!(new.check_ids(alice, fresh_perm, None, None, Utc::now()), Decision::Deny);
    assert_eq!(new.check_ids(alice, perm, None, None, Utc::now()), Decision::Deny);
}

#[test]
fn a_handle_from_another_snapshot_of_the_same_revision_is_denied() {
    // Same model, same revision number: still another snapshot.
    let a = compile(BEFORE, 7);
    let b = compile(BEFORE, 7);
    let (user, perm) = (a.user_id("alice").unwrap(), a.perm_id("billing_view").unwrap());
    assert_eq!(b.check_ids(user, perm, None, None, Utc::now()), Decision::Deny);
    let (bu, bp) = (b.user_id("alice").unwrap(), b.perm_id("billing_view").unwrap());
    assert_eq!(b.check_ids(bu, perm, None, None, Utc::now()), Decision::Deny, "stale permission handle");
    assert_eq!(b.check_ids(user, bp, None, None, Utc::now()), Decision::Deny, "stale user handle");
    assert_eq!(b.check_ids(bu, bp, None, None, Utc::now()), Decision::Allow);
}

#[test]
fn a_handle_carries_no_role_set_past_an_expiry() {
    // The handle carries the user's precomputed role set for role-level
    // checks; with an expiring assignment that set is only exact until the
    // expiry, so a handle made before it must answer as `check` does after it.
    let text = "workspace: acme
users: { carol: {} }
assignments: { users: { carol: [{ role: billing, expires_at: 2030-01-01T00:00:00Z }] } }
";
    let (model, _) = load_workspace_file(text).unwrap();
    let before: chrono::DateTime<Utc> = "2029-06-01T00:00:00Z".parse().unwrap();
    let after: chrono::DateTime<Utc> = "2030-06-01T00:00:00Z".parse().unwrap();
    let s = Snapshot::compile_at(&model, before, 1).unwrap();
    let (carol, perm) = (s.user_id("carol").unwrap(), s.perm_id("billing_view").unwrap());
    assert_eq!(s.check_ids(carol, perm, None, None, before), Decision::Allow);
    assert_eq!(s.check_ids(carol, perm, None, None, after), Decision::Deny);
    assert_eq!(s.check(&Request::new("carol", "billing_view", after)), Decision::Deny);
}
