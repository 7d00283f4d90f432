//! `permset audit`: a workspace's audit log on a running server (`GET
//! /audit`), one line per entry — sequence, time, actor, action with its
//! origin (`apply (review)` for a review's revocation), reason — or the
//! server's JSON. The chain is checked by `GET /audit/verify`, not here.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde_json::Value;

use super::remote::{answer, Server};

/// Arguments of `audit`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The workspace.
    #[arg(long)]
    pub(crate) workspace: String,
    #[command(flatten)]
    pub(crate) server: Server,
    /// Only entries after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub(crate) after: u64,
    /// At most this many entries (the server allows 1000).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: u32,
    /// Print the server's JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn run(args: &Args) -> Result<ExitCode> {
    let url = format!("{}/v1/workspaces/{}/audit", args.server.server.trim_end_matches('/'), args.workspace);
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&args.server.key)
        .query(&[("after", args.after.to_string()), ("limit", args.limit.to_string())])
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let body = answer(response).await?;
    if args.json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let log: Value = serde_json::from_str(&body).context("the server's audit log is not readable")?;
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    for e in log["entries"].as_array().into_iter().flatten() {
        let action = match e["origin"].as_str() {
            Some(origin) => format!("{} ({origin})", s(&e["action"])),
            None => s(&e["action"]),
        };
        let line = format!(
            "{:>5}  {}  {}  {action}  {}",
            e["seq"].as_u64().unwrap_or_default(),
            s(&e["at"]),
            s(&e["actor"]),
            s(&e["reason"])
        );
        println!("{}", line.trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
