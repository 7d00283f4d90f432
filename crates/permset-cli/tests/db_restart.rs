//! The database really goes away (issue 13): two `permset serve` processes
//! on a private PostgreSQL cluster (`common/cluster.rs`, never the shared
//! test server) take mixed traffic — record creates and reads, lists and
//! checks on both — while the cluster is restarted (`pg_ctl restart -m
//! fast`), then stopped, left down for a few seconds and started again, and
//! last frozen (SIGSTOP to its processes: connections stay open, nothing
//! answers) for longer than the server's request deadline; and last the
//! workspace row is held locked by another session (as a server frozen in
//! the middle of a model change holds it) for longer than that deadline.
//!
//! Asserted: every answer is 2xx or 503 with the JSON `unavailable` error,
//! within [`ANSWER_BOUND`] (never a hang, never a 500); while the database
//! is down or frozen requests do get those 503s (frozen, only the server's
//! the connection wait answers, 5 s); while the workspace row is held every
//! record write waits on the lock, with no timeout of its own, and only the
//! server's request deadline answers it (without the deadline this test fails:
//! the writes answer when the lock goes, after [`ANSWER_BOUND`]); both servers recover by themselves
//! (`/readyz`); B's revision listener re-subscribes and catches up (polling
//! is set to ten minutes, so only the listener brings A's change made after
//! the outage to B in time); and every acknowledged record is in the
//! database, read there directly.
//!
//! PostgreSQL only (it needs the PostgreSQL binaries and root, to run them
//! as `postgres`): without `PERMSET_TEST_POSTGRES` the test prints a SKIP
//! line, and fails when `CI` is set. Every wait is bounded.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::Server;
use serde_json::{json, Value};

/// The longest any request may take to be answered, outage or not: the
/// server's deadline and a margin for a loaded machine.
const ANSWER_BOUND: Duration = Duration::from_secs(permset_server::REQUEST_DEADLINE.as_secs() + 2);

/// How long recovery (ready again, a change arriving) may take.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

/// How long the database stays down in the stop–pause–start phase: longer
/// than a request waits for a connection (5 s), so some requests must fail.
const DOWNTIME: Duration = Duration::from_secs(8);

/// How long the database stays frozen: longer than the server's request deadline.
const FROZEN: Duration = Duration::from_secs(permset_server::REQUEST_DEADLINE.as_secs() + 3);

/// How long another session holds the workspace row: past [`ANSWER_BOUND`].
const LOCK_HELD_SECONDS: u64 = permset_server::REQUEST_DEADLINE.as_secs() + 4;

/// What the traffic saw.
#[derive(Default)]
struct Seen {
    statuses: BTreeSet<u16>,
    unavailable: u64,
    /// Answers that break the contract: a 500, a 503 without the JSON error, a hang, a lost connection.
    wrong: Vec<String>,
    acknowledged: Vec<String>,
    slowest: Duration,
}

