//! `permset-bench propagation`: how long a change acknowledged by one
//! `permset serve` takes to be in force on another over the same PostgreSQL
//! (issue 13), pushed by LISTEN/NOTIFY alone.
//!
//! Two real servers (the soak's process harness) on a fresh schema of
//! `--database` (dropped afterwards; the database is never restarted), both
//! polling only every ten minutes so that nothing but the notification can
//! bring a change in time. Each round toggles one assignment through server
//! A (`POST`/`DELETE /assignments`, which answers with the new revision),
//! then asks server B the same check, without `at_least_revision`, until
//! it answers at that revision or later. The delay is from A's answer to
//! B's first answer at the new revision: it includes B reloading its
//! snapshot, and is bounded below by one check's round trip (the
//! resolution). Prints the median, p99 and maximum, or one JSON line.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use permset_core::load_workspace_file;
use permset_store::{KeySpec, Store};
use serde_json::{json, Value};

use super::soak::{permset_binary, psql, workspace_file, Server};
use permset_bench::timing::summarize;

/// Options of `propagation`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Changes made through server A (each one measured on server B).
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// The PostgreSQL database (a fresh schema is made in it and dropped after).
    #[arg(long, env = "PERMSET_TEST_POSTGRES", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database: String,
    /// The `permset` binary (default: next to this one).
    #[arg(long)]
    permset: Option<PathBuf>,
    /// One JSON line instead of text.
    #[arg(long)]
    json: bool,
}

const WORKSPACE: &str = "soak";

/// Longer than any change should take to arrive: a round that waits this
/// long fails the run rather than reporting a fallback poll as a push.
const GIVE_UP: Duration = Duration::from_secs(10);

pub(crate) fn run(args: &Args) -> Result<()> {
    if args.changes == 0 || args.changes > 100_000 {
        bail!("--changes must be 1 to 100000");
    }
    let binary = permset_binary(args.permset.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let schema = format!("propagation_{:016x}", rand::random::<u64>());
        let store = Store::open_in_schema(&args.database, &schema).await.context("opening a fresh schema")?;
        let result = measure(args, &binary, &store, &schema).await;
        store.close().await;
        let _ = psql(&args.database, &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
        result
    })
}

async fn measure(args: &Args, binary: &std::path::Path, store: &Store, schema: &str) -> Result<()> {
    let (model, _) =
        load_workspace_file(&workspace_file(1)).map_err(|e| anyhow::anyhow!("workspace: {e:?}"))?;
    store.create_workspace(WORKSPACE, "olivia").await?;
    store.apply(WORKSPACE, "olivia", &model, "propagation workspace", false).await?;
    let spec = KeySpec { user: None, role: None, label: "propagation".into(), expires_at: None };
    let (_, key) = store.create_key(WORKSPACE, "olivia", spec).await?;

    let sep = if args.database.contains('?') { '&' } else { '?' };
    let database = format!("{}{sep}options=-c%20search_path%3D{schema}", args.database);
    let dir = tempfile::tempdir()?;
    // Polling every ten minutes: only the notification can bring a change within GIVE_UP.
    let poll = ["--poll-interval-ms", "600000"];
    let mut a = Server::start("a", binary, &database, dir.path(), &poll)?;
    let mut b = Server::start("b", binary, &database, dir.path(), &poll)?;
    let http = reqwest::Client::builder().tcp_nodelay(true).timeout(GIVE_UP).build()?;
    a.ready(&http).await?;
    b.ready(&http).await?;
    let url = |server: &Server, path: &str| format!("{}/v1/workspaces/{WORKSPACE}{path}", server.base());
    let check = json!({ "user": "agent0", "permission": "billing_view" });
    let ask_b = || http.post(url(&b, "/check")).bearer_auth(&key).json(&check).send();
    // B loads the workspace before the first change, as a serving replica would have.
    ask_b().await?.error_for_status()?;

    let mut delays = Vec::with_capacity(args.changes);
    let mut probes = 0u64;
    for round in 0..args.changes {
        let method = if round % 2 == 0 { reqwest::Method::POST } else { reqwest::Method::DELETE };
        let change = json!({ "user": "agent0", "role": "billing" });
        let answer: Value = http
            .request(method, url(&a, "/assignments"))
            .bearer_auth(&key)
            .json(&change)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let acknowledged = Instant::now();
        let revision = answer["revision"].as_u64().context("an assignment answers with its revision")?;
        loop {
            let seen: Value = ask_b().await?.error_for_status()?.json().await?;
            probes += 1;
            if seen["revision"].as_u64().is_some_and(|r| r >= revision) {
                delays.push(acknowledged.elapsed().as_nanos() as f64);
                break;
            }
            if acknowledged.elapsed() > GIVE_UP {
                bail!("round {round}: server B still below revision {revision} after {GIVE_UP:?}");
            }
        }
    }
    let max_ms = delays.iter().copied().fold(0.0, f64::max) / 1e6;
    let stats = summarize(delays, args.changes as u64, 1);
    let (median_ms, p99_ms) = (stats.median_ns / 1e6, stats.p99_ns / 1e6);
    if args.json {
        println!(
            "{}",
            json!({ "mode": "propagation", "changes": args.changes, "median_ms": median_ms,
                    "p99_ms": p99_ms, "max_ms": max_ms, "probes": probes })
        );
    } else {
        println!(
            "propagation over LISTEN/NOTIFY, {} changes through A seen on B: median {median_ms:.2} ms, \
             p99 {p99_ms:.2} ms, max {max_ms:.2} ms ({probes} checks on B)",
            args.changes
        );
    }
    Ok(())
}
