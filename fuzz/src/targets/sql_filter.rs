//! Target `sql_filter`: the differential of the predicate → SQL
//! translation. Fuzzed records are written to SQLite through the store,
//! fuzzed filters are listed through it, and the records the SQL selects
//! must be exactly those `Expr::matches` selects — the engine's evaluator
//! is the oracle (DESIGN.md §5: the list predicate means what `check` means).

use std::collections::BTreeMap;

use arbitrary::Unstructured;
use chrono::Utc;
use permset_core::condition::{self, TypeContext, UserContext};
use permset_core::{Record, Snapshot};
use permset_store::{ListQuery, Store, StoreError};
use serde_json::Value;

use super::record_json::open_store;
use super::{shape, signature, Target};
use crate::gen;

pub(super) struct SqlFilterTarget {
    rt: tokio::runtime::Runtime,
    store: Store,
    snapshot: Snapshot,
    /// Ids written by the previous input, deleted before the next one.
    written: Vec<String>,
}

impl SqlFilterTarget {
    pub(super) fn new() -> Self {
        let (rt, store, snapshot) = open_store(false);
        SqlFilterTarget { rt, store, snapshot, written: Vec::new() }
    }
}

const DICTIONARY: &[&str] = &[
    " and ",
    " or ",
    "not ",
    " in ",
    " contains ",
    "==",
    "!=",
    "<=",
    ">=",
    "<",
    ">",
    "null",
    "\"\"",
    "\"a\"",
    "\"2024-01-01T00:00:00Z\"",
    "[",
    "]",
    "1e308",
    "-0",
    "9007199254740993",
    "\u{0}",
];

fn ids(records: &[Record]) -> Vec<String> {
    records.iter().filter_map(|r| r.get("id")?.as_str().map(str::to_owned)).collect()
}

impl Target for SqlFilterTarget {
    fn name(&self) -> &'static str {
        "sql_filter"
    }

    fn dictionary(&self) -> &'static [&'static str] {
        DICTIONARY
    }

    fn run(&mut self, data: &[u8]) -> Result<u64, String> {
        let mut u = Unstructured::new(data);
        let (store, snapshot, now) = (&self.store, &self.snapshot, Utc::now());
        let count = 1 + gen::choose(&mut u, 8);
        let records: Vec<Record> = (0..count)
            .map(|i| {
                let mut r = gen::record(&mut u, false);
                r.insert("id".into(), Value::String(format!("r{i}")));
                r
            })
            .collect();
        let filters: Vec<String> =
            (0..1 + gen::choose(&mut u, 4)).map(|_| gen::condition(&mut u, 3, true)).collect();
        let Some(def) = snapshot.schema().objects.get("things") else { return Err("no object".into()) };
        let attributes = BTreeMap::new();
        let ctx = TypeContext { object: "things", fields: &def.fields, user_attributes: &attributes };
        let written = std::mem::take(&mut self.written);
        let (outcome, written) = self.rt.block_on(async {
            for id in written {
                if let Err(e) = store.delete_record(snapshot, "own", "things", &id, now).await {
                    return (Err(format!("`{id}` cannot be deleted: {e:?}")), Vec::new());
                }
            }
            let mut written = Vec::new();
            for record in records {
                let id = record.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                match store.create_record(snapshot, "own", "things", record, now).await {
                    Ok(_) => written.push(id),
                    // Values the store refuses (a NUL, a lookup to a record not written yet) are skipped.
                    Err(StoreError::Invalid { .. } | StoreError::NotFound { .. }) => {}
                    Err(e) => return (Err(format!("create failed: {e:?}")), written),
                }
            }
            let all = ListQuery { limit: Some(1000), ..ListQuery::default() };
            let stored = match store.list_records(snapshot, "own", "things", &all, now).await {
                Ok(page) => page.records,
                Err(e) => return (Err(format!("list failed: {e:?}")), written),
            };
            let mut seen = Vec::new();
            for text in filters {
                // Filters may name `user.id` and `user.teams` but no attributes (ListQuery).
                let Ok(expr) = condition::compile(&text, &ctx) else {
                    seen.push("ill-typed".to_owned());
                    continue;
                };
                let empty = permset_core::Attributes::new();
                let own = UserContext { id: "own", teams: condition::Teams::EMPTY, attributes: &empty };
                let bound = expr.bind(&own);
                let expected: Vec<String> =
                    ids(&stored.iter().filter(|r| bound.matches(r)).cloned().collect::<Vec<_>>());
                let query = ListQuery { filter: Some(text.clone()), limit: Some(1000), ..ListQuery::default() };
                let got = match store.list_records(snapshot, "own", "things", &query, now).await {
                    // No stored value holds a NUL, and PostgreSQL text cannot: refused up front.
                    Err(StoreError::Invalid { .. }) if text.contains('\0') => {
                        seen.push("nul".to_owned());
                        continue;
                    }
                    Ok(page) => ids(&page.records),
                    Err(e) => return (Err(format!("filter `{text}` fails: {e:?}")), written),
                };
                if got != expected {
                    let records = serde_json::to_string(&stored).unwrap_or_default();
                    let message = format!(
                        "filter `{text}` (bound `{bound}`): SQL selects {got:?}, the engine {expected:?}; records {records}"
                    );
                    return (Err(message), written);
                }
                let part = match got.len() {
                    0 => "none",
                    n if n == stored.len() => "all",
                    _ => "some",
                };
                seen.push(format!("{} {part}", shape(&bound)));
            }
            (Ok(signature(seen)), written)
        });
        self.written = written;
        outcome
    }
}
