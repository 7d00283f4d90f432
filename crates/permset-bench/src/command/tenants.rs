//! `permset-bench tenants`: many workspaces on one server under a snapshot
//! memory budget (issue 13; docs/SCALING.md).
//!
//! The store (a SQLite file on tmpfs when `/dev/shm` exists, or a fresh
//! PostgreSQL schema with `--postgres URL`) gets `--tenants` workspaces,
//! each a small generated support workspace (`--users` users, 3 teams, 5
//! custom roles beside the system ones) with a service key. The server runs
//! in this process (`serve_with`, 2-thread runtime) with
//! `snapshot_memory = --budget-mb`. Then, over HTTP from a 1-thread client
//! runtime, one request at a time:
//!
//! - **cold**: the first check of every workspace, in a shuffled order: the
//!   request loads and compiles the workspace (and, once the budget is
//!   full, evicts the least recently used);
//! - **warm**: a second check right after, on a sample of them: the
//!   snapshot is loaded;
//! - **reload**: a check of a workspace evicted since (sampled from the
//!   first ones touched, long evicted once the budget is full).
//!
//! It reports each latency's median and p99, the registry's figures from
//! `/metrics` (loaded, estimated bytes, loads, evictions) and the process's
//! RSS before the server loads anything and at the end (`VmRSS`; `VmHWM`
//! includes populating the store). Latencies include the HTTP round trip
//! over loopback and the key lookup.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use permset_bench::model_with;
use permset_bench::timing::summarize;
use permset_store::{KeySpec, Store};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::process::{mib, status_bytes};
use super::serving::serve_in;

/// Options of `tenants`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// 1,000 workspaces instead of `--tenants`.
    #[arg(long)]
    quick: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Workspaces on the server.
    #[arg(long, default_value_t = 10_000)]
    tenants: usize,
    /// Users per workspace.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// The server's snapshot memory budget in MiB (0: none).
    #[arg(long, default_value_t = 64)]
    budget_mb: usize,
    /// Warm and reload checks sampled.
    #[arg(long, default_value_t = 500)]
    sample: usize,
    /// A PostgreSQL database (a fresh schema is made and dropped) instead of SQLite.
    #[arg(long)]
    postgres: Option<String>,
    /// Seed of the generator and of the order.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// One workspace as the client sees it.
struct Tenant {
    key: String,
    secret: String,
    body: Value,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let tenants = if args.quick { 1_000 } else { args.tenants };
    if tenants == 0 {
        bail!("--tenants must be at least 1");
    }
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()?;
    let shm = std::path::Path::new("/dev/shm");
    let dir =
        if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.context("temp dir")?;
    let schema = format!("bench_tenants_{}", std::process::id());
    let store = server_rt.block_on(async {
        match &args.postgres {
            Some(url) => Store::open_in_schema(url, &schema).await,
            None => Store::open(&format!("sqlite://{}", dir.path().join("tenants.db").display())).await,
        }
    })?;

    // The workspaces: one generated model, renamed per workspace (each
    // compiled on its own at load, so sharing the text costs nothing).
    let t = Instant::now();
    let mut model = model_with(args.seed, args.users, 3, 5);
    let user = model.users.keys().next().cloned().context("the generated model has no user")?;
    let mut list = Vec::with_capacity(tenants);
    for i in 0..tenants {
        let key = format!("t{i:05}");
        model.workspace = key.clone();
        let secret = server_rt.block_on(async {
            store.create_workspace(&key, "bench").await?;
            store.apply(&key, "bench", &model, "", false).await?;
            let spec = KeySpec { label: "bench".into(), ..KeySpec::default() };
            anyhow::Ok(store.create_key(&key, "bench", spec).await?.1)
        })?;
        let body = json!({ "user": user, "permission": "customers_view" });
        list.push(Tenant { key, secret, body });
        if (i + 1) % 1_000 == 0 {
            eprintln!("store: {} workspaces ({:.1?})", i + 1, t.elapsed());
        }
    }
    let one = server_rt.block_on(store.snapshot(&list[0].key))?.approx_heap_bytes();
    eprintln!(
        "store: {tenants} workspaces of {} users ready ({:.1?}); one snapshot ≈ {one} B",
        args.users,
        t.elapsed()
    );

    // What a server restart pays before it serves: opening the store
    // (migrations, and the list-filter indexes of every workspace).
    let t = Instant::now();
    let reopened = server_rt.block_on(async {
        match &args.postgres {
            Some(url) => Store::open_in_schema(url, &schema).await,
            None => Store::open(&format!("sqlite://{}", dir.path().join("tenants.db").display())).await,
        }
    })?;
    let open_for = t.elapsed();
    server_rt.block_on(reopened.close());
    eprintln!("store: reopened in {open_for:.1?}");

