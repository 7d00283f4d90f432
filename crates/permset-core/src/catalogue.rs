//! The built-in catalogue: standard objects, product-area modules, their
//! prerequisites, and the immutable system roles of DESIGN.md §3.
//!
//! Every workspace starts from this catalogue; a workspace file may add
//! fields and actions to the built-ins and declare its own modules and
//! custom objects. [`merged_schema`] produces the schema the compiler sees.
//! The role catalogue is documented for people in docs/SYSTEM_ROLES.md; keep
//! the two in step.

use std::collections::BTreeMap;

use crate::model::{
    Access, FieldDef, FieldLevel, FieldType, Grant, Limit, ListVisibility, ModuleDef, ObjectDef, Role,
    Schema, UserKind,
};

/// Actions every module and object has.
pub const STANDARD_ACTIONS: [&str; 5] = ["view", "create", "update", "delete", "export"];

/// Built-in product-area modules (no records) and their extra actions.
pub const BUILTIN_MODULES: &[(&str, &[&str])] = &[
    ("users", &[]),
    ("teams", &[]),
    ("roles", &["manage"]),
    ("workflows", &[]),
    ("business_rules", &[]),
    ("templates", &[]),
    ("shortcuts", &[]),
    ("snippets", &[]),
    ("tags", &[]),
    ("searches", &["global"]),
    ("queues", &[]),
    ("slas", &[]),
    ("satisfaction", &[]),
    ("campaigns", &[]),
    ("contacts", &[]),
    ("calls", &[]),
    ("appointments", &[]),
    ("dashboard", &[]),
    ("reports", &[]),
    ("billing", &[]),
    ("wallet", &["refill"]),
    ("subscriptions", &[]),
    ("payment_methods", &[]),
    ("shopify", &["return", "cancel"]),
    ("klasses", &[]),
    ("klass_views", &[]),
];

/// The standard objects every workspace has.
pub const STANDARD_OBJECTS: [&str; 3] = ["companies", "customers", "conversations"];

/// Whether `name` is one of the standard objects.
pub fn is_standard_object(name: &str) -> bool {
    STANDARD_OBJECTS.contains(&name)
}

/// Declared prerequisites (warnings when missing): permission → what it needs.
pub const PREREQUISITES: &[(&str, &[&str])] = &[
    ("workflows_create", &["users_view", "teams_view"]),
    ("workflows_update", &["users_view", "teams_view"]),
    ("business_rules_create", &["users_view"]),
    ("queues_view", &["teams_view"]),
    ("queues_update", &["teams_view"]),
    ("reports_view", &["users_view", "teams_view"]),
    ("klass_views_view", &["klasses_view"]),
    ("wallet_refill", &["wallet_view"]),
    ("shopify_return", &["shopify_view"]),
    ("shopify_cancel", &["shopify_view"]),
    ("roles_manage", &["roles_view"]),
    ("searches_global", &["searches_view"]),
];

fn field(ty: FieldType) -> FieldDef {
    FieldDef::of(ty)
}

fn protected(ty: FieldType) -> FieldDef {
    FieldDef { ty, protected: true, indexed: false }
}

fn enumeration(values: &[&str]) -> FieldType {
    FieldType::Enum(values.iter().map(|v| (*v).to_owned()).collect())
}

fn standard_object(name: &str) -> ObjectDef {
    let mut fields = BTreeMap::new();
    let mut actions = Vec::new();
    let (owner, team) = match name {
        "companies" => {
            fields.insert("name".into(), field(FieldType::String));
            fields.insert("domain".into(), field(FieldType::String));
            fields.insert("owner".into(), field(FieldType::User));
            fields.insert("owner_team".into(), field(FieldType::Team));
            ("owner", "owner_team")
        }
        "customers" => {
            fields.insert("name".into(), field(FieldType::String));
            fields.insert("email".into(), field(FieldType::String));
            fields.insert("phone".into(), field(FieldType::String));
            fields.insert("company".into(), field(FieldType::Lookup("companies".into())));
            fields.insert("assignee".into(), field(FieldType::User));
            fields.insert("assignee_team".into(), field(FieldType::Team));
            ("assignee", "assignee_team")
        }
        _ => {
            actions = vec!["reply".to_owned(), "add_note".to_owned()];
            fields.insert("subject".into(), field(FieldType::String));
            fields.insert("status".into(), field(enumeration(&["open", "snoozed", "closed"])));
            fields.insert("priority".into(), field(enumeration(&["low", "normal", "high", "urgent"])));
            fields.insert("customer".into(), field(FieldType::Lookup("customers".into())));
            fields.insert("requester".into(), field(FieldType::User));
            fields.insert("assignee".into(), field(FieldType::User));
            fields.insert("assignee_team".into(), field(FieldType::Team));
            fields.insert("assigned_users".into(), protected(FieldType::List(Box::new(FieldType::User))));
            fields.insert("created_at".into(), field(FieldType::Datetime));
            ("assignee", "assignee_team")
        }
    };
    for indexed in [owner, team] {
        if let Some(def) = fields.get_mut(indexed) {
            def.indexed = true;
        }
    }
    ObjectDef {
        actions,
        fields,
        owner_field: Some(owner.to_owned()),
        team_field: Some(team.to_owned()),
        list_visibility: Some(ListVisibility::Everyone),
    }
}

