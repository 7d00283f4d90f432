//! The reference's own condition evaluator, written from DESIGN.md §2 and
//! the semantics listed at the top of `permset_core::condition`, sharing no
//! code with the engine's lexer, parser, type checker or evaluator: a bug in
//! `Expr::eval` cannot pass both. Conditions here were validated by the
//! engine when the model compiled, so a text that does not parse is false.

use chrono::{DateTime, FixedOffset};
use permset_core::FieldType;
use serde_json::Value;

/// What a condition reads of the acting user.
pub struct Actor<'a> {
    pub id: &'a str,
    pub teams: &'a [String],
    pub attributes: &'a permset_core::Attributes,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Num(f64),
    Op(&'static str),
    Open,
    Close,
    LBracket,
    RBracket,
    Comma,
}

fn lex(src: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i)? {
                    '"' => break,
                    '\\' => {
                        s.push(*chars.get(i + 1)?);
                        i += 2;
                    }
                    other => {
                        s.push(*other);
                        i += 1;
                    }
                }
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.'
                    || chars[i] == 'e'
                    || chars[i] == 'E'
                    || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Tok::Num(text.parse().ok()?));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(match word.as_str() {
                "and" | "or" | "not" | "in" | "contains" => Tok::Op(match word.as_str() {
                    "and" => "and",
                    "or" => "or",
                    "not" => "not",
                    "in" => "in",
                    _ => "contains",
                }),
                _ => Tok::Name(word),
            });
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let (tok, len) = match (two.as_str(), c) {
                ("==", _) => (Tok::Op("=="), 2),
                ("!=", _) => (Tok::Op("!="), 2),
                ("<=", _) => (Tok::Op("<="), 2),
                (">=", _) => (Tok::Op(">="), 2),
                (_, '<') => (Tok::Op("<"), 1),
                (_, '>') => (Tok::Op(">"), 1),
                (_, '(') => (Tok::Open, 1),
                (_, ')') => (Tok::Close, 1),
                (_, '[') => (Tok::LBracket, 1),
                (_, ']') => (Tok::RBracket, 1),
                (_, ',') => (Tok::Comma, 1),
                _ => return None,
            };
            out.push(tok);
            i += len;
        }
    }
    Some(out)
}

/// A condition as a tree.
#[derive(Debug, Clone)]
enum Cond {
    Or(Vec<Cond>),
    And(Vec<Cond>),
    Not(Box<Cond>),
    Cmp(Term, &'static str, Term),
    Bare(Term),
}

#[derive(Debug, Clone)]
enum Term {
    /// A record field or `user.<x>`.
    Name(String),
    Lit(Value),
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn or(&mut self) -> Option<Cond> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Tok::Op("or")) {
            self.at += 1;
            items.push(self.and()?);
        }
        Some(if items.len() == 1 { items.remove(0) } else { Cond::Or(items) })
    }
    fn and(&mut self) -> Option<Cond> {
        let mut items = vec![self.not()?];
        while self.peek() == Some(&Tok::Op("and")) {
            self.at += 1;
            items.push(self.not()?);
        }
        Some(if items.len() == 1 { items.remove(0) } else { Cond::And(items) })
    }
    fn not(&mut self) -> Option<Cond> {
        if self.peek() == Some(&Tok::Op("not")) {
            self.at += 1;
            return Some(Cond::Not(Box::new(self.not()?)));
        }
        if self.peek() == Some(&Tok::Open) {
            self.at += 1;
            let inner = self.or()?;
            if self.next()? != Tok::Close {
                return None;
            }
            return Some(inner);
        }
        let left = self.term()?;
        match self.peek() {
            Some(Tok::Op(op)) if !matches!(*op, "and" | "or" | "not") => {
                let op = *op;
                self.at += 1;
                Some(Cond::Cmp(left, op, self.term()?))
            }
            _ => Some(Cond::Bare(left)),
        }
    }
    fn term(&mut self) -> Option<Term> {
        Some(match self.next()? {
            Tok::Name(n) if n == "true" => Term::Lit(Value::Bool(true)),
            Tok::Name(n) if n == "false" => Term::Lit(Value::Bool(false)),
            Tok::Name(n) if n == "null" => Term::Lit(Value::Null),
            Tok::Name(n) => Term::Name(n),
            Tok::Str(s) => Term::Lit(Value::String(s)),
            Tok::Num(n) => Term::Lit(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)),
            Tok::LBracket => {
                let mut items = Vec::new();
                if self.peek() == Some(&Tok::RBracket) {
                    self.at += 1;
                    return Some(Term::Lit(Value::Array(items)));
                }
                loop {
                    match self.term()? {
                        Term::Lit(v) => items.push(v),
                        Term::Name(_) => return None,
                    }
                    match self.next()? {
                        Tok::Comma => {}
                        Tok::RBracket => break,
                        _ => return None,
                    }
                }
                Term::Lit(Value::Array(items))
            }
            _ => return None,
        })
    }
}

