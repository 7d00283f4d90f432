//! `permset-bench`: measures permset against its peers on one workload.
//!
//! One subcommand per module under `command/`: `engines` (in-process
//! decisions and rebuilds, permset vs cedar-policy vs casbin-rs). The
//! `server` and `lists` modes are to come as `command/server.rs` and
//! `command/lists.rs`.

mod command;

use clap::{Parser, Subcommand};

/// Benchmarks for permset.
#[derive(Debug, Parser)]
#[command(name = "permset-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decision and rebuild times of permset, cedar-policy and casbin-rs on the same workload.
    Engines(command::engines::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Engines(args) => command::engines::run(&args),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
