//! Operations: health, Prometheus metrics, the OpenAPI document, and the
//! admin console (`/admin`): a handful of static files under `src/admin/`,
//! embedded in the binary with `include_str!` so nothing is fetched at run
//! time and no build step beyond `cargo build` exists. The console talks to
//! this API with the key the person types in; it holds no authority of its own.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ApiError;
use crate::openapi;
use crate::state::AppState;

/// Liveness: the process answers (readiness is `/readyz`).
pub(crate) async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready to serve: the database answers within its timeout and every loaded
/// workspace is at its stored revision (a lagging one is reloaded first).
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store().workspaces().await {
        Ok(_) => {
            state.poll_revisions().await;
            (axum::http::StatusCode::OK, Json(json!({ "status": "ready", "database": "ok" })))
        }
        Err(error) => {
            tracing::error!("readiness check failed: {error}");
            let body = json!({ "status": "not ready", "database": "unavailable" });
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}

/// Prometheus text exposition.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics().render();
    text.push_str(&state.snapshot_stats().render());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The OpenAPI document, generated from the handlers' annotations.
pub(crate) async fn openapi_json() -> impl IntoResponse {
    Json(openapi::document())
}

/// The console's assets: name, content type, text. Adding a file is one line here.
const ADMIN_ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../admin/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../admin/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../admin/api.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_str!("../admin/dom.js")),
    ("roles.js", "text/javascript; charset=utf-8", include_str!("../admin/roles.js")),
    ("people.js", "text/javascript; charset=utf-8", include_str!("../admin/people.js")),
    ("troubleshoot.js", "text/javascript; charset=utf-8", include_str!("../admin/troubleshoot.js")),
    ("changes.js", "text/javascript; charset=utf-8", include_str!("../admin/changes.js")),
    ("derive.js", "text/javascript; charset=utf-8", include_str!("../admin/derive.js")),
    ("objects.js", "text/javascript; charset=utf-8", include_str!("../admin/objects.js")),
];

/// Headers every console response carries: nothing but this origin may run
/// script, be framed or be fetched, and nothing is cached across versions.
const ADMIN_HEADERS: [(header::HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-cache"),
];

/// The admin console's page: the shell `app.js` fills in.
pub(crate) async fn admin_page() -> impl IntoResponse {
    (ADMIN_HEADERS, Html(include_str!("../admin/index.html")))
}

/// One of the console's embedded assets (`/admin/assets/{file}`); any other name is 404.
pub(crate) async fn admin_asset(Path(file): Path<String>) -> Response {
    match ADMIN_ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, text)) => {
            (ADMIN_HEADERS, [(header::CONTENT_TYPE, *content_type)], *text).into_response()
        }
        None => ApiError::not_found(format!("no admin asset `{file}`")).into_response(),
    }
}
