//! `permset-bench lists`: the first page of a filtered list over many
//! records, on SQLite and (when `PERMSET_TEST_POSTGRES` names a database)
//! PostgreSQL, against the fetch-then-filter an integration without
//! permset's SQL translation would do.
//!
//! The workspace has one custom object, `tickets`, with an owner field, a
//! team field and an indexed `tier`; 1,000 agents in 100 teams own the
//! records uniformly, so each agent owns 0.1% and each team holds 1%. Four
//! agents are measured, each seeing tickets through one limit:
//! `own` (0.1% of records), `team` (1%), `rule` (`tier == "vip" and
//! region == user.region`, about 0.33%) and `or` (two roles: `own`, or the
//! rule; about 0.43%).
//!
//! Records are loaded through the store's public API only
//! (`Store::import_records` as the account owner, in chunks),
//! capped by time: if the cap is reached first, the run says how many were
//! loaded and at what rate. Timed, after loading:
//!
//! - `list_first_page_*`: `Store::list_records` with limit 50 for the agent
//!   (the view predicate translated into the SQL `WHERE`), wall time of the call.
//! - `fetch_then_filter_*`: pages of 1,000 (the API's largest) fetched as
//!   the account owner through the same `list_records`, each record checked
//!   with `Snapshot::check(tickets_view)` for the agent, until 50 pass.
//!
//! Both must give the same 50 records; the run fails otherwise.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::Utc;
use permset_bench::timing::{summarize, Stats};
use permset_core::{load_workspace_file, Record, Request, Snapshot};
use permset_store::{ListQuery, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Options of `lists`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A short run (50,000 records; under a minute) for a quick look.
    #[arg(long)]
    quick: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Records to load per back end (default 1,000,000; 50,000 with --quick).
    #[arg(long)]
    records: Option<usize>,
    /// Seconds loading may take per back end (default: what fits the 10-minute budget).
    #[arg(long)]
    load_cap: Option<u64>,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Keep the SQLite file and the PostgreSQL schema (their names are printed), to look at query plans.
    #[arg(long)]
    keep: bool,
}

const WORKSPACE: &str = "lists";
const OBJECT: &str = "tickets";
const OWNER: &str = "owner";
const AGENTS: usize = 1_000;
const TEAMS: usize = 100;
const REGIONS: [&str; 3] = ["emea", "amer", "apac"];
const PAGE: u32 = 50;
const BASELINE_PAGE: u32 = 1_000;

/// The measured agents: (scope, user key). Agent `a0001` owns 0.1% of the
/// tickets, `a0002` is in one team of 100, `a0003` sees VIP tickets of its
/// region, `a0004` its own tickets and (by a second role) VIP ones of its region.
const SCOPES: [(&str, &str); 4] = [("team", "a0002"), ("own", "a0001"), ("rule", "a0003"), ("or", "a0004")];

fn workspace_file() -> String {
    let mut file = String::from(
        r#"workspace: lists
user_attributes: { region: { enum: [emea, amer, apac] } }
objects:
  tickets:
    fields:
      subject: string
      status: { enum: [open, pending, solved, closed] }
      priority: { enum: [low, normal, high, urgent] }
      tier: { enum: [basic, standard, vip], indexed: true }
      region: { enum: [emea, amer, apac] }
      owner: user
      owner_team: team
    owner_field: owner
    team_field: owner_team
access_rules:
  tickets: { vip_in_region: 'tier == "vip" and region == user.region' }
roles:
  own_desk: { grants: { tickets_view: own } }
  team_desk: { grants: { tickets_view: team } }
  vip_desk: { grants: { tickets_view: { rule: vip_in_region } } }
assignments:
  users: { a0001: [own_desk], a0002: [team_desk], a0003: [vip_desk], a0004: [own_desk, vip_desk] }
teams:
"#,
    );
    for t in 0..TEAMS {
        file.push_str(&format!("  t{t:03}: {{ name: \"Team {t}\" }}\n"));
    }
    file.push_str("users:\n  owner: { kind: agent, account_owner: true }\n");
    for a in 0..AGENTS {
        let region = REGIONS.get(a % 3).copied().unwrap_or("emea");
        file.push_str(&format!(
            "  a{a:04}: {{ kind: agent, teams: [t{:03}], attributes: {{ region: {region} }} }}\n",
            a % TEAMS
        ));
    }
    file
}

