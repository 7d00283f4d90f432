//! The reference evaluator's own table of the 15 system roles, read from the
//! written sources rather than taken from `permset_core::system_roles`, so a
//! bug in the catalogue (`src/catalogue.rs`) cannot pass both.
//!
//! Sources, in order of authority: DESIGN.md §2–§3 ("D"), the seed articles in
//! `seeds/` ("S000" … "S004", see seeds/README.md), and docs/SYSTEM_ROLES.md
//! ("docs") only where those are silent. Each line says where its grants come
//! from. Access is `all` unless a line says otherwise. `tests/system_roles.rs`
//! compares this table with the catalogue role by role.
//!
//! Written as flat data. Only the roles the sources define as another role
//! "plus" something (the managers) are built from that role.

use std::collections::BTreeMap;

use permset_core::{Access, FieldLevel, Grant, Limit, Role, Schema, UserKind, STANDARD_ACTIONS};

/// `(module, actions)` lines of one role, all at `all` access.
type Lines = &'static [(&'static str, &'static [&'static str])];

/// The four custom-object actions of D §3 (S002's View / Edit / Add / Delete).
const CUSTOM_FOUR: [&str; 4] = ["view", "create", "update", "delete"];

/// Support Agent (S004: "engage in customer conversations, access the People
/// section"; S001's best practices for users who answer customers; S003's
/// "Support Team" pattern).
const SUPPORT_AGENT: Lines = &[
    // S001 (Amazon Connect): view, create, update conversations; S004: reply
    // (engage in conversations) and add_note (private notes at Global scope).
    ("conversations", &["view", "create", "update", "reply", "add_note"]),
    // S001: view & create customers; update: docs (S004 "access the People
    // section" does not say whether agents may edit people).
    ("customers", &["view", "create", "update"]),
    // docs: companies are part of the People section (S004 is silent).
    ("companies", &["view"]),
    // S001: Users and Teams read/view for every user.
    ("users", &["view"]),
    ("teams", &["view"]),
    // S001 (content management): shortcuts, templates, snippets, tags view; tags create.
    ("templates", &["view"]),
    ("shortcuts", &["view"]),
    ("snippets", &["view"]),
    ("tags", &["view", "create"]),
    // S001: workflows, business rules, SLAs, satisfaction view (marked optional
    // there; included per docs); klasses and klass views view.
    ("workflows", &["view"]),
    ("business_rules", &["view"]),
    ("slas", &["view"]),
    ("satisfaction", &["view"]),
    ("klasses", &["view"]),
    ("klass_views", &["view"]),
    // S001: searches view & update (global search is optional: not given);
    // queues & routing view & update.
    ("searches", &["view", "update"]),
    ("queues", &["view", "update"]),
    // S003 "Support Team": contacts view/edit, calls view/edit,
    // appointments view/create/edit (templates view is above).
    ("contacts", &["view", "update"]),
    ("calls", &["view", "update"]),
    ("appointments", &["view", "create", "update"]),
];

/// Support Manager = Support Agent plus these (S004: "create/edit campaigns
/// and FAQs, apart from the access given to Support Agents"; there is no FAQ
/// module). Every line but campaigns is docs: S004 lists no more, and S003
/// reserves delete and export for senior roles, which a manager is.
const SUPPORT_MANAGER_EXTRA: Lines = &[
    // S004: create/edit campaigns.
    ("campaigns", &["view", "create", "update"]),
    // docs: oversight (S004 mentions dashboard and reports of one's teams).
    ("dashboard", &["view"]),
    ("reports", &["view"]),
    // docs: destructive and export rights of a senior support role (S003).
    ("conversations", &["delete", "export"]),
    ("customers", &["delete", "export"]),
    // docs.
    ("companies", &["create", "update"]),
    ("workflows", &["create", "update"]),
    // docs, from S001's Shopify recommendation ("all access", return & cancel).
    ("shopify", &["view", "return", "cancel"]),
];

/// Light Agent: docs (Zendesk light agents view and add private notes; S004's
/// "view customer conversations ... but not reply"); custom objects per D §3.
const LIGHT_AGENT: Lines = &[
    ("conversations", &["view", "add_note"]),
    ("customers", &["view"]),
    ("companies", &["view"]),
    // S001: Users and Teams view.
    ("users", &["view"]),
    ("teams", &["view"]),
];

/// Contributor: docs (views the three standard objects); custom objects per D §3.
const CONTRIBUTOR: Lines =
    &[("conversations", &["view"]), ("customers", &["view"]), ("companies", &["view"])];

