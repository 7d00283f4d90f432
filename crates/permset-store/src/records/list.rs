//! List and search: the SQL condition of a list (rule 9, the view
//! predicate, the caller's filter and search; see `sql.rs`), the access
//! path it takes (`access.rs`), and one keyset-paginated page in id order.
//! Export (`export.rs`) pages through the same plan.
//!
//! A page is one statement. When the predicate has a cover of index seeks,
//! each seek is its own `ORDER BY id LIMIT n` range scan under its own
//! branch of the condition (SQLite is told the index with `INDEXED BY`;
//! PostgreSQL's planner picks the only index whose key has the seek's
//! equalities and ends in `id`, the branch offering it no other), their ids
//! are merged, and the whole condition is applied again to the merged rows
//! (which it holds for already: a branch implies it; see `access.rs`).
//! Without a cover the statement walks the table in id order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use permset_core::condition::{self, Expr, TypeContext, UserContext};
use permset_core::{Actor, FieldLevel, FieldType, Record, Snapshot};

use super::access::{index_specs, Planner, Seek};
use super::sql::{quote, Translator};
use super::{check_cursor, lookup_target, module_allowed, object_def, with_id, ListQuery, Page};
use crate::db::Dialect;
use crate::{Store, StoreError};

/// How a list reaches its rows.
#[derive(Debug, Clone)]
enum Path {
    /// Walk the object's rows in id order, testing the condition on each.
    Walk,
    /// The predicate matches nothing.
    Nothing,
    /// The union of these index range scans holds every matching row.
    Seeks(Vec<SeekPlan>),
}

/// One seek of a list and the SQL of its branch (with the search, if any).
#[derive(Debug, Clone)]
struct SeekPlan {
    seek: Seek,
    condition: String,
}

/// A list's SQL condition and access path, made once per list or export.
#[derive(Debug, Clone)]
pub(crate) struct ListPlan {
    object: String,
    /// The whole condition: view predicate, filter and search.
    condition: String,
    path: Path,
}

impl ListPlan {
    /// The page statement (`$1` workspace, `$2` cursor), or `None` when no row
    /// can match. With `hinted`, SQLite is told which index each seek uses.
    fn statement(&self, dialect: Dialect, limit: u32, hinted: bool) -> Option<String> {
        let data = dialect.json_text("data");
        let (object, condition) = (quote(&self.object), &self.condition);
        // Every statement spells its workspace filter first (the
        // workspace_keyed test reads these texts); `rest` follows it.
        let rest = format!("object = {object} AND id > $2");
        let index_hint = |planned: &SeekPlan| match dialect {
            Dialect::Sqlite if hinted => format!(" INDEXED BY {}", planned.seek.index),
            _ => String::new(),
        };
        let seek_rest = |planned: &SeekPlan| {
            format!("{rest} AND {} AND {}", planned.seek.terms.join(" AND "), planned.condition)
        };
        Some(match &self.path {
            Path::Nothing => return None,
            Path::Walk => {
                format!(
                    "SELECT id, {data} FROM records WHERE workspace = $1 AND {rest} AND {condition} \
                     ORDER BY id LIMIT {limit}"
                )
            }
            Path::Seeks(seeks) if seeks.is_empty() => return None,
            Path::Seeks(seeks) if seeks.len() == 1 => {
                let seek = &seeks[0];
                let (index_hint, seek_rest) = (index_hint(seek), seek_rest(seek));
                format!(
                    "SELECT id, {data} FROM records{index_hint} WHERE workspace = $1 AND {seek_rest} \
                     ORDER BY id LIMIT {limit}"
                )
            }
            Path::Seeks(seeks) => {
                let union: Vec<String> = seeks
                    .iter()
                    .enumerate()
                    .map(|(i, seek)| {
                        let (index_hint, seek_rest) = (index_hint(seek), seek_rest(seek));
                        format!(
                            "SELECT id FROM (SELECT id FROM records{index_hint} WHERE workspace = $1 AND {seek_rest} \
                             ORDER BY id LIMIT {limit}) AS s{i}"
                        )
                    })
                    .collect();
                format!(
                    "SELECT id, {data} FROM records WHERE workspace = $1 AND {rest} AND id IN ({}) AND {condition} \
                     ORDER BY id LIMIT {limit}",
                    union.join(" UNION ALL ")
                )
            }
        })
    }
}

