//! `.dockerignore` with Docker's semantics (moby/patternmatcher and its `ignorefile` reader),
//! which are not gitignore's:
//!
//! - patterns are cleaned (`filepath.Clean`) and anchored at the context root: `foo` is only
//!   `./foo`; `**/foo` is any `foo`; a leading `/` or `./` means nothing, nor does a trailing `/`;
//! - `*` and `?` never cross `/`; `**` crosses any number of directories (zero included); a
//!   trailing `**` matches everything below; `[…]` classes (`[^…]` negated); `\` escapes;
//! - a pattern that matches a directory matches everything under it;
//! - `!pattern` re-includes what it matches, and the last matching pattern wins, so an exception
//!   can bring back a file under an excluded directory (gitignore cannot);
//! - `#` starts a comment only in the first column; a UTF-8 byte-order mark is dropped.
//!
//! The matcher is a port of patternmatcher's, with its match kinds (exact, prefix, suffix,
//! general). Where patternmatcher hands a pattern to a regular-expression engine, this walks a
//! token list with a bounded set of states instead; the only difference is inside `[…]` classes,
//! whose characters are literal here (a `*` or `?` in a class garbles patternmatcher's regular
//! expression). No pattern or path can make the matcher panic or take exponential time.

use super::glob;

/// A bad pattern: which one, and in which line of the ignore file when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}invalid pattern {pattern:?}: {reason}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct PatternError {
    pub line: Option<usize>,
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    Any,
    /// `[…]`: ranges, negated.
    Class(bool, Vec<(char, char)>),
    /// `**/` (or `**` not at the end): nothing, or anything ending with `/`.
    Dirs,
    /// `**` at the end (after something else): anything.
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact,
    /// Ends with `**` and has no other wildcard: the text before it is a prefix.
    Prefix,
    /// Starts with `**` and has no other wildcard: the text after it is a suffix.
    Suffix,
    General(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    exclusion: bool,
    kind: Kind,
}

/// A list of patterns, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl Matcher {
    /// Compiles patterns (as `ignorefile::ReadAll` returns them, or any list: each is trimmed
    /// and cleaned here too).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Matcher, PatternError> {
        let mut matcher = Matcher::default();
        for raw in patterns {
            let trimmed = raw.as_ref().trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = super::paths::clean(trimmed);
            let (exclusion, text) = match cleaned.strip_prefix('!') {
                Some("") => {
                    let reason = "illegal exclusion pattern: \"!\"".to_owned();
                    return Err(PatternError { line: None, pattern: raw.as_ref().to_owned(), reason });
                }
                Some(rest) => (true, rest.to_owned()),
                None => (false, cleaned),
            };
            let bad =
                |reason: &str| PatternError { line: None, pattern: raw.as_ref().to_owned(), reason: reason.to_owned() };
            glob::validate(&text).map_err(|_| bad("syntax error in pattern"))?;
            let kind = compile(&text).map_err(|reason| bad(&reason))?;
            matcher.exclusions |= exclusion;
            matcher.patterns.push(Pattern { text, exclusion, kind });
        }
        Ok(matcher)
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern is an exception (`!…`).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `path` (slash-separated, relative to the context root, clean) is ignored: the last
    /// pattern that matches it or one of its parent directories decides.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./");
        if path.is_empty() || path == "." {
            // The context root itself is never excluded.
            return false;
        }
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).filter(|p| !p.is_empty()).collect();
        let mut matched = false;
        for pattern in &self.patterns {
            // Only patterns that can change the answer: an exclusion when it is matched so far,
            // an inclusion when it is not.
            if pattern.exclusion != matched {
                continue;
            }
            let hit = pattern.matches(path) || parents.iter().any(|parent| pattern.matches(parent));
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether a walk must look inside a directory that [`Matcher::matches`] excludes: Docker's
    /// rule (the CLI's and fsutil's) is that it does when an exception's text starts with the
    /// directory's path (`dir` excluded, `!dir/keep` re-included); an exception like
    /// `!**/keep` does not reach into an excluded directory.
    pub fn may_include_below(&self, dir: &str) -> bool {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        self.patterns.iter().filter(|p| p.exclusion).any(|p| format!("{}/", p.text).starts_with(&prefix))
    }

    /// The pattern texts (cleaned, with `!` for exceptions).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns.iter().map(|p| if p.exclusion { format!("!{}", p.text) } else { p.text.clone() }).collect()
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix => path.starts_with(&self.text[..self.text.len() - 2]),
            Kind::Suffix => {
                let suffix = &self.text[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|s| s == path)
            }
            Kind::General(tokens) => match_tokens(tokens, path),
        }
    }
}