fn ticket(rng: &mut StdRng, n: usize) -> Record {
    let pick = |rng: &mut StdRng, values: &[&str]| {
        values.get(rng.gen_range(0..values.len())).map(|v| (*v).to_owned())
    };
    let tier = match rng.gen_range(0..100) {
        0 => "vip",
        1..=30 => "standard",
        _ => "basic",
    };
    let value = json!({
        "subject": format!("Ticket {n}"),
        "status": pick(rng, &["open", "pending", "solved", "closed"]),
        "priority": pick(rng, &["low", "normal", "high", "urgent"]),
        "tier": tier,
        "region": pick(rng, &REGIONS),
        "owner": format!("a{:04}", rng.gen_range(0..AGENTS)),
        "owner_team": format!("t{:03}", rng.gen_range(0..TEAMS)),
    });
    match value {
        Value::Object(map) => map,
        _ => Record::new(),
    }
}

struct Row {
    backend: &'static str,
    case: String,
    scope: &'static str,
    stats: Stats,
    records: usize,
    /// Records fetched by the baseline before 50 passed.
    scanned: Option<usize>,
}

struct LoadReport {
    backend: &'static str,
    loaded: usize,
    wanted: usize,
    per_s: f64,
    elapsed: Duration,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let wanted = args.records.unwrap_or(if args.quick { 50_000 } else { 1_000_000 });
    let postgres = std::env::var("PERMSET_TEST_POSTGRES").ok().filter(|u| !u.is_empty());
    let backends = if postgres.is_some() { 2 } else { 1 };
    // The whole mode has 10 minutes (1 with --quick); measuring takes about a
    // minute per back end (10 s with --quick), loading gets the rest.
    let cap = args.load_cap.map(Duration::from_secs).unwrap_or(if args.quick {
        Duration::from_secs(36 / backends)
    } else {
        Duration::from_secs(420 / backends)
    });
    let (runs, baseline_runs) = if args.quick { (20, 3) } else { (100, 10) };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (model, _) = load_workspace_file(&workspace_file())
        .map_err(|e| anyhow::anyhow!("the lists workspace file: {e:?}"))?;

