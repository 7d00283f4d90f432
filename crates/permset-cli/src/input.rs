//! Reading what file commands are given: the workspace file, records as JSON
//! (inline or `@path`), and the decision time.

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use permset_core::{load_workspace_file, Model, Record, Snapshot, SourceMap};

/// The database `serve`, `demo` and `keys` use unless told otherwise: a SQLite file in the current folder.
pub(crate) const DEFAULT_DATABASE: &str = "sqlite://permset.db";

/// A workspace file loaded and compiled.
pub(crate) struct Workspace {
    pub(crate) snapshot: Snapshot,
}

/// Reads and parses a workspace file, with every structural error listed.
pub(crate) fn read_model(path: &Path) -> Result<(Model, SourceMap)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    match load_workspace_file(&text) {
        Ok(loaded) => Ok(loaded),
        Err(errors) => {
            let lines: Vec<String> =
                errors.iter().map(|e| format!("{}:{}: {}", path.display(), e.line, e.message)).collect();
            bail!("`{}` is not a valid workspace file:\n{}", path.display(), lines.join("\n"))
        }
    }
}

/// Reads, validates and compiles a workspace file at `now`.
pub(crate) fn compile(path: &Path, now: DateTime<Utc>) -> Result<Workspace> {
    let (model, _) = read_model(path)?;
    let snapshot = Snapshot::compile_at(&model, now, 0).map_err(|e| {
        let lines: Vec<String> = e.diagnostics.iter().map(|d| format!("{}: {}", d.path, d.message)).collect();
        anyhow::anyhow!(
            "`{}` has errors (run `permset lint` for lines):\n{}",
            path.display(),
            lines.join("\n")
        )
    })?;
    Ok(Workspace { snapshot })
}

/// Parses `--record`/`--before`: a JSON object inline, or `@path` to a JSON file.
pub(crate) fn record(flag: &str, value: Option<&str>) -> Result<Option<Record>> {
    let Some(value) = value else { return Ok(None) };
    let text = match value.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {flag} file `{path}`"))?
        }
        None => value.to_owned(),
    };
    let parsed: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{flag} is not valid JSON"))?;
    match parsed {
        serde_json::Value::Object(map) => Ok(Some(map)),
        other => bail!("{flag} must be a JSON object of field values, not `{other}`"),
    }
}

/// Parses `--at`, defaulting to the current time.
pub(crate) fn at(value: Option<&str>) -> Result<DateTime<Utc>> {
    match value {
        None => Ok(Utc::now()),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| format!("--at `{text}` is not an RFC 3339 time such as `2026-01-31T09:00:00Z`")),
    }
}
