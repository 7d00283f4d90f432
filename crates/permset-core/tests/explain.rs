//! Explain output (DESIGN.md §4) as insta snapshots: the path of an allow
//! (direct and via a team) and each kind of near miss of a deny, in the order
//! of the troubleshooting checklist.

use chrono::{DateTime, TimeZone, Utc};
use permset_core::{load_workspace_file, NearMiss, Record, Request, Snapshot};

const WORKSPACE: &str = r#"
workspace: acme
objects:
  customers:
    fields:
      tier: { enum: [basic, standard, vip] }
access_rules:
  customers:
    premium: 'tier in ["standard", "vip"]'
teams: { tier1: {}, tier2: {} }
users:
  direct: {}
  member: { teams: [tier1] }
  loner: { teams: [tier2] }
  expired: {}
  premium_only: {}
  nobody: {}
roles:
  people: { grants: { teams_view: all, users_view: all } }
  premium_editor:
    grants:
      customers_view: all
      customers_update: { rule: premium }
assignments:
  users:
    direct: [support_agent]
    member: [people]
    expired: [{ role: billing, expires_at: 2026-01-01T00:00:00Z }]
    premium_only: [premium_editor]
  teams:
    tier1: [support_agent]
    tier2: [billing]
"#;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().unwrap_or_default()
}

fn snapshot_of(text: &str) -> Snapshot {
    let (model, _) = load_workspace_file(text).unwrap_or_else(|e| panic!("{e:?}"));
    Snapshot::compile_at(&model, now(), 7).unwrap_or_else(|e| panic!("{e}"))
}

fn explain(snapshot: &Snapshot, user: &str, permission: &str, record: Option<&Record>) -> String {
    let request = Request { user, permission, record, before: None, now: now() };
    snapshot.explain(&request, &[]).to_string()
}

fn record(json: serde_json::Value) -> Record {
    match json {
        serde_json::Value::Object(map) => map,
        _ => Record::new(),
    }
}

#[test]
fn allow_path_direct() {
    let s = snapshot_of(WORKSPACE);
    let tier = record(serde_json::json!({ "tier": "vip" }));
    insta::assert_snapshot!(explain(&s, "direct", "customers_update", Some(&tier)));
}

#[test]
fn allow_path_via_team() {
    let s = snapshot_of(WORKSPACE);
    insta::assert_snapshot!(explain(&s, "member", "conversations_reply", None));
}

#[test]
fn allow_path_limited_condition() {
    let s = snapshot_of(WORKSPACE);
    let tier = record(serde_json::json!({ "tier": "standard" }));
    insta::assert_snapshot!(explain(&s, "premium_only", "customers_update", Some(&tier)));
}

#[test]
fn near_miss_not_assigned() {
    let s = snapshot_of(WORKSPACE);
    insta::assert_snapshot!(explain(&s, "nobody", "wallet_refill", None));
}

#[test]
fn near_miss_other_workspace() {
    let a = snapshot_of(WORKSPACE);
    let b = snapshot_of(
        "workspace: globex\nusers: { nobody: {} }\nassignments: { users: { nobody: [billing] } }\n",
    );
    let request = Request::new("nobody", "wallet_refill", now());
    let explanation = a.explain(&request, &[&b]);
    assert!(explanation
        .near_misses
        .iter()
        .any(|m| matches!(m, NearMiss::OtherWorkspace { workspace, .. } if workspace == "globex")));
    insta::assert_snapshot!(explanation.to_string());
}

#[test]
fn near_miss_expired() {
    let s = snapshot_of(WORKSPACE);
    insta::assert_snapshot!(explain(&s, "expired", "billing_view", None));
}

#[test]
fn near_miss_team_roles_ignored() {
    let s = snapshot_of(WORKSPACE);
    insta::assert_snapshot!(explain(&s, "loner", "billing_view", None));
}

#[test]
fn near_miss_condition_false_with_values() {
    let s = snapshot_of(WORKSPACE);
    let tier = record(serde_json::json!({ "tier": "basic" }));
    insta::assert_snapshot!(explain(&s, "premium_only", "customers_update", Some(&tier)));
}

#[test]
fn near_miss_unknown_permission_suggests() {
    let s = snapshot_of(WORKSPACE);
    let text = explain(&s, "direct", "contact_view", None);
    assert!(text.contains("did you mean `contacts_view`?"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn near_misses_follow_the_checklist_order() {
    let s = snapshot_of(WORKSPACE);
    let other = snapshot_of(
        "workspace: globex\nusers: { loner: {} }\nassignments: { users: { loner: [billing] } }\n",
    );
    let request = Request::new("loner", "billing_view", now());
    let kinds: Vec<String> = s
        .explain(&request, &[&other])
        .near_misses
        .iter()
        .map(|m| {
            serde_json::to_value(m)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    insta::assert_snapshot!(kinds.join(" > "));
}

#[test]
fn explain_json_has_decision_path_and_near_misses() {
    let s = snapshot_of(WORKSPACE);
    let request = Request::new("member", "conversations_reply", now());
    let json = serde_json::to_string_pretty(&s.explain(&request, &[])).unwrap_or_default();
    insta::assert_snapshot!(json);
}

#[test]
fn explain_decision_is_check() {
    let s = snapshot_of(WORKSPACE);
    for user in ["direct", "member", "loner", "expired", "premium_only", "nobody", "ghost"] {
        for permission in
            ["customers_update", "billing_view", "conversations_reply", "contact_view", "teams_view"]
        {
            let request = Request::new(user, permission, now());
            assert_eq!(s.explain(&request, &[]).decision, s.check(&request), "{user} {permission}");
        }
    }
}

/// A deny whose permission and its rule-6 `view` are both missing must not
/// print the same near miss twice: each line should say something new (or
/// name the permission it is about).
#[test]
fn near_misses_are_not_repeated() {
    let a = snapshot_of(WORKSPACE);
    let b = snapshot_of(
        "workspace: globex\nusers: { nobody: {} }\nassignments: { users: { nobody: [billing] } }\n",
    );
    let explanation = a.explain(&Request::new("nobody", "wallet_refill", now()), &[&b]);
    let lines: Vec<String> = explanation.near_misses.iter().map(ToString::to_string).collect();
    let mut unique = lines.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(lines.len(), unique.len(), "repeated near misses:\n{}", lines.join("\n"));
}

/// Rule 7 in explain: an update denied only because it changes a field the
/// user may not edit names the field as the reason, with the user's level.
#[test]
fn near_miss_field_below_edit() {
    let snapshot = snapshot_of(
        "workspace: w\n\
         objects: { customers: { fields: { ssn: { type: string, protected: true } } } }\n\
         users: { reader: {} }\n\
         roles: { read_ssn: { grants: { customers_view: all, customers_update: all }, fields: { customers.ssn: read } } }\n\
         assignments: { users: { reader: [read_ssn] } }\n",
    );
    let (before, after) =
        (record(serde_json::json!({ "ssn": "111" })), record(serde_json::json!({ "ssn": "222" })));
    let request = Request {
        user: "reader",
        permission: "customers_update",
        record: Some(&after),
        before: Some(&before),
        now: now(),
    };
    let explanation = snapshot.explain(&request, &[]);
    assert!(!explanation.decision.is_allowed());
    assert!(explanation.path.is_empty(), "a deny has no path: {:?}", explanation.path);
    assert_eq!(
        explanation.near_misses,
        vec![NearMiss::FieldNotWritable {
            object: "customers".into(),
            field: "ssn".into(),
            level: permset_core::FieldLevel::Read,
            write: "update",
        }]
    );
    insta::assert_snapshot!(explanation.to_string());
}
