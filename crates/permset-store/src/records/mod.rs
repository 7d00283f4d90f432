//! Records of standard and custom objects, behind the engine: every read
//! and write is decided by the caller's compiled [`Snapshot`] for the acting
//! user (DESIGN.md §2, rules 1–10).
//!
//! - Reads never show a `none` field and blank lookups the user cannot
//!   view (the page's lookup targets are fetched in one query per object).
//!   A record the user may not view is `NotFound`: existence is not revealed.
//!   For the same reason only a user who views every record of an object
//!   may choose the id of a new one (a taken id is a `Conflict`); anyone
//!   else is refused whatever the id, and leaves the id to the store.
//! - Writes run in one transaction that first checks the snapshot's revision
//!   against the stored one (`Stale` otherwise), then rule 7 (every touched
//!   field at `edit`) and the record-level check (update before and after,
//!   create on the new record).
//! - List, search and export put the view predicate, the caller's filter
//!   and the search into the SQL `WHERE` (see `sql.rs`): no fetch-then-filter.
//!   A filter may read only readable fields, and a lookup (or list of
//!   lookups) only when the user views every target record: otherwise
//!   `customer == "c1"` would confirm an id the user is shown as blank.

pub(crate) mod access;
pub(crate) mod export;
mod list;
pub(crate) mod sql;
pub(crate) mod validate;
pub(crate) mod visibility;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use permset_core::condition;
use permset_core::{did_you_mean, Actor, FieldLevel, FieldType, ObjectDef, Record, Request, Snapshot};
use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, Transaction};

use crate::db::time_text;
use crate::{Store, StoreError};
use validate::{instants, normalize, valid_id, LookupRef};

/// What to list: an optional filter (a condition over the object's fields),
/// an optional search text, a cursor and a page size.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// A condition in the permset language (`status == "open"`); `user.id`
    /// and `user.teams` name the acting user. It may read only fields the user may read.
    pub filter: Option<String>,
    /// Case-insensitive (ASCII) text searched in the string fields the user may read.
    pub search: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// Page size: default 50, at most 1000.
    pub limit: Option<u32>,
}

impl ListQuery {
    /// The page size this query asks for, within 1..=1000 (50 when unset).
    pub(crate) fn page_size(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, 1000)
    }
}

/// One page of records, in id order.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The records, redacted for the acting user.
    pub records: Vec<Record>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new record id: 10 characters of milliseconds since the epoch and 16
/// random ones (Crockford base32, like a ULID), so ids sort by creation time.
pub fn new_id() -> String {
    let mut out = String::with_capacity(26);
    let millis = Utc::now().timestamp_millis().max(0) as u64;
    for i in (0..10).rev() {
        out.push(CROCKFORD[((millis >> (i * 5)) & 31) as usize] as char);
    }
    let mut rng = rand::thread_rng();
    for _ in 0..16 {
        out.push(CROCKFORD[rng.gen_range(0..32)] as char);
    }
    out
}

pub(crate) fn object_def<'s>(snapshot: &'s Snapshot, object: &str) -> Result<&'s ObjectDef, StoreError> {
    snapshot.schema().objects.get(object).ok_or_else(|| {
        let hint = did_you_mean(object, snapshot.schema().objects.keys().map(String::as_str));
        StoreError::invalid(format!("unknown object `{object}`{hint}"))
    })
}

/// The target object of a lookup or of a list of lookups.
fn lookup_target(ty: &FieldType) -> Option<&str> {
    match ty {
        FieldType::Lookup(target) => Some(target),
        FieldType::List(inner) => match &**inner {
            FieldType::Lookup(target) => Some(target),
            _ => None,
        },
        _ => None,
    }
}

fn record_name(object: &str, id: &str) -> String {
    format!("record `{id}` of `{object}`")
}

fn with_id(id: &str, data: &str) -> Result<Record, StoreError> {
    let mut record: Record = serde_json::from_str(data).map_err(StoreError::corrupt)?;
    record.insert("id".to_owned(), Value::String(id.to_owned()));
    Ok(record)
}

