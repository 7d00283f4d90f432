//! A small driver for counting instructions of record-level checks that
//! walk `own`, `team` and condition limits, with
//! `valgrind --tool=callgrind --toggle-collect='*run_checks*'`:
//!
//! `cargo build --release -p permset-core --example scopes_hot &&
//! valgrind --tool=callgrind --toggle-collect='*run_checks*' target/release/examples/scopes_hot`
//!
//! It needs only permset-core (the full workload is `permset-bench`'s `hot_path`).

use std::hint::black_box;

use permset_core::{load_workspace_file, Record, Request, Snapshot};
use serde_json::json;

const WORKSPACE: &str = r#"
workspace: scopes
objects:
  customers:
    fields: { tier: { enum: [basic, standard, vip] } }
teams: { t1: {}, t2: {}, t3: {}, t4: {} }
access_rules:
  customers: { premium: 'tier in ["standard", "vip"]' }
users:
  own_user: { teams: [t1] }
  team_user: { teams: [t1, t2, t3] }
  rule_user: { teams: [t4] }
roles:
  own_role: { grants: { customers_view: own, customers_update: own, teams_view: all } }
  team_role: { grants: { customers_view: team, customers_update: team, teams_view: all } }
  rule_role: { grants: { customers_view: [{ rule: premium }, own], customers_update: { rule: premium } } }
assignments:
  users: { own_user: [own_role], team_user: [team_role], rule_user: [rule_role] }
"#;

const ROUNDS: usize = 20_000;

fn main() {
    let (model, _) = load_workspace_file(WORKSPACE).unwrap_or_else(|e| panic!("{e:?}"));
    let snapshot = Snapshot::compile(&model).unwrap_or_else(|e| panic!("{e}"));
    let record = |assignee: &str, team: &str, tier: &str| -> Record {
        let value = json!({ "name": "Kim", "assignee": assignee, "assignee_team": team, "tier": tier });
        value.as_object().cloned().unwrap_or_default()
    };
    let records = [
        record("own_user", "t9", "basic"),
        record("someone", "t2", "basic"),
        record("someone", "t9", "vip"),
        record("someone", "t9", "basic"),
    ];
    let users = ["own_user", "team_user", "rule_user"];
    let start = std::time::Instant::now();
    let allowed = run_checks(&snapshot, &users, &records);
    let per = start.elapsed().as_nanos() as f64 / (ROUNDS * users.len() * records.len() * 2) as f64;
    println!("{allowed} allowed, {per:.0} ns/check");
}

/// The measured part.
#[inline(never)]
fn run_checks(snapshot: &Snapshot, users: &[&str], records: &[Record]) -> usize {
    let now = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    let mut allowed = 0usize;
    for _ in 0..ROUNDS {
        for user in users {
            for record in records {
                for permission in ["customers_view", "customers_update"] {
                    let request = Request::new(user, permission, now).on(record);
                    allowed += usize::from(black_box(snapshot.check(black_box(&request))).is_allowed());
                }
            }
        }
    }
    allowed
}
