//! The condition language: `rule:` and `where:` limits, access rules.
//!
//! A condition is a small typed expression over one object's records and the
//! acting user, e.g. `assignee_team in user.teams and status != "closed"`.
//! [`compile`] lexes, parses (recursive descent, [`MAX_DEPTH`] levels of
//! parentheses/`not` at most, [`MAX_LEN`] bytes at most) and type-checks it
//! against the object's schema into an [`Expr`]. [`Expr::eval`] decides it for
//! a record and user; [`Expr::bind`] substitutes a user's values to give a
//! predicate over record fields only, which the store translates to SQL and
//! [`Expr::matches`] evaluates. Both run through one evaluator.
//!
//! # Evaluation semantics
//!
//! Evaluation is total: it never fails or panics, and anything odd is false.
//! The SQL translation mirrors these rules exactly.
//!
//! - A field missing from the record is `null`; so is a missing user
//!   attribute (and every `User*` operand evaluated by [`Expr::matches`]).
//!   `user.teams` is a JSON array of the user's team keys.
//! - `==`: `null == null` is true and `null` equals nothing else. Numbers
//!   compare as `f64`, strings exactly, bools as bools; arrays element-wise
//!   by these rules; values of different JSON types (and objects) are never
//!   equal. If either side is a field of type `datetime` (or, for `in` and
//!   `contains`, a `list(datetime)` field), two non-null sides are parsed as
//!   RFC 3339 instants and compared as instants; a side that is not such a
//!   string makes `==` false.
//! - `!=` is exactly `not ==`.
//! - `< <= > >=`: two numbers compare numerically; two strings compare by
//!   instant in datetime mode (false if either does not parse), otherwise
//!   lexicographically by bytes; anything else (null, mixed types) is false.
//! - `a in b`: `b` must be an array; true iff some element `==` `a`.
//! - `a contains b`: two strings: substring; `a` an array: some element `==`
//!   `b`; anything else is false.
//! - A bare bool operand (`vip`, `user.is_lead`) is true only if the value is
//!   JSON `true`.
//! - `and`, `or`, `not` are two-valued boolean logic over those results.

mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;
mod typecheck;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{FieldDef, FieldType};

/// The deepest nesting of parentheses and `not` a condition may use.
pub const MAX_DEPTH: usize = 64;

/// The longest condition accepted, in bytes.
pub const MAX_LEN: usize = 10_000;

/// What a condition is checked against: one object's fields and the declared user attributes.
#[derive(Debug, Clone, Copy)]
pub struct TypeContext<'a> {
    /// The object's name, for messages.
    pub object: &'a str,
    /// The object's fields (built-in merged with declared).
    pub fields: &'a BTreeMap<String, FieldDef>,
    /// Types of the attributes conditions may read as `user.<name>`.
    pub user_attributes: &'a BTreeMap<String, FieldType>,
}

/// The acting user, as conditions see it.
#[derive(Debug, Clone, Copy)]
pub struct UserContext<'a> {
    /// The user's key (`user.id`).
    pub id: &'a str,
    /// The user's team keys (`user.teams`).
    pub teams: Teams<'a>,
    /// The user's attributes (`user.<name>`).
    pub attributes: &'a crate::Attributes,
}

/// A user's team keys as conditions see them (`user.teams`): a list of
/// keys, or team numbers into a table of keys, which is how a snapshot
/// keeps them (four bytes a membership instead of a string each, for a
/// million users). Build one from a slice of keys with `From`.
#[derive(Debug, Clone, Copy)]
pub struct Teams<'a>(TeamList<'a>);

#[derive(Debug, Clone, Copy)]
enum TeamList<'a> {
    Keys(&'a [String]),
    // INVARIANT: every id indexes `keys` (the snapshot's team table).
    Ids { ids: &'a [u32], keys: &'a [String] },
}

impl<'a> Teams<'a> {
    /// No teams.
    pub const EMPTY: Teams<'static> = Teams(TeamList::Keys(&[]));

    /// Team numbers `ids` into the table `keys` (an id outside it reads as "").
    pub(crate) fn ids(ids: &'a [u32], keys: &'a [String]) -> Self {
        Teams(TeamList::Ids { ids, keys })
    }

    /// How many teams.
    pub fn len(&self) -> usize {
        match self.0 {
            TeamList::Keys(keys) => keys.len(),
            TeamList::Ids { ids, .. } => ids.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th team key.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self.0 {
            TeamList::Keys(keys) => keys.get(i).map(String::as_str),
            TeamList::Ids { ids, keys } => ids.get(i).map(|&id| team_key(keys, id)),
        }
    }

    /// The team keys in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        TeamIter { teams: *self, next: 0 }
    }

    /// Whether `key` is one of the teams (`team` scopes ask this on every
    /// record-level check: one match, then a plain loop).
    pub fn contains(&self, key: &str) -> bool {
        match self.0 {
            TeamList::Keys(keys) => keys.iter().any(|k| k == key),
            TeamList::Ids { ids, keys } => ids.iter().any(|&id| team_key(keys, id) == key),
        }
    }
}

