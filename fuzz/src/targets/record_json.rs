//! Target `record_json`: a record body, as JSON text or generated from the
//! schema's types, written through the store (SQLite, in memory) exactly
//! as `POST …/records` and `PATCH …/records/{id}` write it.
//!
//! Properties: a write never panics and fails only as bad input (invalid,
//! conflict, a lookup to a record that is not there), never as a database
//! or corrupt-data error; what is stored is what the SQL translation
//! assumes (no NUL, numbers exact as `f64`, datetimes fixed-width UTC);
//! the record reads back as it was returned, and a filter on its id finds it.

use arbitrary::Unstructured;
use chrono::Utc;
use permset_core::{Record, Snapshot};
use permset_store::{ListQuery, Store, StoreError};
use serde_json::Value;

use super::{message_kind, one_line, signature, workspace, Target};
use crate::gen;

pub(super) struct RecordJsonTarget {
    rt: tokio::runtime::Runtime,
    store: Store,
    snapshot: Snapshot,
}

/// An in-memory store holding the fuzz workspace and the lookup targets `r0`..`r2`.
#[expect(clippy::expect_used, reason = "setup of the target, not the code under test")]
pub(super) fn open_store(lookup_targets: bool) -> (tokio::runtime::Runtime, Store, Snapshot) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let (model, _) = workspace();
    let (store, snapshot) = rt.block_on(async {
        let store = Store::open("sqlite::memory:").await.expect("an in-memory store");
        store.create_workspace(&model.workspace, "own").await.expect("the workspace");
        store.apply(&model.workspace, "own", &model, "fuzz", false).await.expect("the model applies");
        let snapshot = store.snapshot(&model.workspace).await.expect("a snapshot");
        if lookup_targets {
            for id in ["r0", "r1", "r2"] {
                let mut r = Record::new();
                r.insert("id".into(), Value::String(id.into()));
                store
                    .create_record(&snapshot, "own", "things", r, Utc::now())
                    .await
                    .expect("a lookup target");
            }
        }
        (store, snapshot)
    });
    (rt, store, snapshot)
}

impl RecordJsonTarget {
    pub(super) fn new() -> Self {
        let (rt, store, snapshot) = open_store(true);
        RecordJsonTarget { rt, store, snapshot }
    }
}

const DICTIONARY: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"s\":",
    "\"n\":",
    "\"b\":",
    "\"e\":",
    "\"d\":",
    "\"u\":",
    "\"t\":",
    "\"k\":",
    "\"ls\":",
    "\"ln\":",
    "\"ld\":",
    "\"id\":",
    "null",
    "true",
    "false",
    "1e308",
    "-0",
    "9007199254740993",
    "18446744073709551615",
    "\"2024-01-01T00:00:00Z\"",
    "\"2016-12-31T23:59:60Z\"",
    "\"\\u0000\"",
    "\"r1\"",
    "\"own\"",
    "\"t1\"",
    "\"a\"",
    "\"\\ud800\"",
    "1.0",
    "[\"x\"]",
];

/// Bad input a write may fail with; anything else is a finding.
fn expected_refusal(e: &StoreError) -> bool {
    matches!(e, StoreError::Invalid { .. } | StoreError::Conflict { .. } | StoreError::NotFound { .. })
}

/// What the SQL translation assumes of a stored value (see `records/validate.rs`).
fn stored_as_assumed(name: &str, value: &Value) -> Result<(), String> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::String(s) if s.contains('\0') => Err(format!("`{name}` stored with a NUL")),
        Value::String(s) if name == "d" || name == "ld" => {
            let canonical = chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string());
            match canonical {
                Ok(c) if c == *s => Ok(()),
                _ => Err(format!("datetime `{name}` stored as `{s}`, not fixed-width UTC")),
            }
        }
        Value::Number(n) if (n.is_i64() || n.is_u64()) && n.as_f64().is_some_and(|f| f.abs() > EXACT) => {
            Err(format!("`{name}` stored as the integer {n}, beyond exact `f64`"))
        }
        Value::Array(items) => items.iter().try_for_each(|v| stored_as_assumed(name, v)),
        Value::Object(_) => Err(format!("`{name}` stored as an object")),
        _ => Ok(()),
    }
}

impl Target for RecordJsonTarget {
    fn name(&self) -> &'static str {
        "record_json"
    }

    fn dictionary(&self) -> &'static [&'static str] {
        DICTIONARY
    }

    fn run(&mut self, data: &[u8]) -> Result<u64, String> {
        let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
        let mut u = Unstructured::new(rest);
        // Even: the bytes are JSON text (as a request body). Odd: the bytes steer a generated body.
        let body = if mode % 2 == 0 {
            match serde_json::from_slice::<Value>(rest) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Ok(signature("not an object")),
                Err(e) => return Ok(signature(("not json", e.classify() as u8))),
            }
        } else {
            gen::record(&mut u, true)
        };
        let patch = gen::record(&mut u, true);
        let (store, snapshot, now) = (&self.store, &self.snapshot, Utc::now());
        self.rt.block_on(async {
            let created = match store.create_record(snapshot, "own", "things", body, now).await {
                Ok(record) => record,
                Err(e) if expected_refusal(&e) && one_line(&e.to_string()) => {
                    return Ok(signature(("refused", message_kind(&e.to_string()))));
                }
                Err(e) => return Err(format!("create failed with an unexpected error: {e:?}")),
            };
            let id = created.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let read = store
                .get_record(snapshot, "own", "things", &id, now)
                .await
                .map_err(|e| format!("created `{id}` does not read back: {e:?}"))?;
            if read != created {
                return Err(format!("`{id}` was returned as {created:?} but reads back as {read:?}"));
            }
            for (name, value) in &read {
                stored_as_assumed(name, value)?;
            }
            let query = ListQuery {
                filter: Some(format!("id == \"{id}\"")),
                limit: Some(10),
                ..ListQuery::default()
            };
            let page = store.list_records(snapshot, "own", "things", &query, now).await;
            match page {
                Ok(page) if page.records == vec![read.clone()] => {}
                other => return Err(format!("a filter on the id of `{id}` gives {other:?}")),
            }
            let patched = match store.update_record(snapshot, "own", "things", &id, patch, now).await {
                Ok(record) => {
                    for (name, value) in &record {
                        stored_as_assumed(name, value)?;
                    }
                    "patched".to_owned()
                }
                Err(e) if expected_refusal(&e) => message_kind(&e.to_string()),
                Err(e) => return Err(format!("update of `{id}` failed with an unexpected error: {e:?}")),
            };
            // Keep the database small over long runs, and ids free for the next inputs.
            store
                .delete_record(snapshot, "own", "things", &id, now)
                .await
                .map_err(|e| format!("`{id}` cannot be deleted: {e:?}"))?;
            let fields: Vec<&String> = read.keys().collect();
            Ok(signature(("created", fields, patched)))
        })
    }
}
