//! Criterion benches of the `engines` cases, for regular use: a smaller
//! workspace (2,000 users) and short measurements so they compile and run
//! quickly. `permset-bench engines` is the reference run (10,000 users).
//! The peers are the expert encodings (`cedar_expert.rs`, `casbin_expert.rs`).

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use permset_bench::casbin_expert::CasbinExpert;
use permset_bench::cedar_expert::CedarExpert;
use permset_bench::cedar_peer::CedarRequest;
use permset_bench::roles::PeerModel;
use permset_bench::workload_with;
use permset_core::{Request, Snapshot};

fn engines(c: &mut Criterion) {
    let w = workload_with(42, 2_000, 4_000);
    let snapshot = Snapshot::compile_at(&w.model, w.now, 1).expect("compile");
    let peer = PeerModel::new(&w.model);
    let cedar = CedarExpert::build(&w).expect("cedar");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let casbin = runtime.block_on(CasbinExpert::build(&w)).expect("casbin");

    for (case, record_level) in [("role_level", false), ("record_level", true)] {
        let requests: Vec<_> = w.requests.iter().filter(|r| r.is_record_level() == record_level).collect();
        let cedar_requests: Vec<_> =
            requests.iter().map(|r| CedarRequest::new(&w, &peer, r).expect("cedar request")).collect();
        let casbin_requests: Vec<_> =
            requests.iter().map(|r| casbin.prepare(&w, &peer, r).expect("casbin request")).collect();
        let mut group = c.benchmark_group(case);
        group
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
        // Each iteration is one pass over 64 requests; criterion reports time per pass.
        let chunk = 64;
        let mut i = 0;
        group.bench_function("permset_x64", |b| {
            b.iter(|| {
                for _ in 0..chunk {
                    let r = requests[i % requests.len()];
                    i += 1;
                    let request = Request {
                        user: &r.user,
                        permission: &r.permission,
                        record: r.record.map(|j| &w.records[j]),
                        before: r.before.map(|j| &w.records[j]),
                        now: w.now,
                    };
                    black_box(snapshot.check(black_box(&request)));
                }
            })
        });
        group.bench_function("cedar_x64", |b| {
            b.iter(|| {
                for _ in 0..chunk {
                    black_box(cedar.check(&cedar_requests[i % cedar_requests.len()]));
                    i += 1;
                }
            })
        });
        group.sample_size(10).measurement_time(Duration::from_secs(3));
        group.bench_function("casbin_x64", |b| {
            b.iter(|| {
                for _ in 0..chunk {
                    black_box(casbin.check(&casbin_requests[i % casbin_requests.len()]));
                    i += 1;
                }
            })
        });
        group.finish();
    }

    let mut group = c.benchmark_group("rebuild");
    group.sample_size(10).measurement_time(Duration::from_secs(2));
    group.bench_function("permset_compile_at", |b| {
        b.iter(|| black_box(Snapshot::compile_at(&w.model, w.now, 2).expect("compile")))
    });
    group.finish();
}

criterion_group!(benches, engines);
criterion_main!(benches);
