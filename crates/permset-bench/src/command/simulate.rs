//! `permset-bench simulate`: what-if on a large workspace (DESIGN.md §7:
//! 10,000 users, 60 roles, 100,000 sampled decisions: a simulation answers
//! in ≤ 1 s).
//!
//! The workspace and the decisions come from the engines mode's generator
//! (`permset_bench::workload_with`): 10,000 users, 200 teams, 60 roles (15
//! system, 45 custom). It is applied to a SQLite store with some of the
//! generated records (lookups left out, so that every record loads on its
//! own), and the generated requests, decided on the stored snapshot, are
//! written as the decision sample (the newest 100,000 are replayed). The
//! change is a realistic role edit: `customers_view` widened to `all` on
//! the custom role held by the most users (directly or through a team)
//! that does not already have it, so thousands of users gain access, some
//! sampled decisions flip and record visibility is counted.
//!
//! Timed: `POST /simulate` end to end through `permset serve` on loopback
//! (reading the sample, the four parts, the JSON answer), `--runs` times
//! after one warm-up (which parses the stored sample into the server's
//! cache, reported on its own); median and range. Then once each, in process, the
//! parts on their own (the profile of where the time goes).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::Utc;
use permset_bench::workload_with;
use permset_core::{
    access_changes, view_changes, Access, FieldType, Grant, Model, ModelChange, Record, Request, Snapshot,
};
use permset_store::{DecisionLogEntry, KeySpec, Store};
use serde_json::{json, Value};

use super::serving::serve_in;

/// Options of `simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Users in the generated workspace.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Sampled decisions written and replayed.
    #[arg(long, default_value_t = 100_000)]
    decisions: usize,
    /// Generated records stored (for record visibility).
    #[arg(long, default_value_t = 20_000)]
    records: usize,
    /// Timed simulations (after one warm-up).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

const WORKSPACE: &str = "bench";

/// The custom role held by the most users whose `customers_view` is not `all`, with that widened.
fn role_edit(model: &Model, now: chrono::DateTime<Utc>) -> Result<(ModelChange, usize)> {
    let mut holders: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, user) in &model.users {
        let direct = model.assignments.users.get(key).into_iter().flatten();
        let teams = user.teams.iter().filter_map(|t| model.assignments.teams.get(t)).flatten();
        let mut roles: Vec<&str> = direct.chain(teams).map(|a| a.role.as_str()).collect();
        roles.sort_unstable();
        roles.dedup();
        for role in roles {
            *holders.entry(role).or_default() += 1;
        }
    }
    let _ = now;
    let (role, def, held) = model
        .roles
        .iter()
        .filter(|(_, r)| r.grants.get("customers_view").is_none_or(|g| g.access != Access::All))
        .map(|(k, r)| (k, r, holders.get(k.as_str()).copied().unwrap_or(0)))
        .max_by_key(|(_, _, n)| *n)
        .context("no custom role to edit")?;
    let mut def = def.clone();
    def.grants.insert("customers_view".into(), Grant::new(Access::All));
    Ok((ModelChange::PutRole { role: role.clone(), def }, held))
}

/// Up to `n` generated records per object, without lookups (whose targets are not stored).
fn records_by_object(
    w: &permset_bench::Workload,
    snapshot: &Snapshot,
    n: usize,
) -> BTreeMap<String, Vec<Record>> {
    let mut out: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for (record, object) in w.records.iter().zip(&w.record_objects).take(n) {
        let Some(def) = snapshot.schema().objects.get(object) else { continue };
        let mut record = record.clone();
        record.retain(|field, _| {
            def.fields.get(field).is_some_and(|f| match &f.ty {
                FieldType::Lookup(_) => false,
                FieldType::List(inner) => !matches!(**inner, FieldType::Lookup(_)),
                _ => true,
            })
        });
        out.entry(object.clone()).or_default().push(record);
    }
    out
}

