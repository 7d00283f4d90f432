//! `GET /users?q=&team=&role=&after=&limit=` (keyset pages of users with their
//! direct assignments), `GET /assignments?holders=teams` and the role
//! summaries' `holders` counts: what the admin console reads instead of every
//! user. Against the real server over SQLite with the support workspace, as a
//! client would: the pages add up to the unpaged list, the filters narrow it,
//! and none of them opens anything the unpaged routes keep closed — not to a
//! user without `users_view`, not across workspaces.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use permset_core::load_workspace_file;
use permset_store::{KeySpec, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

const WORKSPACE: &str = include_str!("../../../examples/support.yaml");

async fn server(name: &str) -> (tempfile::TempDir, common::Server) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join(name).display())).await.unwrap();
    let server = common::boot("sqlite", store, WORKSPACE).await;
    (dir, server)
}

fn keys(body: &Value) -> Vec<String> {
    body["users"].as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn pages_add_up_to_the_whole_list_in_key_order() {
    let (_dir, server) = server("pages.db").await;
    let olivia = server.user("olivia");
    let all = olivia.get("users").await;
    let all = keys(all.ok(StatusCode::OK));
    assert_eq!(all.len(), 8, "{all:?}");

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let path = match &after {
            Some(a) => format!("users?limit=3&after={a}"),
            None => "users?limit=3".to_owned(),
        };
        let resp = olivia.get(&path).await;
        let page = resp.ok(StatusCode::OK);
        assert_eq!((page["matched"].as_u64(), page["total"].as_u64()), (Some(8), Some(8)), "{page}");
        assert!(page["revision"].as_u64().is_some(), "{page}");
        let got = keys(page);
        assert!(got.len() <= 3, "{got:?}");
        // Each user of the page comes with its direct assignments, and only the page's users do.
        for (user, list) in page["assignments"].as_object().unwrap() {
            assert!(got.contains(user), "assignments of {user}, not on the page {got:?}");
            assert!(list.is_array(), "{list}");
        }
        seen.extend(got);
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), seen.last().map(String::as_str), "next is the page's last key");
                after = Some(next.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(seen, all, "the pages, in order, are the whole list once");

    // bob's page carries his three direct assignments, expiry included.
    let resp = olivia.get("users?q=bob").await;
    let page = resp.ok(StatusCode::OK);
    assert_eq!(keys(page), ["bob"]);
    let roles = page["assignments"]["bob"].to_string();
    assert!(
        roles.contains("set_a") && roles.contains("night_shift") && roles.contains("2027-01-01"),
        "{roles}"
    );
    // Past the end: an empty last page.
    let resp = olivia.get("users?after=zzz").await;
    let page = resp.ok(StatusCode::OK);
    assert!(keys(page).is_empty() && page["next"].is_null(), "{page}");
}

#[tokio::test]
async fn filters_narrow_by_key_team_and_role() {
    let (_dir, server) = server("filters.db").await;
    let olivia = server.user("olivia");
    let cases: [(&str, &[&str]); 7] = [
        // key, case-insensitive
        ("users?q=RI", &["rita"]),
        // a team's key (tier1: gina, lena), and the team filter proper
        ("users?q=tier1", &["gina", "lena"]),
        ("users?team=tier2", &["bob", "tom"]),
        // a directly assigned role's key, and the role filter proper (exact)
        ("users?q=set_", &["bob", "lena"]),
        ("users?role=set_a", &["bob", "lena"]),
        ("users?role=set", &[]),
        // filters combine
        ("users?team=tier1&q=le", &["lena"]),
    ];
    for (path, want) in cases {
        let resp = olivia.get(path).await;
        let page = resp.ok(StatusCode::OK);
        assert_eq!(keys(page), want, "{path}: {page}");
        assert_eq!(page["matched"].as_u64(), Some(want.len() as u64), "{path}");
    }
}

#[tokio::test]
async fn bad_paging_is_a_clear_400() {
    let (_dir, server) = server("bad.db").await;
    let olivia = server.user("olivia");
    for (path, says) in [
        ("users?limit=0", "limit"),
        ("users?limit=501", "limit"),
        ("users?limit=many", "limit"),
        ("assignments?holders=users", "holders"),
    ] {
        let message = olivia.get(path).await.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(says), "{path}: {message}");
    }
    let long = "x".repeat(201);
    let message = olivia.get(&format!("users?q={long}")).await.error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("200"), "{message}");
}

