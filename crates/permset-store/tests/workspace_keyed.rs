//! The workspace is the unit of distribution (docs/SCALING.md): every table
//! is keyed by workspace first and every statement the store issues filters
//! by workspace, so a database sharded by workspace (Citus distributed on
//! the workspace column, or a map from workspace to cluster) carries the
//! schema and the store unchanged, each request touching one shard.
//!
//! Two checks hold that true, in the spirit of rust-analyzer's tidy tests:
//! - the schema, as each back end reports it after migrating: every table's
//!   primary key and every unique index begin with the workspace column;
//! - every SQL text in the store's source (string literals, with the
//!   `const` fragments they interpolate substituted): each `FROM`, `JOIN`,
//!   `UPDATE` and `INTO` of a table is followed by a filter on (or a first
//!   column of) the workspace. The few statements that must span workspaces
//!   are listed in [`SPANNING`] with the reason; an entry that no longer
//!   matches anything fails, so the list cannot rot.
//!
//! `the_checker_catches_an_unfiltered_statement` runs the same checker on
//! statements that forget the workspace, so the check can fail.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use regex::Regex;
use sqlx::{Connection, Row};

/// Every table of the schema, and its workspace column (the workspaces
/// table is keyed by the workspace itself). A new table must be added here,
/// which is the moment to key it by workspace.
const TABLES: &[(&str, &str)] = &[
    ("workspaces", "key"),
    ("audit", "workspace"),
    ("records", "workspace"),
    ("api_keys", "workspace"),
    ("decisions", "workspace"),
    ("usage_counts", "workspace"),
];

/// The schema's version table: one row per migration, no tenant data (a
/// reference table in a sharded database).
const VERSION_TABLE: &str = "permset_migrations";

/// Statements that span workspaces on purpose: (file, text they contain, why).
const SPANNING: &[(&str, &str, &str)] = &[
    (
        "keys.rs",
        "FROM api_keys WHERE secret_hash = $1",
        "authentication: a secret is all a request proves, and its row names the workspace; \
         sharded, a lookup on the secret index (docs/SCALING.md)",
    ),
    (
        "workspaces.rs",
        "FROM workspaces ORDER BY key",
        "the directory of workspaces (readiness, the poll fallback): one row per workspace",
    ),
    (
        "workspaces.rs",
        "SELECT DISTINCT {schema}, {rules}, {roles} FROM workspaces",
        "the distinct schemas of all workspaces, for their list-filter indexes on open (DDL is per database)",
    ),
    ("decisions.rs", "FROM decisions WHERE at < $1", "retention: each row judged alone, on every shard"),
    ("usage.rs", "FROM usage_counts WHERE hour_at < $1", "retention: each row judged alone, on every shard"),
];

/// One reference to a table in a SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    file: String,
    table: String,
    statement: String,
}

/// String literals of Rust source with their byte offsets: normal, byte and
/// raw strings, escapes resolved (a `\` line continuation drops the newline
/// and the next line's indentation, as rustc does); comments and char
/// literals skipped.
fn literals(source: &str) -> Vec<(usize, String)> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\'') or a lifetime ('a).
                if bytes.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while i < bytes.len() && bytes[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                } else if bytes.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            b'r' | b'b' if raw_start(bytes, i).is_some() => {
                let (hashes, body) = raw_start(bytes, i).unwrap_or((0, i));
                let close = format!("\"{}", "#".repeat(hashes));
                let end = source[body..].find(&close).map_or(bytes.len(), |e| body + e);
                out.push((i, source[body..end].to_owned()));
                i = end + close.len();
            }
            b'"' => {
                let start = i;
                i += 1;
                let mut text = String::new();
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        match bytes.get(i + 1) {
                            Some(b'\n') => {
                                i += 2;
                                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                                    i += 1;
                                }
                                continue;
                            }
                            Some(b'n') => text.push('\n'),
                            Some(&c) => text.push(c as char),
                            None => {}
                        }
                        i += 2;
                        continue;
                    }
                    let ch = source[i..].chars().next().unwrap_or(' ');
                    text.push(ch);
                    i += ch.len_utf8();
                }
                out.push((start, text));
                i += 1;
            }
            _ => {
                // Skip identifiers whole, so `br` inside a name starts no raw string.
                if bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' {
                    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                        i += 1;
                    }
                } else {
                    i += 1;
                }
            }
        }
    }
    out
}

