//! A small YAML tree where every node knows its line, built from yaml-rust2's
//! event stream.
//!
//! The workspace file needs less than YAML offers and more than yaml-rust2's
//! own `Yaml` tree keeps: line numbers for messages and the source map, and
//! rejection of anchors, aliases, merge keys, tags and duplicate keys, which
//! make a policy file harder to review. Scalars are resolved with the YAML 1.2
//! core schema (quoted scalars are always strings).
//!
//! The tree is built with an explicit stack and a depth limit, and the parser
//! is driven event by event rather than through its recursive `load`, so that
//! no input can exhaust the call stack.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::FileError;

/// Deeper nesting than this is refused; a workspace file needs about six levels.
const MAX_DEPTH: usize = 64;

/// A YAML node with the (1-based) line where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The 1-based line where the node starts.
    pub line: usize,
    /// What it holds.
    pub value: Value,
}

/// The value of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A finite number.
    Number(serde_json::Number),
    /// `.inf`, `-.inf` or `.nan`, which JSON cannot hold.
    NonFinite(f64),
    /// Any other scalar.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<Entry>),
}

/// A mapping key: the scalar's text as written, and its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key as written.
    pub text: String,
    /// Its 1-based line.
    pub line: usize,
}

/// The line (counting `\n`) of the first `\r` not followed by `\n`, if any.
fn lone_carriage_return(src: &str) -> Option<usize> {
    let bytes = src.as_bytes();
    let at = bytes.iter().enumerate().position(|(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))?;
    Some(1 + bytes.iter().take(at).filter(|&&b| b == b'\n').count())
}

/// One key/value pair of a mapping.
pub type Entry = (Key, Node);

impl Node {
    /// What the node is, for messages: "a string", "a list", ….
    pub fn describe(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) | Value::NonFinite(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

/// Parses one YAML document into a tree. `Ok(None)` for a document without content.
pub fn parse(src: &str) -> Result<Option<Node>, Vec<FileError>> {
    if let Some(line) = lone_carriage_return(src) {
        // YAML counts a lone `\r` as a line break and editors mostly do not,
        // so every line number after it would point at the wrong line.
        let message =
            "a carriage return (`\\r`) without a line feed; save the file with \\n or \\r\\n line endings";
        return Err(vec![FileError { line, message: message.to_owned() }]);
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    loop {
        match parser.next_token() {
            Err(e) => {
                let message = format!("invalid yaml: {}", e.info());
                builder.error(e.marker().line(), message);
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

/// A collection being built.
enum Frame {
    Seq { line: usize, items: Vec<Node> },
    Map { line: usize, entries: Vec<Entry>, seen: HashMap<String, usize>, pending: Option<PendingKey> },
}

/// The key whose value comes next; `None` inside when the key itself was refused.
struct PendingKey(Option<Key>);

/// Receives parser events and assembles the tree.
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
    errors: Vec<FileError>,
    /// Set when going on would only produce noise (or unbounded nesting).
    stopped: bool,
}

impl Builder {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.errors.push(FileError { line: line.max(1), message: message.into() });
    }

    /// Whether the next node completes a mapping key rather than a value.
    fn at_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { pending: None, .. }))
    }

    fn check_anchor_and_tag(&mut self, line: usize, anchor: usize, tag: Option<&yaml_rust2::parser::Tag>) {
        if anchor != 0 {
            self.error(line, "anchors (`&name`) are not supported; repeat the content instead");
        }
        if let Some(tag) = tag {
            // The parser hands back `!!x` resolved to the core schema's prefix.
            let handle = if tag.handle == "tag:yaml.org,2002:" { "!!" } else { tag.handle.as_str() };
            self.error(line, format!("yaml tags (`{handle}{}`) are not supported", tag.suffix));
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

    /// Adds a finished node to the collection being built (or makes it the root).
    /// `raw` is the scalar's text, used when the node is a mapping key.
    fn push(&mut self, node: Node, raw: Option<String>) {
        let mut problem = None;
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, seen, pending, .. }) => match pending.take() {
                None => match raw {
                    Some(text) => *pending = Some(PendingKey(Some(Key { text, line: node.line }))),
                    None => {
                        *pending = Some(PendingKey(None));
                        problem = Some(KeyProblem::NotScalar(node.line));
                    }
                },
                Some(PendingKey(None)) => {}
                Some(PendingKey(Some(key))) => {
                    if let Some(&first) = seen.get(&key.text) {
                        problem = Some(KeyProblem::Duplicate(key, first));
                    } else {
                        seen.insert(key.text.clone(), key.line);
                        entries.push((key, node));
                    }
                }
            },
        }
        match problem {
            Some(KeyProblem::NotScalar(line)) => {
                self.error(line, "mapping keys must be plain strings, not lists or maps")
            }
            Some(KeyProblem::Duplicate(key, first)) => {
                self.error(key.line, format!("duplicate key `{}` (first at line {first})", key.text))
            }
            None => {}
        }
    }
}

/// A mapping key that cannot be used.
enum KeyProblem {
    NotScalar(usize),
    Duplicate(Key, usize),
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
                    self.error(line, "a workspace file holds a single yaml document");
                    self.stopped = true;
                }
            }
            Event::Alias(_) => {
                self.error(line, "aliases (`*name`) are not supported; repeat the content instead");
                self.push(Node { line, value: Value::Null }, Some(String::new()));
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.check_anchor_and_tag(line, anchor, tag.as_ref());
                let plain = style == TScalarStyle::Plain;
                if plain && text == "<<" && self.at_key() {
                    self.error(line, "merge keys (`<<`) are not supported");
                }
                let value = if plain { resolve_plain(&text) } else { Value::Str(text.clone()) };
                self.push(Node { line, value }, Some(text));
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_anchor_and_tag(line, anchor, tag.as_ref());
                self.open(Frame::Seq { line, items: Vec::new() }, line);
            }
            Event::MappingStart(anchor, tag) => {
                self.check_anchor_and_tag(line, anchor, tag.as_ref());
                let frame = Frame::Map { line, entries: Vec::new(), seen: HashMap::new(), pending: None };
                self.open(frame, line);
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

/// Resolves a plain scalar with the YAML 1.2 core schema.
pub(super) fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::NonFinite(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::NonFinite(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::NonFinite(f64::NAN),
        _ => {}
    }
    if let Some(digits) = text.strip_prefix("0o") {
        if is_digits(digits, 8) {
            return radix_number(text, digits, 8);
        }
    }
    if let Some(digits) = text.strip_prefix("0x") {
        if is_digits(digits, 16) {
            return radix_number(text, digits, 16);
        }
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if is_digits(unsigned, 10) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = unsigned.parse::<u64>() {
            if !text.starts_with('-') {
                return Value::Number(n.into());
            }
        }
        return float(text);
    }
    if is_core_float(unsigned) {
        return float(text);
    }
    Value::Str(text.to_owned())
}

fn is_digits(s: &str, radix: u32) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_digit(radix))
}

