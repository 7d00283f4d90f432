//! What an audit entry changed, worked out from its two states once, when the
//! entry is written, and kept beside it (`audit.summary`): how many paths
//! differ and the first [`MAX_CHANGES`] of them as lines. A model change holds
//! the whole model before and after (megabytes on a workspace of 1,000 roles),
//! so a page of the log reads these lines instead of the states. The summary
//! is not covered by the entry's hash: `verify` recomputes it from the states
//! and names an entry whose stored summary does not match them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Paths listed per entry; `changed` counts them all.
pub(crate) const MAX_CHANGES: usize = 40;
/// Characters of a value shown in a change line.
const MAX_VALUE: usize = 120;

/// What changed between an entry's states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSummary {
    /// How many paths differ.
    pub changed: u64,
    /// The first [`MAX_CHANGES`] as `[op, path, text]`: op `+` added, `-` removed, `~` changed.
    pub changes: Vec<[String; 3]>,
}

impl AuditSummary {
    /// Compares `before` and `after`: objects key by key (sorted), arrays and scalars as wholes.
    pub fn of(before: &Value, after: &Value) -> AuditSummary {
        let mut changes = Vec::new();
        let changed = diff(before, after, &mut String::new(), &mut changes);
        AuditSummary { changed: changed as u64, changes }
    }
}

fn diff(before: &Value, after: &Value, path: &mut String, out: &mut Vec<[String; 3]>) -> usize {
    if before == after {
        return 0;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys().filter(|k| !b.contains_key(*k))).collect();
            keys.sort();
            let mut n = 0;
            for key in keys {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                n += match (b.get(key), a.get(key)) {
                    (Some(x), Some(y)) => diff(x, y, path, out),
                    (None, Some(y)) => push_line(out, "+", path, short(y)),
                    (Some(x), None) => push_line(out, "-", path, short(x)),
                    (None, None) => 0,
                };
                path.truncate(len);
            }
            n
        }
        // A record that did not exist (a key created) reads field by field, as added (or removed):
        // `+ label: …`, `+ user: …` rather than one line of JSON cut short.
        (Value::Null, Value::Object(_)) => diff(&Value::Object(Map::new()), after, path, out),
        (Value::Object(_), Value::Null) => diff(before, &Value::Object(Map::new()), path, out),
        (Value::Null, _) => push_line(out, "+", path, short(after)),
        (_, Value::Null) => push_line(out, "-", path, short(before)),
        _ => push_line(out, "~", path, format!("{} → {}", short(before), short(after))),
    }
}

fn push_line(out: &mut Vec<[String; 3]>, op: &str, path: &str, text: String) -> usize {
    if out.len() < MAX_CHANGES {
        out.push([op.to_owned(), path.to_owned(), text]);
    }
    1
}

/// A value as one short line: strings bare, anything else as compact JSON, cut at [`MAX_VALUE`] chars.
fn short(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(MAX_VALUE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
