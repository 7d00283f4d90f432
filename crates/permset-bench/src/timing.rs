//! Measuring calls that take nanoseconds to milliseconds on one thread,
//! the same way for every engine.
//!
//! A single permset decision is far below the resolution of `Instant`, so
//! calls are timed in batches: a batch runs [`BATCH`] consecutive requests
//! of the case's request list and its duration divided by [`BATCH`] is one
//! sample (the batch's mean per call). The batch size is the same for every
//! engine, fast or slow, so that each engine's median and p99 are the same
//! statistic: the median and 99th percentile of per-call means over
//! [`BATCH`] calls. (Sizing the batch per engine, as this module once did,
//! made permset's p99 a smoothed mean of ~80 calls while the peers' was a
//! single call's.) The requests are cycled in their seeded random order, so
//! every batch mixes allows and denies, users and permissions.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Calls in one timed batch, for every engine: enough that the fastest
/// engine's batch (a few µs) is far above the timer's resolution and cost
/// (~25 ns), few enough that the slowest engine's (~2 ms a call) still gives
/// about a hundred samples in the full run's budget.
pub const BATCH: usize = 32;

/// Median and 99th percentile of per-call times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Median of the samples, in nanoseconds.
    pub median_ns: f64,
    /// 99th percentile of the samples, in nanoseconds.
    pub p99_ns: f64,
    /// Calls (decisions, or rebuilds) measured.
    pub n: u64,
    /// Calls per sample ([`BATCH`] for decisions, 1 for rebuilds).
    pub batch: usize,
}

/// Median and p99 of samples (nanoseconds); zero for none.
pub fn summarize(mut samples: Vec<f64>, n: u64, batch: usize) -> Stats {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).saturating_sub(1);
        samples.get(i.min(samples.len().saturating_sub(1))).copied().unwrap_or(0.0)
    };
    Stats { median_ns: at(0.5), p99_ns: at(0.99), n, batch }
}

/// Times `f` over `items` in batches of [`BATCH`] calls for about `budget`
/// (after a warm-up of a tenth of it), taking at least `min_samples` samples.
pub fn measure<T>(items: &[T], mut f: impl FnMut(&T) -> bool, budget: Duration, min_samples: usize) -> Stats {
    if items.is_empty() {
        return summarize(Vec::new(), 0, 0);
    }
    let mut next = 0usize;
    let mut run = |count: usize, f: &mut dyn FnMut(&T) -> bool| {
        for _ in 0..count {
            let item = items.get(next).or_else(|| items.first());
            if let Some(item) = item {
                black_box(f(black_box(item)));
            }
            next = (next + 1) % items.len();
        }
    };
    // Warm up (caches, branch predictors, lazily built state).
    let warm = Instant::now();
    while warm.elapsed() < budget / 10 {
        run(8, &mut f);
    }
    let batch = BATCH;

    let mut samples = Vec::new();
    let began = Instant::now();
    while began.elapsed() < budget || samples.len() < min_samples {
        let start = Instant::now();
        run(batch, &mut f);
        samples.push(start.elapsed().as_nanos() as f64 / batch as f64);
    }
    let n = (samples.len() * batch) as u64;
    summarize(samples, n, batch)
}

/// Times `iterations` runs of `f`, one sample each.
pub fn measure_each(iterations: usize, mut f: impl FnMut(usize) -> Duration) -> Stats {
    let samples: Vec<f64> = (0..iterations).map(|i| f(i).as_nanos() as f64).collect();
    summarize(samples, iterations as u64, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarize_picks_median_and_p99() {
        let s = summarize((1..=100).map(f64::from).collect(), 100, 1);
        assert_eq!(s.median_ns, 50.0);
        assert_eq!(s.p99_ns, 99.0);
    }

    #[test]
    fn fast_and_slow_calls_are_batched_alike() {
        let items = [1u64, 2, 3];
        let fast = measure(&items, |&i| i % 2 == 0, Duration::from_millis(2), 3);
        let slow = measure(
            &items,
            |&i| {
                std::thread::sleep(Duration::from_micros(50));
                i % 2 == 0
            },
            Duration::from_millis(2),
            3,
        );
        assert_eq!((fast.batch, slow.batch), (BATCH, BATCH));
        assert_eq!(slow.n % BATCH as u64, 0);
        assert!(slow.n >= 3 * BATCH as u64);
    }
}
