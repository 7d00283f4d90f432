//! `permset review`: the access review of a workspace on a running server
//! (`GET /review`, after `POST /usage/flush` so that it includes every
//! decision made so far) — every user's roles, how each is held, when it
//! was last used, and the flags (`unused` over the window, `expired`).
//! A table for people, `--format json` for tools, `--format csv` for auditors.
//!
//! `--propose FILE` writes the revocations the review proposes as a
//! workspace file: the server's current model (`GET /export`) with the
//! flagged assignments taken away, each by [`ModelChange::apply`] exactly as
//! the server would. That file is what `permset simulate FILE --key …`
//! previews (all four parts) and `permset apply FILE --origin review`
//! applies, recorded in the audit log as a review; the server refuses it
//! under that origin if it gives anything (say, if the workspace changed
//! since and the file would undo an assignment made in between, the plan
//! shows it as a removal, never as a grant).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, Utc};
use permset_core::{load_workspace_file, to_workspace_file, ModelChange};
use serde_json::Value;

use super::remote::{answer, Server};

/// How to print the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// A table for people.
    Table,
    /// The server's JSON.
    Json,
    /// The server's CSV: one row per user and role.
    Csv,
}

/// Arguments of `review`.
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
    /// How to print the review.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: Format,
    /// Write the proposed revocations as a workspace file for `simulate` and `apply --origin review`.
    #[arg(long)]
    pub(crate) propose: Option<PathBuf>,
}

pub(crate) async fn run(args: &Args) -> Result<ExitCode> {
    let base = format!("{}/v1/workspaces/{}", args.server.server.trim_end_matches('/'), args.workspace);
    let http = reqwest::Client::new();
    let get = |path: &str, query: Vec<(&'static str, String)>| {
        let url = format!("{base}/{path}");
        let request = http.get(&url).bearer_auth(&args.server.key).query(&query);
        async move { answer(request.send().await.with_context(|| format!("cannot reach {url}"))?).await }
    };
    let flush = format!("{base}/usage/flush");
    let response = http.post(&flush).bearer_auth(&args.server.key).send().await;
    answer(response.with_context(|| format!("cannot reach {flush}"))?).await?;
    let mut window = Vec::new();
    if let Some(since) = args.since {
        window.push(("since", since.to_rfc3339()));
    }
    if let Some(until) = args.until {
        window.push(("until", until.to_rfc3339()));
    }
    let json = get("review", window.clone()).await?;
    let review: Value = serde_json::from_str(&json).context("the server's review is not readable")?;
    match args.format {
        Format::Json => print!("{json}"),
        Format::Csv => {
            window.push(("format", "csv".to_owned()));
            print!("{}", get("review", window).await?);
        }
        Format::Table => print!("{}", table(&review)?),
    }
    if let Some(file) = &args.propose {
        let changes: Vec<ModelChange> = serde_json::from_value(review["proposed_changes"].clone())
            .context("the server's proposed changes are not readable")?;
        let exported =
            get("export", Vec::new()).await.context("reading the workspace to propose changes to")?;
        let (mut model, _) = load_workspace_file(&exported).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("the server's workspace file is not readable: {}", lines.join("; "))
        })?;
        let mut header = format!(
            "# Revocations proposed by `permset review` of `{}` at revision {} ({} to {}).\n\
             # Preview: permset simulate {} --key …   Apply: permset apply {} --origin review --key …\n",
            args.workspace,
            review["revision"],
            review["since"].as_str().unwrap_or_default(),
            review["until"].as_str().unwrap_or_default(),
            file.display(),
            file.display(),
        );
        for change in &changes {
            change.apply(&mut model).map_err(|e| anyhow::anyhow!("cannot propose `{}`: {e}", change.op()))?;
            if let ModelChange::Unassign { holder, role } = change {
                let _ = writeln!(header, "#   unassign role `{role}` from {holder}");
            }
        }
        std::fs::write(file, format!("{header}{}", to_workspace_file(&model)))
            .with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!("wrote {}: {} revocation(s)", file.display(), changes.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per user and role held: how, until when, last used, flags.
fn table(review: &Value) -> Result<String> {
    let Some(users) = review["users"].as_object() else { bail!("the server's review has no `users`") };
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut rows: Vec<[String; 5]> = Vec::new();
    for (user, u) in users {
        let owner = if u["account_owner"] == true { " (owner)" } else { "" };
        for r in u["roles"].as_array().into_iter().flatten() {
            let mut flags = Vec::new();
            if r["flags"]["unused"] == true {
                flags.push("UNUSED");
            }
            if r["flags"]["expired"] == true {
                flags.push("EXPIRED");
            }
            let until = r["expires_at"].as_str().map_or(String::new(), |t| format!(" until {t}"));
            let last = r["last_used"].as_str().map_or("never".to_owned(), str::to_owned);
            rows.push([
                format!("{user}{owner}"),
                s(&r["role"]),
                format!("{}{until}", s(&r["held"])),
                last,
                flags.join(" "),
            ]);
        }
    }
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths = [width(0).max(4), width(1).max(4), width(2).max(4), width(3).max(9)];
    let mut out = format!(
        "review of `{}` from {} to {}\n",
        s(&review["workspace"]),
        s(&review["since"]),
        s(&review["until"])
    );
    let head =
        ["user".to_owned(), "role".to_owned(), "held".to_owned(), "last used".to_owned(), "flags".to_owned()];
    for row in std::iter::once(&head).chain(&rows) {
        let [a, b, c, d, e] = row;
        let line = format!(
            "  {a:w0$}  {b:w1$}  {c:w2$}  {d:w3$}  {e}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let proposed = review["proposed_changes"].as_array().map_or(0, Vec::len);
    let flagged = rows.iter().filter(|r| !r[4].is_empty()).count();
    let _ =
        writeln!(out, "{} role(s) held, {flagged} flagged, {proposed} revocation(s) proposed", rows.len());
    Ok(out)
}
