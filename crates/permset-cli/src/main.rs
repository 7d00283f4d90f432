//! `permset`: the one binary of permset. File commands (`lint`, `check`,
//! `explain`, `permissions`) work on a workspace file with no server; the
//! others talk to a store or a running server.
//!
//! Exit codes: 0 for an answer (allow and deny alike), 1 for lint errors,
//! 2 for bad input or a failure, with the whole error chain on stderr.

mod command;
mod input;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lint(args) => command::lint::run(&args),
        Command::Check(args) => command::check::run(&args),
        Command::Explain(args) => command::explain::run(&args),
        Command::Permissions(args) => command::permissions::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
