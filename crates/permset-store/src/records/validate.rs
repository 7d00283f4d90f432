//! Checking and normalising record values against the schema on write.
//!
//! What is stored is exactly what the SQL translation assumes: values fit
//! their field's type, strings hold no NUL, numbers are exact as `f64`
//! (larger integers are stored as the nearest `f64`, which is how the engine
//! compares them), datetimes are fixed-width UTC text, and a parallel
//! `instants` document holds the instant of every string that parses as
//! RFC 3339 (see `sql.rs`). User and team keys must exist in the model;
//! lookups are returned for the caller to check against stored records.
//! A string value holds at most [`MAX_STRING_BYTES`], a list at most
//! [`MAX_LIST_LEN`] elements.

use permset_core::{did_you_mean, FieldType, ObjectDef, Record, Snapshot};
use serde_json::{Number, Value};

use super::sql::canonical_instant;
use crate::StoreError;

/// A lookup a write refers to: (field, target object, target id).
pub(crate) type LookupRef = (String, String, String);

/// The longest string value a field may hold, in bytes (UTF-8).
pub(crate) const MAX_STRING_BYTES: usize = 64 * 1024;

/// The most elements a list field may hold.
pub(crate) const MAX_LIST_LEN: usize = 1000;

/// Why a value is too big for one field, if it is: a record is data about a
/// customer or a conversation, not a file store, and one oversized field
/// would otherwise be copied into every list page, export and search.
fn oversize(object: &str, name: &str, value: &Value) -> Option<String> {
    match value {
        Value::String(s) if s.len() > MAX_STRING_BYTES => {
            Some(format!("`{object}.{name}` is longer than {MAX_STRING_BYTES} bytes ({} bytes)", s.len()))
        }
        Value::Array(items) if items.len() > MAX_LIST_LEN => {
            Some(format!("`{object}.{name}` holds more than {MAX_LIST_LEN} elements ({})", items.len()))
        }
        Value::Array(items) => items.iter().find_map(|item| oversize(object, name, item)),
        _ => None,
    }
}

/// Whether `id` is a valid record id: `[A-Za-z0-9_-]{1,64}`.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn type_name(ty: &FieldType) -> String {
    match ty {
        FieldType::String => "a string".into(),
        FieldType::Number => "a number".into(),
        FieldType::Bool => "`true` or `false`".into(),
        FieldType::Enum(_) => "one of the enum's values".into(),
        FieldType::Datetime => "an RFC 3339 datetime, like `2024-01-31T09:00:00Z`".into(),
        FieldType::User => "a user key".into(),
        FieldType::Team => "a team key".into(),
        FieldType::Lookup(target) => format!("the id of a `{target}` record"),
        FieldType::List(inner) => format!("a list of {}", type_name(inner)),
    }
}

/// Validates and normalises the fields of a write; `null` values are kept
/// (the caller decides whether they remove a field). Returns the lookups to check.
pub(crate) fn normalize(
    snapshot: &Snapshot,
    object: &str,
    def: &ObjectDef,
    fields: &mut Record,
) -> Result<Vec<LookupRef>, StoreError> {
    let mut lookups = Vec::new();
    for (name, value) in fields.iter_mut() {
        let Some(field) = def.fields.get(name) else {
            let hint = did_you_mean(name, def.fields.keys().map(String::as_str));
            return Err(StoreError::invalid(format!("unknown field `{name}` of `{object}`{hint}")));
        };
        if value.is_null() {
            continue;
        }
        if let Some(message) = oversize(object, name, value) {
            return Err(StoreError::invalid(message));
        }
        let at =
            |v: &Value| format!("`{object}.{name}` must be {}, not `{}`", type_name(&field.ty), short(v));
        match &field.ty {
            FieldType::List(inner) => {
                let Value::Array(items) = value else { return Err(StoreError::invalid(at(value))) };
                for item in items.iter_mut() {
                    if item.is_null() {
                        return Err(StoreError::invalid(at(item)));
                    }
                    scalar(snapshot, name, inner, item, &mut lookups)
                        .map_err(|_| StoreError::invalid(at(item)))?;
                }
            }
            ty => scalar(snapshot, name, ty, value, &mut lookups).map_err(|m| match m {
                Some(message) => StoreError::invalid(message),
                None => StoreError::invalid(at(value)),
            })?,
        }
    }
    Ok(lookups)
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= 40 {
        return text;
    }
    let mut s: String = text.chars().take(39).collect();
    s.push('…');
    s
}

