//! Predicate → SQL: the engine's bound view predicate (and a caller's
//! filter) become one SQL boolean over the `records` row, so that list,
//! search and export filter in the database, never after fetching.
//!
//! The translation reproduces the evaluation semantics in the `//!` header
//! of `permset_core::condition` exactly, on both dialects; the differential
//! test checks it against `Expr::matches`. How:
//!
//! - Every atom is `guard AND typed_comparison`, where the guard tests the
//!   JSON type (`json_type` in SQLite, which tells `true` from `1`;
//!   `jsonb_typeof` in PostgreSQL) and is never SQL NULL, so the result is
//!   always TRUE or FALSE and `!=` can be `NOT ==`.
//! - Numbers compare numerically (the store keeps only numbers exact as
//!   `f64`, see `validate.rs`); text compares bytewise (`COLLATE "C"` in
//!   PostgreSQL).
//! - Datetime mode reads the `instants` column: for every string value that
//!   parses as RFC 3339 (whatever the field's declared type) it holds the
//!   instant as fixed-width UTC text, so text order is time order and a
//!   value that does not parse has no instant.
//! - Arrays are unrolled against literal lists and iterated with
//!   `json_each` / `jsonb_array_elements` against stored lists.
//!
//! // INVARIANT: stored field values are null, scalars, or arrays of
//! // scalars (no type allows deeper nesting, and every write is validated),
//! // so array-to-array equality of two stored values recurses one level only.

use std::cell::Cell;

use permset_core::condition::{CmpOp, Expr, Operand};
use permset_core::{FieldType, Record};
use serde_json::Value;

use crate::db::Dialect;
use crate::StoreError;

const TRUE: &str = "TRUE";
const FALSE: &str = "FALSE";

/// A reference to a JSON value inside the current `records` row.
#[derive(Debug, Clone)]
enum Dyn {
    /// The `id` column: always a string, never an instant.
    Id,
    /// SQLite: a SQL expression giving a JSON path into `data` (and the same into `instants`).
    Path(String),
    /// PostgreSQL: JSONB expressions for the value and its instant; `top` is
    /// the field name for top-level fields (read with `->>`).
    Pg { data: String, shadow: String, top: Option<String> },
}

/// One side of a comparison.
#[derive(Debug, Clone)]
enum Term<'a> {
    Lit(&'a Value),
    Dyn(Dyn),
}

/// Translates predicates for one dialect.
pub(crate) struct Translator {
    dialect: Dialect,
    alias: Cell<u32>,
}

/// Whether `name` can be spliced into a JSON path and an index name.
pub(crate) fn valid_field_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A SQL string literal.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn and(parts: &[String]) -> String {
    if parts.iter().any(|p| p == FALSE) {
        return FALSE.to_owned();
    }
    let parts: Vec<&String> = parts.iter().filter(|p| *p != TRUE).collect();
    match parts.len() {
        0 => TRUE.to_owned(),
        1 => parts[0].clone(),
        _ => format!("({})", parts.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" AND ")),
    }
}

fn or(parts: &[String]) -> String {
    if parts.iter().any(|p| p == TRUE) {
        return TRUE.to_owned();
    }
    let parts: Vec<&String> = parts.iter().filter(|p| *p != FALSE).collect();
    match parts.len() {
        0 => FALSE.to_owned(),
        1 => parts[0].clone(),
        _ => format!("({})", parts.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" OR ")),
    }
}

fn not(part: &str) -> String {
    match part {
        TRUE => FALSE.to_owned(),
        FALSE => TRUE.to_owned(),
        other => format!("(NOT {other})"),
    }
}

fn bool_sql(b: bool) -> String {
    if b { TRUE } else { FALSE }.to_owned()
}

/// A number as a SQL literal: small integers as written, anything else as
/// the shortest `f64` text (the store keeps only `f64`-exact numbers).
pub(crate) fn number_literal(n: &serde_json::Number) -> String {
    const EXACT: i64 = 1 << 53;
    if let Some(i) = n.as_i64().filter(|i| (-EXACT..=EXACT).contains(i)) {
        return format!("({i})");
    }
    format!("({:?})", n.as_f64().unwrap_or(f64::NAN))
}

