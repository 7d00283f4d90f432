//! Structure-aware generators driven by fuzz bytes: the targets' shared
//! workspace (one object with a field of every type), condition text from
//! the grammar, and JSON values and records built from edge values.
//!
//! Every choice reads the [`Unstructured`] input, so a mutation of the bytes
//! is a mutation of the structure. A drained input yields the first choice
//! (`arbitrary` returns zeros), so generation always terminates.

use arbitrary::Unstructured;
use permset_core::Record;
use serde_json::{Map, Number, Value};

/// The workspace every target works in: an object `things` with one field of each type.
pub(crate) const WORKSPACE: &str = "\
workspace: fz
user_attributes: { region: string, level: number, flag: bool, since: datetime }
objects:
  things:
    fields:
      s: string
      s2: string
      n: number
      b: bool
      e: { enum: [a, b, c] }
      d: { type: datetime, indexed: true }
      u: user
      t: team
      k: { lookup: things }
      ls: { list: string }
      ln: { list: number }
      ld: { list: datetime }
    owner_field: u
    team_field: t
teams: { t1: {}, t2: {} }
users:
  own: { account_owner: true }
  u1: { teams: [t1], attributes: { region: emea, level: 3, flag: true, since: '2024-01-01T00:00:00Z' } }
  u2: { teams: [t1, t2] }
";

/// The fields of `things`, and what each holds.
pub(crate) const FIELDS: &[&str] = &["s", "s2", "n", "b", "e", "d", "u", "t", "k", "ls", "ln", "ld"];

/// Strings that have broken string handling elsewhere: quotes, escapes,
/// SQL wildcards, NUL, case, multi-byte text, the workspace's keys.
pub(crate) const STRINGS: &[&str] = &[
    "", "a", "A", "ab", "b", "c", "zz", "é", "e\u{301}", "😀", "a b", "'", "''", "\"", "\\", "%", "_",
    "a\0b", "\0", "own", "u1", "t1", "emea",
];

/// Datetimes that are (or nearly are) RFC 3339: offsets, case, precision,
/// a leap second, the ends of the range, an impossible date.
pub(crate) const DATETIMES: &[&str] = &[
    "2024-01-01T00:00:00Z",
    "2024-01-01T01:00:00+01:00",
    "2024-01-01t00:00:00z",
    "2024-01-01T00:00:00.000000001Z",
    "2023-12-31T23:59:59.999999999Z",
    "2016-12-31T23:59:60Z",
    "1999-01-01T00:00:00-23:59",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2024-02-30T00:00:00Z",
    " 2024-01-01T00:00:00Z",
    "2024-01-01",
];

/// Numbers at the edges of `f64` and of exact integers.
pub(crate) const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "1",
    "-1",
    "0.1",
    "2.5",
    "3",
    "1e20",
    "1E-7",
    "1e308",
    "-1e308",
    "5e-324",
    "9007199254740992",
    "9007199254740993",
    "-9007199254740993",
    "18446744073709551615",
    "-9223372036854775808",
    "123456789012345678901234567890",
];

/// Reads a choice below `n` (0 on a drained input).
pub(crate) fn choose(u: &mut Unstructured<'_>, n: usize) -> usize {
    u.choose_index(n).unwrap_or(0)
}

/// One of `items` (the first on a drained input).
pub(crate) fn pick<'a>(u: &mut Unstructured<'_>, items: &[&'a str]) -> &'a str {
    items.get(choose(u, items.len())).copied().unwrap_or_default()
}

fn bool_of(u: &mut Unstructured<'_>) -> bool {
    u.arbitrary().unwrap_or(false)
}

/// A short string: usually an edge value, sometimes raw fuzz text.
pub(crate) fn string(u: &mut Unstructured<'_>) -> String {
    if choose(u, 4) == 0 {
        let len = choose(u, 8);
        let bytes = u.bytes(len).unwrap_or_default();
        return String::from_utf8_lossy(bytes).into_owned();
    }
    if choose(u, 3) == 0 {
        return pick(u, DATETIMES).to_owned();
    }
    pick(u, STRINGS).to_owned()
}

/// A number, as JSON.
pub(crate) fn number(u: &mut Unstructured<'_>) -> Value {
    if choose(u, 4) == 0 {
        let n: f64 = u.arbitrary().unwrap_or(0.0);
        return Number::from_f64(n).map_or(Value::Null, Value::Number);
    }
    serde_json::from_str(pick(u, NUMBERS)).unwrap_or(Value::Null)
}

/// A scalar of any JSON type.
fn scalar(u: &mut Unstructured<'_>) -> Value {
    match choose(u, 5) {
        0 => Value::Null,
        1 => Value::Bool(bool_of(u)),
        2 => number(u),
        _ => Value::String(string(u)),
    }
}

/// A value of the type field `name` declares, or (sometimes, when `loose`) of another type.
pub(crate) fn field_value(u: &mut Unstructured<'_>, name: &str, loose: bool) -> Value {
    if loose && choose(u, 6) == 0 {
        return any_value(u, 2);
    }
    let list = |u: &mut Unstructured<'_>, f: &dyn Fn(&mut Unstructured<'_>) -> Value| {
        let n = choose(u, 4);
        Value::Array((0..n).map(|_| f(u)).collect())
    };
    let text = |v: &str| Value::String(v.to_owned());
    match name {
        "s" | "s2" => Value::String(string(u)),
        "n" => number(u),
        "b" => Value::Bool(bool_of(u)),
        "e" => text(pick(u, &["a", "b", "c"])),
        "d" => text(pick(u, DATETIMES)),
        "u" => text(pick(u, &["own", "u1", "u2"])),
        "t" => text(pick(u, &["t1", "t2"])),
        "k" => text(pick(u, &["r0", "r1", "r2"])),
        "ls" => list(u, &|u| Value::String(string(u))),
        "ln" => list(u, &number),
        _ => list(u, &|u| text(pick(u, DATETIMES))),
    }
}

