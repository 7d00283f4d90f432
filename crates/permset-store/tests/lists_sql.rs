//! List access paths on every back end: each scope (own, team with several
//! teams, a rule on indexed and rule-derived fields, an OR of two roles, an
//! inline `where:` limit, a scoped key, a caller's filter, and a predicate
//! no index serves) pages through exactly the records the engine's
//! `check(view)` allows, in id order, across the merge of index seeks; on
//! SQLite the plan is checked to read the chosen indexes (PostgreSQL picks
//! its own plan, so only the rows are checked there, and that the seeks of
//! an OR each read their own index under their own side), and a missing
//! index falls back to the same rows.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use chrono::Utc;
use common::{model, on_each_backend, Backend};
use permset_core::{Actor, Record, Request, Snapshot};
use permset_store::ListQuery;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const WORKSPACE: &str = r#"
workspace: lists
user_attributes: { region: { enum: [emea, amer, apac] } }
objects:
  tickets:
    fields:
      subject: string
      status: { enum: [open, pending, solved] }
      priority: { enum: [low, high] }
      tier: { enum: [basic, standard, vip], indexed: true }
      region: { enum: [emea, amer, apac] }
      score: number
      owner: user
      owner_team: team
    owner_field: owner
    team_field: owner_team
access_rules:
  tickets:
    vip_in_region: 'tier == "vip" and region == user.region'
    scored: 'score == 7 or (status == "open" and score in [1, 2])'
teams: { t1: {}, t2: {}, t3: {} }
users:
  boss: { account_owner: true }
  a1: { teams: [t3] }
  a2: { teams: [t1, t2] }
  a3: { attributes: { region: emea } }
  a4: { attributes: { region: amer } }
  a5: {}
  a6: {}
  a7: {}
  a8: {}
roles:
  own_desk: { grants: { tickets_view: own } }
  team_desk: { grants: { tickets_view: team } }
  vip_desk: { grants: { tickets_view: { rule: vip_in_region } } }
  scored_desk: { grants: { tickets_view: { rule: scored } } }
  high_t3: { grants: { tickets_view: { where: 'priority == "high" and owner_team == "t3"' } } }
  sevens: { grants: { tickets_view: { where: 'subject contains "7"' } } }
assignments:
  users:
    a1: [own_desk]
    a2: [team_desk]
    a3: [vip_desk]
    a4: [own_desk, vip_desk]
    a5: [high_t3]
    a6: [sevens]
    a7: [scored_desk]
    a8: [own_desk, sevens]
"#;

