//! Test support: a fresh store per back end (a SQLite temp file always; a
//! PostgreSQL schema `t_<random>` in the database named by
//! `PERMSET_TEST_POSTGRES` when it is set), fixtures, and raw SQL access for
//! tampering tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use permset_core::{load_workspace_file, Model};
use permset_store::Store;
use rand::Rng;
use sqlx::{Connection, Executor};

/// One back end under test (cheap to clone: the store is a pool handle).
#[derive(Clone)]
pub struct Backend {
    pub name: &'static str,
    pub store: Store,
    url: String,
    schema: Option<String>,
}

impl Backend {
    /// Runs a statement outside the store (to tamper with stored data).
    pub async fn raw(&self, sql: &str) {
        match &self.schema {
            None => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                conn.execute(sql).await.unwrap();
            }
            Some(schema) => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                conn.execute(format!("SET search_path TO {schema}").as_str()).await.unwrap();
                conn.execute(sql).await.unwrap();
            }
        }
    }

    /// Opens the same database again as a second store (a restart, or another
    /// process such as the CLI), keyed when `key` is given.
    pub async fn reopen(&self, key: Option<permset_store::AuditKey>) -> Store {
        let store = match &self.schema {
            None => Store::open(&self.url).await.unwrap(),
            Some(schema) => Store::open_in_schema(&self.url, schema).await.unwrap(),
        };
        match key {
            Some(key) => store.with_audit_key(key),
            None => store,
        }
    }

    /// The database URL (for reading the schema outside the store).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The PostgreSQL schema of this back end; `None` for SQLite.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(schema) = &self.schema {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            conn.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str()).await.unwrap();
        }
    }
}

/// The PostgreSQL database to test against, from `PERMSET_TEST_POSTGRES`.
///
/// Without it the PostgreSQL half of a test is skipped, loudly: a `SKIP`
/// line on stderr. When `CI` is set a missing database fails the test, so
/// CI can never pass on SQLite alone.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("PERMSET_TEST_POSTGRES").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        assert!(
            !ci,
            "PERMSET_TEST_POSTGRES is not set but CI is: the PostgreSQL tests may not be skipped in CI"
        );
        eprintln!("SKIP postgres: PERMSET_TEST_POSTGRES is not set");
    }
    url
}

pub async fn sqlite_backend(dir: &tempfile::TempDir) -> Backend {
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::open(&url).await.unwrap();
    Backend { name: "sqlite", store, url, schema: None }
}

pub async fn postgres_backend(url: &str) -> Backend {
    let schema = format!("t_{:016x}", rand::thread_rng().gen::<u64>());
    let store = Store::open_in_schema(url, &schema).await.unwrap();
    Backend { name: "postgres", store, url: url.to_owned(), schema: Some(schema) }
}

/// Runs `body` against a fresh store of each back end, dropping the
/// PostgreSQL schema afterwards even when the body panics.
pub async fn on_each_backend<F, Fut>(body: F)
where
    F: Fn(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let mut backends = vec![sqlite_backend(&dir).await];
    if let Some(url) = postgres_url() {
        backends.push(postgres_backend(&url).await);
    }
    for backend in backends {
        let outcome = AssertUnwindSafe(body(backend.clone())).catch_unwind().await;
        let name = backend.name;
        backend.cleanup().await;
        if let Err(panic) = outcome {
            eprintln!("failed on {name}");
            std::panic::resume_unwind(panic);
        }
    }
}

pub fn model(yaml: &str) -> Model {
    match load_workspace_file(yaml) {
        Ok((model, _)) => model,
        Err(errors) => panic!("fixture does not load: {errors:?}"),
    }
}

/// The support fixture: a custom object `orders` with every kind of limit.
pub const SUPPORT: &str = r#"
workspace: acme
user_attributes: { company: string }
objects:
  customers:
    fields:
      tier: { enum: [basic, vip] }
      ssn: { type: string, protected: true }
  orders:
    fields:
      title: string
      amount: number
      status: { enum: [open, closed] }
      customer: { lookup: customers }
      owner: user
      team: team
      company: string
      note: { type: string, protected: true }
      placed_at: { type: datetime, indexed: true }
    owner_field: owner
    team_field: team
  contracts:
    fields:
      title: string
    list_visibility: admins
teams: { tier1: {}, tier2: {} }
users:
  olivia: { account_owner: true }
  alice: { teams: [tier1] }
  bob: { teams: [tier2] }
  eve: { kind: end_user, attributes: { company: acme_corp } }
  mallory: { kind: end_user, attributes: { company: other_corp } }
  vera: {}
roles:
  order_viewer:
    grants:
      orders_view: all
  order_desk:
    grants:
      orders_view: all
      orders_create: all
      orders_update: { where: 'status == "open"' }
      orders_delete: { access: all, reason: "cleanup" }
      orders_export: { access: all, reason: "reports" }
      customers_view: all
      contracts_view: all
  own_orders:
    grants:
      orders_view: [own, team]
      orders_update: own
      orders_export: { access: own, reason: "their own" }
  portal:
    kind: end_user
    grants:
      orders_view: { where: 'company == user.company' }
      orders_export: { access: { where: 'company == user.company and status == "closed"' }, reason: "receipts" }
      orders_create: { where: 'company == user.company' }
    fields: { orders.amount: read }
assignments:
  users:
    alice: [order_desk]
    bob: [own_orders]
    eve: [portal]
    mallory: [portal]
    vera: [order_viewer]
"#;
