//! `permset-bench`: measures permset against its peers on one workload.
//!
//! One subcommand per module under `command/`: `engines` (in-process
//! decisions and rebuilds, permset vs cedar-policy vs casbin-rs), `server`
//! (decisions through `permset serve` over loopback), `lists` (the first
//! page of a filtered list over many records, SQLite and PostgreSQL),
//! `memory` (compile time and peak RSS of a million-user workspace),
//! `simulate` (what-if on 10,000 users and 100,000 sampled decisions),
//! `console` (each admin console page's time to interactive in Chromium on
//! 1,000 roles and 10,000 users), `soak` (two servers on PostgreSQL under
//! injected faults), `fuzz` (long runs of the fuzz targets), `tenants`
//! (10,000 workspaces under a snapshot memory budget) and `propagation`
//! (a change's delay from one server to another by LISTEN/NOTIFY).

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
    /// Decisions/s through `check/batch` and single-check latency under load, over HTTP.
    Server(command::server::Args),
    /// First page of a filtered list over many records, against fetch-then-filter.
    Lists(command::lists::Args),
    /// Compile time and memory (peak RSS) of a workspace of a million users.
    Memory(command::memory::Args),
    /// What-if (`POST /simulate`) of a role edit on 10,000 users, 60 roles, 100,000 sampled decisions.
    Simulate(command::simulate::Args),
    /// Each admin console page's time to interactive in Chromium on a large workspace.
    Console(command::console::Args),
    /// Two servers on one PostgreSQL under mixed traffic, SIGKILLs and connection terminations.
    Soak(command::soak::Args),
    /// The fuzz targets (permset-fuzz) for a bounded time each.
    Fuzz(command::fuzz::Args),
    /// Many workspaces on one server under a snapshot memory budget: memory and cold first decisions.
    Tenants(command::tenants::Args),
    /// How long a change made through one server takes to be in force on another (LISTEN/NOTIFY).
    Propagation(command::propagation::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Engines(args) => command::engines::run(&args),
        Command::Server(args) => command::server::run(&args),
        Command::Lists(args) => command::lists::run(&args),
        Command::Memory(args) => command::memory::run(&args),
        Command::Simulate(args) => command::simulate::run(&args),
        Command::Console(args) => command::console::run(&args),
        Command::Soak(args) => command::soak::run(&args),
        Command::Fuzz(args) => command::fuzz::run(&args),
        Command::Tenants(args) => command::tenants::run(&args),
        Command::Propagation(args) => command::propagation::run(&args),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
