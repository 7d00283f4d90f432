//! `permset plan`: the offline plan — what applying one workspace file over
//! another would change (`permset_core::diff`), as text, JSON or a Markdown
//! summary for a pull request. No server: compare the file of a branch with
//! the file on main.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::input;
use crate::plan::{self, Plan};

/// Output formats of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One line per change.
    Text,
    /// `{ workspace, changes: [{ kind, path, description }] }`.
    Json,
    /// A summary by section (roles, assignments, access rules, …) to post on a pull request.
    Markdown,
}

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The proposed workspace file.
    pub(crate) file: PathBuf,
    /// The workspace file it would replace (e.g. the one on the main branch).
    #[arg(long)]
    pub(crate) against: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: Format,
}

/// Prints a plan in a format; `applied_word` ends the text form.
pub(crate) fn print(plan: &Plan, format: Format, applied_word: &str) -> Result<()> {
    match format {
        Format::Text => print!("{}", plan::text(plan, applied_word)),
        Format::Json => println!("{}", serde_json::to_string_pretty(plan)?),
        Format::Markdown => print!("{}", plan::markdown(plan)),
    }
    Ok(())
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    // The proposal must be valid, or the plan would describe something apply refuses.
    let proposed = input::compile(&args.file, chrono::Utc::now())?;
    let (current, _) = input::read_model(&args.against)?;
    let new = proposed.snapshot.model();
    if current.workspace != new.workspace {
        bail!(
            "`{}` is workspace `{}` but `{}` is workspace `{}`; a plan compares two versions of one workspace",
            args.file.display(),
            new.workspace,
            args.against.display(),
            current.workspace
        );
    }
    let changes = permset_core::diff(&current, new).into_iter().map(Into::into).collect();
    // Who gains or loses what: both files compiled at the same moment.
    let now = chrono::Utc::now();
    let before = permset_core::Snapshot::compile_at(&current, now, 0)
        .map_err(|e| anyhow::anyhow!("`{}` has errors: {e}", args.against.display()))?;
    let access_changes = permset_core::access_changes(&before, &proposed.snapshot, now);
    let plan = Plan {
        workspace: new.workspace.clone(),
        from_revision: None,
        to_revision: None,
        changes,
        access_changes,
    };
    print(&plan, args.format, "plan")?;
    Ok(ExitCode::SUCCESS)
}
