//! `POST /simulate`: what a model change would do, over HTTP on each back
//! end. It must write nothing, and it must refuse exactly what making the
//! change would refuse, so nobody learns more through it than they may change.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{on_each_backend, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn changes_of<'a>(body: &'a Value, user: &str) -> Vec<&'a Value> {
    body["access_changes"].as_array().unwrap().iter().filter(|c| c["user"] == user).collect()
}

async fn can(s: &Server, user: &str, permission: &str) -> bool {
    let check = json!({ "user": user, "permission": permission });
    s.user("olivia").post("check", check).await.ok(StatusCode::OK)["allowed"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigning_a_role_shows_the_user_gaining_its_permissions_and_writes_nothing() {
    on_each_backend(|s| async move {
        let before = s.revision().await;
        let exported = s.exported().await;
        let change = json!({ "op": "assign", "holder": { "user": "lena" }, "role": "vip_desk" });
        let resp = s.user("olivia").post("simulate", change).await;
        let body = resp.ok(StatusCode::OK);
        assert_eq!(resp.revision(), before);
        assert_eq!(body["plan"]["from_revision"], before);
        assert!(body["plan"]["to_revision"].is_null(), "{body}");
        assert!(!body["plan"]["changes"].as_array().unwrap().is_empty(), "{body}");
        // Only lena moves, and she gains exactly vip_desk's grants.
        let all = body["access_changes"].as_array().unwrap();
        assert_eq!(all.len(), changes_of(body, "lena").len(), "{body}");
        let conv = all.iter().find(|c| c["permission"] == "conversations_view").unwrap();
        assert_eq!(conv["change"], "gained");
        assert!(conv["before"].is_null());
        assert_eq!(conv["after"], "all");
        let cust = all.iter().find(|c| c["permission"] == "customers_view").unwrap();
        assert_eq!(cust["change"], "gained");
        assert!(cust["after"].as_str().unwrap().contains("vip"), "{cust}");
        // Nothing was written.
        assert_eq!(s.revision().await, before);
        assert_eq!(s.exported().await, exported);
        assert!(!can(&s, "lena", "conversations_view").await);
        // The same change made for real gives what the simulation said.
        let change = json!({ "user": "lena", "role": "vip_desk" });
        s.user("olivia").post("assignments", change).await.ok(StatusCode::OK);
        assert!(can(&s, "lena", "conversations_view").await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_caller_may_not_make_is_refused_the_same_way() {
    on_each_backend(|s| async move {
        let before = s.revision().await;
        // lena holds no role: no roles_manage.
        let sim = json!({ "op": "assign", "holder": { "user": "lena" }, "role": "administrator" });
        let simulated = s.user("lena").post("simulate", sim).await;
        simulated.error(StatusCode::FORBIDDEN, "forbidden");
        let real =
            s.user("lena").post("assignments", json!({ "user": "lena", "role": "administrator" })).await;
        assert_eq!(real.status, simulated.status, "{}", real.text);
        assert_eq!(real.json["error"]["code"], simulated.json["error"]["code"]);
        // maria may manage roles but not give more than she holds.
        let sim = json!({ "op": "assign", "holder": { "user": "maria" }, "role": "administrator" });
        let simulated = s.user("maria").post("simulate", sim).await;
        assert!(simulated.status.is_client_error(), "{}", simulated.text);
        assert!(simulated.json.get("access_changes").is_none(), "{}", simulated.text);
        let real =
            s.user("maria").post("assignments", json!({ "user": "maria", "role": "administrator" })).await;
        assert_eq!(real.status, simulated.status, "{}", real.text);
        // Nor may lena preview widening an access rule (roles_manage too).
        let sim =
            json!({ "op": "put_access_rule", "object": "customers", "rule": "all", "condition": "true" });
        let simulated = s.user("lena").post("simulate", sim).await;
        simulated.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_a_change_is_refused() {
    on_each_backend(|s| async move {
        let resp = s.user("olivia").post("simulate", json!({ "op": "fly", "role": "x" })).await;
        resp.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        let resp = s
            .user("olivia")
            .post("simulate", json!({ "op": "unassign", "holder": { "user": "lena" }, "role": "vip_desk" }))
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{}", resp.text);
    })
    .await;
}
