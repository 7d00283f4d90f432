//! The summary kept beside each audit entry (what changed, worked out when the
//! entry is written): `audit_lines` lists the log from it without reading the
//! states, falls back to the states for entries written before summaries were
//! kept (within a size limit), and `verify` names an entry whose summary was
//! edited to say something its states do not — the summary is outside the
//! hash, so an edit to it must not pass for a verified change.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{model, on_each_backend, SUPPORT};
use permset_store::{AuditSummary, KeySpec, Store};

/// create, apply, two model changes, one key: revision 5.
async fn history(s: &Store) {
    s.create_workspace("acme", "olivia").await.unwrap();
    s.apply("acme", "olivia", &model(SUPPORT), "initial", false).await.unwrap();
    for i in 0..2 {
        s.change_as_operator(
            "acme",
            "olivia",
            &format!("team {i}"),
            &permset_core::ModelChange::PutTeam { team: format!("team{i}"), def: Default::default() },
        )
        .await
        .unwrap();
    }
    s.create_key("acme", "olivia", KeySpec { label: "ci".into(), ..KeySpec::default() }).await.unwrap();
    assert_eq!(s.revision("acme").await.unwrap(), 5);
}

#[tokio::test]
async fn the_log_is_listed_from_kept_summaries_without_the_states() {
    on_each_backend(|b| async move {
        let s = &b.store;
        history(s).await;
        let full = s.audit("acme", 0, 100).await.unwrap();
        let lines = s.audit_lines("acme", 0, 100, u64::MAX).await.unwrap();
        assert_eq!(lines.len(), 5);
        for (e, line) in full.iter().zip(&lines) {
            assert_eq!((line.entry.seq, &line.entry.hash), (e.seq, &e.hash));
            assert!(
                line.entry.before.is_null() && line.entry.after.is_null(),
                "entry {} carries states",
                e.seq
            );
            assert_eq!(line.size as usize, e.before.to_string().len() + e.after.to_string().len());
            assert_eq!(
                line.summary.as_ref(),
                Some(&AuditSummary::of(&e.before, &e.after)),
                "entry {}",
                e.seq
            );
        }
        // A team added: one path, named.
        let team = lines[2].summary.as_ref().unwrap();
        assert_eq!(team.changed, 1);
        assert_eq!((team.changes[0][0].as_str(), team.changes[0][1].as_str()), ("+", "teams.team0"));
        // Paging works as `audit`'s does.
        let page = s.audit_lines("acme", 3, 1, u64::MAX).await.unwrap();
        assert_eq!(page.iter().map(|l| l.entry.seq).collect::<Vec<_>>(), [4]);

        // Entries written before summaries were kept: summarised from their states, within the limit.
        b.raw("UPDATE audit SET summary = NULL WHERE workspace = 'acme'").await;
        let old = s.audit_lines("acme", 0, 100, u64::MAX).await.unwrap();
        for (e, line) in full.iter().zip(&old) {
            assert_eq!(
                line.summary.as_ref(),
                Some(&AuditSummary::of(&e.before, &e.after)),
                "entry {}",
                e.seq
            );
            assert!(line.entry.before.is_null() && line.entry.after.is_null());
        }
        let limit = 2_000;
        let capped = s.audit_lines("acme", 0, 100, limit).await.unwrap();
        for line in &capped {
            assert_eq!(
                line.summary.is_some(),
                line.size <= limit,
                "entry {} of {} bytes",
                line.entry.seq,
                line.size
            );
        }
        assert!(capped.iter().any(|l| l.summary.is_none()), "the apply is over {limit} bytes");
        // A log without kept summaries still verifies (they are not part of the chain).
        let report = s.verify("acme").await.unwrap();
        assert_eq!(report.first_broken, None, "{report:?}");
    })
    .await;
}

#[tokio::test]
async fn an_edited_summary_breaks_verification() {
    on_each_backend(|b| async move {
        let s = &b.store;
        history(s).await;
        assert_eq!(s.verify("acme").await.unwrap().first_broken, None);
        // Hiding the team added by entry 3 from the log's list of changes.
        b.raw(
            r#"UPDATE audit SET summary = '{"changed":0,"changes":[]}' WHERE workspace = 'acme' AND seq = 3"#,
        )
        .await;
        let report = s.verify("acme").await.unwrap();
        assert_eq!(report.first_broken, Some(3), "{report:?}");
        assert!(
            report.problem.as_deref().unwrap_or_default().contains("summary does not match"),
            "{report:?}"
        );
        // Not JSON at all: the same.
        b.raw("UPDATE audit SET summary = 'garbage' WHERE workspace = 'acme' AND seq = 3").await;
        assert_eq!(s.verify("acme").await.unwrap().first_broken, Some(3));
    })
    .await;
}
