//! `permset demo`: loads a realistic support workspace — the seed articles'
//! roles, teams, agents and portal customers, two custom objects (orders,
//! contracts) and thousands of records — into the database, and prints a
//! key with the curl lines that show what a restricted agent sees.
//!
//! Everything goes through the store's public API: the model is applied as
//! one audited change and every record is created as the account owner, so
//! the demo exercises the same validation as any client.

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use permset_core::{load_workspace_file, Assignment, Model, Record, User, UserKind};
use permset_store::{KeySpec, Store};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::command::keys::ensure_workspace;
use crate::input::DEFAULT_DATABASE;

const BASE: &str = include_str!("../demo.yaml");
const OWNER: &str = "olivia";
const REGIONS: [&str; 3] = ["emea", "amer", "apac"];

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// `sqlite://FILE` or `postgres://…` (the same database `permset serve` uses).
    #[arg(long, env = "PERMSET_DATABASE", default_value = DEFAULT_DATABASE)]
    pub(crate) database: String,
    #[command(flatten)]
    pub(crate) audit_key: crate::command::serve::AuditKeyArgs,
    /// How many conversations to create (customers, orders and the rest scale with it).
    #[arg(long, default_value_t = 2000)]
    pub(crate) conversations: usize,
    /// The server the printed curl lines point at.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub(crate) server: String,
}

/// The demo model: the base file plus generated agents and end users.
fn model(rng: &mut StdRng) -> Result<Model> {
    let (mut model, _) = load_workspace_file(BASE).map_err(|e| anyhow::anyhow!("demo.yaml: {e:?}"))?;
    let teams = ["tier1", "tier2", "emea", "amer", "apac"];
    let roles = ["support_agent", "restricted_user", "group_agent", "light_agent", "set_a"];
    for i in 1..=40 {
        let key = format!("agent{i:02}");
        let region = REGIONS[i % 3];
        let team = teams[i % teams.len()];
        let user = User { teams: vec![team.to_owned(), region.to_owned()], ..User::default() };
        let mut user = user;
        user.attributes.insert("region".into(), json!(region));
        model.users.insert(key.clone(), user);
        let role = roles.choose(rng).copied().unwrap_or("support_agent");
        model.assignments.users.insert(key, vec![Assignment::new(role)]);
    }
    for i in 1..=60 {
        let key = format!("customer{i:02}");
        model.users.insert(key.clone(), User { kind: UserKind::EndUser, ..User::default() });
        model
            .assignments
            .users
            .insert(key, vec![Assignment::new("customer"), Assignment::new("portal_orders")]);
    }
    Ok(model)
}

fn one_of(rng: &mut StdRng, items: &[&'static str]) -> &'static str {
    items.choose(rng).copied().unwrap_or_default()
}

fn pick<'a>(rng: &mut StdRng, items: &'a [String]) -> &'a str {
    items.choose(rng).map_or("", String::as_str)
}

