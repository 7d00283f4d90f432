//! `GET /review` over HTTP, on each back end: every user's roles with how
//! they are held and when each grant was last used, flags for unused roles
//! and expired assignments, and the revocations proposed — which
//! `POST /simulate` accepts as they are. Only owners, Administrators and
//! service keys may see it.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::on_each_backend_with;
use reqwest::StatusCode;
use serde_json::{json, Value};

const FIXTURE: &str = r#"
workspace: acme
teams:
  desk: {}
users:
  own: { kind: agent, account_owner: true }
  ann: { kind: agent, teams: [desk] }
  bob: { kind: agent }
roles:
  viewer:
    grants:
      teams_view: all
      customers_view: all
  writer:
    grants:
      customers_view: all
      customers_update: all
assignments:
  users:
    ann: [viewer]
    bob:
      - { role: writer, expires_at: 2021-01-01T00:00:00Z }
      - viewer
  teams:
    desk: [writer]
"#;

fn role<'a>(report: &'a Value, user: &str, role: &str) -> &'a Value {
    let roles = report["users"][user]["roles"].as_array().unwrap();
    roles.iter().find(|r| r["role"] == role).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_flags_unused_roles_and_expired_assignments_and_proposes_their_revocation() {
    on_each_backend_with(FIXTURE, |s| async move {
        s.user("ann").check(None, "customers_view").await.ok(StatusCode::OK);
        s.user("ann").check(None, "customers_update").await.ok(StatusCode::OK);
        s.service().post("usage/flush", json!({})).await.ok(StatusCode::OK);
        let report = s.user("own").get("review").await.ok(StatusCode::OK).clone();
        let viewer = role(&report, "ann", "viewer");
        assert_eq!(viewer["held"], "direct");
        assert_eq!(viewer["flags"]["unused"], false, "{report}");
        let grants = viewer["grants"].as_array().unwrap();
        let view = grants.iter().find(|g| g["permission"] == "customers_view").unwrap();
        assert!(view["last_used"].is_string());
        let teams = grants.iter().find(|g| g["permission"] == "teams_view").unwrap();
        assert_eq!(teams["unused"], true);
        let writer = role(&report, "ann", "writer");
        assert_eq!(writer["held"], "team:desk");
        assert_eq!(writer["flags"]["unused"], false);
        // bob used nothing; his writer assignment is past its end.
        let expired = role(&report, "bob", "writer");
        assert_eq!(expired["flags"]["expired"], true);
        assert_eq!(expired["in_force"], false);
        assert_eq!(role(&report, "bob", "viewer")["flags"]["unused"], true);
        let proposed = report["proposed_changes"].as_array().unwrap();
        assert_eq!(proposed.len(), 2, "{report}");
        assert!(
            proposed.contains(&json!({ "op": "unassign", "holder": { "user": "bob" }, "role": "writer" }))
        );
        assert!(
            proposed.contains(&json!({ "op": "unassign", "holder": { "user": "bob" }, "role": "viewer" }))
        );
        // Each proposal goes through what-if as it is: bob loses customers_view.
        let sim = s.user("own").post("simulate", proposed[1].clone()).await.ok(StatusCode::OK).clone();
        let lost: Vec<&Value> =
            sim["access_changes"].as_array().unwrap().iter().filter(|c| c["user"] == "bob").collect();
        assert!(lost.iter().any(|c| c["permission"] == "customers_view" && c["change"] == "lost"), "{sim}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_administrators_and_service_keys_see_a_review() {
    on_each_backend_with(FIXTURE, |s| async move {
        assert_eq!(s.user("ann").get("review").await.status, StatusCode::FORBIDDEN);
        assert_eq!(s.user("bob").get("review").await.status, StatusCode::FORBIDDEN);
        s.service().get("review").await.ok(StatusCode::OK);
    })
    .await;
}
