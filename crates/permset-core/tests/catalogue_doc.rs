//! docs/SYSTEM_ROLES.md is generated from the catalogue; this test fails when
//! the two drift apart. Regenerate with `UPDATE_DOCS=1 cargo test -p permset-core --test catalogue_doc`.

use std::collections::BTreeMap;
use std::fmt::Write;

use permset_core::{merged_schema, system_role_names, system_roles, Access, ObjectDef, Schema};

fn render() -> String {
    // One custom object, so the custom-object column shows what each role gets.
    let mut declared = Schema::default();
    declared.objects.insert("orders".to_owned(), ObjectDef::default());
    let schema = merged_schema(&declared);
    let roles = system_roles(&schema);
    let mut out = String::from(
        "# System roles\n\n\
         Generated from `crates/permset-core/src/catalogue.rs` by the `catalogue_doc` test; do not edit by hand.\n\n\
         System roles are built in, immutable and cloneable. They follow the seed articles: Kustomer's \
         permission sets and best practices, Zendesk's system roles for custom objects (Administrator and \
         Support Agent view/create/update/delete, Light Agent and Contributor view), the CRM's module_action \
         role patterns and the support suite's Global / Group / Restricted scopes. `orders` stands for any \
         custom object. Access is `all` unless shown (`own` = Restricted). Protected fields are readable \
         only through explicit field permissions: Account Owner and Administrator hold `edit` on every \
         protected field, Support Agent and Support Manager on `conversations.assigned_users`.\n\n",
    );
    for name in system_role_names() {
        let role = &roles[*name];
        let mut by_module: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (perm, grant) in &role.grants {
            let module = schema
                .objects
                .keys()
                .chain(schema.modules.keys())
                .filter(|m| perm.starts_with(&format!("{m}_")))
                .max_by_key(|m| m.len())
                .cloned()
                .unwrap_or_default();
            let action = &perm[module.len() + 1..];
            let shown = match &grant.access {
                Access::All => action.to_owned(),
                other => format!("{action} ({other})"),
            };
            by_module.entry(module).or_default().push(shown);
        }
        let _ = writeln!(out, "## `{name}` ({})\n", role.kind.as_str());
        let _ = writeln!(out, "{}\n", role.description.clone().unwrap_or_default());
        let _ = writeln!(out, "| module | actions |\n|---|---|");
        for (module, actions) in by_module {
            let _ = writeln!(out, "| {module} | {} |", actions.join(", "));
        }
        let fields: Vec<String> = role.fields.iter().map(|(f, l)| format!("`{f}`: {}", l.as_str())).collect();
        if !fields.is_empty() {
            let _ = writeln!(out, "\nField permissions: {}.", fields.join(", "));
        }
        out.push('\n');
    }
    out
}

#[test]
fn system_roles_doc_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/SYSTEM_ROLES.md");
    let expected = render();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &expected).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/SYSTEM_ROLES.md is stale: run UPDATE_DOCS=1 cargo test -p permset-core --test catalogue_doc"
    );
}
