//! Usage counting over HTTP, on each back end: a scripted sequence of
//! decisions (single checks, a batch, explain and every record route) gives
//! exactly the expected counters after a flush, each allow credited to the
//! grant that decided it; and only owners, Administrators and service keys
//! may read or flush usage.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use chrono::{DateTime, Utc};
use common::{on_each_backend_with, Server};
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
      customers_create: all
      customers_update: all
      customers_delete: all
      customers_view: all
assignments:
  users:
    ann: [viewer]
  teams:
    desk: [writer]
"#;

fn grant<'a>(report: &'a Value, role: &str, permission: &str) -> Vec<&'a Value> {
    let rows = report["grants"].as_array().unwrap();
    rows.iter().filter(|g| g["role"] == role && g["permission"] == permission).collect()
}

async fn script(s: &Server) {
    let ann = || s.user("ann");
    for _ in 0..2 {
        ann().check(None, "customers_view").await.ok(StatusCode::OK);
    }
    s.user("bob").check(None, "customers_view").await.ok(StatusCode::OK);
    s.user("own").check(None, "customers_view").await.ok(StatusCode::OK);
    let batch = json!({ "requests": [
        { "user": "ann", "permission": "customers_edit" },
        { "user": "bob", "permission": "customers_view" },
        { "user": "bob", "permission": "customers_fly" },
    ]});
    s.service().post("check/batch", batch).await.ok(StatusCode::OK);
    ann().post("explain", json!({ "permission": "customers_delete" })).await.ok(StatusCode::OK);
    let id = s.create("ann", "customers", json!({ "name": "Zoe" })).await;
    let path = format!("objects/customers/records/{id}");
    ann().get(&path).await.ok(StatusCode::OK);
    ann().get("objects/customers/records").await.ok(StatusCode::OK);
    ann().patch(&path, json!({ "name": "Zoe B" })).await.ok(StatusCode::OK);
    assert_eq!(s.user("bob").get(&path).await.status, StatusCode::NOT_FOUND);
    ann().delete(&path).await.ok(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_sequence_of_decisions_gives_exactly_these_counters() {
    on_each_backend_with(FIXTURE, |s| async move {
        let started: DateTime<Utc> = Utc::now();
        script(&s).await;
        s.user("own").post("usage/flush", json!({})).await.ok(StatusCode::OK);
        let ended = Utc::now();
        let report = s.user("own").get("usage").await.ok(StatusCode::OK).clone();
        let one = |role: &str, permission: &str| {
            let rows = grant(&report, role, permission);
            assert_eq!(rows.len(), 1, "{role} {permission}: {report}");
            let last: DateTime<Utc> = rows[0]["last_used"].as_str().unwrap().parse().unwrap();
            assert!(started <= last && last <= ended, "{last}");
            (
                rows[0]["access"].as_str().unwrap().to_owned(),
                rows[0]["via"].as_str().unwrap().to_owned(),
                rows[0]["allows"].as_u64().unwrap(),
            )
        };
        // Two checks, the read and the list; viewer is ann's direct role, met first.
        assert_eq!(one("viewer", "customers_view"), ("all".into(), "direct".into(), 4));
        // The batch (`edit` is counted as `update`) and the PATCH, through the team.
        assert_eq!(one("writer", "customers_update"), ("all".into(), "team:desk".into(), 2));
        assert_eq!(one("writer", "customers_delete"), ("all".into(), "team:desk".into(), 2));
        assert_eq!(one("writer", "customers_create"), ("all".into(), "team:desk".into(), 1));
        assert_eq!(one("", "customers_view"), ("all".into(), "owner".into(), 1));
        assert_eq!(report["grants"].as_array().unwrap().len(), 5, "{report}");
        // bob: the check, the batch item and the hidden read; the unknown permission is not a decision.
        let denies = report["denies"].as_array().unwrap();
        assert_eq!(denies.len(), 1, "{report}");
        assert_eq!(
            (denies[0]["user"].as_str(), denies[0]["permission"].as_str()),
            (Some("bob"), Some("customers_view"))
        );
        assert_eq!(denies[0]["denies"], 3);
        // Unused: the grants of held roles no decision was credited to.
        let unused: Vec<(String, String)> = report["unused_grants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["role"].as_str().unwrap().to_owned(), g["permission"].as_str().unwrap().to_owned()))
            .collect();
        assert!(unused.contains(&("viewer".into(), "teams_view".into())), "{unused:?}");
        assert!(unused.contains(&("writer".into(), "customers_view".into())), "{unused:?}");
        assert!(
            !unused.iter().any(|(_, p)| p == "customers_update" || p == "customers_delete"),
            "{unused:?}"
        );
        // Per user: held and last exercised.
        let held = report["users"]["ann"]["held"].as_array().unwrap();
        let update = held.iter().find(|h| h["permission"] == "customers_update").unwrap();
        assert_eq!(update["allows"], 2);
        let teams = held.iter().find(|h| h["permission"] == "teams_view").unwrap();
        assert!(teams["last_exercised"].is_null());
        // Powerful holders: the owner, and ann's delete.
        let powerful = report["powerful"].as_array().unwrap();
        assert!(
            powerful.iter().any(|p| p["user"] == "own" && p["reason"] == "account owner"),
            "{powerful:?}"
        );
        assert!(powerful.iter().any(|p| p["user"] == "ann" && p["permission"] == "customers_delete"));
        assert!(!powerful.iter().any(|p| p["user"] == "bob"));
        // A second flush adds nothing; a second script doubles every counter.
        s.service().post("usage/flush", json!({})).await.ok(StatusCode::OK);
        let again = s.service().get("usage").await.ok(StatusCode::OK).clone();
        assert_eq!(again["grants"], report["grants"]);
        // CSV for auditors.
        let csv = s.service().get("usage?format=csv").await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(csv.text.starts_with("section,role,permission,access,via,user,count,last\n"), "{}", csv.text);
        assert!(csv.text.contains("\ngrant,viewer,customers_view,all,direct,,4,"), "{}", csv.text);
        assert!(csv.text.contains("\ndeny,,customers_view,,,bob,3,"), "{}", csv.text);
        // A window before everything holds nothing.
        let empty = s.service().get("usage?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z").await;
        assert!(empty.ok(StatusCode::OK)["grants"].as_array().unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_administrators_and_service_keys_see_or_flush_usage() {
    on_each_backend_with(FIXTURE, |s| async move {
        // ann holds delete and update, but is no administrator.
        assert_eq!(s.user("ann").get("usage").await.status, StatusCode::FORBIDDEN);
        assert_eq!(s.user("ann").post("usage/flush", json!({})).await.status, StatusCode::FORBIDDEN);
        // A key bound to the owner but scoped to a role is not the owner.
        let (_, scoped) = s.create_key(Some("own"), Some("viewer")).await;
        assert_eq!(s.key(Some(&scoped)).get("usage").await.status, StatusCode::FORBIDDEN);
        let bad = s.service().get("usage?format=xml").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.text.contains("`xml`"), "{}", bad.text);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holders_of_protected_field_reads_are_powerful() {
    const PROTECTED: &str = r#"
workspace: acme
objects:
  customers:
    fields:
      ssn: { type: string, protected: true }
      tier: { enum: [basic, vip] }
users:
  own: { kind: agent, account_owner: true }
  carol: { kind: agent }
  dan: { kind: agent }
  eve: { kind: agent }
roles:
  reader:
    grants: { customers_view: all }
    fields: { customers.ssn: read }
  fixer:
    grants: { customers_view: all, customers_update: all }
    fields: { customers.ssn: edit }
  clerk:
    grants: { customers_view: all, customers_update: all }
assignments:
  users:
    carol: [reader]
    dan: [clerk]
    eve: [fixer]
"#;
    on_each_backend_with(PROTECTED, |s| async move {
        let report = s.service().get("usage").await.ok(StatusCode::OK).clone();
        let powerful = report["powerful"].as_array().unwrap();
        let field = |user: &str| -> Vec<(String, String)> {
            powerful
                .iter()
                .filter(|p| p["user"] == user && p["reason"] == "protected field")
                .map(|p| (p["field"].as_str().unwrap().to_owned(), p["access"].as_str().unwrap().to_owned()))
                .collect()
        };
        assert_eq!(field("carol"), vec![("customers.ssn".to_owned(), "read".to_owned())], "{powerful:?}");
        assert_eq!(field("eve"), vec![("customers.ssn".to_owned(), "edit".to_owned())], "{powerful:?}");
        // Update of the object gives `edit` by default, but never of a protected field.
        assert!(!powerful.iter().any(|p| p["user"] == "dan"), "{powerful:?}");
        // The owner is listed once, as the owner.
        assert_eq!(powerful.iter().filter(|p| p["user"] == "own").count(), 1, "{powerful:?}");
        let csv = s.service().get("usage?format=csv").await;
        assert!(
            csv.text.contains("\npowerful,,customers.ssn,read,protected field,carol,,\n"),
            "{}",
            csv.text
        );
    })
    .await;
}
