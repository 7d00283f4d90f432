//! Two real `permset serve` processes over one PostgreSQL (DESIGN.md §5):
//! a change made through one is pushed to the other by LISTEN/NOTIFY (polling
//! is turned down to ten minutes here, so only the notification can deliver
//! it), `at_least_revision` gives read-your-writes across them, and when
//! every permset connection is terminated (`pg_terminate_backend`) the
//! servers answer 503 with the JSON error body or succeed, never hang or
//! 500, recover by themselves, and the listener re-subscribes.
//!
//! PostgreSQL only: without `PERMSET_TEST_POSTGRES` the test prints a SKIP
//! line, and fails when `CI` is set. Every wait is bounded.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::Server;
use serde_json::{json, Value};

/// How long a change may take to reach the other server (generous: the figure is the benchmark's).
const ARRIVAL_BOUND: Duration = Duration::from_secs(10);

/// `common::tom_billing` in this test's workspace.
async fn tom_billing(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    at_least: Option<u64>,
) -> (u16, Option<bool>, Value) {
    common::tom_billing(http, base, "fleet", key, at_least).await
}

async fn assign(http: &reqwest::Client, base: &str, key: &str, role: &str, method: reqwest::Method) -> u64 {
    let resp = http
        .request(method, format!("{base}/v1/workspaces/fleet/assignments"))
        .bearer_auth(key)
        .json(&json!({ "user": "tom", "role": role }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["revision"].as_u64().unwrap()
}

/// Waits until B answers `want` for tom's billing_view without `at_least_revision`.
async fn arrives(http: &reqwest::Client, base: &str, key: &str, want: bool) -> Duration {
    let started = Instant::now();
    loop {
        let (status, allowed, body) = tom_billing(http, base, key, None).await;
        if status == 200 && allowed == Some(want) {
            return started.elapsed();
        }
        assert!(status == 200 || status == 503, "unexpected {status}: {body}");
        assert!(started.elapsed() < ARRIVAL_BOUND, "the change did not reach the other server: {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_one_truth_through_notifications_and_a_connection_massacre() {
    let Some(pg) = common::postgres_url("fleet") else { return };
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("fleet_{:016x}", rand::random::<u64>());
    // The servers' tables live in their own schema; their connections carry
    // an application name so that only they are terminated below.
    permset_store::Store::open_in_schema(&pg, &schema).await.unwrap().close().await;
    let sep = if pg.contains('?') { '&' } else { '?' };
    let database = format!("{pg}{sep}options=-c%20search_path%3D{schema}&application_name={schema}");

    let key = common::first_key(&database, "fleet");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    // Polling every ten minutes: only the notification can bring a change within the bound.
    let poll = [("PERMSET_POLL_INTERVAL_MS", "600000")];
    let mut server_a = Server::start(&database, dir.path(), "a", &[], &poll);
    let mut server_b = Server::start(&database, dir.path(), "b", &[], &poll);
    server_a.wait_for(&http, "/readyz").await;
    server_b.wait_for(&http, "/readyz").await;
    let (a, b) = (server_a.base.clone(), server_b.base.clone());
    common::apply(&http, &a, &key, "fleet", &common::two_agents("fleet")).await;
    // B loads the workspace, then learns of A's change by notification only.
    let (_, allowed, _) = tom_billing(&http, &b, &key, None).await;
    assert_eq!(allowed, Some(false));
    assign(&http, &a, &key, "billing", reqwest::Method::POST).await;
    let delay = arrives(&http, &b, &key, true).await;
    eprintln!("notification delay: {delay:?}");

    // Read-your-writes: the next decision on B that carries the revision sees the change at once.
    let revision = assign(&http, &a, &key, "billing", reqwest::Method::DELETE).await;
    let (status, allowed, body) = tom_billing(&http, &b, &key, Some(revision)).await;
    assert_eq!((status, allowed), (200, Some(false)), "{body}");
    assert_eq!(body["revision"].as_u64(), Some(revision));

    // Every connection of both servers terminated, twice, while requests flow.
    for _ in 0..2 {
        common::psql(
            &pg,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
            ),
        );
        for base in [&a, &b] {
            let (status, _, body) = tom_billing(&http, base, &key, None).await;
            assert!(status == 200 || status == 503, "{status}: {body}");
            if status == 503 {
                assert_eq!(body["error"]["code"], "unavailable", "{body}");
            }
        }
    }
    // Both recover by themselves; B's listener re-subscribed: A's next change reaches it.
    common::ready_within(&http, &a, ARRIVAL_BOUND).await;
    let revision = common::assign_billing_when_writable(&http, &a, "fleet", &key, ARRIVAL_BOUND).await;
    arrives(&http, &b, &key, true).await;
    // Nothing acknowledged was lost: the stored revision is the one acknowledged.
    let (_, _, body) = tom_billing(&http, &b, &key, Some(revision)).await;
    assert_eq!(body["revision"].as_u64(), Some(revision), "{body}");
    common::psql(&pg, &format!("DROP SCHEMA \"{schema}\" CASCADE"));
}