impl Store {
    /// Lists the records of `object` that `user` may view (and that match
    /// the filter and search), one page in id order.
    pub async fn list_records<'a>(
        &self,
        snapshot: &Snapshot,
        actor: impl Into<Actor<'a>>,
        object: &str,
        query: &ListQuery,
        now: DateTime<Utc>,
    ) -> Result<Page, StoreError> {
        let actor: Actor<'_> = actor.into();
        let limit = query.page_size();
        let plan = self.list_plan(snapshot, actor, object, query, now)?;
        let (records, more) =
            self.fetch_page(snapshot.workspace(), &plan, query.after.as_deref(), limit).await?;
        let next_cursor =
            if more { records.last().and_then(|r| r.get("id")?.as_str()).map(str::to_owned) } else { None };
        let records = self.redact_page(snapshot, actor, object, records, now).await?;
        Ok(Page { records, next_cursor })
    }

    /// The database's plan for a list's page (diagnostics and tests: which
    /// index each part of the statement reads), one line per plan node.
    pub async fn explain_list<'a>(
        &self,
        snapshot: &Snapshot,
        actor: impl Into<Actor<'a>>,
        object: &str,
        query: &ListQuery,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let plan = self.list_plan(snapshot, actor.into(), object, query, now)?;
        let limit = query.page_size() + 1;
        let Some(sql) = plan.statement(self.dialect, limit, true) else {
            return Ok(vec!["no statement: the predicate matches nothing".to_owned()]);
        };
        let after = query.after.as_deref().unwrap_or("");
        let workspace = snapshot.workspace();
        Ok(match self.dialect {
            Dialect::Sqlite => {
                sqlx::query_as::<_, (i64, i64, i64, String)>(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .bind(workspace)
                    .bind(after)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|(_, _, _, detail)| detail)
                    .collect()
            }
            Dialect::Postgres => {
                sqlx::query_scalar::<_, String>(&format!("EXPLAIN {sql}"))
                    .bind(workspace)
                    .bind(after)
                    .fetch_all(&self.pool)
                    .await?
            }
        })
    }

    /// One page of raw records of the plan after `cursor`, and whether more follow.
    pub(crate) async fn fetch_page(
        &self,
        workspace: &str,
        plan: &ListPlan,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Record>, bool), StoreError> {
        check_cursor(after)?;
        let Some(sql) = plan.statement(self.dialect, limit + 1, true) else { return Ok((Vec::new(), false)) };
        let run = |sql: String| async move {
            sqlx::query_as::<_, (String, String)>(&sql)
                .bind(workspace)
                .bind(after.unwrap_or(""))
                .fetch_all(&self.pool)
                .await
        };
        let rows = match run(sql).await {
            Ok(rows) => rows,
            // An index named by `INDEXED BY` that is missing (its creation
            // failed, or another process has not made it yet) fails the
            // statement; the same statement without hints gives the same rows.
            Err(sqlx::Error::Database(error)) if self.dialect == Dialect::Sqlite => {
                tracing::warn!(%error, object = plan.object, "list statement with index hints failed; retrying without");
                let sql = plan.statement(self.dialect, limit + 1, false).unwrap_or_default();
                run(sql).await?
            }
            Err(other) => return Err(other.into()),
        };
        let more = rows.len() > limit as usize;
        let records = rows
            .iter()
            .take(limit as usize)
            .map(|(id, data)| with_id(id, data))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((records, more))
    }

    /// The plan of a list, search or export: rule 9, the view predicate,
    /// the filter (checked to read only readable fields), the search, and
    /// the access path of the view predicate and filter together.
    pub(crate) fn list_plan(
        &self,
        snapshot: &Snapshot,
        actor: Actor<'_>,
        object: &str,
        query: &ListQuery,
        now: DateTime<Utc>,
    ) -> Result<ListPlan, StoreError> {
        // PostgreSQL text cannot hold NUL, and no stored value contains one.
        if [&query.filter, &query.search].into_iter().flatten().any(|text| text.contains('\0')) {
            return Err(StoreError::invalid("filters and search text may not contain NUL characters"));
        }
        let user = actor.user;
        let def = object_def(snapshot, object)?;
        module_allowed(snapshot, actor, object, "view", now)?;
        if !snapshot.may_list(actor, object, now) {
            return Err(StoreError::forbidden(format!(
                "listing and searching `{object}` is for account owners and administrators"
            )));
        }
        let translator = Translator::new(self.dialect);
        let mut exprs = vec![snapshot.view_predicate(actor, object, now)];
        if let Some(filter) = query.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            let no_attributes = BTreeMap::new();
            let ctx = TypeContext { object, fields: &def.fields, user_attributes: &no_attributes };
            let expr = condition::compile(filter, &ctx)
                .map_err(|e| StoreError::invalid(format!("invalid filter: {e}")))?;
            for field in expr.fields() {
                if snapshot.field_level(actor, object, field, now) < FieldLevel::Read {
                    return Err(StoreError::forbidden(format!(
                        "`{user}` may not read field `{object}.{field}`"
                    )));
                }
                // A lookup the user cannot follow would leak the hidden id through the filter.
                // A list of lookups leaks the same way (`contains`).
                if let Some(target) = def.fields.get(field).and_then(|f| lookup_target(&f.ty)) {
                    if snapshot.view_predicate(actor, target, now) != condition::Expr::Const(true) {
                        return Err(StoreError::forbidden(format!(
                            "filtering on lookup `{object}.{field}` needs view of every `{target}` record"
                        )));
                    }
                }
            }
            let model_user = snapshot.model().users.get(user);
            let empty = permset_core::Attributes::new();
            let user_ctx = UserContext {
                id: user,
                teams: model_user.map_or(&[][..], |u| u.teams.as_slice()).into(),
                attributes: model_user.map_or(&empty, |u| &u.attributes),
            };
            exprs.push(expr.bind(&user_ctx));
        }
        let mut parts = exprs.iter().map(|e| translator.predicate(e)).collect::<Result<Vec<_>, _>>()?;
        let mut search_sql = None;
        if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
            let fields: Vec<&str> = def
                .fields
                .iter()
                .filter(|(_, f)| {
                    matches!(
                        f.ty,
                        FieldType::String
                            | FieldType::Enum(_)
                            | FieldType::User
                            | FieldType::Team
                            | FieldType::Datetime
                    )
                })
                .map(|(name, _)| name.as_str())
                .filter(|name| snapshot.field_level(actor, object, name, now) >= FieldLevel::Read)
                .collect();
            search_sql = Some(translator.search(&fields, search)?);
        }
        parts.extend(search_sql.clone());
        let specs = index_specs(snapshot, &translator, object);
        let planner = Planner { translator: &translator, object, def, specs: &specs };
        let path = match planner.cover(&Expr::And(exprs)) {
            None => Path::Walk,
            Some(seeks) if seeks.is_empty() => Path::Nothing,
            Some(seeks) => Path::Seeks(
                seeks
                    .into_iter()
                    .map(|seek| {
                        let branch = translator.predicate(&seek.branch)?;
                        let condition = match &search_sql {
                            Some(search) => format!("({branch} AND {search})"),
                            None => branch,
                        };
                        Ok(SeekPlan { seek, condition })
                    })
                    .collect::<Result<_, StoreError>>()?,
            ),
        };
        Ok(ListPlan { object: object.to_owned(), condition: format!("({})", parts.join(" AND ")), path })
    }
}
