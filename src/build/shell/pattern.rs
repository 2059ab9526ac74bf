//! The shell patterns of `${v#p}`, `${v%p}` and `${v/p/r}`: `*` any run of characters, `?` any
//! one character, `\*` `\?` `\\` literal, `\}` and `\/` the brace or slash that would otherwise end
//! the expression. Other characters (brackets included) are literal, as in BuildKit, whose
//! translation to a regular expression also keeps `*` and `?` from matching a newline.
//!
//! Matching is a set-of-states simulation, linear in the pattern for each character, so no input
//! can make it take exponential time.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Literal(char),
}

fn compile(pattern: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        tokens.push(match ch {
            '*' => Token::Star,
            '?' => Token::Any,
            '\\' => match chars.peek() {
                // The escape only stopped `}` or `/` from ending the expression.
                Some('}' | '/') => continue,
                Some(&c @ ('*' | '?' | '\\')) => {
                    chars.next();
                    Token::Literal(c)
                }
                Some(c) => return Err(format!("invalid escape '\\{c}'")),
                None => return Err("invalid escape at the end of the pattern".to_owned()),
            },
            c => Token::Literal(c),
        });
    }
    Ok(tokens)
}

/// The states reachable before any character is read: position 0 and every position reachable by
/// letting stars match nothing.
fn closure(tokens: &[Token], states: &mut [bool]) {
    for i in 0..tokens.len() {
        if states[i] && tokens[i] == Token::Star {
            states[i + 1] = true;
        }
    }
}

fn step(tokens: &[Token], states: &[bool], ch: char) -> Vec<bool> {
    let mut next = vec![false; states.len()];
    for (i, token) in tokens.iter().enumerate() {
        if !states[i] {
            continue;
        }
        match *token {
            Token::Star if ch != '\n' => next[i] = true,
            Token::Any if ch != '\n' => next[i + 1] = true,
            Token::Literal(c) if c == ch => next[i + 1] = true,
            _ => {}
        }
    }
    closure(tokens, &mut next);
    next
}

/// For each `k` in `0..=text.len()`, whether the pattern matches `text[..k]` exactly.
fn prefix_matches(tokens: &[Token], text: &[char]) -> Vec<bool> {
    let mut states = vec![false; tokens.len() + 1];
    states[0] = true;
    closure(tokens, &mut states);
    let mut out = Vec::with_capacity(text.len() + 1);
    out.push(states[tokens.len()]);
    for &ch in text {
        if !states.iter().any(|&s| s) {
            out.resize(text.len() + 1, false);
            return out;
        }
        states = step(tokens, &states, ch);
        out.push(states[tokens.len()]);
    }
    out
}

fn chosen(matches: &[bool], longest: bool) -> Option<usize> {
    if longest { matches.iter().rposition(|&m| m) } else { matches.iter().position(|&m| m) }
}

/// `${v#p}` (shortest) and `${v##p}` (longest): `value` without the prefix that `pattern`
/// matches, or `value` unchanged.
pub(super) fn trim_prefix(pattern: &str, value: &str, longest: bool) -> Result<String, String> {
    let tokens = compile(pattern)?;
    let text: Vec<char> = value.chars().collect();
    Ok(match chosen(&prefix_matches(&tokens, &text), longest) {
        Some(k) => text[k..].iter().collect(),
        None => value.to_owned(),
    })
}

/// `${v%p}` (shortest) and `${v%%p}` (longest), matched from the end.
pub(super) fn trim_suffix(pattern: &str, value: &str, longest: bool) -> Result<String, String> {
    let mut tokens = compile(pattern)?;
    tokens.reverse();
    let mut text: Vec<char> = value.chars().collect();
    text.reverse();
    Ok(match chosen(&prefix_matches(&tokens, &text), longest) {
        Some(k) => text[k..].iter().rev().collect(),
        None => value.to_owned(),
    })
}

/// `${v/p/r}` replaces the leftmost match (the longest one there), `${v//p/r}` every match,
/// left to right without overlaps. An empty match is replaced too, but never right where the
/// previous match ended.
pub(super) fn replace(pattern: &str, value: &str, replacement: &str, all: bool) -> Result<String, String> {
    let tokens = compile(pattern)?;
    let text: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut last_end = None;
    while i <= text.len() {
        let found = chosen(&prefix_matches(&tokens, &text[i..]), true);
        if let Some(len) = found.filter(|&len| len > 0 || last_end != Some(i)) {
            out.push_str(replacement);
            last_end = Some(i + len);
            if !all {
                out.extend(&text[i + len..]);
                return Ok(out);
            }
            if len > 0 {
                i += len;
                continue;
            }
        }
        if let Some(&ch) = text.get(i) {
            out.push(ch);
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_suffix_trimming_follow_shortest_and_longest() {
        assert_eq!(trim_prefix("*x", "xxyy", true).unwrap(), "yy");
        assert_eq!(trim_prefix("*x", "xxyy", false).unwrap(), "xyy");
        assert_eq!(trim_prefix("*x*y", "xxyy", false).unwrap(), "y");
        assert_eq!(trim_prefix("*", "xxyy", false).unwrap(), "xxyy");
        assert_eq!(trim_prefix("?\\?", "???y", false).unwrap(), "?y");
        assert_eq!(trim_suffix("\\**", "xx**", true).unwrap(), "xx");
        assert_eq!(trim_suffix("\\**\\*", "a***yy*", true).unwrap(), "a");
        assert_eq!(trim_suffix("x", "xxyy", false).unwrap(), "xxyy");
        assert_eq!(trim_suffix("", "xxyy", true).unwrap(), "xxyy");
    }

    #[test]
    fn replacement_first_and_all() {
        assert_eq!(replace("\\*/", "/foo*/*/*.txt", ".", false).unwrap(), "/foo.*/*.txt");
        assert_eq!(replace("\\*/", "/foo*/*/*.txt", ".", true).unwrap(), "/foo..*.txt");
        assert_eq!(replace("/?/", "/a/foo/b/c.txt", "/", true).unwrap(), "/foo/c.txt");
        assert_eq!(replace("", "xxyy", "ww", false).unwrap(), "wwxxyy");
        assert_eq!(replace("", "xxyy", "", true).unwrap(), "xxyy");
        assert_eq!(replace("\\/", "/tmp/foo.txt", "\\/", true).unwrap(), "\\/tmp\\/foo.txt");
    }

    #[test]
    fn bad_escapes_are_errors() {
        for pattern in ["\\", "\\x", "\\\\\\"] {
            assert!(compile(pattern).is_err(), "{pattern}");
        }
    }

    #[test]
    fn stars_do_not_cross_newlines() {
        assert_eq!(trim_prefix("*b", "a\nb", true).unwrap(), "a\nb");
    }
}
