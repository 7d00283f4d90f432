//! permset-store: persistence for permset, with records behind the engine.
//!
//! A [`Store`] keeps, per workspace: the model (the whole workspace file, as
//! JSON) and its revision; records of standard and custom objects; API keys
//! (hashed); a hash-chained audit log; and a decision log. It speaks SQLite
//! (a file in WAL mode, the embedded default) and PostgreSQL through one
//! code path: a single sqlx `AnyPool`, with a small [`Dialect`] for the few
//! spellings that differ (JSON functions, `BEGIN IMMEDIATE`, row locks). We
//! chose `Any` over an enum of two pools because every query is then written
//! once; its narrow type vocabulary is no loss here, since JSON travels as
//! text and times are stored as fixed-width RFC 3339 text.
//!
//! Every read and write of records is decided by the caller's compiled
//! [`permset_core::Snapshot`] for the acting user: reads are redacted (rules
//! 7 and 8), writes check fields and records (rules 6 and 7) inside a
//! transaction that refuses a stale snapshot ([`StoreError::Stale`]), and
//! list, search and export translate the user's view predicate into SQL.
//! Export's per-record `check(export)` runs on already-visible rows: the
//! engine has a SQL-able predicate for `view` only.
//!
//! ```no_run
//! # async fn demo() -> Result<(), permset_store::StoreError> {
//! use permset_store::{ListQuery, Store};
//! let store = Store::open("sqlite://permset.db").await?;
//! store.create_workspace("acme", "olivia").await?;
//! let snapshot = store.snapshot("acme").await?;
//! let now = chrono::Utc::now();
//! let page = store.list_records(&snapshot, "olivia", "customers", &ListQuery::default(), now).await?;
//! # Ok(()) }
//! ```

mod audit;
mod audit_summary;
mod change;
mod db;
mod decisions;
mod error;
mod keys;
mod notify;
mod records;
mod replica;
mod usage;
mod workspaces;

pub use audit::{AuditEntry, AuditKey, AuditLine, VerifyReport};
pub use audit_summary::AuditSummary;
pub use change::{preview, simulate, Author, Committed};
pub use db::{Dialect, Store};
pub use decisions::{DecisionLogEntry, SampleKey};
pub use error::StoreError;
pub use keys::{secret_digest, KeyInfo, KeySpec};
pub use notify::{Heard, RevisionListener};
pub use records::export::ExportFormat;
pub use records::visibility::VisibilityCount;
pub use records::{new_id, ListQuery, Page};
pub use usage::UsageCount;
pub use workspaces::{Plan, WorkspaceInfo};