/// One client: creates, reads back, lists and checks, on A and B in turn, until `stop`.
async fn traffic(
    client: usize,
    bases: [String; 2],
    key: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let http = reqwest::Client::builder().timeout(ANSWER_BOUND * 2).build().unwrap();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let base = &bases[n % 2];
        let id = format!("c{client}-{n}");
        let ws = format!("{base}/v1/workspaces/outage");
        let request = match n % 4 {
            0 | 1 => {
                http.post(format!("{ws}/objects/customers/records")).json(&json!({ "id": id, "name": id }))
            }
            2 => http.get(format!("{ws}/objects/customers/records?limit=5")),
            _ => {
                http.post(format!("{ws}/check")).json(&json!({ "user": "tom", "permission": "billing_view" }))
            }
        };
        let what = format!("{} #{n}", ["create", "create", "list", "check"][n % 4]);
        let started = Instant::now();
        let answer = request.bearer_auth(&key).header("x-permset-user", "olivia").send().await;
        let answer = match answer {
            Ok(resp) => {
                let status = resp.status().as_u16();
                Ok((status, resp.json::<Value>().await.unwrap_or(Value::Null)))
            }
            Err(error) => Err(error),
        };
        let took = started.elapsed();
        {
            let mut s = seen.lock().unwrap();
            s.slowest = s.slowest.max(took);
            match answer {
                Ok((status, body)) => {
                    s.statuses.insert(status);
                    match status {
                        201 => s.acknowledged.push(id),
                        200 => {}
                        503 if body["error"]["code"] == "unavailable" => s.unavailable += 1,
                        _ => s.wrong.push(format!("{what} on {base}: {status} {body}")),
                    }
                    if took > ANSWER_BOUND {
                        s.wrong.push(format!("{what} on {base}: {status} after {took:?}"));
                    }
                }
                Err(error) => s.wrong.push(format!("{what} on {base}: no answer after {took:?}: {error}")),
            }
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `base` is ready again (the database reachable, snapshots current).
async fn ready(http: &reqwest::Client, base: &str) -> Duration {
    common::ready_within(http, base, RECOVERY_BOUND).await
}

/// Tom's `billing_view` on `base`, without `at_least_revision`: (status, allowed, revision).
async fn tom_billing(http: &reqwest::Client, base: &str, key: &str) -> (u16, Option<bool>, Option<u64>) {
    let (status, allowed, body) = common::tom_billing(http, base, "outage", key, None).await;
    (status, allowed, body["revision"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_and_outage_answer_503_and_lose_no_acknowledged_write() {
    if common::postgres_url("database restart").is_none() {
        return;
    }
    let cluster = Cluster::init().unwrap();
    let database = cluster.url("postgres");
    let dir = tempfile::tempdir().unwrap();
    let key = common::first_key(&database, "outage");
    let http = reqwest::Client::builder().timeout(ANSWER_BOUND * 2).build().unwrap();
    // Polling every ten minutes: after the outage only the listener can bring B a change in time.
    let poll = [("PERMSET_POLL_INTERVAL_MS", "600000")];
    let mut server_a = Server::start(&database, dir.path(), "a", &[], &poll);
    let mut server_b = Server::start(&database, dir.path(), "b", &[], &poll);
    server_a.wait_for(&http, "/readyz").await;
    server_b.wait_for(&http, "/readyz").await;
    let (a, b) = (server_a.base.clone(), server_b.base.clone());
    common::apply(&http, &a, &key, "outage", &common::two_agents("outage")).await;
    assert_eq!(tom_billing(&http, &b, &key).await.1, Some(false));

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let clients: Vec<_> = (0..3)
        .map(|c| tokio::spawn(traffic(c, [a.clone(), b.clone()], key.clone(), stop.clone(), seen.clone())))
        .collect();
    let pause = |d| tokio::time::sleep(d);

    // A fast restart in the middle of the traffic (run off the runtime: pg_ctl waits).
    pause(Duration::from_secs(1)).await;
    let restart = cluster_op(&cluster, |c| c.restart("fast"));
    restart.unwrap_or_else(|e| panic!("{e}\n{}", cluster.log()));
    ready(&http, &a).await;
    ready(&http, &b).await;
    pause(Duration::from_secs(1)).await;

    // Stopped, left down, started: requests meanwhile are answered 503.
    let unavailable_before = seen.lock().unwrap().unavailable;
    cluster_op(&cluster, |c| c.stop("fast")).unwrap();
    pause(DOWNTIME).await;
    cluster_op(&cluster, |c| c.start()).unwrap();

    // A's change right after the outage reaches B through its re-subscribed listener.
    let revision = common::assign_billing_when_writable(&http, &a, "outage", &key, RECOVERY_BOUND).await;
    let started = Instant::now();
    loop {
        let (status, allowed, at) = tom_billing(&http, &b, &key).await;
        if status == 200 && allowed == Some(true) {
            assert_eq!(at, Some(revision));
            break;
        }
        assert!(status == 200 || status == 503, "{status}");
        assert!(started.elapsed() < RECOVERY_BOUND, "A's change after the outage never reached B");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("B caught up {:?} after A's change", started.elapsed());
    // Requests sent while it was down wait for a connection (5 s at most), so count their 503s now.
    let unavailable_during = seen.lock().unwrap().unavailable - unavailable_before;
    ready(&http, &a).await;
    ready(&http, &b).await;

    // Frozen: writes wait on open connections that never answer, until the deadline.
    let unavailable_before = seen.lock().unwrap().unavailable;
    cluster.pause().unwrap();
    pause(FROZEN).await;
    let unavailable_frozen = seen.lock().unwrap().unavailable - unavailable_before;
    cluster.resume().unwrap();
    ready(&http, &a).await;
    ready(&http, &b).await;

    // The workspace row held by a stuck session: writes queue on its lock.
    let unavailable_before = seen.lock().unwrap().unavailable;
    let hold = format!(
        "BEGIN; SELECT key FROM workspaces WHERE key = 'outage' FOR UPDATE; \
         SELECT pg_sleep({LOCK_HELD_SECONDS}); COMMIT;"
    );
    let mut holder = Command::new("psql")
        .args([database.as_str(), "-qAt", "-c", &hold])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    pause(Duration::from_secs(LOCK_HELD_SECONDS)).await;
    tokio::task::block_in_place(|| holder.wait()).unwrap();
    let unavailable_locked = seen.lock().unwrap().unavailable - unavailable_before;
    pause(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    eprintln!(
        "statuses {:?}, 503s {} ({unavailable_during} around the stop, {unavailable_frozen} frozen, {unavailable_locked} locked), acknowledged creates {}, slowest answer {:?}",
        seen.statuses,
        seen.unavailable,
        seen.acknowledged.len(),
        seen.slowest
    );
    assert!(seen.wrong.is_empty(), "answers that break the contract: {:#?}", seen.wrong);
    assert!(unavailable_during > 0, "no request was answered 503 while the database was stopped");
    assert!(unavailable_frozen > 0, "no request was answered 503 while the database was frozen");
    assert!(unavailable_locked > 0, "no write was answered 503 while the workspace row was held");
    assert!(seen.acknowledged.len() > 10, "too little traffic to tell: {}", seen.acknowledged.len());
    // Every acknowledged create is in the database, read there (not through a server).
    let stored: BTreeSet<String> =
        common::psql(&database, "SELECT id FROM records WHERE workspace = 'outage'")
            .lines()
            .map(str::to_owned)
            .collect();
    let lost: Vec<_> = seen.acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
    let stored_revision = common::psql(&database, "SELECT revision FROM workspaces WHERE key = 'outage'");
    assert_eq!(stored_revision.trim(), revision.to_string());
}

/// Runs a blocking `pg_ctl` step on a blocking thread, so the traffic keeps flowing meanwhile.
fn cluster_op(cluster: &Cluster, op: impl FnOnce(&Cluster) -> Result<(), String>) -> Result<(), String> {
    tokio::task::block_in_place(|| op(cluster))
}
