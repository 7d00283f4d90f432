//! The audit chain: every change to a workspace (its model, and keys created
//! or revoked) appends one entry, and every entry is one revision.
//!
//! INVARIANT: a workspace at revision R has exactly the entries 1..=R, entry
//! `seq` being the change that produced revision `seq` (1 is
//! `create_workspace`). The workspace row keeps the head (the last seq and
//! its hash) next to the revision, written in the same transaction as the
//! entry, so deleting the newest entries is as visible as deleting any other.
//!
//! Each entry's hash covers all its columns and the previous entry's hash.
//! Two schemes, recorded per entry in `mac`: `sha256` (no secret; what a
//! store without an audit key writes, and what every entry was before keys
//! existed) and `hmac-sha256` (keyed by an [`AuditKey`] the database does not
//! hold). Once a chain has a keyed entry, an unkeyed one after it is a break.
//!
//! What [`Store::verify`] proves, and what it cannot (docs/API.md, "Audit"):
//! without the key it detects accidental corruption, gaps, reordering and
//! truncation against the workspace row, but anyone who can write the
//! database can recompute the whole chain and the head; with the key they
//! cannot forge or alter a keyed entry. Neither detects the database rolled
//! back wholesale to an older consistent state: keep the head outside.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Any, Transaction};

use crate::audit_summary::AuditSummary;
use crate::db::{parse_time, time_text};
use crate::{Store, StoreError};

/// The scheme of an unkeyed entry.
const SHA256: &str = "sha256";
/// The scheme of an entry keyed with the audit key.
const HMAC_SHA256: &str = "hmac-sha256";

/// The secret that keys the audit chain (HMAC-SHA256). It must live outside
/// the database (an environment variable or a file given to `permset
/// serve`): whoever holds it and can write the database can forge entries.
#[derive(Clone)]
pub struct AuditKey(Arc<[u8]>);

impl AuditKey {
    /// The shortest secret accepted, in bytes (HMAC-SHA256's output size).
    pub const MIN_LEN: usize = 32;

    /// A key from its secret bytes; refuses secrets shorter than [`Self::MIN_LEN`].
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<AuditKey, StoreError> {
        let secret = secret.into();
        if secret.len() < Self::MIN_LEN {
            return Err(StoreError::invalid(format!(
                "the audit key must be at least {} bytes, not {}; make one with `openssl rand -hex 32`",
                Self::MIN_LEN,
                secret.len()
            )));
        }
        Ok(AuditKey(secret.into()))
    }

    fn mac(&self, text: &str) -> Hmac<Sha256> {
        // INVARIANT: HMAC takes a key of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(text.as_bytes());
        mac
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.write_str("AuditKey(..)")
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Position in the workspace's chain, from 1: the revision this change produced.
    pub seq: u64,
    /// Who made the change.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What kind of change (`create_workspace`, `change_model`, `apply`, `create_key`, …).
    pub action: String,
    /// Why, as the actor wrote it.
    pub reason: String,
    /// Where the change comes from (`review`: a revocation an access review
    /// proposed), if marked.
    pub origin: Option<String>,
    /// The state before (JSON; `null` when there was none).
    pub before: Value,
    /// The state after.
    pub after: Value,
    /// The previous entry's hash (empty for the first).
    pub prev_hash: String,
    /// The entry's hash over the other columns and `prev_hash`, hex.
    pub hash: String,
    /// How `hash` was made: `sha256` (unkeyed) or `hmac-sha256` (with the audit key).
    pub mac: String,
}

/// An audit entry as a list reads it ([`Store::audit_lines`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditLine {
    /// The entry, its `before` and `after` left out (`null`).
    pub entry: AuditEntry,
    /// Bytes of the stored `before` + `after` JSON.
    pub size: u64,
    /// What changed; `None` for an entry written before summaries were kept whose states are
    /// larger than the list reads.
    pub summary: Option<AuditSummary>,
}

/// The result of walking a workspace's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// How many entries were read.
    pub entries: u64,
    /// The workspace's revision: the chain must be exactly the entries 1 to this.
    pub revision: u64,
    /// The head hash the workspace row records (the hash of entry `revision`).
    /// Recorded outside the database, it detects a later rollback.
    pub head: String,
    /// The first entry keyed with the audit key (`hmac-sha256`), if any.
    pub keyed_from: Option<u64>,
    /// Keyed entries whose hash this store could not check because it has no
    /// audit key (their position and links were checked).
    pub unchecked: u64,
    /// The first entry whose position, link, hash or scheme is wrong, or that
    /// the workspace row contradicts, if any.
    pub first_broken: Option<u64>,
    /// Why `first_broken` is broken.
    pub problem: Option<String>,
}

