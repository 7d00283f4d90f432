//! The condition lexer: source text to tokens with byte offsets.
//!
//! Hand-written over `char_indices`, so any input (including odd Unicode)
//! yields tokens or a positioned error, never a panic.

use serde_json::Number;

use super::ConditionError;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A name, possibly dotted (`tier`, `user.id`).
    Name(String),
    /// A string literal, unescaped.
    Str(String),
    /// A number literal.
    Num(Number),
    True,
    False,
    Null,
    And,
    Or,
    Not,
    In,
    Contains,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eof,
}

/// A token and where it sits in the source (byte offsets, `start..end`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) start: usize,
    pub(super) end: usize,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `src` into tokens, ending with one [`Tok::Eof`].
pub(super) fn lex(src: &str) -> Result<Vec<Token>, ConditionError> {
    let mut tokens = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let one = |tok| Token { tok, start, end: start + c.len_utf8() };
        let token = match c {
            c if c.is_whitespace() => continue,
            '(' => one(Tok::LParen),
            ')' => one(Tok::RParen),
            '[' => one(Tok::LBracket),
            ']' => one(Tok::RBracket),
            ',' => one(Tok::Comma),
            '=' | '!' | '<' | '>' => {
                let followed_by_eq = chars.next_if(|&(_, n)| n == '=').is_some();
                let tok = match (c, followed_by_eq) {
                    ('=', true) => Tok::Eq,
                    ('!', true) => Tok::Ne,
                    ('<', true) => Tok::Le,
                    ('>', true) => Tok::Ge,
                    ('<', false) => Tok::Lt,
                    ('>', false) => Tok::Gt,
                    ('=', false) => {
                        return Err(ConditionError::at(
                            src,
                            start,
                            "`=` is not an operator; did you mean `==`?",
                        ))
                    }
                    _ => {
                        return Err(ConditionError::at(
                            src,
                            start,
                            "`!` is not an operator; did you mean `!=` or `not`?",
                        ))
                    }
                };
                let end = start + if followed_by_eq { 2 } else { 1 };
                Token { tok, start, end }
            }
            '"' => {
                let mut text = String::new();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, e @ ('"' | '\\'))) => text.push(e),
                            Some((i, e)) => {
                                let msg = format!("unknown escape `\\{}` in string", e.escape_debug());
                                return Err(ConditionError::at(src, i - 1, msg));
                            }
                            None => break,
                        },
                        c => text.push(c),
                    }
                }
                match end {
                    Some(end) => Token { tok: Tok::Str(text), start, end },
                    None => return Err(ConditionError::at(src, start, "unterminated string")),
                }
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.peek().is_some_and(|&(_, n)| n.is_ascii_digit())) =>
            {
                let end = number_end(src, start);
                let text = src.get(start..end).unwrap_or_default();
                let tok = Tok::Num(parse_number(text).ok_or_else(|| {
                    ConditionError::at(src, start, format!("number `{text}` is out of range"))
                })?);
                while chars.next_if(|&(i, _)| i < end).is_some() {}
                Token { tok, start, end }
            }
            c if is_name_start(c) => {
                let mut end = start + 1;
                loop {
                    if let Some((i, n)) = chars.next_if(|&(_, n)| is_name_char(n)) {
                        end = i + n.len_utf8();
                        continue;
                    }
                    // A dot continues the name only when a name part follows it.
                    let rest = src.get(end..).unwrap_or_default();
                    let mut after = rest.chars();
                    if after.next() == Some('.') && after.next().is_some_and(is_name_start) {
                        chars.next();
                        continue;
                    }
                    break;
                }
                let word = src.get(start..end).unwrap_or_default();
                let tok = match word {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "in" => Tok::In,
                    "contains" => Tok::Contains,
                    "true" => Tok::True,
                    "false" => Tok::False,
                    "null" => Tok::Null,
                    _ => Tok::Name(word.to_owned()),
                };
                Token { tok, start, end }
            }
            c => {
                let msg = format!("unexpected character `{}`", c.escape_debug());
                return Err(ConditionError::at(src, start, msg));
            }
        };
        tokens.push(token);
    }
    tokens.push(Token { tok: Tok::Eof, start: src.len(), end: src.len() });
    Ok(tokens)
}

/// The end of the number starting at `start`: `-?digits(.digits)?([eE][+-]?digits)?`.
fn number_end(src: &str, start: usize) -> usize {
    let bytes = src.as_bytes();
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let digits_from = |mut i: usize| {
        while at(i).is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = start;
    if at(i) == b'-' {
        i += 1;
    }
    i = digits_from(i);
    if at(i) == b'.' && at(i + 1).is_ascii_digit() {
        i = digits_from(i + 1);
    }
    if matches!(at(i), b'e' | b'E') {
        let mut j = i + 1;
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            i = digits_from(j);
        }
    }
    i
}

/// An integer when it fits, otherwise a finite float.
fn parse_number(text: &str) -> Option<Number> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Number::from(i));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(Number::from(u));
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).map(|ts| ts.into_iter().map(|t| t.tok).collect()).unwrap_or_default()
    }

    #[test]
    fn lexes_operators_names_and_literals() {
        assert_eq!(
            toks(r#"user.id==-1.5e3 <= [ "a\"b\\" ] not_x"#),
            vec![
                Tok::Name("user.id".into()),
                Tok::Eq,
                Tok::Num(Number::from_f64(-1500.0).unwrap_or(Number::from(0))),
                Tok::Le,
                Tok::LBracket,
                Tok::Str("a\"b\\".into()),
                Tok::RBracket,
                Tok::Name("not_x".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn keeps_byte_offsets_after_multibyte_text() {
        let ts = lex("\"é\" == x").unwrap_or_default();
        let offsets: Vec<_> = ts.iter().map(|t| (t.start, t.end)).collect();
        assert_eq!(offsets, vec![(0, 4), (5, 7), (8, 9), (9, 9)]);
    }

    #[test]
    fn trailing_dot_is_not_part_of_a_name() {
        let err = lex("user.").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("column 5: unexpected character `.`"));
    }

    #[test]
    fn huge_numbers_are_an_error() {
        let err = lex("n < 1e999").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("column 5: number `1e999` is out of range"));
    }
}
