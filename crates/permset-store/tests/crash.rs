//! Durability and atomicity under SIGKILL: a child process (this test
//! executable, re-run as `crash_writer_child`) writes records and model
//! changes and prints each acknowledged one; the parent kills it mid-stream,
//! reopens the SQLite file and checks that every acknowledged write is
//! there and that nothing is half applied (every record complete, the
//! revision and the audit chain in step).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::model;
use permset_core::Record;
use permset_store::{ListQuery, Store};
use serde_json::{json, Value};

const CHILD_ENV: &str = "PERMSET_CRASH_CHILD_DB";

const WORKSPACE: &str = r#"
workspace: acme
objects:
  notes:
    fields:
      title: string
      seq: number
      body: string
users:
  olivia: { account_owner: true }
"#;

/// The writer. A no-op unless the parent set `PERMSET_CRASH_CHILD_DB`.
#[tokio::test]
async fn crash_writer_child() {
    let Ok(url) = std::env::var(CHILD_ENV) else { return };
    let store = Store::open(&url).await.unwrap();
    for i in 0u64.. {
        if i % 5 == 4 {
            let change =
                permset_core::ModelChange::PutTeam { team: format!("team{i}"), def: Default::default() };
            let revision = store
                .change_as_operator("acme", "olivia", &format!("step {i}"), &change)
                .await
                .unwrap()
                .plan
                .to_revision
                .unwrap();
            println!("model {revision}");
            continue;
        }
        let snapshot = store.snapshot("acme").await.unwrap();
        let body = "x".repeat(2000 + (i as usize % 7) * 100);
        let fields = json!({"id": format!("n{i:06}"), "title": format!("note {i}"), "seq": i, "body": body});
        let Value::Object(fields) = fields else { unreachable!() };
        let record = store.create_record(&snapshot, "olivia", "notes", fields, Utc::now()).await.unwrap();
        println!("ack {}", record["id"].as_str().unwrap());
    }
}

#[tokio::test]
async fn sigkill_mid_stream_loses_no_acknowledged_write() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    {
        let store = Store::open(&url).await.unwrap();
        store.create_workspace("acme", "olivia").await.unwrap();
        store.apply("acme", "olivia", &model(WORKSPACE), "setup", false).await.unwrap();
        store.close().await;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_writer_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (mut acked, mut last_revision) = (Vec::new(), 2u64);
    let started = Instant::now();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.to_owned());
        } else if let Some(revision) = line.strip_prefix("model ") {
            last_revision = revision.parse().unwrap();
        }
        if acked.len() >= 60 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(acked.len() >= 60, "the writer acknowledged only {} writes", acked.len());

    let store = Store::open(&url).await.unwrap();
    let snapshot = store.snapshot("acme").await.unwrap();
    let query = ListQuery { limit: Some(1000), ..ListQuery::default() };
    let records = store.list_records(&snapshot, "olivia", "notes", &query, Utc::now()).await.unwrap().records;
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for id in &acked {
        assert!(ids.contains(&id.as_str()), "acknowledged write `{id}` is lost");
    }
    // At most the one write in flight may have landed unacknowledged.
    assert!(records.len() <= acked.len() + 1, "{} records for {} acks", records.len(), acked.len());
    for r in &records {
        let seq = r["seq"].as_u64().unwrap();
        let expected: Record = serde_json::from_value(json!({
            "id": format!("n{seq:06}"), "title": format!("note {seq}"), "seq": seq,
            "body": "x".repeat(2000 + (seq as usize % 7) * 100),
        }))
        .unwrap();
        assert_eq!(r, &expected, "record half written");
    }
    // Model changes: the revision, the model and the audit chain agree.
    let revision = snapshot.revision();
    assert!(revision >= last_revision, "acknowledged model change lost");
    let teams = snapshot.model().teams.len() as u64;
    assert_eq!(revision, 2 + teams, "revision and model disagree");
    let report = store.verify("acme").await.unwrap();
    assert_eq!(report.first_broken, None);
    assert_eq!(report.entries, revision, "one audit entry per revision");
    store.close().await;
}
