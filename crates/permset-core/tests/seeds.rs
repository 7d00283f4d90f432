//! Data-driven decision cases: the seed articles and DESIGN.md §2 rules as
//! YAML files under `tests/cases/`, run by one test that names every failing
//! case (file, document, case name).
//!
//! A case file is a sequence of YAML documents separated by `---` lines:
//! - a **workspace** document (has a top-level `workspace:` key) is a whole
//!   workspace file, loaded with `load_workspace_file`;
//! - a **checks** document applies to the workspace before it:
//!   ```yaml
//!   now: 2026-06-01T00:00:00Z            # optional default time
//!   compile_error: [orders_update, exceed view]   # the workspace must fail to compile, naming these
//!   records: { companies: { c1: { owner: bob } } } # lookup targets for `redact`
//!   checks:
//!     - { name: "...", user: bob, permission: customers_update, record: {..}, before: {..}, at: ..., expect: allow|deny|limited }
//!     - { user: bob, field: customers.ssn, expect: none|read|edit }        # rule 7
//!     - { user: bob, write: customers, fields: [name, ssn], expect: deny }  # rule 7, writes
//!     - { user: bob, list: contracts, expect: allow|deny }                 # rule 9
//!     - { user: bob, redact: customers, record: {..}, expect_record: {..} }  # rules 7-8
//!   ```
//!
//! Every decision is asked of the engine compiled twice (at `now`, the
//! precomputed fast path, and at the beginning of time, the slow path) and of
//! the reference evaluator in `tests/reference`, which must agree with the
//! expectation too. A `<object>_view` check with a record is also asked of
//! the list predicate (`view_predicate(..).matches(record)`).

mod reference;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use permset_core::{load_workspace_file, FieldLevel, Model, Record, Request, Snapshot};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(s) => {
            s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
        }
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned), to_json(v)))
                .collect(),
        ),
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

fn to_record(y: &Yaml) -> Option<Record> {
    match to_json(y) {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("bad time `{text}`: {e}"))
}

struct Workspace {
    model: Model,
    compiled: Result<(Snapshot, Snapshot), String>,
}

/// Runs one case file; returns a line per failure.
fn run_file(path: &Path) -> Vec<String> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match std::fs::read_to_string(path) {
        Ok(text) => run_text(&name, &text),
        Err(e) => vec![format!("{name}: cannot read: {e}")],
    }
}

