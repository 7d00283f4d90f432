//! `permset simulate`: the offline what-if — what replacing one workspace
//! file with another would change (the plan lines of `permset_core::diff`)
//! and who would gain or lose which permission
//! ([`permset_core::access_changes`]). Both files are compiled at the same
//! `now`, so an expiring assignment counts the same on both sides.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use permset_core::{access_changes, UserAccessChange};

use crate::input;
use crate::plan::{self, Plan};

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The proposed workspace file.
    pub(crate) file: PathBuf,
    /// The workspace file it would replace.
    #[arg(long)]
    pub(crate) against: PathBuf,
    /// Print `{ workspace, plan, access_changes }` as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let now = chrono::Utc::now();
    let new = input::compile(&args.file, now)?.snapshot;
    let old = input::compile(&args.against, now)?.snapshot;
    if old.workspace() != new.workspace() {
        bail!(
            "`{}` is workspace `{}` but `{}` is workspace `{}`; a simulation compares two versions of one workspace",
            args.file.display(),
            new.workspace(),
            args.against.display(),
            old.workspace()
        );
    }
    let changes = permset_core::diff(old.model(), new.model()).into_iter().map(Into::into).collect();
    let plan = Plan {
        workspace: new.workspace().to_owned(),
        from_revision: None,
        to_revision: None,
        changes,
        access_changes: Vec::new(),
    };
    let access = access_changes(&old, &new, now);
    if args.json {
        let out = serde_json::json!({ "workspace": new.workspace(), "plan": plan, "access_changes": access });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", plan::text(&plan, "plan"));
        print!("{}", text(&access));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per (user, permission): `  lena  customers_view  own → all`.
fn text(access: &[UserAccessChange]) -> String {
    let width = |f: fn(&UserAccessChange) -> usize| access.iter().map(f).max().unwrap_or(0);
    let (users, perms) = (width(|c| c.user.len()), width(|c| c.permission.len()));
    let mut out = String::new();
    for c in access {
        let before = c.before.as_deref().unwrap_or("none");
        let after = c.after.as_deref().unwrap_or("none");
        let _ = writeln!(out, "  {:users$}  {:perms$}  {before} → {after}", c.user, c.permission);
    }
    let mut people: Vec<&str> = access.iter().map(|c| c.user.as_str()).collect();
    people.dedup();
    let _ = writeln!(out, "access: {} change(s) for {} user(s)", access.len(), people.len());
    out
}
