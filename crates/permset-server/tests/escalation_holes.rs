//! The escalation holes of issue 8, each tried as an attacker would, over
//! HTTP against the real server on each back end. Every test here passed its
//! attack on the code before the single authority (`Snapshot::authorize`
//! inside the committing transaction) and must fail it now.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{on_each_backend, Server};
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn role(grants: Value) -> Value {
    json!({ "kind": "agent", "grants": grants })
}

/// Whether `user` may view a customer of `tier`, as the owner asks it.
async fn sees_tier(s: &Server, user: &str, tier: &str) -> bool {
    let check = json!({ "user": user, "permission": "customers_view", "record": { "tier": tier } });
    s.user("olivia").post("check", check).await.ok(StatusCode::OK)["allowed"] == true
}

/// Gives `user` a new custom role made by the owner.
async fn give(s: &Server, user: &str, key: &str, grants: Value) {
    let owner = s.user("olivia");
    owner.put(&format!("roles/{key}"), role(grants)).await.ok(StatusCode::OK);
    owner.post("assignments", json!({ "user": user, "role": key })).await.ok(StatusCode::OK);
}

fn excess_kinds(resp: &common::Resp) -> Vec<String> {
    resp.json["error"]["details"]["excess"]
        .as_array()
        .map(|items| items.iter().map(|e| e["kind"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_limited_service_key_without_a_user_is_not_the_service_principal() {
    on_each_backend(|s| async move {
        let (_, secret) = s.create_key(None, Some("light_agent")).await;
        let key = s.key(Some(&secret));
        let before = s.revision().await;
        // Each of these answered 200 before: the key acted as the workspace's administrator.
        key.get("keys").await.error(StatusCode::BAD_REQUEST, "bad_request");
        key.get("audit").await.error(StatusCode::BAD_REQUEST, "bad_request");
        key.get("export").await.error(StatusCode::BAD_REQUEST, "bad_request");
        let minted = key.post("keys", json!({})).await;
        minted.error(StatusCode::BAD_REQUEST, "bad_request");
        let msg = key
            .post("assignments", json!({ "user": "tom", "role": "administrator" }))
            .await
            .error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(msg.contains("light_agent"), "{msg}");
        key.apply(common::FIXTURE).await.error(StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(s.revision().await, before, "a scoped key without a user changed the workspace");
        // Acting for a user, it is that user within light_agent: tom cannot assign roles.
        key.clone()
            .acting("tom")
            .post("assignments", json!({ "user": "tom", "role": "administrator" }))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        // Even for the account owner the key stays within light_agent: no keys, no roles.
        let as_owner = key.clone().acting("olivia");
        as_owner.post("keys", json!({})).await.error(StatusCode::FORBIDDEN, "forbidden");
        as_owner
            .post("assignments", json!({ "user": "tom", "role": "administrator" }))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewriting_an_access_rule_you_are_limited_by_is_an_escalation() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        owner
            .put("access_rules/customers/premium", json!({ "condition": "tier == \"vip\"" }))
            .await
            .ok(StatusCode::OK);
        give(
            &s,
            "lena",
            "premium_manager",
            json!({
                "roles_manage": "all", "roles_view": "all",
                "customers_view": { "rule": "premium" }, "customers_update": { "rule": "premium" }
            }),
        )
        .await;
        assert!(sees_tier(&s, "lena", "vip").await && !sees_tier(&s, "lena", "basic").await);
        let before = s.revision().await;
        // Before: 200, and lena (and every role using the rule) saw every customer.
        let resp = s.user("lena").put("access_rules/customers/premium", json!({ "condition": "true" })).await;
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        assert!(excess_kinds(&resp).iter().all(|k| k == "grant"), "{}", resp.text);
        assert!(resp.text.contains("customers_view"), "{}", resp.text);
        assert!(!sees_tier(&s, "lena", "basic").await, "lena widened her own rule");
        assert_eq!(s.revision().await, before);
        // A narrowing rewrite is refused too: conditions are compared as text.
        s.user("lena")
            .put("access_rules/customers/premium", json!({ "condition": "tier == \"vip\" and false" }))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        // Someone who holds every customer (maria) may rewrite it, as may the owner.
        s.user("maria")
            .put("access_rules/customers/premium", json!({ "condition": "tier in [\"vip\"]" }))
            .await
            .ok(StatusCode::OK);
        // A rule no grant uses is anyone's with roles_manage.
        s.user("lena")
            .put("access_rules/customers/unused", json!({ "condition": "true" }))
            .await
            .ok(StatusCode::OK);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_writes_that_widen_access_need_the_widened_access() {
    on_each_backend(|s| async move {
        give(
            &s,
            "lena",
            "schema_editor",
            json!({ "klasses_view": "all", "klasses_update": "all", "customers_view": "all", "customers_update": "all" }),
        )
        .await;
        give(&s, "rita", "own_orders", json!({ "orders_view": "own" })).await;
        // The fixture's declarations, as a client would send them back.
        let schema = json!({
            "customers": { "fields": {
                "tier": { "type": { "enum": ["basic", "vip"] } },
                "ssn": { "type": "string", "protected": true } } },
            "orders": { "fields": {
                "title": { "type": "string" },
                "customer": { "type": { "lookup": "customers" } },
                "owner": { "type": "user" } }, "owner_field": "owner" },
            "contracts": { "fields": { "title": { "type": "string" } }, "list_visibility": "admins" },
        });
        let lena = s.user("lena");
        let before = s.revision().await;

        // Unprotecting ssn would give every customer viewer its value.
        let mut customers = schema["customers"].clone();
        customers["fields"]["ssn"]["protected"] = json!(false);
        let resp = lena.put("schema/objects/customers", customers.clone()).await;
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(excess_kinds(&resp), ["field"], "{}", resp.text);
        // Removing it is for account owners (its stored values would show again if it came back).
        let mut without = schema["customers"].clone();
        without["fields"].as_object_mut().unwrap().remove("ssn");
        let resp = lena.put("schema/objects/customers", without).await;
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(excess_kinds(&resp), ["remove_protected_field"], "{}", resp.text);

        // Opening an admins-only list to everyone.
        let mut contracts = schema["contracts"].clone();
        contracts["list_visibility"] = json!("everyone");
        let resp = lena.put("schema/objects/contracts", contracts.clone()).await;
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(excess_kinds(&resp), ["open_list"], "{}", resp.text);

        // Moving the owner field rewrites what rita's `own` means.
        let mut orders = schema["orders"].clone();
        orders["fields"]["creator"] = json!({ "type": "user" });
        orders["owner_field"] = json!("creator");
        let resp = lena.put("schema/objects/orders", orders.clone()).await;
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        assert!(resp.text.contains("orders_view"), "{}", resp.text);
        assert_eq!(s.revision().await, before, "a refused schema write changed the workspace");

        // A change that widens nothing is lena's to make: a new unprotected field.
        let mut grown = schema["customers"].clone();
        grown["fields"]["nickname"] = json!({ "type": "string" });
        lena.put("schema/objects/customers", grown).await.ok(StatusCode::OK);
        // The account owner holds everything: all of the above is allowed to her.
        let owner = s.user("olivia");
        owner.put("schema/objects/orders", orders).await.ok(StatusCode::OK);
        owner.put("schema/objects/contracts", contracts).await.ok(StatusCode::OK);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_or_unreadable_user_header_is_a_bad_request() {
    on_each_backend(|s| async move {
        // Before: both acted as the service principal and listed the keys.
        let empty = s.service().header("x-permset-user", "");
        empty.get("keys").await.error(StatusCode::BAD_REQUEST, "bad_request");
        let spaces = s.service().header("x-permset-user", "   ");
        spaces.get("keys").await.error(StatusCode::BAD_REQUEST, "bad_request");
        let raw = s
            .service()
            .request(Method::GET, "keys")
            .header("x-permset-user", HeaderValue::from_bytes(b"tom\xff").unwrap());
        s.service().send(raw).await.error(StatusCode::BAD_REQUEST, "bad_request");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_die_with_their_user_and_role_and_when_they_expire() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        // A user key stops working when its user is deleted, and re-creating the name revives nothing.
        let (_, lena_key) = s.create_key(Some("lena"), None).await;
        s.key(Some(&lena_key)).check(None, "customers_view").await.ok(StatusCode::OK);
        owner.delete("users/lena").await.ok(StatusCode::OK);
        s.key(Some(&lena_key))
            .check(None, "customers_view")
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthorized");
        owner.put("users/lena", json!({ "kind": "agent" })).await.ok(StatusCode::OK);
        s.key(Some(&lena_key))
            .check(None, "customers_view")
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthorized");

        // A key limited to a role stops when the role is deleted; a wider role of the same name does not widen it.
        owner.put("roles/narrow", role(json!({ "customers_view": "own" }))).await.ok(StatusCode::OK);
        let (_, narrow_key) = s.create_key(Some("olivia"), Some("narrow")).await;
        let narrow = s.key(Some(&narrow_key));
        assert_eq!(narrow.check(None, "billing_view").await.ok(StatusCode::OK)["allowed"], false);
        owner.delete("roles/narrow").await.ok(StatusCode::OK);
        owner.put("roles/narrow", role(json!({ "billing_view": "all" }))).await.ok(StatusCode::OK);
        narrow.check(None, "billing_view").await.error(StatusCode::UNAUTHORIZED, "unauthorized");

        // Keys may expire.
        let past = json!({ "user": "tom", "expires_at": "2020-01-01T00:00:00Z" });
        let expired =
            s.service().post("keys", past).await.ok(StatusCode::OK)["secret"].as_str().unwrap().to_owned();
        s.key(Some(&expired))
            .check(None, "customers_view")
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthorized");
        let future = json!({ "user": "tom", "expires_at": "2999-01-01T00:00:00Z" });
        let live =
            s.service().post("keys", future).await.ok(StatusCode::OK)["secret"].as_str().unwrap().to_owned();
        s.key(Some(&live)).check(None, "customers_view").await.ok(StatusCode::OK);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_but_an_owner_extends_their_own_access() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        // maria holds users_update and teams_view; give her a desk attribute rules read,
        // a role that reads it, and billing_view until the end of 2030.
        owner.put("users/maria", json!({ "kind": "agent", "attributes": { "desk": "basic", "phone": "1" } })).await.ok(StatusCode::OK);
        owner.post("assignments", json!({ "user": "maria", "role": "role_admin" })).await.ok(StatusCode::OK);
        give(&s, "maria", "desk_view", json!({
            "customers_view": { "where": "tier == user.desk" },
            "customers_export": { "where": "tier == user.desk" }
        })).await;
        let until = json!({ "user": "maria", "role": "billing", "expires_at": "2030-12-31T00:00:00Z" });
        owner.post("assignments", until).await.ok(StatusCode::OK);
        let maria = s.user("maria");
        let before = s.revision().await;

        // Lifting the expiry of her own assignment: she holds billing only until 2030.
        let resp = maria.post("assignments", json!({ "user": "maria", "role": "billing" })).await;
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        // Nor may she hand out billing past 2030 to anyone else.
        maria.post("assignments", json!({ "user": "tom", "role": "billing" })).await.error(StatusCode::FORBIDDEN, "forbidden");
        // Editing the attribute her condition reads, or joining a team herself.
        let resp = maria.put("users/maria", json!({ "kind": "agent", "attributes": { "desk": "vip", "phone": "1" } })).await;
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(excess_kinds(&resp), ["own_access"], "{}", resp.text);
        let resp = maria.put("users/maria", json!({ "kind": "agent", "teams": ["tier1"], "attributes": { "desk": "basic", "phone": "1" } })).await;
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, before, "a refused self-service change moved the revision");

        // What does not widen her access is hers to change; and billing until 2030 she may give.
        maria.put("users/maria", json!({ "kind": "agent", "attributes": { "desk": "basic", "phone": "2" } })).await.ok(StatusCode::OK);
        let bounded = json!({ "user": "tom", "role": "billing", "expires_at": "2030-06-01T00:00:00Z" });
        maria.post("assignments", bounded).await.ok(StatusCode::OK);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owners_demoting_each_other_at_once_never_both_commit() {
    on_each_backend(|s| async move {
        let owner_body = json!({ "kind": "agent", "account_owner": true });
        let demoted = json!({ "kind": "agent", "account_owner": false });
        for round in 0..12 {
            // Both are owners again at the start of each round.
            let users = s.service().get("users").await.ok(StatusCode::OK)["users"].clone();
            let remaining =
                ["olivia", "adam"].into_iter().find(|u| users[*u]["account_owner"] == true).unwrap();
            for u in ["olivia", "adam"] {
                if users[u]["account_owner"] != true {
                    s.user(remaining).put(&format!("users/{u}"), owner_body.clone()).await.ok(StatusCode::OK);
                }
            }
            // Each demotes the other, concurrently; alone, each would be allowed.
            let tasks: Vec<_> = [("olivia", "adam"), ("adam", "olivia")]
                .into_iter()
                .map(|(actor, target)| {
                    let req = s
                        .http
                        .put(s.service().url(&format!("users/{target}")))
                        .bearer_auth(&s.service_key)
                        .header("x-permset-user", actor)
                        .json(&demoted);
                    tokio::spawn(async move { common::read(req.send().await.unwrap()).await })
                })
                .collect();
            let mut committed = 0;
            for task in tasks {
                let resp = task.await.unwrap();
                match resp.status {
                    StatusCode::OK => committed += 1,
                    // The loser finds itself demoted (not an owner any more) or the other the last one.
                    StatusCode::FORBIDDEN | StatusCode::CONFLICT => common::assert_error_shape(&resp),
                    other => panic!("round {round}: unexpected {other}: {}", resp.text),
                }
            }
            assert_eq!(committed, 1, "round {round}: both demotions committed, or neither");
            let users = s.service().get("users").await.ok(StatusCode::OK)["users"].clone();
            let owners = users.as_object().unwrap().values().filter(|u| u["account_owner"] == true).count();
            assert_eq!(owners, 1, "round {round}: {users}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_behind_decides_nothing_on_its_stale_snapshot() {
    on_each_backend(|s| async move {
        // A second server over the same database: a replica whose snapshot lags
        // (it polls once a second). maria may assign `viewer` while she holds role_admin.
        let owner = s.user("olivia");
        owner.put("roles/viewer", role(json!({ "customers_view": "all" }))).await.ok(StatusCode::OK);
        let (replica, _task) = common::start(s.store.clone()).await;
        let on_replica = |method: Method, path: &str| {
            s.http
                .request(method, format!("http://{replica}/v1/workspaces/{}/{path}", common::WS))
                .bearer_auth(&s.service_key)
                .header("x-permset-user", "maria")
        };
        let warm = common::read(on_replica(Method::GET, "users").send().await.unwrap()).await;
        warm.ok(StatusCode::OK);
        // Through the first server, the owner takes role_admin (users_update) away from maria…
        owner
            .delete_json("assignments", json!({ "user": "maria", "role": "role_admin" }))
            .await
            .ok(StatusCode::OK);
        // …and at once, through the replica that has not heard of it, maria assigns a role.
        let assign =
            on_replica(Method::POST, "assignments").json(&json!({ "user": "tom", "role": "viewer" }));
        let resp = common::read(assign.send().await.unwrap()).await;
        // Decided on the locked revision: she no longer holds users_update.
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        let tom = owner.get("users/tom").await.ok(StatusCode::OK)["roles"].clone();
        assert!(
            !tom.as_array().unwrap().contains(&json!("viewer")),
            "a stale replica let maria assign: {tom}"
        );
    })
    .await;
}
