//! The one error type of the HTTP API: `{ "error": { "code", "message", "details" } }`
//! with the right status. Internal errors are logged with a request id and shown
//! to clients as a generic message carrying that id.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
}

/// The JSON body of an error.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// A stable machine-readable code (`not_found`, `forbidden`, …).
    code: &'static str,
    /// A sentence a person can act on.
    message: String,
    /// Structured context (validation findings, the excess of an escalation, …), or null.
    #[schema(value_type = Value)]
    details: Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), details: Value::Null }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no key, or not a valid one.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such thing here (also for other workspaces' things).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413: the body is too large.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 422: well-formed but invalid (validation findings in `details`).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// 405: the route exists, the method does not.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message)
    }

    /// 414: the request URI is too long.
    pub fn uri_too_long(message: impl Into<String>) -> Self {
        Self::new(StatusCode::URI_TOO_LONG, "uri_too_long", message)
    }

    /// 422 `unknown_permission` / `unknown_user`: a name a decision request
    /// gives that the workspace does not know, with the nearest one.
    pub fn unknown_name(error: &permset_core::UnknownName) -> Self {
        let code = match error.kind {
            permset_core::NameKind::Permission => "unknown_permission",
            permset_core::NameKind::User => "unknown_user",
        };
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, error.to_string())
    }

    /// The error object alone (`{code, message, details}`), for one item of a batch.
    pub(crate) fn detail(self) -> ErrorDetail {
        ErrorDetail { code: self.code, message: self.message, details: self.details }
    }

    /// 503: the database is away; retry later (nothing was committed).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500: logged with an id; the client sees only the id.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        let id = format!("{:016x}", rand::random::<u64>());
        tracing::error!(request_id = %id, "internal error: {error}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("internal error; request id `{id}`"))
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The status, for tests and metrics.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code, message: self.message, details: self.details },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<permset_core::CompileError> for ApiError {
    fn from(error: permset_core::CompileError) -> Self {
        let details = serde_json::to_value(&error.diagnostics).unwrap_or(Value::Null);
        ApiError::invalid(format!("the change is not valid: {error}")).with_details(details)
    }
}

impl From<permset_core::AdminError> for ApiError {
    fn from(error: permset_core::AdminError) -> Self {
        use permset_core::AdminError as E;
        let details = serde_json::to_value(&error).unwrap_or(Value::Null);
        let message = error.to_string();
        let answer = match error {
            E::UnknownActor { .. } | E::NotFound { .. } => ApiError::not_found(message),
            E::MissingPermission { .. }
            | E::OwnersOnly { .. }
            | E::SystemRole { .. }
            | E::Escalation { .. } => ApiError::forbidden(message),
            E::LastOwner { .. } | E::Exists { .. } | E::StillAssigned { .. } => ApiError::conflict(message),
            E::Invalid { .. } => ApiError::invalid(message),
        };
        answer.with_details(details)
    }
}

impl From<permset_store::StoreError> for ApiError {
    fn from(error: permset_store::StoreError) -> Self {
        use permset_store::StoreError as E;
        match error {
            E::NotFound { .. } => ApiError::not_found(error.to_string()),
            E::Forbidden { .. } => ApiError::forbidden(error.to_string()),
            E::Invalid { .. } => ApiError::invalid(error.to_string()),
            E::Model(compile) => compile.into(),
            E::Admin(admin) => admin.into(),
            E::Stale { .. } | E::Conflict { .. } => ApiError::conflict(error.to_string()),
            E::Database(_) if error.is_unavailable() => {
                tracing::warn!("database unavailable: {:?}", std::error::Error::source(&error));
                ApiError::unavailable("the database is unavailable; retry shortly")
            }
            E::Corrupt { .. } | E::Database(_) => {
                let chain = match std::error::Error::source(&error) {
                    Some(cause) => format!("{error}: {cause}"),
                    None => error.to_string(),
                };
                ApiError::internal(&chain)
            }
        }
    }
}

/// The longest request URI (path and query) the API reads, in bytes.
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;

/// Gives the answers the router makes by itself the API's error body: a URI
/// over [`MAX_URI_BYTES`] is 414, and axum's bare 405 (a route that lacks
/// the method) becomes `method_not_allowed`, keeping its `Allow` header.
/// (A URI over 64 KiB never reaches the router: hyper refuses it with a bare 414.)
pub(crate) async fn router_errors(request: Request, next: Next) -> Response {
    let uri_len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return ApiError::uri_too_long(format!("the request URI is longer than {MAX_URI_BYTES} bytes"))
            .into_response();
    }
    let method = request.method().clone();
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() != StatusCode::METHOD_NOT_ALLOWED || is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let allowed = allow.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default().replace(',', ", ");
    let mut answer = ApiError::method_not_allowed(format!(
        "method `{method}` is not allowed here; this route takes {allowed}"
    ))
    .into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}
