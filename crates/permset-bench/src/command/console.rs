//! `permset-bench console`: how long each admin console page takes to become
//! interactive on a large workspace (by default 1,000 roles and 10,000 users,
//! the target of DESIGN.md §7: 300 ms).
//!
//! The server runs in this process (`permset_server::serve_with` on
//! 127.0.0.1:0 over a SQLite temp file, as in the `server` mode) with the
//! generated workspace (`model_with`: the 15 system roles plus custom ones,
//! 200 teams) and a user key of an account owner, who sees every page whole.
//! `console/console.mjs` then drives Debian's Chromium through Playwright
//! (the browser test's `node_modules`, `npm ci` in
//! crates/permset-server/tests/browser) and reads the console's own
//! Performance API marks: for each page, a cold load (a new tab, from
//! navigation start to the page's list drawn), an in-app navigation (from the
//! route's start to drawn), and typing into the page's filter. It prints the
//! median and range of each over `--runs` runs (docs/BENCHMARKS.md).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use permset_bench::model_with;
use permset_store::{KeySpec, Store};

use super::serving::serve_in;

/// Options of `console`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Users in the generated workspace.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Roles in all (the 15 system roles included).
    #[arg(long, default_value_t = 1_000)]
    roles: usize,
    /// Teams in the generated workspace.
    #[arg(long, default_value_t = 200)]
    teams: usize,
    /// Measured runs per page (after one warm-up run).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// The Chromium to drive.
    #[arg(long, env = "CHROMIUM", default_value = "/usr/bin/chromium")]
    chromium: PathBuf,
}

const WORKSPACE: &str = "bench";
/// The generator's first user is an account owner.
const OWNER: &str = "u00000";

pub(crate) fn run(args: &Args) -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("console/console.mjs");
    let modules = root.join("../permset-server/tests/browser");
    if !modules.join("node_modules/playwright-core").exists() {
        bail!("no playwright-core in {}: run `npm ci` there first", modules.display());
    }
    if !args.chromium.exists() {
        bail!("no chromium at `{}` (apt-get install -y chromium, or --chromium)", args.chromium.display());
    }
    if args.roles < 16 || args.runs == 0 {
        bail!("--roles must be at least 16 (15 are system roles) and --runs at least 1");
    }

    let t = Instant::now();
    let model = model_with(args.seed, args.users, args.teams, args.roles - 15);
    eprintln!(
        "workspace: {} users, {} custom roles + 15 system, {} teams ({:.1?})",
        model.users.len(),
        model.roles.len(),
        model.teams.len(),
        t.elapsed()
    );

    let dir = tempfile::tempdir().context("temp dir")?;
    let url = format!("sqlite://{}", dir.path().join("permset.db").display());
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()?;
    let t = Instant::now();
    let (store, secret) = server_rt.block_on(async {
        let store = Store::open(&url).await?;
        store.create_workspace(WORKSPACE, "bench").await?;
        store.apply(WORKSPACE, "bench", &model, "console benchmark workspace", false).await?;
        let spec =
            KeySpec { user: Some(OWNER.into()), role: None, label: "console bench".into(), expires_at: None };
        let (_, secret) = store.create_key(WORKSPACE, "bench", spec).await?;
        anyhow::Ok((store, secret))
    })?;
    eprintln!("store: workspace applied, key created ({:.1?})", t.elapsed());
    let addr = serve_in(&server_rt, store, permset_server::ServeOptions::default(), Duration::from_secs(30))?;
    eprintln!("server: listening on {addr}; driving {} ...", args.chromium.display());

    // The browser runs as a child; the server keeps answering on its own runtime meanwhile.
    let status = Command::new("node")
        .arg(&script)
        .env("BASE", format!("http://{addr}"))
        .env("WS", WORKSPACE)
        .env("KEY", &secret)
        .env("ACTOR", OWNER)
        .env("RUNS", args.runs.to_string())
        .env("JSON", if args.json { "1" } else { "" })
        .env("BROWSER_MODULES", &modules)
        .env("CHROMIUM", &args.chromium)
        .status()
        .context("cannot run node")?;
    server_rt.shutdown_timeout(Duration::from_secs(2));
    if !status.success() {
        bail!("the browser run failed ({status})");
    }
    Ok(())
}
