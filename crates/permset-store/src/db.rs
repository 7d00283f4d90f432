//! Opening a store, the SQL dialect, and migrations.
//!
//! One code path serves SQLite and PostgreSQL: every query goes through one
//! sqlx `AnyPool`, and the few places where the two SQL dialects differ ask
//! [`Dialect`] for their spelling (JSON columns and functions, `BEGIN
//! IMMEDIATE`, row locks, auto-increment keys). `Any` keeps the store free of
//! generic database plumbing; its price is a small value vocabulary (integers,
//! floats, text), which suits us: JSON travels as text and times are stored
//! as RFC 3339 text (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, so text order is time order).
//!
//! Migrations are a versioned list of statements applied in one transaction
//! on open and recorded in `permset_migrations`.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor};

use crate::{AuditKey, StoreError};

/// Which SQL dialect a store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: a file in WAL mode; JSON is TEXT read with `json_extract`.
    Sqlite,
    /// PostgreSQL (and compatible databases): JSON is JSONB.
    Postgres,
}

impl Dialect {
    /// The column type of JSON documents.
    pub(crate) fn json_type(self) -> &'static str {
        match self {
            Dialect::Sqlite => "TEXT",
            Dialect::Postgres => "JSONB",
        }
    }

    /// A bound JSON parameter (`$n` carries text).
    pub(crate) fn json_param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("${n}"),
            Dialect::Postgres => format!("CAST(${n} AS JSONB)"),
        }
    }

    /// The `VALUES` list of a multi-row statement: `rows` groups of
    /// `columns` parameters, bound in order. SQLite gets anonymous `?`:
    /// with numbered `$n` it looks each parameter's name up in a linear
    /// list while binding, so a 1,000-parameter insert cost about half a
    /// million steps to bind (`sqlite3_bind_parameter_name` was 4.5% of
    /// the server's CPU under decision load, from the usage flush and the
    /// decision log).
    pub(crate) fn values_rows(self, rows: usize, columns: usize) -> String {
        let row = |i: usize| -> String {
            let params: Vec<String> = (1..=columns)
                .map(|k| match self {
                    Dialect::Sqlite => "?".to_owned(),
                    Dialect::Postgres => format!("${}", i * columns + k),
                })
                .collect();
            format!("({})", params.join(", "))
        };
        (0..rows).map(row).collect::<Vec<_>>().join(", ")
    }

    /// A JSON column read back as text.
    pub(crate) fn json_text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres => format!("{column}::text"),
        }
    }

    /// The statement that opens a write transaction. SQLite takes the write
    /// lock up front so that a transaction that reads before it writes never
    /// fails halfway with `SQLITE_BUSY`.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// The statement that opens a read of one consistent snapshot (several
    /// queries that must agree with each other, such as `verify`). SQLite in
    /// WAL mode reads one snapshot from a transaction's first read.
    pub(crate) fn begin_read(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN",
            Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        }
    }

    /// Row lock held by a record write on the workspace row, so no model
    /// change commits between the revision check and the write.
    pub(crate) fn for_share(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR SHARE",
        }
    }

    /// Row lock held by a model change on the workspace row.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    fn substitute(self, template: &str) -> String {
        let (key, serial, bigserial) = match self {
            // SQLite numbers only a lone `INTEGER PRIMARY KEY`; a column of a
            // composite key is numbered by the store (`decisions.rs`).
            Dialect::Sqlite => ("TEXT", "INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
            Dialect::Postgres => ("TEXT COLLATE \"C\"", "BIGSERIAL PRIMARY KEY", "BIGSERIAL"),
        };
        template
            .replace("{json}", self.json_type())
            .replace("{key}", key)
            .replace("{serial}", serial)
            .replace("{bigserial}", bigserial)
    }
}

