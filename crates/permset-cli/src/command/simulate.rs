//! `permset simulate`: what-if for a workspace file.
//!
//! Offline (`--against OLD`): what replacing one workspace file with another
//! would change (the plan lines of `permset_core::diff`) and who would gain
//! or lose which permission ([`permset_core::access_changes`]). Both files
//! are compiled at the same `now`, so an expiring assignment counts the same
//! on both sides.
//!
//! Online (`--key`, no `--against`): the file is sent to the server's
//! `POST /simulate` as a `replace` change, which answers all four parts —
//! the plan, access changes, the sampled decisions that would flip, and the
//! records each user would gain or lose sight of — authorised exactly as
//! applying the file would be. Nothing is written. `permset apply --dry-run`
//! is the same request and the same rendering.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use permset_core::{access_changes, ModelChange, UserAccessChange};
use serde_json::Value;

use super::remote::answer;
use crate::input;
use crate::plan::{self, Plan};

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The proposed workspace file.
    pub(crate) file: PathBuf,
    /// The workspace file it would replace (offline); without it, ask the server (`--key`).
    #[arg(long)]
    pub(crate) against: Option<PathBuf>,
    /// The server's base URL (online).
    #[arg(long, env = "PERMSET_SERVER", default_value = "http://127.0.0.1:8080")]
    pub(crate) server: String,
    /// An API key of the workspace (online): the file is simulated as this key would apply it.
    #[arg(long, env = "PERMSET_KEY")]
    pub(crate) key: Option<String>,
    /// Simulate the file as a review's revocation (online; `apply --origin review`).
    #[arg(long)]
    pub(crate) origin: Option<String>,
    /// Print the answer as JSON (offline: `{ workspace, plan, access_changes }`; online: the server's).
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn run(args: &Args) -> Result<ExitCode> {
    match (&args.against, &args.key) {
        (Some(against), _) => offline(args, against),
        (None, Some(key)) => online(&args.file, &args.server, key, args.origin.as_deref(), args.json).await,
        (None, None) => {
            bail!("give `--against OLD.yaml` to compare two files, or `--key KEY` to ask a server (all four parts)")
        }
    }
}

/// `POST /simulate` with `file` as a `replace` change, as `key` would apply
/// it (marked with `origin`); prints the four parts, or the server's JSON.
/// Also `permset apply --dry-run`, so that both show the same answer.
pub(crate) async fn online(
    file: &Path,
    server: &str,
    key: &str,
    origin: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let (model, _) = input::read_model(file)?;
    let url = format!("{}/v1/workspaces/{}/simulate", server.trim_end_matches('/'), model.workspace);
    let change = ModelChange::Replace { model: Box::new(model) };
    let mut request = reqwest::Client::new().post(&url).bearer_auth(key).json(&change);
    if let Some(origin) = origin {
        request = request.header("x-permset-origin", origin);
    }
    let response = request.send().await.with_context(|| format!("cannot reach {url}"))?;
    let body = answer(response).await?;
    if json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let answer: Value = serde_json::from_str(&body).context("the server's answer is not readable")?;
    print!("{}", online_text(&answer)?);
    Ok(ExitCode::SUCCESS)
}

/// The four parts for people.
fn online_text(answer: &Value) -> Result<String> {
    let plan: Plan =
        serde_json::from_value(answer["plan"].clone()).context("the server's plan is not readable")?;
    let access: Vec<UserAccessChange> = serde_json::from_value(answer["access_changes"].clone())
        .context("the server's access changes are not readable")?;
    let mut out = plan::text(&plan, "plan");
    out.push_str(&text(&access));
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let flips = answer["flips"].as_array().map(Vec::as_slice).unwrap_or_default();
    for f in flips {
        let _ = writeln!(
            out,
            "  {}  {}  {} → {}  {} decision(s)",
            s(&f["user"]),
            s(&f["permission"]),
            s(&f["from"]),
            s(&f["to"]),
            f["count"]
        );
    }
    let _ =
        writeln!(out, "flips: {} group(s) among {} replayed decision(s)", flips.len(), answer["replayed"]);
    let vis = &answer["record_visibility"];
    let rows = vis["changes"].as_array().map(Vec::as_slice).unwrap_or_default();
    for r in rows {
        let _ = writeln!(
            out,
            "  {}  {}  +{} −{} record(s)",
            s(&r["user"]),
            s(&r["object"]),
            r["gained"],
            r["lost"]
        );
    }
    let counted = if vis["counted"] == true {
        format!("{} counted", vis["users_counted"])
    } else {
        "not counted (for owners, administrators and service keys)".to_owned()
    };
    let cap = if vis["truncated"] == true {
        format!(", stopped at the cap of {}", vis["cap"])
    } else {
        String::new()
    };
    let _ = writeln!(out, "records: {} user(s) see other records, {counted}{cap}", vis["users_affected"]);
    Ok(out)
}

fn offline(args: &Args, against: &Path) -> Result<ExitCode> {
    let now = chrono::Utc::now();
    let new = input::compile(&args.file, now)?.snapshot;
    let old = input::compile(against, now)?.snapshot;
    if old.workspace() != new.workspace() {
        bail!(
            "`{}` is workspace `{}` but `{}` is workspace `{}`; a simulation compares two versions of one workspace",
            args.file.display(),
            new.workspace(),
            against.display(),
            old.workspace()
        );
    }
    let changes = permset_core::diff(old.model(), new.model()).into_iter().map(Into::into).collect();
    let plan = Plan {
        workspace: new.workspace().to_owned(),
        from_revision: None,
        to_revision: None,
        changes,
        access_changes: Vec::new(),
    };
    let access = access_changes(&old, &new, now);
    if args.json {
        let out = serde_json::json!({ "workspace": new.workspace(), "plan": plan, "access_changes": access });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", plan::text(&plan, "plan"));
        print!("{}", text(&access));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per (user, permission): `  lena  customers_view  own → all`.
fn text(access: &[UserAccessChange]) -> String {
    let width = |f: fn(&UserAccessChange) -> usize| access.iter().map(f).max().unwrap_or(0);
    let (users, perms) = (width(|c| c.user.len()), width(|c| c.permission.len()));
    let mut out = String::new();
    for c in access {
        let before = c.before.as_deref().unwrap_or("none");
        let after = c.after.as_deref().unwrap_or("none");
        let _ = writeln!(out, "  {:users$}  {:perms$}  {before} → {after}", c.user, c.permission);
    }
    let mut people: Vec<&str> = access.iter().map(|c| c.user.as_str()).collect();
    people.dedup();
    let _ = writeln!(out, "access: {} change(s) for {} user(s)", access.len(), people.len());
    out
}
