//! Lint output (DESIGN.md §3 validation) as insta snapshots: one workspace
//! file per lint rule, rendered as the CLI prints it (`FILE:LINE: severity: message`).

use permset_core::{lint, load_workspace_file};

fn render(text: &str) -> String {
    let (model, source) = load_workspace_file(text).unwrap_or_else(|e| panic!("{e:?}"));
    lint(&model, Some(&source))
        .iter()
        .map(|f| {
            format!(
                "ws.yaml:{}: {}: {}",
                f.line.unwrap_or(1),
                f.diagnostic.severity.as_str(),
                f.diagnostic.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn unknown_permission_with_suggestion() {
    insta::assert_snapshot!(render(
        "workspace: w\n\
         roles:\n  r:\n    grants:\n      contact_view: all\n      zzz_view: all\n"
    ));
}

#[test]
fn add_edit_delete_may_not_exceed_view() {
    insta::assert_snapshot!(render(
        "workspace: w\n\
         objects:\n  orders:\n    fields: { owner: user }\n    owner_field: owner\n\
         roles:\n  r:\n    grants:\n      orders_view: own\n      orders_update: all\n      orders_create: own\n      customers_create: own\n"
    ));
}

#[test]
fn missing_prerequisites_are_warnings() {
    insta::assert_snapshot!(render(
        "workspace: w\n\
         roles:\n  r:\n    grants:\n      workflows_view: all\n      workflows_create: all\n      wallet_refill: all\n"
    ));
}

#[test]
fn powerful_grants_without_reason() {
    insta::assert_snapshot!(render(
        "workspace: w\n\
         roles:\n  r:\n    grants:\n      customers_view: all\n      customers_delete: all\n      customers_export: all\n      \
         conversations_view: all\n      conversations_export: { access: all, reason: \"quarterly audit\" }\n"
    ));
}

#[test]
fn unused_access_rules() {
    insta::assert_snapshot!(render(
        "workspace: w\n\
         objects:\n  customers:\n    fields: { tier: { enum: [basic, vip] } }\n\
         access_rules:\n  customers:\n    vip: 'tier == \"vip\"'\n    unused: 'tier == \"basic\"'\n\
         roles:\n  r:\n    grants: { customers_view: { rule: vip } }\n"
    ));
}

#[test]
fn end_user_roles_granting_agent_only_modules() {
    insta::assert_snapshot!(render(
        "workspace: w\n\
         modules: { portal: { actions: [], end_users: true } }\n\
         roles:\n  p:\n    kind: end_user\n    grants:\n      billing_view: all\n      portal_view: all\n      conversations_view: { where: 'requester == user.id' }\n"
    ));
}

#[test]
fn example_workspace_lints_clean_of_errors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/support.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (model, source) = load_workspace_file(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let errors: Vec<String> = lint(&model, Some(&source))
        .iter()
        .filter(|f| f.is_error())
        .map(|f| f.diagnostic.message.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}
