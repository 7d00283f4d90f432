//! The workspace file: a whole [`Model`] as one YAML document ("policy as
//! code"), read with line numbers for every error and written back in the
//! same shape.
//!
//! Reading goes YAML text → a small line-marked tree ([`yaml`]) → the model
//! ([`load`], with clone resolution in [`roles`]); writing is a hand-made
//! emitter ([`write`]) so that the output is stable, reviewable and always
//! loads back to an equal model.

use std::collections::BTreeMap;

use crate::model::Model;

mod load;
mod roles;
mod write;
pub mod yaml;

#[cfg(test)]
mod tests;

/// Input larger than this is refused before parsing.
const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// A problem in a workspace file, at a (1-based) line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct FileError {
    /// The line the problem is on.
    pub line: usize,
    /// What is wrong, in one lowercase line.
    pub message: String,
}

/// Where each named part of a workspace file was declared: a dotted path
/// (`roles.agent.grants.customers_view`, `assignments.users.bob.0`) → the
/// line of its key (or list item).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    lines: BTreeMap<String, usize>,
}

impl SourceMap {
    /// The line where `path` was declared, if it was.
    pub fn line(&self, path: &str) -> Option<usize> {
        self.lines.get(path).copied()
    }

    /// Every recorded path with its line, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> {
        self.lines.iter().map(|(path, line)| (path.as_str(), *line))
    }

    fn insert(&mut self, path: String, line: usize) {
        self.lines.insert(path, line);
    }
}

/// Reads a workspace file. On failure, returns every error found (sorted by line).
pub fn load_workspace_file(src: &str) -> Result<(Model, SourceMap), Vec<FileError>> {
    if src.len() > MAX_FILE_BYTES {
        return Err(vec![FileError {
            line: 1,
            message: format!("the file is larger than {} MiB", MAX_FILE_BYTES / (1024 * 1024)),
        }]);
    }
    let root = yaml::parse(src)?;
    let result = load::load(root.as_ref());
    result.map_err(|mut errors| {
        errors.sort_by_key(|e| e.line);
        errors
    })
}

/// Writes a model as a workspace file that loads back to an equal model.
///
/// Roles are written with their resolved grants and fields (never `clone:`);
/// where a role was cloned, `cloned_from:` records from what.
pub fn to_workspace_file(model: &Model) -> String {
    write::write(model)
}
