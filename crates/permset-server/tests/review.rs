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

async fn last_audit(s: &common::Server) -> Value {
    let audit = s.service().get("audit?limit=1000").await.ok(StatusCode::OK).clone();
    audit["entries"].as_array().unwrap().last().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_from_a_review_is_recorded_as_one_and_gives_nothing_more() {
    on_each_backend_with(FIXTURE, |s| async move {
        let review = |who: &str| s.user(who).header("x-permset-origin", "review");
        // A review's revocation, with its reason, is marked in the audit entry.
        let revoke = json!({ "user": "bob", "role": "viewer" });
        let resp = review("own")
            .header("x-permset-reason", "unused for 90 days")
            .delete_json("assignments", revoke)
            .await;
        resp.ok(StatusCode::OK);
        let entry = last_audit(&s).await;
        assert_eq!(
            (entry["action"].as_str(), entry["origin"].as_str()),
            (Some("unassign"), Some("review")),
            "{entry}"
        );
        assert_eq!(entry["reason"], "unused for 90 days");
        // A change without the mark has none.
        let plain = json!({ "user": "ann", "role": "viewer" });
        s.user("own").delete_json("assignments", plain).await.ok(StatusCode::OK);
        assert!(last_audit(&s).await["origin"].is_null());
        let revision = s.revision().await;
        // The mark lets nobody do more: ann may not revoke without it, nor with it.
        let bob_writer = json!({ "user": "bob", "role": "writer" });
        let without = s.user("ann").delete_json("assignments", bob_writer.clone()).await;
        let with = review("ann").delete_json("assignments", bob_writer.clone()).await;
        assert_eq!(without.status, StatusCode::FORBIDDEN, "{}", without.text);
        assert_eq!(
            (with.status, &with.json["error"]["code"]),
            (without.status, &without.json["error"]["code"])
        );
        // A review only takes away: an assignment marked as one is refused, as is its simulation.
        let give = json!({ "user": "bob", "role": "viewer" });
        let msg =
            review("own").post("assignments", give).await.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert!(msg.contains("origin `review` may only take assignments away"), "{msg}");
        let give = json!({ "op": "assign", "holder": { "user": "bob" }, "role": "viewer" });
        review("own").post("simulate", give).await.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        // An unknown origin is bad input, with the nearest name.
        let msg = s
            .user("own")
            .header("x-permset-origin", "reveiw")
            .delete_json("assignments", bob_writer)
            .await
            .error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(msg.contains("did you mean `review`?"), "{msg}");
        assert_eq!(s.revision().await, revision, "refused changes wrote nothing");
        // The chain still verifies with origins in it.
        let verify = s.service().get("audit/verify").await.ok(StatusCode::OK).clone();
        assert!(verify["first_broken"].is_null(), "{verify}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_file_applied_as_a_review_may_only_remove_assignments() {
    on_each_backend_with(FIXTURE, |s| async move {
        async fn apply(s: &common::Server, yaml: String) -> common::Resp {
            let request = s.service().request(reqwest::Method::POST, "apply?origin=review&reason=review");
            s.service().send(request.header("content-type", "application/yaml").body(yaml)).await
        }
        let current = s.exported().await;
        // bob's expired writer assignment removed, nothing else.
        let fewer = FIXTURE.replace("      - { role: writer, expires_at: 2021-01-01T00:00:00Z }\n", "");
        assert_ne!(fewer, FIXTURE);
        let more = FIXTURE.replace("    ann: [viewer]", "    ann: [viewer, writer]");
        let msg = apply(&s, more).await.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert!(msg.contains("changes more than assignments, or adds one"), "{msg}");
        assert_eq!(s.exported().await, current);
        apply(&s, fewer).await.ok(StatusCode::OK);
        let entry = last_audit(&s).await;
        assert_eq!(
            (entry["action"].as_str(), entry["origin"].as_str()),
            (Some("apply"), Some("review")),
            "{entry}"
        );
        let review = s.user("own").get("review").await.ok(StatusCode::OK).clone();
        assert_eq!(review["users"]["bob"]["roles"].as_array().unwrap().len(), 1, "{review}");
    })
    .await;
}