/// Runs the text of one case file; returns a line per failure.
fn run_text(name: &str, text: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let mut docs: Vec<String> = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    let mut workspace: Option<Workspace> = None;
    let mut count = 0;
    for (d, doc) in docs.iter().enumerate().filter(|(_, doc)| !doc.trim().is_empty()) {
        let at = format!("{name} doc {}", d + 1);
        let parsed = match YamlLoader::load_from_str(doc) {
            Ok(mut v) if !v.is_empty() => v.remove(0),
            Ok(_) => continue,
            Err(e) => {
                failures.push(format!("{at}: not YAML: {e}"));
                continue;
            }
        };
        if !parsed["workspace"].is_badvalue() {
            match load_workspace_file(doc) {
                Ok((model, _)) => {
                    let compiled = Snapshot::compile(&model)
                        .and_then(|slow| Ok((slow, Snapshot::compile_at(&model, default_now(), 1)?)))
                        .map_err(|e| e.to_string());
                    workspace = Some(Workspace { model, compiled });
                }
                Err(errors) => {
                    failures.push(format!("{at}: workspace does not load: {errors:?}"));
                    workspace = None;
                }
            }
            continue;
        }
        let Some(ws) = &workspace else {
            failures.push(format!("{at}: checks without a workspace before them"));
            continue;
        };
        let now = match parsed["now"].as_str() {
            Some(t) => match time(t) {
                Ok(t) => t,
                Err(e) => {
                    failures.push(format!("{at}: {e}"));
                    continue;
                }
            },
            None => default_now(),
        };
        if let Some(wanted) = parsed["compile_error"].as_vec() {
            count += 1;
            match &ws.compiled {
                Ok(_) => failures.push(format!("{at}: expected a compile error, but the workspace compiles")),
                Err(message) => {
                    for w in wanted.iter().filter_map(Yaml::as_str) {
                        if !message.contains(w) {
                            failures.push(format!("{at}: compile error does not mention `{w}`: {message}"));
                        }
                    }
                }
            }
        }
        let Some(checks) = parsed["checks"].as_vec() else { continue };
        let (slow, fast) = match &ws.compiled {
            Ok((slow, fast)) => (slow, fast),
            Err(e) => {
                failures.push(format!("{at}: workspace does not compile: {e}"));
                continue;
            }
        };
        let reference = reference::Reference::new(&ws.model);
        let mut records: BTreeMap<(String, String), Record> = BTreeMap::new();
        if let Some(objects) = parsed["records"].as_hash() {
            for (object, by_id) in objects {
                for (id, rec) in by_id.as_hash().into_iter().flatten() {
                    let key = (
                        object.as_str().unwrap_or_default().to_owned(),
                        id.as_str().unwrap_or_default().to_owned(),
                    );
                    match to_record(rec) {
                        Some(record) => {
                            records.insert(key, record);
                        }
                        None => failures.push(format!("{at}: record {key:?} must be a map")),
                    }
                }
            }
        }
        for (i, check) in checks.iter().enumerate() {
            count += 1;
            // A misspelt key would otherwise be a check that cannot fail
            // (`recrod:` asking a module-level question, `expct:` expecting nothing).
            if let Some(problem) = malformed(check) {
                failures.push(format!("{at} check {}: {problem}", i + 1));
                continue;
            }
            let user = check["user"].as_str().unwrap_or_default();
            let label = check["name"].as_str().map(str::to_owned).unwrap_or_else(|| {
                let what = ["permission", "field", "list", "write", "redact"]
                    .iter()
                    .find_map(|k| check[*k].as_str().map(|v| format!("{k} {v}")))
                    .unwrap_or_default();
                format!("{user} {what}")
            });
            let at = format!("{at} check {} ({label})", i + 1);
            let now = match check["at"].as_str() {
                Some(t) => match time(t) {
                    Ok(t) => t,
                    Err(e) => {
                        failures.push(format!("{at}: {e}"));
                        continue;
                    }
                },
                None => now,
            };
            let expect = check["expect"].as_str().unwrap_or_default();
            if let Some(permission) = check["permission"].as_str() {
                // No `record` key is a module-level question; `record: {}` is an empty record.
                let record = optional_record(check, "record");
                let before = optional_record(check, "before");
                let request =
                    Request { user, permission, record: record.as_ref(), before: before.as_ref(), now };
                let wanted = match expect {
                    "allow" => (true, false),
                    "deny" => (false, false),
                    "limited" => (true, true),
                    other => {
                        failures.push(format!("{at}: unknown expectation `{other}`"));
                        continue;
                    }
                };
                for (which, snapshot) in [("fast path", fast), ("slow path", slow)] {
                    let d = snapshot.check(&request);
                    if (d.is_allowed(), d.is_limited()) != wanted {
                        failures.push(format!(
                            "{at}: engine ({which}) says allowed={} limited={}, expected {expect}",
                            d.is_allowed(),
                            d.is_limited()
                        ));
                        break;
                    }
                }
                // A view of a record is also a question for the list predicate:
                // the records a list shows are exactly those `check` allows.
                if let (Some((object, "view")), Some(record)) = (permission.rsplit_once('_'), &record) {
                    for (which, snapshot) in [("fast path", fast), ("slow path", slow)] {
                        let predicate = snapshot.view_predicate(user, object, now);
                        if predicate.matches(record) != wanted.0 {
                            failures.push(format!(
                                "{at}: list predicate ({which}) `{predicate}` says {}, expected {expect}",
                                predicate.matches(record)
                            ));
                            break;
                        }
                    }
                }
                let r = reference.check(user, permission, record.as_ref(), before.as_ref(), now);
                if r != wanted {
                    failures.push(format!(
                        "{at}: reference says allowed={} limited={}, expected {expect}",
                        r.0, r.1
                    ));
                }
            } else if let Some(path) = check["field"].as_str() {
                let (object, field) = path.split_once('.').unwrap_or((path, ""));
                let level = fast.field_level(user, object, field, now);
                let r = reference.field_level(user, object, field, now);
                if level.as_str() != expect || r.as_str() != expect {
                    failures.push(format!(
                        "{at}: engine says {}, reference {}, expected {expect}",
                        level.as_str(),
                        r.as_str()
                    ));
                }
            } else if let Some(object) = check["list"].as_str() {
                let (got, r) = (fast.may_list(user, object, now), reference.may_list(user, object, now));
                let wanted = expect == "allow";
                if got != wanted || r != wanted {
                    failures.push(format!("{at}: engine says {got}, reference {r}, expected {expect}"));
                }
            } else if let Some(object) = check["write"].as_str() {
                let fields: Vec<&str> =
                    check["fields"].as_vec().into_iter().flatten().filter_map(Yaml::as_str).collect();
                let blocked = fast.first_unwritable_field(user, object, fields.iter().copied(), now);
                let levels: Vec<FieldLevel> =
                    fields.iter().map(|f| reference.field_level(user, object, f, now)).collect();
                let r_blocked = fields
                    .iter()
                    .zip(&levels)
                    .find(|(f, l)| **f != "id" && **l < FieldLevel::Edit)
                    .map(|(f, _)| *f);
                let wanted_allow = expect == "allow";
                if blocked.is_none() != wanted_allow || r_blocked.is_none() != wanted_allow {
                    failures.push(format!(
                        "{at}: engine blocks on {blocked:?}, reference on {r_blocked:?}, expected {expect}"
                    ));
                }
            } else if let Some(object) = check["redact"].as_str() {
                let (Some(record), Some(wanted)) =
                    (optional_record(check, "record"), optional_record(check, "expect_record"))
                else {
                    failures.push(format!("{at}: a redact check needs `record` and `expect_record` maps"));
                    continue;
                };
                let lookup = |o: &str, id: &str| records.get(&(o.to_owned(), id.to_owned()));
                let got = fast.redact(user, object, &record, now, &lookup);
                if got != wanted {
                    failures.push(format!(
                        "{at}: redacted to {}, expected {}",
                        Value::Object(got),
                        Value::Object(wanted)
                    ));
                }
            } else {
                failures
                    .push(format!("{at}: a check needs `permission`, `field`, `write`, `list` or `redact`"));
            }
        }
    }
    if count == 0 {
        failures.push(format!("{name}: no checks"));
    }
    failures
}

