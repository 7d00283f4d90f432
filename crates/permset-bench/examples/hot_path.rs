//! A small driver for profiling permset's decision path with
//! `valgrind --tool=callgrind`: compiles the benchmark workspace, then runs
//! every request `ROUNDS` times through `Snapshot::check` by name.
//!
//! `cargo build --release -p permset-bench --example hot_path &&
//! valgrind --tool=callgrind --toggle-collect='*run_checks*' target/release/examples/hot_path [role|record] [users]`

use std::hint::black_box;

use permset_bench::workload_with;
use permset_core::{Request, Snapshot};

const ROUNDS: usize = 50;

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "record".to_owned());
    let users = std::env::args().nth(2).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let w = workload_with(42, users, 20_000);
    let snapshot = Snapshot::compile_at(&w.model, w.now, 1).unwrap_or_else(|e| panic!("{e}"));
    let requests: Vec<_> = w.requests.iter().filter(|r| r.is_record_level() == (which == "record")).collect();
    let start = std::time::Instant::now();
    let allowed = run_checks(&snapshot, &w, &requests);
    let per = start.elapsed().as_nanos() as f64 / (ROUNDS * requests.len()) as f64;
    println!("{which}: {} checks, {allowed} allowed, {per:.0} ns/check", ROUNDS * requests.len());
}

/// The measured part (`valgrind --tool=callgrind --toggle-collect='*run_checks*'`).
#[inline(never)]
fn run_checks(
    snapshot: &Snapshot,
    w: &permset_bench::Workload,
    requests: &[&permset_bench::BenchRequest],
) -> usize {
    let mut allowed = 0usize;
    for _ in 0..ROUNDS {
        for r in requests {
            let request = Request {
                user: &r.user,
                permission: &r.permission,
                record: r.record.and_then(|i| w.records.get(i)),
                before: r.before.and_then(|i| w.records.get(i)),
                now: w.now,
            };
            allowed += usize::from(black_box(snapshot.check(black_box(&request))).is_allowed());
        }
    }
    allowed
}
