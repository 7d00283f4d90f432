//! Operations: health, Prometheus metrics, the OpenAPI document, the admin page.

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::Json;
use serde_json::json;

use crate::openapi;
use crate::state::AppState;

/// Liveness and the database's reachability.
pub(crate) async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store().workspaces().await {
        Ok(_) => (axum::http::StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(error) => {
            tracing::error!("health check failed: {error}");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" })))
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