/// A record given under `key`: `None` when the key is absent (a module-level
/// question), the map otherwise. `malformed` has made sure it is a map.
fn optional_record(check: &Yaml, key: &str) -> Option<Record> {
    check.as_hash()?.get(&Yaml::String(key.to_owned())).and_then(to_record)
}

/// What is wrong with a check's shape, if anything: unknown or missing keys,
/// an expectation its kind does not have, a record that is not a map.
fn malformed(check: &Yaml) -> Option<String> {
    let Some(map) = check.as_hash() else { return Some("a check must be a map".into()) };
    let keys: Vec<&str> = map.keys().filter_map(Yaml::as_str).collect();
    if keys.len() != map.len() {
        return Some("check keys must be strings".into());
    }
    let kinds = ["permission", "field", "write", "list", "redact"];
    let kind: Vec<&str> = kinds.iter().copied().filter(|k| keys.contains(k)).collect();
    let [kind] = kind.as_slice() else {
        return Some(format!("a check needs exactly one of {kinds:?}, found {kind:?}"));
    };
    let (allowed, expectations): (&[&str], &[&str]) = match *kind {
        "permission" => (&["record", "before", "at", "expect"], &["allow", "deny", "limited"]),
        "field" => (&["at", "expect"], &["none", "read", "edit"]),
        "write" => (&["fields", "at", "expect"], &["allow", "deny"]),
        "list" => (&["at", "expect"], &["allow", "deny"]),
        _ => (&["record", "expect_record", "at"], &[]),
    };
    for key in &keys {
        if !["name", "user", *kind].contains(key) && !allowed.contains(key) {
            return Some(format!("unknown key `{key}` in a `{kind}` check"));
        }
    }
    if check["user"].as_str().is_none() {
        return Some("a check needs a `user`".into());
    }
    if !expectations.is_empty() {
        let expect = check["expect"].as_str().unwrap_or_default();
        if !expectations.contains(&expect) {
            return Some(format!("`expect: {expect}` is not one of {expectations:?}"));
        }
    }
    if *kind == "write" && check["fields"].as_vec().is_none_or(|f| f.is_empty()) {
        return Some("a write check needs a non-empty `fields` list".into());
    }
    for key in ["record", "before", "expect_record"] {
        if let Some(value) = map.get(&Yaml::String(key.to_owned())) {
            if value.as_hash().is_none() {
                return Some(format!("`{key}` must be a map"));
            }
        }
    }
    None
}

