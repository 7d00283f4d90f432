//! Keys are remembered between requests (`key_cache.rs`), and a remembered
//! key must never outlive its revocation or expiry. Each test first uses a
//! key (so that it is cached), then takes it away, then tries it again: on
//! the server that revoked it, on a second replica over the same database
//! (with `at_least_revision`, and after the replica catches up by
//! notification or poll), after its user is removed, and one second past
//! its expiry. On each back end.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::{on_each_backend, Server};
use reqwest::StatusCode;
use serde_json::json;

/// `POST …/check` with `secret` on the server at `base` (another replica), asking `at_least`.
async fn check_on(s: &Server, base: &str, secret: &str, at_least: Option<u64>) -> StatusCode {
    let query = at_least.map(|r| format!("?at_least_revision={r}")).unwrap_or_default();
    s.http
        .post(format!("{base}/v1/workspaces/acme/check{query}"))
        .bearer_auth(secret)
        .json(&json!({ "permission": "customers_view" }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_replica_is_refused_on_the_other() {
    on_each_backend(|s| async move {
        let (addr, task) = common::start(s.store.clone()).await;
        let replica = format!("http://{addr}");
        let (id, secret) = s.create_key(Some("adam"), None).await;
        // Used on both servers, several times: remembered by both.
        for _ in 0..3 {
            assert_eq!(check_on(&s, &s.base, &secret, None).await, StatusCode::OK);
            assert_eq!(check_on(&s, &replica, &secret, None).await, StatusCode::OK);
        }
        let revoked = s.service().delete(&format!("keys/{id}")).await;
        let revision = revoked.ok(StatusCode::OK)["revision"].as_u64().unwrap();
        // At once on the server that revoked it.
        assert_eq!(check_on(&s, &s.base, &secret, None).await, StatusCode::UNAUTHORIZED);
        // At once on the replica when the caller asks for that revision.
        assert_eq!(check_on(&s, &replica, &secret, Some(revision)).await, StatusCode::UNAUTHORIZED);
        // And without asking, once the replica has caught up (notification or
        // the 1 s poll); from then on, for good.
        let deadline = Instant::now() + Duration::from_secs(10);
        while check_on(&s, &replica, &secret, None).await != StatusCode::UNAUTHORIZED {
            assert!(Instant::now() < deadline, "the replica still accepts a revoked key after 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for _ in 0..3 {
            assert_eq!(check_on(&s, &replica, &secret, None).await, StatusCode::UNAUTHORIZED);
        }
        task.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_not_revived_by_an_at_least_revision_it_already_meets() {
    on_each_backend(|s| async move {
        let (id, secret) = s.create_key(Some("adam"), None).await;
        assert_eq!(check_on(&s, &s.base, &secret, Some(1)).await, StatusCode::OK);
        assert_eq!(check_on(&s, &s.base, &secret, Some(1)).await, StatusCode::OK);
        s.service().delete(&format!("keys/{id}")).await.ok(StatusCode::OK);
        // An old revision is already met: the answer is still the revocation.
        assert_eq!(check_on(&s, &s.base, &secret, Some(1)).await, StatusCode::UNAUTHORIZED);
        assert_eq!(check_on(&s, &s.base, &secret, None).await, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_of_a_removed_user_stops_at_once() {
    on_each_backend(|s| async move {
        let (_, secret) = s.create_key(Some("lena"), None).await;
        assert_eq!(check_on(&s, &s.base, &secret, None).await, StatusCode::OK);
        assert_eq!(check_on(&s, &s.base, &secret, None).await, StatusCode::OK);
        s.user("olivia").delete("users/lena").await.ok(StatusCode::OK);
        assert_eq!(check_on(&s, &s.base, &secret, None).await, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_is_refused_one_second_later() {
    on_each_backend(|s| async move {
        let expires_at = Utc::now() + chrono::Duration::seconds(2);
        let body = json!({ "user": "adam", "label": "short", "expires_at": expires_at });
        let created = s.service().post("keys", body).await;
        let secret = created.ok(StatusCode::OK)["secret"].as_str().unwrap().to_owned();
        assert_eq!(check_on(&s, &s.base, &secret, None).await, StatusCode::OK);
        assert_eq!(check_on(&s, &s.base, &secret, None).await, StatusCode::OK);
        // Nothing changes in the model meanwhile: only the expiry can stop it.
        let wait = (expires_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1);
        tokio::time::sleep(wait).await;
        assert_eq!(check_on(&s, &s.base, &secret, None).await, StatusCode::UNAUTHORIZED);
    })
    .await;
}