fn allowed(
    snapshot: &Snapshot,
    actor: Actor<'_>,
    permission: &str,
    record: &Record,
    before: Option<&Record>,
    now: DateTime<Utc>,
) -> bool {
    let request = Request { user: actor.user, permission, record: Some(record), before, now };
    snapshot.check_scoped(&request, actor.scope).is_allowed()
}

fn module_allowed(
    snapshot: &Snapshot,
    actor: Actor<'_>,
    object: &str,
    action: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (user, permission) = (actor.user, format!("{object}_{action}"));
    if snapshot.check_scoped(&Request::new(user, &permission, now), actor.scope).is_allowed() {
        Ok(())
    } else {
        Err(StoreError::forbidden(format!("`{user}` lacks permission `{permission}`")))
    }
}

/// The stored document of a record: its fields without `id`.
fn stored_data(record: &Record) -> Record {
    let mut data = record.clone();
    data.remove("id");
    data
}

/// A cursor is a record id (the last of the previous page); anything else is bad input.
pub(crate) fn check_cursor(after: Option<&str>) -> Result<(), StoreError> {
    match after {
        Some(cursor) if !valid_id(cursor) => Err(StoreError::invalid(format!("invalid cursor `{cursor}`"))),
        _ => Ok(()),
    }
}

impl Store {
    async fn fetch(
        &self,
        tx: Option<&mut Transaction<'static, Any>>,
        workspace: &str,
        object: &str,
        id: &str,
    ) -> Result<Option<Record>, StoreError> {
        // No stored id can fail this (ids are checked on create), and some
        // strings (a NUL) are not even valid PostgreSQL text parameters.
        if !valid_id(id) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {} FROM records WHERE workspace = $1 AND object = $2 AND id = $3",
            self.dialect.json_text("data")
        );
        let query = sqlx::query_scalar::<_, String>(&sql).bind(workspace).bind(object).bind(id);
        let data = match tx {
            Some(tx) => query.fetch_optional(&mut **tx).await?,
            None => query.fetch_optional(&self.pool).await?,
        };
        data.map(|d| with_id(id, &d)).transpose()
    }

    /// Rule 8 on write: each lookup must name an existing record the user may view.
    async fn check_lookups(
        &self,
        tx: &mut Transaction<'static, Any>,
        snapshot: &Snapshot,
        actor: Actor<'_>,
        lookups: &[LookupRef],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for (field, target, id) in lookups {
            let found = self.fetch(Some(tx), snapshot.workspace(), target, id).await?;
            let visible =
                found.is_some_and(|r| allowed(snapshot, actor, &format!("{target}_view"), &r, None, now));
            if !visible {
                return Err(StoreError::invalid(format!("`{field}`: no `{target}` record `{id}`")));
            }
        }
        Ok(())
    }

    /// Everything a create decides before touching the database: the id, the
    /// normalised fields, rule 7 on every field, and `check(create)` on the
    /// new record. Returns (id, stored fields, the record with its id, lookups to verify).
    fn prepare_create(
        snapshot: &Snapshot,
        actor: Actor<'_>,
        object: &str,
        mut fields: Record,
        now: DateTime<Utc>,
    ) -> Result<(String, Record, Record, Vec<LookupRef>), StoreError> {
        let user = actor.user;
        let def = object_def(snapshot, object)?;
        let id = match fields.remove("id") {
            None | Some(Value::Null) => new_id(),
            Some(Value::String(id)) if valid_id(&id) => {
                // A taken id answers `Conflict`, so choosing ids would reveal
                // which ids exist. Only a user who may view every record of
                // the object (and so could read that answer anyway) chooses;
                // for anyone else the refusal does not depend on the id.
                if snapshot.view_predicate(actor, object, now) != condition::Expr::Const(true) {
                    return Err(StoreError::forbidden(format!(
                        "`{user}` may not choose record ids of `{object}` (that needs view of every \
                         `{object}` record); leave `id` out and one is generated"
                    )));
                }
                id
            }
            Some(other) => {
                return Err(StoreError::invalid(format!(
                    "invalid record id {other}; use `[A-Za-z0-9_-]`, 1 to 64"
                )))
            }
        };
        fields.retain(|_, v| !v.is_null());
        let lookups = normalize(snapshot, object, def, &mut fields)?;
        if let Some(field) =
            snapshot.first_uncreatable_field(actor, object, fields.keys().map(String::as_str), now)
        {
            return Err(StoreError::forbidden(format!("`{user}` may not set field `{object}.{field}`")));
        }
        let mut record = fields.clone();
        record.insert("id".to_owned(), Value::String(id.clone()));
        if !allowed(snapshot, actor, &format!("{object}_create"), &record, None, now) {
            return Err(StoreError::forbidden(format!(
                "`{object}_create` does not allow `{user}` to create this record"
            )));
        }
        Ok((id, fields, record, lookups))
    }

    /// Creates a record of `object` from `fields` (an `id` field picks the
    /// id; otherwise one is generated) for `user`, and returns it as the user sees it.
    pub async fn create_record<'a>(
        &self,
        snapshot: &Snapshot,
        actor: impl Into<Actor<'a>>,
        object: &str,
        fields: Record,
        now: DateTime<Utc>,
    ) -> Result<Record, StoreError> {
        let actor: Actor<'_> = actor.into();
        // An unknown object is invalid input (422), not a missing permission.
        object_def(snapshot, object)?;
        module_allowed(snapshot, actor, object, "create", now)?;
        let (id, fields, record, lookups) = Self::prepare_create(snapshot, actor, object, fields, now)?;
        let mut tx = self.begin_write().await?;
        self.check_revision(&mut tx, snapshot.workspace(), snapshot.revision()).await?;
        self.check_lookups(&mut tx, snapshot, actor, &lookups, now).await?;
        if self.fetch(Some(&mut tx), snapshot.workspace(), object, &id).await?.is_some() {
            return Err(StoreError::Conflict {
                message: format!("{} already exists", record_name(object, &id)),
            });
        }
        self.insert_rows(&mut tx, snapshot.workspace(), object, &[(id, fields)], now).await?;
        tx.commit().await?;
        Ok(self.redact_page(snapshot, actor, object, vec![record], now).await?.pop().unwrap_or_default())
    }

    /// Creates many records of `object` for the actor as one transaction,
    /// all or nothing, with exactly the checks of
    /// [`Store::create_record`] for each: the way to load data (the demo,
    /// benchmarks, migrations) without a transaction and a disk sync per
    /// record. Returns the ids in order. A record whose id exists already
    /// fails the whole import with `Conflict`.
    pub async fn import_records<'a>(
        &self,
        snapshot: &Snapshot,
        actor: impl Into<Actor<'a>>,
        object: &str,
        records: Vec<Record>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let actor: Actor<'_> = actor.into();
        // An unknown object is invalid input (422), not a missing permission.
        object_def(snapshot, object)?;
        module_allowed(snapshot, actor, object, "create", now)?;
        let mut rows = Vec::with_capacity(records.len());
        let mut lookups = Vec::new();
        for fields in records {
            let (id, fields, _, refs) = Self::prepare_create(snapshot, actor, object, fields, now)?;
            lookups.extend(refs);
            rows.push((id, fields));
        }
        lookups.sort_unstable();
        lookups.dedup();
        let mut tx = self.begin_write().await?;
        self.check_revision(&mut tx, snapshot.workspace(), snapshot.revision()).await?;
        self.check_lookups(&mut tx, snapshot, actor, &lookups, now).await?;
        // Multi-row INSERTs, well under both back ends' limits on parameters.
        for chunk in rows.chunks(500) {
            self.insert_rows(&mut tx, snapshot.workspace(), object, chunk, now).await.map_err(
                |e| match e {
                    StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                        StoreError::Conflict {
                            message: format!("a record of `{object}` with one of these ids already exists"),
                        }
                    }
                    other => other,
                },
            )?;
        }
        tx.commit().await?;
        Ok(rows.into_iter().map(|(id, _)| id).collect())
    }

    /// Inserts rows (id, normalised fields) in one statement.
    async fn insert_rows(
        &self,
        tx: &mut Transaction<'static, Any>,
        workspace: &str,
        object: &str,
        rows: &[(String, Record)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        // Placeholders are numbered in order of appearance (SQLite binds
        // `$n` by first appearance), six per row.
        let values: Vec<String> = (0..rows.len())
            .map(|i| {
                let n = i * 6;
                format!(
                    "(${}, ${}, ${}, {}, {}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    self.dialect.json_param(n + 4),
                    self.dialect.json_param(n + 5),
                    n + 6,
                    n + 6
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO records (workspace, object, id, data, instants, created_at, updated_at) VALUES {}",
            values.join(", ")
        );
        let at = time_text(now);
        let mut query = sqlx::query(&sql);
        for (id, fields) in rows {
            query = query
                .bind(workspace.to_owned())
                .bind(object.to_owned())
                .bind(id.clone())
                .bind(Value::Object(fields.clone()).to_string())
                .bind(Value::Object(instants(fields)).to_string())
                .bind(at.clone());
        }
        query.execute(&mut **tx).await?;
        Ok(())
    }

    /// Reads one record as `user` sees it; `NotFound` if it does not exist or the user may not view it.
    pub async fn get_record<'a>(
        &self,
        snapshot: &Snapshot,
        actor: impl Into<Actor<'a>>,
        object: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Record, StoreError> {
        let actor: Actor<'_> = actor.into();
        object_def(snapshot, object)?;
        let record = self.fetch(None, snapshot.workspace(), object, id).await?;
        let record = record
            .filter(|r| allowed(snapshot, actor, &format!("{object}_view"), r, None, now))
            .ok_or_else(|| StoreError::not_found(record_name(object, id)))?;
        Ok(self.redact_page(snapshot, actor, object, vec![record], now).await?.pop().unwrap_or_default())
    }

    /// Applies `patch` (a `null` value removes the field) to a record as
    /// `user`; returns the record as the user sees it afterwards.
    pub async fn update_record<'a>(
        &self,
        snapshot: &Snapshot,
        actor: impl Into<Actor<'a>>,
        object: &str,
        id: &str,
        mut patch: Record,
        now: DateTime<Utc>,
    ) -> Result<Record, StoreError> {
        let actor: Actor<'_> = actor.into();
        let user = actor.user;
        let def = object_def(snapshot, object)?;
        match patch.remove("id") {
            None => {}
            Some(Value::String(same)) if same == id => {}
            Some(_) => return Err(StoreError::invalid("the id of a record cannot change")),
        }
        let mut tx = self.begin_write().await?;
        self.check_revision(&mut tx, snapshot.workspace(), snapshot.revision()).await?;
        let stored = self
            .fetch(Some(&mut tx), snapshot.workspace(), object, id)
            .await?
            .filter(|r| allowed(snapshot, actor, &format!("{object}_view"), r, None, now))
            .ok_or_else(|| StoreError::not_found(record_name(object, id)))?;
        let lookups = normalize(snapshot, object, def, &mut patch)?;
        if let Some(field) =
            snapshot.first_unwritable_field(actor, object, patch.keys().map(String::as_str), now)
        {
            return Err(StoreError::forbidden(format!("`{user}` may not edit field `{object}.{field}`")));
        }
        let mut merged = stored.clone();
        for (name, value) in patch {
            if value.is_null() {
                merged.remove(&name);
            } else {
                merged.insert(name, value);
            }
        }
        if !allowed(snapshot, actor, &format!("{object}_update"), &merged, Some(&stored), now) {
            return Err(StoreError::forbidden(format!(
                "`{object}_update` does not allow `{user}` this change"
            )));
        }
        self.check_lookups(&mut tx, snapshot, actor, &lookups, now).await?;
        let data = stored_data(&merged);
        sqlx::query(&format!(
            "UPDATE records SET data = {}, instants = {}, updated_at = $3 WHERE workspace = $4 AND object = $5 AND id = $6",
            self.dialect.json_param(1),
            self.dialect.json_param(2)
        ))
        .bind(Value::Object(data.clone()).to_string())
        .bind(Value::Object(instants(&data)).to_string())
        .bind(time_text(now))
        .bind(snapshot.workspace())
        .bind(object)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(self.redact_page(snapshot, actor, object, vec![merged], now).await?.pop().unwrap_or_default())
    }

    /// Deletes a record as `user`.
    pub async fn delete_record<'a>(
        &self,
        snapshot: &Snapshot,
        actor: impl Into<Actor<'a>>,
        object: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let actor: Actor<'_> = actor.into();
        let user = actor.user;
        object_def(snapshot, object)?;
        let mut tx = self.begin_write().await?;
        self.check_revision(&mut tx, snapshot.workspace(), snapshot.revision()).await?;
        let stored = self
            .fetch(Some(&mut tx), snapshot.workspace(), object, id)
            .await?
            .filter(|r| allowed(snapshot, actor, &format!("{object}_view"), r, None, now))
            .ok_or_else(|| StoreError::not_found(record_name(object, id)))?;
        if !allowed(snapshot, actor, &format!("{object}_delete"), &stored, None, now) {
            return Err(StoreError::forbidden(format!(
                "`{object}_delete` does not allow `{user}` to delete this record"
            )));
        }
        sqlx::query("DELETE FROM records WHERE workspace = $1 AND object = $2 AND id = $3")
            .bind(snapshot.workspace())
            .bind(object)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rules 7 and 8 for a page: fetches every lookup target in one query
    /// per target object, then redacts each record.
    pub(crate) async fn redact_page(
        &self,
        snapshot: &Snapshot,
        actor: Actor<'_>,
        object: &str,
        records: Vec<Record>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Record>, StoreError> {
        let def = object_def(snapshot, object)?;
        let mut wanted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (name, field) in &def.fields {
            let Some(target) = lookup_target(&field.ty) else { continue };
            if snapshot.field_level(actor, object, name, now) == FieldLevel::None {
                continue;
            }
            // A lookup holds one id, a list of lookups many: fetch them all,
            // or `redact` blanks every element for want of its target.
            let ids = wanted.entry(target).or_default();
            for value in records.iter().filter_map(|r| r.get(name)) {
                match value {
                    Value::String(id) => ids.push(id.clone()),
                    Value::Array(items) => {
                        ids.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
                    }
                    _ => {}
                }
            }
        }
        let mut targets: BTreeMap<(String, String), Record> = BTreeMap::new();
        for (target, mut ids) in wanted {
            ids.sort_unstable();
            ids.dedup();
            for chunk in ids.chunks(500) {
                if chunk.is_empty() {
                    continue;
                }
                let params: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
                let sql = format!(
                    "SELECT id, {} FROM records WHERE workspace = $1 AND object = $2 AND id IN ({})",
                    self.dialect.json_text("data"),
                    params.join(", ")
                );
                let mut query =
                    sqlx::query_as::<_, (String, String)>(&sql).bind(snapshot.workspace()).bind(target);
                for id in chunk {
                    query = query.bind(id);
                }
                for (id, data) in query.fetch_all(&self.pool).await? {
                    let record = with_id(&id, &data)?;
                    targets.insert((target.to_owned(), id), record);
                }
            }
        }
        let lookup = |target: &str, id: &str| targets.get(&(target.to_owned(), id.to_owned()));
        Ok(records.iter().map(|r| snapshot.redact(actor, object, r, now, &lookup)).collect())
    }
}