/// Restricted User, all lines at `all` except the conversation line below.
const RESTRICTED_USER: Lines = &[
    // docs: sees the people behind its conversations.
    ("customers", &["view"]),
    ("companies", &["view"]),
    // S001: Users and Teams view; content to work conversations.
    ("users", &["view"]),
    ("teams", &["view"]),
    ("templates", &["view"]),
    ("shortcuts", &["view"]),
    ("snippets", &["view"]),
    ("tags", &["view"]),
];
/// S004: Restricted = only the conversations they are taking up (`own`);
/// which actions: docs.
const RESTRICTED_USER_OWN: Lines = &[("conversations", &["view", "update", "reply", "add_note"])];

/// Sales User (S003 "Sales Team").
const SALES_USER: Lines = &[
    // S003: contacts view/edit/create/export, campaigns view/create/edit,
    // calls view, templates view.
    ("contacts", &["view", "create", "update", "export"]),
    ("campaigns", &["view", "create", "update"]),
    ("calls", &["view"]),
    ("templates", &["view"]),
    // docs: a CRM salesperson works companies and customers.
    ("companies", &["view", "create", "update"]),
    ("customers", &["view", "create", "update"]),
    // S001: Users and Teams view.
    ("users", &["view"]),
    ("teams", &["view"]),
];

/// Sales Manager = Sales User plus these (docs; S003: delete and export for
/// senior roles).
const SALES_MANAGER_EXTRA: Lines = &[
    ("contacts", &["delete"]),
    ("campaigns", &["delete", "export"]),
    ("companies", &["delete", "export"]),
    ("customers", &["delete", "export"]),
    ("dashboard", &["view"]),
    ("reports", &["view"]),
];

/// Marketing User: docs (S004 lists the role only).
const MARKETING_USER: Lines = &[
    ("campaigns", &["view", "create", "update"]),
    ("templates", &["view", "create", "update"]),
    ("contacts", &["view"]),
    ("dashboard", &["view"]),
    // S001: Users and Teams view.
    ("users", &["view"]),
    ("teams", &["view"]),
];

/// Marketing Manager = Marketing User plus these (docs).
const MARKETING_MANAGER_EXTRA: Lines = &[
    ("campaigns", &["delete", "export"]),
    ("contacts", &["export"]),
    ("templates", &["delete"]),
    ("reports", &["view"]),
];

/// Billing: S003 "Billing Team", exactly.
const BILLING: Lines = &[
    ("billing", &["view", "update"]),
    ("wallet", &["view", "refill"]),
    ("subscriptions", &["view"]),
    ("payment_methods", &["view", "update"]),
];

/// Analyst: S003 "Analyst/Reporting".
const ANALYST: Lines = &[
    // S003: dashboard view, calls view/export, campaigns view, contacts view/export.
    ("dashboard", &["view"]),
    ("calls", &["view", "export"]),
    ("campaigns", &["view"]),
    ("contacts", &["view", "export"]),
    // docs ("Reporting"); S001: users and teams view, needed to view reports.
    ("reports", &["view"]),
    ("users", &["view"]),
    ("teams", &["view"]),
];

/// Read-Only Client: S003, exactly (view only; "cannot modify anything").
const READ_ONLY_CLIENT: Lines =
    &[("dashboard", &["view"]), ("calls", &["view"]), ("campaigns", &["view"]), ("contacts", &["view"])];

/// Role-management permissions Administrator lacks: D §3 ("Administrator lacks
/// `roles_manage`"); S004 ("Admin ... cannot create custom roles"; "only account
/// admins can update or create new custom roles").
const ADMIN_LACKS: [&str; 4] = ["roles_manage", "roles_create", "roles_update", "roles_delete"];

fn grant(access: Access) -> Grant {
    Grant { access, reason: None }
}

fn role(kind: UserKind) -> Role {
    Role { kind, ..Role::default() }
}

fn add(role: &mut Role, lines: Lines, access: &Access) {
    for (module, actions) in lines {
        for action in *actions {
            role.grants.insert(format!("{module}_{action}"), grant(access.clone()));
        }
    }
}

fn custom_objects(schema: &Schema) -> Vec<&str> {
    let standard = ["companies", "customers", "conversations"];
    schema.objects.keys().map(String::as_str).filter(|o| !standard.contains(o)).collect()
}

fn custom(role: &mut Role, schema: &Schema, actions: &[&str]) {
    for object in custom_objects(schema) {
        for action in actions {
            role.grants.insert(format!("{object}_{action}"), grant(Access::All));
        }
    }
}

