//! Usage counters and the bounded decision sample, on each back end:
//! counters add up across flushes, the later last-use time wins, retention
//! deletes old hours and old decisions, and the sample never exceeds its cap.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use chrono::{Duration, DurationRound, Utc};
use common::on_each_backend;
use permset_store::{DecisionLogEntry, UsageCount};
use serde_json::json;

fn count(
    ws: &str,
    hour: chrono::DateTime<Utc>,
    user: &str,
    role: &str,
    uses: u64,
    last: chrono::DateTime<Utc>,
) -> UsageCount {
    UsageCount {
        workspace: ws.into(),
        hour,
        user: user.into(),
        permission: "customers_view".into(),
        role: role.into(),
        access: if role.is_empty() { String::new() } else { "all".into() },
        via: if role.is_empty() { String::new() } else { "direct".into() },
        allowed: !role.is_empty(),
        uses,
        last_at: last,
    }
}

#[tokio::test]
async fn counters_add_up_across_flushes_and_old_hours_go() {
    on_each_backend(|b| async move {
        let s = &b.store;
        s.create_workspace("acme", "olivia").await.unwrap();
        s.create_workspace("other", "olivia").await.unwrap();
        let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
        let t1 = hour + Duration::minutes(5);
        let t2 = hour + Duration::minutes(9);
        s.add_usage(&[count("acme", hour, "ann", "desk", 3, t2), count("acme", hour, "ann", "", 1, t1)])
            .await
            .unwrap();
        // A second flush of the same keys adds; an earlier last use does not move last_at back.
        s.add_usage(&[count("acme", hour, "ann", "desk", 2, t1), count("other", hour, "ann", "desk", 7, t1)])
            .await
            .unwrap();
        let old = hour - Duration::days(100);
        s.add_usage(&[count("acme", old, "ann", "desk", 1, old)]).await.unwrap();
        let rows = s.usage("acme", old, hour + Duration::hours(1)).await.unwrap();
        assert_eq!(rows.len(), 3, "{rows:?}");
        let desk = rows.iter().find(|r| r.hour == hour && r.role == "desk").unwrap();
        assert_eq!((desk.uses, desk.last_at), (5, t2));
        let deny = rows.iter().find(|r| !r.allowed).unwrap();
        assert_eq!(deny.uses, 1);
        // Another workspace's counters are not this one's.
        assert!(rows.iter().all(|r| r.workspace == "acme"));
        // The window is [since, until).
        assert_eq!(s.usage("acme", hour, hour).await.unwrap().len(), 0);
        assert_eq!(s.prune_usage(hour - Duration::days(90)).await.unwrap(), 1);
        assert_eq!(s.usage("acme", old, hour + Duration::hours(1)).await.unwrap().len(), 2);
        // A restart (a second store on the same database) sees the flushed counters.
        let again = b.reopen(None).await;
        assert_eq!(again.usage("acme", old, hour + Duration::hours(1)).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn the_decision_sample_keeps_the_newest_up_to_its_cap_with_the_records() {
    on_each_backend(|b| async move {
        let s = &b.store;
        s.create_workspace("acme", "olivia").await.unwrap();
        s.create_workspace("other", "olivia").await.unwrap();
        let now = Utc::now();
        let entry = |i: usize, at| DecisionLogEntry {
            at,
            user: format!("u{i}"),
            permission: "customers_update".into(),
            record_id: Some(format!("c{i}")),
            record: Some(json!({ "id": format!("c{i}"), "tier": "vip" })),
            before: i.is_multiple_of(2).then(|| json!({ "id": format!("c{i}"), "tier": "basic" })),
            allowed: i.is_multiple_of(3),
            revision: 4,
        };
        s.log_decisions("other", &[entry(0, now)], 10).await.unwrap();
        let entries: Vec<_> = (0..25).map(|i| entry(i, now)).collect();
        s.log_decisions("acme", &entries, 10).await.unwrap();
        let kept = s.recent_decisions("acme", 100).await.unwrap();
        assert_eq!(kept.len(), 10);
        assert_eq!(kept[0].user, "u24");
        assert_eq!(kept[9].user, "u15");
        assert_eq!(kept[0].record, Some(json!({ "id": "c24", "tier": "vip" })));
        assert_eq!(kept[0].before, Some(json!({ "id": "c24", "tier": "basic" })));
        assert_eq!(kept[1].before, None);
        // The cap is per workspace: the other keeps its one entry.
        assert_eq!(s.recent_decisions("other", 100).await.unwrap().len(), 1);
        // Retention by age.
        s.log_decisions("other", &[entry(1, now - Duration::days(200))], 10).await.unwrap();
        assert_eq!(s.prune_decisions(now - Duration::days(90)).await.unwrap(), 1);
        assert_eq!(s.recent_decisions("other", 100).await.unwrap().len(), 1);
    })
    .await;
}
