//! `permset-bench engines`: permset, cedar-policy and casbin-rs on the same
//! generated workspace, side by side in one run.
//!
//! Each peer runs twice: in the encoding an expert would write for speed
//! (`cedar`, `casbin`: `cedar_expert.rs`, `casbin_expert.rs`) and in the
//! one its documentation suggests (`cedar-naive`, `casbin-naive`). Setup
//! (generating the workload, compiling or loading each engine, converting
//! requests to each engine's native form) is not timed. Timed, the same way
//! for every engine (`timing.rs`): one decision as permset defines it
//! (DESIGN.md §2), which for the peers may take two or three of their own
//! calls (rule 6, see `cedar_peer.rs`), and the rebuild after one role edit
//! (every peer through its incremental path).

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, Utc};
use permset_bench::casbin_expert::{CasbinExpert, CasbinExpertRequest};
use permset_bench::casbin_peer::{CasbinEngine, CasbinRequest};
use permset_bench::cedar_expert::CedarExpert;
use permset_bench::cedar_peer::{CedarEngine, CedarRequest};
use permset_bench::roles::PeerModel;
use permset_bench::timing::{measure, measure_each, Stats};
use permset_bench::{workload_with, Workload};
use permset_core::{Access, Grant, PermId, Record, Request, Snapshot, UserId};
use serde_json::json;

/// Options of `engines`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A short run (about a minute on 2 cores) for a quick look.
    #[arg(long)]
    quick: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Users in the generated workspace.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Requests generated (half role-level, half record-level).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// The role every rebuild edits.
const EDITED_ROLE: &str = "custom_00";

/// permset's request, as a caller holds it: names and records by reference.
struct PermsetRequest<'w> {
    user: &'w str,
    permission: &'w str,
    record: Option<&'w Record>,
    before: Option<&'w Record>,
}

fn permset_check(snapshot: &Snapshot, r: &PermsetRequest<'_>, now: DateTime<Utc>) -> bool {
    let request = Request { user: r.user, permission: r.permission, record: r.record, before: r.before, now };
    snapshot.check(&request).is_allowed()
}

/// The same request with the names resolved once to snapshot handles, as a
/// request handler caching them per snapshot holds it (`None`: unknown name).
struct IdsRequest<'w> {
    user: Option<UserId>,
    perm: Option<PermId>,
    record: Option<&'w Record>,
    before: Option<&'w Record>,
}

fn permset_ids_check(snapshot: &Snapshot, r: &IdsRequest<'_>, now: DateTime<Utc>) -> bool {
    match (r.user, r.perm) {
        (Some(user), Some(perm)) => snapshot.check_ids(user, perm, r.record, r.before, now).is_allowed(),
        _ => false,
    }
}

fn resolve_ids<'w>(snapshot: &Snapshot, requests: &[PermsetRequest<'w>]) -> Vec<IdsRequest<'w>> {
    requests
        .iter()
        .map(|r| IdsRequest {
            user: snapshot.user_id(r.user),
            perm: snapshot.perm_id(r.permission),
            record: r.record,
            before: r.before,
        })
        .collect()
}

struct Row {
    engine: &'static str,
    case: &'static str,
    stats: Stats,
}

struct Budget {
    decisions: Duration,
    min_samples: usize,
    rebuilds: usize,
}

/// Every engine of a run, loaded.
struct Engines {
    snapshot: Snapshot,
    cedar: CedarExpert,
    casbin: CasbinExpert,
    cedar_naive: CedarEngine,
    casbin_naive: CasbinEngine,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let budget = if args.quick {
        Budget { decisions: Duration::from_millis(1500), min_samples: 20, rebuilds: 5 }
    } else {
        Budget { decisions: Duration::from_secs(8), min_samples: 100, rebuilds: 30 }
    };
    let t = Instant::now();
    let mut w = workload_with(args.seed, args.users, args.requests);
    eprintln!(
        "workload: {} users, {} teams, {} custom roles, {} requests, {} records ({:.1?})",
        w.model.users.len(),
        w.model.teams.len(),
        w.model.roles.len(),
        w.requests.len(),
        w.records.len(),
        t.elapsed()
    );
    let now = w.now;

