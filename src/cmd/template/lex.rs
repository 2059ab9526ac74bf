//! Go template lexing: the text is cut into literal text and `{{ … }}` actions (honouring the
//! `{{- ` and ` -}}` trim markers and `{{/* comments */}}`), and each action into tokens.

use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// `.Field.Sub` (the leading dot included in the first name; `.` alone has no names).
    Field(Vec<String>),
    /// `$name.Field.Sub` (`$` alone is the root data).
    Variable(String, Vec<String>),
    /// `.Field` chained onto a parenthesised pipeline: `(index .X 0).HostPort`.
    Chain(Vec<String>),
    Ident(String),
    Str(String),
    Number(f64, bool),
    Char(char),
    LeftParen,
    RightParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// A piece of the template: literal text, or the tokens of one action.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Action(Vec<Token>),
}

pub fn pieces(source: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = source;
    let mut trim_next_text = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next_text {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let trim_before = after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_before {
            text = text.trim_end();
        }
        if !text.is_empty() {
            out.push(Piece::Text(text.to_owned()));
        }
        let body_start = if trim_before { 2 } else { 0 };
        let body_and_rest = &after[body_start..];
        let (body, trim_after, consumed) = action_body(body_and_rest)?;
        trim_next_text = trim_after;
        let trimmed = body.trim();
        if !(trimmed.starts_with("/*") && trimmed.ends_with("*/")) {
            out.push(Piece::Action(tokens(body)?));
        }
        rest = &body_and_rest[consumed..];
    }
    let text = if trim_next_text { rest.trim_start() } else { rest };
    if !text.is_empty() {
        out.push(Piece::Text(text.to_owned()));
    }
    Ok(out)
}

/// The body of an action up to its `}}` (string literals may hold `}}`), whether it ends with a
/// trim marker, and how many bytes it used including the delimiter.
fn action_body(s: &str) -> Result<(&str, bool, usize), TemplateError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    if s.trim_start().starts_with("/*") {
        let open = s.find("/*").expect("checked above");
        let close = s[open..].find("*/").ok_or_else(|| TemplateError::parse("unclosed comment"))? + open + 2;
        let tail = &s[close..];
        let (trim, skip) = if tail.starts_with(" -}}") {
            (true, 4)
        } else if tail.starts_with("}}") {
            (false, 2)
        } else {
            return Err(TemplateError::parse("comment ends before closing delimiter"));
        };
        return Ok((&s[..close], trim, close + skip));
    }
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'`' | b'\'' => i = skip_quoted(s, i)?,
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                let trim = i >= 2 && bytes[i - 1] == b'-' && bytes[i - 2].is_ascii_whitespace();
                let end = if trim { i - 1 } else { i };
                return Ok((&s[..end], trim, i + 2));
            }
            _ => i += 1,
        }
    }
    Err(TemplateError::parse("unclosed action"))
}

/// The index just past the quoted literal that starts at `start`.
fn skip_quoted(s: &str, start: usize) -> Result<usize, TemplateError> {
    let bytes = s.as_bytes();
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            b'\n' if quote != b'`' => return Err(TemplateError::parse("unterminated quoted string")),
            c if c == quote => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(TemplateError::parse("unterminated quoted string"))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The `.A.B` names that follow position `i`.
fn field_names(chars: &[char], i: &mut usize) -> Vec<String> {
    let mut names = Vec::new();
    while *i < chars.len() && chars[*i] == '.' {
        let start = *i + 1;
        let mut j = start;
        while j < chars.len() && is_ident_char(chars[j]) {
            j += 1;
        }
        if j == start {
            break;
        }
        names.push(chars[start..j].iter().collect());
        *i = j;
    }
    names
}

pub fn tokens(body: &str) -> Result<Vec<Token>, TemplateError> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::LeftParen);
                i += 1;
            }
            ')' => {
                out.push(Token::RightParen);
                i += 1;
                if i < chars.len() && chars[i] == '.' {
                    out.push(Token::Chain(field_names(&chars, &mut i)));
                }
            }
            '|' => {
                out.push(Token::Pipe);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::Declare);
                i += 2;
            }
            '=' => {
                out.push(Token::Assign);
                i += 1;
            }
            '.' if chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => out.push(number(&chars, &mut i)?),
            '.' => {
                let names = field_names(&chars, &mut i);
                if names.is_empty() {
                    i += 1;
                    if chars.get(i).is_some_and(|d| !d.is_whitespace() && !matches!(d, ')' | '|')) {
                        return Err(TemplateError::parse(format!("bad character {:?}", chars[i])));
                    }
                }
                out.push(Token::Field(names));
            }
            '$' => {
                let start = i;
                i += 1;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                out.push(Token::Variable(name, field_names(&chars, &mut i)));
            }
            '"' | '`' => {
                let start_byte: usize = chars[..i].iter().map(|c| c.len_utf8()).sum();
                let end_byte = skip_quoted(body, start_byte)?;
                let literal = &body[start_byte..end_byte];
                out.push(Token::Str(unquote(literal)?));
                i += literal.chars().count();
            }
            '\'' => {
                let start_byte: usize = chars[..i].iter().map(|c| c.len_utf8()).sum();
                let end_byte = skip_quoted(body, start_byte)?;
                let literal = &body[start_byte..end_byte];
                let text = unquote(&format!("\"{}\"", &literal[1..literal.len() - 1]))?;
                let mut it = text.chars();
                match (it.next(), it.next()) {
                    (Some(ch), None) => out.push(Token::Char(ch)),
                    _ => return Err(TemplateError::parse(format!("malformed character constant: {literal}"))),
                }
                i += literal.chars().count();
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+') && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                out.push(number(&chars, &mut i)?)
            }
            c if is_ident_char(c) => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
                if i < chars.len() && chars[i] == '.' {
                    return Err(TemplateError::parse("unexpected . after term"));
                }
            }
            other => return Err(TemplateError::parse(format!("unexpected {other:?} in command"))),
        }
    }
    Ok(out)
}