/// Any JSON value, nested at most `depth` levels.
pub(crate) fn any_value(u: &mut Unstructured<'_>, depth: u32) -> Value {
    if depth == 0 {
        return scalar(u);
    }
    match choose(u, 7) {
        0 => {
            let n = choose(u, 4);
            Value::Array((0..n).map(|_| any_value(u, depth - 1)).collect())
        }
        1 => {
            let n = choose(u, 3);
            let mut map = Map::new();
            for _ in 0..n {
                map.insert(pick(u, FIELDS).to_owned(), any_value(u, depth - 1));
            }
            Value::Object(map)
        }
        _ => scalar(u),
    }
}

/// A record body of `things`: known fields with values of their type (or
/// not, when `loose`), sometimes an unknown field or an `id`.
pub(crate) fn record(u: &mut Unstructured<'_>, loose: bool) -> Record {
    let mut record = Record::new();
    for name in FIELDS {
        match choose(u, 8) {
            0..=2 => {}
            3 => {
                record.insert((*name).to_owned(), Value::Null);
            }
            _ => {
                record.insert((*name).to_owned(), field_value(u, name, loose));
            }
        }
    }
    if loose && choose(u, 8) == 0 {
        record.insert(pick(u, &["id", "zz", "S", "tier", ""]).to_owned(), any_value(u, 1));
    }
    record
}

/// A string literal in condition syntax.
fn string_literal(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A literal operand: scalar or list.
fn literal(u: &mut Unstructured<'_>) -> String {
    match choose(u, 8) {
        0 => "null".to_owned(),
        1 => pick(u, &["true", "false"]).to_owned(),
        2 | 3 => pick(u, NUMBERS).to_owned(),
        4 => {
            let n = choose(u, 4);
            let items: Vec<String> = (0..n).map(|_| literal_scalar(u)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => string_literal(&string(u)),
    }
}

fn literal_scalar(u: &mut Unstructured<'_>) -> String {
    match choose(u, 5) {
        0 => "null".to_owned(),
        1 => pick(u, NUMBERS).to_owned(),
        2 => pick(u, &["true", "false"]).to_owned(),
        _ => string_literal(&string(u)),
    }
}

fn operand(u: &mut Unstructured<'_>, user: bool) -> String {
    match choose(u, if user { 6 } else { 4 }) {
        0 | 1 => pick(u, FIELDS).to_owned(),
        2 => "id".to_owned(),
        3 => literal(u),
        _ => pick(u, &["user.id", "user.teams", "user.region", "user.level", "user.flag", "user.since"])
            .to_owned(),
    }
}

/// A condition from the grammar, at most `depth` levels deep; `user`
/// allows `user.` operands. Many are ill-typed on purpose: the type checker
/// is under test too.
pub(crate) fn condition(u: &mut Unstructured<'_>, depth: u32, user: bool) -> String {
    if depth > 0 && choose(u, 3) == 0 {
        let n = 2 + choose(u, 2);
        let parts: Vec<String> = (0..n).map(|_| condition(u, depth - 1, user)).collect();
        return match choose(u, 3) {
            0 => format!("({})", parts.join(" and ")),
            1 => format!("({})", parts.join(" or ")),
            _ => format!("not ({})", parts.join(" and ")),
        };
    }
    if choose(u, 10) == 0 {
        return pick(u, &["b", "not b", "user.flag", "true", "false", "e"]).to_owned();
    }
    let op = pick(u, &["==", "!=", "<", "<=", ">", ">=", "in", "contains"]);
    // Mostly a field against a literal or field of a compatible shape.
    let left = if choose(u, 4) == 0 { operand(u, user) } else { pick(u, FIELDS).to_owned() };
    let right = match choose(u, 3) {
        0 => operand(u, user),
        _ => literal(u),
    };
    format!("{left} {op} {right}")
}
