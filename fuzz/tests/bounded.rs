//! The bounded fuzz run of every CI run: each target replays its committed
//! corpus and every regression input, then mutates for a fixed number of
//! executions (seeded, so a failure reproduces) under a time cap. Long runs
//! are `permset-bench fuzz --seconds N`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use permset_fuzz::driver::{self, Budget};
use permset_fuzz::{fuzz_dir, target, TARGETS};

/// Mutated executions per target: a few seconds each on a contended 2-core machine.
fn executions(name: &str) -> u64 {
    let scale = std::env::var("PERMSET_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    scale
        * match name {
            "condition" => 4_000,
            "workspace_file" => 1_500,
            "record_json" => 600,
            _ => 200,
        }
}

fn run(name: &str) {
    let mut t = target(name).unwrap();
    let mut seeds = driver::load_dir(&fuzz_dir().join("corpus").join(name));
    let regressions = driver::load_dir(&fuzz_dir().join("regressions").join(name));
    assert!(!seeds.is_empty(), "no corpus for `{name}`");
    seeds.extend(regressions);
    let budget = Budget { executions: executions(name), time: Duration::from_secs(20) };
    let report = driver::fuzz(t.as_mut(), seeds, budget, 0x5eed);
    eprintln!(
        "{name}: {} executions, {} signatures, {} kept, {:.1?}",
        report.executions, report.signatures, report.kept, report.elapsed
    );
    for f in &report.findings {
        eprintln!("FINDING {name}: {}\ninput: {:?}", f.message, String::from_utf8_lossy(&f.input));
    }
    assert!(report.findings.is_empty(), "{} findings in `{name}`", report.findings.len());
    // Not vacuous: the inputs took many different paths.
    assert!(report.signatures >= 10, "`{name}` showed only {} behaviours", report.signatures);
}

#[test]
fn condition_parser_survives_fuzzing() {
    run("condition");
}

#[test]
fn workspace_file_loader_survives_fuzzing() {
    run("workspace_file");
}

#[test]
fn record_json_validation_survives_fuzzing() {
    run("record_json");
}

#[test]
fn sql_translation_selects_what_the_engine_selects() {
    run("sql_filter");
}

#[test]
fn every_target_has_a_corpus() {
    for name in TARGETS {
        assert!(target(name).is_some());
        assert!(!driver::load_dir(&fuzz_dir().join("corpus").join(name)).is_empty(), "{name}");
    }
}