/// The persistent store of permset: workspaces, records, keys, audit, decisions.
///
/// Cheap to clone (it holds a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) dialect: Dialect,
    /// Keys the audit chain when set ([`Store::with_audit_key`]).
    pub(crate) audit_key: Option<AuditKey>,
    /// The PostgreSQL URL, for the revision listener's own connection.
    pub(crate) url: Option<String>,
    /// The PostgreSQL schema of every connection, if not the default.
    pub(crate) schema: Option<String>,
    /// A hot standby for record reads (`replica.rs`).
    pub(crate) replica: Option<std::sync::Arc<crate::replica::Replica>>,
}

/// How long a request waits for a database connection before it fails
/// (the server answers 503): short, so an outage never hangs clients.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// `{key}` is a text key column (byte-ordered in both dialects), `{json}` a
/// JSON column, `{serial}` an auto-increment primary key, `{bigserial}` an
/// auto-increment column of a composite key (PostgreSQL only numbers it).
const MIGRATIONS: &[(i64, &[&str])] = &[
    (
    1,
    &[
        "CREATE TABLE workspaces (key {key} PRIMARY KEY, model {json} NOT NULL, revision BIGINT NOT NULL, \
         created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
        "CREATE TABLE audit (workspace {key} NOT NULL REFERENCES workspaces(key), seq BIGINT NOT NULL, \
         actor TEXT NOT NULL, at TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, \
         before_state TEXT NOT NULL, after_state TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, \
         PRIMARY KEY (workspace, seq))",
        "CREATE TABLE records (workspace {key} NOT NULL REFERENCES workspaces(key), object {key} NOT NULL, \
         id {key} NOT NULL, data {json} NOT NULL, instants {json} NOT NULL, created_at TEXT NOT NULL, \
         updated_at TEXT NOT NULL, PRIMARY KEY (workspace, object, id))",
        "CREATE TABLE api_keys (id {key} PRIMARY KEY, workspace {key} NOT NULL REFERENCES workspaces(key), \
         secret_hash TEXT NOT NULL UNIQUE, user_key TEXT, role TEXT, label TEXT NOT NULL, \
         created_at TEXT NOT NULL, revoked_at TEXT)",
        "CREATE INDEX api_keys_by_workspace ON api_keys (workspace, id)",
        "CREATE TABLE decisions (id {serial}, workspace {key} NOT NULL REFERENCES workspaces(key), \
         at TEXT NOT NULL, user_key TEXT NOT NULL, permission TEXT NOT NULL, record_id TEXT, \
         allowed BIGINT NOT NULL, revision BIGINT NOT NULL)",
        "CREATE INDEX decisions_by_workspace ON decisions (workspace, id)",
    ],
    ),
    // The audit chain is tied to the revision (entry `seq` is the change
    // that produced revision `seq`) and may be keyed. Each entry records its
    // scheme (`sha256` for every existing one); the workspace row records
    // the head (last seq and hash). Key changes used to append entries
    // without bumping the revision, so an existing workspace may have more
    // entries than revisions: its revision moves up to its last entry (never
    // down, so a chain already cut short stays visibly short).
    (
        2,
        &[
            "ALTER TABLE audit ADD COLUMN mac TEXT NOT NULL DEFAULT 'sha256'",
            "ALTER TABLE workspaces ADD COLUMN audit_seq BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE workspaces ADD COLUMN audit_head TEXT NOT NULL DEFAULT ''",
            "UPDATE workspaces SET revision = CASE \
             WHEN revision >= COALESCE((SELECT MAX(seq) FROM audit WHERE audit.workspace = workspaces.key), 0) \
             THEN revision ELSE (SELECT MAX(seq) FROM audit WHERE audit.workspace = workspaces.key) END",
            "UPDATE workspaces SET \
             audit_seq = COALESCE((SELECT MAX(seq) FROM audit WHERE audit.workspace = workspaces.key), 0), \
             audit_head = COALESCE((SELECT hash FROM audit WHERE audit.workspace = workspaces.key \
             ORDER BY seq DESC LIMIT 1), '')",
        ],
    ),
    // Keys may expire.
    (3, &["ALTER TABLE api_keys ADD COLUMN expires_at TEXT"]),
    // Usage (issue 9): decision counts per hour and grant, upserted in
    // batches by the server; and the decision log keeps the full question
    // (record and before, as JSON text) so that what-if can replay it.
    (
        4,
        &[
            "CREATE TABLE usage_counts (workspace {key} NOT NULL REFERENCES workspaces(key), \
             hour_at {key} NOT NULL, user_key {key} NOT NULL, permission {key} NOT NULL, role {key} NOT NULL, \
             access {key} NOT NULL, via {key} NOT NULL, allowed BIGINT NOT NULL, uses BIGINT NOT NULL, \
             last_at TEXT NOT NULL, \
             PRIMARY KEY (workspace, hour_at, user_key, permission, role, access, via, allowed))",
            "CREATE INDEX usage_counts_by_hour ON usage_counts (hour_at)",
            "ALTER TABLE decisions ADD COLUMN record TEXT",
            "ALTER TABLE decisions ADD COLUMN before_state TEXT",
            // Retention deletes by age on every flush: an index, not a scan.
            "CREATE INDEX decisions_by_time ON decisions (at)",
        ],
    ),
    // A change's origin (`review`) beside its reason in the audit entry;
    // empty for every existing entry, whose hash does not cover it.
    (5, &["ALTER TABLE audit ADD COLUMN origin TEXT NOT NULL DEFAULT ''"]),
    // The workspace is the unit of distribution (docs/SCALING.md): every
    // primary and unique key begins with it, so a database sharded by
    // workspace (Citus) holds each key on one node. Keys were unique by id
    // and by secret alone, decisions by a global serial; both tables are
    // rebuilt keyed by workspace first (ids and secrets stay random, so
    // nothing is lost by scoping their uniqueness to the workspace).
    (
        6,
        &[
            "CREATE TABLE api_keys_v6 (workspace {key} NOT NULL REFERENCES workspaces(key), id {key} NOT NULL, \
             secret_hash TEXT NOT NULL, user_key TEXT, role TEXT, label TEXT NOT NULL, created_at TEXT NOT NULL, \
             revoked_at TEXT, expires_at TEXT, PRIMARY KEY (workspace, id), UNIQUE (workspace, secret_hash))",
            "INSERT INTO api_keys_v6 (workspace, id, secret_hash, user_key, role, label, created_at, revoked_at, \
             expires_at) SELECT workspace, id, secret_hash, user_key, role, label, created_at, revoked_at, expires_at \
             FROM api_keys",
            "DROP TABLE api_keys",
            "ALTER TABLE api_keys_v6 RENAME TO api_keys",
            // Authentication finds a key by its secret alone (the one lookup
            // across workspaces): a plain index, not a unique one.
            "CREATE INDEX api_keys_by_secret ON api_keys (secret_hash)",
            "CREATE TABLE decisions_v6 (workspace {key} NOT NULL REFERENCES workspaces(key), id {bigserial} NOT NULL, \
             at TEXT NOT NULL, user_key TEXT NOT NULL, permission TEXT NOT NULL, record_id TEXT, \
             allowed BIGINT NOT NULL, revision BIGINT NOT NULL, record TEXT, before_state TEXT, \
             PRIMARY KEY (workspace, id))",
            "INSERT INTO decisions_v6 (workspace, id, at, user_key, permission, record_id, allowed, revision, record, \
             before_state) SELECT workspace, id, at, user_key, permission, record_id, allowed, revision, record, \
             before_state FROM decisions",
            "DROP TABLE decisions",
            "ALTER TABLE decisions_v6 RENAME TO decisions",
            // The copied ids are below the new sequence's start: move it past them.
            "{postgres}SELECT setval(pg_get_serial_sequence('decisions', 'id'), \
             COALESCE((SELECT MAX(id) FROM decisions), 0) + 1, false)",
            "CREATE INDEX decisions_by_time ON decisions (at)",
        ],
    ),
    // What each audit entry changed, kept when it is written (audit_summary.rs)
    // so that listing the log reads no models; null for older entries.
    (7, &["ALTER TABLE audit ADD COLUMN summary TEXT"]),
];

