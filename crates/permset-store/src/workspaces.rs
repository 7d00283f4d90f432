//! Workspaces and their model: create, load, compile, and `apply` a whole
//! workspace file with a plan of what changes (through the one write path
//! of `change.rs`).
//!
//! The model is stored as JSON in the workspace row; the revision is the
//! row's counter. Record writes lock the same row (shared) and compare the
//! revision with their snapshot's, so no decision is taken on a stale model.

use chrono::Utc;
use permset_core::{Change, Model, ModelChange, Snapshot};
use serde::Serialize;
use sqlx::{Any, Executor, Transaction};

use crate::audit::{self, Append};
use crate::change::{preview, Author};
use crate::db::time_text;
use crate::records::access::{index_name, index_specs, legacy_index_name};
use crate::records::sql::{quote, valid_field_name, Translator};
use crate::records::validate::valid_id;
use crate::{Store, StoreError};

/// A workspace and its current revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceInfo {
    /// The workspace key.
    pub key: String,
    /// Its revision (bumped by every model change).
    pub revision: u64,
}

/// What `apply` changes (or would change, for a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The workspace key.
    pub workspace: String,
    /// The revision the plan was made against.
    pub from_revision: u64,
    /// The revision written, when applied and something changed.
    pub to_revision: Option<u64>,
    /// The changes, in workspace-file order.
    pub changes: Vec<Change>,
}

/// Store-level rules beyond the engine's: names that become SQL (object and
/// field names) are plain identifiers, and no text holds a NUL character
/// (PostgreSQL's JSONB cannot store one).
pub(crate) fn check_names(model: &Model) -> Result<(), StoreError> {
    if has_nul(&to_json(model)?) {
        return Err(StoreError::invalid("the model may not contain NUL characters"));
    }
    for (object, def) in &model.schema.objects {
        if !valid_field_name(object) {
            return Err(StoreError::invalid(format!(
                "object name `{object}` must be letters, digits and `_`"
            )));
        }
        for field in def.fields.keys() {
            if !valid_field_name(field) || field == "id" {
                return Err(StoreError::invalid(format!(
                    "field name `{object}.{field}` must be letters, digits and `_`, and not `id`"
                )));
            }
        }
    }
    Ok(())
}

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(key, v)| key.contains('\0') || has_nul(v)),
        _ => false,
    }
}

pub(crate) fn to_json(model: &Model) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(model).map_err(StoreError::corrupt)
}

