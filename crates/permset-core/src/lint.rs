//! Lint (DESIGN.md §3): every validation finding of a model, errors and
//! warnings, placed on a line of the workspace file when a source map is given.

use crate::catalogue::{merged_schema, system_roles};
use crate::file::SourceMap;
use crate::model::Model;
use crate::validate::{validate, Diagnostic, Severity};

/// A diagnostic placed in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The diagnostic.
    pub diagnostic: Diagnostic,
}

impl Finding {
    /// Whether this finding blocks saving.
    pub fn is_error(&self) -> bool {
        self.diagnostic.severity == Severity::Error
    }
}

/// Lints a model. Findings come sorted by line, errors before warnings on a line.
pub fn lint(model: &Model, source: Option<&SourceMap>) -> Vec<Finding> {
    let schema = merged_schema(&model.schema);
    let system = system_roles(&schema);
    let mut findings: Vec<Finding> = validate(model, &schema, &system)
        .into_iter()
        .map(|diagnostic| Finding { line: source.and_then(|s| line_of(s, &diagnostic.path)), diagnostic })
        .collect();
    findings.sort_by_key(|f| (f.line.unwrap_or(0), f.diagnostic.severity));
    findings
}

/// The line of a path, or of its nearest recorded ancestor.
fn line_of(source: &SourceMap, path: &str) -> Option<usize> {
    let mut current = path;
    loop {
        if let Some(line) = source.line(current) {
            return Some(line);
        }
        current = &current[..current.rfind('.')?];
    }
}