/// Whether `text` holds for `record` and `actor`; `types` gives each record field's type.
pub fn holds(
    text: &str,
    record: &permset_core::Record,
    actor: &Actor<'_>,
    types: &dyn Fn(&str) -> Option<FieldType>,
) -> bool {
    let Some(toks) = lex(text) else { return false };
    let mut parser = Parser { toks, at: 0 };
    let Some(cond) = parser.or() else { return false };
    if parser.at != parser.toks.len() {
        return false;
    }
    eval(&cond, record, actor, types)
}

fn value_of(term: &Term, record: &permset_core::Record, actor: &Actor<'_>) -> Value {
    match term {
        Term::Lit(v) => v.clone(),
        Term::Name(n) if n == "user.id" => Value::String(actor.id.to_owned()),
        Term::Name(n) if n == "user.teams" => {
            Value::Array(actor.teams.iter().cloned().map(Value::String).collect())
        }
        Term::Name(n) => match n.strip_prefix("user.") {
            Some(attr) => actor.attributes.get(attr).cloned().unwrap_or(Value::Null),
            None => record.get(n).cloned().unwrap_or(Value::Null),
        },
    }
}

/// Whether a side makes the comparison compare instants.
fn datetime_side(term: &Term, op: &str, types: &dyn Fn(&str) -> Option<FieldType>) -> bool {
    let Term::Name(n) = term else { return false };
    if n.starts_with("user.") {
        return false;
    }
    match types(n) {
        Some(FieldType::Datetime) => true,
        Some(FieldType::List(inner)) => matches!(op, "in" | "contains") && *inner == FieldType::Datetime,
        _ => false,
    }
}

fn instant(v: &Value) -> Option<DateTime<FixedOffset>> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok())
}

fn equal(a: &Value, b: &Value, dt: bool) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q, dt))
        }
        _ if dt => match (instant(a), instant(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}

fn order(a: &Value, b: &Value, dt: bool) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(_), Value::String(_)) if dt => Some(instant(a)?.cmp(&instant(b)?)),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

fn eval(
    cond: &Cond,
    record: &permset_core::Record,
    actor: &Actor<'_>,
    types: &dyn Fn(&str) -> Option<FieldType>,
) -> bool {
    match cond {
        Cond::Or(items) => items.iter().any(|c| eval(c, record, actor, types)),
        Cond::And(items) => items.iter().all(|c| eval(c, record, actor, types)),
        Cond::Not(inner) => !eval(inner, record, actor, types),
        Cond::Bare(term) => value_of(term, record, actor) == Value::Bool(true),
        Cond::Cmp(l, op, r) => {
            let dt = datetime_side(l, op, types) || datetime_side(r, op, types);
            let (a, b) = (value_of(l, record, actor), value_of(r, record, actor));
            use std::cmp::Ordering::*;
            match *op {
                "==" => equal(&a, &b, dt),
                "!=" => !equal(&a, &b, dt),
                "<" => order(&a, &b, dt) == Some(Less),
                "<=" => matches!(order(&a, &b, dt), Some(Less | Equal)),
                ">" => order(&a, &b, dt) == Some(Greater),
                ">=" => matches!(order(&a, &b, dt), Some(Greater | Equal)),
                "in" => matches!(&b, Value::Array(items) if items.iter().any(|i| equal(&a, i, dt))),
                _ => match (&a, &b) {
                    (Value::String(h), Value::String(n)) => h.contains(n.as_str()),
                    (Value::Array(items), _) => items.iter().any(|i| equal(i, &b, dt)),
                    _ => false,
                },
            }
        }
    }
}
