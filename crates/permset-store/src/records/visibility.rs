//! Record visibility for what-if (part 4, docs/WHATIF.md): how many stored
//! records a user would gain or lose sight of when their view predicate
//! moves from `before` to `after`, counted in SQL with the same translation
//! list filtering uses (`sql.rs`), never by fetching records:
//! `COUNT(after AND NOT before)` and `COUNT(before AND NOT after)`.
//!
//! One scan of an object's records answers a batch of (user) pairs: each
//! pair is two `SUM(CASE …)` columns of one `SELECT`; the scans run at
//! once, each on a pooled connection. Identical pairs (many
//! users moved from `own` to `all` share nothing, but users who see `all`
//! of something before and after a rule edit share the same two
//! predicates) are counted once.

use permset_core::condition::Expr;
use permset_core::ViewChange;
use serde::Serialize;
use sqlx::Row;

use super::sql::Translator;
use crate::{Store, StoreError};

/// Records one user would gain and lose sight of in one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisibilityCount {
    /// The user key.
    pub user: String,
    /// The object.
    pub object: String,
    /// Records viewed after the change and not before.
    pub gained: u64,
    /// Records viewed before the change and not after.
    pub lost: u64,
}

/// Predicate pairs counted per statement: each is two aggregate columns
/// over one scan; a few dozen keep a statement's text and plan small.
const PAIRS_PER_SCAN: usize = 16;

impl Store {
    /// Counts, for each view change, the records of `workspace` gained and
    /// lost; in the order of `changes`.
    pub async fn count_visibility(
        &self,
        workspace: &str,
        changes: &[ViewChange],
    ) -> Result<Vec<VisibilityCount>, StoreError> {
        // Distinct (object, before, after) pairs, and which pair each change is.
        let mut pairs: Vec<(&str, &Expr, &Expr)> = Vec::new();
        let mut pair_of = Vec::with_capacity(changes.len());
        for c in changes {
            let key = (c.object.as_str(), &c.before, &c.after);
            let at = match pairs.iter().position(|p| *p == key) {
                Some(at) => at,
                None => {
                    pairs.push(key);
                    pairs.len() - 1
                }
            };
            pair_of.push(at);
        }
        let mut counts = vec![(0u64, 0u64); pairs.len()];
        let mut objects: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        objects.sort_unstable();
        objects.dedup();
        // Every statement first, then all of them at once: each is one scan
        // on its own pooled connection, so the scans share the cores.
        let mut scans: Vec<(&str, Vec<usize>, String)> = Vec::new();
        for object in objects {
            let of_object: Vec<usize> = (0..pairs.len()).filter(|&i| pairs[i].0 == object).collect();
            for chunk in of_object.chunks(PAIRS_PER_SCAN) {
                let translator = Translator::new(self.dialect);
                let mut columns = Vec::with_capacity(chunk.len() * 2);
                for &i in chunk {
                    let (_, before, after) = pairs[i];
                    let (before, after) = (translator.predicate(before)?, translator.predicate(after)?);
                    for (yes, no) in [(&after, &before), (&before, &after)] {
                        columns.push(format!(
                            "COALESCE(SUM(CASE WHEN {yes} AND NOT {no} THEN 1 ELSE 0 END), 0)"
                        ));
                    }
                }
                let sql = format!(
                    "SELECT {} FROM records WHERE workspace = $1 AND object = $2",
                    columns.join(", ")
                );
                scans.push((object, chunk.to_vec(), sql));
            }
        }
        let rows =
            futures::future::try_join_all(scans.iter().map(|(object, _, sql)| {
                sqlx::query(sql).bind(workspace).bind(*object).fetch_one(&self.pool)
            }))
            .await?;
        for ((_, chunk, _), row) in scans.iter().zip(rows) {
            for (n, &i) in chunk.iter().enumerate() {
                let gained: i64 = row.try_get(2 * n)?;
                let lost: i64 = row.try_get(2 * n + 1)?;
                counts[i] = (gained.max(0) as u64, lost.max(0) as u64);
            }
        }
        Ok(changes
            .iter()
            .zip(pair_of)
            .map(|(c, i)| VisibilityCount {
                user: c.user.clone(),
                object: c.object.clone(),
                gained: counts[i].0,
                lost: counts[i].1,
            })
            .collect())
    }
}
