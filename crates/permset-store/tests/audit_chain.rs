//! The audit chain is tied to the revision and may be keyed: these tests
//! tamper with the stored chain as someone with write access to the database
//! would (truncate it, cut out the middle, edit and recompute it, rewrite the
//! workspace row's head, swap the key) and check what `verify` catches, and
//! that the limits docs/API.md admits are real.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{model, on_each_backend, Backend, SUPPORT};
use permset_store::{AuditEntry, AuditKey, AuditSummary, KeySpec, Store, StoreError, VerifyReport};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor};

const KEY: &str = "0123456789abcdef0123456789abcdef-audit-key";
const OTHER_KEY: &str = "fedcba9876543210fedcba9876543210-other-key";

fn key(secret: &str) -> AuditKey {
    AuditKey::new(secret.as_bytes().to_vec()).unwrap()
}

/// A workspace at revision 7: create, apply, four model changes, one key.
async fn history(s: &Store) {
    s.create_workspace("acme", "olivia").await.unwrap();
    s.apply("acme", "olivia", &model(SUPPORT), "initial", false).await.unwrap();
    for i in 0..4 {
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
    assert_eq!(s.revision("acme").await.unwrap(), 7);
}

fn assert_intact(report: &VerifyReport, entries: u64) {
    assert_eq!((report.first_broken, &report.problem), (None, &None), "{report:?}");
    assert_eq!((report.entries, report.revision), (entries, entries), "{report:?}");
}

fn assert_broken(report: &VerifyReport, seq: u64, why: &str) {
    assert_eq!(report.first_broken, Some(seq), "{report:?}");
    let problem = report.problem.as_deref().unwrap_or_default();
    assert!(problem.contains(why), "expected `{why}` in `{problem}`");
}

/// What an attacker who read the source computes for an unkeyed entry.
fn sha256_of(workspace: &str, e: &AuditEntry, prev_hash: &str) -> String {
    let at = e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let canonical = serde_json::json!([
        workspace,
        e.seq,
        e.actor,
        at,
        e.action,
        e.reason,
        e.before.to_string(),
        e.after.to_string(),
        prev_hash
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Rewrites the chain from `from` on as unkeyed `sha256` entries with fresh
/// hashes and links, and the workspace row's head to match: everything a
/// database writer without the key can do.
async fn recompute_unkeyed(b: &Backend, s: &Store, from: u64) {
    let entries = s.audit("acme", 0, 1000).await.unwrap();
    let mut prev = entries.iter().find(|e| e.seq + 1 == from).map(|e| e.hash.clone()).unwrap_or_default();
    for e in entries.iter().filter(|e| e.seq >= from) {
        let hash = sha256_of("acme", e, &prev);
        b.raw(&format!(
            "UPDATE audit SET prev_hash = '{prev}', hash = '{hash}', mac = 'sha256' \
             WHERE workspace = 'acme' AND seq = {}",
            e.seq
        ))
        .await;
        prev = hash;
    }
    let last = entries.last().unwrap().seq;
    b.raw(&format!("UPDATE workspaces SET audit_seq = {last}, audit_head = '{prev}' WHERE key = 'acme'"))
        .await;
}

#[tokio::test]
async fn every_revision_has_exactly_one_entry() {
    on_each_backend(|b| async move {
        let s = &b.store;
        history(s).await;
        let entries = s.audit("acme", 0, 100).await.unwrap();
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
        assert_eq!(entries[0].action, "create_workspace");
        assert!(entries.iter().all(|e| e.mac == "sha256"), "an unkeyed store writes sha256 entries");
        let report = s.verify("acme").await.unwrap();
        assert_intact(&report, 7);
        assert_eq!(report.head, entries[6].hash);
        assert_eq!((report.keyed_from, report.unchecked), (None, 0));
    })
    .await;
}

#[tokio::test]
async fn truncating_the_newest_entries_is_detected() {
    on_each_backend(|b| async move {
        let s = &b.store;
        history(s).await;
        b.raw("DELETE FROM audit WHERE workspace = 'acme' AND seq >= 6").await;
        assert_broken(&s.verify("acme").await.unwrap(), 6, "entries 6 to 7 are missing");
        // Setting the revision back is not enough: the row's head still names entry 7.
        b.raw("UPDATE workspaces SET revision = 5 WHERE key = 'acme'").await;
        assert_broken(&s.verify("acme").await.unwrap(), 5, "not the head the workspace row records");
        // Deleting only the newest entry.
        b.raw("UPDATE workspaces SET revision = 7 WHERE key = 'acme'").await;
        b.raw("DELETE FROM audit WHERE workspace = 'acme' AND seq = 5").await;
        assert_broken(&s.verify("acme").await.unwrap(), 5, "entries 5 to 7 are missing");
    })
    .await;
}

#[tokio::test]
async fn deleting_a_middle_entry_is_detected() {
    on_each_backend(|b| async move {
        let s = &b.store;
        history(s).await;
        b.raw("DELETE FROM audit WHERE workspace = 'acme' AND seq = 3").await;
        assert_broken(&s.verify("acme").await.unwrap(), 3, "entry 3 is missing");
        // Renumbering the rest to close the gap breaks the links and the revision.
        for seq in 4..=7 {
            b.raw(&format!("UPDATE audit SET seq = {} WHERE workspace = 'acme' AND seq = {seq}", seq - 1))
                .await;
        }
        assert_broken(&s.verify("acme").await.unwrap(), 3, "does not link to the hash of entry 2");
        // The store keeps appending at the revision, so the damage stays where it was.
        s.change_as_operator(
            "acme",
            "olivia",
            "after",
            &permset_core::ModelChange::PutTeam { team: "later".into(), def: Default::default() },
        )
        .await
        .unwrap();
        assert_broken(&s.verify("acme").await.unwrap(), 3, "does not link to the hash of entry 2");
    })
    .await;
}

#[tokio::test]
async fn reordering_and_entries_beyond_the_revision_are_detected() {
    on_each_backend(|b| async move {
        let s = &b.store;
        history(s).await;
        b.raw("UPDATE audit SET seq = 100 WHERE workspace = 'acme' AND seq = 4").await;
        b.raw("UPDATE audit SET seq = 4 WHERE workspace = 'acme' AND seq = 5").await;
        b.raw("UPDATE audit SET seq = 5 WHERE workspace = 'acme' AND seq = 100").await;
        assert_broken(&s.verify("acme").await.unwrap(), 4, "entry 4 does not link");
        b.raw("UPDATE audit SET seq = 100 WHERE workspace = 'acme' AND seq = 4").await;
        b.raw("UPDATE audit SET seq = 4 WHERE workspace = 'acme' AND seq = 5").await;
        b.raw("UPDATE audit SET seq = 5 WHERE workspace = 'acme' AND seq = 100").await;
        assert_intact(&s.verify("acme").await.unwrap(), 7);
        // An entry slipped in after the head is not part of the chain.
        b.raw(
            "INSERT INTO audit (workspace, seq, actor, at, action, reason, before_state, after_state, \
             prev_hash, hash, mac) SELECT workspace, 8, actor, at, action, 'forged', before_state, \
             after_state, hash, hash, mac FROM audit WHERE workspace = 'acme' AND seq = 7",
        )
        .await;
        assert_broken(&s.verify("acme").await.unwrap(), 8, "beyond the workspace's revision 7");
    })
    .await;
}

/// The limit docs/API.md states: without a key, a database writer who edits
/// an entry and recomputes the chain and the head is not detected. With a
/// key the same edit is.
#[tokio::test]
async fn an_edited_and_recomputed_chain_is_detected_only_with_a_key() {
    on_each_backend(|b| async move {
        // Unkeyed: an edit alone is detected ...
        let s = &b.store;
        history(s).await;
        b.raw("UPDATE audit SET reason = 'nothing to see' WHERE workspace = 'acme' AND seq = 4").await;
        assert_broken(&s.verify("acme").await.unwrap(), 4, "entry 4 does not match its hash");
        // ... but not once the chain and the head are recomputed.
        recompute_unkeyed(&b, s, 4).await;
        let report = s.verify("acme").await.unwrap();
        assert_intact(&report, 7);
        assert_eq!(s.audit("acme", 3, 1).await.unwrap()[0].reason, "nothing to see");

        // Keyed: the same edit, recomputed as the attacker can, is detected.
        let keyed = b.reopen(Some(key(KEY))).await;
        keyed.create_workspace("beta", "olivia").await.unwrap();
        for i in 0..4 {
            keyed
                .change_as_operator(
                    "beta",
                    "olivia",
                    &format!("team {i}"),
                    &permset_core::ModelChange::PutTeam { team: format!("team{i}"), def: Default::default() },
                )
                .await
                .unwrap();
        }
        assert_intact(&keyed.verify("beta").await.unwrap(), 5);
        b.raw("UPDATE audit SET reason = 'nothing to see' WHERE workspace = 'beta' AND seq = 3").await;
        assert_broken(&keyed.verify("beta").await.unwrap(), 3, "under the audit key");
        // Recomputing from the edit on, unkeyed (the attacker has no key).
        let entries = keyed.audit("beta", 0, 100).await.unwrap();
        let mut prev = entries[1].hash.clone();
        for e in &entries[2..] {
            let hash = sha256_of("beta", e, &prev);
            b.raw(&format!(
                "UPDATE audit SET prev_hash = '{prev}', hash = '{hash}', mac = 'sha256' \
                 WHERE workspace = 'beta' AND seq = {}",
                e.seq
            ))
            .await;
            prev = hash;
        }
        b.raw(&format!("UPDATE workspaces SET audit_head = '{prev}' WHERE key = 'beta'")).await;
        assert_broken(
            &keyed.verify("beta").await.unwrap(),
            3,
            "unkeyed (`sha256`) but follows keyed entries",
        );
        // Relabelling the edited entries as keyed does not help either.
        b.raw("UPDATE audit SET mac = 'hmac-sha256' WHERE workspace = 'beta'").await;
        assert_broken(&keyed.verify("beta").await.unwrap(), 3, "under the audit key");
        keyed.close().await;
    })
    .await;
}

/// The other limit docs/API.md states: a writer may rewrite a keyed chain
/// wholesale as unkeyed. It verifies, but `keyed_from` shows it: a
/// workspace created by a keyed server has `keyed_from: 1`.
#[tokio::test]
async fn rewriting_a_whole_keyed_chain_unkeyed_shows_in_keyed_from() {
    on_each_backend(|b| async move {
        let keyed = b.reopen(Some(key(KEY))).await;
        history(&keyed).await;
        let report = keyed.verify("acme").await.unwrap();
        assert_intact(&report, 7);
        assert_eq!((report.keyed_from, report.unchecked), (Some(1), 0));
        b.raw("UPDATE audit SET reason = 'nothing to see' WHERE workspace = 'acme' AND seq = 4").await;
        recompute_unkeyed(&b, &keyed, 1).await;
        let report = keyed.verify("acme").await.unwrap();
        assert_intact(&report, 7);
        assert_eq!(report.keyed_from, None, "the downgrade is visible only here");
        keyed.close().await;
    })
    .await;
}

/// Rolling the log back to an older entry, with the revision and head to
/// match, verifies with or without a key: the database alone cannot tell.
/// A head recorded outside the database can.
#[tokio::test]
async fn a_consistent_rollback_verifies_and_only_an_outside_head_tells() {
    on_each_backend(|b| async move {
        let keyed = b.reopen(Some(key(KEY))).await;
        history(&keyed).await;
        let recorded = keyed.verify("acme").await.unwrap().head;
        let fifth = keyed.audit("acme", 4, 1).await.unwrap().remove(0);
        b.raw("DELETE FROM audit WHERE workspace = 'acme' AND seq > 5").await;
        b.raw(&format!(
            "UPDATE workspaces SET revision = 5, audit_seq = 5, audit_head = '{}' WHERE key = 'acme'",
            fifth.hash
        ))
        .await;
        let report = keyed.verify("acme").await.unwrap();
        assert_intact(&report, 5);
        assert_ne!(report.head, recorded);
        keyed.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_keyed_store_verifies_its_own_chain_and_the_wrong_key_does_not() {
    on_each_backend(|b| async move {
        let keyed = b.reopen(Some(key(KEY))).await;
        history(&keyed).await;
        let entries = keyed.audit("acme", 0, 100).await.unwrap();
        assert!(entries.iter().all(|e| e.mac == "hmac-sha256"), "a keyed store writes keyed entries");
        assert_intact(&keyed.verify("acme").await.unwrap(), 7);

        let wrong = b.reopen(Some(key(OTHER_KEY))).await;
        assert_broken(
            &wrong.verify("acme").await.unwrap(),
            1,
            "under the audit key (changed, or the wrong key)",
        );

        // Without the key the structure is still checked; the hashes are not.
        let report = b.store.verify("acme").await.unwrap();
        assert_intact(&report, 7);
        assert_eq!((report.keyed_from, report.unchecked), (Some(1), 7));
        b.raw("DELETE FROM audit WHERE workspace = 'acme' AND seq = 7").await;
        assert_broken(&b.store.verify("acme").await.unwrap(), 7, "missing");
        wrong.close().await;
        keyed.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_store_without_the_key_does_not_append_to_a_keyed_chain() {
    on_each_backend(|b| async move {
        let keyed = b.reopen(Some(key(KEY))).await;
        history(&keyed).await;
        let err = b.store.create_key("acme", "olivia", KeySpec::default()).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        assert!(err.to_string().contains("`PERMSET_AUDIT_KEY`"), "{err}");
        let err = b
            .store
            .change_as_operator(
                "acme",
                "olivia",
                "no key",
                &permset_core::ModelChange::PutTeam { team: "sneaky".into(), def: Default::default() },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        // Nothing was written.
        assert_eq!(keyed.revision("acme").await.unwrap(), 7);
        assert!(!keyed.snapshot("acme").await.unwrap().model().teams.contains_key("sneaky"));
        assert_intact(&keyed.verify("acme").await.unwrap(), 7);
        keyed.close().await;
    })
    .await;
}

#[tokio::test]
async fn an_unkeyed_chain_continues_keyed_and_survives_restarts() {
    on_each_backend(|b| async move {
        history(&b.store).await;
        // A server started with a key on an existing database.
        let keyed = b.reopen(Some(key(KEY))).await;
        keyed.create_key("acme", "olivia", KeySpec::default()).await.unwrap();
        let report = keyed.verify("acme").await.unwrap();
        assert_intact(&report, 8);
        assert_eq!(report.keyed_from, Some(8));
        keyed.close().await;
        // Restarted with the same key: still verifies, and keeps appending.
        let restarted = b.reopen(Some(key(KEY))).await;
        assert_intact(&restarted.verify("acme").await.unwrap(), 8);
        restarted
            .change_as_operator(
                "acme",
                "olivia",
                "after restart",
                &permset_core::ModelChange::PutTeam { team: "later".into(), def: Default::default() },
            )
            .await
            .unwrap();
        let report = restarted.verify("acme").await.unwrap();
        assert_intact(&report, 9);
        assert_eq!((report.keyed_from, report.unchecked), (Some(8), 0));
        // The unkeyed prefix keeps its own guarantee: editing it is still caught.
        b.raw("UPDATE audit SET reason = 'nothing to see' WHERE workspace = 'acme' AND seq = 2").await;
        assert_broken(&restarted.verify("acme").await.unwrap(), 2, "entry 2 does not match its hash");
        restarted.close().await;
    })
    .await;
}

#[tokio::test]
async fn key_create_and_revoke_are_revisions() {
    on_each_backend(|b| async move {
        let s = &b.store;
        s.create_workspace("acme", "olivia").await.unwrap();
        let (k, _) = s.create_key("acme", "olivia", KeySpec::default()).await.unwrap();
        assert_eq!(s.revision("acme").await.unwrap(), 2);
        s.revoke_key("acme", "olivia", &k.id).await.unwrap();
        assert_eq!(s.revision("acme").await.unwrap(), 3);
        // A refused revoke changes nothing.
        assert!(matches!(s.revoke_key("acme", "olivia", &k.id).await, Err(StoreError::NotFound { .. })));
        assert_eq!(s.revision("acme").await.unwrap(), 3);
        let actions: Vec<(u64, String)> =
            s.audit("acme", 0, 100).await.unwrap().into_iter().map(|e| (e.seq, e.action)).collect();
        assert_eq!(
            actions,
            [(1, "create_workspace".into()), (2, "create_key".into()), (3, "revoke_key".into())]
        );
        assert_intact(&s.verify("acme").await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn concurrent_key_and_model_changes_keep_entries_equal_to_revisions() {
    on_each_backend(|b| async move {
        let s = b.store.clone();
        s.create_workspace("acme", "olivia").await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    s.create_key("acme", "olivia", KeySpec::default()).await.map(|_| ())
                } else {
                    s.change_as_operator(
                        "acme",
                        "olivia",
                        "",
                        &permset_core::ModelChange::PutTeam {
                            team: format!("t{i}"),
                            def: Default::default(),
                        },
                    )
                    .await
                    .map(|_| ())
                }
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(s.revision("acme").await.unwrap(), 9);
        assert_intact(&s.verify("acme").await.unwrap(), 9);
    })
    .await;
}

#[tokio::test]
async fn audit_after_the_end_is_empty() {
    on_each_backend(|b| async move {
        let s = &b.store;
        history(s).await;
        assert_eq!(s.audit("acme", 6, 100).await.unwrap().len(), 1);
        assert!(s.audit("acme", 7, 100).await.unwrap().is_empty());
        assert!(s.audit("acme", 1_000_000, 100).await.unwrap().is_empty());
        // Past i64::MAX must not wrap around to "everything".
        assert!(s.audit("acme", u64::MAX, 100).await.unwrap().is_empty());
        assert!(s.audit("nope", 0, 100).await.unwrap().is_empty());
    })
    .await;
}

#[test]
fn a_short_audit_key_is_refused() {
    let err = AuditKey::new(b"short".to_vec()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the audit key must be at least 32 bytes, not 5; make one with `openssl rand -hex 32`"
    );
    assert_eq!(format!("{:?}", key(KEY)), "AuditKey(..)", "debug output never shows the secret");
}

/// A database as version 1 left it: key changes appended entries without
/// bumping the revision, and the workspace row had no head.
const V1_SCHEMA: &[&str] = &[
    "CREATE TABLE permset_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    "INSERT INTO permset_migrations VALUES (1, '2025-01-01T00:00:00.000000Z')",
    "CREATE TABLE workspaces (key {key} PRIMARY KEY, model {json} NOT NULL, revision BIGINT NOT NULL, \
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE TABLE audit (workspace {key} NOT NULL REFERENCES workspaces(key), seq BIGINT NOT NULL, \
     actor TEXT NOT NULL, at TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, \
     before_state TEXT NOT NULL, after_state TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, \
     PRIMARY KEY (workspace, seq))",
    "CREATE TABLE records (workspace {key} NOT NULL REFERENCES workspaces(key), object {key} NOT NULL, \
     id {key} NOT NULL, data {json} NOT NULL, instants {json} NOT NULL, created_at TEXT NOT NULL, \
     updated_at TEXT NOT NULL, PRIMARY KEY (workspace, object, id))",
    "CREATE TABLE api_keys (id {key} PRIMARY KEY, workspace {key} NOT NULL REFERENCES workspaces(key), \
     secret_hash TEXT NOT NULL UNIQUE, user_key TEXT, role TEXT, label TEXT NOT NULL, \
     created_at TEXT NOT NULL, revoked_at TEXT)",
    "CREATE TABLE decisions (id BIGINT PRIMARY KEY, workspace {key} NOT NULL REFERENCES workspaces(key), \
     at TEXT NOT NULL, user_key TEXT NOT NULL, permission TEXT NOT NULL, record_id TEXT, \
     allowed BIGINT NOT NULL, revision BIGINT NOT NULL)",
];

/// Writes a version-1 chain: create (revision 1), a key, an empty apply
/// (revision 2), a revoked key. Two revisions, four entries.
fn v1_rows(workspace: &str) -> Vec<String> {
    let model = permset_core::Model { workspace: workspace.to_owned(), ..permset_core::Model::default() };
    let model = serde_json::to_string(&model).unwrap();
    let mut rows = vec![format!(
        "INSERT INTO workspaces VALUES ('{workspace}', '{model}', 2, '2025-01-01T00:00:00.000000Z', \
         '2025-01-01T00:00:00.000000Z')"
    )];
    let mut prev = String::new();
    let actions = ["create_workspace", "create_key", "apply", "revoke_key"];
    for (i, action) in actions.into_iter().enumerate() {
        let entry = AuditEntry {
            seq: i as u64 + 1,
            actor: "olivia".into(),
            at: "2025-01-01T00:00:00Z".parse().unwrap(),
            action: action.into(),
            reason: String::new(),
            origin: None,
            before: serde_json::Value::Null,
            after: serde_json::json!({ "n": i }),
            prev_hash: prev.clone(),
            hash: String::new(),
            mac: String::new(),
        };
        let hash = sha256_of(workspace, &entry, &prev);
        rows.push(format!(
            "INSERT INTO audit VALUES ('{workspace}', {}, 'olivia', '2025-01-01T00:00:00.000000Z', '{action}', '', \
             'null', '{{\"n\":{i}}}', '{prev}', '{hash}')",
            entry.seq
        ));
        prev = hash;
    }
    rows
}

/// Opens a version-1 database of each back end through the store, which migrates it.
async fn on_a_v1_database<F, Fut>(body: F)
where
    F: Fn(Store, Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let spelt = |key: &str, json: &str| -> Vec<String> {
        let schema = V1_SCHEMA.iter().map(|s| s.replace("{key}", key).replace("{json}", json));
        schema.chain(v1_rows("old")).collect()
    };
    let statements = spelt("TEXT", "TEXT");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v1.db").display());
    {
        let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc")).await.unwrap();
        for statement in &statements {
            conn.execute(statement.as_str()).await.unwrap();
        }
        conn.close().await.unwrap();
    }
    let plain = Store::open(&url).await.unwrap();
    let keyed = Store::open(&url).await.unwrap().with_audit_key(key(KEY));
    body(plain.clone(), keyed.clone()).await;
    plain.close().await;
    keyed.close().await;
    if let Some(pg) = common::postgres_url() {
        let schema = format!("v1_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(&pg).await.unwrap();
        conn.execute(format!("CREATE SCHEMA {schema}").as_str()).await.unwrap();
        conn.execute(format!("SET search_path TO {schema}").as_str()).await.unwrap();
        for statement in &spelt("TEXT COLLATE \"C\"", "JSONB") {
            conn.execute(statement.as_str()).await.unwrap();
        }
        let plain = Store::open_in_schema(&pg, &schema).await.unwrap();
        let keyed = Store::open_in_schema(&pg, &schema).await.unwrap().with_audit_key(key(KEY));
        let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(body(
            plain.clone(),
            keyed.clone(),
        )))
        .await;
        plain.close().await;
        keyed.close().await;
        conn.execute(format!("DROP SCHEMA {schema} CASCADE").as_str()).await.unwrap();
        if let Err(panic) = outcome {
            eprintln!("failed on postgres");
            std::panic::resume_unwind(panic);
        }
    }
}

#[tokio::test]
async fn an_existing_database_keeps_verifying_after_the_migration() {
    on_a_v1_database(|plain, keyed| async move {
        // The revision moved up to the last entry; the row has the head.
        assert_eq!(plain.revision("old").await.unwrap(), 4);
        let report = plain.verify("old").await.unwrap();
        assert_intact(&report, 4);
        assert_eq!(report.head, plain.audit("old", 3, 1).await.unwrap()[0].hash);
        assert!(plain.audit("old", 0, 10).await.unwrap().iter().all(|e| e.mac == "sha256"));
        assert_intact(&keyed.verify("old").await.unwrap(), 4);
        // A keyed server continues the chain.
        keyed.create_key("old", "olivia", KeySpec::default()).await.unwrap();
        let report = keyed.verify("old").await.unwrap();
        assert_intact(&report, 5);
        assert_eq!(report.keyed_from, Some(5));
    })
    .await;
}

// The summary kept beside each audit entry (what changed, worked out when the
// entry is written): `audit_lines` lists the log from it without reading the
// states, falls back to the states for entries written before summaries were
// kept (within a size limit), and `verify` names an entry whose summary was
// edited to say something its states do not — the summary is outside the
// hash, so an edit to it must not pass for a verified change.

#[tokio::test]
async fn the_log_is_listed_from_kept_summaries_without_the_states() {
    on_each_backend(|b| async move {
        let s = &b.store;
        history(s).await;
        let full = s.audit("acme", 0, 100).await.unwrap();
        let lines = s.audit_lines("acme", 0, 100, u64::MAX).await.unwrap();
        assert_eq!(lines.len(), 7);
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