const RECORDS: usize = 800;
const OWNERS: &[&str] = &["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "boss"];

fn ticket(rng: &mut StdRng, n: usize) -> Record {
    let pick = |rng: &mut StdRng, items: &[&str]| items[rng.gen_range(0..items.len())].to_owned();
    let mut r = json!({
        "subject": format!("Ticket {n}"),
        "status": pick(rng, &["open", "pending", "solved"]),
        "priority": pick(rng, &["low", "high"]),
        "tier": pick(rng, &["basic", "basic", "standard", "vip"]),
        "region": pick(rng, &["emea", "amer", "apac"]),
        "score": rng.gen_range(0..10),
        "owner": pick(rng, OWNERS),
        "owner_team": pick(rng, &["t1", "t2", "t3"]),
    });
    // Some records lack fields, or hold a field no index keys (null is not stored).
    if rng.gen_bool(0.1) {
        r.as_object_mut().unwrap().remove(["owner", "owner_team", "tier", "region", "score"][n % 5]);
    }
    r.as_object().unwrap().clone()
}

async fn load(b: &Backend) -> (Snapshot, Vec<Record>) {
    let store = &b.store;
    store.create_workspace("lists", "boss").await.unwrap();
    store.apply("lists", "boss", &model(WORKSPACE), "initial", false).await.unwrap();
    let snap = store.snapshot("lists").await.unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let records: Vec<Record> = (0..RECORDS).map(|n| ticket(&mut rng, n)).collect();
    store.import_records(&snap, "boss", "tickets", records, Utc::now()).await.unwrap();
    store.refresh_statistics().await.unwrap();
    let all = ListQuery { limit: Some(1000), ..ListQuery::default() };
    let stored = store.list_records(&snap, "boss", "tickets", &all, Utc::now()).await.unwrap().records;
    assert_eq!(stored.len(), RECORDS);
    (snap, stored)
}

fn ids(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

/// Every page of a list with a small page size, concatenated.
async fn paged(b: &Backend, snap: &Snapshot, actor: Actor<'_>, query: &ListQuery) -> Vec<String> {
    let mut seen = Vec::new();
    let mut query = ListQuery { limit: Some(7), ..query.clone() };
    loop {
        let page = b.store.list_records(snap, actor, "tickets", &query, Utc::now()).await.unwrap();
        assert!(page.records.len() <= 7);
        seen.extend(ids(&page.records));
        match page.next_cursor {
            Some(cursor) => query.after = Some(cursor),
            None => return seen,
        }
    }
}

/// The ids the engine allows `actor` to view, in id order.
fn expected(
    snap: &Snapshot,
    stored: &[Record],
    actor: Actor<'_>,
    filter: impl Fn(&Record) -> bool,
) -> Vec<String> {
    let now = Utc::now();
    let allowed = stored
        .iter()
        .filter(|r| {
            snap.check_scoped(&Request::new(actor.user, "tickets_view", now).on(r), actor.scope).is_allowed()
        })
        .filter(|r| filter(r))
        .cloned()
        .collect::<Vec<_>>();
    ids(&allowed)
}

/// (actor, filter, whether an index serves it).
fn cases() -> Vec<(Actor<'static>, Option<&'static str>, bool)> {
    let user = |user| Actor { user, scope: None };
    vec![
        (user("a1"), None, true),
        (user("a2"), None, true),
        (user("a3"), None, true),
        (user("a4"), None, true),
        (user("a5"), None, true),
        (user("a6"), None, false),
        (user("a7"), None, true),
        (user("a8"), None, false),
        (Actor { user: "a4", scope: Some("vip_desk") }, None, true),
        (
            Actor { user: "a6", scope: Some("sevens") },
            Some(r#"owner == "a2" or owner_team in ["t1", "t3"]"#),
            true,
        ),
        (user("boss"), Some(r#"tier == "standard" and status == "open""#), true),
        (user("boss"), Some(r#"score == 3"#), true),
        (user("boss"), Some(r#"status != "open""#), false),
        (user("a2"), Some(r#"priority == "high""#), true),
    ]
}

fn matches_filter(snap: &Snapshot, filter: Option<&str>) -> impl Fn(&Record) -> bool {
    let expr = filter.map(|text| {
        let def = &snap.schema().objects["tickets"];
        let attrs = Default::default();
        let ctx = permset_core::condition::TypeContext {
            object: "tickets",
            fields: &def.fields,
            user_attributes: &attrs,
        };
        permset_core::condition::compile(text, &ctx).unwrap()
    });
    move |r: &Record| expr.as_ref().is_none_or(|e| e.matches(r))
}

#[tokio::test]
async fn every_scope_pages_through_exactly_what_the_engine_allows() {
    on_each_backend(|b| async move {
        let (snap, stored) = load(&b).await;
        let mut informative = 0;
        for (actor, filter, indexed) in cases() {
            let query = ListQuery { filter: filter.map(str::to_owned), ..ListQuery::default() };
            let want = expected(&snap, &stored, actor, matches_filter(&snap, filter));
            let got = paged(&b, &snap, actor, &query).await;
            assert_eq!(got, want, "[{}] {actor:?} filter {filter:?}", b.name);
            if !want.is_empty() && want.len() < RECORDS {
                informative += 1;
            }
            let plan = b.store.explain_list(&snap, actor, "tickets", &query, Utc::now()).await.unwrap();
            if b.name == "sqlite" {
                let seeks = plan.iter().any(|line| line.contains("USING INDEX ax_"));
                assert_eq!(seeks, indexed, "{actor:?} filter {filter:?}: plan {plan:#?}");
                // A seek never scans a whole index or the table.
                if indexed {
                    assert!(!plan.iter().any(|l| l.starts_with("SCAN records")), "{actor:?}: plan {plan:#?}");
                }
            }
        }
        assert!(informative >= 12, "too few lists kept some records but not all: {informative}");
    })
    .await;
}

#[tokio::test]
async fn search_and_pagination_agree_across_the_merge() {
    on_each_backend(|b| async move {
        let (snap, stored) = load(&b).await;
        let actor = Actor { user: "a4", scope: None };
        // A search narrows the merged seeks (`Ticket 1…` subjects), page after page.
        let query = ListQuery { search: Some("ticket 1".into()), ..ListQuery::default() };
        let want =
            expected(&snap, &stored, actor, |r| r["subject"].as_str().unwrap().starts_with("Ticket 1"));
        assert!(!want.is_empty());
        assert_eq!(paged(&b, &snap, actor, &query).await, want, "[{}]", b.name);
        // A cursor between records (not an id) starts after it, also across seeks.
        let all = expected(&snap, &stored, actor, |_| true);
        let middle = &all[all.len() / 2];
        let cursor = format!("{middle}0");
        let query = ListQuery { after: Some(cursor.clone()), limit: Some(1000), ..ListQuery::default() };
        let page = b.store.list_records(&snap, actor, "tickets", &query, Utc::now()).await.unwrap();
        let rest: Vec<String> = all.iter().filter(|id| **id > cursor).cloned().collect();
        assert_eq!(ids(&page.records), rest);
    })
    .await;
}

#[tokio::test]
async fn a_missing_index_gives_the_same_rows() {
    on_each_backend(|b| async move {
        let (snap, stored) = load(&b).await;
        // Every list index of the object goes (as if its creation had failed).
        let names: Vec<String> = b
            .store
            .explain_list(&snap, "a4", "tickets", &ListQuery::default(), Utc::now())
            .await
            .unwrap()
            .iter()
            .filter_map(|line| line.split_whitespace().find(|w| w.starts_with("ax_")).map(str::to_owned))
            .collect();
        if b.name == "sqlite" {
            assert!(!names.is_empty());
        }
        for name in &names {
            b.raw(&format!("DROP INDEX IF EXISTS {name}")).await;
        }
        let actor = Actor { user: "a4", scope: None };
        let want = expected(&snap, &stored, actor, |_| true);
        assert_eq!(paged(&b, &snap, actor, &ListQuery::default()).await, want, "[{}]", b.name);
    })
    .await;
}

/// An OR of two roles (`own`, or the VIP rule) is one seek per side, and
/// each seek is filtered by its own side only: given the whole disjunction,
/// PostgreSQL ORed the other side's index into a bitmap scan and sorted
/// thousands of rows at 1M records instead of reading one index range.
#[tokio::test]
async fn each_seek_of_an_or_filters_by_its_own_side_only() {
    on_each_backend(|b| async move {
        if b.name != "postgres" {
            return;
        }
        let (snap, _) = load(&b).await;
        let plan =
            b.store.explain_list(&snap, "a4", "tickets", &ListQuery::default(), Utc::now()).await.unwrap();
        assert!(!plan.iter().any(|l| l.contains("BitmapOr")), "plan {plan:#?}");
        let seeks: Vec<usize> =
            (0..plan.len()).filter(|&i| plan[i].contains("Index Scan using ax_")).collect();
        assert_eq!(seeks.len(), 2, "one index scan per side: {plan:#?}");
        for i in seeks {
            let filter = plan[i + 1..].iter().take(2).find(|l| l.trim_start().starts_with("Filter:"));
            let filter = filter.map_or("", |l| l.as_str());
            let sides = ["'owner'", "'tier'"].iter().filter(|f| filter.contains(**f)).count();
            assert!(sides <= 1, "seek filtered by both sides: {filter}");
        }
    })
    .await;
}
