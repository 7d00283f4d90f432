//! Rule 6 through the store: an update is decided on the record both before
//! and after the change, and view on the record as it was. The store must
//! hand the stored state to the check as `before`; without it, an agent
//! limited to VIP customers could move a basic customer to VIP (the check
//! would only see the VIP after state), and an agent who may view VIP
//! customers only could not make a change the rules allow.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use chrono::Utc;
use common::{model, on_each_backend, Backend};
use permset_core::{Record, Snapshot};
use permset_store::StoreError;
use serde_json::{json, Value};

const WORKSPACE: &str = r#"
workspace: acme
objects:
  customers:
    fields:
      tier: { enum: [basic, vip] }
users:
  olivia: { account_owner: true }
  vip_only: {}
  sees_all: {}
  sees_vip: {}
roles:
  vip_agent:
    description: "view and update VIP customers only"
    grants:
      customers_view: { where: 'tier == "vip"' }
      customers_update: { where: 'tier == "vip"' }
  vip_updater:
    description: "view every customer, update VIP ones only"
    grants:
      customers_view: all
      customers_update: { where: 'tier == "vip"' }
  vip_viewer:
    description: "view VIP customers only, update basic and VIP ones"
    grants:
      customers_view: { where: 'tier == "vip"' }
      customers_update: { where: 'tier in ["basic", "vip"]' }
assignments:
  users:
    vip_only: [vip_agent]
    sees_all: [vip_updater]
    sees_vip: [vip_viewer]
"#;

fn rec(value: Value) -> Record {
    value.as_object().unwrap().clone()
}

async fn setup(b: &Backend) -> Snapshot {
    b.store.create_workspace("acme", "olivia").await.unwrap();
    b.store.apply("acme", "olivia", &model(WORKSPACE), "initial", false).await.unwrap();
    let snap = b.store.snapshot("acme").await.unwrap();
    for r in [
        json!({"id": "v1", "name": "Vera", "tier": "vip"}),
        json!({"id": "b1", "name": "Bo", "tier": "basic"}),
    ] {
        b.store.create_record(&snap, "olivia", "customers", rec(r), Utc::now()).await.unwrap();
    }
    snap
}

async fn move_to(
    b: &Backend,
    snap: &Snapshot,
    user: &str,
    id: &str,
    tier: &str,
) -> Result<Record, StoreError> {
    b.store.update_record(snap, user, "customers", id, rec(json!({ "tier": tier })), Utc::now()).await
}

async fn tier_of(b: &Backend, snap: &Snapshot, id: &str) -> Value {
    let record = b.store.get_record(snap, "olivia", "customers", id, Utc::now()).await.unwrap();
    record.get("tier").cloned().unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_agent_limited_to_vip_customers_cannot_move_one_to_basic_nor_basic_to_vip() {
    on_each_backend(|b| async move {
        let snap = setup(&b).await;
        for user in ["vip_only", "sees_all"] {
            let down = move_to(&b, &snap, user, "v1", "basic").await;
            assert!(
                matches!(down, Err(StoreError::Forbidden { .. })),
                "{user} moved a VIP customer to basic: {down:?}"
            );
            assert_eq!(tier_of(&b, &snap, "v1").await, json!("vip"));
        }
        // vip_only cannot even see the basic customer; sees_all can, and the
        // check must still refuse because update does not hold on the state before.
        let up = move_to(&b, &snap, "vip_only", "b1", "vip").await;
        assert!(matches!(up, Err(StoreError::NotFound { .. })), "vip_only moved basic to VIP: {up:?}");
        let up = move_to(&b, &snap, "sees_all", "b1", "vip").await;
        assert!(matches!(up, Err(StoreError::Forbidden { .. })), "sees_all moved basic to VIP: {up:?}");
        assert_eq!(tier_of(&b, &snap, "b1").await, json!("basic"));
        // A VIP-to-VIP edit stays allowed.
        let same = b
            .store
            .update_record(&snap, "vip_only", "customers", "v1", rec(json!({"name": "V."})), Utc::now())
            .await;
        assert!(same.is_ok(), "{same:?}");
    })
    .await;
}

/// View is required of the record as it was: an agent who views VIP
/// customers only, and may update basic and VIP ones, may move a VIP
/// customer to basic (it could not if the check looked at the after state).
#[tokio::test]
async fn view_is_checked_on_the_state_before_the_update() {
    on_each_backend(|b| async move {
        let snap = setup(&b).await;
        let down = move_to(&b, &snap, "sees_vip", "v1", "basic").await;
        assert!(down.is_ok(), "sees_vip may move a VIP customer it views to basic: {down:?}");
        assert_eq!(tier_of(&b, &snap, "v1").await, json!("basic"));
    })
    .await;
}
