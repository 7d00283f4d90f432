//! `access_changes` against brute force: random small workspaces, random
//! model changes, and every (user, permission) recomputed with
//! `effective_permissions` on both snapshots. Plus hand-written cases with a
//! known answer.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use permset_core::{
    access_changes, load_workspace_file, Access, AccessDelta, Grant, Holder, Limit, Model, ModelChange, Role,
    Snapshot, User, UserAccessChange, UserKind,
};
use proptest::prelude::*;

const USERS: [&str; 5] = ["u0", "u1", "u2", "u3", "u4"];
const ROLES: [&str; 6] = ["r0", "r1", "r2", "support_agent", "admin", "viewer"];
/// Permissions custom roles grant; `_view` first so updates keep their view.
const PERMS: [&str; 6] = [
    "customers_view",
    "customers_update",
    "conversations_view",
    "conversations_reply",
    "teams_view",
    "users_view",
];

const BASE: &str = r#"
workspace: acme
objects:
  customers:
    fields:
      tier: { enum: [basic, vip] }
      assignee: user
      assignee_team: team
    owner_field: assignee
    team_field: assignee_team
access_rules:
  customers: { premium: 'tier == "vip"' }
teams: { t0: {}, t1: {} }
users:
  u0: { teams: [t0] }
  u1: { teams: [t1] }
  u2: {}
  u3: { account_owner: true }
roles:
  r0:
    grants: { customers_view: own, customers_update: own }
  r1:
    grants: { customers_view: { rule: premium }, conversations_view: all }
assignments:
  users:
    u0: [r0]
    u1: [r1, { role: support_agent, expires_at: 2026-06-01T06:00:00Z }]
  teams: { t0: [r1] }
"#;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().unwrap_or_default()
}

fn base_model() -> Model {
    load_workspace_file(BASE).map(|(m, _)| m).unwrap_or_else(|e| panic!("base file: {e:?}"))
}

fn compile(model: &Model) -> Snapshot {
    Snapshot::compile_at(model, now(), 0).unwrap_or_else(|e| panic!("compile: {e:?}"))
}

/// The brute-force answer: every user of either side × every permission of
/// either side, looked up by name in each side's effective table.
fn brute(old: &Snapshot, new: &Snapshot) -> Vec<UserAccessChange> {
    let users: BTreeSet<&String> = old.model().users.keys().chain(new.model().users.keys()).collect();
    let perms: BTreeSet<&str> = old.permission_names().chain(new.permission_names()).collect();
    let mut out = Vec::new();
    for user in users {
        let before = old.effective_permissions(user, now());
        let after = new.effective_permissions(user, now());
        let access = |rows: &[permset_core::EffectivePermission], p: &str| {
            rows.iter().find(|r| r.permission == p).map(|r| r.access.clone()).filter(|a| a != "none")
        };
        for perm in &perms {
            let (b, a) = (access(&before, perm), access(&after, perm));
            if b == a {
                continue;
            }
            let change = match (&b, &a) {
                (None, _) => AccessDelta::Gained,
                (_, None) => AccessDelta::Lost,
                _ => AccessDelta::Changed,
            };
            out.push(UserAccessChange {
                user: user.clone(),
                permission: (*perm).to_owned(),
                change,
                before: b,
                after: a,
            });
        }
    }
    out
}