/// patternmatcher's `compile`: the match kind, and for the general kind the tokens its regular
/// expression would have. The kind is one variable that later characters overwrite, exactly as
/// there (`**/a` is a suffix match, `**/a*` a general one).
fn compile(text: &str) -> Result<Kind, String> {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        General,
    }
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut detected = Detected::Exact;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        tokens.push(Token::All);
                        detected = Detected::General;
                    }
                } else {
                    tokens.push(Token::Dirs);
                    detected = Detected::General;
                }
                if first {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::Star);
                detected = Detected::General;
            }
            '?' => {
                tokens.push(Token::Any);
                detected = Detected::General;
            }
            '\\' if i < chars.len() => {
                tokens.push(Token::Literal(chars[i]));
                i += 1;
                detected = Detected::General;
            }
            '[' => {
                let (negated, ranges, used) = class(&chars[i..])?;
                tokens.push(Token::Class(negated, ranges));
                i += used;
                detected = Detected::General;
            }
            ']' => {
                tokens.push(Token::Literal(']'));
                detected = Detected::General;
            }
            c => tokens.push(Token::Literal(c)),
        }
        first = false;
    }
    Ok(match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix,
        Detected::Suffix => Kind::Suffix,
        Detected::General => Kind::General(tokens),
    })
}

type Ranges = Vec<(char, char)>;

/// A class after its `[`: negation, ranges, and how many characters it used (through `]`).
/// The syntax was checked by `glob::validate`; ranges that run backwards are refused (a
/// regular expression engine refuses them too).
fn class(chars: &[char]) -> Result<(bool, Ranges, usize), String> {
    let mut i = 0;
    let negated = chars.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let next = |i: &mut usize| -> Result<char, String> {
        if chars.get(*i) == Some(&'\\') {
            *i += 1;
        }
        let c = *chars.get(*i).ok_or("unterminated character class")?;
        *i += 1;
        Ok(c)
    };
    loop {
        match chars.get(i) {
            None => return Err("unterminated character class".into()),
            Some(']') if !ranges.is_empty() => return Ok((negated, ranges, i + 1)),
            Some(_) => {
                let lo = next(&mut i)?;
                let mut hi = lo;
                if chars.get(i) == Some(&'-') && chars.get(i + 1) != Some(&']') {
                    i += 1;
                    hi = next(&mut i)?;
                }
                if hi < lo {
                    return Err(format!("invalid character class range {lo}-{hi}"));
                }
                ranges.push((lo, hi));
            }
        }
    }
}

/// Runs the tokens over the whole path with the set of live states (no backtracking). A state
/// is a token index, and for a `Dirs` token whether it is inside its run of directories: state
/// `2 * index + inside`.
fn match_tokens(tokens: &[Token], path: &str) -> bool {
    let end = tokens.len();
    let mut states = vec![false; 2 * end + 2];
    states[0] = true;
    close(tokens, &mut states);
    for ch in path.chars() {
        let mut next = vec![false; states.len()];
        let mut any = false;
        for index in 0..end {
            let (outside, inside) = (states[2 * index], states[2 * index + 1]);
            if !outside && !inside {
                continue;
            }
            let mut to = |state: usize| {
                next[state] = true;
                any = true;
            };
            match &tokens[index] {
                Token::Literal(c) if outside && *c == ch => to(2 * (index + 1)),
                Token::Star if outside && ch != '/' => to(2 * index),
                Token::Any if outside && ch != '/' => to(2 * (index + 1)),
                Token::Class(negated, ranges)
                    if outside && ranges.iter().any(|(lo, hi)| *lo <= ch && ch <= *hi) != *negated =>
                {
                    to(2 * (index + 1))
                }
                Token::All if outside => to(2 * index),
                Token::Dirs => {
                    to(2 * index + 1);
                    if ch == '/' {
                        to(2 * (index + 1));
                    }
                }
                _ => {}
            }
        }
        if !any {
            return false;
        }
        states = next;
        close(tokens, &mut states);
    }
    states[2 * end]
}

/// Adds the states reachable without reading: past `*`, `**/` and `**` matching nothing.
fn close(tokens: &[Token], states: &mut [bool]) {
    for index in 0..tokens.len() {
        if states[2 * index] && matches!(tokens[index], Token::Star | Token::Dirs | Token::All) {
            states[2 * (index + 1)] = true;
        }
    }
}

/// Reads an ignore file (`ignorefile.ReadAll`): BOM dropped, `#` comments in the first column
/// skipped, lines trimmed, then cleaned with a leading `/` removed (`!` kept in front).
pub fn read_ignore_file(text: &str) -> Result<Matcher, PatternError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut patterns = Vec::new();
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let exclusion = pattern.starts_with('!');
        if exclusion {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = super::paths::clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        patterns.push(if exclusion { format!("!{cleaned}") } else { cleaned });
        lines.push(number + 1);
    }
    Matcher::new(&patterns).map_err(|mut e| {
        e.line = patterns.iter().position(|p| p.trim() == e.pattern.trim()).map(|i| lines[i]);
        e
    })
}

#[cfg(test)]
#[path = "ignore_tests.rs"]
mod tests;