/// Marks a migration statement that only PostgreSQL runs.
const POSTGRES_ONLY: &str = "{postgres}";

/// Now, as stored: RFC 3339 UTC with microseconds.
pub(crate) fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(StoreError::corrupt)
}

fn valid_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Store {
    /// Opens (creating if needed) a store: `sqlite://path` (a file, WAL mode;
    /// `sqlite::memory:` for a private in-memory database) or
    /// `postgres://…`. Runs pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Self::connect(url, None).await
    }

    /// Opens a PostgreSQL store whose tables live in `schema` (created if
    /// missing): every pooled connection sets its `search_path` to it. Tests
    /// use this to share one database with a fresh schema each.
    pub async fn open_in_schema(url: &str, schema: &str) -> Result<Store, StoreError> {
        if !valid_schema_name(schema) {
            return Err(StoreError::invalid(format!("invalid schema name `{schema}`")));
        }
        Self::connect(url, Some(schema.to_owned())).await
    }

    async fn connect(url: &str, schema: Option<String>) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::invalid("the database url must start with `sqlite:` or `postgres:`"));
        };
        if schema.is_some() && dialect != Dialect::Postgres {
            return Err(StoreError::invalid("a schema applies to PostgreSQL only"));
        }
        let memory = url.contains(":memory:");
        let url = if dialect == Dialect::Sqlite && !url.contains('?') && !memory {
            format!("{url}?mode=rwc")
        } else {
            url.to_owned()
        };
        let options = AnyConnectOptions::from_str(&url)?;
        if dialect == Dialect::Sqlite && !memory {
            // WAL is a property of the file: set it once, before the pool
            // opens several connections that would race to change it.
            let mut conn = sqlx::AnyConnection::connect_with(&options).await?;
            conn.execute("PRAGMA journal_mode = WAL").await?;
            conn.close().await?;
        }
        let schema_for_hook = schema.clone();
        let pool = AnyPoolOptions::new()
            .max_connections(if memory { 1 } else { 5 })
            // A database that is away answers 503 within this bound, never a hang.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _meta| {
                let schema = schema_for_hook.clone();
                Box::pin(async move {
                    match dialect {
                        Dialect::Sqlite => {
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // Acknowledged writes survive a crash of the process and of the machine.
                            conn.execute("PRAGMA synchronous = FULL").await?;
                        }
                        Dialect::Postgres => {
                            if let Some(schema) = schema {
                                conn.execute(format!("SET search_path TO \"{schema}\"").as_str()).await?;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if let Some(schema) = &schema {
            pool.execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str()).await?;
        }
        let url = (dialect == Dialect::Postgres).then(|| url.clone());
        let store = Store { pool, dialect, audit_key: None, url, schema, replica: None };
        store.migrate().await?;
        store.ensure_all_indexes().await?;
        Ok(store)
    }

    /// The dialect this store speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Closes every pooled connection (waiting for those in use).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.pool
            .execute("CREATE TABLE IF NOT EXISTS permset_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
            .await?;
        let mut tx = self.begin_write().await?;
        if self.dialect == Dialect::Postgres {
            // Two processes opening one fresh database migrate one after the other.
            sqlx::query("SELECT pg_advisory_xact_lock(7283101)").execute(&mut *tx).await?;
        }
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM permset_migrations").fetch_one(&mut *tx).await?;
        let applied = applied.unwrap_or(0);
        for (version, statements) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
            for statement in *statements {
                let statement = match statement.strip_prefix(POSTGRES_ONLY) {
                    Some(_) if self.dialect != Dialect::Postgres => continue,
                    Some(rest) => rest,
                    None => statement,
                };
                tx.execute(self.dialect.substitute(statement).as_str()).await?;
            }
            sqlx::query("INSERT INTO permset_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(time_text(Utc::now()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A transaction that will write.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(self.pool.begin_with(self.dialect.begin_write()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect;

    #[test]
    fn values_rows_are_anonymous_on_sqlite_and_numbered_on_postgres() {
        assert_eq!(Dialect::Sqlite.values_rows(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(Dialect::Postgres.values_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(Dialect::Sqlite.values_rows(0, 3), "");
    }
}