fn access() -> impl Strategy<Value = Access> {
    prop_oneof![
        Just(Access::None),
        Just(Access::All),
        Just(Access::Limited(vec![Limit::Own])),
        Just(Access::Limited(vec![Limit::Team])),
        Just(Access::Limited(vec![Limit::Rule("premium".into())])),
        Just(Access::Limited(vec![Limit::Own, Limit::Team])),
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop::collection::vec((0..PERMS.len(), access()), 0..5).prop_map(|grants| Role {
        kind: UserKind::Agent,
        description: None,
        cloned_from: None,
        grants: grants
            .into_iter()
            .filter_map(|(p, a)| PERMS.get(p).map(|p| ((*p).to_owned(), Grant::new(a))))
            .collect(),
        fields: Default::default(),
    })
}

fn holder() -> impl Strategy<Value = Holder> {
    prop_oneof![
        4 => prop::sample::select(USERS.to_vec()).prop_map(|u| Holder::User(u.into())),
        1 => prop::sample::select(vec!["t0", "t1"]).prop_map(|t| Holder::Team(t.into())),
    ]
}

fn change() -> impl Strategy<Value = ModelChange> {
    let role_key = prop::sample::select(ROLES.to_vec()).prop_map(str::to_owned);
    let custom = prop::sample::select(vec!["r0", "r1", "r2"]).prop_map(str::to_owned);
    let user = prop::sample::select(USERS.to_vec()).prop_map(str::to_owned);
    prop_oneof![
        (holder(), role_key.clone(), prop::option::of(-3i64..3)).prop_map(|(holder, role, h)| {
            ModelChange::Assign { holder, role, expires_at: h.map(|h| now() + Duration::hours(h)) }
        }),
        (holder(), role_key).prop_map(|(holder, role)| ModelChange::Unassign { holder, role }),
        (custom.clone(), role()).prop_map(|(role, def)| ModelChange::PutRole { role, def }),
        prop::sample::select(vec!["true", "false", r#"tier == "basic""#, r#"tier == "vip""#]).prop_map(|c| {
            ModelChange::PutAccessRule {
                object: "customers".into(),
                rule: "premium".into(),
                condition: c.into(),
            }
        }),
        (user.clone(), any::<bool>()).prop_map(|(user, owner)| ModelChange::PutUser {
            user,
            def: User { account_owner: owner, ..User::default() },
        }),
        user.clone().prop_map(|user| ModelChange::DeleteUser { user }),
        (prop::sample::select(vec!["t0", "t1"]), user.clone())
            .prop_map(|(t, user)| ModelChange::AddMember { team: t.into(), user }),
        (prop::sample::select(vec!["t0", "t1"]), user)
            .prop_map(|(t, user)| ModelChange::RemoveMember { team: t.into(), user }),
    ]
}

/// Applies the changes one after another, skipping those `apply` or
/// compilation refuses; returns the base and the end snapshots and how many
/// changes were applied.
fn run(changes: &[ModelChange]) -> (Snapshot, Snapshot, usize) {
    let mut model = base_model();
    let base = compile(&model);
    let mut current = None;
    let mut applied = 0;
    for change in changes {
        let mut next = model.clone();
        if change.apply(&mut next).is_err() {
            continue;
        }
        let Ok(snapshot) = Snapshot::compile_at(&next, now(), 0) else { continue };
        model = next;
        current = Some(snapshot);
        applied += 1;
    }
    let end = current.unwrap_or_else(|| compile(&model));
    (base, end, applied)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn matches_brute_force(changes in prop::collection::vec(change(), 1..6)) {
        let (old, new, applied) = run(&changes);
        prop_assume!(applied > 0);
        prop_assert_eq!(access_changes(&old, &new, now()), brute(&old, &new));
        prop_assert_eq!(access_changes(&new, &old, now()), brute(&new, &old));
        prop_assert!(access_changes(&new, &new, now()).is_empty());
    }

    #[test]
    fn one_change_matches_brute_force(change in change()) {
        let model = base_model();
        let mut next = model.clone();
        prop_assume!(change.apply(&mut next).is_ok());
        let Ok(new) = Snapshot::compile_at(&next, now(), 1) else { return Ok(()) };
        let old = compile(&model);
        prop_assert_eq!(access_changes(&old, &new, now()), brute(&old, &new));
    }
}

fn row(
    user: &str,
    permission: &str,
    change: AccessDelta,
    before: Option<&str>,
    after: Option<&str>,
) -> UserAccessChange {
    UserAccessChange {
        user: user.into(),
        permission: permission.into(),
        change,
        before: before.map(Into::into),
        after: after.map(Into::into),
    }
}

#[test]
fn known_changes_of_a_role_edit() {
    let model = base_model();
    let old = compile(&model);
    let mut next = model.clone();
    // r0 (held by u0): customers_view own → all, customers_update dropped,
    // teams_view added — which lets u0's team role r1 (of t0) count, so
    // conversations_view comes with it.
    let mut def = next.roles.get("r0").cloned().unwrap_or_else(|| panic!("r0"));
    def.grants.insert("customers_view".into(), Grant::new(Access::All));
    def.grants.remove("customers_update");
    def.grants.insert("teams_view".into(), Grant::new(Access::All));
    ModelChange::PutRole { role: "r0".into(), def }.apply(&mut next).unwrap_or_else(|e| panic!("{e}"));
    let new = compile(&next);
    let got = access_changes(&old, &new, now());
    assert_eq!(
        got,
        vec![
            row("u0", "conversations_view", AccessDelta::Gained, None, Some("all")),
            row("u0", "customers_update", AccessDelta::Lost, Some("own"), None),
            row("u0", "customers_view", AccessDelta::Changed, Some("own"), Some("all")),
            row("u0", "teams_view", AccessDelta::Gained, None, Some("all")),
        ]
    );
    let json = serde_json::to_value(&got).unwrap_or_default();
    assert_eq!(json[2]["change"], "changed");
    assert_eq!(json[1]["after"], serde_json::Value::Null);
}

#[test]
fn a_deleted_user_loses_everything_and_a_new_user_gains_everything() {
    let model = base_model();
    let old = compile(&model);
    let mut next = model.clone();
    ModelChange::DeleteUser { user: "u0".into() }.apply(&mut next).unwrap_or_else(|e| panic!("{e}"));
    ModelChange::PutUser { user: "u9".into(), def: User::default() }
        .apply(&mut next)
        .unwrap_or_else(|e| panic!("{e}"));
    ModelChange::Assign { holder: Holder::User("u9".into()), role: "r0".into(), expires_at: None }
        .apply(&mut next)
        .unwrap_or_else(|e| panic!("{e}"));
    let new = compile(&next);
    let got = access_changes(&old, &new, now());
    let u0: Vec<_> = got.iter().filter(|c| c.user == "u0").collect();
    let u9: Vec<_> = got.iter().filter(|c| c.user == "u9").collect();
    assert!(!u0.is_empty() && u0.iter().all(|c| c.change == AccessDelta::Lost && c.after.is_none()));
    assert!(u9.iter().any(|c| c.permission == "customers_update" && c.after.as_deref() == Some("own")));
    assert!(u9.iter().all(|c| c.change == AccessDelta::Gained && c.before.is_none()));
    assert_eq!(got, brute(&old, &new));
    // Nobody else moved.
    assert!(got.iter().all(|c| c.user == "u0" || c.user == "u9"));
}

/// One sampled decision: (user, permission, record, before), as the sample
/// holds them — users and permissions as asked (unknown ones included).
type Sampled = (String, String, Option<permset_core::Record>, Option<permset_core::Record>);

fn customer() -> impl Strategy<Value = permset_core::Record> {
    (
        prop::sample::select(vec!["basic", "vip"]),
        prop::sample::select(vec!["u0", "u1", "u2", "u9"]),
        prop::sample::select(vec!["t0", "t1", "t9"]),
    )
        .prop_map(|(tier, assignee, team)| {
            let value = serde_json::json!({ "tier": tier, "assignee": assignee, "assignee_team": team });
            value.as_object().cloned().unwrap_or_default()
        })
}

fn sampled() -> impl Strategy<Value = Sampled> {
    let users = prop::sample::select(vec!["u0", "u1", "u2", "u3", "u4", "ghost"]);
    let perms = prop::sample::select(vec![
        "customers_view",
        "customers_update",
        "customers_edit",
        "conversations_view",
        "teams_view",
        "customer_view",
    ]);
    (users, perms, prop::option::of(customer()), prop::option::weighted(0.3, customer())).prop_map(
        |(user, permission, record, before)| {
            let before = if record.is_some() { before } else { None };
            (user.to_owned(), permission.to_owned(), record, before)
        },
    )
}

/// The brute-force flips: every decision decided on both snapshots; the
/// differing ones listed, then counted and their first three positions
/// taken per distinct (user, permission, old answer), in that order.
fn brute_flips(
    old: &Snapshot,
    new: &Snapshot,
    requests: &[permset_core::Request<'_>],
) -> Vec<permset_core::FlipGroup> {
    let differing: Vec<((String, String, bool), usize)> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| old.check(r).is_allowed() != new.check(r).is_allowed())
        .map(|(i, r)| ((r.user.to_owned(), r.permission.to_owned(), old.check(r).is_allowed()), i))
        .collect();
    let keys: BTreeSet<(String, String, bool)> = differing.iter().map(|(k, _)| k.clone()).collect();
    keys.into_iter()
        .map(|key| {
            let at: Vec<usize> = differing.iter().filter(|(k, _)| *k == key).map(|(_, i)| *i).collect();
            permset_core::FlipGroup {
                user: key.0,
                permission: key.1,
                was_allowed: key.2,
                count: at.len() as u64,
                examples: at.into_iter().take(3).collect(),
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Flips (what-if part 3) against replaying every sampled decision on both snapshots.
    #[test]
    fn flips_match_replaying_every_sampled_decision(
        changes in prop::collection::vec(change(), 1..6),
        sample in prop::collection::vec(sampled(), 0..60),
    ) {
        let (old, new, applied) = run(&changes);
        prop_assume!(applied > 0);
        let requests: Vec<permset_core::Request<'_>> = sample
            .iter()
            .map(|(user, permission, record, before)| permset_core::Request {
                user, permission, record: record.as_ref(), before: before.as_ref(), now: now(),
            })
            .collect();
        let got = permset_core::flips(&old, &new, &requests, 3);
        prop_assert_eq!(&got, &brute_flips(&old, &new, &requests));
        // The other way round, every group turns around; nothing flips against itself.
        let back = permset_core::flips(&new, &old, &requests, 3);
        prop_assert_eq!(back.iter().map(|g| g.count).sum::<u64>(), got.iter().map(|g| g.count).sum::<u64>());
        prop_assert!(permset_core::flips(&new, &new, &requests, 3).is_empty());
    }
}