    let t = Instant::now();
    let snapshot = Snapshot::compile_at(&w.model, now, 1).context("permset compile")?;
    eprintln!("permset: compiled ({:.1?})", t.elapsed());
    let t = Instant::now();
    let cedar = CedarExpert::build(&w)?;
    let (grants, mean, largest) = cedar.policy_counts();
    eprintln!(
        "cedar: {grants} grant policies, {mean:.1} per granted action (at most {largest}); entities loaded and validated ({:.1?})",
        t.elapsed()
    );
    let t = Instant::now();
    let cedar_naive = CedarEngine::build(&w)?;
    eprintln!(
        "cedar-naive: {} policies, entities loaded and validated ({:.1?})",
        cedar_naive.policies.policies().count(),
        t.elapsed()
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let t = Instant::now();
    let casbin = runtime.block_on(CasbinExpert::build(&w))?;
    let (p, g) = casbin.line_counts();
    eprintln!("casbin: {p} policy lines in {} types, {g} links ({:.1?})", args_types(&casbin), t.elapsed());
    let t = Instant::now();
    let casbin_naive = runtime.block_on(CasbinEngine::build(&w))?;
    eprintln!(
        "casbin-naive: {} policy lines loaded ({:.1?})",
        casbin_policy_count(&casbin_naive),
        t.elapsed()
    );
    let mut e = Engines { snapshot, cedar, casbin, cedar_naive, casbin_naive };

    let peer = PeerModel::new(&w.model);
    let mut rows = Vec::new();
    agree(&w, &e, &peer).context("before timing")?;
    {
        let (role_p, record_p) = split(&w, |r| {
            Ok(PermsetRequest {
                user: &r.user,
                permission: &r.permission,
                record: r.record.and_then(|i| w.records.get(i)),
                before: r.before.and_then(|i| w.records.get(i)),
            })
        })?;
        let (role_c, record_c) = split(&w, |r| CedarRequest::new(&w, &peer, r))?;
        let (role_k, record_k) = split(&w, |r| e.casbin.prepare(&w, &peer, r))?;
        let (role_kn, record_kn) = split(&w, |r| e.casbin_naive.prepare(&w, &peer, r))?;

        type Case<'a, P> =
            (&'static str, &'a [P], &'a [CedarRequest], &'a [CasbinExpertRequest], &'a [CasbinRequest]);
        let cases: [Case<'_, PermsetRequest<'_>>; 2] = [
            ("role_level", &role_p, &role_c, &role_k, &role_kn),
            ("record_level", &record_p, &record_c, &record_k, &record_kn),
        ];
        let (d, m) = (budget.decisions, budget.min_samples);
        for (case, p, c, k, kn) in cases {
            eprintln!("timing {case} ...");
            let stats = measure(p, |r| permset_check(&e.snapshot, r, now), d, m);
            rows.push(Row { engine: "permset", case, stats });
            let ids = resolve_ids(&e.snapshot, p);
            for (r, i) in p.iter().zip(&ids) {
                if permset_check(&e.snapshot, r, now) != permset_ids_check(&e.snapshot, i, now) {
                    anyhow::bail!("disagreement: {} {}: check and check_ids differ", r.user, r.permission);
                }
            }
            let stats = measure(&ids, |r| permset_ids_check(&e.snapshot, r, now), d, m);
            rows.push(Row { engine: "permset-ids", case, stats });
            let stats = measure(c, |r| e.cedar.check(r), d, m);
            rows.push(Row { engine: "cedar", case, stats });
            let stats = measure(k, |r| e.casbin.check(r), d, m);
            rows.push(Row { engine: "casbin", case, stats });
            let stats = measure(c, |r| e.cedar_naive.check(r), d, m);
            rows.push(Row { engine: "cedar-naive", case, stats });
            let stats = measure(kn, |r| e.casbin_naive.check(r), d, m);
            rows.push(Row { engine: "casbin-naive", case, stats });
        }
    }

    eprintln!("timing rebuild after one role edit ...");
    let stats = measure_each(budget.rebuilds, |i| {
        edit_role(&mut w, i);
        // The server recompiles a model it owns (fresh from the store), so the
        // copy is made outside the timed region and compile_owned is timed.
        let model = w.model.clone();
        let start = Instant::now();
        let snapshot = Snapshot::compile_owned(model, now, 2 + i as u64);
        let elapsed = start.elapsed();
        drop(snapshot);
        elapsed
    });
    rows.push(Row { engine: "permset", case: "rebuild", stats });
    let mut failure = None;
    let timed = |failure: &mut Option<anyhow::Error>, result: Result<()>, start: Instant| {
        let elapsed = start.elapsed();
        if let Err(error) = result {
            *failure = Some(error);
        }
        elapsed
    };
    let stats = measure_each(budget.rebuilds, |i| {
        edit_role(&mut w, i);
        let start = Instant::now();
        let result = e.cedar.replace_role(&w.model, EDITED_ROLE);
        timed(&mut failure, result, start)
    });
    rows.push(Row { engine: "cedar", case: "rebuild", stats });
    let stats = measure_each(budget.rebuilds, |i| {
        edit_role(&mut w, i);
        let start = Instant::now();
        let result = runtime.block_on(e.casbin.replace_role(&w.model, EDITED_ROLE));
        timed(&mut failure, result, start)
    });
    rows.push(Row { engine: "casbin", case: "rebuild", stats });
    let stats = measure_each(budget.rebuilds, |i| {
        edit_role(&mut w, i);
        let start = Instant::now();
        let result = e.cedar_naive.replace_role(&w.model, EDITED_ROLE);
        timed(&mut failure, result, start)
    });
    rows.push(Row { engine: "cedar-naive", case: "rebuild", stats });
    let stats = measure_each(budget.rebuilds, |i| {
        edit_role(&mut w, i);
        let start = Instant::now();
        let result = runtime.block_on(e.casbin_naive.replace_role(&w.model, EDITED_ROLE));
        timed(&mut failure, result, start)
    });
    rows.push(Row { engine: "casbin-naive", case: "rebuild", stats });
    if let Some(e) = failure {
        return Err(e.context("rebuild"));
    }
    // Every engine was edited the same number of times: they must still agree.
    e.snapshot = Snapshot::compile_at(&w.model, now, 1000).context("permset compile")?;
    agree(&w, &e, &PeerModel::new(&w.model)).context("after the rebuilds")?;

    if args.json {
        for row in &rows {
            let line = json!({
                "engine": row.engine,
                "case": row.case,
                "median_ns": row.stats.median_ns.round(),
                "p99_ns": row.stats.p99_ns.round(),
                "n": row.stats.n,
            });
            println!("{line}");
        }
    } else {
        print_table(&w, &rows);
    }
    Ok(())
}

fn casbin_policy_count(casbin: &CasbinEngine) -> usize {
    use casbin::MgmtApi;
    casbin.enforcer.get_policy().len()
}

fn args_types(casbin: &CasbinExpert) -> usize {
    casbin.sections()
}

/// Each engine's form of every request, role-level and record-level apart.
fn split<'w, T>(
    w: &'w Workload,
    mut prepare: impl FnMut(&'w permset_bench::BenchRequest) -> Result<T>,
) -> Result<(Vec<T>, Vec<T>)> {
    let mut role = Vec::new();
    let mut record = Vec::new();
    for r in &w.requests {
        let prepared = prepare(r)?;
        if r.is_record_level() {
            record.push(prepared);
        } else {
            role.push(prepared);
        }
    }
    Ok((role, record))
}

/// A sanity check before timing and after the rebuilds: the engines must
/// agree (the equivalence test checks every request on a smaller workspace).
fn agree(w: &Workload, e: &Engines, peer: &PeerModel) -> Result<()> {
    let mut mismatches = 0;
    let sample = w.requests.iter().take(300);
    for r in sample {
        let p = permset_check(
            &e.snapshot,
            &PermsetRequest {
                user: &r.user,
                permission: &r.permission,
                record: r.record.and_then(|i| w.records.get(i)),
                before: r.before.and_then(|i| w.records.get(i)),
            },
            w.now,
        );
        let c = CedarRequest::new(w, peer, r)?;
        let answers = [
            e.cedar.check(&c),
            e.casbin.check(&e.casbin.prepare(w, peer, r)?),
            e.cedar_naive.check(&c),
            e.casbin_naive.check(&e.casbin_naive.prepare(w, peer, r)?),
        ];
        if answers.iter().any(|a| *a != p) {
            mismatches += 1;
            eprintln!(
                "disagreement: {r:?}: permset {p}, cedar / casbin / cedar-naive / casbin-naive {answers:?}"
            );
        }
    }
    if mismatches > 0 {
        bail!("the engines disagree on {mismatches} of 300 sampled requests");
    }
    Ok(())
}

/// One role edit: toggles `reports_view` on the edited role.
fn edit_role(w: &mut Workload, i: usize) {
    if let Some(role) = w.model.roles.get_mut(EDITED_ROLE) {
        if matches!(i % 2, 0) {
            role.grants.insert("reports_view".into(), Grant::new(Access::All));
        } else {
            role.grants.remove("reports_view");
        }
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn print_table(w: &Workload, rows: &[Row]) {
    let role_level = w.requests.iter().filter(|r| !r.is_record_level()).count();
    println!(
        "{} users, {} teams, {} roles; {} role-level and {} record-level requests",
        w.model.users.len(),
        w.model.teams.len(),
        w.model.roles.len() + 15,
        role_level,
        w.requests.len() - role_level
    );
    println!();
    println!(
        "{:<13} {:<13} {:>11} {:>11} {:>10} {:>14}",
        "case", "engine", "median", "p99", "n", "× permset"
    );
    for row in rows {
        let base = rows.iter().find(|r| r.case == row.case && r.engine == "permset");
        let ratio = base
            .map(|b| row.stats.median_ns / b.stats.median_ns.max(1e-9))
            .map_or(String::new(), |x| if x < 10.0 { format!("{x:.2}×") } else { format!("{x:.0}×") });
        let ratio = if row.engine == "permset" { "1×".to_owned() } else { ratio };
        println!(
            "{:<13} {:<13} {:>11} {:>11} {:>10} {:>14}",
            row.case,
            row.engine,
            fmt_ns(row.stats.median_ns),
            fmt_ns(row.stats.p99_ns),
            row.stats.n,
            ratio
        );
    }
}