/// At `r"`, `r#"`, `br"`…: the number of `#` and where the body starts.
fn raw_start(bytes: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if bytes.get(j) == Some(&b'b') {
        j += 1;
        if bytes.get(j) == Some(&b'"') {
            return Some((0, j + 1));
        }
    }
    if bytes.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = bytes[j..].iter().take_while(|&&b| b == b'#').count();
    (bytes.get(j + hashes) == Some(&b'"')).then_some((hashes, j + hashes + 1))
}

/// Every table reference in `source`'s SQL texts that does not filter by
/// workspace. Literals that are `const` values are fragments: they are
/// checked where `{NAME}` interpolates them. The migrations are skipped:
/// they are DDL and one-time moves of every row, run under a lock on open.
fn unfiltered(file: &str, source: &str) -> Vec<Finding> {
    let lits = literals(source);
    let const_re = Regex::new(r"const ([A-Z_]+): &(?:'static )?str =\s*").unwrap();
    let mut consts = BTreeMap::new();
    let mut const_starts = BTreeSet::new();
    for m in const_re.captures_iter(source) {
        let end = m.get(0).unwrap().end();
        if let Some((start, text)) = lits.iter().find(|(start, _)| *start == end) {
            consts.insert(m[1].to_owned(), text.clone());
            const_starts.insert(*start);
        }
    }
    let migrations = source.find("const MIGRATIONS").map(|start| {
        let end = source[start..].find("\n];").map_or(source.len(), |e| start + e);
        start..end
    });
    let reference = Regex::new(r"\b(FROM|JOIN|UPDATE|INTO)\s+([a-z_][a-z0-9_]*)\b").unwrap();
    let known: BTreeMap<&str, &str> = TABLES.iter().copied().collect();
    let mut found = Vec::new();
    for (start, text) in &lits {
        if const_starts.contains(start) || migrations.as_ref().is_some_and(|m| m.contains(start)) {
            continue;
        }
        let mut sql = text.clone();
        for (name, value) in &consts {
            sql = sql.replace(&format!("{{{name}}}"), value);
        }
        for m in reference.captures_iter(&sql) {
            let (keyword, table) = (&m[1], &m[2]);
            if table == VERSION_TABLE {
                continue;
            }
            let rest = &sql[m.get(0).unwrap().end()..];
            if rest.starts_with('(') && keyword != "INTO" {
                // A table-valued function (`json_each(data, …)`), not a table.
                continue;
            }
            let ok = match known.get(table) {
                // An unknown table is unfiltered by definition: add it to TABLES first.
                None => false,
                Some(column) => filters(keyword, column, rest),
            };
            if !ok {
                found.push(Finding {
                    file: file.to_owned(),
                    table: table.to_owned(),
                    statement: sql.clone(),
                });
            }
        }
    }
    found
}

/// Whether the text after `<keyword> <table>` keeps to one workspace:
/// reads, updates and deletes begin their `WHERE` with `column = $n`
/// (anything after is AND-ed to it), inserts name the column first. A
/// list's seek may name its index first (`records{index_hint} WHERE …`:
/// SQLite's `INDEXED BY`, list.rs), which selects no rows of its own.
fn filters(keyword: &str, column: &str, rest: &str) -> bool {
    let filter = format!(
        r"^(?:\{{index_hint\}})?\s*WHERE\s+(?:[a-z_]+\.)?{column}\s*=\s*\$\d+\b(?:\s*$|\s+AND\s|\s+ORDER\s|\s+LIMIT\s|\{{|\)|\s+FOR\s)"
    );
    match keyword {
        "FROM" | "JOIN" => Regex::new(&filter).unwrap().is_match(rest),
        "UPDATE" => {
            let Some(at) = rest.find(" WHERE ") else { return false };
            rest.trim_start().starts_with("SET ") && Regex::new(&filter).unwrap().is_match(&rest[at..])
        }
        "INTO" => Regex::new(&format!(r"^\s*\(\s*{column}\s*[,)]")).unwrap().is_match(rest),
        _ => false,
    }
}