/// The schema a workspace compiles against: the catalogue with the declared
/// additions merged in. Declared fields replace built-in fields of the same
/// name; declared actions are added; declared owner/team fields and list
/// visibility replace the built-in ones.
pub fn merged_schema(declared: &Schema) -> Schema {
    let mut modules: BTreeMap<String, ModuleDef> = BUILTIN_MODULES
        .iter()
        .map(|(name, extra)| {
            let def =
                ModuleDef { actions: extra.iter().map(|a| (*a).to_owned()).collect(), end_users: false };
            ((*name).to_owned(), def)
        })
        .collect();
    for (name, def) in &declared.modules {
        let entry = modules.entry(name.clone()).or_default();
        for action in &def.actions {
            if !entry.actions.contains(action) && !STANDARD_ACTIONS.contains(&action.as_str()) {
                entry.actions.push(action.clone());
            }
        }
        entry.end_users |= def.end_users;
    }
    let mut objects: BTreeMap<String, ObjectDef> =
        STANDARD_OBJECTS.iter().map(|name| ((*name).to_owned(), standard_object(name))).collect();
    for (name, def) in &declared.objects {
        let entry = objects.entry(name.clone()).or_default();
        for action in &def.actions {
            if !entry.actions.contains(action) && !STANDARD_ACTIONS.contains(&action.as_str()) {
                entry.actions.push(action.clone());
            }
        }
        for (field_name, field_def) in &def.fields {
            entry.fields.insert(field_name.clone(), field_def.clone());
        }
        if def.owner_field.is_some() {
            entry.owner_field.clone_from(&def.owner_field);
        }
        if def.team_field.is_some() {
            entry.team_field.clone_from(&def.team_field);
        }
        if def.list_visibility.is_some() {
            entry.list_visibility = def.list_visibility;
        }
    }
    Schema { modules, objects, user_attributes: declared.user_attributes.clone() }
}

/// Every permission name of a merged schema, module by module, in a stable order.
pub fn all_permissions(schema: &Schema) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |module: &str, extra: &[String]| {
        for action in STANDARD_ACTIONS.iter().copied().chain(extra.iter().map(String::as_str)) {
            out.push((module.to_owned(), action.to_owned()));
        }
    };
    for (name, def) in &schema.objects {
        push(name, &def.actions);
    }
    for (name, def) in &schema.modules {
        push(name, &def.actions);
    }
    out
}

/// System role keys in the order the admin page lists them.
pub fn system_role_names() -> &'static [&'static str] {
    &[
        "account_owner",
        "administrator",
        "support_manager",
        "support_agent",
        "light_agent",
        "contributor",
        "restricted_user",
        "sales_user",
        "sales_manager",
        "marketing_user",
        "marketing_manager",
        "billing",
        "analyst",
        "read_only_client",
        "customer",
    ]
}

/// Grants given by name; `all` unless a limited access is spelled out.
struct RoleBuilder {
    role: Role,
}

impl RoleBuilder {
    fn new(description: &str) -> Self {
        let role = Role { description: Some(description.to_owned()), ..Role::default() };
        RoleBuilder { role }
    }

    fn grant(&mut self, module: &str, actions: &[&str], access: &Access) -> &mut Self {
        for action in actions {
            self.role.grants.insert(format!("{module}_{action}"), system_grant(action, access.clone()));
        }
        self
    }

    fn all(&mut self, module: &str, actions: &[&str]) -> &mut Self {
        self.grant(module, actions, &Access::All)
    }

    fn view(&mut self, modules: &[&str]) -> &mut Self {
        for module in modules {
            self.all(module, &["view"]);
        }
        self
    }

