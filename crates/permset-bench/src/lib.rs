//! permset-bench: the same support workload against permset, cedar-policy
//! and casbin-rs, so that anyone can check the speed claims themselves.
//!
//! [`workload`] generates a seeded workspace and request mix as a
//! [`permset_core::Model`]; [`cedar_peer`] and [`casbin_peer`] translate it
//! into each peer's idiomatic form; [`timing`] measures decision calls in
//! batches. The `permset-bench` binary runs the comparisons (`engines`), the
//! HTTP server under load (`server`) and filtered lists over many records
//! (`lists`), and `tests/equivalence.rs`
//! proves the three engines agree on every generated request.

pub mod casbin_peer;
pub mod cedar_peer;
pub mod roles;
pub mod timing;
pub mod workload;

pub use workload::{workload, workload_with, BenchRequest, Workload};
