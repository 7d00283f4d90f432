//! `permset lint`: validation findings of a workspace file, one per line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use permset_core::{lint, load_workspace_file};

/// Arguments of `lint`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The workspace file (YAML).
    pub(crate) file: PathBuf,
}

/// Prints `FILE:LINE: error|warning: message`; exit 1 when any error.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let shown = args.file.display();
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read `{shown}`"))?;
    let (model, source) = match load_workspace_file(&text) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in &errors {
                println!("{shown}:{}: error: {}", e.line, e.message);
            }
            return Ok(ExitCode::from(1));
        }
    };
    let findings = lint(&model, Some(&source));
    for f in &findings {
        let line = f.line.unwrap_or(1);
        println!("{shown}:{line}: {}: {}", f.diagnostic.severity.as_str(), f.diagnostic.message);
    }
    Ok(if findings.iter().any(|f| f.is_error()) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
