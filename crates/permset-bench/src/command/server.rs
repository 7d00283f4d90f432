//! `permset-bench server`: decisions through the HTTP server, over loopback.
//!
//! The server runs in this process (`permset_server::serve` on
//! 127.0.0.1:0, over a SQLite temp file, in its own 2-thread tokio
//! runtime), loaded with the benchmark workspace through the store (create
//! the workspace, `apply` the generated model, create a service key). A
//! bounded load generator in a second runtime drives it with reqwest
//! (keep-alive connections, a fixed number of concurrent tasks, a request
//! budget and a time cap):
//!
//! - **batch throughput**: `clients` tasks each post batches of `batch`
//!   requests (cut from the workload's request mix, `user` in every request)
//!   to `POST …/check/batch` back to back; decisions/s over the whole phase,
//!   the process's CPU time per decision over it (server and load generator
//!   together: a figure to compare builds or settings, such as usage on and
//!   off, on a machine whose other tenants swing the throughput), and the
//!   median and p99 of the batch round trip.
//! - **check latency**: single `POST …/check` sent open-loop at a fixed rate
//!   (a scheduler thread hands each request to the runtime at its scheduled
//!   instant, whether or not earlier ones have answered) while `background`
//!   tasks keep posting batches; each latency runs from the request's
//!   scheduled instant to its answer, so a stalled server is charged for
//!   the queue it builds (no coordinated omission).
//!
//! The load generator shares the machine's cores with the server, so the
//! figures are a lower bound of what the server does alone.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::Utc;
use permset_bench::timing::{summarize, Stats};
use permset_bench::{workload_with, BenchRequest, Workload};
use permset_core::{Request, Snapshot};
use permset_store::{KeySpec, Store};
use serde_json::{json, Value};

use super::process::cpu_time;
use super::serving::serve_in;

/// Options of `server`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A short run (under a minute) for a quick look.
    #[arg(long)]
    quick: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Users in the generated workspace.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Requests per `check/batch` call.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Concurrent batch clients in the throughput phase.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Single checks per second in the latency phase (open loop).
    #[arg(long, default_value_t = 2_000)]
    rate: u32,
    /// Concurrent batch clients kept busy during the latency phase.
    #[arg(long, default_value_t = 1)]
    background: usize,
    /// Serve with usage counting off (to measure what counting costs).
    #[arg(long)]
    no_usage: bool,
    /// Seconds between usage flushes (a long one leaves only the per-decision cost in the run).
    #[arg(long, default_value_t = 5)]
    usage_flush_seconds: u64,
    /// Post exactly this many batches in the throughput phase, with no time
    /// cap: a fixed amount of work, for counting instructions under
    /// `valgrind --tool=callgrind` (where the time caps would cut the phase short).
    #[arg(long)]
    batches: Option<usize>,
    /// Seconds of the latency phase (0 skips it).
    #[arg(long)]
    latency_seconds: Option<u64>,
}

const WORKSPACE: &str = "bench";

struct Plan {
    /// Batches posted in the throughput phase (at most).
    batches: usize,
    /// Time cap of the throughput phase.
    throughput_cap: Duration,
    /// Length of the latency phase.
    latency_for: Duration,
    /// Warm-up batches (also checked against the in-process engine).
    warmup: usize,
}

struct Row {
    case: &'static str,
    stats: Stats,
    extra: Value,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let mut plan = if args.quick {
        Plan {
            batches: 400,
            throughput_cap: Duration::from_secs(8),
            latency_for: Duration::from_secs(4),
            warmup: 10,
        }
    } else {
        Plan {
            batches: 4_000,
            throughput_cap: Duration::from_secs(40),
            latency_for: Duration::from_secs(15),
            warmup: 40,
        }
    };
    if let Some(batches) = args.batches {
        plan.batches = batches;
        plan.throughput_cap = Duration::from_secs(24 * 3600);
    }
    if let Some(seconds) = args.latency_seconds {
        plan.latency_for = Duration::from_secs(seconds);
    }
    if args.batch == 0 || args.batch > 10_000 {
        bail!("--batch must be 1 to 10000 (the server's limit)");
    }
    let t = Instant::now();
    let w = workload_with(args.seed, args.users, (args.batch * 20).max(20_000));
    eprintln!("workload: {} users, {} requests ({:.1?})", w.model.users.len(), w.requests.len(), t.elapsed());

