//! Usage over a real `permset serve`: counters still in memory are written
//! at a graceful shutdown (SIGTERM), survive the restart, and `permset
//! usage` prints them (CSV and text). The flush interval is an hour, so
//! only the shutdown can have written them.
#![allow(clippy::unwrap_used, missing_docs)]
#![cfg(unix)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn permset(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_permset")).args(args).output().unwrap()
}

async fn serve(database: &str) -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_permset"))
        .args(["serve", "--database", database, "--listen", &format!("127.0.0.1:{port}")])
        .args(["--usage-flush-seconds", "3600"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let http = reqwest::Client::new();
    while !http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(started.elapsed() < Duration::from_secs(30), "permset serve did not answer /healthz in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (Server(child), base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_written_at_shutdown_and_reported_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let out = permset(&["keys", "create", "--workspace", "w", "--database", &database]);
    assert!(out.status.success(), "keys create: {}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (mut server, base) = serve(&database).await;
    let http = reqwest::Client::new();
    let applied = http
        .post(format!("{base}/v1/workspaces/w/apply"))
        .bearer_auth(&key)
        .header("content-type", "application/yaml")
        .body(WORKSPACE)
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), 200);
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
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    while server.0.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "permset serve did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
    let (_server, base) = serve(&database).await;
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
