//! A small YAML tree where every node knows its line, for test suites.
//!
//! The text is read by permset-core's workspace-file reader
//! (`permset_core::yaml`: one document, no anchors, aliases, tags, merge keys
//! or duplicate keys, a depth limit, plain scalars resolved with the YAML 1.2
//! core schema), so a suite and the workspace file it tests read alike. This
//! module only reshapes that tree into the one the suite reader walks, where
//! every value is JSON (a suite's records are JSON).

use permset_core::yaml as core;

/// A YAML node with the (1-based) line where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) line: usize,
    pub(crate) value: Value,
}

/// The value of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(String),
    Seq(Vec<Node>),
    /// Keys with their lines, in file order.
    Map(Vec<(String, usize, Node)>),
}

impl Node {
    /// What the node is, for messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The node as JSON (record values).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => {
                serde_json::Value::Object(entries.iter().map(|(k, _, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }
}

/// A problem in the YAML text itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// Parses one YAML document. `Ok(None)` for a document without content.
pub(crate) fn parse(src: &str) -> Result<Option<Node>, Vec<YamlError>> {
    let root = core::parse(src).map_err(|errors| {
        errors.into_iter().map(|e| YamlError { line: e.line, message: e.message }).collect::<Vec<_>>()
    })?;
    root.map(convert).transpose().map_err(|error| vec![error])
}

/// Core's tree as the suite reader's; `.inf` and `.nan` have no JSON form.
fn convert(node: core::Node) -> Result<Node, YamlError> {
    let line = node.line;
    let value = match node.value {
        core::Value::Null => Value::Null,
        core::Value::Bool(b) => Value::Bool(b),
        core::Value::Number(n) => Value::Number(n),
        core::Value::NonFinite(_) => {
            return Err(YamlError {
                line,
                message: "`.inf` and `.nan` are not allowed; quote them for text".into(),
            })
        }
        core::Value::Str(s) => Value::Str(s),
        core::Value::Seq(items) => Value::Seq(items.into_iter().map(convert).collect::<Result<_, _>>()?),
        core::Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(key, node)| Ok((key.text, key.line, convert(node)?)))
                .collect::<Result<_, YamlError>>()?,
        ),
    };
    Ok(Node { line, value })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn lines_and_scalars() {
        let node = parse("a: '1'\nb:\n  - x\n  - 2\nc: 2026-01-01T00:00:00Z\n").unwrap().unwrap();
        let Value::Map(entries) = &node.value else { panic!("not a map") };
        assert_eq!(entries[0].2.value, Value::Str("1".into()));
        let Value::Seq(items) = &entries[1].2.value else { panic!("not a list") };
        assert_eq!((items[0].line, items[1].line), (3, 4));
        assert_eq!(items[1].value, Value::Number(2.into()));
        assert_eq!(entries[2].2.as_str(), Some("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn refuses_duplicates_aliases_and_deep_nesting() {
        let errors = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(errors[0].line, 2, "{errors:?}");
        assert!(parse("a: &x 1\nb: *x\n").is_err());
        assert!(parse(&"[".repeat(100_000)).is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        // Numbers JSON cannot hold are refused where they stand.
        assert_eq!(parse("a: 1\nb: .inf\n").unwrap_err()[0].line, 2);
    }
}
