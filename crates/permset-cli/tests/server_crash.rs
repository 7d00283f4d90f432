//! Durability of the HTTP API under SIGKILL: the real `permset serve` over a
//! SQLite file takes a stream of record creates from a few concurrent
//! writers; the test kills it (SIGKILL) while requests are in flight,
//! restarts it on the same file and checks that every acknowledged (201)
//! record is there, whole, and that nothing else but writes still in flight
//! at the kill landed. Every loop is bounded in count and time.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{json, Value};

const WORKSPACE: &str = r#"
workspace: w
objects:
  notes:
    fields:
      title: string
      seq: number
      body: string
users:
  olivia: { kind: agent, account_owner: true }
"#;

const WRITERS: usize = 4;
const ACKS_BEFORE_KILL: usize = 100;
const MAX_WRITES_PER_WRITER: usize = 5_000;
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// The record a writer sends for `(writer, seq)`: deterministic, so a half-written one shows.
fn note(writer: usize, seq: usize) -> Value {
    json!({
        "id": format!("n{writer}_{seq:05}"),
        "title": format!("note {writer}/{seq}"),
        "seq": seq,
        "body": format!("{writer}:{seq}:{}", "x".repeat(2000 + (seq % 7) * 300)),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_api_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("db.sqlite").display());

    let key = common::first_key(&database, "w");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut server = Server::start(&database, dir.path(), "serve0", &[], &[]);
    server.wait_for(&http, "/healthz").await;
    let base = server.base.clone();
    common::apply(&http, &base, &key, "w", WORKSPACE).await;
    let revision = |body: &Value| body["revision"].as_u64().unwrap();
    let schema = http
        .get(format!("{base}/v1/workspaces/w/schema"))
        .bearer_auth(&key)
        .header("x-permset-user", "olivia")
        .send()
        .await
        .unwrap();
    let revision_before = revision(&schema.json::<Value>().await.unwrap());

    // Concurrent writers; each remembers what was acknowledged and what was only sent.
    let acked = Arc::new(Mutex::new(Vec::<(usize, usize)>::new()));
    let sent = Arc::new(Mutex::new(HashSet::<(usize, usize)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        let (acked, sent, stop) = (Arc::clone(&acked), Arc::clone(&sent), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut failures = 0;
            for seq in 0..MAX_WRITES_PER_WRITER {
                if stop.load(Ordering::Relaxed) || started.elapsed() > TIME_LIMIT || failures >= 3 {
                    break;
                }
                sent.lock().unwrap().insert((writer, seq));
                let resp = http
                    .post(format!("{base}/v1/workspaces/w/objects/notes/records"))
                    .bearer_auth(&key)
                    .header("x-permset-user", "olivia")
                    .json(&note(writer, seq))
                    .send()
                    .await;
                match resp {
                    Ok(resp) if resp.status() == 201 => {
                        // Acknowledged only once the whole answer is read.
                        if resp.bytes().await.is_ok() {
                            acked.lock().unwrap().push((writer, seq));
                        }
                    }
                    Ok(resp) => panic!("write {writer}/{seq} answered {}", resp.status()),
                    Err(_) => failures += 1, // the server is gone
                }
            }
        }));
    }

    // SIGKILL while the writers still have requests in flight.
    loop {
        let count = acked.lock().unwrap().len();
        if count >= ACKS_BEFORE_KILL {
            break;
        }
        assert!(started.elapsed() < TIME_LIMIT, "only {count} writes acknowledged in {TIME_LIMIT:?}");
        assert!(!writers.iter().all(|w| w.is_finished()), "the writers stopped early");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.child.kill().unwrap(); // SIGKILL on Unix
    server.child.wait().unwrap();
    let acked_at_kill = acked.lock().unwrap().len();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(30), writer).await.expect("a writer hung").unwrap();
    }
    let acked: Vec<(usize, usize)> = acked.lock().unwrap().clone();
    let sent: HashSet<(usize, usize)> = sent.lock().unwrap().clone();
    assert!(acked.len() >= ACKS_BEFORE_KILL);
    assert!(acked.len() <= acked_at_kill + WRITERS, "acknowledged after the kill");
    drop(server);

    // Restart on the same file: every acknowledged record is there, whole.
    let mut server = Server::start(&database, dir.path(), "serve1", &[], &[]);
    server.wait_for(&http, "/healthz").await;
    let base = server.base.clone();
    let get = |path: String| {
        http.get(format!("{base}/v1/workspaces/w/{path}"))
            .bearer_auth(&key)
            .header("x-permset-user", "olivia")
            .send()
    };
    for &(writer, seq) in &acked {
        let expected = note(writer, seq);
        let id = expected["id"].as_str().unwrap();
        let resp = get(format!("objects/notes/records/{id}")).await.unwrap();
        assert_eq!(resp.status(), 200, "acknowledged record `{id}` is lost");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["record"], expected, "record `{id}` is half written");
    }
    // Nothing else landed but writes in flight at the kill, and none of those half written.
    let acked_ids: HashSet<String> =
        acked.iter().map(|&(w, s)| note(w, s)["id"].as_str().unwrap().to_owned()).collect();
    let mut seen = 0;
    let mut after = String::new();
    for _page in 0..100 {
        let body: Value =
            get(format!("objects/notes/records?limit=1000{after}")).await.unwrap().json().await.unwrap();
        for record in body["records"].as_array().unwrap() {
            seen += 1;
            let id = record["id"].as_str().unwrap();
            if acked_ids.contains(id) {
                continue;
            }
            let (writer, seq) = id[1..].split_once('_').unwrap();
            let (writer, seq): (usize, usize) = (writer.parse().unwrap(), seq.parse().unwrap());
            assert!(sent.contains(&(writer, seq)), "record `{id}` was never sent");
            assert_eq!(record, &note(writer, seq), "unacknowledged record `{id}` is half written");
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => after = format!("&after={cursor}"),
            None => break,
        }
    }
    eprintln!("{} acknowledged, {} sent, {seen} stored after the restart", acked.len(), sent.len());
    assert!(seen >= acked.len(), "{seen} records for {} acknowledged", acked.len());
    assert!(
        seen <= acked.len() + WRITERS,
        "{seen} records but {} acknowledged and {WRITERS} writers",
        acked.len()
    );
    // Record writes do not move the model; the audit chain is intact.
    let schema: Value = get("schema".into()).await.unwrap().json().await.unwrap();
    assert_eq!(revision(&schema), revision_before);
    let verify: Value = get("audit/verify".into()).await.unwrap().json().await.unwrap();
    assert!(verify["first_broken"].is_null(), "{verify}");
    // And the restarted server takes writes again.
    let resp = http
        .post(format!("{base}/v1/workspaces/w/objects/notes/records"))
        .bearer_auth(&key)
        .header("x-permset-user", "olivia")
        .json(&note(9, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}
