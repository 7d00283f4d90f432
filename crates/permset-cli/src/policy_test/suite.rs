//! A test suite file (`*.permset-test.yaml`) read into typed cases, checked
//! against the compiled workspace it tests: every user, permission, object
//! and field a case names must exist, with the nearest valid name suggested
//! when one does not (a misspelt name would otherwise make a case pass for
//! the wrong reason: an unknown permission is always a deny).
//!
//! ```yaml
//! at: 2026-06-01T00:00:00Z          # default decision time (default: now)
//! records:                          # fixtures for list cases: object -> id -> record
//!   customers: { c1: { tier: basic }, c2: { tier: vip } }
//! cases:
//!   - { name: "…", user: bob, permission: customers_update, record: { tier: vip },
//!       before: { tier: standard }, at: 2027-01-01T00:00:00Z, expect: allow,
//!       limited: false, fields: { ssn: read } }
//!   - { name: "…", user: bob, permission: [wallet_view, wallet_refill], expect: deny }
//!   - { name: "…", user: bob, list: customers, ids: [c2] }
//!   - { name: "…", user: bob, object: customers, fields: { ssn: none } }
//! ```

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use permset_core::{did_you_mean, FieldLevel, NearMiss, Record, Request, Snapshot};

use super::yaml::{self, Node, Value};

/// A suite read and checked: its cases, in file order, and its fixture records.
#[derive(Debug)]
pub(crate) struct Suite {
    /// The path as given or found, for messages.
    pub(crate) file: String,
    pub(crate) cases: Vec<Case>,
    /// Object -> records in file order, each with its id.
    pub(crate) records: BTreeMap<String, Vec<(String, Record)>>,
}

/// One named case.
#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) name: String,
    /// The line of the case's list item.
    pub(crate) line: usize,
    pub(crate) user: String,
    pub(crate) at: DateTime<Utc>,
    pub(crate) kind: CaseKind,
    /// Expected field levels on the case's object, each with its line.
    pub(crate) fields: Vec<(String, FieldLevel, usize)>,
}

/// What a case asks.
#[derive(Debug)]
pub(crate) enum CaseKind {
    /// One decision.
    Decision {
        /// One decision per permission, each with the same expectation.
        permissions: Vec<String>,
        record: Option<Record>,
        before: Option<Record>,
        expect: Expect,
    },
    /// Which fixture records of `object` a list returns.
    List { object: String, ids: Vec<String> },
    /// Field levels only.
    Fields { object: String },
}

/// The expected decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    Deny,
    /// Allowed; `limited` pins whether the allow is limited (`None`: either).
    Allow {
        limited: Option<bool>,
    },
}

impl Expect {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Expect::Deny => "deny",
            Expect::Allow { limited: None } => "allow",
            Expect::Allow { limited: Some(true) } => "limited",
            Expect::Allow { limited: Some(false) } => "allow (not limited)",
        }
    }
}

const TOP_KEYS: &[&str] = &["at", "records", "cases"];
const CASE_KEYS: &[&str] = &[
    "name",
    "user",
    "permission",
    "record",
    "before",
    "at",
    "expect",
    "limited",
    "fields",
    "list",
    "ids",
    "object",
];

/// Reads a suite. Every problem is returned as `FILE:LINE: message`, sorted by line.
pub(crate) fn read(
    file: &str,
    text: &str,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> Result<Suite, Vec<String>> {
    let mut reader = Reader { file, snapshot, errors: Vec::new() };
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => return Err(vec![format!("{file}:1: the suite is empty; it needs `cases:`")]),
        Err(errors) => {
            return Err(errors.iter().map(|e| format!("{file}:{}: {}", e.line, e.message)).collect())
        }
    };
    let suite = reader.suite(&root, now);
    if reader.errors.is_empty() {
        Ok(suite)
    } else {
        reader.errors.sort_by_key(|(line, _)| *line);
        Err(reader.errors.into_iter().map(|(line, message)| format!("{file}:{line}: {message}")).collect())
    }
}

struct Reader<'a> {
    file: &'a str,
    snapshot: &'a Snapshot,
    errors: Vec<(usize, String)>,
}

fn entries(node: &Node) -> &[(String, usize, Node)] {
    match &node.value {
        Value::Map(entries) => entries,
        _ => &[],
    }
}

fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    entries(node).iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v)
}

impl Reader<'_> {
    fn err(&mut self, line: usize, message: impl Into<String>) {
        self.errors.push((line, message.into()));
    }

    fn known_keys(&mut self, node: &Node, allowed: &[&str], what: &str) {
        for (key, line, _) in entries(node) {
            if !allowed.contains(&key.as_str()) {
                let hint = did_you_mean(key, allowed.iter().copied());
                self.err(*line, format!("unknown key `{key}` in {what}{hint}"));
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.as_str() {
            Some(s) if !s.is_empty() => Some(s.to_owned()),
            _ => {
                self.err(node.line, format!("{what} must be a non-empty string, not {}", node.describe()));
                None
            }
        }
    }

    fn time(&mut self, node: &Node) -> Option<DateTime<Utc>> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            _ => String::new(),
        };
        match DateTime::parse_from_rfc3339(&text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.err(
                    node.line,
                    format!("`at` must be an RFC 3339 time such as `2026-01-31T09:00:00Z`, not `{text}`"),
                );
                None
            }
        }
    }

    fn suite(&mut self, root: &Node, now: DateTime<Utc>) -> Suite {
        let file = self.file.to_owned();
        if !matches!(root.value, Value::Map(_)) {
            self.err(root.line, format!("a suite is a map with `cases:`, not {}", root.describe()));
            return Suite { file, cases: Vec::new(), records: BTreeMap::new() };
        }
        self.known_keys(root, TOP_KEYS, "the suite");
        let default_at = get(root, "at").and_then(|n| self.time(n)).unwrap_or(now);
        let records = get(root, "records").map(|n| self.fixtures(n)).unwrap_or_default();
        let mut cases = Vec::new();
        match get(root, "cases").map(|n| (n, &n.value)) {
            Some((_, Value::Seq(items))) if !items.is_empty() => {
                let mut names = HashSet::new();
                for item in items {
                    if let Some(case) = self.case(item, default_at, &records) {
                        if !names.insert(case.name.clone()) {
                            self.err(
                                item.line,
                                format!("two cases are named `{}`; names must be unique", case.name),
                            );
                        }
                        cases.push(case);
                    }
                }
            }
            Some((n, _)) => self.err(n.line, "`cases` must be a non-empty list"),
            None => self.err(root.line, "the suite has no `cases:`"),
        }
        Suite { file, cases, records }
    }

    fn object_def(&mut self, name: &str, line: usize) -> Option<&permset_core::ObjectDef> {
        let objects = &self.snapshot.schema().objects;
        if let Some(def) = objects.get(name) {
            return Some(def);
        }
        let hint = did_you_mean(name, objects.keys().map(String::as_str));
        self.errors.push((line, format!("unknown object `{name}`{hint}")));
        None
    }

    /// A record of `object`: a map whose keys are the object's fields (or `id`).
    fn record(&mut self, node: &Node, object: Option<&str>, what: &str) -> Option<Record> {
        let Value::Map(items) = &node.value else {
            self.err(node.line, format!("{what} must be a map of field values, not {}", node.describe()));
            return None;
        };
        if let Some(object) = object {
            let fields: Vec<String> = self
                .object_def(object, node.line)
                .map(|d| d.fields.keys().cloned().chain(["id".to_owned()]).collect())
                .unwrap_or_default();
            for (key, line, _) in items {
                if !fields.is_empty() && !fields.contains(key) {
                    let hint = did_you_mean(key, fields.iter().map(String::as_str));
                    self.err(*line, format!("`{object}` has no field `{key}`{hint}"));
                }
            }
        }
        match node.to_json() {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        }
    }

    fn fixtures(&mut self, node: &Node) -> BTreeMap<String, Vec<(String, Record)>> {
        let mut out = BTreeMap::new();
        if !matches!(node.value, Value::Map(_)) {
            self.err(node.line, "`records` must be a map: object -> id -> record");
            return out;
        }
        for (object, line, by_id) in entries(node) {
            if self.object_def(object, *line).is_none() {
                continue;
            }
            if !matches!(by_id.value, Value::Map(_)) {
                self.err(by_id.line, format!("`records.{object}` must be a map: id -> record"));
                continue;
            }
            let mut list = Vec::new();
            for (id, _, rec) in entries(by_id) {
                if let Some(mut record) = self.record(rec, Some(object), &format!("record `{id}`")) {
                    record.insert("id".into(), serde_json::Value::String(id.clone()));
                    list.push((id.clone(), record));
                }
            }
            out.insert(object.clone(), list);
        }
        out
    }

    fn case(
        &mut self,
        node: &Node,
        default_at: DateTime<Utc>,
        records: &BTreeMap<String, Vec<(String, Record)>>,
    ) -> Option<Case> {
        if !matches!(node.value, Value::Map(_)) {
            self.err(node.line, format!("a case is a map, not {}", node.describe()));
            return None;
        }
        self.known_keys(node, CASE_KEYS, "a case");
        let errors_before = self.errors.len();
        let name = match get(node, "name") {
            Some(n) => self.string(n, "`name`"),
            None => {
                self.err(node.line, "a case needs a `name`");
                None
            }
        };
        let user = match get(node, "user") {
            Some(n) => self.string(n, "`user`").filter(|u| self.known_user(u, n.line)),
            None => {
                self.err(node.line, "a case needs a `user`");
                None
            }
        };
        let at = get(node, "at").map_or(Some(default_at), |n| self.time(n));
        let (permission, list, object) = (get(node, "permission"), get(node, "list"), get(node, "object"));
        let kind = match (permission, list, object) {
            (Some(p), None, None) => self.decision(node, p),
            (None, Some(l), None) => self.list(node, l, records),
            (None, None, Some(o)) => {
                let object = self.string(o, "`object`")?;
                self.object_def(&object, o.line)?;
                if get(node, "fields").is_none() {
                    self.err(
                        node.line,
                        "a case with `object` checks `fields`; add `fields: { FIELD: none|read|edit }`",
                    );
                }
                Some(CaseKind::Fields { object })
            }
            _ => {
                self.err(node.line, "a case needs exactly one of `permission`, `list` or `object`");
                None
            }
        };
        let object = match &kind {
            Some(CaseKind::Decision { permissions, .. }) => {
                permissions.first().and_then(|p| super::coverage::object_of(self.snapshot, p))
            }
            Some(CaseKind::List { object, .. } | CaseKind::Fields { object }) => Some(object.clone()),
            None => None,
        };
        let fields = match get(node, "fields") {
            Some(f) => self.field_levels(f, object.as_deref()),
            None => Vec::new(),
        };
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Case { name: name?, line: node.line, user: user?, at: at?, kind: kind?, fields })
    }

    fn known_user(&mut self, user: &str, line: usize) -> bool {
        let users = &self.snapshot.model().users;
        if users.contains_key(user) {
            return true;
        }
        let hint = did_you_mean(user, users.keys().map(String::as_str));
        self.errors.push((line, format!("unknown user `{user}`{hint}")));
        false
    }

    /// A permission name the engine knows (aliases included), or an error with a suggestion.
    fn permission(&mut self, node: &Node) -> Option<String> {
        let permission = self.string(node, "a permission")?;
        // The engine's own answer on whether a name exists.
        let probe = Request::new("", &permission, Utc::now());
        let unknown = self
            .snapshot
            .explain(&probe, &[])
            .near_misses
            .iter()
            .any(|m| matches!(m, NearMiss::UnknownPermission { .. }));
        if unknown {
            let hint = did_you_mean(&permission, self.snapshot.permission_names());
            self.err(node.line, format!("unknown permission `{permission}`{hint}"));
            return None;
        }
        Some(permission)
    }

    fn decision(&mut self, node: &Node, p: &Node) -> Option<CaseKind> {
        let mut permissions = Vec::new();
        match &p.value {
            Value::Seq(items) if !items.is_empty() => {
                for item in items {
                    if let Some(name) = self.permission(item) {
                        permissions.push(name);
                    }
                }
            }
            Value::Seq(_) => self.err(p.line, "`permission` must name at least one permission"),
            _ => permissions.extend(self.permission(p)),
        }
        let objects: Vec<Option<String>> =
            permissions.iter().map(|name| super::coverage::object_of(self.snapshot, name)).collect();
        let object = objects.first().cloned().flatten();
        let has_record = get(node, "record").is_some() || get(node, "before").is_some();
        if has_record && objects.iter().any(|o| *o != objects.first().cloned().flatten()) {
            self.err(p.line, "with `record`, every permission of a case must act on the same object");
        }
        let record = get(node, "record").and_then(|n| self.record(n, object.as_deref(), "`record`"));
        let before = get(node, "before").and_then(|n| self.record(n, object.as_deref(), "`before`"));
        if before.is_some() && record.is_none() {
            self.err(node.line, "`before` needs `record` (the state after the update)");
        }
        let limited = match get(node, "limited").map(|n| (n, &n.value)) {
            None => None,
            Some((_, Value::Bool(b))) => Some(*b),
            Some((n, _)) => {
                self.err(n.line, "`limited` must be `true` or `false`");
                None
            }
        };
        let expect = match get(node, "expect").map(|n| (n, n.as_str())) {
            Some((_, Some("allow"))) => Expect::Allow { limited },
            Some((_, Some("limited"))) => Expect::Allow { limited: Some(true) },
            Some((n, Some("deny"))) => {
                if limited.is_some() {
                    self.err(n.line, "`limited` goes with `expect: allow`, not `deny`");
                }
                Expect::Deny
            }
            Some((n, other)) => {
                let shown = other.unwrap_or(n.describe());
                let hint = did_you_mean(shown, ["allow", "deny", "limited"]);
                self.err(
                    n.line,
                    format!("`expect` must be `allow`, `deny` or `limited`, not `{shown}`{hint}"),
                );
                return None;
            }
            None => {
                self.err(node.line, "a `permission` case needs `expect: allow|deny|limited`");
                return None;
            }
        };
        Some(CaseKind::Decision { permissions, record, before, expect })
    }

    fn list(
        &mut self,
        node: &Node,
        l: &Node,
        records: &BTreeMap<String, Vec<(String, Record)>>,
    ) -> Option<CaseKind> {
        let object = self.string(l, "`list`")?;
        self.object_def(&object, l.line)?;
        let Some(ids_node) = get(node, "ids") else {
            self.err(node.line, "a `list` case needs `ids: [...]`, the fixture records it returns");
            return None;
        };
        let Value::Seq(items) = &ids_node.value else {
            self.err(ids_node.line, "`ids` must be a list of record ids");
            return None;
        };
        let known: Vec<&str> =
            records.get(&object).into_iter().flatten().map(|(id, _)| id.as_str()).collect();
        if known.is_empty() {
            self.err(l.line, format!("a list of `{object}` needs fixture records under `records.{object}`"));
        }
        let mut ids = Vec::new();
        for item in items {
            let id = match &item.value {
                Value::Str(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => {
                    self.err(item.line, "an id must be a string");
                    continue;
                }
            };
            if !known.is_empty() && !known.contains(&id.as_str()) {
                let hint = did_you_mean(&id, known.iter().copied());
                self.err(item.line, format!("no fixture record `{id}` under `records.{object}`{hint}"));
            }
            ids.push(id);
        }
        Some(CaseKind::List { object, ids })
    }

    fn field_levels(&mut self, node: &Node, object: Option<&str>) -> Vec<(String, FieldLevel, usize)> {
        let Some(object) = object else {
            self.err(node.line, "`fields` needs a case on an object (its permission, `list` or `object`)");
            return Vec::new();
        };
        if !matches!(node.value, Value::Map(_)) {
            self.err(node.line, "`fields` must be a map: field -> none|read|edit");
            return Vec::new();
        }
        let names: Vec<String> = self
            .snapshot
            .schema()
            .objects
            .get(object)
            .map(|d| d.fields.keys().cloned().chain(["id".to_owned()]).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for (field, line, level) in entries(node) {
            if !names.contains(field) {
                let hint = did_you_mean(field, names.iter().map(String::as_str));
                self.err(*line, format!("`{object}` has no field `{field}`{hint}"));
                continue;
            }
            let level = match level.as_str() {
                Some("none") => FieldLevel::None,
                Some("read") => FieldLevel::Read,
                Some("edit") => FieldLevel::Edit,
                _ => {
                    self.err(*line, format!("the level of `{field}` must be `none`, `read` or `edit`"));
                    continue;
                }
            };
            out.push((field.clone(), level, *line));
        }
        out
    }
}