    let rss_before = status_bytes("VmRSS")?;
    let options = permset_server::ServeOptions {
        snapshot_memory: (args.budget_mb > 0).then_some(args.budget_mb << 20),
        usage: permset_server::UsageSettings { enabled: false, ..Default::default() },
        ..Default::default()
    };
    let serving = store.clone();
    let addr = serve_in(&server_rt, serving, options, Duration::from_secs(60))?;
    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let http = reqwest::Client::builder().tcp_nodelay(true).timeout(Duration::from_secs(30)).build()?;
    let base = format!("http://{addr}");
    let check = |tenant: &Tenant| -> Result<f64> {
        client_rt.block_on(async {
            let start = Instant::now();
            let resp = http
                .post(format!("{base}/v1/workspaces/{}/check", tenant.key))
                .bearer_auth(&tenant.secret)
                .json(&tenant.body)
                .send()
                .await?;
            let status = resp.status();
            let answer: Value = resp.json().await?;
            let elapsed = start.elapsed().as_nanos() as f64;
            if !status.is_success() || answer["allowed"].as_bool().is_none() {
                bail!("{}: {status} {answer}", tenant.key);
            }
            Ok(elapsed)
        })
    };

    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut order: Vec<usize> = (0..tenants).collect();
    order.shuffle(&mut rng);
    eprintln!("cold: the first check of each of {tenants} workspaces ...");
    let sample = args.sample.min(tenants).max(1);
    let mut cold = Vec::with_capacity(tenants);
    let mut warm = Vec::with_capacity(sample);
    let every = (tenants / sample).max(1);
    let t = Instant::now();
    for (n, &i) in order.iter().enumerate() {
        cold.push(check(&list[i])?);
        if n % every == 0 {
            warm.push(check(&list[i])?);
        }
    }
    let cold_for = t.elapsed();
    // The first touched are the least recently used: with a budget they are long evicted.
    eprintln!("reload: {sample} workspaces touched first ...");
    let reload: Vec<f64> = order.iter().take(sample).map(|&i| check(&list[i])).collect::<Result<_>>()?;

    let metrics =
        client_rt.block_on(async { http.get(format!("{base}/metrics")).send().await?.text().await })?;
    let metric = |name: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.split(' ').next() == Some(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let rss_after = status_bytes("VmRSS")?;
    let hwm = status_bytes("VmHWM")?;
    let row = |case: &str, samples: Vec<f64>| {
        let n = samples.len() as u64;
        let stats = summarize(samples, n, 1);
        json!({ "mode": "tenants", "case": case, "median_us": (stats.median_ns / 1e3 * 10.0).round() / 10.0,
                "p99_us": (stats.p99_ns / 1e3 * 10.0).round() / 10.0, "n": n })
    };
    let rows =
        [row("cold_first_decision", cold), row("warm_decision", warm), row("reload_after_eviction", reload)];
    let summary = json!({
        "mode": "tenants", "case": "memory", "tenants": tenants, "users_per_tenant": args.users,
        "backend": if args.postgres.is_some() { "postgres" } else { "sqlite" },
        "budget_mib": args.budget_mb, "snapshot_estimate_bytes": one,
        "loaded": metric("permset_snapshots_loaded"), "snapshot_mib": (mib(metric("permset_snapshot_bytes")) * 10.0).round() / 10.0,
        "loads": metric("permset_snapshot_loads_total"), "evictions": metric("permset_snapshot_evictions_total"),
        "rss_before_mib": mib(rss_before).round(), "rss_after_mib": mib(rss_after).round(), "hwm_mib": mib(hwm).round(),
        "cold_pass_s": (cold_for.as_secs_f64() * 10.0).round() / 10.0,
        "store_open_s": (open_for.as_secs_f64() * 100.0).round() / 100.0,
    });
    if args.json {
        for r in rows.iter().chain([&summary]) {
            println!("{r}");
        }
    } else {
        println!("{:<24} {:>10} {:>10} {:>8}", "case", "median µs", "p99 µs", "n");
        for r in &rows {
            println!(
                "{:<24} {:>10} {:>10} {:>8}",
                r["case"].as_str().unwrap_or(""),
                r["median_us"],
                r["p99_us"],
                r["n"]
            );
        }
        println!("{summary}");
    }
    drop(server_rt);
    if let Some(url) = &args.postgres {
        // Best effort, through `psql` (the bench has no SQL driver of its own).
        let _ = std::process::Command::new("psql")
            .args([url.as_str(), "-q", "-c", &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    Ok(())
}
