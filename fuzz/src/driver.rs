//! The stable-toolchain fuzzing loop: replay a corpus, then mutate it.
//!
//! Feedback is the target's behaviour signature (see the crate header): an
//! input whose signature is new joins the in-memory corpus and is mutated
//! further, so the loop walks from the committed seeds towards inputs that
//! take new paths through the parsers. Everything is seeded: a run is
//! reproducible from its seed and corpus.

use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::Target;

/// The longest input the mutator builds.
const MAX_INPUT: usize = 4096;
/// The most inputs kept in memory (seeds plus inputs with new signatures).
const MAX_CORPUS: usize = 20_000;
/// The most findings kept per run (the rest are counted).
const MAX_FINDINGS: usize = 20;

/// A broken property or a panic, with the input that caused it.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The target's name.
    pub target: &'static str,
    /// The input, as bytes.
    pub input: Vec<u8>,
    /// What broke (a panic's message and place, or the property's message).
    pub message: String,
}

/// What one run of one target did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The target's name.
    pub target: &'static str,
    /// Inputs run (replays included).
    pub executions: u64,
    /// Inputs read from the committed corpus.
    pub seeds: usize,
    /// Inputs kept because they showed a new behaviour.
    pub kept: usize,
    /// Distinct behaviour signatures seen.
    pub signatures: usize,
    /// Findings (at most [`MAX_FINDINGS`], distinct by message).
    pub findings: Vec<Finding>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// When a run stops: whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// At most this many mutated inputs (after the replay).
    pub executions: u64,
    /// At most this long.
    pub time: Duration,
}

thread_local! {
    /// The message of the last panic on this thread, set by the quiet hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Every file of `dir` (sorted by name, so runs are reproducible); none if it is missing.
pub fn load_dir(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<_> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    paths.sort();
    paths.into_iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Runs `data` once; a panic becomes `Err` with its message and place.
pub fn run_one(target: &mut dyn Target, data: &[u8]) -> Result<u64, String> {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("panic: {info}")));
    }));
    let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(data)));
    panic::set_hook(previous);
    match result {
        Ok(outcome) => outcome,
        Err(_) => Err(LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "panic".to_owned())),
    }
}

/// Replays `seeds`, then mutates them until `budget` runs out.
pub fn fuzz(target: &mut dyn Target, seeds: Vec<Vec<u8>>, budget: Budget, seed: u64) -> Report {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = Report { target: target.name(), seeds: seeds.len(), ..Report::default() };
    let mut seen = HashSet::new();
    let mut messages = HashSet::new();
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let mut record = |report: &mut Report, input: &[u8], outcome: Result<u64, String>| -> bool {
        report.executions += 1;
        match outcome {
            Ok(signature) => seen.insert(signature),
            Err(message) => {
                if report.findings.len() < MAX_FINDINGS && messages.insert(message.clone()) {
                    report.findings.push(Finding { target: report.target, input: input.to_vec(), message });
                }
                false
            }
        }
    };
    for input in seeds {
        let outcome = run_one(target, &input);
        record(&mut report, &input, outcome);
        corpus.push(input);
    }
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let dictionary = target.dictionary();
    let mut mutated = 0;
    while mutated < budget.executions && started.elapsed() < budget.time {
        let base = &corpus[rng.gen_range(0..corpus.len())];
        let other = &corpus[rng.gen_range(0..corpus.len())];
        let input = mutate(&mut rng, base, other, dictionary);
        let outcome = run_one(target, &input);
        mutated += 1;
        if record(&mut report, &input, outcome) && corpus.len() < MAX_CORPUS {
            corpus.push(input);
            report.kept += 1;
        }
    }
    report.signatures = seen.len();
    report.elapsed = started.elapsed();
    report
}

const INTERESTING: &[u8] = b"\0\x7f\x80\xff \t\n\"\\'[](),.-0129aAeE:{}#&*|>-";

/// One havoc mutation: 1 to 8 stacked edits of `base`, sometimes spliced with `other`.
fn mutate(rng: &mut StdRng, base: &[u8], other: &[u8], dictionary: &[&str]) -> Vec<u8> {
    let mut data = base.to_vec();
    let edits = 1 << rng.gen_range(0..4);
    for _ in 0..edits {
        let len = data.len();
        match rng.gen_range(0..9) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] = INTERESTING[rng.gen_range(0..INTERESTING.len())];
            }
            2 => {
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(1..=4);
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                data.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(16));
                data.drain(i..i + n);
            }
            4 if len > 0 => {
                // Copy a range elsewhere: repeats structure (nesting, list items).
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(64));
                let chunk = data[i..i + n].to_vec();
                let at = rng.gen_range(0..=len);
                data.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                let cut = rng.gen_range(0..=data.len());
                let from = rng.gen_range(0..other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            6 | 7 if !dictionary.is_empty() => {
                let token = dictionary[rng.gen_range(0..dictionary.len())].as_bytes();
                let i = rng.gen_range(0..=len);
                if rng.gen_bool(0.5) || len == 0 {
                    data.splice(i..i, token.iter().copied());
                } else {
                    let end = (i + token.len()).min(len);
                    data.splice(i..end, token.iter().copied());
                }
            }
            8 if len > 0 => {
                // An arithmetic nudge, as AFL does: off-by-one lengths and counts.
                let i = rng.gen_range(0..len);
                data[i] = data[i].wrapping_add(rng.gen_range(1..=3)).wrapping_sub(rng.gen_range(0..=3) * 2);
            }
            _ => {}
        }
    }
    data.truncate(MAX_INPUT);
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Picky;

    impl Target for Picky {
        fn name(&self) -> &'static str {
            "picky"
        }
        fn dictionary(&self) -> &'static [&'static str] {
            &["boom"]
        }
        fn run(&mut self, data: &[u8]) -> Result<u64, String> {
            if data.windows(4).any(|w| w == b"boom") {
                panic!("found it");
            }
            Ok(data.len() as u64 % 7)
        }
    }

    #[test]
    fn the_driver_finds_a_dictionary_panic_and_reports_it() {
        let budget = Budget { executions: 5_000, time: Duration::from_secs(30) };
        let report = fuzz(&mut Picky, vec![b"hello".to_vec()], budget, 7);
        assert!(report.executions > 1);
        let finding = report.findings.first().expect("the panic is found");
        assert!(finding.message.contains("found it"), "{}", finding.message);
        assert!(finding.input.windows(4).any(|w| w == b"boom"));
        assert!(run_one(&mut Picky, b"fine").is_ok());
    }
}
