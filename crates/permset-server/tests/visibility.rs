//! What-if part 4 over HTTP, on each back end: for every user whose view of
//! an object changes, how many stored records they would gain or lose sight
//! of, counted in SQL. Checked against brute force: every record decided by
//! the engine on the current and on the proposed snapshot.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::BTreeMap;

use common::{on_each_backend_with, Server, WS};
use permset_core::{Record, Request};
use permset_store::Author;
use reqwest::StatusCode;
use serde_json::{json, Value};

const FIXTURE: &str = r#"
workspace: acme
objects:
  customers:
    fields:
      tier: { enum: [basic, standard, vip] }
      region: string
      owner: user
      team: team
      ssn: { type: string, protected: true }
    owner_field: owner
    team_field: team
access_rules:
  customers: { premium: 'tier == "vip"' }
teams:
  east: { name: East }
  west: { name: West }
users:
  olivia: { kind: agent, account_owner: true }
  maria: { kind: agent }
  ann: { kind: agent, teams: [east], attributes: { region: eu } }
  bob: { kind: agent, teams: [west], attributes: { region: us } }
  cy: { kind: agent, teams: [east], attributes: { region: us } }
  dee: { kind: agent, attributes: { region: eu } }
roles:
  manager:
    grants: { roles_manage: all, roles_view: all, users_view: all, teams_view: all, customers_view: all }
  desk:
    grants: { customers_view: own }
  premium_desk:
    grants: { customers_view: { rule: premium } }
  regional:
    grants: { customers_view: { where: 'region == user.region' } }
  team_desk:
    grants: { customers_view: team, teams_view: all }
assignments:
  users:
    maria: [manager]
    ann: [desk, team_desk]
    bob: [premium_desk, team_desk]
    cy: [regional]
    dee: [desk, regional]
"#;

/// Creates a deterministic spread of customers (owners, teams, tiers, regions).
async fn records(s: &Server) {
    let owners = ["ann", "bob", "cy", "dee", "olivia"];
    let teams = ["east", "west"];
    let tiers = ["basic", "standard", "vip"];
    let regions = ["eu", "us", "apac"];
    for i in 0..36usize {
        let fields = json!({
            "tier": tiers[i % 3], "region": regions[(i / 3) % 3], "owner": owners[i % 5],
            "team": teams[(i / 2) % 2], "ssn": format!("{i:03}"),
        });
        s.create("olivia", "customers", fields).await;
    }
}

/// Every record of every object, as the account owner sees it.
async fn all_records(s: &Server, object: &str) -> Vec<Record> {
    let page = s.user("olivia").get(&format!("objects/{object}/records?limit=1000")).await;
    let records = page.ok(StatusCode::OK)["records"].as_array().unwrap().clone();
    records.into_iter().map(|r| serde_json::from_value(r).unwrap()).collect()
}

/// (user, object) → (gained, lost) by deciding `<object>_view` on every record on both snapshots.
async fn brute_force(s: &Server, change: &Value) -> BTreeMap<(String, String), (u64, u64)> {
    let old = s.store.snapshot(WS).await.unwrap();
    let change = serde_json::from_value(change.clone()).unwrap();
    let (_, new) = permset_store::simulate(&old, &Author::operator("test", ""), &change).unwrap();
    let now = chrono::Utc::now();
    let mut out = BTreeMap::new();
    for object in ["customers", "companies", "conversations"] {
        let records = all_records(s, object).await;
        let permission = format!("{object}_view");
        for user in old.model().users.keys() {
            let (mut gained, mut lost) = (0, 0);
            for record in &records {
                let request =
                    Request { user, permission: &permission, record: Some(record), before: None, now };
                match (old.check(&request).is_allowed(), new.check(&request).is_allowed()) {
                    (false, true) => gained += 1,
                    (true, false) => lost += 1,
                    _ => {}
                }
            }
            if gained + lost > 0 {
                out.insert((user.clone(), object.to_owned()), (gained, lost));
            }
        }
    }
    out
}

