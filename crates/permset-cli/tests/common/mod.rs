//! Test support for the process-level tests: the real `permset` binary,
//! `permset serve` as a child process on a free loopback port (killed when
//! dropped, its stderr kept in a log file), the first key of a workspace
//! made straight in the database, a workspace file applied over HTTP, the
//! two-agent workspace and check the multi-server tests share, and a
//! private PostgreSQL cluster (`cluster.rs`).
//! Every wait is bounded.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

pub mod cluster;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `permset serve`; killed (and reaped) when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `permset serve` on `database` with extra arguments and
    /// environment; its stderr goes to `dir/NAME.log`.
    pub fn start(database: &str, dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_permset"))
            .args(["serve", "--database", database, "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Server { child, base: format!("http://127.0.0.1:{port}"), log }
    }

    /// Waits (30 s at most) until `path` (`/healthz`, `/readyz`) answers 2xx;
    /// fails with the server's log if it exits first.
    pub async fn wait_for(&mut self, http: &reqwest::Client, path: &str) {
        let started = Instant::now();
        loop {
            if http.get(format!("{}{path}", self.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("permset serve exited with {status}: {log}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} did not answer {path} in 30 s",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs the `permset` binary.
pub fn permset(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_permset")).args(args).output().unwrap()
}

/// A successful run's standard output (the run's stderr in the failure message otherwise).
pub fn stdout_of(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A `permset serve` on a new SQLite file in `dir` with `workspace` made
/// and `yaml` applied: the server, its base URL and the workspace's key.
pub async fn serve_applied(
    dir: &Path,
    http: &reqwest::Client,
    workspace: &str,
    yaml: &str,
) -> (Server, String, String) {
    let database = format!("sqlite://{}", dir.join("db.sqlite").display());
    let key = first_key(&database, workspace);
    let mut server = Server::start(&database, dir, "serve", &[], &[]);
    server.wait_for(http, "/healthz").await;
    let base = server.base.clone();
    apply(http, &base, &key, workspace, yaml).await;
    (server, base, key)
}

/// The first key of `workspace`, made straight in the database (this creates the workspace).
pub fn first_key(database: &str, workspace: &str) -> String {
    let out = permset(&["keys", "create", "--workspace", workspace, "--database", database]);
    assert!(out.status.success(), "keys create: {}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("psk_"), "not a key: {key}");
    key
}

/// `POST …/apply` of a workspace file; asserts 200.
pub async fn apply(http: &reqwest::Client, base: &str, key: &str, workspace: &str, yaml: &str) {
    let applied = http
        .post(format!("{base}/v1/workspaces/{workspace}/apply"))
        .bearer_auth(key)
        .header("content-type", "application/yaml")
        .body(yaml.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), 200, "{}", applied.text().await.unwrap());
}

/// The workspace the multi-server tests (`fleet`, `db_restart`) apply: an
/// account owner, `olivia`, and `tom`, whose `light_agent` role has no
/// `billing_view` until a test assigns him `billing`.
pub fn two_agents(workspace: &str) -> String {
    format!(
        "workspace: {workspace}
users:
  olivia: {{ kind: agent, account_owner: true }}
  tom: {{ kind: agent }}
assignments:
  users:
    tom: [light_agent]
"
    )
}

/// `POST …/check` of tom's `billing_view` on `base`, with
/// `at_least_revision` when given: the status, `allowed`, and the body
/// (every answer carries JSON, a 503 its error).
pub async fn tom_billing(
    http: &reqwest::Client,
    base: &str,
    workspace: &str,
    key: &str,
    at_least: Option<u64>,
) -> (u16, Option<bool>, serde_json::Value) {
    let mut url = format!("{base}/v1/workspaces/{workspace}/check");
    if let Some(revision) = at_least {
        url.push_str(&format!("?at_least_revision={revision}"));
    }
    let body = serde_json::json!({ "user": "tom", "permission": "billing_view" });
    let resp = http
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|error| panic!("no answer from {base}: {error}"));
    let status = resp.status().as_u16();
    let json: serde_json::Value =
        resp.json().await.unwrap_or_else(|error| panic!("a {status} without JSON: {error}"));
    (status, json["allowed"].as_bool(), json)
}

/// Waits until `base` answers `/readyz` (a server recovering from an
/// outage), at most `bound`; how long it took.
pub async fn ready_within(http: &reqwest::Client, base: &str, bound: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return started.elapsed();
        }
        assert!(started.elapsed() < bound, "{base} did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Assigns tom `billing` through `base` as soon as it takes writes again
/// after an outage (until then every answer must be the 503 `unavailable`
/// error), at most `bound`; the revision acknowledged.
pub async fn assign_billing_when_writable(
    http: &reqwest::Client,
    base: &str,
    workspace: &str,
    key: &str,
    bound: Duration,
) -> u64 {
    let started = Instant::now();
    loop {
        let resp = http
            .post(format!("{base}/v1/workspaces/{workspace}/assignments"))
            .bearer_auth(key)
            .json(&serde_json::json!({ "user": "tom", "role": "billing" }))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        if status == 200 {
            return body["revision"].as_u64().unwrap();
        }
        assert_eq!((status, &body["error"]["code"]), (503, &serde_json::json!("unavailable")), "{body}");
        assert!(started.elapsed() < bound, "{base} did not take writes again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The PostgreSQL test database (`PERMSET_TEST_POSTGRES`), or `None` after a
/// SKIP line; with `CI` set a missing database fails the test instead.
pub fn postgres_url(test: &str) -> Option<String> {
    let url = std::env::var("PERMSET_TEST_POSTGRES").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        assert!(!ci, "PERMSET_TEST_POSTGRES is not set but CI is: the {test} test may not be skipped in CI");
        eprintln!("SKIP postgres: PERMSET_TEST_POSTGRES is not set");
    }
    url
}

/// Runs one SQL statement with `psql`; asserts success and returns the output (unaligned, trimmed).
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]).output().unwrap();
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
