//! `permset review` over a real `permset serve`: the table and CSV, and
//! `--propose FILE`, whose file `permset simulate FILE --key` previews (all
//! four parts) and `permset apply FILE --origin review` applies, recorded in
//! the audit log as a review.
#![allow(clippy::unwrap_used, missing_docs)]
#![cfg(unix)]

mod common;

use common::{permset, stdout_of as text};
use serde_json::{json, Value};

const WORKSPACE: &str = r#"
workspace: w
users:
  olivia: { kind: agent, account_owner: true }
  ann: { kind: agent }
  bob: { kind: agent }
  carl: { kind: agent }
roles:
  desk:
    grants:
      customers_view: all
assignments:
  users:
    ann: [desk]
    bob: [desk]
    carl: [{ role: desk, expires_at: 2021-01-01T00:00:00Z }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_proposes_revocations_that_simulate_and_apply_take_as_a_review() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let (_server, base, key) = common::serve_applied(dir.path(), &http, "w", WORKSPACE).await;
    let check = json!({ "user": "ann", "permission": "customers_view" });
    let resp = http.post(format!("{base}/v1/workspaces/w/check")).bearer_auth(&key).json(&check).send().await;
    assert_eq!(resp.unwrap().status(), 200);
    let review = ["review", "--workspace", "w", "--server", &base, "--key", &key];

    let table = text(&permset(&review));
    assert!(table.contains("review of `w`"), "{table}");
    let line = |user: &str| table.lines().find(|l| l.trim_start().starts_with(user)).unwrap().to_owned();
    assert!(!line("ann").contains("UNUSED"), "{table}");
    assert!(line("bob").contains("never") && line("bob").ends_with("UNUSED"), "{table}");
    assert!(line("carl").contains("until 2021-01-01") && line("carl").contains("EXPIRED"), "{table}");
    assert!(table.contains("3 role(s) held, 2 flagged, 2 revocation(s) proposed"), "{table}");

    let csv = text(&permset(&[&review[..], &["--format", "csv"]].concat()));
    assert!(csv.starts_with("user,role,held,expires_at,in_force,last_used,unused,expired\n"), "{csv}");
    assert!(csv.contains("\nbob,desk,direct,,true,,true,false\n"), "{csv}");

    let file = dir.path().join("proposed.yaml");
    let file_arg = file.to_str().unwrap();
    text(&permset(&[&review[..], &["--format", "json", "--propose", file_arg]].concat()));
    let proposed = std::fs::read_to_string(&file).unwrap();
    assert!(proposed.contains("#   unassign role `desk` from user `bob`"), "{proposed}");

    // All four parts, online: bob and carl's assignments go; bob loses customers_view.
    let sim = text(&permset(&["simulate", file_arg, "--server", &base, "--key", &key]));
    assert!(sim.contains("bob  customers_view"), "{sim}");
    assert!(sim.contains("flips:") && sim.contains("records:"), "{sim}");
    let json_out = text(&permset(&["simulate", file_arg, "--server", &base, "--key", &key, "--json"]));
    let answer: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(answer["record_visibility"]["counted"], true, "{answer}");
    assert_eq!(answer["plan"]["changes"].as_array().unwrap().len(), 2, "{answer}");

    // Applied as a review, and recorded as one.
    let out = text(&permset(&[
        "apply",
        file_arg,
        "--server",
        &base,
        "--key",
        &key,
        "--origin",
        "review",
        "--reason",
        "q4 review",
    ]));
    assert!(out.contains("applied 2 change(s)"), "{out}");
    let audit: Value = http
        .get(format!("{base}/v1/workspaces/w/audit"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = audit["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["origin"].as_str(), last["reason"].as_str()),
        (Some("review"), Some("q4 review")),
        "{last}"
    );
    // The audit command shows it.
    let log = text(&permset(&["audit", "--workspace", "w", "--server", &base, "--key", &key]));
    assert!(log.lines().last().unwrap().contains("apply (review)  q4 review"), "{log}");

    // Nothing left to revoke; an unknown origin is refused with the nearest name.
    let table = text(&permset(&review));
    assert!(table.contains("1 role(s) held, 0 flagged, 0 revocation(s) proposed"), "{table}");
    let out = permset(&["apply", file_arg, "--server", &base, "--key", &key, "--origin", "reveiw"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `review`?"));
}
