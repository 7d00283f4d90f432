//! Workspaces, the model and its audit chain, keys and the decision log, on every back end.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use chrono::Utc;
use common::{model, on_each_backend, SUPPORT};
use permset_core::{Access, Grant, ModelChange, Role};
use permset_store::{DecisionLogEntry, KeySpec, StoreError};

#[tokio::test]
async fn apply_plans_then_applies_atomically() {
    on_each_backend(|b| async move {
        let s = &b.store;
        assert_eq!(s.create_workspace("acme", "olivia").await.unwrap(), 1);
        assert!(matches!(s.create_workspace("acme", "olivia").await, Err(StoreError::Conflict { .. })));
        let m = model(SUPPORT);
        let plan = s.apply("acme", "olivia", &m, "first", true).await.unwrap();
        assert_eq!((plan.from_revision, plan.to_revision), (1, None));
        assert!(plan.changes.iter().any(|c| c.path == "roles.portal" && c.kind == "added"));
        assert_eq!(s.revision("acme").await.unwrap(), 1, "a dry run writes nothing");
        let plan = s.apply("acme", "olivia", &m, "first", false).await.unwrap();
        assert_eq!(plan.to_revision, Some(2));
        assert_eq!(s.load("acme").await.unwrap(), (m.clone(), 2));
        // Applying the same file again changes nothing.
        let again = s.apply("acme", "olivia", &m, "again", false).await.unwrap();
        assert!(again.changes.is_empty() && again.to_revision.is_none());
        // An invalid model is rejected whole.
        let mut bad = m.clone();
        bad.roles.get_mut("portal").unwrap().grants.insert("order_view".into(), Grant::new(Access::All));
        let err = s.apply("acme", "olivia", &bad, "typo", false).await.unwrap_err();
        assert!(matches!(err, StoreError::Model(_)), "{err}");
        assert!(err.to_string().contains("did you mean `orders_view`?"), "{err}");
        let role = Role { grants: bad.roles["portal"].grants.clone(), ..Role::default() };
        let err = s
            .change_as_operator(
                "acme",
                "olivia",
                "typo",
                &ModelChange::PutRole { role: "x".into(), def: role },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Model(_)));
        assert_eq!(s.revision("acme").await.unwrap(), 2);
        assert_eq!(s.workspaces().await.unwrap().len(), 1);
        let entries = s.audit("acme", 0, 100).await.unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create_workspace", "apply"]);
        assert_eq!(entries[1].reason, "first");
        assert_eq!(entries[1].prev_hash, entries[0].hash);
    })
    .await;
}

#[tokio::test]
async fn verify_names_the_tampered_audit_entry() {
    on_each_backend(|b| async move {
        let s = &b.store;
        s.create_workspace("acme", "olivia").await.unwrap();
        s.apply("acme", "olivia", &model(SUPPORT), "initial", false).await.unwrap();
        for i in 0..4 {
            let change = ModelChange::PutTeam { team: format!("team{i}"), def: Default::default() };
            s.change_as_operator("acme", "olivia", &format!("team {i}"), &change).await.unwrap();
        }
        s.create_key("acme", "olivia", KeySpec { label: "ci".into(), ..KeySpec::default() }).await.unwrap();
        let report = s.verify("acme").await.unwrap();
        assert_eq!((report.entries, report.first_broken), (7, None));
        b.raw("UPDATE audit SET reason = 'nothing to see' WHERE workspace = 'acme' AND seq = 4").await;
        let report = s.verify("acme").await.unwrap();
        assert_eq!(report.first_broken, Some(4));
        // Removing an entry breaks the chain where the gap is.
        b.raw("UPDATE audit SET reason = 'team 1' WHERE workspace = 'acme' AND seq = 4").await;
        assert_eq!(s.verify("acme").await.unwrap().first_broken, None);
        b.raw("DELETE FROM audit WHERE workspace = 'acme' AND seq = 6").await;
        assert_eq!(s.verify("acme").await.unwrap().first_broken, Some(6));
    })
    .await;
}

#[tokio::test]
async fn keys_are_hashed_scoped_and_revocable() {
    on_each_backend(|b| async move {
        let s = &b.store;
        s.create_workspace("acme", "olivia").await.unwrap();
        s.apply("acme", "olivia", &model(SUPPORT), "initial", false).await.unwrap();
        let spec = KeySpec {
            user: Some("alice".into()),
            role: Some("light_agent".into()),
            label: "bot".into(),
            expires_at: None,
        };
        let (key, secret) = s.create_key("acme", "olivia", spec).await.unwrap();
        assert!(secret.starts_with("psk_") && secret.len() == 68);
        let found = s.authenticate(&secret).await.unwrap().unwrap();
        assert_eq!(found, key);
        assert_eq!(found.role.as_deref(), Some("light_agent"));
        assert!(s.authenticate("psk_wrong").await.unwrap().is_none());
        assert_eq!(s.list_keys("acme").await.unwrap(), vec![key.clone()]);
        let bad = KeySpec { user: Some("alicee".into()), ..KeySpec::default() };
        let err = s.create_key("acme", "olivia", bad).await.unwrap_err();
        assert!(err.to_string().contains("did you mean `alice`?"), "{err}");
        s.revoke_key("acme", "olivia", &key.id).await.unwrap();
        assert!(s.authenticate(&secret).await.unwrap().is_none());
        assert!(matches!(s.revoke_key("acme", "olivia", &key.id).await, Err(StoreError::NotFound { .. })));
        let actions: Vec<String> =
            s.audit("acme", 0, 100).await.unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["create_workspace", "apply", "create_key", "revoke_key"]);
    })
    .await;
}

#[tokio::test]
async fn decisions_are_logged_in_batches_and_read_newest_first() {
    on_each_backend(|b| async move {
        let s = &b.store;
        s.create_workspace("acme", "olivia").await.unwrap();
        let now = Utc::now();
        let entries: Vec<DecisionLogEntry> = (0..250)
            .map(|i| DecisionLogEntry {
                at: now,
                user: format!("u{i}"),
                permission: "orders_view".into(),
                record_id: (i % 2 == 0).then(|| format!("o{i}")),
                record: None,
                before: None,
                allowed: i % 3 == 0,
                revision: 1,
            })
            .collect();
        s.log_decisions("acme", &entries, 1_000).await.unwrap();
        let recent = s.recent_decisions("acme", 10).await.unwrap();
        assert_eq!(recent.len(), 10);
        assert_eq!(recent[0].user, "u249");
        assert_eq!(recent[0].record_id, None);
        assert_eq!(recent[1].record_id.as_deref(), Some("o248"));
        assert!(recent[1].allowed == (248 % 3 == 0));
    })
    .await;
}
