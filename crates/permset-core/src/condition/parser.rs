//! The condition parser: tokens to an untyped syntax tree with source spans.
//!
//! Recursive descent, one function per precedence level
//! (`or` < `and` < `not` < comparison). Only parentheses and `not` recurse,
//! and each counts against [`MAX_DEPTH`], so hostile input gives an error
//! instead of a stack overflow.

use serde_json::Value;

use super::lexer::{Tok, Token};
use super::{CmpOp, ConditionError, MAX_DEPTH};

/// A byte range `start..end` of the source.
pub(super) type Span = (usize, usize);

/// An untyped condition.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ast {
    Or(Vec<Ast>),
    And(Vec<Ast>),
    Not(Box<Ast>),
    Cmp { left: Opnd, op: CmpOp, op_span: Span, right: Opnd },
    Bare(Opnd),
}

/// An untyped operand and its span.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Opnd {
    pub(super) kind: OpndKind,
    pub(super) span: Span,
}

/// What an operand is before name resolution.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum OpndKind {
    /// A (possibly dotted) name.
    Name(String),
    /// A scalar literal.
    Lit(Value),
    /// A list literal: scalar literals with their spans.
    List(Vec<(Value, Span)>),
}

/// Parses a whole condition.
pub(super) fn parse(src: &str, tokens: Vec<Token>) -> Result<Ast, ConditionError> {
    let eof = Token { tok: Tok::Eof, start: src.len(), end: src.len() };
    let mut p = Parser { src, tokens, pos: 0, depth: 0, eof };
    if p.peek().tok == Tok::Eof {
        return Err(p.error_at(0, "empty condition"));
    }
    let ast = p.parse_or()?;
    let next = p.peek();
    match next.tok {
        Tok::Eof => Ok(ast),
        Tok::RParen => Err(p.error_at(next.start, "unmatched `)`")),
        _ => Err(p.unexpected("`and`, `or` or end of condition")),
    }
}

struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    eof: Token,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&self.eof)
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        self.pos += 1;
        token
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ConditionError {
        ConditionError::at(self.src, offset, message)
    }

    /// The next token as a message shows it.
    fn describe(&self, token: &Token) -> String {
        match token.tok {
            Tok::Eof => "end of condition".to_owned(),
            // Escaped: a string token may hold a newline or a control
            // character, and an error message is one printable line.
            _ => format!("`{}`", printable(self.src.get(token.start..token.end).unwrap_or_default())),
        }
    }

    fn unexpected(&self, expected: &str) -> ConditionError {
        let next = self.peek();
        self.error_at(next.start, format!("expected {expected}, found {}", self.describe(next)))
    }

    fn enter(&mut self, offset: usize) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self
                .error_at(offset, format!("condition is nested too deeply (more than {MAX_DEPTH} levels)")));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Ast, ConditionError> {
        let mut items = vec![self.parse_and()?];
        while self.peek().tok == Tok::Or {
            self.bump();
            items.push(self.parse_and()?);
        }
        if items.len() == 1 {
            if let Some(only) = items.pop() {
                return Ok(only);
            }
        }
        Ok(Ast::Or(items))
    }

    fn parse_and(&mut self) -> Result<Ast, ConditionError> {
        let mut items = vec![self.parse_not()?];
        while self.peek().tok == Tok::And {
            self.bump();
            items.push(self.parse_not()?);
        }
        if items.len() == 1 {
            if let Some(only) = items.pop() {
                return Ok(only);
            }
        }
        Ok(Ast::And(items))
    }

    fn parse_not(&mut self) -> Result<Ast, ConditionError> {
        if self.peek().tok == Tok::Not {
            let not = self.bump();
            self.enter(not.start)?;
            let inner = self.parse_not()?;
            self.depth -= 1;
            return Ok(Ast::Not(Box::new(inner)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Ast, ConditionError> {
        if self.peek().tok == Tok::LParen {
            let open = self.bump();
            self.enter(open.start)?;
            let inner = self.parse_or()?;
            self.depth -= 1;
            return match self.peek().tok {
                Tok::RParen => {
                    self.bump();
                    Ok(inner)
                }
                Tok::Eof => Err(self.error_at(open.start, "unclosed `(`")),
                _ => Err(self.unexpected("`and`, `or` or `)`")),
            };
        }
        let left = self.parse_operand(None)?;
        let op = match self.peek().tok {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::In => CmpOp::In,
            Tok::Contains => CmpOp::Contains,
            _ => return Ok(Ast::Bare(left)),
        };
        let op_token = self.bump();
        let right = self.parse_operand(Some(op))?;
        Ok(Ast::Cmp { left, op, op_span: (op_token.start, op_token.end), right })
    }

    /// An operand; `after` is the operator before it, for the message when it is missing.
    fn parse_operand(&mut self, after: Option<CmpOp>) -> Result<Opnd, ConditionError> {
        let token = self.peek().clone();
        let span = (token.start, token.end);
        let kind = match token.tok {
            Tok::Name(name) => OpndKind::Name(name),
            Tok::LBracket => return self.parse_list(),
            _ => match scalar(&token.tok) {
                Some(value) => OpndKind::Lit(value),
                None => {
                    return Err(match after {
                        Some(op) => self.unexpected(&format!("a value after `{}`", op.as_str())),
                        None => self.unexpected("a condition"),
                    })
                }
            },
        };
        self.bump();
        Ok(Opnd { kind, span })
    }

    fn parse_list(&mut self) -> Result<Opnd, ConditionError> {
        let open = self.bump();
        let mut items = Vec::new();
        if self.peek().tok == Tok::RBracket {
            let close = self.bump();
            return Ok(Opnd { kind: OpndKind::List(items), span: (open.start, close.end) });
        }
        loop {
            let token = self.peek();
            match scalar(&token.tok) {
                Some(value) => items.push((value, (token.start, token.end))),
                None if token.tok == Tok::Eof => return Err(self.error_at(open.start, "unclosed `[`")),
                None => return Err(self.unexpected("a literal value in list")),
            }
            self.bump();
            match self.peek().tok {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBracket => {
                    let close = self.bump();
                    return Ok(Opnd { kind: OpndKind::List(items), span: (open.start, close.end) });
                }
                Tok::Eof => return Err(self.error_at(open.start, "unclosed `[`")),
                _ => return Err(self.unexpected("`,` or `]`")),
            }
        }
    }
}

/// The value of a scalar literal token.
fn scalar(tok: &Tok) -> Option<Value> {
    match tok {
        Tok::Str(s) => Some(Value::String(s.clone())),
        Tok::Num(n) => Some(Value::Number(n.clone())),
        Tok::True => Some(Value::Bool(true)),
        Tok::False => Some(Value::Bool(false)),
        Tok::Null => Some(Value::Null),
        _ => None,
    }
}

/// `text` with control characters escaped (`\n`, `\u{1b}`), for messages.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}
