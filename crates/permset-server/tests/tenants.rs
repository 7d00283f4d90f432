//! Many tenants on one server under a snapshot memory budget: workspaces
//! load on first use, the least recently used are evicted beyond the
//! budget, and an evicted workspace decides, reloads and takes writes
//! exactly as a loaded one. A real server on 127.0.0.1 over each back end,
//! driven over HTTP; the registry's figures are read from `/metrics`.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::net::SocketAddr;

use permset_store::{KeySpec, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

const TENANTS: usize = 10;

/// Workspace `i`'s file: its agent may view customers in even workspaces
/// and billing in odd ones, so an answer from another workspace's snapshot
/// shows. `extra` adds a grant (the write made while evicted).
fn fixture(i: usize, extra: &str) -> String {
    let grant = if i.is_multiple_of(2) { "customers_view" } else { "billing_view" };
    format!(
        "workspace: w{i}\nusers:\n  owner: {{ account_owner: true }}\n  agent: {{}}\nroles:\n  desk:\n    grants:\n      {grant}: all\n{extra}assignments:\n  users:\n    agent: [desk]\n"
    )
}

struct Fleet {
    base: String,
    http: reqwest::Client,
    keys: Vec<String>,
}

impl Fleet {
    async fn send(
        &self,
        i: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/v1/workspaces/w{i}/{path}", self.base))
            .bearer_auth(&self.keys[i]);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `agent`'s answer for `permission` in workspace `i`, and its revision.
    async fn check(&self, i: usize, permission: &str) -> (bool, u64) {
        let body = json!({ "user": "agent", "permission": permission });
        let (status, json) = self.send(i, reqwest::Method::POST, "check", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "w{i}: {json}");
        (json["allowed"].as_bool().unwrap(), json["revision"].as_u64().unwrap())
    }

    /// Asserts workspace `i` answers as its own file says.
    async fn decides_as_its_own(&self, i: usize) {
        assert_eq!(self.check(i, "customers_view").await.0, i.is_multiple_of(2), "w{i} customers_view");
        assert_eq!(self.check(i, "billing_view").await.0, !i.is_multiple_of(2), "w{i} billing_view");
    }

    async fn metric(&self, name: &str) -> u64 {
        let text =
            self.http.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        let line =
            text.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| panic!("no {name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }
}

async fn start(store: Store, budget: usize) -> SocketAddr {
    let (tx, rx) = tokio::sync::oneshot::channel();
    // No usage counting: its background writer would hold a transaction
    // that the schema's DROP at the end of the PostgreSQL test waits on.
    let usage = permset_server::UsageSettings { enabled: false, ..Default::default() };
    let options = permset_server::ServeOptions { snapshot_memory: Some(budget), usage, ..Default::default() };
    tokio::spawn(async move {
        let _ = permset_server::serve_with(store, "127.0.0.1:0".parse().unwrap(), options, |addr| {
            let _ = tx.send(addr);
        })
        .await;
    });
    rx.await.unwrap()
}

async fn evicted_workspaces_decide_reload_and_take_writes(store: Store) {
    let mut keys = Vec::new();
    for i in 0..TENANTS {
        store.create_workspace(&format!("w{i}"), "test").await.unwrap();
        let model = permset_core::load_workspace_file(&fixture(i, "")).unwrap().0;
        store.apply(&format!("w{i}"), "test", &model, "", false).await.unwrap();
        let spec = KeySpec { label: "service".into(), ..KeySpec::default() };
        keys.push(store.create_key(&format!("w{i}"), "test", spec).await.unwrap().1);
    }
    // Room for three snapshots and a half: the fourth loaded evicts one.
    let one = store.snapshot("w0").await.unwrap().approx_heap_bytes();
    let budget = one * 7 / 2;
    let addr = start(store.clone(), budget).await;
    let fleet = Fleet { base: format!("http://{addr}"), http: reqwest::Client::new(), keys };

    // Every workspace in turn: each decides by its own model, and the
    // loaded ones never exceed the budget.
    for i in 0..TENANTS {
        fleet.decides_as_its_own(i).await;
        assert!(fleet.metric("permset_snapshot_bytes").await <= budget as u64);
    }
    assert!(fleet.metric("permset_snapshots_loaded").await <= 3);
    assert_eq!(fleet.metric("permset_snapshot_loads_total").await, TENANTS as u64);
    assert!(fleet.metric("permset_snapshot_evictions_total").await >= (TENANTS - 3) as u64);

    // Least recently used, not first in: w0 used between every other load stays loaded.
    let loads = fleet.metric("permset_snapshot_loads_total").await;
    fleet.decides_as_its_own(0).await;
    for i in 1..TENANTS {
        fleet.decides_as_its_own(i).await;
        fleet.decides_as_its_own(0).await;
    }
    assert_eq!(
        fleet.metric("permset_snapshot_loads_total").await,
        loads + TENANTS as u64,
        "w0 loaded once more and each other workspace once: w0 was never evicted"
    );

    // A model change to an evicted workspace: w1 (odd) gains customers_view.
    let before = fleet.check(1, "billing_view").await.1;
    for i in 2..5 {
        fleet.decides_as_its_own(i).await; // evicts w1
    }
    let extra = "  viewer:\n    grants:\n      customers_view: all\n";
    let file = fixture(1, extra).replace("agent: [desk]", "agent: [desk, viewer]");
    let resp = fleet
        .http
        .post(format!("{}/v1/workspaces/w1/apply", fleet.base))
        .bearer_auth(&fleet.keys[1])
        .header("content-type", "application/yaml")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    let (allowed, revision) = fleet.check(1, "customers_view").await;
    assert!(allowed && revision > before, "w1 decides on its new revision {revision} (was {before})");
    // Evicted again, it reloads that revision, not an older one.
    for i in 2..6 {
        fleet.decides_as_its_own(i).await;
    }
    assert_eq!(fleet.check(1, "customers_view").await, (true, revision));
    let body = json!({ "user": "agent", "permission": "customers_view" });
    let path = format!("check?at_least_revision={revision}");
    let (status, json) = fleet.send(1, reqwest::Method::POST, &path, Some(body)).await;
    assert_eq!((status, json["allowed"].as_bool()), (StatusCode::OK, Some(true)));

    // A record write to an evicted workspace: w2's owner creates a customer.
    for i in 5..9 {
        fleet.decides_as_its_own(i).await; // evicts w2
    }
    let resp = fleet
        .http
        .post(format!("{}/v1/workspaces/w2/objects/customers/records", fleet.base))
        .bearer_auth(&fleet.keys[2])
        .header("x-permset-user", "owner")
        .json(&json!({ "name": "Evicted Inc" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap());
    // Every workspace still answers by its own model after all that churn.
    for i in (0..TENANTS).filter(|i| *i != 1) {
        fleet.decides_as_its_own(i).await;
    }
    assert!(fleet.metric("permset_snapshot_bytes").await <= budget as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicted_workspaces_decide_reload_and_take_writes_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
    evicted_workspaces_decide_reload_and_take_writes(store).await;
}

// Multi-threaded: the blocking `psql` below must not stop the server's tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicted_workspaces_decide_reload_and_take_writes_postgres() {
    let Some(url) = common::postgres_url() else { return };
    let schema = format!("t_{:016x}", rand::random::<u64>());
    let store = Store::open_in_schema(&url, &schema).await.unwrap();
    evicted_workspaces_decide_reload_and_take_writes(store.clone()).await;
    store.close().await;
    let _ = std::process::Command::new("psql")
        .args([url.as_str(), "-q", "-c", &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
