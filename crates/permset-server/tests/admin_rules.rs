//! The administration rules of DESIGN.md §3 and the keys of §4/§6, driven
//! through the real server over HTTP on each back end: system roles are
//! immutable (and cloneable), only `roles_manage` holders manage roles, no
//! escalation by creating, editing, cloning or assigning a role, the last
//! account owner stays, 401/404 across keys and workspaces, scoped keys never
//! exceed their role, and a change is in force for the very next decision.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{on_each_backend, Server};
use reqwest::StatusCode;
use serde_json::json;

fn role(grants: serde_json::Value) -> serde_json::Value {
    json!({ "kind": "agent", "grants": grants })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_roles_are_immutable_but_cloneable() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        let before = s.revision().await;
        let msg = owner
            .put("roles/support_agent", role(json!({ "customers_view": { "access": "all" } })))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        assert!(msg.contains("system role"), "{msg}");
        owner.delete("roles/support_agent").await.error(StatusCode::FORBIDDEN, "forbidden");
        // Even the service principal cannot change a system role.
        s.service()
            .put("roles/light_agent", role(json!({ "billing_view": { "access": "all" } })))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        s.service().delete("roles/light_agent").await.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, before, "a refused change moved the revision");

        let cloned = owner.post("roles/support_agent/clone", json!({ "name": "my_agent" })).await;
        assert!(cloned.ok(StatusCode::OK)["revision"].as_u64().unwrap() > before);
        let got = owner.get("roles/my_agent").await;
        let body = got.ok(StatusCode::OK);
        assert_eq!(body["system"], false);
        assert_eq!(body["role"]["cloned_from"], "support_agent");
        let original = owner.get("roles/support_agent").await;
        assert_eq!(original.ok(StatusCode::OK)["system"], true);
        assert_eq!(body["role"]["grants"], original.json["role"]["grants"]);
        // The clone is a custom role: it may be edited and deleted.
        let mut edited = body["role"].clone();
        edited["grants"]["customers_delete"] = json!({ "access": "none" });
        owner.put("roles/my_agent", edited).await.ok(StatusCode::OK);
        owner.delete("roles/my_agent").await.ok(StatusCode::OK);
        owner.get("roles/my_agent").await.error(StatusCode::NOT_FOUND, "not_found");
        // Cloning onto an existing name is a conflict.
        owner
            .post("roles/support_agent/clone", json!({ "name": "vip_desk" }))
            .await
            .error(StatusCode::CONFLICT, "conflict");
        owner
            .post("roles/nope/clone", json!({ "name": "x" }))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_roles_manage_holders_manage_roles() {
    on_each_backend(|s| async move {
        let grants = json!({ "customers_view": { "access": "all" } });
        let before = s.revision().await;
        // Administrator lacks roles_manage: every role write is 403.
        let admin = s.user("adam");
        let msg =
            admin.put("roles/viewer", role(grants.clone())).await.error(StatusCode::FORBIDDEN, "forbidden");
        assert!(msg.contains("roles_manage"), "{msg}");
        admin
            .post("roles/light_agent/clone", json!({ "name": "x" }))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        admin.delete("roles/vip_desk").await.error(StatusCode::FORBIDDEN, "forbidden");
        // An agent with no role at all.
        s.user("lena")
            .put("roles/viewer", role(grants.clone()))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, before);
        // The account owner may; so may a custom role granted roles_manage.
        s.user("olivia").put("roles/viewer", role(grants.clone())).await.ok(StatusCode::OK);
        s.user("maria").put("roles/viewer2", role(grants)).await.ok(StatusCode::OK);
        assert_eq!(s.revision().await, before + 2);
        assert_eq!(s.user("adam").get("roles/viewer").await.ok(StatusCode::OK)["system"], false);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_escalation_when_creating_editing_cloning_or_assigning() {
    on_each_backend(|s| async move {
        let maria = s.user("maria"); // roles_manage, but no billing_view
        let before = s.revision().await;
        let billing = role(json!({ "billing_view": { "access": "all" } }));
        let msg =
            maria.put("roles/billing_peek", billing.clone()).await.error(StatusCode::FORBIDDEN, "forbidden");
        assert!(msg.contains("billing_view"), "{msg}");
        // Wider access than held: maria views every customer, but may not delete one.
        let wider =
            role(json!({ "customers_view": { "access": "all" }, "customers_delete": { "access": "all" } }));
        maria.put("roles/deleter", wider).await.error(StatusCode::FORBIDDEN, "forbidden");
        // Cloning a role that holds more than maria.
        maria
            .post("roles/billing/clone", json!({ "name": "billing2" }))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        // Assigning a role that holds more than maria (system or custom).
        let assign = |r: &str| json!({ "user": "lena", "role": r });
        maria.post("assignments", assign("billing")).await.error(StatusCode::FORBIDDEN, "forbidden");
        maria.post("assignments", assign("vip_desk")).await.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, before, "a refused change moved the revision");
        s.user("lena").check(None, "billing_view").await.ok(StatusCode::OK);
        assert_eq!(s.user("lena").check(None, "billing_view").await.json["allowed"], false);

        // What maria holds, she may create, edit and assign.
        let within =
            role(json!({ "customers_view": { "access": "all" }, "customers_update": { "access": "all" } }));
        maria.put("roles/desk", within).await.ok(StatusCode::OK);
        maria.post("assignments", assign("desk")).await.ok(StatusCode::OK);
        assert_eq!(s.user("lena").check(None, "customers_update").await.json["allowed"], true);
        // ... a narrower one too.
        let narrower =
            role(json!({ "customers_view": { "access": { "limited": [{ "where": "tier == \"vip\"" }] } } }));
        maria.put("roles/desk_vip", narrower).await.ok(StatusCode::OK);
        // Editing her own role to add billing_view is refused, and nothing changes.
        let revision = s.revision().await;
        let edited = role(json!({
            "customers_view": { "access": "all" }, "customers_update": { "access": "all" },
            "billing_view": { "access": "all" }
        }));
        maria.put("roles/desk", edited).await.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, revision);
        assert_eq!(s.user("lena").check(None, "billing_view").await.json["allowed"], false);
        // The account owner holds everything, so may do all of it.
        s.user("olivia").put("roles/billing_peek", billing).await.ok(StatusCode::OK);
        s.user("olivia").post("assignments", assign("billing_peek")).await.ok(StatusCode::OK);
        assert_eq!(s.user("lena").check(None, "billing_view").await.json["allowed"], true);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_account_owner_cannot_be_removed_or_demoted() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        let before = s.revision().await;
        owner.delete("users/olivia").await.error(StatusCode::CONFLICT, "conflict");
        let demoted = json!({ "kind": "agent", "account_owner": false });
        let msg = owner.put("users/olivia", demoted.clone()).await.error(StatusCode::CONFLICT, "conflict");
        assert!(msg.contains("account owner"), "{msg}");
        s.service().delete("users/olivia").await.error(StatusCode::CONFLICT, "conflict");
        s.service().put("users/olivia", demoted.clone()).await.error(StatusCode::CONFLICT, "conflict");
        assert_eq!(s.revision().await, before);
        assert_eq!(owner.check(Some("olivia"), "roles_manage").await.json["allowed"], true);

        // Only an account owner makes another; then the first may step down.
        let promoted = json!({ "kind": "agent", "account_owner": true });
        s.user("adam").put("users/adam", promoted.clone()).await.error(StatusCode::FORBIDDEN, "forbidden");
        owner.put("users/lena", promoted).await.ok(StatusCode::OK);
        owner.put("users/olivia", demoted).await.ok(StatusCode::OK);
        let lena = s.user("lena");
        lena.delete("users/lena").await.error(StatusCode::CONFLICT, "conflict");
        assert_eq!(lena.check(None, "roles_manage").await.json["allowed"], true);
        assert_eq!(lena.check(Some("olivia"), "roles_manage").await.json["allowed"], false);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_a_file_without_an_account_owner_is_refused() {
    on_each_backend(|s| async move {
        // The workspace file is another way to demote the last account owner.
        let before = s.revision().await;
        let no_owner = common::FIXTURE.replace("olivia: { kind: agent, account_owner: true }", "olivia: {}");
        let resp = s.service().apply(&no_owner).await;
        assert!(
            resp.status == StatusCode::CONFLICT || resp.status == StatusCode::UNPROCESSABLE_ENTITY,
            "apply demoted the last account owner: {} {}",
            resp.status,
            resp.text
        );
        common::assert_error_shape(&resp);
        assert_eq!(s.revision().await, before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_cannot_demote_or_remove_an_account_owner() {
    on_each_backend(|s| async move {
        // Two owners, so the last-owner rule does not apply: what is tested is
        // that users_update/users_delete alone do not reach account owners
        // (only account owners make account owners, so only they unmake them).
        s.user("olivia").put("users/lena", json!({ "account_owner": true })).await.ok(StatusCode::OK);
        let before = s.revision().await;
        let adam = s.user("adam");
        adam.put("users/olivia", json!({ "account_owner": false }))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        adam.delete("users/olivia").await.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_a_team_whose_roles_exceed_yours_is_an_escalation() {
    on_each_backend(|s| async move {
        // The owner gives team tier1 the role_admin role (roles_manage).
        let owner = s.user("olivia");
        owner.post("assignments", json!({ "team": "tier1", "role": "role_admin" })).await.ok(StatusCode::OK);
        // adam (Administrator: users_update and teams_view, no roles_manage)
        // puts himself into tier1: that would assign him roles_manage.
        let before = s.revision().await;
        let resp = s.user("adam").put("users/adam", json!({ "kind": "agent", "teams": ["tier1"] })).await;
        let now = s.user("adam").check(None, "roles_manage").await;
        assert_eq!(now.json["allowed"], false, "adam gained roles_manage by joining a team ({})", resp.text);
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_roles_cannot_be_assigned_to_end_users_nor_roles_to_unknown_users() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        let before = s.revision().await;
        let resp = owner.post("assignments", json!({ "user": "carla", "role": "support_agent" })).await;
        resp.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        owner
            .post("assignments", json!({ "user": "carla", "role": "no_such_role" }))
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        let resp = owner.post("assignments", json!({ "user": "ghost", "role": "light_agent" })).await;
        assert!(
            resp.status == StatusCode::NOT_FOUND || resp.status == StatusCode::UNPROCESSABLE_ENTITY,
            "assigning to an unknown user: {} {}",
            resp.status,
            resp.text
        );
        common::assert_error_shape(&resp);
        owner
            .post("assignments", json!({ "role": "light_agent" }))
            .await
            .error(StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(s.revision().await, before);
        assert_eq!(owner.check(Some("carla"), "conversations_update").await.json["allowed"], false);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bad_and_revoked_keys_are_401() {
    on_each_backend(|s| async move {
        let msg = s
            .key(None)
            .check(Some("olivia"), "customers_view")
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(msg.contains("missing"), "{msg}");
        let bad = format!("psk_{}", "0".repeat(64));
        s.key(Some(&bad))
            .check(Some("olivia"), "customers_view")
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthorized");
        s.key(Some("garbage")).get("roles").await.error(StatusCode::UNAUTHORIZED, "unauthorized");
        // Through x-permset-key too.
        let resp = s.key(None).header("x-permset-key", &bad).get("schema").await;
        resp.error(StatusCode::UNAUTHORIZED, "unauthorized");

        let (id, secret) = s.create_key(Some("olivia"), None).await;
        s.key(Some(&secret)).check(None, "customers_view").await.ok(StatusCode::OK);
        let listed = s.service().get("keys").await;
        assert!(listed.ok(StatusCode::OK)["keys"].as_array().unwrap().iter().any(|k| k["id"] == id));
        assert!(!listed.text.contains(&secret), "a key listing shows a secret");
        s.service().delete(&format!("keys/{id}")).await.ok(StatusCode::OK);
        // Revoked: in force for the very next request.
        s.key(Some(&secret))
            .check(None, "customers_view")
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthorized");
        s.service().delete(&format!("keys/{id}")).await.error(StatusCode::NOT_FOUND, "not_found");
        s.service().delete("keys/key_nope").await.error(StatusCode::NOT_FOUND, "not_found");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_never_reaches_another_workspace() {
    on_each_backend(|s| async move {
        // A second workspace with its own owner and key, in the same store.
        s.store.create_workspace("globex", "test").await.unwrap();
        let spec = permset_store::KeySpec { user: None, role: None, label: "b".into(), expires_at: None };
        let (_, key_b) = s.store.create_key("globex", "test", spec).await.unwrap();
        let file_b = common::FIXTURE.replace("workspace: acme", "workspace: globex");
        let b = s.key(Some(&key_b));
        let resp = b
            .send(
                b.request(reqwest::Method::POST, "/v1/workspaces/globex/apply")
                    .header("content-type", "application/yaml")
                    .body(file_b),
            )
            .await;
        resp.ok(StatusCode::OK);

        // acme's service key on globex's paths: 404, the same as for a workspace that does not exist.
        let a = s.service().acting("olivia");
        let body = json!({ "permission": "customers_view" });
        let other = a.post("/v1/workspaces/globex/check", body.clone()).await;
        let msg = other.error(StatusCode::NOT_FOUND, "not_found");
        let missing = a.post("/v1/workspaces/nowhere/check", body.clone()).await;
        missing.error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(
            msg.replace("globex", "X"),
            missing.json["error"]["message"].as_str().unwrap().replace("nowhere", "X")
        );
        for path in ["roles", "users", "export", "objects/customers/records", "audit", "keys"] {
            a.get(&format!("/v1/workspaces/globex/{path}")).await.error(StatusCode::NOT_FOUND, "not_found");
        }
        a.put("/v1/workspaces/globex/roles/x", role(json!({})))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
        // And the other way round, with a user key.
        let (_, user_b) = s
            .store
            .create_key(
                "globex",
                "test",
                permset_store::KeySpec { user: Some("olivia".into()), ..Default::default() },
            )
            .await
            .unwrap();
        s.key(Some(&user_b)).get("roles").await.error(StatusCode::NOT_FOUND, "not_found");
        // A role assigned in globex gives nothing in acme.
        b.post("/v1/workspaces/globex/assignments", json!({ "user": "lena", "role": "billing" }))
            .await
            .ok(StatusCode::OK);
        assert_eq!(s.user("lena").check(None, "billing_view").await.json["allowed"], false);
        let resp = b
            .acting("lena")
            .post("/v1/workspaces/globex/check", json!({ "permission": "billing_view" }))
            .await;
        assert_eq!(resp.json["allowed"], true, "{}", resp.text);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_keys_act_only_as_their_user() {
    on_each_backend(|s| async move {
        let (_, tom) = s.create_key(Some("tom"), None).await;
        let tom = s.key(Some(&tom));
        assert_eq!(tom.check(None, "conversations_view").await.json["allowed"], true);
        tom.check(Some("olivia"), "billing_view").await.error(StatusCode::FORBIDDEN, "forbidden");
        tom.clone()
            .acting("olivia")
            .get("objects/customers/records")
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        // Administration is for account owners and service keys.
        tom.post("keys", json!({ "user": "olivia" })).await.error(StatusCode::FORBIDDEN, "forbidden");
        tom.apply(common::FIXTURE).await.error(StatusCode::FORBIDDEN, "forbidden");
        tom.get("export").await.error(StatusCode::FORBIDDEN, "forbidden");
        let (_, adam) = s.create_key(Some("adam"), None).await;
        s.key(Some(&adam)).post("keys", json!({})).await.error(StatusCode::FORBIDDEN, "forbidden");
        s.key(Some(&adam)).get("audit").await.ok(StatusCode::OK);
        tom.get("audit").await.error(StatusCode::FORBIDDEN, "forbidden");
    })
    .await;
}

async fn scoped(s: &Server, user: &str, role: &str) -> String {
    s.create_key(Some(user), Some(role)).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_key_never_exceeds_its_role() {
    on_each_backend(|s| async move {
        let olivia = s.user("olivia");
        let c_basic = s
            .create("olivia", "customers", json!({ "name": "Basic Co", "tier": "basic", "ssn": "111" }))
            .await;
        let c_vip =
            s.create("olivia", "customers", json!({ "name": "Vip Co", "tier": "vip", "ssn": "222" })).await;
        let conv_rita =
            s.create("olivia", "conversations", json!({ "subject": "r", "assignee": "rita" })).await;
        let conv_tom =
            s.create("olivia", "conversations", json!({ "subject": "t", "assignee": "tom" })).await;

        // An account owner's key limited to light_agent.
        let key = scoped(&s, "olivia", "light_agent").await;
        let k = s.key(Some(&key));
        let resp = k.check(None, "customers_update").await;
        assert_eq!(resp.ok(StatusCode::OK)["allowed"], false);
        assert_eq!(k.check(None, "customers_view").await.json["allowed"], true);
        assert_eq!(k.check(None, "billing_view").await.json["allowed"], false);
        assert_eq!(olivia.check(None, "customers_update").await.json["allowed"], true);
        let batch = k
            .post(
                "check/batch",
                json!({ "requests": [
                { "permission": "customers_update" }, { "permission": "conversations_add_note" },
                { "permission": "roles_manage" } ] }),
            )
            .await;
        let results = batch.ok(StatusCode::OK)["results"].as_array().unwrap().clone();
        let allowed: Vec<bool> = results.iter().map(|r| r["allowed"].as_bool().unwrap()).collect();
        assert_eq!(allowed, [false, true, false]);
        // Explain reports the scoped decision.
        let explained = k.post("explain", json!({ "permission": "customers_update" })).await;
        assert_eq!(explained.ok(StatusCode::OK)["decision"]["allowed"], false, "{}", explained.text);
        // Reads: what both allow; the protected ssn only the owner's own grant reaches, so not through the key.
        let list = k.get("objects/customers/records").await;
        let records = list.ok(StatusCode::OK)["records"].as_array().unwrap().clone();
        assert_eq!(records.len(), 2);
        assert!(
            records.iter().all(|r| r.get("ssn").is_none()),
            "ssn through a light_agent key: {}",
            list.text
        );
        let read = k.get(&format!("objects/customers/records/{c_vip}")).await;
        assert!(read.ok(StatusCode::OK)["record"].get("ssn").is_none(), "{}", read.text);
        assert_eq!(
            olivia.get(&format!("objects/customers/records/{c_vip}")).await.json["record"]["ssn"],
            "222"
        );
        // Writes: denied, and nothing written.
        k.post("objects/customers/records", json!({ "name": "x" }))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        k.patch(&format!("objects/customers/records/{c_basic}"), json!({ "name": "y" }))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        k.delete(&format!("objects/customers/records/{c_basic}"))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        let all = olivia.get("objects/customers/records").await;
        assert_eq!(all.json["records"].as_array().unwrap().len(), 2);
        assert_eq!(
            olivia.get(&format!("objects/customers/records/{c_basic}")).await.json["record"]["name"],
            "Basic Co"
        );
        // Model writes and administration: denied too.
        let before = s.revision().await;
        k.put("roles/x", role(json!({}))).await.error(StatusCode::FORBIDDEN, "forbidden");
        k.post("assignments", json!({ "user": "lena", "role": "light_agent" }))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        k.put("users/lena", json!({ "account_owner": true })).await.error(StatusCode::FORBIDDEN, "forbidden");
        k.post("keys", json!({ "user": "olivia" })).await.error(StatusCode::FORBIDDEN, "forbidden");
        k.apply(common::FIXTURE).await.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, before);

        // light_agent for rita (Restricted): only her own conversations.
        let key = scoped(&s, "rita", "light_agent").await;
        let list = s.key(Some(&key)).get("objects/conversations/records").await;
        let ids: Vec<&str> = list.ok(StatusCode::OK)["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [conv_rita.as_str()]);
        s.key(Some(&key))
            .get(&format!("objects/conversations/records/{conv_tom}"))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
        // vip_desk for the owner: only VIP customers.
        let key = scoped(&s, "olivia", "vip_desk").await;
        let list = s.key(Some(&key)).get("objects/customers/records").await;
        let ids: Vec<&str> = list.ok(StatusCode::OK)["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [c_vip.as_str()]);
        // A service key limited to a role, acting for the owner, is limited the same way.
        let (_, svc) = s.create_key(None, Some("vip_desk")).await;
        let list = s.key(Some(&svc)).acting("olivia").get("objects/customers/records").await;
        assert_eq!(list.ok(StatusCode::OK)["records"].as_array().unwrap().len(), 1, "{}", list.text);
        assert_eq!(s.key(Some(&svc)).check(Some("olivia"), "customers_update").await.json["allowed"], false);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_is_in_force_for_the_very_next_check() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        let first = owner.check(Some("lena"), "customers_update").await;
        assert_eq!(first.ok(StatusCode::OK)["allowed"], false);
        let r0 = first.revision();
        let assigned = owner.post("assignments", json!({ "user": "lena", "role": "support_agent" })).await;
        let r1 = assigned.ok(StatusCode::OK)["revision"].as_u64().unwrap();
        assert!(r1 > r0);
        let next = owner.check(Some("lena"), "customers_update").await;
        assert_eq!(next.json["allowed"], true, "the assignment is not in force yet: {}", next.text);
        assert_eq!(next.revision(), r1);
        // Read-your-writes on demand: query parameter and header.
        let asked = s.user("olivia").check(Some("lena"), "customers_update").await;
        assert!(asked.revision() >= r1);
        let q = owner
            .post(
                &format!("check?at_least_revision={r1}"),
                json!({ "user": "lena", "permission": "customers_update" }),
            )
            .await;
        assert_eq!(q.ok(StatusCode::OK)["allowed"], true);
        let h = s
            .user("olivia")
            .header("x-permset-at-least-revision", &r1.to_string())
            .check(Some("lena"), "customers_update")
            .await;
        assert_eq!(h.ok(StatusCode::OK)["revision"], r1);
        // A revision not committed yet is a conflict, not a stale answer.
        let future = owner
            .post(&format!("check?at_least_revision={}", r1 + 100), json!({ "permission": "customers_view" }))
            .await;
        future.error(StatusCode::CONFLICT, "conflict");
        owner
            .post("check?at_least_revision=soon", json!({ "permission": "customers_view" }))
            .await
            .error(StatusCode::BAD_REQUEST, "bad_request");
        // Unassigning is in force at once as well.
        let un = owner.delete_json("assignments", json!({ "user": "lena", "role": "support_agent" })).await;
        let r2 = un.ok(StatusCode::OK)["revision"].as_u64().unwrap();
        let after = owner.check(Some("lena"), "customers_update").await;
        assert_eq!(after.json["allowed"], false);
        assert_eq!(after.revision(), r2);
        // Role edits too: give vip_desk customers_update and vic can update at once.
        let mut desk = owner.get("roles/vip_desk").await.json["role"].clone();
        desk["grants"]["customers_update"] =
            json!({ "access": { "limited": [{ "where": "tier == \"vip\"" }] } });
        let r3 = owner.put("roles/vip_desk", desk).await.ok(StatusCode::OK)["revision"].as_u64().unwrap();
        let vic = owner
            .post(
                "check",
                json!({ "user": "vic", "permission": "customers_update", "record": { "tier": "vip" } }),
            )
            .await;
        assert_eq!(vic.json["allowed"], true);
        assert_eq!(vic.revision(), r3);
        // The records path sees the change too (the write decided at the new revision).
        let id = s.create("olivia", "customers", json!({ "name": "V", "tier": "vip" })).await;
        let patched =
            s.user("vic").patch(&format!("objects/customers/records/{id}"), json!({ "name": "W" })).await;
        assert_eq!(patched.ok(StatusCode::OK)["record"]["name"], "W");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_honours_at_least_revision() {
    on_each_backend(|s| async move {
        // Another server over the same database, as a second replica.
        let (addr, task) = common::start(s.store.clone()).await;
        let replica = format!("http://{addr}");
        let check = |rev: Option<u64>| {
            let url = match rev {
                Some(r) => format!("{replica}/v1/workspaces/acme/check?at_least_revision={r}"),
                None => format!("{replica}/v1/workspaces/acme/check"),
            };
            s.http
                .post(url)
                .bearer_auth(&s.service_key)
                .json(&json!({ "user": "lena", "permission": "customers_update" }))
                .send()
        };
        let before = common::read(check(None).await.unwrap()).await;
        assert_eq!(before.ok(StatusCode::OK)["allowed"], false);
        let r = s
            .user("olivia")
            .post("assignments", json!({ "user": "lena", "role": "support_agent" }))
            .await
            .revision();
        let after = common::read(check(Some(r)).await.unwrap()).await;
        assert_eq!(after.ok(StatusCode::OK)["allowed"], true, "{}", after.text);
        assert!(after.revision() >= r);
        task.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widening_an_access_rule_is_checked_for_escalation() {
    on_each_backend(|s| async move {
        // A named rule that a role uses for customers_delete, which maria does not hold.
        let owner = s.user("olivia");
        owner
            .put("access_rules/customers/vip_only", json!({ "condition": "tier == \"vip\"" }))
            .await
            .ok(StatusCode::OK);
        let deleter = role(json!({
            "customers_view": { "access": { "limited": [{ "rule": "vip_only" }] } },
            "customers_delete": { "access": { "limited": [{ "rule": "vip_only" }] }, "reason": "dedupe" }
        }));
        owner.put("roles/vip_deleter", deleter).await.ok(StatusCode::OK);
        owner.post("assignments", json!({ "user": "lena", "role": "vip_deleter" })).await.ok(StatusCode::OK);
        let basic =
            json!({ "user": "lena", "permission": "customers_delete", "record": { "tier": "basic" } });
        assert_eq!(owner.post("check", basic.clone()).await.json["allowed"], false);
        // maria (roles_manage, no customers_delete) rewrites the rule to match every customer:
        // that widens a role's delete grant beyond anything she holds.
        let before = s.revision().await;
        let resp = s
            .user("maria")
            .put("access_rules/customers/vip_only", json!({ "condition": "tier in [\"basic\", \"vip\"]" }))
            .await;
        let widened = owner.post("check", basic).await.json["allowed"] == true;
        assert!(!widened, "maria widened customers_delete through an access rule ({})", resp.text);
        resp.error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(s.revision().await, before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_key_sees_its_scoped_permissions() {
    on_each_backend(|s| async move {
        // The effective-permissions route answers for the key's intersection too.
        let key = scoped(&s, "olivia", "light_agent").await;
        let resp = s.key(Some(&key)).get("users/olivia/permissions").await;
        let granted: Vec<String> = resp.ok(StatusCode::OK)["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["access"] != "none")
            .map(|p| p["permission"].as_str().unwrap().to_owned())
            .collect();
        for beyond in ["billing_view", "roles_manage", "customers_update"] {
            assert!(!granted.iter().any(|p| p == beyond), "a light_agent key reports `{beyond}` for olivia");
        }
        assert!(granted.iter().any(|p| p == "conversations_add_note"), "{granted:?}");
        // And a scoped key may not create a key wider than itself.
        s.key(Some(&key))
            .post("keys", json!({ "user": "olivia" }))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
    })
    .await;
}
