//! Export: the list query streamed to the end in batches (keyset pagination
//! inside), as NDJSON lines or CSV, for callers that send it on as they read.
//!
//! Rule 6: export needs `<object>_export` at module level and, per record,
//! `check(export)` (which includes view). The view predicate, filter and
//! search run in SQL; the export grant's own limits are checked on each row
//! of the already-visible page, because the engine offers a predicate for
//! `view` only (see the crate docs).
//!
//! CSV cells that a spreadsheet would run as a formula (a string starting
//! with `=`, `+`, `-`, `@`, tab or CR) are prefixed with `'` (OWASP's CSV
//! injection advice); NDJSON is data and carries values unchanged.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use permset_core::{Actor, FieldLevel, Record, Request, Snapshot};
use serde_json::Value;

use super::list::ListPlan;
use super::{check_cursor, module_allowed, ListQuery};
use crate::{Store, StoreError};

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line.
    Ndjson,
    /// A header of the readable fields (`id` first), then one row per record.
    Csv,
}

const BATCH: u32 = 500;

struct State {
    store: Store,
    snapshot: Arc<Snapshot>,
    user: String,
    scope: Option<String>,
    object: String,
    plan: ListPlan,
    format: ExportFormat,
    columns: Vec<String>,
    cursor: Option<String>,
    header: bool,
    done: bool,
    now: DateTime<Utc>,
}

fn csv_cell(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => String::new(),
        // A spreadsheet runs a cell starting with one of these as a formula
        // (CSV injection); OWASP's remedy is a leading `'`, which shows the
        // text as typed. Numbers and JSON lists cannot start a formula.
        Some(Value::String(s)) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn csv_line(cells: impl Iterator<Item = String>) -> String {
    let mut line = cells.collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

impl State {
    /// The next non-empty chunk, or `None` at the end.
    async fn next_chunk(&mut self) -> Result<Option<String>, StoreError> {
        let mut out = String::new();
        if self.header {
            self.header = false;
            if self.format == ExportFormat::Csv {
                out.push_str(&csv_line(
                    self.columns.iter().map(|c| csv_cell(Some(&Value::String(c.clone())))),
                ));
            }
        }
        while !self.done {
            let (records, more) = self
                .store
                .fetch_page(self.snapshot.workspace(), &self.plan, self.cursor.as_deref(), BATCH)
                .await?;
            self.done = !more;
            self.cursor = records.last().and_then(|r| r.get("id")?.as_str()).map(str::to_owned);
            let permission = format!("{}_export", self.object);
            let exportable: Vec<Record> = records
                .into_iter()
                .filter(|r| {
                    let request = Request::new(&self.user, &permission, self.now).on(r);
                    self.snapshot.check_scoped(&request, self.scope.as_deref()).is_allowed()
                })
                .collect();
            let redacted = self
                .store
                .redact_page(
                    &self.snapshot,
                    Actor { user: &self.user, scope: self.scope.as_deref() },
                    &self.object,
                    exportable,
                    self.now,
                )
                .await?;
            for record in &redacted {
                match self.format {
                    ExportFormat::Ndjson => {
                        out.push_str(&Value::Object(record.clone()).to_string());
                        out.push('\n');
                    }
                    ExportFormat::Csv => {
                        out.push_str(&csv_line(self.columns.iter().map(|c| csv_cell(record.get(c)))))
                    }
                }
            }
            if !out.is_empty() {
                break;
            }
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }
}

impl Store {
    /// Streams every record of `object` that `user` may export (and that
    /// matches the query's filter and search; its cursor starts the export,
    /// its limit is ignored) as text chunks of whole lines.
    pub fn export_records<'a>(
        &self,
        snapshot: Arc<Snapshot>,
        actor: impl Into<Actor<'a>>,
        object: &str,
        query: &ListQuery,
        format: ExportFormat,
        now: DateTime<Utc>,
    ) -> Result<BoxStream<'static, Result<String, StoreError>>, StoreError> {
        let actor: Actor<'_> = actor.into();
        module_allowed(&snapshot, actor, object, "export", now)?;
        let plan = self.list_plan(&snapshot, actor, object, query, now)?;
        // Refused before the first byte: once streaming, an error can only cut the body short.
        check_cursor(query.after.as_deref())?;
        let mut columns: Vec<String> = snapshot
            .field_levels(actor, object, now)
            .into_iter()
            .filter(|(name, level)| *level >= FieldLevel::Read && name != "id")
            .map(|(name, _)| name)
            .collect();
        columns.sort();
        columns.insert(0, "id".to_owned());
        let state = State {
            store: self.clone(),
            snapshot,
            user: actor.user.to_owned(),
            scope: actor.scope.map(str::to_owned),
            object: object.to_owned(),
            plan,
            format,
            columns,
            cursor: query.after.clone(),
            header: true,
            done: false,
            now,
        };
        let stream = stream::try_unfold(state, |mut state| async move {
            let chunk = state.next_chunk().await?;
            Ok(chunk.map(|c| (c, state)))
        });
        Ok(stream.boxed())
    }
}