impl Store {
    /// Creates a workspace with an empty model at revision 1.
    pub async fn create_workspace(&self, key: &str, actor: &str) -> Result<u64, StoreError> {
        if !valid_id(key) {
            return Err(StoreError::invalid(format!(
                "invalid workspace key `{key}`; use `[A-Za-z0-9_-]`, 1 to 64"
            )));
        }
        let model = Model { workspace: key.to_owned(), ..Model::default() };
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT key FROM workspaces WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict { message: format!("workspace `{key}` already exists") });
        }
        let after = to_json(&model)?;
        sqlx::query(&format!(
            "INSERT INTO workspaces (key, model, revision, created_at, updated_at) VALUES ($1, {}, 1, $3, $3)",
            self.dialect.json_param(2)
        ))
        .bind(key)
        .bind(after.to_string())
        .bind(time_text(now))
        .execute(&mut *tx)
        .await?;
        let entry = Append {
            workspace: key,
            actor,
            action: "create_workspace",
            reason: "",
            origin: "",
            before: &serde_json::Value::Null,
            after: &after,
            at: now,
        };
        audit::append(&mut tx, self.audit_key.as_ref(), entry).await?;
        tx.commit().await?;
        Ok(1)
    }

    /// Every workspace, by key.
    pub async fn workspaces(&self) -> Result<Vec<WorkspaceInfo>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT key, revision FROM workspaces ORDER BY key").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(key, revision)| WorkspaceInfo { key, revision: revision as u64 }).collect())
    }

    /// A workspace's model and revision.
    pub async fn load(&self, workspace: &str) -> Result<(Model, u64), StoreError> {
        let row: Option<(String, i64)> = sqlx::query_as(&format!(
            "SELECT {}, revision FROM workspaces WHERE key = $1",
            self.dialect.json_text("model")
        ))
        .bind(workspace)
        .fetch_optional(&self.pool)
        .await?;
        let (model, revision) =
            row.ok_or_else(|| StoreError::not_found(format!("workspace `{workspace}`")))?;
        Ok((serde_json::from_str(&model).map_err(StoreError::corrupt)?, revision as u64))
    }

    /// A workspace's current revision.
    pub async fn revision(&self, workspace: &str) -> Result<u64, StoreError> {
        let revision: Option<i64> = sqlx::query_scalar("SELECT revision FROM workspaces WHERE key = $1")
            .bind(workspace)
            .fetch_optional(&self.pool)
            .await?;
        revision.map(|r| r as u64).ok_or_else(|| StoreError::not_found(format!("workspace `{workspace}`")))
    }

    /// Loads and compiles a workspace at its current revision.
    pub async fn snapshot(&self, workspace: &str) -> Result<Snapshot, StoreError> {
        let (model, revision) = self.load(workspace).await?;
        Ok(Snapshot::compile_owned(model, Utc::now(), revision)?)
    }

    /// Replaces a workspace's model with `model` (a loaded workspace file) as
    /// the operator, or with `dry_run` only reports the plan. A file that
    /// changes nothing writes nothing.
    pub async fn apply(
        &self,
        workspace: &str,
        actor: &str,
        model: &Model,
        reason: &str,
        dry_run: bool,
    ) -> Result<Plan, StoreError> {
        let change = ModelChange::Replace { model: Box::new(model.clone()) };
        let base = self.snapshot(workspace).await?;
        let changes = permset_core::diff(base.model(), model);
        if dry_run || changes.is_empty() {
            return preview(&base, &Author::operator(actor, reason), &change);
        }
        Ok(self.change_as_operator(workspace, actor, reason, &change).await?.plan)
    }

    /// Inside a record write: the workspace's revision, locked against model
    /// changes until the transaction ends; `Stale` if it is not `expected`.
    pub(crate) async fn check_revision(
        &self,
        tx: &mut Transaction<'static, Any>,
        workspace: &str,
        expected: u64,
    ) -> Result<(), StoreError> {
        let revision: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT revision FROM workspaces WHERE key = $1{}",
            self.dialect.for_share()
        ))
        .bind(workspace)
        .fetch_optional(&mut **tx)
        .await?;
        let current =
            revision.ok_or_else(|| StoreError::not_found(format!("workspace `{workspace}`")))? as u64;
        if current != expected {
            return Err(StoreError::Stale { current });
        }
        Ok(())
    }

    /// Creates the indexes list filtering uses (`records/access.rs`): per
    /// object, the owner and team fields, fields marked `indexed` and the
    /// access rules' equality fields, each key on exactly the expression the
    /// translator emits and ending in `id`. The single-field indexes of
    /// earlier versions (without `id`) are dropped once replaced. Failures
    /// are logged, not fatal: an index only makes queries faster.
    pub(crate) async fn ensure_indexes(&self, snapshot: &Snapshot) {
        let translator = Translator::new(self.dialect);
        for (object, def) in &snapshot.schema().objects {
            for spec in index_specs(snapshot, &translator, object) {
                let exprs: Option<Vec<String>> = spec
                    .fields
                    .iter()
                    .map(|name| translator.index_expression(name, &def.fields.get(name)?.ty))
                    .collect();
                let Some(exprs) = exprs else { continue };
                let index = index_name(object, &exprs);
                let key: Vec<String> = exprs.iter().map(|e| format!("({e})")).collect();
                let sql = format!(
                    "CREATE INDEX IF NOT EXISTS {index} ON records (workspace, {}, id) WHERE object = {}",
                    key.join(", "),
                    quote(object)
                );
                if let Err(error) = self.pool.execute(sql.as_str()).await {
                    tracing::warn!(%error, object, fields = ?spec.fields, "could not create an index");
                    continue;
                }
                if let ([field], [expr]) = (spec.fields.as_slice(), exprs.as_slice()) {
                    let legacy = legacy_index_name(object, field, expr);
                    if let Err(error) =
                        self.pool.execute(format!("DROP INDEX IF EXISTS {legacy}").as_str()).await
                    {
                        tracing::warn!(%error, object, field, "could not drop a replaced index");
                    }
                }
            }
        }
    }

    /// Refreshes the query planner's statistics of the records table, so that
    /// list filtering uses the owner, team and `indexed` field indexes: with
    /// no statistics SQLite walks the table in id order instead. Cheap
    /// (SQLite samples at most 1,000 rows per index); the server runs it on
    /// start and periodically, bulk loaders after loading.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        let statements: &[&str] = match self.dialect {
            crate::Dialect::Sqlite => &["PRAGMA analysis_limit = 1000", "ANALYZE records"],
            crate::Dialect::Postgres => &["ANALYZE records"],
        };
        let mut connection = self.pool.acquire().await?;
        for statement in statements {
            (&mut *connection).execute(*statement).await?;
        }
        Ok(())
    }

    /// Ensures the indexes of every workspace (run on open). Indexes depend
    /// on the schema, the access rules and the roles' `where:` limits, and
    /// workspaces often share them, so each distinct combination is compiled
    /// once, without users: opening a store of 10,000 workspaces used to
    /// compile every one of them before serving. (A rule reading a user
    /// attribute declared nowhere but in users' values does not compile
    /// without the users: its index comes back with the workspace's next
    /// change, which ensures the full model's indexes.)
    pub(crate) async fn ensure_all_indexes(&self) -> Result<(), StoreError> {
        let part = |name: &str| match self.dialect {
            crate::Dialect::Sqlite => format!("json_extract(model, '$.{name}')"),
            crate::Dialect::Postgres => format!("CAST(model -> '{name}' AS TEXT)"),
        };
        let (schema, rules, roles) = (part("schema"), part("access_rules"), part("roles"));
        let parts: Vec<(Option<String>, Option<String>, Option<String>)> =
            sqlx::query_as(&format!("SELECT DISTINCT {schema}, {rules}, {roles} FROM workspaces"))
                .fetch_all(&self.pool)
                .await?;
        fn parse<T: serde::de::DeserializeOwned>(text: &Option<String>) -> Option<T> {
            text.as_deref().and_then(|t| serde_json::from_str(t).ok())
        }
        for (schema_text, rules_text, roles_text) in &parts {
            let Some(schema) = parse(schema_text) else { continue };
            let access_rules = parse(rules_text).unwrap_or_default();
            let with_roles = Model {
                schema,
                access_rules,
                roles: parse(roles_text).unwrap_or_default(),
                ..Model::default()
            };
            // Roles whose limits need the users do not compile alone: the
            // schema and rules still give most indexes.
            let compiled = Snapshot::compile_owned(with_roles.clone(), Utc::now(), 0).or_else(|_| {
                Snapshot::compile_owned(Model { roles: Default::default(), ..with_roles }, Utc::now(), 0)
            });
            if let Ok(snapshot) = compiled {
                self.ensure_indexes(&snapshot).await;
            }
        }
        Ok(())
    }
}
