//! `GET /audit?view=summary` over a log of megabyte entries (a large model,
//! held whole before and after by every model change): each is listed from
//! the summary the store kept when writing it — its size and changed paths,
//! no state — on each back end, and the full entry stays one read away.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{on_each_backend, FIXTURE};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_entries_are_listed_by_their_kept_summaries() {
    on_each_backend(|s| async move {
        let owner = s.user("olivia");
        // About 600 KB of description in multi-byte characters (é is two bytes): every entry from
        // here on holds over a megabyte of states.
        let long = "é".repeat(300_000);
        let file = FIXTURE.replace(
            "manages roles, but holds no billing permission",
            &format!("manages roles, but holds no billing permission {long}"),
        );
        owner.apply(&file).await.ok(StatusCode::OK);
        owner
            .put("roles/small_one", json!({ "grants": { "customers_view": "all" } }))
            .await
            .ok(StatusCode::OK);

        let full = owner.get("audit?limit=1000").await.ok(StatusCode::OK).clone();
        let summary = owner.get("audit?limit=1000&view=summary").await.ok(StatusCode::OK).clone();
        let (full, summary) = (full["entries"].as_array().unwrap(), summary["entries"].as_array().unwrap());
        let n = summary.len();
        let (big, small) = (&summary[n - 2], &summary[n - 1]);
        // The size is the stored bytes of both states, as the full entry's JSON text counts them.
        let bytes = full[n - 2]["before"].to_string().len() + full[n - 2]["after"].to_string().len();
        assert!(bytes > 512 * 1024, "{bytes}");
        assert_eq!(big["size"], json!(bytes));
        let changed = big["changes"].to_string();
        assert!(big["changed"].as_u64().unwrap() >= 1 && changed.contains("role_admin.description"), "{big}");
        assert!(big.to_string().len() < 4096, "the summary ships no model: {} bytes", big.to_string().len());
        assert_eq!(big["hash"], full[n - 2]["hash"]);
        // A small change to the large model: its one path, not the megabyte it is stored with.
        let bytes = full[n - 1]["before"].to_string().len() + full[n - 1]["after"].to_string().len();
        assert!(bytes > 1024 * 1024 && small["size"] == json!(bytes), "{bytes}: {small}");
        assert!(small.to_string().len() < 4096, "{} bytes", small.to_string().len());
        assert_eq!(small["changed"], json!(1), "{small}");
        assert!(small["changes"][0][1].as_str().unwrap().ends_with("roles.small_one"), "{small}");
        // The large one whole, one read away.
        let seq = big["seq"].as_u64().unwrap();
        let one = owner.get(&format!("audit?after={}&limit=1", seq - 1)).await.ok(StatusCode::OK).clone();
        assert_eq!(one["entries"][0], full[n - 2]);
    })
    .await;
}