    let mut rows = Vec::new();
    let mut loads = Vec::new();
    let dir = tempfile::tempdir().context("temp dir")?;
    let sqlite_url = format!("sqlite://{}", dir.path().join("lists.db").display());
    // Dropped (and deleted) at the end unless kept.
    let _dir = if args.keep {
        let _kept = dir.keep();
        None
    } else {
        Some(dir)
    };
    let mut targets: Vec<(&'static str, String, Option<String>)> = vec![("sqlite", sqlite_url, None)];
    if let Some(url) = &postgres {
        let schema = format!("bench_lists_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        targets.push(("postgres", url.clone(), Some(schema)));
    }
    for (backend, url, schema) in targets {
        let result = runtime.block_on(async {
            let store = match &schema {
                Some(schema) => Store::open_in_schema(&url, schema).await?,
                None => Store::open(&url).await?,
            };
            let result = bench_backend(&store, backend, &model, args, wanted, cap, runs, baseline_runs).await;
            store.close().await;
            result
        });
        match &schema {
            Some(schema) if args.keep => eprintln!("postgres: kept schema `{schema}`"),
            Some(schema) => drop_schema(&url, schema),
            None if args.keep => eprintln!("sqlite: kept {url}"),
            None => {}
        }
        let (mut backend_rows, load) = result.context(backend)?;
        rows.append(&mut backend_rows);
        loads.push(load);
    }

    if args.json {
        for load in &loads {
            let line = json!({
                "engine": "permset-store",
                "case": format!("load_{}", load.backend),
                "records": load.loaded,
                "records_wanted": load.wanted,
                "records_per_s": load.per_s.round(),
                "seconds": (load.elapsed.as_secs_f64() * 10.0).round() / 10.0,
            });
            println!("{line}");
        }
        for row in &rows {
            let mut line = json!({
                "engine": "permset-store",
                "case": row.case,
                "scope": row.scope,
                "median_ns": row.stats.median_ns.round(),
                "p50_ns": row.stats.median_ns.round(),
                "p99_ns": row.stats.p99_ns.round(),
                "n": row.stats.n,
                "records": row.records,
            });
            if let (Value::Object(line), Some(scanned)) = (&mut line, row.scanned) {
                line.insert("scanned".into(), json!(scanned));
            }
            println!("{line}");
        }
    } else {
        print_table(&loads, &rows);
    }
    Ok(())
}

/// Best effort, through `psql` (the bench has no SQL driver of its own).
fn drop_schema(url: &str, schema: &str) {
    let status = std::process::Command::new("psql")
        .args([url, "-q", "-c", &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("warning: could not drop schema `{schema}`; drop it by hand");
    }
}

/// Records per `import_records` call while loading.
const IMPORT_CHUNK: usize = 10_000;

#[allow(clippy::too_many_arguments)]
async fn bench_backend(
    store: &Store,
    backend: &'static str,
    model: &permset_core::Model,
    args: &Args,
    wanted: usize,
    cap: Duration,
    runs: usize,
    baseline_runs: usize,
) -> Result<(Vec<Row>, LoadReport)> {
    store.create_workspace(WORKSPACE, OWNER).await?;
    store.apply(WORKSPACE, OWNER, model, "lists benchmark", false).await?;
    let snapshot = store.snapshot(WORKSPACE).await?;

    // Loading, through the public API as the account owner.
    eprintln!("{backend}: loading up to {wanted} records ({IMPORT_CHUNK} per import, at most {cap:?}) ...");
    let mut rng = StdRng::seed_from_u64(args.seed);
    let started = Instant::now();
    let deadline = started + cap;
    let mut loaded = 0usize;
    let mut last_report = Instant::now();
    // `Store::import_records` in chunks: the same checks as `create_record`
    // per record, one transaction per chunk. Generated chunk by chunk: a
    // million records held at once would take over a GiB.
    while loaded < wanted && Instant::now() < deadline {
        let chunk: Vec<_> =
            (loaded..wanted.min(loaded + IMPORT_CHUNK)).map(|n| ticket(&mut rng, n)).collect();
        let n = chunk.len();
        store.import_records(&snapshot, OWNER, OBJECT, chunk, Utc::now()).await?;
        loaded += n;
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            let rate = loaded as f64 / started.elapsed().as_secs_f64();
            eprintln!("{backend}: {loaded} records, {rate:.0}/s");
        }
    }
    let elapsed = started.elapsed();
    let load = LoadReport { backend, loaded, wanted, per_s: loaded as f64 / elapsed.as_secs_f64(), elapsed };
    eprintln!("{backend}: loaded {loaded} records in {elapsed:.1?} ({:.0}/s)", load.per_s);
    if loaded < wanted {
        eprintln!(
            "{backend}: the load cap stopped loading at {loaded} of {wanted} records; figures are for {loaded}"
        );
    }

    // As the server does periodically: planner statistics for the loaded data.
    store.refresh_statistics().await?;

    let mut rows = Vec::new();
    for (scope, user) in SCOPES {
        let now = Utc::now();
        let query = ListQuery { limit: Some(PAGE), ..ListQuery::default() };
        if args.keep {
            eprintln!("{backend}: {scope}: view predicate {:?}", snapshot.view_predicate(user, OBJECT, now));
            for line in store.explain_list(&snapshot, user, OBJECT, &query, now).await? {
                eprintln!("{backend}: {scope}: plan: {line}");
            }
        }
        // Warm up the caches, then time.
        let first = store.list_records(&snapshot, user, OBJECT, &query, now).await?;
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let page = store.list_records(&snapshot, user, OBJECT, &query, now).await?;
            samples.push(t.elapsed().as_nanos() as f64);
            std::hint::black_box(page);
        }
        let stats = summarize(samples, runs as u64, 1);
        eprintln!(
            "{backend}: {scope}: first page {:.2} ms median, {:.2} ms p99",
            stats.median_ns / 1e6,
            stats.p99_ns / 1e6
        );
        rows.push(Row {
            backend,
            case: format!("list_first_page_{backend}"),
            scope,
            stats,
            records: loaded,
            scanned: None,
        });

        let mut samples = Vec::with_capacity(baseline_runs);
        let mut scanned = 0;
        let mut baseline_ids = Vec::new();
        for _ in 0..baseline_runs {
            let t = Instant::now();
            let (ids, n) = fetch_then_filter(store, &snapshot, user, now).await?;
            samples.push(t.elapsed().as_nanos() as f64);
            (baseline_ids, scanned) = (ids, n);
        }
        let stats = summarize(samples, baseline_runs as u64, 1);
        eprintln!(
            "{backend}: {scope}: fetch-then-filter {:.1} ms median ({scanned} records fetched)",
            stats.median_ns / 1e6
        );
        let ids: Vec<String> =
            first.records.iter().filter_map(|r| r.get("id")?.as_str()).map(str::to_owned).collect();
        if ids != baseline_ids {
            bail!("{scope}: list_records and fetch-then-filter disagree on the first page");
        }
        if ids.len() < PAGE as usize {
            eprintln!("{backend}: {scope}: only {} visible records (fewer than a page)", ids.len());
        }
        rows.push(Row {
            backend,
            case: format!("fetch_then_filter_{backend}"),
            scope,
            stats,
            records: loaded,
            scanned: Some(scanned),
        });
    }
    Ok((rows, load))
}

/// What an integration without the SQL translation does: fetch everything
/// as an account owner, page by page, and keep what the user may view.
/// Returns the first 50 ids that pass and how many records were fetched.
async fn fetch_then_filter(
    store: &Store,
    snapshot: &Snapshot,
    user: &str,
    now: chrono::DateTime<Utc>,
) -> Result<(Vec<String>, usize)> {
    let mut passed = Vec::with_capacity(PAGE as usize);
    let mut fetched = 0;
    let mut after = None;
    loop {
        let query = ListQuery { limit: Some(BASELINE_PAGE), after: after.take(), ..ListQuery::default() };
        let page = store.list_records(snapshot, OWNER, OBJECT, &query, now).await?;
        for record in &page.records {
            fetched += 1;
            let request = Request::new(user, "tickets_view", now).on(record);
            if snapshot.check(&request).is_allowed() {
                if let Some(id) = record.get("id").and_then(Value::as_str) {
                    passed.push(id.to_owned());
                }
                if passed.len() == PAGE as usize {
                    return Ok((passed, fetched));
                }
            }
        }
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => return Ok((passed, fetched)),
        }
    }
}

