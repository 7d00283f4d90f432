//! `permset serve`: the HTTP API over a store (a SQLite file by default),
//! and the audit key that every command writing the store takes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use permset_store::{AuditKey, Store};

use crate::input::DEFAULT_DATABASE;

/// The environment variable that holds the audit key.
const AUDIT_KEY_ENV: &str = "PERMSET_AUDIT_KEY";

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// `sqlite://FILE` (created if missing) or `postgres://…`.
    #[arg(long, env = "PERMSET_DATABASE", default_value = DEFAULT_DATABASE)]
    pub(crate) database: String,
    /// Address to listen on.
    #[arg(long, env = "PERMSET_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// How often to poll the database for other servers' changes, in
    /// milliseconds (PostgreSQL also pushes them at once by LISTEN/NOTIFY;
    /// polling is the fallback).
    #[arg(long, env = "PERMSET_POLL_INTERVAL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    pub(crate) poll_interval_ms: u64,
    #[command(flatten)]
    pub(crate) audit_key: AuditKeyArgs,
    /// Days of usage counters and sampled decisions kept (older are deleted on flush).
    #[arg(long, env = "PERMSET_USAGE_RETENTION_DAYS", default_value_t = 90)]
    pub(crate) usage_retention_days: u32,
    /// Seconds between usage flushes: a crash loses at most this much of the counts.
    #[arg(long, env = "PERMSET_USAGE_FLUSH_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) usage_flush_seconds: u64,
    /// Do not count decisions or sample them for what-if.
    #[arg(long, env = "PERMSET_USAGE_OFF")]
    pub(crate) no_usage: bool,
    /// Memory budget of the compiled workspaces held, in MiB (0: none).
    /// Beyond it the least recently used are evicted and load again on
    /// their next request (docs/SCALING.md).
    #[arg(long, env = "PERMSET_SNAPSHOT_MEMORY_MB", default_value_t = 0)]
    pub(crate) snapshot_memory_mb: u64,
    /// A PostgreSQL hot standby (`postgres://…`) for record reads, lists,
    /// search and export, used when it has replayed what the read needs;
    /// the primary answers otherwise (docs/SCALING.md).
    #[arg(long, env = "PERMSET_READ_REPLICA", value_name = "URL")]
    pub(crate) read_replica: Option<String>,
}

/// Where the audit key comes from. The key never goes on the command line
/// (other users of the machine could read it there).
#[derive(Debug, clap::Args)]
pub(crate) struct AuditKeyArgs {
    /// A file holding the secret that keys the audit chain (HMAC-SHA256; at
    /// least 32 bytes, surrounding whitespace ignored), kept where the
    /// database cannot reach it. Or set `PERMSET_AUDIT_KEY`. Without either,
    /// the chain is unkeyed (see docs/API.md, "Audit").
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) audit_key_file: Option<PathBuf>,
}

impl AuditKeyArgs {
    /// The store, keyed when a key was given by environment or file.
    pub(crate) fn key(&self, store: Store) -> Result<Store> {
        let env = std::env::var_os(AUDIT_KEY_ENV).map(|v| v.into_encoded_bytes());
        Ok(match audit_key(env, self.audit_key_file.as_deref())? {
            Some(key) => store.with_audit_key(key),
            None => store,
        })
    }
}

/// The audit key from the environment's value or a file, not both.
fn audit_key(env: Option<Vec<u8>>, file: Option<&Path>) -> Result<Option<AuditKey>> {
    let env = env.filter(|value| !value.is_empty());
    let (secret, source) = match (env, file) {
        (Some(_), Some(_)) => {
            bail!("give the audit key once: `{AUDIT_KEY_ENV}` or `--audit-key-file`, not both")
        }
        (Some(value), None) => (value, format!("`{AUDIT_KEY_ENV}`")),
        (None, Some(path)) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the audit key file `{}`", path.display()))?;
            (bytes, format!("`{}`", path.display()))
        }
        (None, None) => return Ok(None),
    };
    let secret = secret.trim_ascii().to_vec();
    let key = AuditKey::new(secret).with_context(|| format!("the audit key in {source} is not usable"))?;
    Ok(Some(key))
}

pub(crate) async fn run(args: &Args) -> Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let store = Store::open(&args.database)
        .await
        .with_context(|| format!("cannot open the database `{}`", args.database))?;
    let store = args.audit_key.key(store)?;
    let store = match &args.read_replica {
        Some(url) => store.with_read_replica(url).context("cannot use the read replica")?,
        None => store,
    };
    let keyed = store.audit_keyed();
    let database = args.database.clone();
    let options = permset_server::ServeOptions {
        poll_interval: std::time::Duration::from_millis(args.poll_interval_ms),
        usage: permset_server::UsageSettings {
            enabled: !args.no_usage,
            flush_every: std::time::Duration::from_secs(args.usage_flush_seconds),
            retention_days: args.usage_retention_days,
            ..Default::default()
        },
        snapshot_memory: (args.snapshot_memory_mb > 0)
            .then(|| usize::try_from(args.snapshot_memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)),
    };
    permset_server::serve_with(store, args.listen, options, move |addr| {
        println!("permset serving http://{addr} (database {database})");
        println!("  admin page:  http://{addr}/admin");
        println!("  OpenAPI:     http://{addr}/v1/openapi.json");
        if keyed {
            println!("  audit chain: keyed (HMAC-SHA256)");
        } else {
            println!("  audit chain: unkeyed; set {AUDIT_KEY_ENV} or --audit-key-file to key it");
        }
        println!("next: load a sample workspace with `permset demo` (prints a key and curl lines),");
        println!(
            "      or create a key with `permset keys create --workspace NAME` and `permset apply FILE`"
        );
    })
    .await
    .with_context(|| format!("cannot serve on {}", args.listen))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_audit_key_comes_from_the_environment_or_a_file() {
        assert!(audit_key(None, None).unwrap().is_none());
        assert!(audit_key(Some(Vec::new()), None).unwrap().is_none(), "an empty variable is no key");
        assert!(audit_key(Some(SECRET.into()), None).unwrap().is_some());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        std::fs::write(&path, format!("{SECRET}\n")).unwrap();
        assert!(audit_key(None, Some(&path)).unwrap().is_some());
    }

    #[test]
    fn a_bad_audit_key_is_refused() {
        let err = audit_key(Some(SECRET.into()), Some(Path::new("k"))).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "give the audit key once: `PERMSET_AUDIT_KEY` or `--audit-key-file`, not both"
        );
        // The trailing newline does not count towards the length.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        std::fs::write(&path, "0123456789abcdef0123456789abcde\n").unwrap();
        let err = audit_key(None, Some(&path)).unwrap_err();
        assert!(
            format!("{err:#}").ends_with(
                "the audit key must be at least 32 bytes, not 31; make one with `openssl rand -hex 32`"
            ),
            "{err:#}"
        );
        let err = audit_key(None, Some(&dir.path().join("missing"))).unwrap_err();
        assert!(format!("{err:#}").starts_with("cannot read the audit key file"), "{err:#}");
    }
}
