//! The audit log's summary view (`GET /audit?view=summary`): each entry
//! without its `before`/`after` states, which for a model change hold the
//! whole model twice (45 KB for one small role on the test fixture, MBs on a
//! workspace of 1,000 roles), but with what changed between them worked out
//! here: at most [`MAX_CHANGES`] paths, one line each, the same lines the
//! console would draw from the two states.

use permset_store::AuditEntry;
use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// Paths listed per entry; `changed` counts them all.
const MAX_CHANGES: usize = 40;
/// Characters of a value shown in a change line.
const MAX_VALUE: usize = 120;

/// An entry as the summary view shows it: who, when, why, origin, chain fields, `size` (bytes of JSON
/// of `before` + `after`), `changed` (how many paths differ) and `changes` (`[op, path, text]`, op `+`
/// added, `-` removed, `~` changed).
pub(crate) fn entry_summary(entry: AuditEntry) -> Result<Value, ApiError> {
    let size = json_len(&entry.before)? + json_len(&entry.after)?;
    let mut changes = Vec::new();
    let changed = diff(&entry.before, &entry.after, &mut String::new(), &mut changes);
    let mut value = serde_json::to_value(entry).map_err(|e| ApiError::internal(&e))?;
    if let Some(fields) = value.as_object_mut() {
        fields.remove("before");
        fields.remove("after");
        fields.insert("size".to_owned(), json!(size));
        fields.insert("changed".to_owned(), json!(changed));
        fields.insert("changes".to_owned(), json!(changes));
    }
    Ok(value)
}

fn json_len(value: &Value) -> Result<usize, ApiError> {
    Ok(serde_json::to_string(value).map_err(|e| ApiError::internal(&e))?.len())
}

/// Counts the paths where `before` and `after` differ, keeping the first [`MAX_CHANGES`] as lines.
/// Objects are compared key by key; arrays and scalars as wholes.
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
