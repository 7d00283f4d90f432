//! permset and both encodings of each peer (the expert ones the bench
//! compares with, and the naive ones) give the same decision on every
//! generated request (DESIGN.md §2 rules 1–6 and 10 as each peer expresses
//! them), before and after a role edit applied through each engine's
//! incremental path; and the workload exercises every rule the comparison
//! claims to cover.
#![allow(clippy::unwrap_used, reason = "a failed setup should fail the test loudly")]

use permset_bench::casbin_expert::CasbinExpert;
use permset_bench::casbin_peer::CasbinEngine;
use permset_bench::cedar_expert::CedarExpert;
use permset_bench::cedar_peer::{limit_kinds, CedarEngine, CedarRequest};
use permset_bench::roles::PeerModel;
use permset_bench::{workload_with, Workload};
use permset_core::{Access, Grant, Limit, Request, Snapshot};

/// How many requests to compare, and on every how-many-th the naive peers too.
///
/// The naive encodings evaluate every policy (about 900 and 2,000 here) on
/// each call, which in an unoptimized build takes milliseconds; a debug
/// `cargo test` therefore compares 600 requests (the naive peers on every
/// 10th) to stay within seconds. A release build, or
/// `PERMSET_BENCH_EQUIVALENCE=all`, compares 4,000 requests on all five.
fn scope() -> (usize, usize) {
    let all = std::env::var("PERMSET_BENCH_EQUIVALENCE").is_ok_and(|v| v == "all");
    if all || !cfg!(debug_assertions) {
        (4_000, 1)
    } else {
        (600, 10)
    }
}

struct Engines {
    cedar: CedarExpert,
    casbin: CasbinExpert,
    cedar_naive: CedarEngine,
    casbin_naive: CasbinEngine,
}

fn build(w: &Workload, runtime: &tokio::runtime::Runtime) -> Engines {
    Engines {
        cedar: CedarExpert::build(w).unwrap(),
        casbin: runtime.block_on(CasbinExpert::build(w)).unwrap(),
        cedar_naive: CedarEngine::build(w).unwrap(),
        casbin_naive: runtime.block_on(CasbinEngine::build(w)).unwrap(),
    }
}

/// Compares every engine with permset on the workload's requests; returns
/// the disagreements and (allows, record-level allows, record-level denies).
fn compare(w: &Workload, e: &Engines, stride: usize) -> (Vec<String>, [usize; 3]) {
    let snapshot = Snapshot::compile_at(&w.model, w.now, 1).unwrap();
    let peer = PeerModel::new(&w.model);
    let mut disagreements = Vec::new();
    let mut counts = [0; 3];
    for (i, r) in w.requests.iter().enumerate() {
        let record = r.record.map(|i| &w.records[i]);
        let before = r.before.map(|i| &w.records[i]);
        let request = Request { user: &r.user, permission: &r.permission, record, before, now: w.now };
        let p = snapshot.check(&request).is_allowed();
        let cedar_request = CedarRequest::new(w, &peer, r).unwrap();
        e.cedar.validate_request(&cedar_request).unwrap();
        e.cedar_naive.validate_request(&cedar_request).unwrap();
        let casbin_request = e.casbin.prepare(w, &peer, r).unwrap();
        e.casbin.try_allows(&casbin_request).unwrap();
        // permset's handle API (`permset-ids` rows) must answer what `check` answers.
        let by_ids = match (snapshot.user_id(&r.user), snapshot.perm_id(&r.permission)) {
            (Some(u), Some(p)) => snapshot.check_ids(u, p, record, before, w.now).is_allowed(),
            _ => false,
        };
        let mut answers = vec![
            ("permset-ids", by_ids),
            ("cedar", e.cedar.check(&cedar_request)),
            ("casbin", e.casbin.check(&casbin_request)),
        ];
        if i % stride == 0 {
            let naive_request = e.casbin_naive.prepare(w, &peer, r).unwrap();
            e.casbin_naive.try_allows(&naive_request).unwrap();
            answers.push(("cedar-naive", e.cedar_naive.check(&cedar_request)));
            answers.push(("casbin-naive", e.casbin_naive.check(&naive_request)));
        }
        if answers.iter().any(|(_, a)| *a != p) {
            disagreements.push(format!("{r:?}: permset {p}, {answers:?}"));
        }
        counts[0] += usize::from(p);
        if r.is_record_level() {
            counts[if p { 1 } else { 2 }] += 1;
        }
    }
    (disagreements, counts)
}

#[test]
fn all_five_encodings_agree_on_every_request() {
    let (n_requests, stride) = scope();
    let w = workload_with(11, 300, n_requests);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let engines = build(&w, &runtime);
    let (disagreements, [allows, record_allows, record_denies]) = compare(&w, &engines, stride);
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
    // Both outcomes must be common, or the comparison would prove little.
    assert!(allows > w.requests.len() / 5 && allows < w.requests.len() * 4 / 5, "allows: {allows}");
    let quarter = w.requests.len() / 2 / 4;
    assert!(record_allows > quarter && record_denies > quarter, "{record_allows} / {record_denies}");
}