/// Every action of every module and object of the schema, at `all`.
fn everything(schema: &Schema) -> Role {
    let mut role = role(UserKind::Agent);
    let modules = schema.objects.iter().map(|(n, o)| (n, &o.actions));
    let modules = modules.chain(schema.modules.iter().map(|(n, m)| (n, &m.actions)));
    for (module, extra) in modules {
        for action in STANDARD_ACTIONS.iter().copied().chain(extra.iter().map(String::as_str)) {
            role.grants.insert(format!("{module}_{action}"), grant(Access::All));
        }
    }
    // D §2 rule 7: protected fields only through explicit permissions; the owner has everything.
    for (object, def) in &schema.objects {
        for (field, _) in def.fields.iter().filter(|(_, f)| f.protected) {
            role.fields.insert(format!("{object}.{field}"), FieldLevel::Edit);
        }
    }
    role
}

/// The 15 system roles for a merged schema, keyed like the catalogue.
pub fn system_roles(schema: &Schema) -> BTreeMap<String, Role> {
    let mut roles = BTreeMap::new();
    let all = Access::All;

    // D §2 rule 2, S004: "Account Admin/Owner has access to everything".
    roles.insert("account_owner".to_owned(), everything(schema));

    // S004: "Admin can do everything the account admin can do, but ... cannot
    // create custom roles"; D §3: custom objects view/create/update/delete only.
    let mut admin = everything(schema);
    for name in ADMIN_LACKS {
        admin.grants.remove(name);
    }
    for object in custom_objects(schema) {
        let extra = schema.objects.get(object).map(|o| o.actions.clone()).unwrap_or_default();
        for action in STANDARD_ACTIONS.iter().map(|a| a.to_string()).chain(extra) {
            if !CUSTOM_FOUR.contains(&action.as_str()) {
                admin.grants.remove(&format!("{object}_{action}"));
            }
        }
    }
    roles.insert("administrator".to_owned(), admin);

    // D §3 (S002): Support Agent gets all four on custom objects. S001: edit on
    // the protected AssignedUsers conversation field.
    let mut agent = role(UserKind::Agent);
    add(&mut agent, SUPPORT_AGENT, &all);
    custom(&mut agent, schema, &CUSTOM_FOUR);
    agent.fields.insert("conversations.assigned_users".to_owned(), FieldLevel::Edit);

    // S004: a Support Manager has everything a Support Agent has (custom objects
    // and the field permission included), plus the extra lines.
    let mut manager = agent.clone();
    add(&mut manager, SUPPORT_MANAGER_EXTRA, &all);
    roles.insert("support_agent".to_owned(), agent);
    roles.insert("support_manager".to_owned(), manager);

    // D §3 (S002): Light Agent and Contributor view custom objects.
    let mut light = role(UserKind::Agent);
    add(&mut light, LIGHT_AGENT, &all);
    custom(&mut light, schema, &["view"]);
    roles.insert("light_agent".to_owned(), light);
    let mut contributor = role(UserKind::Agent);
    add(&mut contributor, CONTRIBUTOR, &all);
    custom(&mut contributor, schema, &["view"]);
    roles.insert("contributor".to_owned(), contributor);

    // D §2 rule 10 / S002: no other system role gets custom objects.
    let mut restricted = role(UserKind::Agent);
    add(&mut restricted, RESTRICTED_USER, &all);
    add(&mut restricted, RESTRICTED_USER_OWN, &Access::Limited(vec![Limit::Own]));
    roles.insert("restricted_user".to_owned(), restricted);

    let mut sales = role(UserKind::Agent);
    add(&mut sales, SALES_USER, &all);
    let mut sales_manager = role(UserKind::Agent);
    add(&mut sales_manager, SALES_USER, &all);
    add(&mut sales_manager, SALES_MANAGER_EXTRA, &all);
    roles.insert("sales_user".to_owned(), sales);
    roles.insert("sales_manager".to_owned(), sales_manager);

    let mut marketing = role(UserKind::Agent);
    add(&mut marketing, MARKETING_USER, &all);
    let mut marketing_manager = role(UserKind::Agent);
    add(&mut marketing_manager, MARKETING_USER, &all);
    add(&mut marketing_manager, MARKETING_MANAGER_EXTRA, &all);
    roles.insert("marketing_user".to_owned(), marketing);
    roles.insert("marketing_manager".to_owned(), marketing_manager);

    for (name, lines) in [("billing", BILLING), ("analyst", ANALYST), ("read_only_client", READ_ONLY_CLIENT)]
    {
        let mut r = role(UserKind::Agent);
        add(&mut r, lines, &all);
        roles.insert(name.to_owned(), r);
    }

    // The one end_user role. D §2 rule 10 and docs: a portal customer sees,
    // opens and replies to the conversations they requested. S002: no custom
    // object access ("pre-defined for each system role except customer").
    let mut customer = role(UserKind::EndUser);
    let requester = Access::Limited(vec![Limit::Where("requester == user.id".to_owned())]);
    add(&mut customer, &[("conversations", &["view", "create", "reply"])], &requester);
    roles.insert("customer".to_owned(), customer);

    roles
}
