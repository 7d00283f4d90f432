//! Operations: health, Prometheus metrics, the OpenAPI document, the admin page.

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::Json;
use serde_json::json;

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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics().render())
}

/// The OpenAPI document, generated from the handlers' annotations.
pub(crate) async fn openapi_json() -> impl IntoResponse {
    Json(openapi::document())
}

/// The admin page: a static page that talks to this API with a key the person types in.
pub(crate) async fn admin_page() -> Html<&'static str> {
    Html(include_str!("../admin.html"))
}
