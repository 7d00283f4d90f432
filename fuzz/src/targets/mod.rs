//! The fuzz targets, one per file, behind one small trait so the driver,
//! the tests and `permset-bench fuzz` run them alike.

mod condition;
mod record_json;
mod sql_filter;
mod workspace_file;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use permset_core::condition::{Expr, Operand};
use permset_core::{load_workspace_file, Snapshot};

use crate::gen::WORKSPACE;

/// One fuzz target: bytes in, a behaviour signature or a finding out.
pub trait Target {
    /// The target's name (also its corpus folder).
    fn name(&self) -> &'static str;
    /// Tokens the mutator may insert (keywords, operators, field names).
    fn dictionary(&self) -> &'static [&'static str];
    /// Runs one input. `Ok` carries a signature of the behaviour it
    /// showed (equal signatures: nothing new); `Err` is a broken property.
    fn run(&mut self, data: &[u8]) -> Result<u64, String>;
}

/// Every target's name, in the order runs report them.
pub const TARGETS: &[&str] = &["condition", "workspace_file", "record_json", "sql_filter"];

/// A fresh instance of the named target (the store-backed ones open an in-memory SQLite store).
pub fn target(name: &str) -> Option<Box<dyn Target>> {
    Some(match name {
        "condition" => Box::new(condition::ConditionTarget::new()),
        "workspace_file" => Box::new(workspace_file::WorkspaceFileTarget),
        "record_json" => Box::new(record_json::RecordJsonTarget::new()),
        "sql_filter" => Box::new(sql_filter::SqlFilterTarget::new()),
        _ => return None,
    })
}

/// The compiled fuzz workspace ([`WORKSPACE`]). It is a constant that
/// the tests load, so failing here is a bug in this crate, not a finding.
#[expect(clippy::expect_used, reason = "a constant input, checked by every test run")]
fn workspace() -> (permset_core::Model, Snapshot) {
    let (model, _) = load_workspace_file(WORKSPACE).expect("the fuzz workspace loads");
    let snapshot = Snapshot::compile(&model).expect("the fuzz workspace compiles");
    (model, snapshot)
}

/// A hash of anything hashable: behaviour signatures.
fn signature(parts: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// An error message without the user's input (what sits between backticks),
/// so that one kind of error is one signature whatever the input.
fn message_kind(message: &str) -> String {
    message.split('`').step_by(2).collect::<Vec<_>>().join("`")
}

/// The shape of an expression: operators and operand kinds, no literal values.
fn shape(expr: &Expr) -> String {
    fn operand(o: &Operand) -> String {
        match o {
            Operand::Field { name, .. } => name.clone(),
            Operand::Value(v) => match v {
                serde_json::Value::Null => "null".into(),
                serde_json::Value::Bool(_) => "bool".into(),
                serde_json::Value::Number(_) => "num".into(),
                serde_json::Value::String(_) => "str".into(),
                serde_json::Value::Array(a) => format!("list{}", a.len().min(3)),
                serde_json::Value::Object(_) => "obj".into(),
            },
            other => other.to_string(),
        }
    }
    match expr {
        Expr::Const(b) => b.to_string(),
        Expr::And(items) => format!("and({})", items.iter().map(shape).collect::<Vec<_>>().join(",")),
        Expr::Or(items) => format!("or({})", items.iter().map(shape).collect::<Vec<_>>().join(",")),
        Expr::Not(inner) => format!("not({})", shape(inner)),
        Expr::Compare { left, op, right } => format!("{} {op} {}", operand(left), operand(right)),
        Expr::Truthy(o) => operand(o),
    }
}

/// Whether an error message is one plain line, as CONVENTIONS.md asks.
fn one_line(message: &str) -> bool {
    !message.is_empty() && !message.contains('\n')
}