/// The text an entry's hash covers: a JSON array of every column but the
/// hash, as stored; an entry with an origin adds `{"origin": …}` (entries
/// without one hash as they always did), and a keyed entry names its scheme.
#[allow(clippy::too_many_arguments)]
fn canonical(
    workspace: &str,
    seq: i64,
    actor: &str,
    at: &str,
    action: &str,
    reason: &str,
    origin: &str,
    before: &str,
    after: &str,
    prev_hash: &str,
    keyed: bool,
) -> String {
    let mut fields = vec![
        Value::from(workspace),
        Value::from(seq),
        Value::from(actor),
        Value::from(at),
        Value::from(action),
        Value::from(reason),
        Value::from(before),
        Value::from(after),
        Value::from(prev_hash),
    ];
    if !origin.is_empty() {
        fields.push(serde_json::json!({ "origin": origin }));
    }
    if keyed {
        fields.push(Value::from(HMAC_SHA256));
    }
    Value::Array(fields).to_string()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What an audit append records. Its seq is the workspace row's revision,
/// which the caller has set (bumped) earlier in the same transaction.
pub(crate) struct Append<'a> {
    pub(crate) workspace: &'a str,
    pub(crate) actor: &'a str,
    pub(crate) action: &'a str,
    pub(crate) reason: &'a str,
    /// Empty when the change has no origin.
    pub(crate) origin: &'a str,
    pub(crate) before: &'a Value,
    pub(crate) after: &'a Value,
    pub(crate) at: DateTime<Utc>,
}

/// An entry as stored: the columns of [`AuditEntry`] (states as JSON text) and the summary, if kept.
type Row =
    (i64, String, String, String, String, String, String, String, String, String, String, Option<String>);

/// Appends the entry of the revision the caller's transaction has just
/// written (its seq is that revision), keyed when `key` is given, and moves
/// the workspace row's head to it. Returns its seq.
pub(crate) async fn append(
    tx: &mut Transaction<'static, Any>,
    key: Option<&AuditKey>,
    entry: Append<'_>,
) -> Result<u64, StoreError> {
    let revision: Option<i64> = sqlx::query_scalar("SELECT revision FROM workspaces WHERE key = $1")
        .bind(entry.workspace)
        .fetch_optional(&mut **tx)
        .await?;
    let seq = revision.ok_or_else(|| StoreError::not_found(format!("workspace `{}`", entry.workspace)))?;
    let last: Option<(i64, String, String)> =
        sqlx::query_as("SELECT seq, hash, mac FROM audit WHERE workspace = $1 ORDER BY seq DESC LIMIT 1")
            .bind(entry.workspace)
            .fetch_optional(&mut **tx)
            .await?;
    let (last_seq, prev_hash, last_mac) = last.unwrap_or((0, String::new(), SHA256.to_owned()));
    if last_seq >= seq {
        // A caller that forgot to bump the revision, or rows written behind the store's back.
        return Err(StoreError::corrupt(format!(
            "the audit chain of workspace `{}` already has entry {last_seq} at revision {seq}",
            entry.workspace
        )));
    }
    if last_seq + 1 != seq {
        // Entries are missing; write this one at its revision anyway so the
        // gap stays where it is and `verify` names it.
        tracing::warn!(workspace = entry.workspace, last_seq, seq, "the audit chain has a gap");
    }
    if key.is_none() && last_mac == HMAC_SHA256 {
        return Err(StoreError::Conflict {
            message: format!(
                "the audit chain of workspace `{}` is keyed; give this process the audit key \
                 (`PERMSET_AUDIT_KEY` or `--audit-key-file`)",
                entry.workspace
            ),
        });
    }
    let at = time_text(entry.at);
    let (before, after) = (entry.before.to_string(), entry.after.to_string());
    let text = canonical(
        entry.workspace,
        seq,
        entry.actor,
        &at,
        entry.action,
        entry.reason,
        entry.origin,
        &before,
        &after,
        &prev_hash,
        key.is_some(),
    );
    let (hash, mac) = match key {
        Some(key) => (hex::encode(key.mac(&text).finalize().into_bytes()), HMAC_SHA256),
        None => (sha256_hex(&text), SHA256),
    };
    // Worked out once here, from the states in hand, so that listing the log never reads them.
    let summary =
        serde_json::to_string(&AuditSummary::of(entry.before, entry.after)).map_err(StoreError::corrupt)?;
    sqlx::query(
        "INSERT INTO audit (workspace, seq, actor, at, action, reason, before_state, after_state, prev_hash, hash, mac, \
         origin, summary) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(entry.workspace)
    .bind(seq)
    .bind(entry.actor)
    .bind(at)
    .bind(entry.action)
    .bind(entry.reason)
    .bind(before)
    .bind(after)
    .bind(prev_hash)
    .bind(&hash)
    .bind(mac)
    .bind(entry.origin)
    .bind(summary)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE workspaces SET audit_seq = $1, audit_head = $2 WHERE key = $3")
        .bind(seq)
        .bind(&hash)
        .bind(entry.workspace)
        .execute(&mut **tx)
        .await?;
    Ok(seq as u64)
}

const SELECT: &str =
    "SELECT seq, actor, at, action, reason, before_state, after_state, prev_hash, hash, mac, origin, summary FROM audit";

/// Walks a chain, one entry at a time, and says what is wrong first.
struct Walk<'k> {
    workspace: String,
    key: Option<&'k AuditKey>,
    revision: i64,
    report: VerifyReport,
    prev: String,
}

