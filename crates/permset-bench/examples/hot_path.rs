//! A small driver for profiling permset's decision path with
//! `valgrind --tool=callgrind`: compiles the benchmark workspace, then runs
//! every request `ROUNDS` times through `Snapshot::check` by name.
//!
//! `cargo build --release -p permset-bench --example hot_path &&
//! valgrind --tool=callgrind target/release/examples/hot_path [role|record]`

use std::hint::black_box;

use permset_bench::workload_with;
use permset_core::{Request, Snapshot};

const ROUNDS: usize = 20;

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "record".to_owned());
    let w = workload_with(42, 10_000, 20_000);
    let snapshot = Snapshot::compile_at(&w.model, w.now, 1).unwrap_or_else(|e| panic!("{e}"));
    let requests: Vec<_> = w.requests.iter().filter(|r| r.is_record_level() == (which == "record")).collect();
    let mut allowed = 0usize;
    for _ in 0..ROUNDS {
        for r in &requests {
            let request = Request {
                user: &r.user,
                permission: &r.permission,
                record: r.record.and_then(|i| w.records.get(i)),
                before: r.before.and_then(|i| w.records.get(i)),
                now: w.now,
            };
            allowed += usize::from(black_box(snapshot.check(black_box(&request))).allowed);
        }
    }
    println!("{which}: {} checks, {allowed} allowed", ROUNDS * requests.len());
}
