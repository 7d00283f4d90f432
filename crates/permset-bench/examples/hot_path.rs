//! A small driver for profiling permset's decision path with
//! `valgrind --tool=callgrind`: compiles the benchmark workspace, then runs
//! every request `ROUNDS` times through `Snapshot::check` by name (`role`,
//! `record`), or through `Snapshot::check_ids` with the names resolved
//! before the measured loop (`role-ids`, `record-ids`), or through
//! `Snapshot::check` followed by `Snapshot::usage_key`, as the server
//! counts a decision (`role-usage`, `record-usage`).
//!
//! `cargo build --release -p permset-bench --example hot_path &&
//! valgrind --tool=callgrind --toggle-collect='*run_checks*' target/release/examples/hot_path [role|record|role-ids|record-ids|role-usage|record-usage] [users]`

use std::hint::black_box;

use permset_bench::workload_with;
use permset_core::{PermId, Record, Request, Snapshot, UserId};

const ROUNDS: usize = 50;

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "record".to_owned());
    let users = std::env::args().nth(2).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let w = workload_with(42, users, 20_000);
    let snapshot = Snapshot::compile_at(&w.model, w.now, 1).unwrap_or_else(|e| panic!("{e}"));
    let record_level = which.starts_with("record");
    let requests: Vec<_> = w.requests.iter().filter(|r| r.is_record_level() == record_level).collect();
    let start = std::time::Instant::now();
    let allowed = if which.ends_with("-ids") {
        let ids: Vec<_> = requests
            .iter()
            .map(|r| {
                let user = snapshot.user_id(&r.user).unwrap_or_else(|| panic!("unknown user {}", r.user));
                let perm =
                    snapshot.perm_id(&r.permission).unwrap_or_else(|| panic!("unknown {}", r.permission));
                (user, perm, r.record.and_then(|i| w.records.get(i)), r.before.and_then(|i| w.records.get(i)))
            })
            .collect();
        run_checks_ids(&snapshot, &w, &ids)
    } else if which.ends_with("-usage") {
        run_checks::<true>(&snapshot, &w, &requests)
    } else {
        run_checks::<false>(&snapshot, &w, &requests)
    };
    let per = start.elapsed().as_nanos() as f64 / (ROUNDS * requests.len()) as f64;
    println!("{which}: {} checks, {allowed} allowed, {per:.0} ns/check", ROUNDS * requests.len());
}

/// The measured part (`valgrind --tool=callgrind --toggle-collect='*run_checks*'`);
/// with `COUNTED`, each decision's usage key is built after it, as the server counts.
#[inline(never)]
fn run_checks<const COUNTED: bool>(
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
            let decision = black_box(snapshot.check(black_box(&request)));
            if COUNTED {
                black_box(snapshot.usage_key(&request, decision.is_allowed()));
            }
            allowed += usize::from(decision.is_allowed());
        }
    }
    allowed
}

/// The measured part with pre-resolved handles (`--toggle-collect='*run_checks*'` matches it too).
#[inline(never)]
fn run_checks_ids(
    snapshot: &Snapshot,
    w: &permset_bench::Workload,
    ids: &[(UserId, PermId, Option<&Record>, Option<&Record>)],
) -> usize {
    let mut allowed = 0usize;
    for _ in 0..ROUNDS {
        for &(user, perm, record, before) in ids {
            let decision = snapshot.check_ids(black_box(user), black_box(perm), record, before, w.now);
            allowed += usize::from(black_box(decision).is_allowed());
        }
    }
    allowed
}