    fn field(&mut self, path: &str, level: FieldLevel) -> &mut Self {
        self.role.fields.insert(path.to_owned(), level);
        self
    }

    fn build(&mut self) -> Role {
        std::mem::take(&mut self.role)
    }
}

const CONTENT: [&str; 4] = ["templates", "shortcuts", "snippets", "tags"];
const ORIENTATION: [&str; 6] =
    ["workflows", "business_rules", "slas", "satisfaction", "klasses", "klass_views"];
const CUSTOM_FOUR: [&str; 4] = ["view", "create", "update", "delete"];

/// System grants carry the reason lint asks of powerful grants, so clones inherit it.
fn system_grant(action: &str, access: Access) -> Grant {
    let reason = match action {
        "delete" => Some("built-in: this system role removes records as part of its job"),
        "export" => Some("built-in: this system role exports data as part of its job"),
        _ => None,
    };
    Grant { access, reason: reason.map(str::to_owned) }
}

fn custom_objects(schema: &Schema) -> impl Iterator<Item = &str> {
    schema.objects.keys().map(String::as_str).filter(|name| !is_standard_object(name))
}

fn protected_fields(schema: &Schema) -> impl Iterator<Item = String> + '_ {
    schema.objects.iter().flat_map(|(object, def)| {
        def.fields.iter().filter(|(_, f)| f.protected).map(move |(name, _)| format!("{object}.{name}"))
    })
}

/// Every action of every module and object at `all`, optionally skipping some
/// permissions; `custom_four` limits custom objects to view/create/update/delete.
fn everything(schema: &Schema, skip: &[&str], custom_four: bool, description: &str) -> RoleBuilder {
    let mut builder = RoleBuilder::new(description);
    for (module, action) in all_permissions(schema) {
        let name = format!("{module}_{action}");
        let custom_object = schema.objects.contains_key(&module) && !is_standard_object(&module);
        if skip.contains(&name.as_str())
            || (custom_four && custom_object && !CUSTOM_FOUR.contains(&action.as_str()))
        {
            continue;
        }
        builder.role.grants.insert(name, system_grant(&action, Access::All));
    }
    for path in protected_fields(schema) {
        builder.field(&path, FieldLevel::Edit);
    }
    builder
}

fn support_agent(schema: &Schema, description: &str) -> RoleBuilder {
    let mut b = RoleBuilder::new(description);
    b.all("conversations", &["view", "create", "update", "reply", "add_note"])
        .all("customers", &["view", "create", "update"])
        .view(&["companies", "users", "teams"])
        .view(&CONTENT)
        .view(&ORIENTATION)
        .all("tags", &["create"])
        .all("searches", &["view", "update"])
        .all("queues", &["view", "update"])
        .all("contacts", &["view", "update"])
        .all("calls", &["view", "update"])
        .all("appointments", &["view", "create", "update"])
        .field("conversations.assigned_users", FieldLevel::Edit);
    for object in custom_objects(schema) {
        b.all(object, &CUSTOM_FOUR);
    }
    b
}

fn sales_user(description: &str) -> RoleBuilder {
    let mut b = RoleBuilder::new(description);
    b.all("contacts", &["view", "create", "update", "export"])
        .all("campaigns", &["view", "create", "update"])
        .all("companies", &["view", "create", "update"])
        .all("customers", &["view", "create", "update"])
        .view(&["calls", "templates", "users", "teams"]);
    b
}

fn marketing_user(description: &str) -> RoleBuilder {
    let mut b = RoleBuilder::new(description);
    b.all("campaigns", &["view", "create", "update"])
        .all("templates", &["view", "create", "update"])
        .view(&["contacts", "dashboard", "users", "teams"]);
    b
}