fn print_table(loads: &[LoadReport], rows: &[Row]) {
    for load in loads {
        println!(
            "{}: {} records loaded through Store::import_records in {:.1} s ({:.0} records/s){}",
            load.backend,
            load.loaded,
            load.elapsed.as_secs_f64(),
            load.per_s,
            if load.loaded < load.wanted {
                format!(" — capped, {} wanted", load.wanted)
            } else {
                String::new()
            }
        );
    }
    println!();
    println!(
        "{:<9} {:<6} {:>14} {:>14} {:>20} {:>14} {:>10}",
        "backend",
        "scope",
        "first page p50",
        "first page p99",
        "fetch-then-filter p50",
        "fetched",
        "speed-up"
    );
    for row in rows.iter().filter(|r| r.case.starts_with("list_first_page")) {
        let base =
            rows.iter().find(|b| b.backend == row.backend && b.scope == row.scope && b.scanned.is_some());
        let (base_ms, scanned, ratio) = base.map_or((0.0, 0, 0.0), |b| {
            (
                b.stats.median_ns / 1e6,
                b.scanned.unwrap_or(0),
                b.stats.median_ns / row.stats.median_ns.max(1.0),
            )
        });
        println!(
            "{:<9} {:<6} {:>11.2} ms {:>11.2} ms {:>17.1} ms {:>14} {:>9.0}×",
            row.backend,
            row.scope,
            row.stats.median_ns / 1e6,
            row.stats.p99_ns / 1e6,
            base_ms,
            scanned,
            ratio
        );
    }
}