pub(crate) async fn run(args: &Args) -> Result<ExitCode> {
    let store =
        Store::open(&args.database).await.with_context(|| format!("cannot open `{}`", args.database))?;
    let store = args.audit_key.key(store)?;
    let mut rng = StdRng::seed_from_u64(7);
    let model = model(&mut rng)?;
    ensure_workspace(&store, &model.workspace).await?;
    let plan =
        store.apply(&model.workspace, "permset demo", &model, "load the demo workspace", false).await?;
    eprintln!("applied the demo model: {} change(s)", plan.changes.len());
    let snapshot = store.snapshot(&model.workspace).await?;
    let agents: Vec<String> =
        model.users.iter().filter(|(_, u)| u.kind == UserKind::Agent).map(|(k, _)| k.clone()).collect();
    let end_users: Vec<String> =
        model.users.iter().filter(|(_, u)| u.kind == UserKind::EndUser).map(|(k, _)| k.clone()).collect();
    let teams: Vec<String> = model.teams.keys().cloned().collect();

    let n = args.conversations.max(10);
    let total = n / 10 + n / 2 + n + n / 2 + n / 20;
    let bar = ProgressBar::new(total as u64);
    bar.set_style(ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")?);
    let now = Utc::now();
    let create = |object: &'static str, fields: Record| {
        let (store, snapshot, bar) = (store.clone(), &snapshot, bar.clone());
        async move {
            bar.set_message(object);
            let record = store.create_record(snapshot, OWNER, object, fields, now).await?;
            bar.inc(1);
            anyhow::Ok(record.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_owned())
        }
    };
    let mut companies = Vec::new();
    for i in 0..n / 10 {
        let fields = json!({ "name": format!("Company {i}"), "domain": format!("company{i}.example"),
            "owner": pick(&mut rng, &agents), "owner_team": pick(&mut rng, &teams) });
        companies.push(create("companies", as_record(fields)).await?);
    }
    let mut customers = Vec::new();
    for i in 0..n / 2 {
        let fields = json!({ "name": format!("Customer {i}"), "email": format!("c{i}@example.com"),
            "tier": one_of(&mut rng, &["basic", "standard", "vip"]), "region": one_of(&mut rng, &REGIONS),
            "company": pick(&mut rng, &companies), "assignee": pick(&mut rng, &agents),
            "assignee_team": pick(&mut rng, &teams), "ssn": format!("{:03}-{:02}-{:04}", i % 1000, i % 100, i) });
        customers.push(create("customers", as_record(fields)).await?);
    }
    for i in 0..n {
        let fields = json!({ "subject": format!("Question #{i}"), "status": one_of(&mut rng, &["open", "snoozed", "closed"]),
            "priority": one_of(&mut rng, &["low", "normal", "high", "urgent"]), "customer": pick(&mut rng, &customers),
            "requester": pick(&mut rng, &end_users), "assignee": pick(&mut rng, &agents), "assignee_team": pick(&mut rng, &teams),
            "created_at": (now - chrono::Duration::minutes(i as i64 * 7)).to_rfc3339() });
        create("conversations", as_record(fields)).await?;
    }
    for i in 0..n / 2 {
        let fields = json!({ "number": format!("#{}", 10_000 + i), "status": one_of(&mut rng, &["placed", "shipped", "returned"]),
            "total": rng.gen_range(5..2_000), "customer": pick(&mut rng, &customers), "region": one_of(&mut rng, &REGIONS),
            "owner": pick(&mut rng, &end_users) });
        create("orders", as_record(fields)).await?;
    }
    for i in 0..n / 20 {
        let fields = json!({ "title": format!("Contract {i}"), "customer": pick(&mut rng, &customers),
            "value": rng.gen_range(1_000..100_000), "owner": pick(&mut rng, &agents) });
        create("contracts", as_record(fields)).await?;
    }
    bar.finish_with_message("records");
    store.refresh_statistics().await?;

    let spec = KeySpec { user: None, role: None, label: "permset demo".into(), expires_at: None };
    let (_, secret) = store.create_key(&model.workspace, "permset demo", spec).await?;
    let base = format!("{}/v1/workspaces/{}", args.server.trim_end_matches('/'), model.workspace);
    println!("demo workspace `{}` loaded: {} users, {total} records", model.workspace, model.users.len());
    println!("service key (shown once): {secret}\n");
    println!("export PERMSET_KEY={secret}");
    println!("# rita is a Restricted User: she lists only the conversations assigned to her");
    println!("curl -s -H \"authorization: Bearer $PERMSET_KEY\" -H 'x-permset-user: rita' '{base}/objects/conversations/records?limit=5'");
    println!("# why may bob not update a basic customer?");
    println!("curl -s -H \"authorization: Bearer $PERMSET_KEY\" -H 'content-type: application/json' '{base}/explain' \\");
    println!(
        "  -d '{{\"user\":\"bob\",\"permission\":\"customers_update\",\"record\":{{\"tier\":\"basic\"}}}}'"
    );
    println!(
        "# the admin console (this key, acting user olivia): {}/admin",
        args.server.trim_end_matches('/')
    );
    Ok(ExitCode::SUCCESS)
}

fn as_record(value: serde_json::Value) -> Record {
    match value {
        serde_json::Value::Object(map) => map,
        _ => Record::new(),
    }
}
