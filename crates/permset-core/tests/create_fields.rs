//! Rule 7 on create: a role that may create an object may fill its
//! unprotected fields without explicit field permissions (Kustomer's "View &
//! Create" permission sets), but never a protected field or one its role
//! holds explicitly below `edit`; an update still needs `update`.

use chrono::Utc;
use permset_core::{load_workspace_file, Snapshot};

const WORKSPACE: &str = r#"
workspace: acme
objects:
  customers:
    fields:
      tier: { enum: [basic, standard, vip] }
      ssn: { type: string, protected: true }
      notes: string
users:
  bob: {}
roles:
  view_and_create:
    grants: { customers_view: all, customers_create: all }
    fields: { customers.notes: read }
assignments:
  users: { bob: [view_and_create] }
"#;

#[test]
fn creating_fills_unprotected_fields_but_not_protected_or_explicitly_read_ones() {
    let (model, _) = load_workspace_file(WORKSPACE).unwrap_or_else(|e| panic!("{e:?}"));
    let snapshot = Snapshot::compile(&model).unwrap_or_else(|e| panic!("{e}"));
    let now = Utc::now();
    assert_eq!(snapshot.first_uncreatable_field("bob", "customers", ["name", "tier"], now), None);
    assert_eq!(snapshot.first_uncreatable_field("bob", "customers", ["name", "ssn"], now), Some("ssn"));
    assert_eq!(snapshot.first_uncreatable_field("bob", "customers", ["notes"], now), Some("notes"));
    // Without update, the same fields cannot be changed afterwards.
    assert_eq!(snapshot.first_unwritable_field("bob", "customers", ["name"], now), Some("name"));
}
