//! A small YAML tree where every node knows its line, for test suites.
//!
//! It follows permset-core's workspace-file reader (`file/yaml.rs`): driven
//! event by event from yaml-rust2 with an explicit stack and a depth limit,
//! one document, no anchors, aliases, tags, merge keys or duplicate keys, and
//! plain scalars resolved with the YAML 1.2 core schema (quoted scalars are
//! always strings). Suites need less than workspace files (no source map),
//! so this tree is smaller; the rules are the same so that a suite and the
//! workspace file it tests read alike.

use std::collections::HashSet;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deeper nesting than this is refused; a suite needs about six levels.
const MAX_DEPTH: usize = 64;

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
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    loop {
        match parser.next_token() {
            Err(e) => {
                builder.error(e.marker().line(), format!("invalid yaml: {}", e.info()));
                break;
            }
            Ok((event, mark)) => {
                let end = event == Event::StreamEnd;
                builder.on_event(event, mark);
                if end || builder.stopped {
                    break;
                }
            }
        }
    }
    if builder.errors.is_empty() {
        Ok(builder.root)
    } else {
        Err(builder.errors)
    }
}

enum Frame {
    Seq {
        line: usize,
        items: Vec<Node>,
    },
    Map {
        line: usize,
        entries: Vec<(String, usize, Node)>,
        seen: HashSet<String>,
        key: Option<(String, usize)>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
    errors: Vec<YamlError>,
    stopped: bool,
}

impl Builder {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.errors.push(YamlError { line: line.max(1), message: message.into() });
    }

    fn refuse_anchor_and_tag(&mut self, line: usize, anchor: usize, tag: bool) {
        if anchor != 0 {
            self.error(line, "anchors (`&name`) are not supported; repeat the content instead");
        }
        if tag {
            self.error(line, "yaml tags are not supported");
        }
    }

    fn open(&mut self, frame: Frame, line: usize) {
        if self.stack.len() >= MAX_DEPTH {
            self.error(line, format!("nesting deeper than {MAX_DEPTH} levels"));
            self.stopped = true;
            return;
        }
        self.stack.push(frame);
    }

    /// Adds a finished node to the collection being built; `raw` is a scalar's text (a possible key).
    fn push(&mut self, node: Node, raw: Option<String>) {
        let mut problem = None;
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, seen, key, .. }) => match key.take() {
                None => match raw {
                    Some(text) => *key = Some((text, node.line)),
                    None => {
                        // Keep the map in step: the value that follows is dropped.
                        *key = Some((String::new(), 0));
                        problem =
                            Some((node.line, "mapping keys must be plain strings, not lists or maps".into()));
                    }
                },
                Some((_, 0)) => {}
                Some((text, line)) => {
                    if !seen.insert(text.clone()) {
                        problem = Some((line, format!("duplicate key `{text}`")));
                    } else {
                        entries.push((text, line, node));
                    }
                }
            },
        }
        if let Some((line, message)) = problem {
            self.error(line, message);
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.stopped {
            return;
        }
        let line = mark.line().max(1);
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.error(line, "a test suite holds a single yaml document");
                    self.stopped = true;
                }
            }
            Event::Alias(_) => {
                self.error(line, "aliases (`*name`) are not supported; repeat the content instead");
                self.push(Node { line, value: Value::Null }, Some(String::new()));
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.refuse_anchor_and_tag(line, anchor, tag.is_some());
                let plain = style == TScalarStyle::Plain;
                let at_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                if plain && text == "<<" && at_key {
                    self.error(line, "merge keys (`<<`) are not supported");
                }
                let value = if plain { resolve_plain(&text) } else { Value::Str(text.clone()) };
                self.push(Node { line, value }, Some(text));
            }
            Event::SequenceStart(anchor, tag) => {
                self.refuse_anchor_and_tag(line, anchor, tag.is_some());
                self.open(Frame::Seq { line, items: Vec::new() }, line);
            }
            Event::MappingStart(anchor, tag) => {
                self.refuse_anchor_and_tag(line, anchor, tag.is_some());
                self.open(Frame::Map { line, entries: Vec::new(), seen: HashSet::new(), key: None }, line);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq { line, items }) => Node { line, value: Value::Seq(items) },
                    Some(Frame::Map { line, entries, .. }) => Node { line, value: Value::Map(entries) },
                    None => return,
                };
                self.push(node, None);
            }
        }
    }
}

/// Resolves a plain scalar with the YAML 1.2 core schema (decimal numbers only:
/// a suite has no use for octal or hex, and reading them as text is harmless).
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let numeric = unsigned.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.')
        && unsigned.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if numeric {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Some(n) = text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::Str(text.to_owned())
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
    }
}