fn team_key(keys: &[String], id: u32) -> &str {
    keys.get(id as usize).map_or("", String::as_str)
}

struct TeamIter<'a> {
    teams: Teams<'a>,
    next: usize,
}

impl<'a> Iterator for TeamIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let key = self.teams.get(self.next)?;
        self.next += 1;
        Some(key)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.teams.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for TeamIter<'_> {}

impl<'a> From<&'a [String]> for Teams<'a> {
    fn from(keys: &'a [String]) -> Self {
        Teams(TeamList::Keys(keys))
    }
}

impl<'a> From<&'a Vec<String>> for Teams<'a> {
    fn from(keys: &'a Vec<String>) -> Self {
        Teams(TeamList::Keys(keys))
    }
}

/// A condition that does not lex, parse or type-check, with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ConditionError {
    /// Byte offset into the condition text.
    pub offset: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What is wrong, one lowercase line.
    pub message: String,
}

impl ConditionError {
    /// An error at byte `offset` of `src`.
    pub(crate) fn at(src: &str, offset: usize, message: impl Into<String>) -> Self {
        let column = src.get(..offset).map_or(offset, |before| before.chars().count()) + 1;
        ConditionError { offset, column, message: message.into() }
    }
}

/// A type-checked condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// Always true or always false.
    Const(bool),
    /// All hold (true when empty).
    And(Vec<Expr>),
    /// At least one holds (false when empty).
    Or(Vec<Expr>),
    /// Does not hold.
    Not(Box<Expr>),
    /// `left op right`.
    Compare {
        /// Left operand.
        left: Operand,
        /// The operator.
        op: CmpOp,
        /// Right operand.
        right: Operand,
    },
    /// A bool operand used as a condition: true only if the value is JSON `true`.
    Truthy(Operand),
}

/// A value a comparison reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Operand {
    /// A field of the record, with its declared type.
    Field {
        /// The field's name.
        name: String,
        /// The field's type (decides datetime comparison).
        ty: FieldType,
    },
    /// A literal: a scalar, or an array of scalars.
    Value(Value),
    /// `user.id`.
    UserId,
    /// `user.teams`.
    UserTeams,
    /// `user.<name>`.
    UserAttr(String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`
    In,
    /// `contains`
    Contains,
}

impl CmpOp {
    /// The operator as written in conditions.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::In => "in",
            CmpOp::Contains => "contains",
        }
    }
}

/// Parses and type-checks a condition into a typed expression.
pub fn compile(src: &str, ctx: &TypeContext<'_>) -> Result<Expr, ConditionError> {
    if src.len() > MAX_LEN {
        let message = format!("condition is too long ({} bytes; at most {MAX_LEN})", src.len());
        return Err(ConditionError { offset: 0, column: 1, message });
    }
    let tokens = lexer::lex(src)?;
    let ast = parser::parse(src, tokens)?;
    typecheck::check(src, &ast, ctx)
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Field { name, .. } => f.write_str(name),
            Operand::Value(value) => write_literal(f, value),
            Operand::UserId => f.write_str("user.id"),
            Operand::UserTeams => f.write_str("user.teams"),
            Operand::UserAttr(name) => write!(f, "user.{name}"),
        }
    }
}

/// Writes a value as a literal. Objects and nested arrays have no literal
/// syntax (they only arise from binding odd user attributes) and print as `null`.
fn write_literal(f: &mut fmt::Formatter<'_>, value: &Value) -> fmt::Result {
    match value {
        Value::Null | Value::Object(_) => f.write_str("null"),
        Value::Bool(b) => write!(f, "{b}"),
        Value::Number(n) => write!(f, "{n}"),
        Value::String(s) => {
            f.write_str("\"")?;
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")
        }
        Value::Array(items) => {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                match item {
                    Value::Array(_) => f.write_str("null")?,
                    _ => write_literal(f, item)?,
                }
            }
            f.write_str("]")
        }
    }
}

impl fmt::Display for Expr {
    /// Source text that re-parses to the same meaning; `or` inside `and` and
    /// anything but a comparison or `not` inside `not` gets parentheses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join(f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str, wrap_or: bool) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                match item {
                    Expr::Or(v) if wrap_or && v.len() > 1 => write!(f, "({item})")?,
                    _ => write!(f, "{item}")?,
                }
            }
            Ok(())
        }
        match self {
            Expr::Const(b) => write!(f, "{b}"),
            Expr::And(items) if items.is_empty() => f.write_str("true"),
            Expr::Or(items) if items.is_empty() => f.write_str("false"),
            Expr::And(items) => join(f, items, " and ", true),
            Expr::Or(items) => join(f, items, " or ", false),
            Expr::Not(inner) => match inner.as_ref() {
                Expr::And(v) | Expr::Or(v) if v.len() > 1 => write!(f, "not ({inner})"),
                _ => write!(f, "not {inner}"),
            },
            Expr::Compare { left, op, right } => write!(f, "{left} {op} {right}"),
            Expr::Truthy(operand) => write!(f, "{operand}"),
        }
    }
}
