//! permset-server: permset's HTTP API.
//!
//! `/v1/workspaces/{ws}/…` for decisions, the workspace model, records and
//! administration; `/healthz`, `/metrics`, `/v1/openapi.json` and the admin
//! page at `/admin`. Authentication is by API key (see `auth.rs`); every
//! error is `{ "error": { "code", "message", "details" } }`.
//!
//! Only this crate knows HTTP and JSON DTOs; decisions come from
//! permset-core snapshots held in a lock-free registry, records from
//! permset-store.

mod audit_view;
mod auth;
mod change;
mod deadline;
mod error;
mod extract;
mod holders;
mod key_cache;
mod metrics;
mod openapi;
mod registry;
mod routes;
mod sample;
mod state;
mod usage;
mod user_page;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use permset_store::Store;
use tokio::net::TcpListener;

pub use deadline::REQUEST_DEADLINE;
pub use error::ApiError;
pub use openapi::document as openapi_document;
pub use registry::SnapshotStats;
pub use state::AppState;
pub use usage::UsageSettings;

use routes::{admin, decisions, model, ops, records, review, simulate, usage as usage_routes};

/// Largest request body accepted (a workspace file for `apply` is the biggest).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How often a server checks the database for revisions made by other replicas.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How often a server refreshes the query planner's statistics (records change under it).
pub const STATISTICS_INTERVAL: Duration = Duration::from_secs(300);

/// The router over a state.
pub fn router(state: AppState) -> Router {
    let ws = Router::new()
        .route("/check", post(decisions::check))
        .route("/check/batch", post(decisions::check_batch))
        .route("/explain", post(decisions::explain))
        .route("/schema", get(model::get_schema))
        .route("/schema/objects/{object}", put(model::put_object))
        .route("/users", get(model::list_users))
        .route("/users/{user}", get(model::get_user).put(model::put_user).delete(model::delete_user))
        .route("/users/{user}/permissions", get(decisions::permissions))
        .route("/teams", get(model::list_teams))
        .route("/teams/{team}", put(model::put_team).delete(model::delete_team))
        .route("/teams/{team}/members/{user}", put(model::add_member).delete(model::remove_member))
        .route("/roles", get(model::list_roles))
        .route("/roles/{role}", get(model::get_role).put(model::put_role).delete(model::delete_role))
        .route("/roles/{role}/clone", post(model::clone_role))
        .route("/assignments", get(model::list_assignments).post(model::assign).delete(model::unassign))
        .route("/access_rules", get(model::list_rules))
        .route("/access_rules/{object}/{rule}", put(model::put_rule).delete(model::delete_rule))
        .route("/objects/{object}/records", get(records::list).post(records::create))
        .route(
            "/objects/{object}/records/{id}",
            get(records::read).patch(records::update).delete(records::delete),
        )
        .route("/objects/{object}/search", get(records::search))
        .route("/objects/{object}/export", get(records::export))
        .route("/apply", post(admin::apply))
        .route("/simulate", post(simulate::simulate))
        .route("/usage", get(usage_routes::usage))
        .route("/usage/flush", post(usage_routes::flush))
        .route("/review", get(review::review))
        .route("/export", get(admin::export))
        .route("/audit", get(admin::audit))
        .route("/audit/verify", get(admin::verify))
        .route("/keys", get(admin::list_keys).post(admin::create_key))
        .route("/keys/{id}", axum::routing::delete(admin::revoke_key));
    Router::new()
        .nest("/v1/workspaces/{ws}", ws)
        .route("/v1/openapi.json", get(ops::openapi_json))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/admin", get(ops::admin_page))
        .route("/admin/assets/{file}", get(ops::admin_asset))
        .fallback(|| async { ApiError::not_found("no such route; see /v1/openapi.json") })
        .layer(middleware::from_fn(deadline::bounded))
        .layer(middleware::from_fn(error::router_errors))
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let response = next.run(request).await;
    let metrics = state.metrics();
    metrics.requests.fetch_add(1, Relaxed);
    match response.status().as_u16() {
        400..=499 => metrics.errors_4xx.fetch_add(1, Relaxed),
        500..=599 => metrics.errors_5xx.fetch_add(1, Relaxed),
        _ => 0,
    };
    response
}

/// How a server runs beside others.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How often to poll the database for other replicas' revisions (the
    /// fallback of PostgreSQL notifications).
    pub poll_interval: Duration,
    /// Usage counting and the decision sample.
    pub usage: UsageSettings,
    /// The memory budget of loaded snapshots in bytes; beyond it the least
    /// recently used are evicted (and load again when next used). `None`:
    /// no budget.
    pub snapshot_memory: Option<usize>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions { poll_interval: POLL_INTERVAL, usage: UsageSettings::default(), snapshot_memory: None }
    }
}

/// Binds `addr` and serves until SIGTERM or Ctrl-C; calls `ready` with the bound address.
pub async fn serve(store: Store, addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    serve_with(store, addr, ServeOptions::default(), ready).await
}

/// [`serve`] with options. On SIGTERM (or Ctrl-C) the server stops
/// accepting connections, drains the requests in flight and writes the
/// usage counters before returning.
pub async fn serve_with(
    store: Store,
    addr: SocketAddr,
    options: ServeOptions,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let state = AppState::with_limits(store, options.usage.clone(), options.snapshot_memory);
    let poller = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(options.poll_interval);
        loop {
            tick.tick().await;
            poller.poll_revisions().await;
        }
    });
    tokio::spawn(listen_for_revisions(state.clone()));
    let statistics = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(STATISTICS_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(error) = statistics.store().refresh_statistics().await {
                tracing::warn!("cannot refresh planner statistics: {error}");
            }
        }
    });
    ready(listener.local_addr()?);
    axum::serve(listener, router(state.clone())).with_graceful_shutdown(shutdown_signal()).await?;
    if let Err(error) = state.flush_usage().await {
        tracing::warn!("cannot write usage counters at shutdown: {error:?}");
    }
    Ok(())
}

/// Reloads a workspace as soon as another replica's change is announced
/// (PostgreSQL); after a lost connection, re-reads every revision, since
/// announcements made meanwhile are lost. Retries a failed subscription.
async fn listen_for_revisions(state: AppState) {
    loop {
        let mut listener = match state.store().revision_listener().await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!("cannot listen for revisions, retrying: {error}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        state.poll_revisions().await;
        loop {
            match listener.next().await {
                Ok(permset_store::Heard::Changed(workspace)) => state.poll_workspace(&workspace).await,
                Ok(permset_store::Heard::Reconnected) => state.poll_revisions().await,
                Err(error) => {
                    tracing::warn!("revision listener failed, resubscribing: {error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining requests in flight");
}
