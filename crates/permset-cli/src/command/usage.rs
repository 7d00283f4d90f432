//! `permset usage`: the usage report of a workspace on a running server
//! (`GET /usage`, after `POST /usage/flush` so that it includes every
//! decision made so far): grants used and unused, powerful holders, denies.
//! Text for people, `--json` for tools, `--csv` for auditors.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::remote::{answer, Server};

/// Arguments of `usage`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The workspace.
    #[arg(long)]
    pub(crate) workspace: String,
    #[command(flatten)]
    pub(crate) server: Server,
    /// Start of the window (RFC 3339; default: the server's retention).
    #[arg(long)]
    pub(crate) since: Option<DateTime<Utc>>,
    /// End of the window (RFC 3339; default now).
    #[arg(long)]
    pub(crate) until: Option<DateTime<Utc>>,
    /// Print the server's CSV.
    #[arg(long, conflicts_with = "json")]
    pub(crate) csv: bool,
    /// Print the server's JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn run(args: &Args) -> Result<ExitCode> {
    let base = format!("{}/v1/workspaces/{}", args.server.server.trim_end_matches('/'), args.workspace);
    let http = reqwest::Client::new();
    let flush = format!("{base}/usage/flush");
    let response = http
        .post(&flush)
        .bearer_auth(&args.server.key)
        .send()
        .await
        .with_context(|| format!("cannot reach {flush}"))?;
    answer(response).await?;
    let url = format!("{base}/usage");
    let mut query = vec![("format", if args.csv { "csv" } else { "json" }.to_owned())];
    if let Some(since) = args.since {
        query.push(("since", since.to_rfc3339()));
    }
    if let Some(until) = args.until {
        query.push(("until", until.to_rfc3339()));
    }
    let response = http
        .get(&url)
        .bearer_auth(&args.server.key)
        .query(&query)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let body = answer(response).await?;
    if args.csv || args.json {
        print!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let report: Value = serde_json::from_str(&body).context("the server's report is not readable")?;
    print!("{}", text(&report)?);
    Ok(ExitCode::SUCCESS)
}

fn text(report: &Value) -> Result<String> {
    let rows = |name: &str| -> Result<&Vec<Value>> {
        match report[name].as_array() {
            Some(rows) => Ok(rows),
            None => bail!("the server's report has no `{name}`"),
        }
    };
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut out = format!(
        "usage of `{}` from {} to {}\n",
        s(&report["workspace"]),
        s(&report["since"]),
        s(&report["until"])
    );
    out.push_str("grants used:\n");
    for g in rows("grants")? {
        let role = if s(&g["role"]).is_empty() { "(account owner)".to_owned() } else { s(&g["role"]) };
        out.push_str(&format!(
            "  {role}  {} {}  {}  {} allow(s), last {}\n",
            s(&g["permission"]),
            s(&g["access"]),
            s(&g["via"]),
            g["allows"],
            s(&g["last_used"])
        ));
    }
    let unused = rows("unused_grants")?;
    out.push_str(&format!("unused grants: {}\n", unused.len()));
    for g in unused {
        let holders: Vec<String> = g["holders"].as_array().into_iter().flatten().map(s).collect();
        out.push_str(&format!(
            "  {}  {} {}  held by {}\n",
            s(&g["role"]),
            s(&g["permission"]),
            s(&g["access"]),
            holders.join(", ")
        ));
    }
    out.push_str("powerful holders:\n");
    for p in rows("powerful")? {
        let what = if p["field"].is_string() {
            format!("{} {} ({})", s(&p["field"]), s(&p["access"]), s(&p["reason"]))
        } else if p["permission"].is_null() {
            s(&p["reason"])
        } else {
            format!("{} {}", s(&p["permission"]), s(&p["access"]))
        };
        out.push_str(&format!("  {}  {what}\n", s(&p["user"])));
    }
    out.push_str("denies:\n");
    for d in rows("denies")? {
        out.push_str(&format!(
            "  {}  {}  {} deny(ies), last {}\n",
            s(&d["user"]),
            s(&d["permission"]),
            d["denies"],
            s(&d["last_denied"])
        ));
    }
    Ok(out)
}
