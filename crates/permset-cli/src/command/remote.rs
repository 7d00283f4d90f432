//! `permset apply` and `permset export`: a workspace file to and from a running server.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::input;
use crate::plan::Plan;

/// Where the server is and how to authenticate.
#[derive(Debug, clap::Args)]
pub(crate) struct Server {
    /// The server's base URL.
    #[arg(long, env = "PERMSET_SERVER", default_value = "http://127.0.0.1:8080")]
    pub(crate) server: String,
    /// An API key of the workspace (a service key or an account owner's).
    #[arg(long, env = "PERMSET_KEY")]
    pub(crate) key: String,
}

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub(crate) struct ApplyArgs {
    /// The workspace file; its `workspace:` names the target.
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) server: Server,
    /// Change nothing; show what the change would do: the server's
    /// simulation, all four parts as `permset simulate FILE --key` shows them
    /// (`--format markdown`: the plan only).
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Why (kept in the audit log).
    #[arg(long, default_value = "")]
    pub(crate) reason: String,
    /// Where the change comes from, kept in the audit log: `review` for the
    /// revocations `permset review --propose` wrote (the server then refuses
    /// a file that gives anything).
    #[arg(long)]
    pub(crate) origin: Option<String>,
    /// How to print the plan: lines, JSON, or a Markdown summary for a pull
    /// request (with `--dry-run`, text and JSON are the simulation's).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: super::plan::Format,
}

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// The workspace.
    #[arg(long)]
    pub(crate) workspace: String,
    #[command(flatten)]
    pub(crate) server: Server,
}

pub(crate) async fn answer(response: reqwest::Response) -> Result<String> {
    let status = response.status();
    let body = response.text().await.context("cannot read the server's answer")?;
    if status.is_success() {
        return Ok(body);
    }
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or(body);
    bail!("the server answered {status}: {message}")
}

pub(crate) async fn apply(args: &ApplyArgs) -> Result<ExitCode> {
    use super::plan::Format;
    // A dry run is a simulation: the same request and rendering as `permset simulate FILE --key`.
    if args.dry_run && args.format != Format::Markdown {
        let (server, key, origin) = (&args.server.server, &args.server.key, args.origin.as_deref());
        return super::simulate::online(&args.file, server, key, origin, args.format == Format::Json).await;
    }
    let (model, _) = input::read_model(&args.file)?;
    let text = std::fs::read_to_string(&args.file)?;
    let url = format!("{}/v1/workspaces/{}/apply", args.server.server.trim_end_matches('/'), model.workspace);
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.server.key)
        .header("content-type", "application/yaml")
        .query(&[
            ("dry_run", args.dry_run.to_string()),
            ("reason", args.reason.clone()),
            ("origin", args.origin.clone().unwrap_or_default()),
        ])
        .body(text)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let plan: Plan =
        serde_json::from_str(&answer(response).await?).context("the server's plan is not readable")?;
    if args.format != Format::Text {
        super::plan::print(&plan, args.format, "")?;
        return Ok(ExitCode::SUCCESS);
    }
    for change in &plan.changes {
        println!("{}", change.description);
    }
    match plan.to_revision {
        Some(revision) => {
            println!("applied {} change(s); workspace now at revision {revision}", plan.changes.len())
        }
        None => println!("no changes"),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn export(args: &ExportArgs) -> Result<ExitCode> {
    let url = format!("{}/v1/workspaces/{}/export", args.server.server.trim_end_matches('/'), args.workspace);
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&args.server.key)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    print!("{}", answer(response).await?);
    Ok(ExitCode::SUCCESS)
}
