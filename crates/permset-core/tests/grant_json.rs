//! Grants in JSON accept the workspace file's short forms (issue 8), and
//! serialize in the full form `{"access": ..., "reason": ...}`. Every form
//! means in JSON exactly what it means in the file.

use permset_core::{load_workspace_file, Access, Grant, Limit, Role};
use serde_json::json;

fn grant(value: serde_json::Value) -> Result<Grant, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// The grant `customers_view` of role `r` when the file writes `yaml`.
fn from_file(yaml: &str) -> Grant {
    let text = format!(
        "workspace: w\naccess_rules: {{ customers: {{ premium: 'true' }} }}\nroles: {{ r: {{ grants: {{ customers_view: {yaml} }} }} }}\n"
    );
    let (model, _) = load_workspace_file(&text).unwrap_or_else(|e| panic!("{yaml}: {e:?}"));
    model
        .roles
        .get("r")
        .and_then(|r| r.grants.get("customers_view"))
        .cloned()
        .unwrap_or_else(|| panic!("{yaml}"))
}

#[test]
fn short_forms_mean_what_they_mean_in_the_file() {
    let forms = [
        (json!("all"), "all"),
        (json!("none"), "none"),
        (json!("own"), "own"),
        (json!("team"), "team"),
        (json!({ "rule": "premium" }), "{ rule: premium }"),
        (json!({ "where": "tier == \"vip\"" }), r#"{ where: 'tier == "vip"' }"#),
        (json!(["own", "team", { "rule": "premium" }]), "[own, team, { rule: premium }]"),
        (json!([]), "[]"),
        (json!({ "access": "all", "reason": "audits" }), "{ access: all, reason: audits }"),
        (json!({ "access": { "rule": "premium" } }), "{ access: { rule: premium } }"),
        (json!({ "access": ["own", "team"], "reason": "r" }), "{ access: [own, team], reason: r }"),
    ];
    for (value, yaml) in forms {
        let parsed = grant(value.clone()).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(parsed, from_file(yaml), "{value} vs {yaml}");
    }
    assert_eq!(grant(json!("own")), Ok(Grant::new(Access::Limited(vec![Limit::Own]))));
}

#[test]
fn serialization_is_the_full_form_and_round_trips() {
    let grants = [
        Grant::new(Access::All),
        Grant::new(Access::None),
        Grant {
            access: Access::Limited(vec![Limit::Own, Limit::Rule("premium".into())]),
            reason: Some("why".into()),
        },
        Grant::new(Access::Limited(vec![Limit::Where("tier == \"vip\"".into())])),
        Grant::new(Access::Limited(vec![])),
    ];
    for g in grants {
        let value = serde_json::to_value(&g).unwrap_or_default();
        assert!(value.get("access").is_some(), "full form expected: {value}");
        assert_eq!(grant(value.clone()), Ok(g.clone()), "{value}");
    }
    // A whole role (as the API and the store carry it) with short forms.
    let role: Role = serde_json::from_value(json!({
        "grants": { "customers_view": "all", "customers_update": ["own", { "rule": "premium" }] }
    }))
    .unwrap_or_default();
    let back: Role =
        serde_json::from_value(serde_json::to_value(&role).unwrap_or_default()).unwrap_or_default();
    assert_eq!(back, role);
    assert_eq!(role.grants.get("customers_view"), Some(&Grant::new(Access::All)));
}

#[test]
fn bad_forms_are_errors_that_say_what_is_expected() {
    for (value, wanted) in [
        (json!("al"), "did you mean `all`?"),
        (json!("everything"), "expected `all`, `none`"),
        (json!(["own", "all"]), "cannot be part of an access list"),
        (json!({ "rule": "premium", "reason": "x" }), "goes inside `access`"),
        (json!({ "reason": "x" }), "no `access`"),
        (json!({ "access": "all", "why": "x" }), "unknown key `why`"),
        (json!({ "rule": 3 }), "must be text"),
        (json!({ "rule": "a", "where": "b" }), "invalid access"),
        (json!({}), "invalid access"),
        (json!(7), "invalid access"),
        (json!({ "access": "all", "reason": 1 }), "must be text"),
    ] {
        match grant(value.clone()) {
            Ok(g) => panic!("{value} was accepted as {g:?}"),
            Err(e) => assert!(e.contains(wanted), "{value}: `{e}` does not say `{wanted}`"),
        }
    }
}
