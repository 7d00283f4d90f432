//! The condition evaluator, shared by [`Expr::eval`] (record and user) and
//! [`Expr::matches`] (record only, after [`Expr::bind`]), so the two cannot
//! drift. Operands resolve to borrowed [`Val`]s: the hot path never allocates.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::{CmpOp, Expr, Operand, Teams, UserContext};
use crate::{FieldType, Record};

/// A resolved operand, borrowed from the expression, record or user.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(&'a str),
    Arr(&'a [Value]),
    /// `user.teams`, compared like an array of strings.
    Teams(Teams<'a>),
    /// An object: equal to nothing, ordered with nothing.
    Other,
}

impl<'a> Val<'a> {
    fn of(value: &'a Value) -> Self {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => n.as_f64().map_or(Val::Other, Val::Num),
            Value::String(s) => Val::Str(s),
            Value::Array(items) => Val::Arr(items),
            Value::Object(_) => Val::Other,
        }
    }

    fn len(self) -> Option<usize> {
        match self {
            Val::Arr(items) => Some(items.len()),
            Val::Teams(teams) => Some(teams.len()),
            _ => None,
        }
    }

    fn item(self, i: usize) -> Option<Val<'a>> {
        match self {
            Val::Arr(items) => items.get(i).map(Val::of),
            Val::Teams(teams) => teams.get(i).map(Val::Str),
            _ => None,
        }
    }

    /// Whether some element of this array satisfies `f`; false for non-arrays.
    fn any(self, mut f: impl FnMut(Val<'a>) -> bool) -> bool {
        match self {
            Val::Arr(items) => items.iter().any(|v| f(Val::of(v))),
            Val::Teams(teams) => teams.iter().any(|t| f(Val::Str(t))),
            _ => false,
        }
    }
}

fn resolve<'a>(operand: &'a Operand, record: &'a Record, user: Option<&UserContext<'a>>) -> Val<'a> {
    match operand {
        Operand::Field { name, .. } => record.get(name).map_or(Val::Null, Val::of),
        Operand::Value(value) => Val::of(value),
        Operand::UserId => user.map_or(Val::Null, |u| Val::Str(u.id)),
        Operand::UserTeams => user.map_or(Val::Null, |u| Val::Teams(u.teams)),
        Operand::UserAttr(name) => user.and_then(|u| u.attributes.get(name)).map_or(Val::Null, Val::of),
    }
}

/// Whether `operand` puts a comparison with `op` in datetime mode.
fn is_datetime(operand: &Operand, op: CmpOp) -> bool {
    match operand {
        Operand::Field { ty: FieldType::Datetime, .. } => true,
        Operand::Field { ty: FieldType::List(inner), .. } => {
            matches!(op, CmpOp::In | CmpOp::Contains) && **inner == FieldType::Datetime
        }
        _ => false,
    }
}

fn instant(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

fn eq(a: Val<'_>, b: Val<'_>, datetime: bool) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Null, _) | (_, Val::Null) => false,
        (Val::Arr(_) | Val::Teams(_), Val::Arr(_) | Val::Teams(_)) => {
            let n = a.len();
            n == b.len()
                && (0..n.unwrap_or(0)).all(|i| match (a.item(i), b.item(i)) {
                    (Some(x), Some(y)) => eq(x, y, datetime),
                    _ => false,
                })
        }
        (Val::Str(x), Val::Str(y)) if datetime => match (instant(x), instant(y)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        _ if datetime => false,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Num(x), Val::Num(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        _ => false,
    }
}

