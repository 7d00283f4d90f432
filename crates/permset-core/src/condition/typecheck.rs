//! The condition type checker: resolves names against the schema and checks
//! that every comparison is between compatible types, turning the syntax
//! tree into an [`Expr`].

use serde_json::Value;

use super::parser::{Ast, Opnd, OpndKind, Span};
use super::{CmpOp, ConditionError, Expr, Operand, TypeContext};
use crate::suggest::{did_you_mean, nearest};
use crate::FieldType;

/// The static type of an operand.
#[derive(Debug, Clone, PartialEq)]
enum Ty {
    /// A non-list value of a field type.
    Scalar(FieldType),
    /// The literal `null`.
    Null,
    /// A list; `None` for a literal list with no typed element (`[]`, `[null]`).
    List(Option<FieldType>),
}

/// How values compare: string-like types all compare as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
    List,
}

fn kind(ty: &FieldType) -> Kind {
    match ty {
        FieldType::Number => Kind::Number,
        FieldType::Bool => Kind::Bool,
        FieldType::List(_) => Kind::List,
        FieldType::String
        | FieldType::Enum(_)
        | FieldType::Datetime
        | FieldType::User
        | FieldType::Team
        | FieldType::Lookup(_) => Kind::Text,
    }
}

fn type_name(ty: &FieldType) -> String {
    match ty {
        FieldType::String => "string".to_owned(),
        FieldType::Number => "number".to_owned(),
        FieldType::Bool => "bool".to_owned(),
        FieldType::Enum(_) => "enum".to_owned(),
        FieldType::Datetime => "datetime".to_owned(),
        FieldType::User => "user".to_owned(),
        FieldType::Team => "team".to_owned(),
        FieldType::Lookup(_) => "lookup".to_owned(),
        FieldType::List(inner) => format!("list of {}", type_name(inner)),
    }
}

fn literal_type(value: &Value) -> Ty {
    match value {
        Value::String(_) => Ty::Scalar(FieldType::String),
        Value::Number(_) => Ty::Scalar(FieldType::Number),
        Value::Bool(_) => Ty::Scalar(FieldType::Bool),
        _ => Ty::Null,
    }
}

/// A resolved operand with its type and source text.
struct Typed<'s> {
    operand: Operand,
    ty: Ty,
    text: &'s str,
    span: Span,
    /// The literal values written in place, with spans, for enum and datetime checks.
    literals: Vec<(Value, Span)>,
}

impl Typed<'_> {
    fn describe(&self) -> String {
        let ty = match &self.ty {
            Ty::Scalar(ty) => type_name(ty),
            Ty::Null => "null".to_owned(),
            Ty::List(Some(ty)) => format!("list of {}", type_name(ty)),
            Ty::List(None) => "list".to_owned(),
        };
        format!("`{}` is {ty}", shorten(self.text))
    }
}

/// Source text for a message: one line, at most 40 characters.
fn shorten(text: &str) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() <= 40 {
        return one_line;
    }
    let mut short: String = one_line.chars().take(39).collect();
    short.push('…');
    short
}

/// Type-checks a parsed condition.
pub(super) fn check(src: &str, ast: &Ast, ctx: &TypeContext<'_>) -> Result<Expr, ConditionError> {
    Checker { src, ctx }.expr(ast)
}

struct Checker<'s, 'c> {
    src: &'s str,
    ctx: &'c TypeContext<'c>,
}