/// Without `users_view`, paging and filtering answer the same 403 as the
/// unpaged list, whatever the filter would have matched; the role summaries
/// then carry no holder counts, and the teams' assignments stay closed too.
#[tokio::test]
async fn without_users_view_every_page_is_refused_alike() {
    let (_dir, server) = server("gate.db").await;
    let olivia = server.user("olivia");
    // ria may read roles (roles_view) but not users.
    olivia.put("roles/role_reader", json!({ "grants": { "roles_view": "all" } })).await.ok(StatusCode::OK);
    olivia.put("users/ria", json!({ "kind": "agent" })).await.ok(StatusCode::OK);
    olivia.post("assignments", json!({ "user": "ria", "role": "role_reader" })).await.ok(StatusCode::OK);
    let (_, secret) = server.create_key(Some("ria"), None).await;
    let ria = server.key(Some(&secret));

    let unpaged = ria.get("users").await;
    let message = unpaged.error(StatusCode::FORBIDDEN, "forbidden");
    assert!(message.contains("users_view"), "{message}");
    for path in [
        "users?limit=1",
        "users?q=olivia",
        "users?q=nobody_has_this",
        "users?team=tier1",
        "users?team=no_such_team",
        "users?role=administrator",
        "users?after=a",
        "assignments?holders=teams",
    ] {
        let resp = ria.get(path).await;
        assert_eq!((resp.status, &resp.json), (unpaged.status, &unpaged.json), "{path}: {}", resp.text);
    }
    // One user's record now carries its direct assignments (with expiry): still only for users_view
    // or the user itself.
    let other = ria.get("users/olivia").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.text);
    let own = ria.get("users/ria").await;
    assert_eq!(own.ok(StatusCode::OK)["assignments"], json!([{ "role": "role_reader" }]));
    // Role summaries: ria reads them, but who holds a role is not hers to count.
    let resp = ria.get("roles?view=summary").await;
    let roles = resp.ok(StatusCode::OK)["roles"].as_array().unwrap().clone();
    assert!(!roles.is_empty() && roles.iter().all(|r| r.get("holders").is_none()), "{roles:?}");
    // An owner's summaries count them: set_a directly by bob and lena; support_agent through tier1
    // (gina, lena: the team's two members).
    let resp = olivia.get("roles?view=summary").await;
    let roles = resp.ok(StatusCode::OK)["roles"].as_array().unwrap().clone();
    let held = |key: &str| roles.iter().find(|r| r["key"] == key).unwrap()["holders"].clone();
    assert_eq!(held("set_a"), json!({ "users": 2, "teams": [] }));
    assert_eq!(held("support_agent"), json!({ "users": 0, "teams": [["tier1", 2]] }));
    let resp = olivia.get("assignments?holders=teams").await;
    let body = resp.ok(StatusCode::OK);
    assert_eq!(body["assignments"]["users"], json!({}));
    assert!(body["assignments"]["teams"]["tier1"].to_string().contains("support_agent"), "{body}");
}

/// The filter reads the caller's own workspace only: a user of another
/// workspace matches nothing here, and the other workspace's route refuses
/// this workspace's keys the same way whether the filter would match or not.
#[tokio::test]
async fn the_filter_is_no_oracle_across_workspaces() {
    let (_dir, server) = server("tenants.db").await;
    let other = "w_other";
    server.store.create_workspace(other, "test").await.unwrap();
    let (model, _) = load_workspace_file(&format!(
        "workspace: {other}\nusers:\n  boss: {{ account_owner: true }}\n  secret_agent_zed: {{}}\n"
    ))
    .unwrap();
    server.store.apply(other, "test", &model, "another tenant", false).await.unwrap();
    let spec = KeySpec { user: Some("boss".into()), role: None, label: "other".into(), expires_at: None };
    let (_, other_key) = server.store.create_key(other, "test", spec).await.unwrap();

    // Here, with every right: the other tenant's user is not found.
    let resp = server.user("olivia").get("users?q=secret_agent").await;
    let page = resp.ok(StatusCode::OK);
    assert!(keys(page).is_empty() && page["matched"] == 0, "{page}");
    // There, with this workspace's keys (service or user): refused alike, match or not.
    let (_, olivia_key) = server.create_key(Some("olivia"), None).await;
    for key in [server.service_key.clone(), olivia_key] {
        let as_key = server.key(Some(&key)).acting("olivia");
        let hit = as_key.get(&format!("/v1/workspaces/{other}/users?q=secret_agent")).await;
        let miss = as_key.get(&format!("/v1/workspaces/{other}/users?q=zzz_nothing")).await;
        // (The server answers a foreign key as if the workspace did not exist.)
        let refused = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::NOT_FOUND];
        assert!(refused.contains(&hit.status), "{}", hit.text);
        assert_eq!((hit.status, &hit.json), (miss.status, &miss.json), "{}", hit.text);
        assert!(!hit.text.contains("secret_agent_zed"), "{}", hit.text);
    }
    // The other tenant's own key finds its own user, and none of this workspace's.
    let theirs = server.key(Some(&other_key));
    let resp = theirs.get(&format!("/v1/workspaces/{other}/users?q=e")).await;
    assert_eq!(keys(resp.ok(StatusCode::OK)), ["secret_agent_zed"]);
}
