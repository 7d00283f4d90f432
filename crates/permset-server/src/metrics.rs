//! Prometheus counters, kept as atomics so the decision path never locks.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Latency buckets of single checks, in microseconds.
const BUCKETS_US: [u64; 8] = [50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000];

/// Server counters.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) requests: AtomicU64,
    pub(crate) errors_4xx: AtomicU64,
    pub(crate) errors_5xx: AtomicU64,
    pub(crate) allowed: AtomicU64,
    pub(crate) denied: AtomicU64,
    pub(crate) decisions_unlogged: AtomicU64,
    /// Record reads answered by the read replica, and by the primary.
    pub(crate) replica_reads: AtomicU64,
    pub(crate) primary_reads: AtomicU64,
    check_buckets: [AtomicU64; BUCKETS_US.len()],
    check_count: AtomicU64,
    check_sum_us: AtomicU64,
}

impl Metrics {
    pub(crate) fn decision(&self, allowed: bool) {
        let counter = if allowed { &self.allowed } else { &self.denied };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn check_latency(&self, micros: u64) {
        self.check_count.fetch_add(1, Ordering::Relaxed);
        self.check_sum_us.fetch_add(micros, Ordering::Relaxed);
        for (bucket, le) in self.check_buckets.iter().zip(BUCKETS_US) {
            if micros <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE permset_http_requests_total counter");
        let _ = writeln!(out, "permset_http_requests_total {}", get(&self.requests));
        let _ = writeln!(out, "# TYPE permset_http_errors_total counter");
        let _ = writeln!(out, "permset_http_errors_total{{class=\"4xx\"}} {}", get(&self.errors_4xx));
        let _ = writeln!(out, "permset_http_errors_total{{class=\"5xx\"}} {}", get(&self.errors_5xx));
        let _ = writeln!(out, "# TYPE permset_decisions_total counter");
        let _ = writeln!(out, "permset_decisions_total{{decision=\"allow\"}} {}", get(&self.allowed));
        let _ = writeln!(out, "permset_decisions_total{{decision=\"deny\"}} {}", get(&self.denied));
        let _ = writeln!(out, "# TYPE permset_decisions_unlogged_total counter");
        let _ = writeln!(out, "permset_decisions_unlogged_total {}", get(&self.decisions_unlogged));
        let _ = writeln!(out, "# TYPE permset_record_reads_total counter");
        let _ = writeln!(out, "permset_record_reads_total{{from=\"replica\"}} {}", get(&self.replica_reads));
        let _ = writeln!(out, "permset_record_reads_total{{from=\"primary\"}} {}", get(&self.primary_reads));
        let _ = writeln!(out, "# TYPE permset_check_seconds histogram");
        for (bucket, le) in self.check_buckets.iter().zip(BUCKETS_US) {
            let _ =
                writeln!(out, "permset_check_seconds_bucket{{le=\"{}\"}} {}", le as f64 / 1e6, get(bucket));
        }
        let _ = writeln!(out, "permset_check_seconds_bucket{{le=\"+Inf\"}} {}", get(&self.check_count));
        let _ = writeln!(out, "permset_check_seconds_sum {}", get(&self.check_sum_us) as f64 / 1e6);
        let _ = writeln!(out, "permset_check_seconds_count {}", get(&self.check_count));
        out
    }
}
