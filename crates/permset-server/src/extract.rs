//! Extractors whose rejections use the API's error format: a JSON body
//! (400 malformed, 413 too large, 422 wrong shape), a query string (400)
//! and a raw body (413 too large).

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Json<T>` with permset's error answers.
pub(crate) struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(reject(rejection)),
        }
    }
}

fn reject(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large("the request body is too large"),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::invalid(format!("the JSON body does not fit: {text}")),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::bad_request("send the body as JSON with `content-type: application/json`")
        }
        _ => {
            // Axum reports an over-limit body read as a generic failure whose text says so.
            if text.contains("length limit") {
                ApiError::too_large("the request body is too large")
            } else {
                ApiError::bad_request(format!("the body is not valid JSON: {text}"))
            }
        }
    }
}

/// `Query<T>` with permset's error answers.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => {
                Err(ApiError::bad_request(format!("bad query string: {}", rejection.body_text())))
            }
        }
    }
}

/// The raw body, with permset's error answers.
pub(crate) struct ApiBytes(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(ApiBytes(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::too_large("the request body is too large"))
            }
            Err(rejection) => {
                Err(ApiError::bad_request(format!("cannot read the body: {}", rejection.body_text())))
            }
        }
    }
}

/// Reads a list route's `view` query parameter: whether the caller asked for `summary` (`full`, the
/// default, is the whole of each item). Anything else is a 400 naming the valid views, so a typo never
/// falls back silently to the large answer.
pub(crate) fn summary_view(view: Option<&str>) -> Result<bool, ApiError> {
    match view {
        None | Some("full") => Ok(false),
        Some("summary") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "unknown view `{other}` in the query; use `summary` or `full`"
        ))),
    }
}
