//! The audit log's summary view (`GET /audit?view=summary`): each entry
//! without its `before`/`after` states, which for a model change hold the
//! whole model twice (45 KB for one small role on the test fixture, MBs on a
//! workspace of 1,000 roles), but with what changed between them: the
//! summary the store keeps beside each entry (permset-store's
//! `AuditSummary`), so that a page of the log reads no model.

use permset_store::AuditLine;
use serde_json::{json, Value};

use crate::error::ApiError;

/// The largest states (`before` + `after`, bytes) read to summarise an entry written before the
/// store kept summaries; a larger one is listed by its size alone.
pub(crate) const MAX_STATE_BYTES: u64 = 512 * 1024;

/// An entry as the summary view shows it: who, when, why, origin, chain fields, `size` (bytes of JSON
/// of `before` + `after`), `changed` (how many paths differ) and `changes` (the first 40 as
/// `[op, path, text]`, op `+` added, `-` removed, `~` changed); `changed: null` and no changes for an
/// old entry too large to summarise here (it is one `GET /audit?after=seq-1&limit=1` away).
pub(crate) fn entry_summary(line: AuditLine) -> Result<Value, ApiError> {
    let AuditLine { entry, size, summary } = line;
    let (changed, changes) = match summary {
        Some(s) => (json!(s.changed), json!(s.changes)),
        None => (Value::Null, json!([])),
    };
    let mut value = serde_json::to_value(entry).map_err(|e| ApiError::internal(&e))?;
    if let Some(fields) = value.as_object_mut() {
        fields.remove("before");
        fields.remove("after");
        fields.insert("size".to_owned(), json!(size));
        fields.insert("changed".to_owned(), changed);
        fields.insert("changes".to_owned(), changes);
    }
    Ok(value)
}