fn answered(body: &Value) -> BTreeMap<(String, String), (u64, u64)> {
    let rows = body["record_visibility"]["changes"].as_array().unwrap();
    rows.iter()
        .map(|r| {
            let key = (r["user"].as_str().unwrap().to_owned(), r["object"].as_str().unwrap().to_owned());
            (key, (r["gained"].as_u64().unwrap(), r["lost"].as_u64().unwrap()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_visibility_counts_equal_deciding_every_record_on_both_snapshots() {
    on_each_backend_with(FIXTURE, |s| async move {
        records(&s).await;
        let changes = [
            // A role edit: `own` becomes the premium rule or the team.
            json!({ "op": "put_role", "role": "desk", "def": { "grants": { "customers_view": [{ "rule": "premium" }, "team"] } } }),
            // An access rule rewritten: the grant's text stays `rule:premium`.
            json!({ "op": "put_access_rule", "object": "customers", "rule": "premium", "condition": "tier in [\"standard\", \"vip\"]" }),
            // A team move: `team` stays `team`, the records do not.
            json!({ "op": "remove_member", "team": "east", "user": "ann" }),
            // An attribute a condition reads.
            json!({ "op": "put_user", "user": "cy", "def": { "kind": "agent", "teams": ["east"], "attributes": { "region": "apac" } } }),
            // A role taken away and one given.
            json!({ "op": "unassign", "holder": { "user": "dee" }, "role": "regional" }),
            json!({ "op": "assign", "holder": { "user": "cy" }, "role": "premium_desk" }),
        ];
        for change in changes {
            let expected = brute_force(&s, &change).await;
            let body = s.user("olivia").post("simulate", change.clone()).await.ok(StatusCode::OK).clone();
            let vis = &body["record_visibility"];
            assert_eq!(answered(&body), expected, "{}: {change}: {vis}", s.backend);
            assert!(!expected.is_empty(), "{change} should move some records");
            assert_eq!(vis["counted"], true);
            assert_eq!(vis["truncated"], false);
            assert!(vis["users_affected"].as_u64().unwrap() >= expected.len() as u64, "{vis}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_not_an_oracle_for_a_role_manager() {
    on_each_backend_with(FIXTURE, |s| async move {
        records(&s).await;
        // maria may rewrite the rule, but counting it would tell her how many ssn values match.
        let change = json!({ "op": "put_access_rule", "object": "customers", "rule": "premium", "condition": "ssn == \"007\"" });
        let resp = s.user("maria").post("simulate", change).await;
        let body = resp.ok(StatusCode::OK);
        let vis = &body["record_visibility"];
        assert_eq!(vis["counted"], false, "{vis}");
        assert_eq!(vis["users_counted"], 0);
        assert!(vis["changes"].as_array().unwrap().is_empty(), "{vis}");
        assert_eq!(vis["users_affected"], 1, "bob holds the rule: {vis}");
        // The same question from the owner is answered.
        let change = json!({ "op": "put_access_rule", "object": "customers", "rule": "premium", "condition": "ssn == \"007\"" });
        let body = s.user("olivia").post("simulate", change).await.ok(StatusCode::OK).clone();
        assert_eq!(body["record_visibility"]["counted"], true);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_number_of_users_counted_is_capped_and_the_answer_says_so() {
    let mut fixture =
        String::from("workspace: acme\nusers:\n  olivia: { kind: agent, account_owner: true }\n");
    for i in 0..105 {
        fixture.push_str(&format!("  u{i:03}: {{ kind: agent }}\n"));
    }
    fixture.push_str("roles:\n  desk:\n    grants: { customers_view: own }\nassignments:\n  users:\n");
    for i in 0..105 {
        fixture.push_str(&format!("    u{i:03}: [desk]\n"));
    }
    on_each_backend_with(&fixture, |s| async move {
        s.create("olivia", "customers", json!({})).await;
        let change =
            json!({ "op": "put_role", "role": "desk", "def": { "grants": { "customers_view": "all" } } });
        let body = s.user("olivia").post("simulate", change).await.ok(StatusCode::OK).clone();
        let vis = &body["record_visibility"];
        assert_eq!(
            (vis["users_affected"].as_u64(), vis["users_counted"].as_u64()),
            (Some(105), Some(100)),
            "{vis}"
        );
        assert_eq!((vis["truncated"].as_bool(), vis["cap"].as_u64()), (Some(true), Some(100)));
        let rows = vis["changes"].as_array().unwrap();
        // The first 100 users by key, each gaining the one record.
        assert_eq!(rows.len(), 100, "{vis}");
        assert_eq!((rows[0]["user"].as_str(), rows[99]["user"].as_str()), (Some("u000"), Some("u099")));
        assert!(rows.iter().all(|r| r["gained"] == 1 && r["lost"] == 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_four_parts() {
    on_each_backend_with(FIXTURE, |s| async move {
        let doc = s.key(None).get("/v1/openapi.json").await.ok(StatusCode::OK).clone();
        let schemas = &doc["components"]["schemas"];
        for part in ["plan", "access_changes", "replayed", "flips", "record_visibility", "revision"] {
            assert!(
                schemas["Simulation"]["properties"].get(part).is_some(),
                "{part}: {}",
                schemas["Simulation"]
            );
        }
        for field in ["users_affected", "users_counted", "cap", "truncated", "counted", "changes"] {
            assert!(schemas["RecordVisibility"]["properties"].get(field).is_some(), "{field}");
        }
        let ok = &doc["paths"]["/v1/workspaces/{ws}/simulate"]["post"]["responses"]["200"];
        assert!(ok.to_string().contains("#/components/schemas/Simulation"), "{ok}");
    })
    .await;
}