    // The server, its store and its runtime.
    let dir = tempfile::tempdir().context("temp dir")?;
    let url = format!("sqlite://{}", dir.path().join("permset.db").display());
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()?;
    let t = Instant::now();
    let (store, secret) = server_rt.block_on(async {
        let store = Store::open(&url).await?;
        store.create_workspace(WORKSPACE, "bench").await?;
        store.apply(WORKSPACE, "bench", &w.model, "benchmark workload", false).await?;
        let spec = KeySpec { user: None, role: None, label: "bench".into(), expires_at: None };
        let (_, secret) = store.create_key(WORKSPACE, "bench", spec).await?;
        anyhow::Ok((store, secret))
    })?;
    let snapshot = server_rt.block_on(store.snapshot(WORKSPACE))?;
    eprintln!("store: workspace applied, service key created ({:.1?})", t.elapsed());
    let serving = store.clone();
    let options = permset_server::ServeOptions {
        usage: permset_server::UsageSettings {
            enabled: !args.no_usage,
            flush_every: Duration::from_secs(args.usage_flush_seconds.max(1)),
            ..Default::default()
        },
        ..Default::default()
    };
    let addr = serve_in(&server_rt, serving, options, Duration::from_secs(30))?;
    eprintln!("server: listening on {addr}");

    let bodies = Bodies::new(&w, args.batch)?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("client")
        .enable_all()
        .build()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let target = Target {
        http,
        batch_url: format!("http://{addr}/v1/workspaces/{WORKSPACE}/check/batch"),
        check_url: format!("http://{addr}/v1/workspaces/{WORKSPACE}/check"),
        auth: format!("Bearer {secret}"),
    };

    eprintln!("warm-up: {} batches, answers checked against the engine in process ...", plan.warmup);
    client_rt.block_on(verify(&target, &bodies, &w, &snapshot, plan.warmup))?;

    eprintln!(
        "timing batch throughput: {} clients, batches of {}, up to {} batches or {:?} ...",
        args.clients, args.batch, plan.batches, plan.throughput_cap
    );
    let cpu_before = cpu_time()?;
    let throughput = client_rt.block_on(batch_load(
        &target,
        &bodies,
        args.clients.max(1),
        Some(plan.batches),
        Instant::now() + plan.throughput_cap,
    ))?;
    // CPU per decision of the whole process (server and load generator
    // alike, so usage on and off compare like for like): unlike
    // decisions/s, other tenants of the machine barely move it.
    let cpu = cpu_time()?.saturating_sub(cpu_before);
    let cpu_ns_per_decision = cpu.as_nanos() as f64 / throughput.decisions.max(1) as f64;
    let mut rows = vec![Row {
        case: "batch_throughput",
        stats: summarize(throughput.latencies_ns.clone(), throughput.decisions, args.batch),
        extra: json!({
            "decisions_per_s": throughput.per_s().round(),
            "cpu_ns_per_decision": cpu_ns_per_decision.round(),
            "batch": args.batch,
            "clients": args.clients,
            "errors": throughput.errors,
        }),
    }];

    if !plan.latency_for.is_zero() {
        eprintln!(
            "timing single checks: {}/s open loop for {:?}, {} background batch clients ...",
            args.rate, plan.latency_for, args.background
        );
        let latency = client_rt.block_on(latency_under_load(
            &target,
            &bodies,
            args.rate.max(1),
            plan.latency_for,
            args.background,
        ))?;
        rows.push(Row {
            case: "check_latency",
            stats: summarize(latency.latencies_ns, latency.sent as u64, 1),
            extra: json!({
                "rate_per_s": args.rate,
                "achieved_per_s": (latency.answered as f64 / latency.elapsed.as_secs_f64()).round(),
                "background_decisions_per_s": latency.background.per_s().round(),
                "errors": latency.errors + latency.background.errors,
            }),
        });
    }
    drop(client_rt);
    server_rt.block_on(store.close());
    drop(server_rt);

    if args.json {
        for row in &rows {
            let mut line = json!({
                "engine": "permset-server",
                "case": row.case,
                "median_ns": row.stats.median_ns.round(),
                "p50_ns": row.stats.median_ns.round(),
                "p99_ns": row.stats.p99_ns.round(),
                "n": row.stats.n,
            });
            if let (Value::Object(line), Value::Object(extra)) = (&mut line, &row.extra) {
                line.extend(extra.clone());
            }
            println!("{line}");
        }
    } else {
        print_table(&w, args, &rows);
    }
    Ok(())
}

/// Request bodies, serialized once before timing.
struct Bodies {
    /// `{"requests": [...]}` of `batch` requests each, cut in order from the mix.
    batches: Vec<&'static [u8]>,
    /// The requests of each batch (indexes into `Workload::requests`).
    batch_requests: Vec<std::ops::Range<usize>>,
    /// One single-check body per request of the mix.
    singles: Vec<&'static [u8]>,
}

