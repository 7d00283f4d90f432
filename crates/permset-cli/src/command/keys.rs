//! `permset keys`: create, list and revoke API keys, straight in the database
//! (this is how the first key of a workspace comes to exist; no secret is
//! ever built in).

use std::process::ExitCode;

use anyhow::{Context, Result};
use permset_store::{KeySpec, Store, StoreError};

use crate::input::DEFAULT_DATABASE;

/// Arguments of `keys`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) action: Action,
    /// `sqlite://FILE` or `postgres://…`.
    #[arg(long, global = true, env = "PERMSET_DATABASE", default_value = DEFAULT_DATABASE)]
    pub(crate) database: String,
    #[command(flatten)]
    pub(crate) audit_key: crate::command::serve::AuditKeyArgs,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Action {
    /// Create a key; prints its secret once. Creates the workspace if it does not exist.
    Create {
        /// The workspace.
        #[arg(long)]
        workspace: String,
        /// Act as this user (a user key); without it, a service key.
        #[arg(long)]
        user: Option<String>,
        /// Limit the key to this role (intersection with the user's permissions).
        #[arg(long)]
        role: Option<String>,
        /// A label for people.
        #[arg(long, default_value = "")]
        label: String,
        /// The key stops working at this RFC 3339 time.
        #[arg(long)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// List a workspace's keys (never their secrets).
    List {
        /// The workspace.
        #[arg(long)]
        workspace: String,
    },
    /// Revoke a key by id.
    Revoke {
        /// The workspace.
        #[arg(long)]
        workspace: String,
        /// The key id (`key_…`).
        id: String,
    },
}

const ACTOR: &str = "permset keys (command line)";

pub(crate) async fn run(args: &Args) -> Result<ExitCode> {
    let store =
        Store::open(&args.database).await.with_context(|| format!("cannot open `{}`", args.database))?;
    let store = args.audit_key.key(store)?;
    match &args.action {
        Action::Create { workspace, user, role, label, expires_at } => {
            ensure_workspace(&store, workspace).await?;
            let spec = KeySpec {
                user: user.clone(),
                role: role.clone(),
                label: label.clone(),
                expires_at: *expires_at,
            };
            let (key, secret) = store.create_key(workspace, ACTOR, spec).await?;
            eprintln!("created key `{}` for workspace `{workspace}`; the secret is shown only now:", key.id);
            println!("{secret}");
        }
        Action::List { workspace } => {
            for key in store.list_keys(workspace).await? {
                let user = key.user.as_deref().unwrap_or("(service)");
                let role = key.role.as_deref().unwrap_or("-");
                println!(
                    "{}  user={user}  role={role}  {}  {}",
                    key.id,
                    key.created_at.to_rfc3339(),
                    key.label
                );
            }
        }
        Action::Revoke { workspace, id } => {
            store.revoke_key(workspace, ACTOR, id).await?;
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the workspace if it is missing.
pub(crate) async fn ensure_workspace(store: &Store, workspace: &str) -> Result<()> {
    match store.create_workspace(workspace, ACTOR).await {
        Ok(_) => {
            eprintln!("created workspace `{workspace}`");
            Ok(())
        }
        Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
