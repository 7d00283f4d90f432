//! permset-core: the decision engine of permset.
//!
//! Compile a workspace [`Model`] into an immutable [`Snapshot`], then ask it
//! cheap, total questions: [`Snapshot::check`], [`Snapshot::explain`],
//! [`Snapshot::field_level`], [`Snapshot::view_predicate`],
//! [`Snapshot::effective_permissions`]; callers deciding many requests
//! resolve names once with [`Snapshot::user_id`] and [`Snapshot::perm_id`]
//! and ask [`Snapshot::check_ids`]. Nothing here does I/O or is async; a
//! decision never fails and never panics: anything unknown is a deny.
//!
//! ```
//! use permset_core::{load_workspace_file, Request, Snapshot};
//! let (model, _) = load_workspace_file(
//!     "workspace: acme\nusers: { bob: {} }\nassignments: { users: { bob: [support_agent] } }\n",
//! ).unwrap();
//! let snapshot = Snapshot::compile(&model).unwrap();
//! let now = chrono::Utc::now();
//! assert!(snapshot.check(&Request::new("bob", "conversations_reply", now)).is_allowed());
//! assert!(!snapshot.check(&Request::new("bob", "billing_view", now)).is_allowed());
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

mod attributes;
mod authorize;
mod catalogue;
mod change;
pub mod condition;
mod decide;
mod diff;
mod escalation;
mod explain;
mod fields;
mod file;
mod grants;
mod ids;
mod lint;
mod memory;
mod model;
mod names;
mod origin;
mod permissions;
mod resolve;
mod role_set;
mod scoped;
mod snapshot;
mod suggest;
mod usage;
mod validate;
mod whatif;

pub use authorize::{AdminError, Principal};
pub use catalogue::{
    all_permissions, is_standard_object, merged_schema, system_role_names, system_roles, BUILTIN_MODULES,
    PREREQUISITES, STANDARD_ACTIONS, STANDARD_OBJECTS,
};
pub use change::{Holder, ModelChange};
pub use decide::{Actor, Decision, Request};
pub use diff::{diff, Change};
pub use escalation::{Beyond, Excess};
pub use explain::{Assigned, Explanation, NearMiss, Step};
pub use file::yaml;
pub use file::{load_workspace_file, to_workspace_file, FileError, SourceMap};
pub use grants::RoleGrant;
pub use ids::{PermId, UserId};
pub use lint::{lint, Finding};
pub use model::{
    Access, Assignment, Assignments, Attributes, FieldDef, FieldLevel, FieldType, Grant, Limit,
    ListVisibility, Model, ModuleDef, ObjectDef, Role, Schema, Settings, Team, User, UserKind,
};
pub use origin::{only_revokes, Origin, UnknownOrigin};
pub use permissions::EffectivePermission;
pub use resolve::{NameKind, UnknownName};
pub use snapshot::{CompileError, Snapshot};
pub use suggest::{did_you_mean, nearest};
pub use usage::{GrantUse, UsageKey, UsageNames};
pub use validate::{Diagnostic, Severity};
pub use whatif::{access_changes, flips, view_changes, AccessDelta, FlipGroup, UserAccessChange, ViewChange};

/// A record: field name → JSON value. User and team fields hold keys; lookups hold the target's id.
pub type Record = serde_json::Map<String, serde_json::Value>;
