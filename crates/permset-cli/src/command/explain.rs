//! `permset explain`: a decision with its path or near misses.

use std::process::ExitCode;

use anyhow::Result;
use permset_core::Request;

use crate::input;

/// `check`'s arguments plus `--json`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) request: super::check::RequestArgs,
    /// Print the explanation as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let a = &args.request;
    let now = input::at(a.at.as_deref())?;
    let record = input::record("--record", a.record.as_deref())?;
    let before = input::record("--before", a.before.as_deref())?;
    let workspace = input::compile(&a.file, now)?;
    let request = Request {
        user: &a.user,
        permission: &a.permission,
        record: record.as_ref(),
        before: before.as_ref(),
        now,
    };
    super::check::resolve(&workspace.snapshot, &request)?;
    let explanation = workspace.snapshot.explain(&request, &[]);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        print!("{explanation}");
    }
    Ok(ExitCode::SUCCESS)
}
