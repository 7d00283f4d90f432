//! `permset test`: run policy test suites against a workspace file, offline,
//! with grant coverage (docs/POLICY_TESTS.md).
//!
//! Exit codes: 0 when every case passes (and coverage meets
//! `--min-coverage`), 1 on any failure, 2 on bad input (the workspace or a
//! suite does not load, or names something that does not exist).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::input;
use crate::policy_test::coverage::Coverage;
use crate::policy_test::report::{self, Report};
use crate::policy_test::{run, suite};

/// The suffix of a test suite's file name.
const SUITE_SUFFIX: &str = ".permset-test.yaml";

/// Output formats of `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Failures with `FILE:LINE:`, coverage, and the summary line.
    Text,
    /// One JSON document for tools.
    Json,
    /// JUnit XML for CI systems.
    Junit,
}

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The workspace file (YAML).
    pub(crate) workspace: PathBuf,
    /// Suite files; by default every `STEM*.permset-test.yaml` beside the
    /// workspace file (`support.yaml` → `support.permset-test.yaml`,
    /// `support.billing.permset-test.yaml`, `support-billing.permset-test.yaml`).
    pub(crate) suites: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: Format,
    /// Write the report to this file instead of stdout (stdout then gets the text report).
    #[arg(long)]
    pub(crate) output: Option<PathBuf>,
    /// Fail (exit 1) when fewer than this percentage of the grants are exercised.
    #[arg(long, value_name = "PERCENT")]
    pub(crate) min_coverage: Option<f64>,
}

/// Whether `name` is a suite of the workspace whose file stem is `stem`:
/// `STEM.permset-test.yaml`, or `STEM` then `.`, `-` or `_` then anything
/// then `.permset-test.yaml`. (Plain "starts with the stem" would let
/// `support.yaml` pick up `support2.permset-test.yaml`.)
fn belongs_to(name: &str, stem: &str) -> bool {
    let Some(base) = name.strip_suffix(SUITE_SUFFIX) else { return false };
    match base.strip_prefix(stem) {
        Some("") => true,
        Some(rest) => rest.len() > 1 && rest.starts_with(['.', '-', '_']),
        None => false,
    }
}

/// The suites beside a workspace file, sorted by name.
fn discover(workspace: &Path) -> Result<Vec<PathBuf>> {
    let stem = workspace.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    // A bare file name has the current folder as its parent; keep the found
    // names bare too, so that messages read `support.permset-test.yaml:3:`.
    let dir = workspace.parent().map(Path::to_path_buf).unwrap_or_default();
    let listed = if dir.as_os_str().is_empty() { Path::new(".") } else { dir.as_path() };
    let entries =
        std::fs::read_dir(listed).with_context(|| format!("cannot read folder `{}`", listed.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| belongs_to(n, stem)))
        .map(|e| dir.join(e.file_name()))
        .collect();
    found.sort();
    if found.is_empty() {
        bail!(
            "no test suites for `{}`: name one, or add `{}` beside it",
            workspace.display(),
            dir.join(format!("{stem}{SUITE_SUFFIX}")).display()
        );
    }
    Ok(found)
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    if let Some(min) = args.min_coverage {
        if !(0.0..=100.0).contains(&min) {
            bail!("--min-coverage must be a percentage from 0 to 100, not `{min}`");
        }
    }
    let now = chrono::Utc::now();
    let workspace = input::compile(&args.workspace, now)?;
    let snapshot = &workspace.snapshot;
    let paths = if args.suites.is_empty() { discover(&args.workspace)? } else { args.suites.clone() };
    let mut suites = Vec::new();
    let mut errors = Vec::new();
    for path in &paths {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{shown}`"))?;
        match suite::read(&shown, &text, snapshot, now) {
            Ok(suite) => suites.push(suite),
            Err(mut lines) => errors.append(&mut lines),
        }
    }
    if !errors.is_empty() {
        bail!("the test suites have errors:\n{}", errors.join("\n"));
    }
    let mut coverage = Coverage::new(snapshot);
    let results = suites.iter().map(|s| run::run_suite(s, snapshot, &mut coverage)).collect();
    let report = Report { suites: results, coverage: coverage.summary(), min_coverage: args.min_coverage };
    let rendered = match args.format {
        Format::Text => report::text(&report),
        Format::Json => report::json(&report)?,
        Format::Junit => report::junit(&report),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, rendered).with_context(|| format!("cannot write `{}`", path.display()))?;
            if args.format != Format::Text {
                print!("{}", report::text(&report));
            }
        }
        None => print!("{rendered}"),
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::belongs_to;

    #[test]
    fn suites_belong_to_the_workspace_with_their_stem() {
        assert!(belongs_to("support.permset-test.yaml", "support"));
        assert!(belongs_to("support.billing.permset-test.yaml", "support"));
        assert!(belongs_to("support-billing.permset-test.yaml", "support"));
        assert!(!belongs_to("support2.permset-test.yaml", "support"));
        assert!(!belongs_to("support.yaml", "support"));
        assert!(!belongs_to("support-.permset-test.yaml", "support"));
        assert!(!belongs_to("other.permset-test.yaml", "support"));
    }
}