/// The system roles for a merged schema, keyed by snake_case name.
///
/// Custom-object permissions depend on the schema (DESIGN.md §3: Administrator
/// and Support Agent get view/create/update/delete, Light Agent and
/// Contributor view; Account Owner everything, and Support Manager what
/// Support Agent has, since the seed defines it as Support Agent plus more;
/// every other system role nothing), which is why this takes the schema.
/// `tests/system_roles.rs` holds this to the reference evaluator's own
/// reading of the sources (`tests/reference/system_roles.rs`).
pub fn system_roles(schema: &Schema) -> BTreeMap<String, Role> {
    let mut roles = BTreeMap::new();
    let mut add = |name: &str, mut builder: RoleBuilder, kind: UserKind| {
        let mut role = builder.build();
        role.kind = kind;
        roles.insert(name.to_owned(), role);
    };

    add(
        "account_owner",
        everything(schema, &[], false, "everything, including managing roles"),
        UserKind::Agent,
    );
    add(
        "administrator",
        everything(
            schema,
            &["roles_manage", "roles_create", "roles_update", "roles_delete"],
            true,
            "everything except creating, editing or deleting roles",
        ),
        UserKind::Agent,
    );

    let mut manager = support_agent(schema, "support agent plus campaigns, reports and team oversight");
    manager
        .all("campaigns", &["view", "create", "update"])
        .view(&["dashboard", "reports"])
        .all("conversations", &["delete", "export"])
        .all("customers", &["delete", "export"])
        .all("companies", &["create", "update"])
        .all("workflows", &["create", "update"])
        .all("shopify", &["view", "return", "cancel"]);
    add("support_manager", manager, UserKind::Agent);
    add(
        "support_agent",
        support_agent(schema, "works customer conversations and the people section"),
        UserKind::Agent,
    );

    let mut light = RoleBuilder::new("views conversations and customers, adds private notes");
    light
        .view(&["conversations", "customers", "companies", "users", "teams"])
        .all("conversations", &["add_note"]);
    for object in custom_objects(schema) {
        light.view(&[object]);
    }
    add("light_agent", light, UserKind::Agent);

    let mut contributor = RoleBuilder::new("views conversations, customers and companies");
    contributor.view(&["conversations", "customers", "companies"]);
    for object in custom_objects(schema) {
        contributor.view(&[object]);
    }
    add("contributor", contributor, UserKind::Agent);

    let own = Access::Limited(vec![Limit::Own]);
    let mut restricted = RoleBuilder::new("works only the conversations assigned to them");
    restricted
        .grant("conversations", &["view", "update", "reply", "add_note"], &own)
        .view(&["customers", "companies", "users", "teams"])
        .view(&CONTENT);
    add("restricted_user", restricted, UserKind::Agent);

    add("sales_user", sales_user("manages contacts and runs campaigns"), UserKind::Agent);
    let mut sales_manager = sales_user("sales user plus deleting, exporting and reports");
    sales_manager
        .all("contacts", &["delete"])
        .all("campaigns", &["delete", "export"])
        .all("companies", &["delete", "export"])
        .all("customers", &["delete", "export"])
        .view(&["dashboard", "reports"]);
    add("sales_manager", sales_manager, UserKind::Agent);

    add("marketing_user", marketing_user("runs campaigns and edits templates"), UserKind::Agent);
    let mut marketing_manager = marketing_user("marketing user plus deleting and exporting campaigns");
    marketing_manager
        .all("campaigns", &["delete", "export"])
        .all("contacts", &["export"])
        .all("templates", &["delete"])
        .view(&["reports"]);
    add("marketing_manager", marketing_manager, UserKind::Agent);

    let mut billing = RoleBuilder::new("manages billing, the wallet and payment methods");
    billing
        .all("billing", &["view", "update"])
        .all("wallet", &["view", "refill"])
        .view(&["subscriptions"])
        .all("payment_methods", &["view", "update"]);
    add("billing", billing, UserKind::Agent);

    let mut analyst = RoleBuilder::new("analyses and exports calls and contacts");
    analyst
        .view(&["dashboard", "campaigns", "reports", "users", "teams"])
        .all("calls", &["view", "export"])
        .all("contacts", &["view", "export"]);
    add("analyst", analyst, UserKind::Agent);

    let mut read_only = RoleBuilder::new("sees analytics, calls, campaigns and contacts; changes nothing");
    read_only.view(&["dashboard", "calls", "campaigns", "contacts"]);
    add("read_only_client", read_only, UserKind::Agent);

    let requester = Access::Limited(vec![Limit::Where("requester == user.id".to_owned())]);
    let mut customer = RoleBuilder::new("a portal customer: their own conversations");
    customer.grant("conversations", &["view", "create", "reply"], &requester);
    add("customer", customer, UserKind::EndUser);

    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_lists_every_system_role() {
        let roles = system_roles(&merged_schema(&Schema::default()));
        let names: Vec<&str> = roles.keys().map(String::as_str).collect();
        let mut expected = system_role_names().to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected);
    }

    #[test]
    fn administrator_cannot_manage_roles() {
        let roles = system_roles(&merged_schema(&Schema::default()));
        let admin = &roles["administrator"];
        assert!(!admin.grants.contains_key("roles_manage"));
        assert!(admin.grants.contains_key("roles_view"));
        assert!(roles["account_owner"].grants.contains_key("roles_manage"));
    }
}