/// Checks one scalar; `Err(None)` is a plain type mismatch, `Err(Some)` a specific message.
fn scalar(
    snapshot: &Snapshot,
    field: &str,
    ty: &FieldType,
    value: &mut Value,
    lookups: &mut Vec<LookupRef>,
) -> Result<(), Option<String>> {
    let text = |v: &Value| -> Result<String, Option<String>> {
        match v.as_str() {
            Some(s) if s.contains('\0') => Err(Some(format!("`{field}` may not contain NUL characters"))),
            Some(s) => Ok(s.to_owned()),
            None => Err(None),
        }
    };
    match ty {
        FieldType::String => {
            text(value)?;
        }
        FieldType::Number => {
            let Value::Number(n) = value else { return Err(None) };
            *value = Value::Number(exact_number(n));
        }
        FieldType::Bool => {
            if !value.is_boolean() {
                return Err(None);
            }
        }
        FieldType::Enum(values) => {
            let s = text(value)?;
            if !values.contains(&s) {
                let hint = did_you_mean(&s, values.iter().map(String::as_str));
                return Err(Some(format!("unknown value `{s}` for `{field}`{hint}")));
            }
        }
        FieldType::Datetime => {
            let s = text(value)?;
            let Some(canonical) = canonical_instant(&s) else {
                return Err(Some(format!(
                    "invalid datetime `{s}` for `{field}`; expected RFC 3339, like `2024-01-31T09:00:00Z`"
                )));
            };
            *value = Value::String(canonical);
        }
        FieldType::User => {
            let s = text(value)?;
            if !snapshot.model().users.contains_key(&s) {
                let hint = did_you_mean(&s, snapshot.model().users.keys().map(String::as_str));
                return Err(Some(format!("unknown user `{s}` for `{field}`{hint}")));
            }
        }
        FieldType::Team => {
            let s = text(value)?;
            if !snapshot.model().teams.contains_key(&s) {
                let hint = did_you_mean(&s, snapshot.model().teams.keys().map(String::as_str));
                return Err(Some(format!("unknown team `{s}` for `{field}`{hint}")));
            }
        }
        FieldType::Lookup(target) => {
            let s = text(value)?;
            if !valid_id(&s) {
                return Err(Some(format!("invalid record id `{s}` for `{field}`")));
            }
            lookups.push((field.to_owned(), target.clone(), s));
        }
        FieldType::List(_) => return Err(None),
    }
    Ok(())
}

/// Integers beyond ±2^53 become the nearest `f64`, the value the engine compares.
fn exact_number(n: &Number) -> Number {
    const EXACT: i64 = 1 << 53;
    if n.as_i64().is_some_and(|i| (-EXACT..=EXACT).contains(&i)) || n.is_f64() {
        return n.clone();
    }
    n.as_f64().and_then(Number::from_f64).unwrap_or_else(|| n.clone())
}

/// The `instants` document of a record: for each string that parses as an
/// instant, its fixed-width UTC text; for each array, the same per element (or null).
pub(crate) fn instants(data: &Record) -> Record {
    let mut out = Record::new();
    for (name, value) in data {
        match value {
            Value::String(s) => {
                if let Some(c) = canonical_instant(s) {
                    out.insert(name.clone(), Value::String(c));
                }
            }
            Value::Array(items) => {
                let mirrored = items
                    .iter()
                    .map(|v| v.as_str().and_then(canonical_instant).map_or(Value::Null, Value::String))
                    .collect();
                out.insert(name.clone(), Value::Array(mirrored));
            }
            _ => {}
        }
    }
    out
}
