//! `permset apply --dry-run` over a real `permset serve`: it shows the same
//! answer as `permset simulate FILE --key` (all four parts, text and JSON),
//! changes nothing, and is refused exactly as applying would be.
#![allow(clippy::unwrap_used, missing_docs)]
#![cfg(unix)]

mod common;

use common::{permset, stdout_of as text};
use serde_json::{json, Value};

const CURRENT: &str = r#"
workspace: w
objects:
  customers:
    fields: { name: string, assignee: user }
    owner_field: assignee
users:
  olivia: { kind: agent, account_owner: true }
  ann: { kind: agent }
  bob: { kind: agent }
roles:
  desk:
    grants: { customers_view: own }
assignments:
  users: { ann: [desk], bob: [desk] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_dry_run_shows_the_simulation_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let (_server, base, key) = common::serve_applied(dir.path(), &http, "w", CURRENT).await;
    let records = format!("{base}/v1/workspaces/w/objects/customers/records");
    for (id, assignee) in [("c1", "ann"), ("c2", "bob"), ("c3", "olivia")] {
        let body = json!({ "id": id, "name": id, "assignee": assignee });
        let resp = http
            .post(&records)
            .bearer_auth(&key)
            .header("x-permset-user", "olivia")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }
    // A sampled decision that the change flips: ann may not see bob's customer today.
    let check =
        json!({ "user": "ann", "permission": "customers_view", "record": { "id": "c2", "assignee": "bob" } });
    let resp = http.post(format!("{base}/v1/workspaces/w/check")).bearer_auth(&key).json(&check).send().await;
    assert_eq!(resp.unwrap().json::<Value>().await.unwrap()["allowed"], false);
    let flushed = http.post(format!("{base}/v1/workspaces/w/usage/flush")).bearer_auth(&key).send().await;
    assert!(flushed.unwrap().status().is_success());

    // `desk` sees every customer; bob loses `desk`.
    let file = dir.path().join("next.yaml");
    let next = CURRENT.replace("customers_view: own", "customers_view: all").replace(", bob: [desk]", "");
    std::fs::write(&file, next).unwrap();
    let file = file.to_str().unwrap();
    let at = ["--server", base.as_str(), "--key", key.as_str()];

    let dry = text(&permset(&[&["apply", file, "--dry-run"][..], &at].concat()));
    let sim = text(&permset(&[&["simulate", file][..], &at].concat()));
    assert_eq!(dry, sim);
    assert!(dry.contains("plan: 2 change(s)"), "{dry}");
    assert!(dry.contains("ann  customers_view  own → all"), "{dry}");
    assert!(dry.contains("bob  customers_view  own → none"), "{dry}");
    assert!(dry.contains("ann  customers_view  deny → allow  1 decision(s)"), "{dry}");
    assert!(dry.contains("ann  customers  +2 −0 record(s)"), "{dry}");
    assert!(dry.contains("bob  customers  +0 −1 record(s)"), "{dry}");

    let dry: Value = serde_json::from_str(&text(&permset(
        &[&["apply", file, "--dry-run", "--format", "json"][..], &at].concat(),
    )))
    .unwrap();
    let sim: Value =
        serde_json::from_str(&text(&permset(&[&["simulate", file, "--json"][..], &at].concat()))).unwrap();
    assert_eq!(dry, sim);
    assert_eq!(dry["replayed"], 1, "{dry}");

    // The pull-request summary stays the plan.
    let md = text(&permset(&[&["apply", file, "--dry-run", "--format", "markdown"][..], &at].concat()));
    assert!(md.contains("desk") && !md.contains("flips"), "{md}");

    // Nothing was written: the revision did not move, and applying makes both changes.
    let revision = |v: &Value| v["revision"].as_u64().unwrap();
    assert_eq!(revision(&dry), revision(&sim));
    let applied = text(&permset(&[&["apply", file][..], &at].concat()));
    assert!(
        applied.contains(&format!("applied 2 change(s); workspace now at revision {}", revision(&dry) + 1)),
        "{applied}"
    );

    // A key that may not make the change may not preview it either, with the same answer.
    let ann_key = {
        let body = json!({ "user": "ann", "label": "ann" });
        let resp =
            http.post(format!("{base}/v1/workspaces/w/keys")).bearer_auth(&key).json(&body).send().await;
        resp.unwrap().json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned()
    };
    let refused = |args: &[&str]| {
        let out = permset(&[args, &["--server", base.as_str(), "--key", ann_key.as_str()]].concat());
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let (dry, apply) = (refused(&["apply", file, "--dry-run"]), refused(&["apply", file]));
    assert!(dry.contains("403"), "{dry}");
    assert_eq!(dry.lines().last(), apply.lines().last());
}