fn order(a: Val<'_>, b: Val<'_>, datetime: bool) -> Option<Ordering> {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(&y),
        (Val::Str(x), Val::Str(y)) if datetime => Some(instant(x)?.cmp(&instant(y)?)),
        (Val::Str(x), Val::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

fn compare(a: Val<'_>, op: CmpOp, b: Val<'_>, datetime: bool) -> bool {
    match op {
        CmpOp::Eq => eq(a, b, datetime),
        CmpOp::Ne => !eq(a, b, datetime),
        CmpOp::Lt => order(a, b, datetime).is_some_and(Ordering::is_lt),
        CmpOp::Le => order(a, b, datetime).is_some_and(Ordering::is_le),
        CmpOp::Gt => order(a, b, datetime).is_some_and(Ordering::is_gt),
        CmpOp::Ge => order(a, b, datetime).is_some_and(Ordering::is_ge),
        CmpOp::In => b.any(|item| eq(a, item, datetime)),
        CmpOp::Contains => match (a, b) {
            (Val::Str(haystack), Val::Str(needle)) => haystack.contains(needle),
            _ => a.any(|item| eq(item, b, datetime)),
        },
    }
}

/// The one evaluator: `user` is `None` for bound expressions.
fn holds(expr: &Expr, record: &Record, user: Option<&UserContext<'_>>) -> bool {
    match expr {
        Expr::Const(b) => *b,
        Expr::And(items) => items.iter().all(|e| holds(e, record, user)),
        Expr::Or(items) => items.iter().any(|e| holds(e, record, user)),
        Expr::Not(inner) => !holds(inner, record, user),
        Expr::Compare { left, op, right } => {
            let datetime = is_datetime(left, *op) || is_datetime(right, *op);
            compare(resolve(left, record, user), *op, resolve(right, record, user), datetime)
        }
        Expr::Truthy(operand) => matches!(resolve(operand, record, user), Val::Bool(true)),
    }
}

fn bind_operand(operand: &Operand, user: &UserContext<'_>) -> Operand {
    match operand {
        Operand::UserId => Operand::Value(Value::String(user.id.to_owned())),
        Operand::UserTeams => {
            Operand::Value(Value::Array(user.teams.iter().map(|t| Value::String(t.to_owned())).collect()))
        }
        Operand::UserAttr(name) => Operand::Value(user.attributes.get(name).cloned().unwrap_or(Value::Null)),
        other => other.clone(),
    }
}

/// `expr` (a comparison or truthiness test), or its constant value when it reads no field.
fn fold_unless(reads_field: bool, expr: Expr) -> Expr {
    if reads_field {
        return expr;
    }
    Expr::Const(holds(&expr, &Record::new(), None))
}

fn is_field(operand: &Operand) -> bool {
    matches!(operand, Operand::Field { .. })
}

/// Binds `items` of an `and` (`is_and`) or `or`, dropping neutral constants
/// and short-circuiting on absorbing ones.
fn bind_all(items: &[Expr], user: &UserContext<'_>, is_and: bool) -> Expr {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item.bind(user) {
            Expr::Const(b) if b == is_and => {}
            Expr::Const(_) => return Expr::Const(!is_and),
            Expr::And(inner) if is_and => out.extend(inner),
            Expr::Or(inner) if !is_and => out.extend(inner),
            other => out.push(other),
        }
    }
    if out.len() <= 1 {
        return out.pop().unwrap_or(Expr::Const(is_and));
    }
    if is_and {
        Expr::And(out)
    } else {
        Expr::Or(out)
    }
}

impl Expr {
    /// Evaluates on a record for a user. Total: never panics, anything odd is false.
    pub fn eval(&self, record: &Record, user: &UserContext<'_>) -> bool {
        holds(self, record, Some(user))
    }

    /// Evaluates an expression already bound; any `User*` operand left evaluates as `null`.
    pub fn matches(&self, record: &Record) -> bool {
        holds(self, record, None)
    }

    /// Substitutes the user's values for `UserId`, `UserTeams` and
    /// `UserAttr`, giving a predicate over record fields only. Comparisons
    /// that read no field fold to constants, and `and`/`or`/`not` of
    /// constants simplify, so `bind(u).matches(r) == eval(r, u)` always.
    pub fn bind(&self, user: &UserContext<'_>) -> Expr {
        match self {
            Expr::Const(b) => Expr::Const(*b),
            Expr::And(items) => bind_all(items, user, true),
            Expr::Or(items) => bind_all(items, user, false),
            Expr::Not(inner) => match inner.bind(user) {
                Expr::Const(b) => Expr::Const(!b),
                other => Expr::Not(Box::new(other)),
            },
            Expr::Compare { left, op, right } => {
                let (left, right) = (bind_operand(left, user), bind_operand(right, user));
                fold_unless(is_field(&left) || is_field(&right), Expr::Compare { left, op: *op, right })
            }
            Expr::Truthy(operand) => {
                let operand = bind_operand(operand, user);
                fold_unless(is_field(&operand), Expr::Truthy(operand))
            }
        }
    }

    /// The record fields this expression reads, each once, in order of appearance.
    pub fn fields(&self) -> Vec<&str> {
        fn walk<'e>(expr: &'e Expr, out: &mut Vec<&'e str>) {
            let mut add = |operand: &'e Operand| {
                if let Operand::Field { name, .. } = operand {
                    if !out.contains(&name.as_str()) {
                        out.push(name);
                    }
                }
            };
            match expr {
                Expr::Const(_) => {}
                Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| walk(e, out)),
                Expr::Not(inner) => walk(inner, out),
                Expr::Compare { left, right, .. } => {
                    add(left);
                    add(right);
                }
                Expr::Truthy(operand) => add(operand),
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}
