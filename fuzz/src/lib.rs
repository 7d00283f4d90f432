//! permset-fuzz: fuzz targets for what permset reads from outside — the
//! condition language, the workspace file, record JSON — and a differential
//! target for the predicate → SQL translation, with a small mutation driver
//! that runs on the stable toolchain.
//!
//! Why not `cargo fuzz`: it needs a nightly compiler (sanitizer coverage
//! flags and libFuzzer's link setup), and this project builds with stable
//! only. The closest stable equivalent kept here:
//!
//! - every target takes raw bytes and reads them through
//!   [`arbitrary::Unstructured`], exactly the `fuzz_target!` shape, so the
//!   targets move to `cargo fuzz` unchanged the day a nightly is available;
//! - [`driver`] is a mutation fuzzer: it starts from the committed corpus
//!   (`fuzz/corpus/<target>/`), applies havoc mutations (bit flips, byte
//!   edits, range copies, splices, dictionary tokens), runs the target
//!   under `catch_unwind`, and keeps an input that produced a new
//!   *behaviour signature* — the target reports one per run (which error,
//!   which shape of expression) — in place of the coverage feedback that
//!   only nightly can instrument;
//! - the targets are structure-aware where it matters: half of each input
//!   steers a generator (conditions from the grammar, records from the
//!   schema's types and edge values) so blind mutation still reaches the
//!   deep paths.
//!
//! A target returns `Err` for a broken property (a finding); a panic is a
//! finding too. Findings are written to `fuzz/artifacts/<target>/` by the
//! callers that want them (`permset-bench fuzz`), and each fixed one gets a
//! regression input under `fuzz/regressions/<target>/`, replayed by the tests.

pub mod driver;
mod gen;
mod targets;

pub use driver::{Finding, Report};
pub use targets::{target, Target, TARGETS};

/// Where the committed corpora and regression inputs live.
pub fn fuzz_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}
