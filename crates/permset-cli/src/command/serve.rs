//! `permset serve`: the HTTP API over a store (a SQLite file by default).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::input::DEFAULT_DATABASE;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// `sqlite://FILE` (created if missing) or `postgres://…`.
    #[arg(long, env = "PERMSET_DATABASE", default_value = DEFAULT_DATABASE)]
    pub(crate) database: String,
    /// Address to listen on.
    #[arg(long, env = "PERMSET_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
}

pub(crate) async fn run(args: &Args) -> Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let store = permset_store::Store::open(&args.database)
        .await
        .with_context(|| format!("cannot open the database `{}`", args.database))?;
    let database = args.database.clone();
    permset_server::serve(store, args.listen, move |addr| {
        println!("permset serving http://{addr} (database {database})");
        println!("  admin page:  http://{addr}/admin");
        println!("  OpenAPI:     http://{addr}/v1/openapi.json");
        println!("next: load a sample workspace with `permset demo` (prints a key and curl lines),");
        println!(
            "      or create a key with `permset keys create --workspace NAME` and `permset apply FILE`"
        );
    })
    .await
    .with_context(|| format!("cannot serve on {}", args.listen))?;
    Ok(ExitCode::SUCCESS)
}