/// A string literal as an instant, fixed-width UTC, or `None` if it does not parse.
pub(crate) fn canonical_instant(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(t.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
}

/// Whether the operand puts its comparison in datetime mode (as the evaluator decides it).
fn is_datetime(operand: &Operand, op: CmpOp) -> bool {
    match operand {
        Operand::Field { ty: FieldType::Datetime, .. } => true,
        Operand::Field { ty: FieldType::List(inner), .. } => {
            matches!(op, CmpOp::In | CmpOp::Contains) && **inner == FieldType::Datetime
        }
        _ => false,
    }
}

/// Decides a comparison of two literals with the engine's own evaluator.
fn static_compare(a: &Value, op: CmpOp, b: &Value, datetime: bool) -> bool {
    let ty = if datetime { FieldType::Datetime } else { FieldType::String };
    let expr = Expr::Compare {
        left: Operand::Field { name: "a".into(), ty },
        op,
        right: Operand::Field { name: "b".into(), ty: FieldType::String },
    };
    let mut record = Record::new();
    record.insert("a".into(), a.clone());
    record.insert("b".into(), b.clone());
    expr.matches(&record)
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

fn sql_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        _ => "=",
    }
}

impl Translator {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Translator { dialect, alias: Cell::new(0) }
    }

    fn next_alias(&self) -> String {
        let n = self.alias.get() + 1;
        self.alias.set(n);
        format!("e{n}")
    }

    /// The SQL boolean for a bound predicate over the current `records` row.
    pub(crate) fn predicate(&self, expr: &Expr) -> Result<String, StoreError> {
        Ok(match expr {
            Expr::Const(b) => bool_sql(*b),
            Expr::And(items) => {
                and(&items.iter().map(|e| self.predicate(e)).collect::<Result<Vec<_>, _>>()?)
            }
            Expr::Or(items) => or(&items.iter().map(|e| self.predicate(e)).collect::<Result<Vec<_>, _>>()?),
            Expr::Not(inner) => not(&self.predicate(inner)?),
            Expr::Truthy(operand) => match self.term(operand)? {
                Term::Lit(v) => bool_sql(*v == Value::Bool(true)),
                Term::Dyn(d) => self.is_type(&d, "true"),
            },
            Expr::Compare { left, op, right } => {
                let datetime = is_datetime(left, *op) || is_datetime(right, *op);
                let (a, b) = (self.term(left)?, self.term(right)?);
                match op {
                    CmpOp::Eq => self.eq(&a, &b, datetime, 0),
                    CmpOp::Ne => not(&self.eq(&a, &b, datetime, 0)),
                    CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => self.order(&a, *op, &b, datetime),
                    CmpOp::In => self.is_in(&a, &b, datetime),
                    CmpOp::Contains => self.contains(&a, &b, datetime),
                }
            }
        })
    }

    fn term<'e>(&self, operand: &'e Operand) -> Result<Term<'e>, StoreError> {
        static NULL: Value = Value::Null;
        Ok(match operand {
            Operand::Field { name, .. } => Term::Dyn(self.field(name)?),
            Operand::Value(v) => Term::Lit(v),
            Operand::UserId | Operand::UserTeams | Operand::UserAttr(_) => Term::Lit(&NULL),
        })
    }

    fn field(&self, name: &str) -> Result<Dyn, StoreError> {
        if name == "id" {
            return Ok(Dyn::Id);
        }
        if !valid_field_name(name) {
            return Err(StoreError::invalid(format!("field name `{name}` cannot be queried")));
        }
        Ok(match self.dialect {
            Dialect::Sqlite => Dyn::Path(format!("'$.\"{name}\"'")),
            Dialect::Postgres => Dyn::Pg {
                data: format!("(data -> '{name}')"),
                shadow: format!("(instants -> '{name}')"),
                top: Some(name.to_owned()),
            },
        })
    }

    /// The SQL expression the translator uses to compare a top-level field
    /// of this type; indexes are built on exactly this expression.
    pub(crate) fn index_expression(&self, name: &str, ty: &FieldType) -> Option<String> {
        let d = self.field(name).ok()?;
        match ty {
            FieldType::Datetime => Some(self.shadow(&d)),
            FieldType::Number => Some(self.num(&d)),
            FieldType::String
            | FieldType::Enum(_)
            | FieldType::User
            | FieldType::Team
            | FieldType::Lookup(_) => Some(self.str(&d)),
            FieldType::Bool | FieldType::List(_) => None,
        }
    }

    /// A guard: whether the value has this JSON type (`null` includes missing;
    /// `true`/`false` are told apart; `number`, `string`, `array`). Never NULL.
    fn is_type(&self, d: &Dyn, wanted: &str) -> String {
        match d {
            Dyn::Id => bool_sql(wanted == "string"),
            Dyn::Path(p) => {
                let t = format!("COALESCE(json_type(data, {p}), 'null')");
                match wanted {
                    "number" => format!("({t} IN ('integer', 'real'))"),
                    "string" => format!("({t} = 'text')"),
                    other => format!("({t} = '{other}')"),
                }
            }
            Dyn::Pg { data, .. } => {
                let t = format!("COALESCE(jsonb_typeof({data}), 'null')");
                match wanted {
                    "true" | "false" => format!("({t} = 'boolean' AND {data} = '{wanted}'::jsonb)"),
                    other => format!("({t} = '{other}')"),
                }
            }
        }
    }

    /// Whether the value has an instant (a string that parses). Never NULL.
    fn has_instant(&self, d: &Dyn) -> String {
        match d {
            Dyn::Id => FALSE.to_owned(),
            Dyn::Path(p) => format!("(COALESCE(json_type(instants, {p}), 'null') = 'text')"),
            Dyn::Pg { shadow, .. } => format!("(COALESCE(jsonb_typeof({shadow}), 'null') = 'string')"),
        }
    }

    fn num(&self, d: &Dyn) -> String {
        match d {
            Dyn::Id => "NULL".to_owned(),
            Dyn::Path(p) => format!("json_extract(data, {p})"),
            Dyn::Pg { data, .. } => {
                format!("(CASE WHEN jsonb_typeof({data}) = 'number' THEN ({data})::numeric END)")
            }
        }
    }

    fn str(&self, d: &Dyn) -> String {
        match d {
            Dyn::Id => "id".to_owned(),
            Dyn::Path(p) => format!("json_extract(data, {p})"),
            Dyn::Pg { top: Some(name), .. } => format!("((data ->> '{name}') COLLATE \"C\")"),
            Dyn::Pg { data, .. } => format!("(({data} #>> '{{}}') COLLATE \"C\")"),
        }
    }

    fn shadow(&self, d: &Dyn) -> String {
        match d {
            Dyn::Id => "NULL".to_owned(),
            Dyn::Path(p) => format!("json_extract(instants, {p})"),
            Dyn::Pg { top: Some(name), .. } => format!("((instants ->> '{name}') COLLATE \"C\")"),
            Dyn::Pg { shadow, .. } => format!("(({shadow} #>> '{{}}') COLLATE \"C\")"),
        }
    }

    /// Array length, meaningful only under an `array` guard.
    fn len(&self, d: &Dyn) -> String {
        match d {
            Dyn::Id => "0".to_owned(),
            Dyn::Path(p) => format!("json_array_length(data, {p})"),
            Dyn::Pg { data, .. } => {
                format!("(CASE WHEN jsonb_typeof({data}) = 'array' THEN jsonb_array_length({data}) END)")
            }
        }
    }

    /// Element `index` (a SQL integer expression) of an array value.
    fn elem(&self, d: &Dyn, index: &str) -> Dyn {
        match d {
            Dyn::Id => Dyn::Id,
            Dyn::Path(p) => Dyn::Path(format!("({p} || '[' || ({index}) || ']')")),
            Dyn::Pg { data, shadow, .. } => Dyn::Pg {
                data: format!("({data} -> ({index}))"),
                shadow: format!("({shadow} -> ({index}))"),
                top: None,
            },
        }
    }

    /// `EXISTS` an element of the array value `d` for which `cond(element, index)` holds.
    /// Callers put it under an `array` guard.
    fn exists(&self, d: &Dyn, cond: impl FnOnce(&Dyn, &str) -> String) -> String {
        let e = self.next_alias();
        match d {
            Dyn::Id => FALSE.to_owned(),
            Dyn::Path(p) => {
                let index = format!("{e}.key");
                let body = cond(&self.elem(d, &index), &index);
                format!("EXISTS (SELECT 1 FROM json_each(data, {p}) AS {e} WHERE {body})")
            }
            Dyn::Pg { data, shadow, .. } => {
                let index = format!("({e}.i::int - 1)");
                let element =
                    Dyn::Pg { data: format!("{e}.v"), shadow: format!("({shadow} -> {index})"), top: None };
                let body = cond(&element, &index);
                format!(
                    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof({data}) = 'array' \
                     THEN {data} ELSE '[]'::jsonb END) WITH ORDINALITY AS {e}(v, i) WHERE {body})"
                )
            }
        }
    }

    fn eq(&self, a: &Term<'_>, b: &Term<'_>, datetime: bool, depth: u32) -> String {
        match (a, b) {
            (Term::Lit(x), Term::Lit(y)) => bool_sql(static_compare(x, CmpOp::Eq, y, datetime)),
            (Term::Dyn(d), Term::Lit(v)) | (Term::Lit(v), Term::Dyn(d)) => self.eq_lit(d, v, datetime),
            (Term::Dyn(x), Term::Dyn(y)) => self.eq_dyn(x, y, datetime, depth),
        }
    }

    fn eq_lit(&self, d: &Dyn, v: &Value, datetime: bool) -> String {
        match v {
            Value::Null => self.is_type(d, "null"),
            Value::Object(_) => FALSE.to_owned(),
            Value::Array(items) => {
                let mut parts =
                    vec![self.is_type(d, "array"), format!("({} = {})", self.len(d), items.len())];
                for (i, item) in items.iter().enumerate() {
                    parts.push(self.eq_lit(&self.elem(d, &i.to_string()), item, datetime));
                }
                and(&parts)
            }
            Value::String(s) if datetime => match canonical_instant(s) {
                Some(c) => and(&[self.has_instant(d), format!("({} = {})", self.shadow(d), quote(&c))]),
                None => FALSE.to_owned(),
            },
            _ if datetime => FALSE.to_owned(),
            Value::Bool(true) => self.is_type(d, "true"),
            Value::Bool(false) => self.is_type(d, "false"),
            Value::Number(n) => {
                and(&[self.is_type(d, "number"), format!("({} = {})", self.num(d), number_literal(n))])
            }
            // INVARIANT: stored strings never hold NUL (validate.rs rejects it).
            Value::String(s) if s.contains('\0') => FALSE.to_owned(),
            Value::String(s) => {
                and(&[self.is_type(d, "string"), format!("({} = {})", self.str(d), quote(s))])
            }
        }
    }

    fn eq_dyn(&self, a: &Dyn, b: &Dyn, datetime: bool, depth: u32) -> String {
        let mut parts = vec![and(&[self.is_type(a, "null"), self.is_type(b, "null")])];
        if depth == 0 {
            let all_equal =
                self.exists(a, |x, index| not(&self.eq_dyn(x, &self.elem(b, index), datetime, 1)));
            parts.push(and(&[
                self.is_type(a, "array"),
                self.is_type(b, "array"),
                format!("({} = {})", self.len(a), self.len(b)),
                not(&all_equal),
            ]));
        }
        if datetime {
            let same = format!("({} = {})", self.shadow(a), self.shadow(b));
            parts.push(and(&[self.has_instant(a), self.has_instant(b), same]));
        } else {
            parts.push(and(&[self.is_type(a, "true"), self.is_type(b, "true")]));
            parts.push(and(&[self.is_type(a, "false"), self.is_type(b, "false")]));
            let same_num = format!("({} = {})", self.num(a), self.num(b));
            parts.push(and(&[self.is_type(a, "number"), self.is_type(b, "number"), same_num]));
            let same_str = format!("({} = {})", self.str(a), self.str(b));
            parts.push(and(&[self.is_type(a, "string"), self.is_type(b, "string"), same_str]));
        }
        or(&parts)
    }

    fn order(&self, a: &Term<'_>, op: CmpOp, b: &Term<'_>, datetime: bool) -> String {
        match (a, b) {
            (Term::Lit(x), Term::Lit(y)) => bool_sql(static_compare(x, op, y, datetime)),
            (Term::Lit(v), Term::Dyn(d)) => self.order_lit(d, flip(op), v, datetime),
            (Term::Dyn(d), Term::Lit(v)) => self.order_lit(d, op, v, datetime),
            (Term::Dyn(x), Term::Dyn(y)) => {
                let o = sql_op(op);
                let num = format!("({} {o} {})", self.num(x), self.num(y));
                let num = and(&[self.is_type(x, "number"), self.is_type(y, "number"), num]);
                let text = if datetime {
                    let c = format!("({} {o} {})", self.shadow(x), self.shadow(y));
                    and(&[self.has_instant(x), self.has_instant(y), c])
                } else {
                    let c = format!("({} {o} {})", self.str(x), self.str(y));
                    and(&[self.is_type(x, "string"), self.is_type(y, "string"), c])
                };
                or(&[num, text])
            }
        }
    }

    /// `d op v` for a literal `v`.
    fn order_lit(&self, d: &Dyn, op: CmpOp, v: &Value, datetime: bool) -> String {
        match v {
            Value::Number(n) => {
                let c = format!("({} {} {})", self.num(d), sql_op(op), number_literal(n));
                and(&[self.is_type(d, "number"), c])
            }
            Value::String(s) if datetime => match canonical_instant(s) {
                Some(c) => {
                    let cmp = format!("({} {} {})", self.shadow(d), sql_op(op), quote(&c));
                    and(&[self.has_instant(d), cmp])
                }
                None => FALSE.to_owned(),
            },
            Value::String(s) => {
                // Stored strings hold no NUL: against `p\0…`, `x < lit` is `x <= p`
                // and `x > lit` is `x > p`.
                let (op, s) = match s.split_once('\0') {
                    Some((prefix, _)) => {
                        let op = match op {
                            CmpOp::Lt | CmpOp::Le => CmpOp::Le,
                            _ => CmpOp::Gt,
                        };
                        (op, prefix)
                    }
                    None => (op, s.as_str()),
                };
                let c = format!("({} {} {})", self.str(d), sql_op(op), quote(s));
                and(&[self.is_type(d, "string"), c])
            }
            _ => FALSE.to_owned(),
        }
    }

    fn is_in(&self, a: &Term<'_>, b: &Term<'_>, datetime: bool) -> String {
        match b {
            Term::Lit(Value::Array(items)) => {
                if let (Term::Dyn(d), false) = (a, datetime) {
                    // Group plain strings and numbers into `IN (…)` lists, which indexes serve.
                    let strings: Vec<String> = items
                        .iter()
                        .filter_map(|v| v.as_str())
                        .filter(|s| !s.contains('\0'))
                        .map(quote)
                        .collect();
                    let numbers: Vec<String> =
                        items.iter().filter_map(|v| v.as_number()).map(number_literal).collect();
                    let mut parts = Vec::new();
                    if !strings.is_empty() {
                        let c = format!("({} IN ({}))", self.str(d), strings.join(", "));
                        parts.push(and(&[self.is_type(d, "string"), c]));
                    }
                    if !numbers.is_empty() {
                        let c = format!("({} IN ({}))", self.num(d), numbers.join(", "));
                        parts.push(and(&[self.is_type(d, "number"), c]));
                    }
                    for item in items.iter().filter(|v| !v.is_string() && !v.is_number()) {
                        parts.push(self.eq_lit(d, item, false));
                    }
                    return or(&parts);
                }
                or(&items.iter().map(|item| self.eq(a, &Term::Lit(item), datetime, 0)).collect::<Vec<_>>())
            }
            Term::Lit(_) => FALSE.to_owned(),
            Term::Dyn(list) => {
                let any = self.exists(list, |x, _| self.eq(a, &Term::Dyn(x.clone()), datetime, 1));
                and(&[self.is_type(list, "array"), any])
            }
        }
    }

    fn contains(&self, a: &Term<'_>, b: &Term<'_>, datetime: bool) -> String {
        let substring = match (a, b) {
            (Term::Lit(x), Term::Lit(y)) => return bool_sql(static_compare(x, CmpOp::Contains, y, datetime)),
            (Term::Lit(Value::String(hay)), Term::Dyn(needle)) => {
                // A stored needle holds no NUL, so it must sit inside one NUL-free piece.
                let pieces: Vec<String> =
                    hay.split('\0').map(|piece| self.instr(&quote(piece), &self.str(needle))).collect();
                and(&[self.is_type(needle, "string"), or(&pieces)])
            }
            (Term::Lit(_), Term::Dyn(_)) => FALSE.to_owned(),
            (Term::Dyn(hay), Term::Lit(Value::String(needle))) => {
                if needle.contains('\0') {
                    FALSE.to_owned()
                } else {
                    and(&[self.is_type(hay, "string"), self.instr(&self.str(hay), &quote(needle))])
                }
            }
            (Term::Dyn(_), Term::Lit(_)) => FALSE.to_owned(),
            (Term::Dyn(hay), Term::Dyn(needle)) => and(&[
                self.is_type(hay, "string"),
                self.is_type(needle, "string"),
                self.instr(&self.str(hay), &self.str(needle)),
            ]),
        };
        let any = match a {
            Term::Lit(Value::Array(items)) => {
                or(&items.iter().map(|item| self.eq(&Term::Lit(item), b, datetime, 0)).collect::<Vec<_>>())
            }
            Term::Lit(_) => FALSE.to_owned(),
            Term::Dyn(list) => {
                let any = self.exists(list, |x, _| self.eq(&Term::Dyn(x.clone()), b, datetime, 1));
                and(&[self.is_type(list, "array"), any])
            }
        };
        or(&[substring, any])
    }

    /// Whether `needle` occurs in `hay` (both SQL text, never NULL under their guards).
    fn instr(&self, hay: &str, needle: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("(instr({hay}, {needle}) > 0)"),
            Dialect::Postgres => format!("(strpos({hay}, {needle}) > 0)"),
        }
    }

    /// Case-insensitive (ASCII) substring search of `needle` in the string
    /// values of `fields` (and the id).
    pub(crate) fn search(&self, fields: &[&str], needle: &str) -> Result<String, StoreError> {
        if needle.contains('\0') {
            return Err(StoreError::invalid("the search text may not contain NUL"));
        }
        let needle = quote(&needle.to_ascii_lowercase());
        let lower = |x: String| match self.dialect {
            Dialect::Sqlite => format!("lower({x})"),
            Dialect::Postgres => {
                format!("translate({x}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")
            }
        };
        let mut parts = vec![self.instr(&lower("id".to_owned()), &needle)];
        for name in fields {
            let d = self.field(name)?;
            parts.push(and(&[self.is_type(&d, "string"), self.instr(&lower(self.str(&d)), &needle)]));
        }
        Ok(or(&parts))
    }
}
