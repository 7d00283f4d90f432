//! permset-bench: the same support workload against permset, cedar-policy
//! and casbin-rs, so that anyone can check the speed claims themselves.
//!
//! [`workload`] generates a seeded workspace and request mix as a
//! [`permset_core::Model`]; [`cedar_expert`] and [`casbin_expert`]
//! translate it the way an expert would for speed (the bench's peers), and
//! [`cedar_peer`] and [`casbin_peer`] the way each peer's documentation
//! suggests (the `-naive` rows); [`timing`] measures decision calls in
//! batches of the same size for every engine. The `permset-bench` binary
//! runs the comparisons (`engines`), the HTTP server under load (`server`),
//! filtered lists over many records (`lists`) and the memory of a large
//! workspace (`memory`), and `tests/equivalence.rs` proves all five
//! encodings agree on every generated request.

pub mod casbin_expert;
pub mod casbin_peer;
pub mod cedar_expert;
pub mod cedar_peer;
pub mod roles;
pub mod timing;
pub mod workload;

pub use workload::{model_with, workload, workload_with, BenchRequest, Workload};