/// The generated requests as the decision sample, decided on `snapshot`, newest last.
fn sample(w: &permset_bench::Workload, snapshot: &Snapshot) -> Vec<DecisionLogEntry> {
    let now = Utc::now();
    let n = w.requests.len();
    w.requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let record = r.record.and_then(|i| w.records.get(i));
            let before = r.before.and_then(|i| w.records.get(i));
            let request = Request { user: &r.user, permission: &r.permission, record, before, now };
            DecisionLogEntry {
                at: now - chrono::Duration::milliseconds((n - i) as i64),
                user: r.user.clone(),
                permission: r.permission.clone(),
                record_id: record.map(|_| format!("r{}", r.record.unwrap_or(0))),
                record: record.map(|r| Value::Object(r.clone())),
                before: before.map(|r| Value::Object(r.clone())),
                allowed: snapshot.check(&request).is_allowed(),
                revision: snapshot.revision(),
            }
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn run(args: &Args) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let t = Instant::now();
    let w = workload_with(args.seed, args.users, args.decisions);
    eprintln!(
        "workload: {} users, {} roles, {} requests ({:.1?})",
        w.model.users.len(),
        w.model.roles.len() + 15,
        w.requests.len(),
        t.elapsed()
    );
    let owner = w
        .model
        .users
        .iter()
        .find(|(_, u)| u.account_owner)
        .map(|(k, _)| k.clone())
        .context("the generated workspace has no account owner")?;

    let dir = tempfile::tempdir().context("temp dir")?;
    let url = format!("sqlite://{}", dir.path().join("permset.db").display());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let t = Instant::now();
    let (store, secret, snapshot, loaded) = rt.block_on(async {
        let store = Store::open(&url).await?;
        store.create_workspace(WORKSPACE, "bench").await?;
        let mut model = w.model.clone();
        model.workspace = WORKSPACE.to_owned();
        store.apply(WORKSPACE, "bench", &model, "benchmark workload", false).await?;
        let snapshot = store.snapshot(WORKSPACE).await?;
        let mut loaded = 0;
        for (object, records) in records_by_object(&w, &snapshot, args.records) {
            for chunk in records.chunks(5_000) {
                loaded += chunk.len();
                store
                    .import_records(&snapshot, owner.as_str(), &object, chunk.to_vec(), Utc::now())
                    .await
                    .with_context(|| format!("importing `{object}` records"))?;
            }
        }
        let entries = sample(&w, &snapshot);
        for chunk in entries.chunks(10_000) {
            store.log_decisions(WORKSPACE, chunk, args.decisions as u32).await?;
        }
        let spec = KeySpec { user: None, role: None, label: "bench".into(), expires_at: None };
        let (_, secret) = store.create_key(WORKSPACE, "bench", spec).await?;
        let snapshot = store.snapshot(WORKSPACE).await?;
        anyhow::Ok((store, secret, snapshot, loaded))
    })?;
    eprintln!(
        "store: workspace, {loaded} records and {} sampled decisions written ({:.1?})",
        w.requests.len(),
        t.elapsed()
    );

    let (change, held) = role_edit(snapshot.model(), Utc::now())?;
    let body = serde_json::to_vec(&change)?;
    let addr =
        serve_in(&rt, store.clone(), permset_server::ServeOptions::default(), Duration::from_secs(30))?;
    let url = format!("http://{addr}/v1/workspaces/{WORKSPACE}/simulate");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let post = || async {
        let started = Instant::now();
        let resp = http
            .post(&url)
            .bearer_auth(&secret)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await?;
        let status = resp.status();
        let answer: Value = resp.json().await?;
        if !status.is_success() {
            bail!("simulate answered {status}: {answer}");
        }
        anyhow::Ok((started.elapsed(), answer))
    };
    eprintln!("timing POST /simulate: 1 warm-up and {} runs ...", args.runs);
    // The first simulation also parses the stored sample into the server's cache.
    let (first, answer) = rt.block_on(post())?;
    let mut times = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        times.push(rt.block_on(post())?.0);
    }
    times.sort();
    let median = times[times.len() / 2];
    let (min, max) = (times[0], times[times.len() - 1]);

    // The parts once each, in process: where the time goes.
    let t = Instant::now();
    let entries = rt.block_on(store.recent_decisions(WORKSPACE, 100_000))?;
    let read_sample = t.elapsed();
    // What a simulation reads once the sample is cached: the keys only.
    let t = Instant::now();
    let keys = rt.block_on(store.sample_keys(WORKSPACE, 100_000))?;
    let sample_keys = t.elapsed();
    // What a simulation reads when the cache is whole: the count and id sum up to its newest id.
    let t = Instant::now();
    let newest = keys.first().map_or(0, |k| k.id);
    rt.block_on(store.sample_fingerprint(WORKSPACE, newest))?;
    let sample_check = t.elapsed();
    if keys.len() != entries.len() {
        bail!("the sample has {} keys but {} entries", keys.len(), entries.len());
    }
    let author = permset_store::Author::operator("bench", "");
    let t = Instant::now();
    let (_, new) = permset_store::simulate(&snapshot, &author, &change)?;
    let compile = t.elapsed();
    let now = Utc::now();
    let t = Instant::now();
    let access = access_changes(&snapshot, &new, now);
    let access_t = t.elapsed();
    let t = Instant::now();
    let mut flipped = 0usize;
    for e in &entries {
        let (record, before) =
            (e.record.as_ref().and_then(Value::as_object), e.before.as_ref().and_then(Value::as_object));
        let request = Request { user: &e.user, permission: &e.permission, record, before, now };
        flipped += usize::from(snapshot.check(&request).is_allowed() != new.check(&request).is_allowed());
    }
    let replay_t = t.elapsed();
    let t = Instant::now();
    let views = view_changes(&snapshot, &new, now);
    let views_t = t.elapsed();
    let mut users: Vec<&str> = views.iter().map(|v| v.user.as_str()).collect();
    users.dedup();
    let cut = users.get(100).map(|u| (*u).to_owned());
    let counted: Vec<_> =
        views.iter().take_while(|v| cut.as_deref().is_none_or(|c| v.user.as_str() < c)).cloned().collect();
    let t = Instant::now();
    let counts = rt.block_on(store.count_visibility(WORKSPACE, &counted))?;
    let count_t = t.elapsed();
    rt.block_on(store.close());

    let vis = &answer["record_visibility"];
    let report = json!({
        "engine": "permset-server", "case": "simulate_role_edit",
        "users": w.model.users.len(), "roles": w.model.roles.len() + 15, "records": loaded,
        "replayed": answer["replayed"], "role_holders": held,
        "access_changes": answer["access_changes"].as_array().map_or(0, Vec::len),
        "flip_groups": answer["flips"].as_array().map_or(0, Vec::len), "flipped": flipped,
        "visibility_users_affected": vis["users_affected"], "visibility_users_counted": vis["users_counted"],
        "median_ms": ms(median), "min_ms": ms(min), "max_ms": ms(max), "runs": args.runs,
        "first_ms": ms(first),
        "parts_ms": {
            "read_sample": ms(read_sample), "sample_keys": ms(sample_keys), "sample_check": ms(sample_check), "authorize_apply_compile": ms(compile), "access_changes": ms(access_t),
            "replay": ms(replay_t), "view_changes": ms(views_t), "count_visibility": ms(count_t),
        },
        "access_rows_in_process": access.len(), "visibility_rows_in_process": counts.len(),
    });
    if args.json {
        println!("{report}");
        return Ok(());
    }
    println!(
        "what-if on {} users, {} roles, {} sampled decisions, {} records",
        w.model.users.len(),
        w.model.roles.len() + 15,
        answer["replayed"],
        loaded
    );
    println!("change: `customers_view: all` on a role held by {held} users");
    println!("answer: {} access change(s), {} flip group(s) ({flipped} decisions), record visibility for {} of {} affected user(s)",
        report["access_changes"], report["flip_groups"], vis["users_counted"], vis["users_affected"]);
    println!(
        "POST /simulate: median {:.0} ms, range {:.0}–{:.0} ms over {} runs (budget 1000 ms)",
        ms(median),
        ms(min),
        ms(max),
        args.runs
    );
    println!("first POST /simulate (parses the stored sample into the server's cache): {:.0} ms", ms(first));
    println!("parts, in process, once: read sample {:.0} ms (cached: its keys {:.0} ms, its fingerprint {:.0} ms), \
              authorize+apply+compile {:.0} ms, access changes {:.0} ms, replay {:.0} ms, view changes {:.0} ms, \
              count visibility {:.0} ms",
        ms(read_sample), ms(sample_keys), ms(sample_check), ms(compile), ms(access_t), ms(replay_t), ms(views_t), ms(count_t));
    Ok(())
}
