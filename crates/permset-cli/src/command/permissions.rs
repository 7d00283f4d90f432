//! `permset permissions`: a user's effective permission matrix.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use permset_core::{EffectivePermission, STANDARD_ACTIONS};

use crate::input;

/// Arguments of `permissions`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The workspace file (YAML).
    pub(crate) file: PathBuf,
    /// The user's key.
    #[arg(long)]
    pub(crate) user: String,
    /// As of this RFC 3339 time (default: now).
    #[arg(long)]
    pub(crate) at: Option<String>,
    /// Print every permission with its sources as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let now = input::at(args.at.as_deref())?;
    let workspace = input::compile(&args.file, now)?;
    let snapshot = &workspace.snapshot;
    if snapshot.user_kind(&args.user).is_none() {
        let keys = snapshot.model().users.keys().map(String::as_str);
        bail!("unknown user `{}`{}", args.user, permset_core::did_you_mean(&args.user, keys));
    }
    let rows = snapshot.effective_permissions(&args.user, now);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", render_table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// Modules as rows, the standard actions as columns, other actions in a last column.
fn render_table(rows: &[EffectivePermission]) -> String {
    let mut modules: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for row in rows {
        modules.entry(&row.module).or_default().insert(&row.action, &row.access);
    }
    let mut header = vec!["module".to_owned()];
    header.extend(STANDARD_ACTIONS.iter().map(|a| (*a).to_owned()));
    header.push("other".to_owned());
    let mut table = vec![header];
    for (module, actions) in &modules {
        let cell = |access: &str| if access == "none" { "-".to_owned() } else { access.to_owned() };
        let mut line = vec![(*module).to_owned()];
        line.extend(STANDARD_ACTIONS.iter().map(|a| actions.get(a).map_or("-".to_owned(), |x| cell(x))));
        let other: Vec<String> = actions
            .iter()
            .filter(|(a, access)| !STANDARD_ACTIONS.contains(a) && **access != "none")
            .map(|(a, access)| format!("{a}={access}"))
            .collect();
        line.push(if other.is_empty() { "-".to_owned() } else { other.join(" ") });
        table.push(line);
    }
    let widths: Vec<usize> =
        (0..table[0].len()).map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &table {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