impl Walk<'_> {
    /// Checks the next stored entry; `Err` names the break.
    fn step(&mut self, row: &Row) -> Result<(), (i64, String)> {
        let (seq, actor, at, action, reason, before, after, prev_hash, hash, mac, origin, summary) = row;
        let seq = *seq;
        let expected = self.report.entries as i64 + 1;
        self.report.entries += 1;
        if seq != expected {
            return Err((expected, format!("entry {expected} is missing (the next stored entry is {seq})")));
        }
        if seq > self.revision {
            return Err((seq, format!("entry {seq} is beyond the workspace's revision {}", self.revision)));
        }
        if *prev_hash != self.prev {
            return Err((seq, format!("entry {seq} does not link to the hash of entry {}", seq - 1)));
        }
        let keyed = match mac.as_str() {
            SHA256 => false,
            HMAC_SHA256 => true,
            other => return Err((seq, format!("entry {seq} has an unknown hash scheme `{other}`"))),
        };
        let text = canonical(
            &self.workspace,
            seq,
            actor,
            at,
            action,
            reason,
            origin,
            before,
            after,
            prev_hash,
            keyed,
        );
        match (keyed, self.key) {
            (false, _) if self.report.keyed_from.is_some() => {
                return Err((seq, format!("entry {seq} is unkeyed (`sha256`) but follows keyed entries")));
            }
            (false, _) if sha256_hex(&text) != *hash => {
                return Err((seq, format!("entry {seq} does not match its hash")));
            }
            (false, _) => {}
            (true, Some(key)) => {
                let matches =
                    hex::decode(hash).is_ok_and(|bytes| key.mac(&text).verify_slice(&bytes).is_ok());
                if !matches {
                    return Err((
                        seq,
                        format!("entry {seq} does not match its hash under the audit key (changed, or the wrong key)"),
                    ));
                }
            }
            (true, None) => self.report.unchecked += 1,
        }
        // The summary is outside the hash: it must say what the (verified) states say.
        if let Some(summary) = summary {
            let states = serde_json::from_str::<Value>(before)
                .and_then(|b| Ok((b, serde_json::from_str::<Value>(after)?)));
            let kept = serde_json::from_str::<AuditSummary>(summary);
            match (states, kept) {
                (Ok((b, a)), Ok(kept)) if AuditSummary::of(&b, &a) == kept => {}
                _ => return Err((seq, format!("entry {seq}'s summary does not match its states"))),
            }
        }
        if keyed {
            self.report.keyed_from.get_or_insert(seq as u64);
        }
        self.prev.clone_from(hash);
        Ok(())
    }

    /// After the last entry: the chain must reach the revision and end at the row's head.
    fn finish(&self, head_seq: i64) -> Result<(), (i64, String)> {
        let last = self.report.entries as i64;
        if last < self.revision {
            return Err((
                last + 1,
                format!(
                    "entries {} to {} are missing: the workspace is at revision {} but the chain ends at {last}",
                    last + 1,
                    self.revision,
                    self.revision
                ),
            ));
        }
        if head_seq != self.revision || self.report.head != self.prev {
            return Err((
                self.revision,
                format!("entry {} is not the head the workspace row records", self.revision),
            ));
        }
        Ok(())
    }
}

fn entry(
    (seq, actor, at, action, reason, before, after, prev_hash, hash, mac, origin, _summary): Row,
) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: seq as u64,
        actor,
        at: parse_time(&at)?,
        action,
        reason,
        origin: Some(origin).filter(|o| !o.is_empty()),
        before: serde_json::from_str(&before).map_err(StoreError::corrupt)?,
        after: serde_json::from_str(&after).map_err(StoreError::corrupt)?,
        prev_hash,
        hash,
        mac,
    })
}

impl Store {
    /// Keys the audit chain: entries this store appends are HMAC-SHA256
    /// under `key`, and `verify` checks keyed entries with it. A store
    /// without a key appends `sha256` entries and refuses to append to a
    /// chain whose newest entry is keyed.
    pub fn with_audit_key(mut self, key: AuditKey) -> Store {
        self.audit_key = Some(key);
        self
    }

    /// Whether this store keys the audit chain.
    pub fn audit_keyed(&self) -> bool {
        self.audit_key.is_some()
    }