fn radix_number(text: &str, digits: &str, radix: u32) -> Value {
    match u64::from_str_radix(digits, radix) {
        Ok(n) => Value::Number(n.into()),
        // Too large for any integer type JSON can hold: keep the text.
        Err(_) => Value::Str(text.to_owned()),
    }
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`, sign already removed.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(at) => (s.get(..at).unwrap_or(""), Some(s.get(at + 1..).unwrap_or(""))),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => is_digits(frac, 10),
        Some((int, frac)) => is_digits(int, 10) && frac.chars().all(|c| c.is_ascii_digit()),
        None => is_digits(mantissa, 10),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => is_digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10),
    };
    mantissa_ok && exponent_ok
}

fn float(text: &str) -> Value {
    match text.parse::<f64>() {
        Ok(f) => match serde_json::Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => Value::NonFinite(f),
        },
        Err(_) => Value::Str(text.to_owned()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn plain(s: &str) -> Value {
        resolve_plain(s)
    }

    /// A lone `\r` (the fuzzer's find: YAML counted it as a line break, so
    /// later errors named lines past the end of the file) is refused on
    /// its own line; `\r\n` line endings load as `\n` ones do.
    #[test]
    fn a_lone_carriage_return_is_refused_where_it_is() {
        let errors =
            parse("workspace: acme\nusers: { bob: {\r}, ann: {} }\nteams: {}\n").err().unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors.first().map(|e| e.line), Some(2));
        assert!(errors.first().is_some_and(|e| e.message.contains("carriage return")));
        assert!(parse("workspace: acme\r\nteams: {}\r\n").is_ok());
        assert_eq!(lone_carriage_return("a\r"), Some(1));
        assert_eq!(lone_carriage_return("a\r\nb\n"), None);
    }

    #[test]
    fn core_schema_scalars() {
        assert_eq!(plain("~"), Value::Null);
        assert_eq!(plain("True"), Value::Bool(true));
        assert_eq!(plain("yes"), Value::Str("yes".into()));
        assert_eq!(plain("-12"), Value::Number((-12).into()));
        assert_eq!(plain("0x1F"), Value::Number(31.into()));
        assert_eq!(plain("0o17"), Value::Number(15.into()));
        assert_eq!(plain("18446744073709551615"), Value::Number(u64::MAX.into()));
        assert!(matches!(plain("1.5e3"), Value::Number(n) if n.as_f64() == Some(1500.0)));
        assert!(matches!(plain(".5"), Value::Number(_)));
        assert!(matches!(plain("1."), Value::Number(_)));
        assert!(matches!(plain("-.inf"), Value::NonFinite(f) if f < 0.0));
        assert_eq!(plain("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(plain("2027-01-01T00:00:00Z"), Value::Str("2027-01-01T00:00:00Z".into()));
        assert_eq!(plain("e5"), Value::Str("e5".into()));
        assert_eq!(plain("."), Value::Str(".".into()));
    }

    #[test]
    fn quoted_scalars_are_strings() {
        let node = parse("a: '1'\nb: \"true\"\nc: 1\n").unwrap().unwrap();
        let Value::Map(entries) = node.value else { panic!("not a map") };
        let values: Vec<_> = entries.into_iter().map(|(k, v)| (k.text, k.line, v.value)).collect();
        assert_eq!(
            values,
            vec![
                ("a".into(), 1, Value::Str("1".into())),
                ("b".into(), 2, Value::Str("true".into())),
                ("c".into(), 3, Value::Number(1.into()))
            ]
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let src = "- ".repeat(100_000);
        let errors = parse(&src).unwrap_err();
        assert!(errors.iter().any(|e| e.message.contains("nesting deeper")), "{errors:?}");
        let src = "[".repeat(100_000);
        assert!(parse(&src).is_err());
        let src = "a: ".repeat(100_000);
        assert!(parse(&src).is_err());
    }

    #[test]
    fn empty_document_has_no_root() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("# only a comment\n"), Ok(None));
    }
}
