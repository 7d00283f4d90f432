//! Regression tests for the low-severity holes of issue 8 (item 7), the
//! input errors of `check`/`explain` (item 9) and record writes racing model
//! changes, each tried the way an attacker or a hurried integrator would, on
//! each back end.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{on_each_backend, on_each_backend_with};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The default fixture plus `deals`, whose `customers` is a list of lookups,
/// and a role that views VIP customers only but may create them.
fn deals_fixture() -> String {
    common::FIXTURE
        .replace(
            "  contracts:\n",
            "  deals:\n    fields:\n      title: string\n      customers: { list: { lookup: customers } }\n  contracts:\n",
        )
        .replace(
            "      conversations_view: all\n",
            "      conversations_view: all\n      deals_view: all\n  vip_creator:\n    grants:\n      \
             customers_view: { where: 'tier == \"vip\"' }\n      customers_create: { where: 'tier == \"vip\"' }\n",
        )
        .replace("    vic: [vip_desk]\n", "    vic: [vip_desk]\n    lena: [vip_creator]\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_with_a_hidden_id_answers_like_a_free_id() {
    on_each_backend_with(&deals_fixture(), |s| async move {
        s.create("olivia", "customers", json!({ "id": "hidden1", "name": "Basic", "tier": "basic" })).await;
        s.create("olivia", "customers", json!({ "id": "shown1", "name": "Vip", "tier": "vip" })).await;
        let lena = s.user("lena");
        let create = |id: &str| json!({ "id": id, "name": "x", "tier": "vip" });
        // lena may not view `hidden1`: taken-and-hidden, taken-and-visible and free ids answer alike.
        let hidden = lena.post("objects/customers/records", create("hidden1")).await;
        let shown = lena.post("objects/customers/records", create("shown1")).await;
        let free = lena.post("objects/customers/records", create("free1")).await;
        assert_eq!(hidden.status, free.status, "hidden: {} / free: {}", hidden.text, free.text);
        assert_eq!(hidden.json, free.json, "the answer tells a hidden id from a free one");
        assert_eq!(shown.json, free.json);
        let msg = free.error(StatusCode::FORBIDDEN, "forbidden");
        assert!(msg.contains("leave `id` out"), "{msg}");
        lena.get("objects/customers/records/free1").await.error(StatusCode::NOT_FOUND, "not_found");
        // Without an id the create goes through with a generated one.
        let made = lena.post("objects/customers/records", json!({ "name": "x", "tier": "vip" })).await;
        assert_eq!(made.ok(StatusCode::CREATED)["record"]["id"].as_str().unwrap().len(), 26);
        // A user who views every customer may pick ids; a taken one is a conflict.
        let owner = s.user("olivia");
        owner
            .post("objects/customers/records", create("hidden1"))
            .await
            .error(StatusCode::CONFLICT, "conflict");
        owner.post("objects/customers/records", create("free1")).await.ok(StatusCode::CREATED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_of_lookups_are_blanked_only_where_the_target_is_hidden() {
    on_each_backend_with(&deals_fixture(), |s| async move {
        let basic = s.create("olivia", "customers", json!({ "name": "Basic", "tier": "basic" })).await;
        let vip = s.create("olivia", "customers", json!({ "name": "Vip", "tier": "vip" })).await;
        let deal = s.create("olivia", "deals", json!({ "title": "d", "customers": [basic, vip] })).await;
        let path = format!("objects/deals/records/{deal}");
        let owner = s.user("olivia").get(&path).await;
        assert_eq!(owner.ok(StatusCode::OK)["record"]["customers"], json!([basic, vip]), "{}", owner.text);
        let listed = s.user("olivia").get("objects/deals/records").await;
        assert_eq!(listed.ok(StatusCode::OK)["records"][0]["customers"], json!([basic, vip]));
        // vic views VIP customers only: the basic one is blanked in place.
        let vic = s.user("vic").get(&path).await;
        assert_eq!(vic.ok(StatusCode::OK)["record"]["customers"], json!([null, vip]), "{}", vic.text);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_cannot_test_a_list_of_lookups_for_hidden_ids() {
    on_each_backend_with(&deals_fixture(), |s| async move {
        let basic = s.create("olivia", "customers", json!({ "name": "Basic", "tier": "basic" })).await;
        s.create("olivia", "deals", json!({ "title": "d", "customers": [basic] })).await;
        // vic sees the deal but not the basic customer: `contains` must not confirm the hidden id.
        let filter = format!("customers%20contains%20%22{basic}%22");
        let resp = s.user("vic").get(&format!("objects/deals/records?filter={filter}")).await;
        let msg = resp.error(StatusCode::FORBIDDEN, "forbidden");
        assert!(msg.contains("deals.customers"), "{msg}");
        // The account owner, who views every customer, may filter on it.
        let resp = s.user("olivia").get(&format!("objects/deals/records?filter={filter}")).await;
        assert_eq!(resp.ok(StatusCode::OK)["records"].as_array().unwrap().len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_not_allowed_and_uri_too_long_have_the_error_body() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        for (method, path) in [(Method::DELETE, "check"), (Method::PUT, "/healthz"), (Method::POST, "roles")]
        {
            let resp = owner.send(owner.request(method.clone(), path)).await;
            resp.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        }
        let long = format!("objects/customers/records?filter={}", "a".repeat(20 * 1024));
        let resp = owner.get(&long).await;
        let msg = resp.error(StatusCode::URI_TOO_LONG, "uri_too_long");
        assert!(msg.contains("8192"), "{msg}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_export_neutralises_formula_cells() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        for (i, name) in ["=1+2", "+1", "-2", "@SUM(A1)", "\tx", "\ry", "plain"].iter().enumerate() {
            let fields = json!({ "id": format!("f{i}"), "name": name, "tier": "basic" });
            owner.post("objects/customers/records", fields).await.ok(StatusCode::CREATED);
        }
        let resp = owner.get("objects/customers/export?format=csv").await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        let csv = resp.text;
        let expected = [",'=1+2,", ",'+1,", ",'-2,", ",'@SUM(A1),", ",'\tx,", ",\"'\ry\",", ",plain,"];
        for (i, cell) in expected.iter().enumerate() {
            let row = csv.split("\r\n").find(|row| row.starts_with(&format!("f{i},"))).unwrap();
            assert!(row.contains(cell), "no {cell:?} in {row:?}");
        }
        // NDJSON is data, not a spreadsheet: values stay as they were.
        let ndjson = owner.get("objects/customers/export").await.text;
        assert!(ndjson.contains(r#""name":"=1+2""#), "{ndjson}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_values_are_bounded() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        let at_limit = "x".repeat(64 * 1024);
        owner.post("objects/customers/records", json!({ "name": at_limit })).await.ok(StatusCode::CREATED);
        let over = "x".repeat(64 * 1024 + 1);
        let resp = owner.post("objects/customers/records", json!({ "name": over })).await;
        // Not `Resp::error`: on failure it would print the 64 KiB record.
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            &resp.text[..resp.text.len().min(200)]
        );
        let msg = resp.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert!(msg.contains("`customers.name`") && msg.contains("65536"), "{msg}");
        // An update is bounded the same way.
        let id = s.create("olivia", "customers", json!({ "name": "a" })).await;
        let path = format!("objects/customers/records/{id}");
        owner.patch(&path, json!({ "name": over })).await.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        // Lists are bounded in length.
        let users: Vec<&str> = std::iter::repeat_n("rita", 1001).collect();
        let fields = json!({ "subject": "s", "assigned_users": users });
        let msg = owner
            .post("objects/conversations/records", fields)
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert!(msg.contains("`conversations.assigned_users`") && msg.contains("1000"), "{msg}");
        let fields = json!({ "subject": "s", "assigned_users": vec!["rita"; 1000] });
        owner.post("objects/conversations/records", fields).await.ok(StatusCode::CREATED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_in_check_and_explain_are_422_with_a_suggestion() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        for route in ["check", "explain"] {
            let resp = owner.post(route, json!({ "permission": "customer_view", "user": "rita" })).await;
            let msg = resp.error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_permission");
            assert_eq!(msg, "unknown permission `customer_view`; did you mean `customers_view`?", "{route}");
            let resp = owner.post(route, json!({ "permission": "customers_view", "user": "ritta" })).await;
            let msg = resp.error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_user");
            assert_eq!(msg, "unknown user `ritta`; did you mean `rita`?", "{route}");
            // The acting user is the subject when the body names none.
            let resp = s.user("ghost").post(route, json!({ "permission": "customers_view" })).await;
            resp.error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_user");
        }
        // A batch marks the bad items and still answers the rest.
        let batch = json!({ "requests": [
            { "permission": "customers_view", "user": "rita" },
            { "permission": "customer_view", "user": "rita" },
            { "permission": "billing_view", "user": "ritta" },
            { "permission": "billing_view", "user": "rita" },
        ] });
        let resp = owner.post("check/batch", batch).await;
        let results = resp.ok(StatusCode::OK)["results"].as_array().unwrap().clone();
        assert_eq!(results.len(), 4, "{}", resp.text);
        assert_eq!(results[0]["allowed"], true, "{}", resp.text);
        assert_eq!(results[3]["allowed"], false, "{}", resp.text);
        let error = |item: &Value, code: &str, message: &str| {
            assert_eq!(item["error"]["code"], code, "{item}");
            assert_eq!(item["error"]["message"], message, "{item}");
            assert!(item["error"].get("details").is_some(), "{item}");
            assert!(item.get("allowed").is_none(), "an input error also answered a decision: {item}");
        };
        error(
            &results[1],
            "unknown_permission",
            "unknown permission `customer_view`; did you mean `customers_view`?",
        );
        error(&results[2], "unknown_user", "unknown user `ritta`; did you mean `rita`?");
        // Aliases are permissions.
        owner
            .post("check", json!({ "permission": "customers_edit", "user": "rita" }))
            .await
            .ok(StatusCode::OK);
        // The OpenAPI document says so.
        let doc = s.key(None).get("/v1/openapi.json").await;
        for path in ["check", "check/batch", "explain"] {
            let responses = &doc.json["paths"][format!("/v1/workspaces/{{ws}}/{path}")]["post"]["responses"];
            let expected = if path == "check/batch" { "200" } else { "422" };
            assert!(responses.get(expected).is_some(), "{path}: {responses}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_racing_model_changes_all_succeed() {
    on_each_backend(|s| async move {
        let id = s.create("olivia", "customers", json!({ "name": "n0", "tier": "basic" })).await;
        // Writers: 8 tasks of 20 PATCHes each; meanwhile another client puts users through the service key.
        let mut writers = Vec::new();
        for w in 0..8 {
            let url = s.user("olivia").url(&format!("objects/customers/records/{id}"));
            let (http, key) = (s.http.clone(), s.service_key.clone());
            writers.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                for i in 0..20 {
                    let req = http
                        .patch(&url)
                        .bearer_auth(&key)
                        .header("x-permset-user", "olivia")
                        .json(&json!({ "name": format!("w{w}-{i}") }));
                    let resp = common::read(req.send().await.unwrap()).await;
                    statuses.push((resp.status, resp.text));
                }
                statuses
            }));
        }
        for i in 0..60 {
            let resp = s.service().put(&format!("users/temp{i}"), json!({ "kind": "agent" })).await;
            assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        }
        let mut failed = Vec::new();
        for writer in writers {
            failed.extend(writer.await.unwrap().into_iter().filter(|(status, _)| *status != StatusCode::OK));
        }
        assert!(
            failed.is_empty(),
            "{} of 160 PATCHes failed: {:?}",
            failed.len(),
            &failed[..failed.len().min(3)]
        );
        s.user("olivia").get(&format!("objects/customers/records/{id}")).await.ok(StatusCode::OK);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_never_writes_server_text_as_html() {
    on_each_backend(|s| async move {
        // The console is the page and its modules; error messages echo user
        // input (a role name, a filter): as HTML they would run as script.
        let mut text = String::new();
        for path in [
            "/admin",
            "/admin/assets/app.js",
            "/admin/assets/api.js",
            "/admin/assets/dom.js",
            "/admin/assets/roles.js",
            "/admin/assets/people.js",
            "/admin/assets/troubleshoot.js",
            "/admin/assets/changes.js",
        ] {
            let page = s.key(None).get(path).await;
            assert_eq!(page.status, StatusCode::OK, "{path}");
            for sink in
                ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"]
            {
                assert!(!page.text.contains(sink), "{path} uses `{sink}`");
            }
            text.push_str(&page.text);
        }
        assert!(text.contains("textContent"), "the console writes no text at all?");
    })
    .await;
}
