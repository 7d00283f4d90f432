//! The catalogue's system roles (`permset_core::system_roles`) against the
//! reference evaluator's own reading of DESIGN.md §3 and the seed articles
//! (`tests/reference/system_roles.rs`), role by role, on schemas with and
//! without custom objects. A mismatch prints every differing grant and field
//! permission, so a catalogue bug fails here instead of passing the
//! differential test on both sides.

mod reference;

use std::collections::BTreeMap;
use std::fmt::Write;

use permset_core::{
    merged_schema, system_role_names, system_roles, Access, FieldDef, FieldType, ObjectDef, Role, Schema,
};

fn access(grant: Option<&permset_core::Grant>) -> String {
    match grant.map(|g| &g.access) {
        None => "-".to_owned(),
        Some(Access::All) => "all".to_owned(),
        Some(other) => other.to_string(),
    }
}

/// Every difference between two readings of one role, one line each.
fn role_diff(reference: &Role, catalogue: &Role) -> Vec<String> {
    let mut lines = Vec::new();
    if reference.kind != catalogue.kind {
        lines.push(format!(
            "kind: reference {} / catalogue {}",
            reference.kind.as_str(),
            catalogue.kind.as_str()
        ));
    }
    let names: std::collections::BTreeSet<&String> =
        reference.grants.keys().chain(catalogue.grants.keys()).collect();
    for name in names {
        let (r, c) = (reference.grants.get(name), catalogue.grants.get(name));
        if r.map(|g| &g.access) != c.map(|g| &g.access) {
            lines.push(format!("{name}: reference {} / catalogue {}", access(r), access(c)));
        }
    }
    let fields: std::collections::BTreeSet<&String> =
        reference.fields.keys().chain(catalogue.fields.keys()).collect();
    for field in fields {
        let (r, c) = (reference.fields.get(field), catalogue.fields.get(field));
        if r != c {
            let show = |l: Option<&permset_core::FieldLevel>| l.map_or("-", |l| l.as_str());
            lines.push(format!("field {field}: reference {} / catalogue {}", show(r), show(c)));
        }
    }
    lines
}

/// The whole readable diff of two role tables; empty when they agree.
fn table_diff(reference: &BTreeMap<String, Role>, catalogue: &BTreeMap<String, Role>) -> String {
    let mut out = String::new();
    let mut names: Vec<&str> = system_role_names().to_vec();
    names.extend(reference.keys().chain(catalogue.keys()).map(String::as_str));
    names.sort_unstable();
    names.dedup();
    for name in names {
        match (reference.get(name), catalogue.get(name)) {
            (Some(r), Some(c)) => {
                let lines = role_diff(r, c);
                if !lines.is_empty() {
                    let _ = writeln!(out, "{name}:");
                    for line in lines {
                        let _ = writeln!(out, "  {line}");
                    }
                }
            }
            (r, c) => {
                let _ = writeln!(out, "{name}: in reference {} / in catalogue {}", r.is_some(), c.is_some());
            }
        }
    }
    out
}

fn schemas() -> Vec<(&'static str, Schema)> {
    let mut with_custom = Schema::default();
    let mut orders = ObjectDef::default();
    orders.actions.push("refund".to_owned());
    orders.fields.insert("total".to_owned(), FieldDef::of(FieldType::Number));
    orders
        .fields
        .insert("card".to_owned(), FieldDef { ty: FieldType::String, protected: true, indexed: false });
    with_custom.objects.insert("orders".to_owned(), orders);
    // A second custom object whose name extends the first, and a protected field on a standard object.
    with_custom.objects.insert("orders_archive".to_owned(), ObjectDef::default());
    let mut customers = ObjectDef::default();
    customers
        .fields
        .insert("ssn".to_owned(), FieldDef { ty: FieldType::String, protected: true, indexed: false });
    with_custom.objects.insert("customers".to_owned(), customers);
    vec![("the built-in schema", Schema::default()), ("custom objects and protected fields", with_custom)]
}

#[test]
fn catalogue_system_roles_match_the_reference_reading_of_the_sources() {
    let mut report = String::new();
    for (label, declared) in schemas() {
        let schema = merged_schema(&declared);
        let diff = table_diff(&reference::system_roles::system_roles(&schema), &system_roles(&schema));
        if !diff.is_empty() {
            let _ = writeln!(
                report,
                "with {label} (reference = DESIGN.md §3 and seeds; catalogue = src/catalogue.rs):\n{diff}"
            );
        }
    }
    assert!(report.is_empty(), "system roles disagree:\n{report}");
}

/// The comparison itself must be able to fail: one changed grant, one missing
/// role and one changed field permission each show up in the diff.
#[test]
fn the_system_role_diff_names_what_differs() {
    let schema = merged_schema(&Schema::default());
    let reference = reference::system_roles::system_roles(&schema);
    let mut catalogue = system_roles(&schema);
    if let Some(admin) = catalogue.get_mut("administrator") {
        admin
            .grants
            .insert("roles_manage".to_owned(), permset_core::Grant { access: Access::All, reason: None });
    }
    if let Some(agent) = catalogue.get_mut("support_agent") {
        agent.fields.clear();
    }
    catalogue.remove("billing");
    let diff = table_diff(&reference, &catalogue);
    assert!(diff.contains("administrator:\n  roles_manage: reference - / catalogue all"), "{diff}");
    assert!(diff.contains("field conversations.assigned_users: reference edit / catalogue -"), "{diff}");
    assert!(diff.contains("billing: in reference true / in catalogue false"), "{diff}");
}