/// The peers' incremental rebuilds (what the bench times) must leave them
/// deciding exactly as a fresh permset compile does: a grant taken away
/// (Cedar must drop it from every holder's closure), a limit no role had
/// before (a new policy or `p` line), and `teams_view` toggled (which gates
/// team roles, rule 3) on a role that teams hold.
#[test]
fn incremental_rebuilds_decide_like_a_fresh_compile() {
    let (n_requests, stride) = scope();
    let mut w = workload_with(11, 300, n_requests.min(1_200));
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let peer = PeerModel::new(&w.model);
    let key = peer.team_roles.iter().find(|k| k.starts_with("custom_")).unwrap().clone();
    // One agent holds only the edited role, so that nothing else masks the edit.
    let sole = w
        .model
        .users
        .iter()
        .find(|(_, u)| !u.account_owner && u.kind == permset_core::UserKind::Agent)
        .unwrap()
        .0
        .clone();
    w.model.assignments.users.insert(sole.clone(), vec![permset_core::Assignment::new(key.clone())]);
    w.model.users.get_mut(&sole).unwrap().teams.clear();
    let mut engines = build(&w, &runtime);
    let holders = w.model.assignments.users.values().flatten().filter(|a| a.role == key).count();
    assert!(holders > 0, "no user holds `{key}` directly");
    let role = w.model.roles.get_mut(&key).unwrap();
    let before = role.clone();
    // Taken away: every conversations grant.
    role.grants.retain(|name, _| !name.starts_with("conversations_"));
    // New: a limit no generated role has.
    for action in ["create", "update", "delete", "export"] {
        role.grants.remove(&format!("customers_{action}"));
    }
    let new_limit = Access::Limited(vec![Limit::Where(r#"tier == "basic" and region == "apac""#.into())]);
    role.grants.insert("customers_view".into(), Grant::new(new_limit));
    // Toggled: teams_view.
    if role.grants.remove("teams_view").is_none() {
        role.grants.insert("teams_view".into(), Grant::new(Access::All));
    }
    assert_ne!(*role, before);
    let after = role.clone();

    // Ask about the edited role's holders (direct and through teams) for
    // every permission it held before or holds now, on no record and on records.
    let teams: Vec<&String> = w
        .model
        .assignments
        .teams
        .iter()
        .filter(|(_, l)| l.iter().any(|a| a.role == key))
        .map(|(t, _)| t)
        .collect();
    let holders: Vec<String> = w
        .model
        .users
        .iter()
        .filter(|(u, user)| {
            w.model.assignments.users.get(*u).is_some_and(|l| l.iter().any(|a| a.role == key))
                || user.teams.iter().any(|t| teams.contains(&t))
        })
        .map(|(u, _)| u.clone())
        .collect();
    let perms: std::collections::BTreeSet<&String> =
        before.grants.keys().chain(after.grants.keys()).collect();
    let mut extra = Vec::new();
    for user in &holders {
        for perm in &perms {
            extra.push(permset_bench::BenchRequest {
                user: user.clone(),
                permission: (*perm).clone(),
                record: None,
                before: None,
            });
            for (i, object) in w.record_objects.iter().enumerate().step_by(97) {
                if perm.starts_with(&format!("{object}_")) && !perm.ends_with("_create") {
                    extra.push(permset_bench::BenchRequest {
                        user: user.clone(),
                        permission: (*perm).clone(),
                        record: Some(i),
                        before: None,
                    });
                }
            }
        }
    }
    assert!(extra.len() > 200, "{} extra requests", extra.len());
    w.requests.extend(extra);

    engines.cedar.replace_role(&w.model, &key).unwrap();
    runtime.block_on(engines.casbin.replace_role(&w.model, &key)).unwrap();
    engines.cedar_naive.replace_role(&w.model, &key).unwrap();
    runtime.block_on(engines.casbin_naive.replace_role(&w.model, &key)).unwrap();
    let (disagreements, _) = compare(&w, &engines, stride);
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
}

#[test]
fn workload_exercises_every_rule() {
    let w = workload_with(11, 300, 2_000);
    let kinds = limit_kinds(&w.model);
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["own", "rule", "team", "where"]);
    let snapshot = Snapshot::compile_at(&w.model, w.now, 1).unwrap();
    let peer = PeerModel::new(&w.model);
    // Rule 2: account owners.
    assert!(w.model.users.values().any(|u| u.account_owner));
    // Rule 3: some users in teams with team-assigned roles lack teams_view directly, some hold it.
    let (mut gated, mut counted) = (0, 0);
    for (key, user) in &w.model.users {
        let team_roles = user.teams.iter().any(|t| w.model.assignments.teams.contains_key(t));
        if !team_roles {
            continue;
        }
        let direct = w.model.assignments.users.get(key).into_iter().flatten();
        if direct.filter_map(|a| peer.roles.get(&a.role)).any(|r| peer.grants_teams_view(r)) {
            counted += 1;
        } else {
            gated += 1;
        }
    }
    assert!(gated > 5 && counted > 5, "gated {gated}, counted {counted}");
    // Rule 5: module-level questions answered by limited grants; rule 6: updates with a before state.
    let limited = w.requests.iter().filter(|r| {
        r.record.is_none() && snapshot.check(&Request::new(&r.user, &r.permission, w.now)).is_limited()
    });
    assert!(limited.count() > 20);
    assert!(w.requests.iter().filter(|r| r.before.is_some()).count() > 20);
    // Rule 10: end users.
    assert!(w.model.users.values().any(|u| u.kind == permset_core::UserKind::EndUser));
}
