//! A bound on the time to answer (issue 13): an interactive request that
//! has no answer within [`REQUEST_DEADLINE`] is answered 503 `unavailable`,
//! the JSON error every outage gets, instead of leaving its client waiting.
//!
//! Why it is needed: each database step of a request waits at most
//! `ACQUIRE_TIMEOUT` (5 s) for a connection, but a request may take several
//! steps one after another — the key lookup (after a change voided the key
//! cache), the snapshot its `at_least_revision` needs, the write, and up to
//! five re-decisions when a model change races it — so under an outage or a
//! starved pool the waits add up past any client's timeout (two requests of
//! a soak did: unanswered after 10 s). The deadline bounds the sum.
//!
//! A request cut off is cancelled where it waits: a transaction not yet
//! committed rolls back; one whose commit was in flight may have landed,
//! which is what a 503 already means for a write (its outcome is in doubt,
//! as with a connection lost mid-commit). Routes that do long work by design
//! — what-if, apply, exports, usage, review, the audit verification, and
//! schema and access-rule writes that may build indexes — are not bounded here: they are administrative, and cutting them off would
//! turn a slow success into a failure.

use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// How long an interactive request may take: one full wait for a database
/// connection (5 s) and the work after it fit; a second full wait does not.
/// Below the 10 s that clients and load balancers commonly allow.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(8);

/// Path endings of the routes that do long work by design (not bounded).
const LONG_RUNNING: [&str; 7] =
    ["/simulate", "/apply", "/export", "/usage", "/usage/flush", "/review", "/audit/verify"];

/// Path parts of the model writes that may build indexes over every record
/// of an object (a new owner or team field, a rule over new fields): on a
/// million records that takes longer than the deadline, and a 503 after
/// the index and the change committed would only make the administrator
/// retry a change that landed.
const INDEX_BUILDING_WRITES: [&str; 2] = ["/schema/objects/", "/access_rules/"];

/// Whether a request is exempt from the deadline.
fn long_running(method: &axum::http::Method, path: &str) -> bool {
    LONG_RUNNING.iter().any(|end| path.ends_with(end))
        || (method != axum::http::Method::GET && INDEX_BUILDING_WRITES.iter().any(|part| path.contains(part)))
}

/// Middleware: the answer within [`REQUEST_DEADLINE`], or 503.
pub(crate) async fn bounded(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if long_running(request.method(), path) {
        return next.run(request).await;
    }
    let what = format!("{} {path}", request.method());
    match tokio::time::timeout(REQUEST_DEADLINE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("{what}: no answer within {REQUEST_DEADLINE:?}; answered 503");
            ApiError::unavailable("the database did not answer in time; retry shortly").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::long_running;

    #[test]
    fn only_long_work_by_design_is_exempt() {
        assert!(long_running(&Method::POST, "/v1/simulate"));
        assert!(long_running(&Method::POST, "/v1/usage/flush"));
        assert!(long_running(&Method::PUT, "/v1/schema/objects/customers"));
        assert!(long_running(&Method::PUT, "/v1/access_rules/customers/vip"));
        assert!(!long_running(&Method::GET, "/v1/access_rules/customers/vip"));
        assert!(!long_running(&Method::POST, "/v1/check"));
        assert!(!long_running(&Method::POST, "/v1/objects/customers/records"));
        assert!(!long_running(&Method::PUT, "/v1/roles/agent"));
    }
}