impl<'s> Checker<'s, '_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> ConditionError {
        ConditionError::at(self.src, offset, message)
    }

    fn expr(&self, ast: &Ast) -> Result<Expr, ConditionError> {
        Ok(match ast {
            Ast::Or(items) => Expr::Or(self.flatten(items, true)?),
            Ast::And(items) => Expr::And(self.flatten(items, false)?),
            Ast::Not(inner) => Expr::Not(Box::new(self.expr(inner)?)),
            Ast::Cmp { left, op, op_span, right } => {
                let left = self.operand(left)?;
                let right = self.operand(right)?;
                self.compare(&left, *op, op_span.0, &right)?;
                Expr::Compare { left: left.operand, op: *op, right: right.operand }
            }
            Ast::Bare(opnd) => {
                let typed = self.operand(opnd)?;
                match (&typed.operand, &typed.ty) {
                    (Operand::Value(Value::Bool(b)), _) => Expr::Const(*b),
                    (_, Ty::Scalar(FieldType::Bool)) => Expr::Truthy(typed.operand),
                    _ => {
                        return Err(self.error(typed.span.0, format!("{}, not a condition", typed.describe())))
                    }
                }
            }
        })
    }

    /// Checks `items`, splicing in the children of nested operators of the same kind.
    fn flatten(&self, items: &[Ast], or: bool) -> Result<Vec<Expr>, ConditionError> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match self.expr(item)? {
                Expr::Or(children) if or => out.extend(children),
                Expr::And(children) if !or => out.extend(children),
                expr => out.push(expr),
            }
        }
        Ok(out)
    }

    fn operand(&self, opnd: &Opnd) -> Result<Typed<'s>, ConditionError> {
        let text = self.src.get(opnd.span.0..opnd.span.1).unwrap_or_default();
        let typed = |operand, ty, literals| Typed { operand, ty, text, span: opnd.span, literals };
        match &opnd.kind {
            OpndKind::Lit(value) => Ok(typed(
                Operand::Value(value.clone()),
                literal_type(value),
                vec![(value.clone(), opnd.span)],
            )),
            OpndKind::List(items) => {
                let mut elem: Option<(FieldType, &str)> = None;
                for (value, span) in items {
                    let Ty::Scalar(ty) = literal_type(value) else { continue };
                    let item_text = self.src.get(span.0..span.1).unwrap_or_default();
                    match &elem {
                        Some((first, first_text)) if *first != ty => {
                            let message = format!(
                                "a list holds values of one type: `{}` is {}, `{}` is {}",
                                shorten(first_text),
                                type_name(first),
                                shorten(item_text),
                                type_name(&ty)
                            );
                            return Err(self.error(span.0, message));
                        }
                        Some(_) => {}
                        None => elem = Some((ty, item_text)),
                    }
                }
                let value = Value::Array(items.iter().map(|(v, _)| v.clone()).collect());
                Ok(typed(Operand::Value(value), Ty::List(elem.map(|(ty, _)| ty)), items.clone()))
            }
            OpndKind::Name(name) => {
                let (operand, ty) = self.resolve(name, opnd.span.0)?;
                Ok(typed(operand, ty, Vec::new()))
            }
        }
    }

    fn resolve(&self, name: &str, offset: usize) -> Result<(Operand, Ty), ConditionError> {
        let of_type = |ty: &FieldType| match ty {
            FieldType::List(inner) => Ty::List(Some((**inner).clone())),
            other => Ty::Scalar(other.clone()),
        };
        if let Some(attr) = name.strip_prefix("user.") {
            return match attr {
                "id" => Ok((Operand::UserId, Ty::Scalar(FieldType::User))),
                "teams" => Ok((Operand::UserTeams, Ty::List(Some(FieldType::Team)))),
                _ => match self.ctx.user_attributes.get(attr) {
                    Some(ty) => Ok((Operand::UserAttr(attr.to_owned()), of_type(ty))),
                    None => {
                        let names = ["id", "teams"]
                            .into_iter()
                            .chain(self.ctx.user_attributes.keys().map(String::as_str));
                        let hint = did_you_mean(attr, names);
                        Err(self.error(offset, format!("unknown user attribute `{attr}`{hint}")))
                    }
                },
            };
        }
        if let Some(def) = self.ctx.fields.get(name) {
            return Ok((Operand::Field { name: name.to_owned(), ty: def.ty.clone() }, of_type(&def.ty)));
        }
        if name == "id" {
            return Ok((
                Operand::Field { name: "id".to_owned(), ty: FieldType::String },
                Ty::Scalar(FieldType::String),
            ));
        }
        if name == "user" {
            return Err(
                self.error(offset, "`user` is the acting user; name one of its attributes, like `user.id`")
            );
        }
        let field_names = || self.ctx.fields.keys().map(String::as_str).chain(["id"]);
        if let Some((head, rest)) = name.split_once('.') {
            let hint = match nearest(head, field_names().chain(["user"])) {
                Some("user") => format!("; did you mean `user.{rest}`?"),
                Some(field) => format!("; did you mean `{field}`?"),
                None => String::new(),
            };
            return Err(self.error(offset, format!("unknown name `{name}`{hint}")));
        }
        Err(self.error(offset, format!("unknown field `{name}`{}", did_you_mean(name, field_names()))))
    }

    fn mismatch(&self, offset: usize, left: &Typed<'_>, right: &Typed<'_>) -> ConditionError {
        self.error(offset, format!("type mismatch: {}, {}", left.describe(), right.describe()))
    }

    fn compare(
        &self,
        left: &Typed<'_>,
        op: CmpOp,
        at: usize,
        right: &Typed<'_>,
    ) -> Result<(), ConditionError> {
        let fits = |a: &FieldType, b: &FieldType| kind(a) == kind(b);
        match op {
            CmpOp::Eq | CmpOp::Ne => match (&left.ty, &right.ty) {
                (Ty::Null, _) | (_, Ty::Null) => {}
                (Ty::Scalar(a), Ty::Scalar(b)) if fits(a, b) => {
                    self.check_literals(a, left, right)?;
                    self.check_literals(b, right, left)?;
                }
                (Ty::Scalar(_), Ty::Scalar(_)) => return Err(self.mismatch(at, left, right)),
                (Ty::List(_), _) => {
                    return Err(self.error(at, format!("`{op}` cannot compare lists: {}", left.describe())))
                }
                (_, Ty::List(_)) => {
                    return Err(self.error(at, format!("`{op}` cannot compare lists: {}", right.describe())))
                }
            },
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
                for side in [left, right] {
                    let orderable =
                        matches!(&side.ty, Ty::Scalar(t) if matches!(kind(t), Kind::Number | Kind::Text));
                    if !orderable {
                        return Err(
                            self.error(at, format!("`{op}` needs numbers or text, {}", side.describe()))
                        );
                    }
                }
                if let (Ty::Scalar(a), Ty::Scalar(b)) = (&left.ty, &right.ty) {
                    if !fits(a, b) {
                        return Err(self.mismatch(at, left, right));
                    }
                    self.check_literals(a, left, right)?;
                    self.check_literals(b, right, left)?;
                }
            }
            CmpOp::In => {
                let Ty::List(elem) = &right.ty else {
                    return Err(
                        self.error(at, format!("`in` needs a list on the right, {}", right.describe()))
                    );
                };
                match (&left.ty, elem) {
                    (Ty::Null, _) | (Ty::Scalar(_), None) => {}
                    (Ty::Scalar(a), Some(b)) if fits(a, b) => {
                        self.check_literals(a, left, right)?;
                        self.check_literals(b, right, left)?;
                    }
                    _ => return Err(self.mismatch(at, left, right)),
                }
            }
            CmpOp::Contains => match (&left.ty, &right.ty) {
                (Ty::Scalar(a), Ty::Scalar(b)) if kind(a) == Kind::Text && kind(b) == Kind::Text => {}
                (Ty::Scalar(a), _) if kind(a) == Kind::Text => return Err(self.mismatch(at, left, right)),
                (Ty::List(_), Ty::Null) | (Ty::List(None), Ty::Scalar(_)) => {}
                (Ty::List(Some(a)), Ty::Scalar(b)) if fits(a, b) => {
                    self.check_literals(a, left, right)?;
                    self.check_literals(b, right, left)?;
                }
                (Ty::List(_), _) => return Err(self.mismatch(at, left, right)),
                _ => {
                    let message = format!("`contains` needs text or a list on the left, {}", left.describe());
                    return Err(self.error(at, message));
                }
            },
        }
        Ok(())
    }

    /// Checks the string literals of `other` against `ty`, the (element) type
    /// of `named`: enum values must be declared, datetimes must parse.
    fn check_literals(
        &self,
        ty: &FieldType,
        named: &Typed<'_>,
        other: &Typed<'_>,
    ) -> Result<(), ConditionError> {
        if !named.literals.is_empty() {
            return Ok(());
        }
        for (value, span) in &other.literals {
            let Value::String(s) = value else { continue };
            match ty {
                FieldType::Enum(values) if !values.iter().any(|v| v == s) => {
                    let hint = match nearest(s, values.iter().map(String::as_str)) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => {
                            let list: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
                            format!("expected one of {}", list.join(", "))
                        }
                    };
                    let message =
                        format!("unknown value `{}` for `{}`; {hint}", shorten(s), shorten(named.text));
                    return Err(self.error(span.0, message));
                }
                FieldType::Datetime if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
                    let message = format!(
                        "invalid datetime `{}` for `{}`; expected RFC 3339, like `2024-01-31T09:00:00Z`",
                        shorten(s),
                        shorten(named.text)
                    );
                    return Err(self.error(span.0, message));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