fn store_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                files.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_statement_of_the_store_filters_by_workspace() {
    let sources = store_sources();
    assert!(sources.len() >= 10, "the store's source files were not found");
    let mut spanning_used = vec![false; SPANNING.len()];
    let mut checked = 0;
    let mut problems = Vec::new();
    for (file, source) in &sources {
        checked += literals(source).len();
        for finding in unfiltered(file, source) {
            let allowed = SPANNING
                .iter()
                .position(|(f, text, _)| *f == finding.file && finding.statement.contains(text));
            match allowed {
                Some(i) => spanning_used[i] = true,
                None => problems.push(format!(
                    "{}: `{}` is reached without a workspace filter (begin the WHERE with `workspace = $n`, \
                     or list the statement in SPANNING with the reason): {}",
                    finding.file, finding.table, finding.statement
                )),
            }
        }
    }
    assert!(checked > 100, "only {checked} string literals found: the scanner is broken");
    for (used, (file, text, _)) in spanning_used.iter().zip(SPANNING) {
        assert!(used, "SPANNING lists `{text}` in {file}, which no statement contains any more: remove it");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_catches_an_unfiltered_statement() {
    let bad = [
        // A list across workspaces.
        r#"sqlx::query("SELECT id FROM records WHERE object = $1")"#,
        // The workspace filter OR-ed away.
        r#"sqlx::query("SELECT id FROM records WHERE workspace = $1 OR object = $2")"#,
        // No WHERE at all, through a continued line.
        "sqlx::query(\"SELECT at FROM decisions \\\n    ORDER BY id\")",
        // An update and a delete of every workspace's rows.
        r#"sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")"#,
        r#"sqlx::query("DELETE FROM audit WHERE seq > $1")"#,
        // An insert whose first column is not the workspace.
        r#"sqlx::query("INSERT INTO usage_counts (hour_at, workspace) VALUES ($1, $2)")"#,
        // A fragment constant interpolated into an unfiltered statement.
        "const COLS: &str = \"id, data\";\nfn f() { format!(\"SELECT {COLS} FROM records ORDER BY id\"); }",
        // A raw string, and a table nobody keyed.
        r###"sqlx::query(r#"SELECT x FROM sessions WHERE workspace = $1"#)"###,
        // The workspaces table filtered on something else than its key.
        r#"sqlx::query("SELECT key FROM workspaces WHERE revision > $1")"#,
    ];
    for source in bad {
        assert_eq!(unfiltered("x.rs", source).len(), 1, "not caught: {source}");
    }
    let good = [
        r#"sqlx::query("SELECT id FROM records WHERE workspace = $1 AND object = $2")"#,
        r#"sqlx::query(&format!("SELECT revision FROM workspaces WHERE key = $1{}", lock))"#,
        r#"sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE workspace = $2 AND id = $3")"#,
        r#"sqlx::query("INSERT INTO audit (workspace, seq) VALUES ($1, $2)")"#,
        "// SELECT x FROM records in a comment\nlet c = '\"'; let s = \"not sql\";",
    ];
    for source in good {
        assert_eq!(unfiltered("x.rs", source), vec![], "wrongly caught: {source}");
    }
}

/// Primary key columns and unique indexes' first columns, per table, as the
/// back end reports them.
async fn keys_of(backend: &common::Backend) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut keys: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    match backend.schema() {
        None => {
            let mut conn = sqlx::SqliteConnection::connect(backend.url()).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for table in tables {
                let primary: Vec<String> = sqlx::query_scalar(&format!(
                    "SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk"
                ))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                let uniques: Vec<String> = sqlx::query_scalar(&format!(
                    "SELECT (SELECT name FROM pragma_index_info(l.name) WHERE seqno = 0) \
                     FROM pragma_index_list('{table}') l WHERE l.\"unique\" = 1"
                ))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                keys.insert(table, (primary, uniques));
            }
        }
        Some(schema) => {
            let mut conn = sqlx::PgConnection::connect(backend.url()).await.unwrap();
            let rows = sqlx::query(
                "SELECT t.relname::text, x.indisprimary, \
                 ARRAY(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n) \
                       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n) \
                 FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace \
                 WHERE s.nspname = $1 AND x.indisunique",
            )
            .bind(schema)
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = $1")
                    .bind(schema)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            for table in tables {
                keys.entry(table).or_default();
            }
            for row in rows {
                let table: String = row.get(0);
                let primary: bool = row.get(1);
                let columns: Vec<String> = row.get(2);
                let entry = keys.entry(table).or_default();
                if primary {
                    entry.0 = columns.clone();
                }
                entry.1.push(columns.first().cloned().unwrap_or_default());
            }
        }
    }
    keys
}

#[tokio::test]
async fn every_table_is_keyed_by_workspace_first() {
    common::on_each_backend(|b| async move {
        let keys = keys_of(&b).await;
        let tables: BTreeSet<&str> =
            keys.keys().map(String::as_str).filter(|t| *t != VERSION_TABLE).collect();
        let expected: BTreeSet<&str> = TABLES.iter().map(|(t, _)| *t).collect();
        assert_eq!(tables, expected, "{}: the schema's tables are not the ones TABLES keys", b.name);
        for (table, column) in TABLES {
            let (primary, uniques) = &keys[*table];
            assert_eq!(
                primary.first().map(String::as_str),
                Some(*column),
                "{}: the primary key of `{table}` is {primary:?}; it must begin with `{column}`",
                b.name
            );
            for first in uniques {
                assert_eq!(
                    first, column,
                    "{}: a unique index of `{table}` does not begin with `{column}`",
                    b.name
                );
            }
        }
    })
    .await;
}

/// Opening a store makes the list-filter indexes of every distinct schema
/// (once per schema, not per workspace): dropped behind the store's back,
/// they are back after a reopen.
#[tokio::test]
async fn opening_the_store_restores_each_schemas_indexes() {
    common::on_each_backend(|b| async move {
        for workspace in ["acme", "globex"] {
            b.store.create_workspace(workspace, "test").await.unwrap();
            let file = common::SUPPORT.replace("workspace: acme", &format!("workspace: {workspace}"));
            b.store.apply(workspace, "test", &common::model(&file), "", false).await.unwrap();
        }
        let indexes = |b: common::Backend| async move {
            let sql = match b.schema() {
                None => "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ax_%' ORDER BY name".to_owned(),
                Some(schema) => format!(
                    "SELECT indexname::text FROM pg_indexes WHERE schemaname = '{schema}' AND indexname LIKE 'ax_%' ORDER BY 1"
                ),
            };
            let names: Vec<String> = match b.schema() {
                None => {
                    let mut conn = sqlx::SqliteConnection::connect(b.url()).await.unwrap();
                    sqlx::query_scalar(&sql).fetch_all(&mut conn).await.unwrap()
                }
                Some(_) => {
                    let mut conn = sqlx::PgConnection::connect(b.url()).await.unwrap();
                    sqlx::query_scalar(&sql).fetch_all(&mut conn).await.unwrap()
                }
            };
            names
        };
        let made = indexes(b.clone()).await;
        // The support fixture's orders: owner, team and the indexed `placed_at`.
        assert!(made.len() >= 3, "{}: {made:?}", b.name);
        for name in &made {
            b.raw(&format!("DROP INDEX {name}")).await;
        }
        assert!(indexes(b.clone()).await.is_empty());
        b.reopen(None).await.close().await;
        assert_eq!(indexes(b.clone()).await, made, "{}", b.name);
    })
    .await;
}
