//! `permset check`: one decision on a workspace file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use permset_core::{Request, Snapshot};

use crate::input;

/// Arguments shared by `check` and `explain`.
#[derive(Debug, clap::Args)]
pub(crate) struct RequestArgs {
    /// The workspace file (YAML).
    pub(crate) file: PathBuf,
    /// The acting user's key.
    #[arg(long)]
    pub(crate) user: String,
    /// The permission, e.g. `customers_update`.
    #[arg(long)]
    pub(crate) permission: String,
    /// The record (for an update, its new state) as a JSON object, or `@file.json`.
    #[arg(long)]
    pub(crate) record: Option<String>,
    /// For an update: the record before the change, as a JSON object or `@file.json`.
    #[arg(long)]
    pub(crate) before: Option<String>,
    /// Decide as of this RFC 3339 time (default: now); assignments expire against it.
    #[arg(long)]
    pub(crate) at: Option<String>,
}

pub(crate) fn run(args: &RequestArgs) -> Result<ExitCode> {
    let now = input::at(args.at.as_deref())?;
    let record = input::record("--record", args.record.as_deref())?;
    let before = input::record("--before", args.before.as_deref())?;
    if before.is_some() && record.is_none() {
        anyhow::bail!("--before needs --record (the state after the update)");
    }
    let workspace = input::compile(&args.file, now)?;
    let request = Request {
        user: &args.user,
        permission: &args.permission,
        record: record.as_ref(),
        before: before.as_ref(),
        now,
    };
    resolve(&workspace.snapshot, &request)?;
    let decision = workspace.snapshot.check(&request);
    println!("{}", if decision.is_allowed() { "allow" } else { "deny" });
    if decision.is_limited() {
        println!("limited: only some records");
    }
    Ok(ExitCode::SUCCESS)
}

/// An unknown user or permission is bad input (exit 2 with the nearest
/// name), not a deny: the engine's `check` would quietly deny it.
pub(crate) fn resolve(snapshot: &Snapshot, request: &Request<'_>) -> Result<()> {
    snapshot.resolve_user(request.user)?;
    snapshot.resolve_permission(request.permission)?;
    Ok(())
}
