//! What-if part 3 over HTTP, on each back end: the sampled decisions are
//! replayed on the proposed snapshot and those that flip are grouped by
//! user and permission, with counts and (for owners and administrators
//! only) examples carrying the sampled records.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{on_each_backend, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn sample(s: &Server) {
    let basic = json!({ "id": "c1", "tier": "basic" });
    let vip = json!({ "id": "c2", "tier": "vip" });
    for _ in 0..2 {
        let check = json!({ "user": "lena", "permission": "customers_view", "record": basic });
        s.service().post("check", check).await.ok(StatusCode::OK);
    }
    let check = json!({ "user": "lena", "permission": "roles_manage" });
    s.service().post("check", check).await.ok(StatusCode::OK);
    // vic's answers do not move with lena's roles.
    for record in [&basic, &vip] {
        let check = json!({ "user": "vic", "permission": "customers_view", "record": record });
        s.service().post("check", check).await.ok(StatusCode::OK);
    }
    // Written before the simulation reads the sample.
    s.service().post("usage/flush", json!({})).await.ok(StatusCode::OK);
}

fn group<'a>(body: &'a Value, user: &str, permission: &str) -> &'a Value {
    let flips = body["flips"].as_array().unwrap();
    flips.iter().find(|f| f["user"] == user && f["permission"] == permission).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_decisions_that_would_flip_are_grouped_with_examples() {
    on_each_backend(|s| async move {
        sample(&s).await;
        let change = json!({ "op": "assign", "holder": { "user": "lena" }, "role": "role_admin" });
        let body = s.user("olivia").post("simulate", change.clone()).await.ok(StatusCode::OK).clone();
        assert_eq!(body["replayed"], 5, "{body}");
        assert_eq!(body["flips"].as_array().unwrap().len(), 2, "{body}");
        let view = group(&body, "lena", "customers_view");
        assert_eq!(
            (view["from"].as_str(), view["to"].as_str(), view["count"].as_u64()),
            (Some("deny"), Some("allow"), Some(2))
        );
        let examples = view["examples"].as_array().unwrap();
        assert_eq!(examples.len(), 2);
        assert_eq!(examples[0]["record"], json!({ "id": "c1", "tier": "basic" }));
        assert_eq!(examples[0]["record_id"], "c1");
        assert_eq!(examples[0]["logged"], "deny");
        assert_eq!(group(&body, "lena", "roles_manage")["count"], 1);
        // The reverse change flips nothing that was sampled: lena never held it.
        let undo = json!({ "op": "unassign", "holder": { "user": "vic" }, "role": "vip_desk" });
        let body = s.user("olivia").post("simulate", undo).await.ok(StatusCode::OK).clone();
        let vic = group(&body, "vic", "customers_view");
        assert_eq!((vic["from"].as_str(), vic["count"].as_u64()), (Some("allow"), Some(1)), "{body}");
        assert_eq!(vic["examples"][0]["record"]["tier"], "vip");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_manager_sees_the_flip_counts_but_not_the_sampled_records() {
    on_each_backend(|s| async move {
        sample(&s).await;
        // maria manages roles but is no administrator: the records of others' decisions are not hers to read.
        let change = json!({ "op": "assign", "holder": { "user": "lena" }, "role": "role_admin" });
        let resp = s.user("maria").post("simulate", change).await;
        let body = resp.ok(StatusCode::OK);
        let view = group(body, "lena", "customers_view");
        assert_eq!(view["count"], 2);
        assert!(view.get("examples").is_none(), "{body}");
        assert!(!resp.text.contains("\"tier\""), "{}", resp.text);
    })
    .await;
}

/// The server keeps the sample parsed in memory after the first simulation;
/// the store stays the truth: rows another server wrote are replayed, rows
/// the retention pruned are not, and rows written after a prune (which a
/// SQLite workspace numbers from 1 again) are replayed with their own content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replayed_sample_is_the_stores_whoever_wrote_it() {
    on_each_backend(|s| async move {
        sample(&s).await;
        let change = json!({ "op": "assign", "holder": { "user": "lena" }, "role": "role_admin" });
        let simulate =
            || async { s.user("olivia").post("simulate", change.clone()).await.ok(StatusCode::OK).clone() };
        assert_eq!(simulate().await["replayed"], 5);

        // Another server's decision, written straight to the shared store.
        let now = chrono::Utc::now();
        let record = json!({ "id": "c9", "tier": "basic" });
        let entry = permset_store::DecisionLogEntry {
            at: now,
            user: "lena".into(),
            permission: "customers_view".into(),
            record_id: Some("c9".into()),
            record: Some(record.clone()),
            before: None,
            allowed: false,
            revision: s.revision().await,
        };
        s.store.log_decisions(common::WS, &[entry], 100_000).await.unwrap();
        let body = simulate().await;
        assert_eq!(body["replayed"], 6, "{body}");
        let view = group(&body, "lena", "customers_view");
        assert_eq!(view["count"], 3, "{body}");
        assert_eq!(view["examples"][0]["record"], record, "{body}");

        // The retention drops everything: nothing is replayed from memory.
        assert_eq!(s.store.prune_decisions(now + chrono::Duration::seconds(1)).await.unwrap(), 6);
        let body = simulate().await;
        assert_eq!((body["replayed"].as_u64(), body["flips"].as_array().map(Vec::len)), (Some(0), Some(0)));

        // New rows after the prune (ids may start again) are replayed as written.
        let check = json!({ "user": "lena", "permission": "roles_manage" });
        s.service().post("check", check).await.ok(StatusCode::OK);
        s.service().post("usage/flush", json!({})).await.ok(StatusCode::OK);
        let body = simulate().await;
        assert_eq!(body["replayed"], 1, "{body}");
        let flips = body["flips"].as_array().unwrap();
        assert_eq!(flips.len(), 1, "{body}");
        assert_eq!(flips[0]["permission"], "roles_manage", "{body}");
    })
    .await;
}
