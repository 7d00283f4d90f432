//! A read replica on a real streaming standby: the harness makes one of the
//! test PostgreSQL (`pg_basebackup -R` and `pg_ctl` on a free port, as the
//! `postgres` OS user, its data in a temp dir), and `permset serve
//! --read-replica` reads records from it only when it has replayed what the
//! read needs (the cluster harness is `common/cluster.rs`): a record written through the primary is read from the
//! standby once replayed; while the standby's replay is paused the primary
//! answers (and the standby is shown to lack the record); a standby that is
//! down leaves reads to the primary. Which side answered is read from
//! `/metrics` (`permset_record_reads_total{from=…}`).
//!
//! PostgreSQL only, and the primary must accept replication connections
//! from loopback (`.ci/run` adds the `pg_hba.conf` line). Without
//! `PERMSET_TEST_POSTGRES` the test prints a SKIP line, and fails when `CI`
//! is set. Every wait is bounded.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::Server;
use serde_json::{json, Value};

const WORKSPACE: &str = r#"
workspace: rep
users:
  olivia: { kind: agent, account_owner: true }
"#;

const BOUND: Duration = Duration::from_secs(20);

/// Record reads answered by (replica, primary) so far.
async fn reads(http: &reqwest::Client, base: &str) -> (u64, u64) {
    let text = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let count = |from: &str| -> u64 {
        let prefix = format!("permset_record_reads_total{{from=\"{from}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap().parse().unwrap()
    };
    (count("replica"), count("primary"))
}

/// The ids of the customers olivia lists.
async fn listed(http: &reqwest::Client, base: &str, key: &str) -> Vec<String> {
    let resp = http
        .get(format!("{base}/v1/workspaces/rep/objects/customers/records?limit=100"))
        .bearer_auth(key)
        .header("x-permset-user", "olivia")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

async fn create(http: &reqwest::Client, base: &str, key: &str, name: &str) -> String {
    let resp = http
        .post(format!("{base}/v1/workspaces/rep/objects/customers/records"))
        .bearer_auth(key)
        .header("x-permset-user", "olivia")
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    body["record"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_the_standby_only_once_it_has_replayed_them() {
    let Some(pg) = common::postgres_url("replica") else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("replica_{:016x}", rand::random::<u64>());
    permset_store::Store::open_in_schema(&pg, &schema).await.unwrap().close().await;
    let standby = Cluster::standby_of(&pg).unwrap();
    let database_name = pg.rsplit('/').next().unwrap_or("test").split('?').next().unwrap_or("test");
    let sep = if pg.contains('?') { '&' } else { '?' };
    let options = format!("options=-c%20search_path%3D{schema}");
    let database = format!("{pg}{sep}{options}");
    let replica = format!("{}?{options}", standby.url(database_name));

    let key = common::first_key(&database, "rep");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    let mut server = Server::start(&database, dir.path(), "r", &["--read-replica", &replica], &[]);
    server.wait_for(&http, "/readyz").await;
    let base = server.base.clone();
    common::apply(&http, &base, &key, "rep", WORKSPACE).await;

    // A write through the primary is read from the standby once replayed.
    let first = create(&http, &base, &key, "First").await;
    let started = Instant::now();
    loop {
        let before = reads(&http, &base).await;
        let ids = listed(&http, &base, &key).await;
        assert!(ids.contains(&first), "a read lost an acknowledged write: {ids:?}");
        if reads(&http, &base).await.0 > before.0 {
            break;
        }
        assert!(started.elapsed() < BOUND, "the standby was never used");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Replay paused: the standby is stale, and the primary answers.
    common::psql(&standby.url(database_name), "SELECT pg_wal_replay_pause()");
    let second = create(&http, &base, &key, "Second").await;
    let before = reads(&http, &base).await;
    let ids = listed(&http, &base, &key).await;
    assert!(ids.contains(&first) && ids.contains(&second), "{ids:?}");
    let resp = http
        .get(format!("{base}/v1/workspaces/rep/objects/customers/records/{second}"))
        .bearer_auth(&key)
        .header("x-permset-user", "olivia")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let after = reads(&http, &base).await;
    assert_eq!(after.0, before.0, "a stale standby answered");
    assert_eq!(after.1, before.1 + 2, "the primary answered both reads");
    let on_standby = common::psql(
        &format!("{}?{options}", standby.url(database_name)),
        &format!("SELECT count(*) FROM records WHERE workspace = 'rep' AND id = '{second}'"),
    );
    assert_eq!(on_standby, "0", "the standby should not have the second record yet");

    // Replay resumed: the standby serves again, with the second record.
    common::psql(&standby.url(database_name), "SELECT pg_wal_replay_resume()");
    let started = Instant::now();
    loop {
        let before = reads(&http, &base).await;
        let ids = listed(&http, &base, &key).await;
        assert!(ids.contains(&second), "{ids:?}");
        if reads(&http, &base).await.0 > before.0 {
            break;
        }
        assert!(started.elapsed() < BOUND, "the standby was not used again after replay resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The standby down: reads go to the primary, promptly.
    standby.stop("immediate").unwrap();
    let before = reads(&http, &base).await;
    let started = Instant::now();
    let ids = listed(&http, &base, &key).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a down standby delayed a read {:?}",
        started.elapsed()
    );
    assert!(ids.contains(&first) && ids.contains(&second), "{ids:?}");
    let after = reads(&http, &base).await;
    assert_eq!((after.0, after.1), (before.0, before.1 + 1));
    drop(server);
    common::psql(&pg, &format!("DROP SCHEMA \"{schema}\" CASCADE"));
}