    /// Audit entries of a workspace with `seq > after`, oldest first, at most
    /// `limit`; empty past the end.
    pub async fn audit(
        &self,
        workspace: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<Row> =
            sqlx::query_as(&format!("{SELECT} WHERE workspace = $1 AND seq > $2 ORDER BY seq LIMIT $3"))
                .bind(workspace)
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(entry).collect()
    }

    /// The entries `audit` reads, for a list: each with the bytes of its
    /// states (`before` + `after`, as stored) and what changed between them,
    /// but with both states left unread (`null`). The summary kept when the
    /// entry was written is read; an entry written before summaries were kept
    /// has its states read and compared here, unless they are larger than
    /// `max_state_bytes` (then it has no summary). A whole entry is
    /// `audit(seq - 1, 1)`.
    pub async fn audit_lines(
        &self,
        workspace: &str,
        after: u64,
        limit: u32,
        max_state_bytes: u64,
    ) -> Result<Vec<AuditLine>, StoreError> {
        // Bytes, as serde_json's text length counts them, in both dialects.
        let bytes = |column: &str| match self.dialect {
            crate::Dialect::Sqlite => format!("length(CAST({column} AS BLOB))"),
            crate::Dialect::Postgres => format!("octet_length({column})"),
        };
        let size = format!("CAST({} + {} AS BIGINT)", bytes("before_state"), bytes("after_state"));
        let unkept = format!("summary IS NULL AND {size} <= $4");
        let sql = format!(
            "SELECT seq, actor, at, action, reason, \
             CASE WHEN {unkept} THEN before_state ELSE 'null' END, \
             CASE WHEN {unkept} THEN after_state ELSE 'null' END, \
             prev_hash, hash, mac, origin, summary, {size} FROM audit \
             WHERE workspace = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        type LineRow = (
            i64,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            i64,
        );
        let rows: Vec<LineRow> = sqlx::query_as(&sql)
            .bind(workspace)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .bind(i64::try_from(max_state_bytes).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(
                |(
                    seq,
                    actor,
                    at,
                    action,
                    reason,
                    before,
                    after,
                    prev_hash,
                    hash,
                    mac,
                    origin,
                    summary,
                    size,
                )| {
                    let size = u64::try_from(size).unwrap_or(0);
                    let read = summary.is_none() && size <= max_state_bytes;
                    let mut entry = entry((
                        seq, actor, at, action, reason, before, after, prev_hash, hash, mac, origin, None,
                    ))?;
                    let summary = match summary {
                        Some(text) => Some(serde_json::from_str(&text).map_err(StoreError::corrupt)?),
                        None if read => Some(AuditSummary::of(&entry.before, &entry.after)),
                        None => None,
                    };
                    (entry.before, entry.after) = (Value::Null, Value::Null);
                    Ok(AuditLine { entry, size, summary })
                },
            )
            .collect()
    }

    /// Walks a workspace's audit chain and names the first entry that is
    /// wrong: a gap, an entry beyond the revision, a broken link, a hash
    /// that does not match (under the audit key for keyed entries), an
    /// unkeyed entry after a keyed one, a chain shorter than the revision,
    /// or a last entry other than the head the workspace row records. Reads
    /// one consistent snapshot of the database.
    pub async fn verify(&self, workspace: &str) -> Result<VerifyReport, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_read()).await?;
        let row: Option<(i64, i64, String)> =
            sqlx::query_as("SELECT revision, audit_seq, audit_head FROM workspaces WHERE key = $1")
                .bind(workspace)
                .fetch_optional(&mut *tx)
                .await?;
        let (revision, head_seq, head) =
            row.ok_or_else(|| StoreError::not_found(format!("workspace `{workspace}`")))?;
        let report = VerifyReport {
            entries: 0,
            revision: revision as u64,
            head,
            keyed_from: None,
            unchecked: 0,
            first_broken: None,
            problem: None,
        };
        let mut walk = Walk {
            workspace: workspace.to_owned(),
            key: self.audit_key.as_ref(),
            revision,
            report,
            prev: String::new(),
        };
        let mut after = 0i64;
        let outcome = loop {
            let rows: Vec<Row> =
                sqlx::query_as(&format!("{SELECT} WHERE workspace = $1 AND seq > $2 ORDER BY seq LIMIT 500"))
                    .bind(workspace)
                    .bind(after)
                    .fetch_all(&mut *tx)
                    .await?;
            let Some(last) = rows.last() else { break walk.finish(head_seq) };
            after = last.0;
            if let Err(broken) = rows.iter().try_for_each(|row| walk.step(row)) {
                break Err(broken);
            }
        };
        tx.rollback().await?;
        let mut report = walk.report;
        if let Err((seq, problem)) = outcome {
            report.first_broken = Some(seq as u64);
            report.problem = Some(problem);
        }
        Ok(report)
    }
}