fn default_now() -> DateTime<Utc> {
    time("2026-06-01T00:00:00Z").unwrap_or_default()
}

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    files
}

#[test]
fn decision_cases() {
    let files = case_files();
    assert!(files.len() >= 10, "expected the case files under tests/cases, found {}", files.len());
    let failures: Vec<String> = files.iter().flat_map(|f| run_file(f)).collect();
    assert!(failures.is_empty(), "{} failing case(s):\n{}", failures.len(), failures.join("\n"));
}

/// Rule 8 for a list of lookups: the id of a target the user cannot view must
/// not come back, whether the list holds one lookup or many.
#[test]
fn list_of_lookups_never_returns_unviewable_ids() {
    let (model, _) = load_workspace_file(
        "workspace: w\n\
         objects:\n  customers:\n    fields:\n      partners: { list: { lookup: companies } }\n\
         users: { ann: {} }\n\
         roles: { customers_only: { grants: { customers_view: all } } }\n\
         assignments: { users: { ann: [customers_only] } }\n",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let snapshot = Snapshot::compile(&model).unwrap_or_else(|e| panic!("{e}"));
    let company = Record::new();
    let lookup = |_: &str, _: &str| Some(&company);
    let mut record = Record::new();
    record.insert("name".into(), "Kim".into());
    record.insert("partners".into(), serde_json::json!(["secret_company_id"]));
    let out = snapshot.redact("ann", "customers", &record, default_now(), &lookup);
    let shown = Value::Object(out).to_string();
    assert!(
        !shown.contains("secret_company_id"),
        "an unviewable lookup target's id leaks through a list: {shown}"
    );
}

const RUNNER_WORKSPACE: &str = "workspace: w\nusers: { ann: {} }\nroles: { mine: { grants: { conversations_view: own } } }\nassignments: { users: { ann: [mine] } }\n---\n";

/// The runner itself: a check with no `record` is a module-level question
/// (a limited grant answers `limited`), while `record: {}` is a record that
/// `own` does not match. Either reading of the other would fail here.
#[test]
fn runner_tells_a_missing_record_from_an_empty_one() {
    let module = "checks:\n  - { user: ann, permission: conversations_view, expect: limited }\n";
    assert_eq!(run_text("t", &format!("{RUNNER_WORKSPACE}{module}")), Vec::<String>::new());
    let empty = "checks:\n  - { user: ann, permission: conversations_view, record: {}, expect: deny }\n";
    assert_eq!(run_text("t", &format!("{RUNNER_WORKSPACE}{empty}")), Vec::<String>::new());
    let wrong = "checks:\n  - { user: ann, permission: conversations_view, record: {}, expect: limited }\n";
    let failures = run_text("t", &format!("{RUNNER_WORKSPACE}{wrong}"));
    assert!(failures.iter().any(|f| f.contains("engine")), "{failures:?}");
    assert!(failures.iter().any(|f| f.contains("reference")), "{failures:?}");
}

/// A misspelt key, a missing user or an unknown expectation is a failure,
/// never a check that quietly asks something else.
#[test]
fn runner_refuses_malformed_checks() {
    for check in [
        "{ user: ann, permission: conversations_view, recrod: { assignee: ann }, expect: allow }",
        "{ permission: conversations_view, expect: deny }",
        "{ user: ann, permission: conversations_view, expect: alow }",
        "{ user: ann, permission: conversations_view, record: 3, expect: deny }",
        "{ user: ann, field: conversations.status, expect: allow }",
        "{ user: ann, write: conversations, expect: allow }",
        "{ user: ann, write: conversations, fields: [status], expect: read }",
        "{ user: ann, redact: conversations, record: { status: open } }",
        "{ user: ann, permission: conversations_view, list: conversations, expect: deny }",
    ] {
        let failures = run_text("t", &format!("{RUNNER_WORKSPACE}checks:\n  - {check}\n"));
        assert_eq!(failures.len(), 1, "{check} gave {failures:?}");
    }
}
