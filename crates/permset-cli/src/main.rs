//! `permset`: the one binary of permset. File commands (`lint`, `check`,
//! `explain`, `permissions`, `test`, `plan`) work on workspace files with no
//! server; the others talk to a store or a running server.
//!
//! Exit codes: 0 for an answer (allow and deny alike), 1 for lint errors or
//! failing policy tests, 2 for bad input or a failure, with the whole error
//! chain on stderr.

mod command;
mod input;
mod plan;
mod policy_test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Runs an async command on a multi-threaded runtime (file commands need none).
fn block_on(future: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(future)
}

/// permset: permission sets for customer-service and CRM platforms.
#[derive(Debug, Parser)]
#[command(name = "permset", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a workspace file: errors and warnings as `FILE:LINE: error|warning: message`.
    Lint(command::lint::Args),
    /// Decide one request on a workspace file; prints `allow` or `deny` first.
    Check(command::check::RequestArgs),
    /// Decide one request and show why: the path of an allow, the near misses of a deny.
    Explain(command::explain::Args),
    /// A user's effective permissions as a module × action table.
    Permissions(command::permissions::Args),
    /// Run policy test suites (`*.permset-test.yaml`) against a workspace file, with grant coverage.
    Test(command::test::Args),
    /// Serve the HTTP API (SQLite file in the current folder by default).
    Serve(command::serve::Args),
    /// Load a realistic support workspace with thousands of records, and print a key.
    Demo(command::demo::Args),
    /// Create, list or revoke API keys (directly in the database).
    Keys(command::keys::Args),
    /// Apply a workspace file to a running server (with --dry-run, show what it would do: `simulate`'s answer).
    Apply(command::remote::ApplyArgs),
    /// Offline plan: what applying FILE over --against OLD would change (text, JSON or Markdown).
    Plan(command::plan::Args),
    /// What-if of a workspace file: offline over --against OLD (plan, access), or on a server with --key (all four parts).
    Simulate(command::simulate::Args),
    /// Print a workspace of a running server as a workspace file.
    Export(command::remote::ExportArgs),
    /// Usage report of a running server's workspace: grants used and unused, powerful holders, denies.
    Usage(command::usage::Args),
    /// Access review of a running server's workspace: roles, how held, last used, flags; --propose writes the revocations.
    Review(command::review::Args),
    /// Audit log of a running server's workspace: who changed what, when, why, and from what origin.
    Audit(command::audit::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lint(args) => command::lint::run(&args),
        Command::Check(args) => command::check::run(&args),
        Command::Explain(args) => command::explain::run(&args),
        Command::Permissions(args) => command::permissions::run(&args),
        Command::Test(args) => command::test::run(&args),
        Command::Serve(args) => block_on(command::serve::run(&args)),
        Command::Demo(args) => block_on(command::demo::run(&args)),
        Command::Keys(args) => block_on(command::keys::run(&args)),
        Command::Apply(args) => block_on(command::remote::apply(&args)),
        Command::Plan(args) => command::plan::run(&args),
        Command::Simulate(args) => block_on(command::simulate::run(&args)),
        Command::Export(args) => block_on(command::remote::export(&args)),
        Command::Usage(args) => block_on(command::usage::run(&args)),
        Command::Review(args) => block_on(command::review::run(&args)),
        Command::Audit(args) => block_on(command::audit::run(&args)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            if std::env::var_os("RUST_LOG").is_some() {
                eprintln!("{error:?}");
            }
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
