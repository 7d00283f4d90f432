//! Target `condition`: the condition language's lexer, parser and type
//! checker on any text, and the evaluator on any record and user.
//!
//! Properties: compiling never panics; an error's position lies inside the
//! text, on a character boundary, with a one-line message; an accepted
//! condition prints (`Display`) as text that compiles again to the same
//! text and the same decisions; and `bind(user).matches(record)` equals
//! `eval(record, user)` for records and users of any shape (the identity
//! list filtering in SQL relies on).

use std::collections::BTreeMap;

use arbitrary::Unstructured;
use permset_core::condition::{self, TypeContext, UserContext};
use permset_core::{FieldDef, FieldType};
use serde_json::Value;

use super::{message_kind, one_line, shape, signature, workspace, Target};
use crate::gen;

pub(super) struct ConditionTarget {
    fields: BTreeMap<String, FieldDef>,
    attributes: BTreeMap<String, FieldType>,
}

impl ConditionTarget {
    pub(super) fn new() -> Self {
        let (model, snapshot) = workspace();
        let fields = snapshot.schema().objects.get("things").map(|o| o.fields.clone()).unwrap_or_default();
        ConditionTarget { fields, attributes: model.schema.user_attributes }
    }
}

const DICTIONARY: &[&str] = &[
    " and ",
    " or ",
    "not ",
    " in ",
    " contains ",
    "==",
    "!=",
    "<=",
    ">=",
    "<",
    ">",
    "(",
    ")",
    "[",
    "]",
    ", ",
    "\"",
    "\\\"",
    "\\\\",
    "null",
    "true",
    "false",
    "user.id",
    "user.teams",
    "user.region",
    "user.level",
    "user.flag",
    "user.since",
    "user.",
    "id",
    "s",
    "n",
    "b",
    "e",
    "d",
    "u",
    "t",
    "k",
    "ls",
    "ln",
    "ld",
    "1e308",
    "-0",
    "9007199254740993",
    "\"2024-01-01T00:00:00Z\"",
    "é",
    "\u{0}",
];

impl Target for ConditionTarget {
    fn name(&self) -> &'static str {
        "condition"
    }

    fn dictionary(&self) -> &'static [&'static str] {
        DICTIONARY
    }

    fn run(&mut self, data: &[u8]) -> Result<u64, String> {
        let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
        let mut u = Unstructured::new(rest);
        // Even: the bytes are the text. Odd: the bytes steer the grammar.
        let text = if mode % 2 == 0 {
            String::from_utf8_lossy(rest).into_owned()
        } else {
            gen::condition(&mut u, 4, true)
        };
        let ctx = TypeContext { object: "things", fields: &self.fields, user_attributes: &self.attributes };
        let expr = match condition::compile(&text, &ctx) {
            Err(e) => {
                if e.offset > text.len() || !text.is_char_boundary(e.offset) || e.column == 0 {
                    return Err(format!(
                        "error position {} / column {} outside `{text}`",
                        e.offset, e.column
                    ));
                }
                if !one_line(&e.message) {
                    return Err(format!("error message is not one line: {:?}", e.message));
                }
                return Ok(signature(("err", mode % 2, message_kind(&e.message))));
            }
            Ok(expr) => expr,
        };
        let shown = expr.to_string();
        let again = condition::compile(&shown, &ctx)
            .map_err(|e| format!("`{text}` prints as `{shown}`, which does not compile: {e}"))?;
        if again.to_string() != shown {
            return Err(format!("`{text}` prints as `{shown}`, which prints as `{again}`"));
        }
        // Records and users from the rest of the input, of any shape.
        let mut decisions = Vec::new();
        for _ in 0..4 {
            let record = gen::record(&mut u, true);
            let teams: Vec<String> = (0..gen::choose(&mut u, 3))
                .map(|_| gen::pick(&mut u, &["t1", "t2", "x"]).to_owned())
                .collect();
            let mut attributes = BTreeMap::new();
            for name in ["region", "level", "flag", "since"] {
                if gen::choose(&mut u, 3) > 0 {
                    let value = match name {
                        "region" => Value::String(gen::string(&mut u)),
                        "level" => gen::number(&mut u),
                        "flag" => Value::Bool(gen::choose(&mut u, 2) == 0),
                        _ => gen::any_value(&mut u, 1),
                    };
                    attributes.insert(name.to_owned(), value);
                }
            }
            let id = gen::pick(&mut u, &["own", "u1", "", "t1"]);
            let attributes = permset_core::Attributes::from(attributes);
            let user = UserContext { id, teams: (&teams).into(), attributes: &attributes };
            let decided = expr.eval(&record, &user);
            if again.eval(&record, &user) != decided {
                return Err(format!(
                    "`{text}` and its printed form `{shown}` decide differently on {record:?}"
                ));
            }
            let bound = expr.bind(&user);
            if bound.matches(&record) != decided {
                return Err(format!(
                    "`{text}`: eval is {decided} but bind gives `{bound}` which matches {} on {record:?} for {user:?}",
                    !decided
                ));
            }
            decisions.push(decided);
        }
        Ok(signature(("ok", shape(&expr), decisions)))
    }
}