fn number(chars: &[char], i: &mut usize) -> Result<Token, TemplateError> {
    let start = *i;
    while *i < chars.len() && (chars[*i].is_ascii_alphanumeric() || matches!(chars[*i], '.' | '_' | '+' | '-')) {
        // A sign only leads a number or follows an exponent.
        if matches!(chars[*i], '+' | '-') && *i != start && !matches!(chars[*i - 1], 'e' | 'E' | 'p' | 'P') {
            break;
        }
        *i += 1;
    }
    let text: String = chars[start..*i].iter().filter(|c| **c != '_').collect();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d.to_owned()),
        None => (false, text.trim_start_matches('+').to_owned()),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let lower = digits.to_ascii_lowercase();
    let integer = |radix, s: &str| i64::from_str_radix(s, radix).ok().map(|n| Token::Number(sign * n as f64, true));
    let parsed = if let Some(hex) = lower.strip_prefix("0x") {
        integer(16, hex)
    } else if let Some(oct) = lower.strip_prefix("0o") {
        integer(8, oct)
    } else if let Some(bin) = lower.strip_prefix("0b") {
        integer(2, bin)
    } else if lower.chars().all(|c| c.is_ascii_digit()) {
        lower.parse::<i64>().ok().map(|n| Token::Number(sign * n as f64, true))
    } else {
        lower.parse::<f64>().ok().map(|f| Token::Number(sign * f, false))
    };
    parsed.ok_or_else(|| TemplateError::parse(format!("bad number syntax: {text:?}")))
}

/// A Go string literal's value: "…" with Go's escapes, or `…` raw.
fn unquote(literal: &str) -> Result<String, TemplateError> {
    if let Some(raw) = literal.strip_prefix('`') {
        return Ok(raw.trim_end_matches('`').to_owned());
    }
    let inner = &literal[1..literal.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let bad = || TemplateError::parse(format!("invalid syntax in string {literal}"));
        match chars.next().ok_or_else(bad)? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).map_err(|_| bad())? as char);
            }
            'u' | 'U' => {
                let hex: String = chars.by_ref().take_while(char::is_ascii_hexdigit).collect();
                out.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_actions_with_trim_markers() {
        let p = pieces("a  {{- .X -}}  b {{/* note */}}c").unwrap();
        assert_eq!(
            p,
            vec![
                Piece::Text("a".into()),
                Piece::Action(vec![Token::Field(vec!["X".into()])]),
                Piece::Text("b ".into()),
                Piece::Text("c".into()),
            ]
        );
    }

    #[test]
    fn tokens_of_a_pipeline() {
        let t = tokens(r#"$v := index .Labels "a}}b" | printf "%s" 1.5 -2"#).unwrap();
        assert_eq!(
            t,
            vec![
                Token::Variable("$v".into(), vec![]),
                Token::Declare,
                Token::Ident("index".into()),
                Token::Field(vec!["Labels".into()]),
                Token::Str("a}}b".into()),
                Token::Pipe,
                Token::Ident("printf".into()),
                Token::Str("%s".into()),
                Token::Number(1.5, false),
                Token::Number(-2.0, true),
            ]
        );
    }

    #[test]
    fn chained_fields_after_parentheses() {
        let t = tokens("(index $conf 0).HostPort").unwrap();
        assert_eq!(t.last(), Some(&Token::Chain(vec!["HostPort".into()])));
    }

    #[test]
    fn unclosed_things_are_errors() {
        assert!(pieces("{{.X").is_err());
        assert!(pieces("{{\"abc}}").is_err());
        assert!(pieces("{{/* x }}").is_err());
    }
}
