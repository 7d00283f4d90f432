//! `permset-bench memory`: the memory and compile time of a large
//! workspace (DESIGN.md §7: 1M users with assignments in ≤ 1 GiB of engine
//! memory; compiling it in ≤ 2 s).
//!
//! The workspace comes from the engines mode's generator, scaled
//! (`permset_bench::model_with`): 1,000,000 users by default (agents with
//! one or two direct roles and zero to three teams, 5% end users, two
//! account owners), 10,000 teams (70% with one or two roles) and 200 roles
//! (15 system, 185 custom). The process reads its own `/proc/self/status`:
//! `VmRSS` before generating (the baseline), after generating (the model),
//! and after `Snapshot::compile_owned` (which keeps the model: the snapshot
//! is then all that is alive, so its RSS above the baseline is the engine's
//! memory, allocator slack included); `VmHWM` after compiling is the peak,
//! the model and the snapshot's tables both alive. `Snapshot::approx_heap_bytes`
//! is the snapshot's own estimate, without allocator slack. Later runs regenerate
//! the model and compile again, for the compile-time figures only.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::{TimeZone, Utc};
use permset_bench::model_with;
use permset_bench::timing::{measure, summarize};
use permset_core::{Request, Snapshot};
use serde_json::json;

use super::process::{mib, status_bytes};

/// Options of `memory`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// One compile (the memory figures come from the first one anyway).
    #[arg(long)]
    quick: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Users in the generated workspace.
    #[arg(long, default_value_t = 1_000_000)]
    users: usize,
    /// Teams.
    #[arg(long, default_value_t = 10_000)]
    teams: usize,
    /// Custom roles (beside the 15 system roles).
    #[arg(long, default_value_t = 185)]
    roles: usize,
    /// Compiles to time (default 3; 1 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let now = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).single().unwrap_or_default();
    let baseline = status_bytes("VmRSS")?;

    let t = Instant::now();
    let model = model_with(args.seed, args.users, args.teams, args.roles);
    let generated = t.elapsed();
    let assignments: usize = model.assignments.users.values().map(Vec::len).sum();
    let memberships: usize = model.users.values().map(|u| u.teams.len()).sum();
    let model_rss = status_bytes("VmRSS")?;
    eprintln!(
        "model: {} users, {assignments} direct assignments, {memberships} team memberships, {} teams, {} custom roles ({generated:.1?}); RSS {:.0} MiB",
        model.users.len(),
        model.teams.len(),
        model.roles.len(),
        mib(model_rss)
    );
    let users: Vec<String> =
        model.users.keys().step_by((model.users.len() / 10_000).max(1)).cloned().collect();

    let t = Instant::now();
    let snapshot = Snapshot::compile_owned(model, now, 1).context("permset compile")?;
    let mut compiles = vec![t.elapsed()];
    let peak = status_bytes("VmHWM")?;
    let after = status_bytes("VmRSS")?;
    let accounted = snapshot.approx_heap_bytes() as u64;
    eprintln!(
        "compiled in {:.2?}; peak RSS {:.0} MiB, RSS after {:.0} MiB",
        compiles[0],
        mib(peak),
        mib(after)
    );

    // The snapshot must answer: a role-level check for sampled users, timed as the engines mode does.
    let perms = ["conversations_view", "customers_update", "teams_view", "billing_view"];
    let requests: Vec<(&str, &str)> =
        users.iter().enumerate().map(|(i, u)| (u.as_str(), perms[i % perms.len()])).collect();
    let allowed =
        requests.iter().filter(|(u, p)| snapshot.check(&Request::new(u, p, now)).is_allowed()).count();
    if allowed == 0 || allowed == requests.len() {
        bail!("{allowed} of {} sampled checks allowed: the workspace is not realistic", requests.len());
    }
    let budget = if args.quick { Duration::from_millis(500) } else { Duration::from_secs(2) };
    let check =
        measure(&requests, |(u, p)| snapshot.check(&Request::new(u, p, now)).is_allowed(), budget, 20);
    drop(snapshot);

    for _ in 1..runs {
        let model = model_with(args.seed, args.users, args.teams, args.roles);
        let t = Instant::now();
        let snapshot = Snapshot::compile_owned(model, now, 1).context("permset compile")?;
        compiles.push(t.elapsed());
        black_box(&snapshot);
    }
    let compile = summarize(compiles.iter().map(|d| d.as_nanos() as f64).collect(), runs as u64, 1);

    if args.json {
        let line = json!({
            "engine": "permset", "case": "compile_large", "median_ns": compile.median_ns.round(),
            "p99_ns": compile.p99_ns.round(), "n": compile.n, "users": args.users,
        });
        println!("{line}");
        let line = json!({
            "engine": "permset", "case": "role_level_large", "median_ns": check.median_ns.round(),
            "p99_ns": check.p99_ns.round(), "n": check.n, "users": args.users,
        });
        println!("{line}");
        let line = json!({
            "engine": "permset", "case": "memory", "users": args.users, "assignments": assignments,
            "baseline_rss_bytes": baseline, "model_rss_bytes": model_rss,
            "peak_rss_bytes": peak, "snapshot_rss_bytes": after.saturating_sub(baseline),
            "snapshot_approx_heap_bytes": accounted,
        });
        println!("{line}");
    } else {
        let all: Vec<String> = compiles.iter().map(|d| format!("{:.2} s", d.as_secs_f64())).collect();
        println!(
            "{} users ({assignments} direct assignments, {memberships} team memberships), {} teams, {} roles",
            args.users,
            args.teams,
            args.roles + 15
        );
        println!();
        println!(
            "compile (Snapshot::compile_owned): median {:.2} s over {runs} ({})",
            compile.median_ns / 1e9,
            all.join(", ")
        );
        println!("RSS before generating:             {:>8.0} MiB", mib(baseline));
        println!("RSS with the model generated:      {:>8.0} MiB", mib(model_rss));
        println!("peak RSS (VmHWM) after compiling:  {:>8.0} MiB", mib(peak));
        println!(
            "RSS after compiling (snapshot):    {:>8.0} MiB  ({:.0} MiB above the baseline)",
            mib(after),
            mib(after.saturating_sub(baseline))
        );
        println!("the snapshot's own estimate (approx_heap_bytes): {:>5.0} MiB", mib(accounted));
        println!(
            "role-level check at this size: median {:.0} ns, p99 {:.0} ns ({} checks, {allowed} of {} sampled allowed)",
            check.median_ns,
            check.p99_ns,
            check.n,
            requests.len()
        );
    }
    Ok(())
}
