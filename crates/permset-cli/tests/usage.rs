//! Usage over a real `permset serve`: counters still in memory are written
//! at a graceful shutdown (SIGTERM), survive the restart, and `permset
//! usage` prints them (CSV and text). The flush interval is an hour, so
//! only the shutdown can have written them.
#![allow(clippy::unwrap_used, missing_docs)]
#![cfg(unix)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{permset, Server};
use serde_json::json;

const WORKSPACE: &str = r#"
workspace: w
users:
  olivia: { kind: agent, account_owner: true }
  ann: { kind: agent }
  bob: { kind: agent }
roles:
  desk:
    grants:
      customers_view: all
assignments:
  users:
    ann: [desk]
"#;

async fn serve(database: &str, dir: &std::path::Path, name: &str) -> (Server, String) {
    let mut server = Server::start(database, dir, name, &["--usage-flush-seconds", "3600"], &[]);
    server.wait_for(&reqwest::Client::new(), "/healthz").await;
    let base = server.base.clone();
    (server, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_written_at_shutdown_and_reported_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let key = common::first_key(&database, "w");
    let (mut server, base) = serve(&database, dir.path(), "serve0").await;
    let http = reqwest::Client::new();
    common::apply(&http, &base, &key, "w", WORKSPACE).await;
    for (user, times) in [("ann", 3), ("bob", 2)] {
        for _ in 0..times {
            let check = json!({ "user": user, "permission": "customers_view" });
            let resp = http
                .post(format!("{base}/v1/workspaces/w/check"))
                .bearer_auth(&key)
                .json(&check)
                .send()
                .await;
            assert_eq!(resp.unwrap().status(), 200);
        }
    }
    // SIGTERM: a graceful stop writes the counters.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    while server.child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "permset serve did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
    let (_server, base) = serve(&database, dir.path(), "serve1").await;
    let out = permset(&["usage", "--workspace", "w", "--server", &base, "--key", &key, "--csv"]);
    assert!(out.status.success(), "usage: {}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.contains("\ngrant,desk,customers_view,all,direct,,3,"), "{csv}");
    assert!(csv.contains("\ndeny,,customers_view,,,bob,2,"), "{csv}");
    let out = permset(&["usage", "--workspace", "w", "--server", &base, "--key", &key]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("desk  customers_view all  direct  3 allow(s)"), "{text}");
    assert!(text.contains("olivia  account owner"), "{text}");
    // A key of a user who is no administrator is refused, with the server's reason.
    let out = permset(&["keys", "create", "--workspace", "w", "--database", &database, "--user", "ann"]);
    let ann_key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out = permset(&["usage", "--workspace", "w", "--server", &base, "--key", &ann_key]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("403") && err.contains("account owners and administrators"), "{err}");
}
