//! The one write path of a workspace's model (and of its API keys).
//!
//! [`Store::change_model`] takes a [`ModelChange`] and the caller's current
//! snapshot, and in one transaction: locks the workspace row; if the
//! revision moved past that snapshot, compiles the locked revision instead;
//! asks the snapshot of the locked revision to [`Snapshot::authorize`] the
//! change (every administration rule lives there), applies it, compiles the
//! result once, writes the model, revokes the API keys of users and roles
//! that no longer exist, appends the audit entry and bumps the revision. The
//! compiled snapshot is returned for the caller to install.
//!
//! Because the rules are checked against the very revision the change is
//! applied to, under the lock that keeps it, two changes that are each
//! allowed alone cannot combine into one that is not: the second is decided
//! on the model the first left. Deciding under the lock (rather than
//! refusing a stale snapshot and letting the caller retry) also means a
//! change never starves behind a stream of others.

use chrono::{DateTime, Utc};
use permset_core::{diff, only_revokes, Model, ModelChange, Origin, Principal, Snapshot};

use crate::audit::{self, Append};
use crate::db::time_text;
use crate::keys::{KeyInfo, KeySpec};
use crate::workspaces::{check_names, to_json, Plan};
use crate::{Store, StoreError};

/// Who makes a change, and why (for the audit log).
#[derive(Debug, Clone, Copy)]
pub struct Author<'a> {
    /// The principal the rules are checked for.
    pub principal: Principal<'a>,
    /// The name the audit log records (a user, or a key for the service principal).
    pub name: &'a str,
    /// Why, as the author wrote it.
    pub reason: &'a str,
    /// Where the change comes from (an access review), recorded in the audit
    /// entry; it gives nothing, and a review may only revoke.
    pub origin: Option<Origin>,
}

impl<'a> Author<'a> {
    /// The operator (CLI, `demo`, tests): the workspace's service principal.
    pub fn operator(name: &'a str, reason: &'a str) -> Self {
        Author { principal: Principal::Service, name, reason, origin: None }
    }
}

/// A committed change.
#[derive(Debug)]
pub struct Committed {
    /// The workspace compiled at the new revision (install it).
    pub snapshot: Snapshot,
    /// What changed in the model, in workspace-file order.
    pub plan: Plan,
    /// For `create_key`: the key and its secret, shown this once.
    pub key: Option<(KeyInfo, String)>,
}

/// What a change would do, without writing: authorised, applied and compiled
/// on `base`. `apply --dry-run` and what-if previews use it.
pub fn preview(base: &Snapshot, author: &Author<'_>, change: &ModelChange) -> Result<Plan, StoreError> {
    simulate(base, author, change).map(|(plan, _)| plan)
}

/// [`preview`] with the workspace as it would be compiled (at `from_revision + 1`),
/// for what-if questions about the result.
pub fn simulate(
    base: &Snapshot,
    author: &Author<'_>,
    change: &ModelChange,
) -> Result<(Plan, Snapshot), StoreError> {
    let (new, snapshot) = proposed(base, author, change, Utc::now())?;
    let plan = Plan {
        workspace: base.workspace().to_owned(),
        from_revision: base.revision(),
        to_revision: None,
        changes: diff(base.model(), &new),
    };
    Ok((plan, snapshot))
}

/// Authorises `change` on `base` and applies it to a copy of the model.
fn proposed(
    base: &Snapshot,
    author: &Author<'_>,
    change: &ModelChange,
    now: DateTime<Utc>,
) -> Result<(Model, Snapshot), StoreError> {
    base.authorize(author.principal, change, now)?;
    if author.origin == Some(Origin::Review) && !only_revokes(base.model(), change) {
        return Err(StoreError::invalid(format!(
            "a change with origin `review` may only take assignments away, and `{}` {}",
            change.op(),
            if matches!(change, ModelChange::Replace { .. }) {
                "changes more than assignments, or adds one"
            } else {
                "is not an unassignment"
            }
        )));
    }
    let mut new = base.model().clone();
    change.apply(&mut new)?;
    check_names(&new)?;
    let snapshot = Snapshot::compile_at(&new, now, base.revision() + 1)?;
    Ok((new, snapshot))
}

