//! Rule 7 in `check_scoped`: a key limited to a role gets the intersection
//! of that role's field levels and the user's, for the fields a write
//! touches exactly as for the store's `first_unwritable_field` /
//! `first_uncreatable_field`, so `check` and the write agree.

use chrono::{DateTime, TimeZone, Utc};
use permset_core::{load_workspace_file, Record, Request, Snapshot};
use serde_json::json;

const WORKSPACE: &str = "workspace: w
objects: { customers: { fields: { ssn: { type: string, protected: true }, tier: { enum: [basic, vip] } } } }
users: { boss: {}, clerk: {} }
roles:
  full: { grants: { customers_view: all, customers_update: all, customers_create: all }, fields: { customers.ssn: edit } }
  no_ssn: { grants: { customers_view: all, customers_update: all, customers_create: all }, fields: { customers.ssn: read } }
  viewer: { grants: { customers_view: all } }
assignments: { users: { boss: [full], clerk: [no_ssn] } }
";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().unwrap_or_default()
}

fn rec(value: serde_json::Value) -> Record {
    value.as_object().cloned().unwrap_or_default()
}

fn snapshot() -> Snapshot {
    let (model, _) = load_workspace_file(WORKSPACE).unwrap_or_else(|e| panic!("{e:?}"));
    Snapshot::compile_at(&model, now(), 1).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_scoped_key_cannot_write_a_field_its_role_only_reads() {
    let s = snapshot();
    let (before, after) =
        (rec(json!({ "ssn": "1", "tier": "basic" })), rec(json!({ "ssn": "2", "tier": "basic" })));
    let update = Request {
        user: "boss",
        permission: "customers_update",
        record: Some(&after),
        before: Some(&before),
        now: now(),
    };
    assert!(s.check(&update).is_allowed(), "boss edits ssn himself");
    assert!(s.check_scoped(&update, Some("full")).is_allowed());
    assert!(
        !s.check_scoped(&update, Some("no_ssn")).is_allowed(),
        "a key limited to no_ssn must not change ssn"
    );
    assert!(!s.check_scoped(&update, Some("viewer")).is_allowed());
    let tier_only = rec(json!({ "ssn": "1", "tier": "vip" }));
    let update_tier = Request { record: Some(&tier_only), ..update };
    assert!(s.check_scoped(&update_tier, Some("no_ssn")).is_allowed(), "an unchanged ssn is not touched");
    let create = Request {
        user: "boss",
        permission: "customers_create",
        record: Some(&after),
        before: None,
        now: now(),
    };
    assert!(s.check_scoped(&create, Some("full")).is_allowed());
    assert!(
        !s.check_scoped(&create, Some("no_ssn")).is_allowed(),
        "a key limited to no_ssn must not set ssn"
    );
}

/// `check` with a before state and the store's field rule over the changed
/// fields give the same answer, for each user, scope and change.
#[test]
fn check_agrees_with_the_store_field_rule() {
    let s = snapshot();
    let states = [
        json!({}),
        json!({ "ssn": "1" }),
        json!({ "ssn": "2", "tier": "vip" }),
        json!({ "tier": "basic" }),
        json!({ "tier": "vip", "name": "Kim" }),
    ]
    .map(rec);
    for user in ["boss", "clerk"] {
        for scope in [None, Some("full"), Some("no_ssn")] {
            let actor = permset_core::Actor { user, scope };
            for before in &states {
                for after in &states {
                    let request = Request {
                        user,
                        permission: "customers_update",
                        record: Some(after),
                        before: Some(before),
                        now: now(),
                    };
                    let changed: Vec<&str> = before
                        .keys()
                        .chain(after.keys())
                        .filter(|f| before.get(*f) != after.get(*f))
                        .map(String::as_str)
                        .collect();
                    let store_refuses =
                        s.first_unwritable_field(actor, "customers", changed, now()).is_some();
                    let allowed = s.check_scoped(&request, scope).is_allowed();
                    assert_eq!(allowed, !store_refuses, "{user} {scope:?} {before:?} -> {after:?}");
                    let create = Request { permission: "customers_create", before: None, ..request };
                    let fields = after.keys().map(String::as_str);
                    let store_refuses =
                        s.first_uncreatable_field(actor, "customers", fields, now()).is_some();
                    assert_eq!(
                        s.check_scoped(&create, scope).is_allowed(),
                        !store_refuses,
                        "create {user} {scope:?} {after:?}"
                    );
                }
            }
        }
    }
}