fn request_json(w: &Workload, r: &BenchRequest) -> Value {
    let mut body = json!({ "user": r.user, "permission": r.permission });
    if let Value::Object(map) = &mut body {
        if let Some(record) = r.record.and_then(|i| w.records.get(i)) {
            map.insert("record".into(), Value::Object(record.clone()));
        }
        if let Some(before) = r.before.and_then(|i| w.records.get(i)) {
            map.insert("before".into(), Value::Object(before.clone()));
        }
    }
    body
}

impl Bodies {
    fn new(w: &Workload, batch: usize) -> Result<Bodies> {
        // The bodies live as long as the process; leaking them gives reqwest
        // `&'static` bodies that cost nothing to send again.
        let leak = |v: Vec<u8>| -> &'static [u8] { Box::leak(v.into_boxed_slice()) };
        let mut batches = Vec::new();
        let mut batch_requests = Vec::new();
        let mut start = 0;
        while start + batch <= w.requests.len() {
            let items: Vec<Value> = w
                .requests
                .get(start..start + batch)
                .unwrap_or_default()
                .iter()
                .map(|r| request_json(w, r))
                .collect();
            batches.push(leak(serde_json::to_vec(&json!({ "requests": items }))?));
            batch_requests.push(start..start + batch);
            start += batch;
        }
        let singles = w
            .requests
            .iter()
            .map(|r| Ok(leak(serde_json::to_vec(&request_json(w, r))?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Bodies { batches, batch_requests, singles })
    }
}

struct Target {
    http: reqwest::Client,
    batch_url: String,
    check_url: String,
    auth: String,
}

impl Target {
    async fn post(&self, url: &str, body: &'static [u8]) -> Result<Answer> {
        let response = self
            .http
            .post(url)
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        Ok(Answer { ok: status.is_success(), body: body.to_vec() })
    }
}

/// What a call answered: the timed paths look at the status only and parse nothing.
struct Answer {
    ok: bool,
    body: Vec<u8>,
}

/// Posts `n` batches and compares every answer with the engine in process.
async fn verify(target: &Target, bodies: &Bodies, w: &Workload, snapshot: &Snapshot, n: usize) -> Result<()> {
    let mut mismatches = 0usize;
    for (i, (body, range)) in bodies.batches.iter().zip(&bodies.batch_requests).cycle().take(n).enumerate() {
        let answer = target.post(&target.batch_url, body).await?;
        if !answer.ok {
            bail!("check/batch answered an error: {}", String::from_utf8_lossy(&answer.body));
        }
        if i >= bodies.batches.len() {
            continue;
        }
        let parsed: Value = serde_json::from_slice(&answer.body)?;
        let results = parsed["results"].as_array().context("no `results` in the batch answer")?;
        let requests = w.requests.get(range.clone()).unwrap_or_default();
        if results.len() != requests.len() {
            bail!("check/batch answered {} results for {} requests", results.len(), requests.len());
        }
        let now = Utc::now();
        for (r, result) in requests.iter().zip(results) {
            let request = Request {
                user: &r.user,
                permission: &r.permission,
                record: r.record.and_then(|i| w.records.get(i)),
                before: r.before.and_then(|i| w.records.get(i)),
                now,
            };
            if result["allowed"].as_bool() != Some(snapshot.check(&request).is_allowed()) {
                mismatches += 1;
            }
        }
    }
    if mismatches > 0 {
        bail!("the server and the engine disagree on {mismatches} requests");
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Load {
    decisions: u64,
    errors: u64,
    elapsed: Duration,
    latencies_ns: Vec<f64>,
}

impl Load {
    fn per_s(&self) -> f64 {
        self.decisions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `clients` tasks posting batches back to back until `limit` batches are
/// posted (if any), `deadline` passes, or `stop` is raised.
async fn batch_load(
    target: &Target,
    bodies: &Bodies,
    clients: usize,
    limit: Option<usize>,
    deadline: Instant,
) -> Result<Load> {
    batch_load_until(target, bodies, clients, limit, deadline, &AtomicUsize::new(0)).await
}

async fn batch_load_until(
    target: &Target,
    bodies: &Bodies,
    clients: usize,
    limit: Option<usize>,
    deadline: Instant,
    stop: &AtomicUsize,
) -> Result<Load> {
    let next = AtomicUsize::new(0);
    let decisions = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    let started = Instant::now();
    let tasks = (0..clients).map(|_| async {
        let mut latencies = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let over = limit.is_some_and(|l| i >= l);
            if over || Instant::now() >= deadline || stop.load(Ordering::Relaxed) != 0 {
                break;
            }
            let Some(body) = bodies.batches.get(i % bodies.batches.len().max(1)) else { break };
            let sent = Instant::now();
            match target.post(&target.batch_url, body).await {
                Ok(answer) if answer.ok => {
                    latencies.push(sent.elapsed().as_nanos() as f64);
                    let n = bodies.batch_requests.first().map_or(0, |r| r.len() as u64);
                    decisions.fetch_add(n, Ordering::Relaxed);
                }
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        latencies
    });
    let latencies = futures::future::join_all(tasks).await;
    Ok(Load {
        decisions: decisions.into_inner(),
        errors: errors.into_inner(),
        elapsed: started.elapsed(),
        latencies_ns: latencies.into_iter().flatten().collect(),
    })
}

struct Latency {
    latencies_ns: Vec<f64>,
    sent: usize,
    answered: usize,
    errors: u64,
    elapsed: Duration,
    background: Load,
}

/// Single checks at `rate` per second for `length`, with `background` batch clients busy meanwhile.
async fn latency_under_load(
    target: &Target,
    bodies: &Bodies,
    rate: u32,
    length: Duration,
    background: usize,
) -> Result<Latency> {
    let stop = AtomicUsize::new(0);
    let far = Instant::now() + length * 4 + Duration::from_secs(60);
    let load = batch_load_until(target, bodies, background, None, far, &stop);
    let checks = async {
        // Let the background load reach its pace first.
        tokio::time::sleep(Duration::from_millis(if background > 0 { 500 } else { 0 })).await;
        let result = open_loop(target, bodies, rate, length).await;
        stop.store(1, Ordering::Relaxed);
        result
    };
    let (background, checks) = tokio::join!(load, checks);
    let (latencies_ns, sent, errors, elapsed) = checks?;
    let background = background?;
    Ok(Latency { answered: latencies_ns.len(), latencies_ns, sent, errors, elapsed, background })
}

/// Sends single checks on a schedule: request `i` is due at `start + i / rate`.
///
/// A plain thread keeps the schedule (tokio's timer has millisecond
/// granularity, which would show up as latency) and hands each request to
/// the runtime when it is due; the request's latency is measured from its
/// due instant.
async fn open_loop(
    target: &Target,
    bodies: &Bodies,
    rate: u32,
    length: Duration,
) -> Result<(Vec<f64>, usize, u64, Duration)> {
    let total = (length.as_secs_f64() * f64::from(rate)).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let start = Instant::now() + Duration::from_millis(10);
    let scheduler = std::thread::spawn(move || {
        for i in 0..total {
            let due = start + interval * i as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if due_tx.send((i, due)).is_err() {
                break;
            }
        }
    });
    let errors = AtomicU64::new(0);
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut latencies = Vec::with_capacity(total);
    let mut sent = 0usize;
    use futures::StreamExt as _;
    loop {
        tokio::select! {
            due = due_rx.recv() => {
                let Some((i, due)) = due else { break };
                sent += 1;
                let body = bodies.singles.get(i % bodies.singles.len().max(1)).copied().unwrap_or_default();
                let errors = &errors;
                in_flight.push(async move {
                    match target.post(&target.check_url, body).await {
                        Ok(answer) if answer.ok => Some(due.elapsed().as_nanos() as f64),
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            None
                        }
                    }
                });
            }
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                latencies.extend(done);
            }
        }
    }
    while let Some(done) = in_flight.next().await {
        latencies.extend(done);
    }
    let elapsed = start.elapsed();
    if scheduler.join().is_err() {
        bail!("the scheduler thread panicked");
    }
    drop(in_flight);
    Ok((latencies, sent, errors.load(Ordering::Relaxed), elapsed))
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn print_table(w: &Workload, args: &Args, rows: &[Row]) {
    println!(
        "permset serve over SQLite, 127.0.0.1; {} users; load generator in the same process (2 cores shared)",
        w.model.users.len()
    );
    println!();
    for row in rows {
        match row.case {
            "batch_throughput" => println!(
                "check/batch: {:.0} decisions/s, {:.0} ns of CPU each ({} clients, batches of {}); batch round \
                 trip median {}, p99 {}; {} decisions, {} errors",
                row.extra["decisions_per_s"].as_f64().unwrap_or(0.0),
                row.extra["cpu_ns_per_decision"].as_f64().unwrap_or(0.0),
                args.clients,
                args.batch,
                fmt_ns(row.stats.median_ns),
                fmt_ns(row.stats.p99_ns),
                row.stats.n,
                row.extra["errors"]
            ),
            _ => println!(
                "check: p50 {}, p99 {} at {}/s open loop (answered {}/s), {} checks; background check/batch \
                 {:.0} decisions/s; {} errors",
                fmt_ns(row.stats.median_ns),
                fmt_ns(row.stats.p99_ns),
                args.rate,
                row.extra["achieved_per_s"],
                row.stats.n,
                row.extra["background_decisions_per_s"].as_f64().unwrap_or(0.0),
                row.extra["errors"]
            ),
        }
    }
}