impl Store {
    /// Makes `change` as `author` (see the module header). `current` is the
    /// caller's snapshot of the workspace: used as it is when it is still the
    /// stored revision, which is the common case.
    pub async fn change_model(
        &self,
        current: &Snapshot,
        author: &Author<'_>,
        change: &ModelChange,
    ) -> Result<Committed, StoreError> {
        let workspace = current.workspace();
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let (model, revision) = self.locked_model(&mut tx, workspace, current.revision()).await?;
        let locked;
        let base = match model {
            None => current,
            Some(model) => {
                locked = Snapshot::compile_owned(model, now, revision)?;
                &locked
            }
        };
        let (new, snapshot) = proposed(base, author, change, now)?;
        let next = snapshot.revision();
        let key = match change {
            ModelChange::CreateKey { user, role, expires_at, label } => {
                let spec = KeySpec {
                    user: user.clone(),
                    role: role.clone(),
                    label: label.clone(),
                    expires_at: *expires_at,
                };
                Some(self.insert_key(&mut tx, workspace, spec, now).await?)
            }
            ModelChange::RevokeKey { id } => {
                self.revoke_key_in(&mut tx, workspace, id, now).await?;
                None
            }
            _ => None,
        };
        let model_json = if change.is_key_change() { None } else { Some(to_json(&new)?) };
        self.write_revision(&mut tx, workspace, next, model_json.as_ref(), now).await?;
        self.revoke_orphan_keys(&mut tx, base.model(), &new, now).await?;
        let (before, after) = match (change, &key) {
            (ModelChange::CreateKey { .. }, Some((info, _))) => {
                (serde_json::Value::Null, serde_json::to_value(info).map_err(StoreError::corrupt)?)
            }
            (ModelChange::RevokeKey { id }, _) => (serde_json::json!({ "id": id }), serde_json::Value::Null),
            _ => (to_json(base.model())?, model_json.unwrap_or_default()),
        };
        let entry = Append {
            workspace,
            actor: author.name,
            action: change.op(),
            reason: author.reason,
            origin: author.origin.map_or("", Origin::as_str),
            before: &before,
            after: &after,
            at: now,
        };
        audit::append(&mut tx, self.audit_key.as_ref(), entry).await?;
        crate::notify::announce(self.dialect, &mut tx, workspace).await?;
        tx.commit().await?;
        self.ensure_indexes(&snapshot).await;
        let plan = Plan {
            workspace: workspace.to_owned(),
            from_revision: base.revision(),
            to_revision: Some(next),
            changes: diff(base.model(), &new),
        };
        Ok(Committed { snapshot, plan, key })
    }

    /// The operator's path (CLI, `demo`, tests): `change` as the service principal.
    pub async fn change_as_operator(
        &self,
        workspace: &str,
        name: &str,
        reason: &str,
        change: &ModelChange,
    ) -> Result<Committed, StoreError> {
        let current = self.snapshot(workspace).await?;
        self.change_model(&current, &Author::operator(name, reason), change).await
    }

    /// Locks the workspace row against other model changes until the
    /// transaction ends; returns its revision, and its model unless the
    /// revision is `known` (the caller has that one compiled already).
    async fn locked_model(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        workspace: &str,
        known: u64,
    ) -> Result<(Option<Model>, u64), StoreError> {
        let revision: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT revision FROM workspaces WHERE key = $1{}",
            self.dialect.for_update()
        ))
        .bind(workspace)
        .fetch_optional(&mut **tx)
        .await?;
        let revision =
            revision.ok_or_else(|| StoreError::not_found(format!("workspace `{workspace}`")))? as u64;
        if revision == known {
            return Ok((None, revision));
        }
        let text: String = sqlx::query_scalar(&format!(
            "SELECT {} FROM workspaces WHERE key = $1",
            self.dialect.json_text("model")
        ))
        .bind(workspace)
        .fetch_one(&mut **tx)
        .await?;
        Ok((Some(serde_json::from_str(&text).map_err(StoreError::corrupt)?), revision))
    }

    /// Bumps the revision to `next`, with the new model unless only keys changed.
    async fn write_revision(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        workspace: &str,
        next: u64,
        model: Option<&serde_json::Value>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = match model {
            Some(_) => format!(
                "UPDATE workspaces SET model = {}, revision = $2, updated_at = $3 WHERE key = $4",
                self.dialect.json_param(1)
            ),
            None => "UPDATE workspaces SET revision = $1, updated_at = $2 WHERE key = $3".to_owned(),
        };
        let mut query = sqlx::query(&sql);
        if let Some(model) = model {
            query = query.bind(model.to_string());
        }
        query.bind(next as i64).bind(time_text(now)).bind(workspace).execute(&mut **tx).await?;
        Ok(())
    }
}
