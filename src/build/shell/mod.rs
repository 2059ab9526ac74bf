//! Docker's shell-word lexer: quotes, escapes and `$var` / `${var…}` expansion, with the rules of
//! BuildKit's `frontend/dockerfile/shell` package.
//!
//! The builder expands the words of ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME,
//! WORKDIR, ARG defaults and instruction flag values with it. RUN, CMD and ENTRYPOINT are never
//! expanded by the builder: the shell inside the container does that. Supported forms: `$v`,
//! `${v}`, `${v:-w}` `${v-w}` (default), `${v:+w}` `${v+w}` (alternative), `${v:?m}` `${v?m}`
//! (required), and BuildKit's newer `${v#p}` `${v##p}` `${v%p}` `${v%%p}` `${v/p/r}` `${v//p/r}`.
//! Positional and special parameters (`$1`, `$@`, `$#`, …) are never set.

mod pattern;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

/// Where variable values come from. `None` means unset, which differs from set-but-empty for
/// `${v-w}`, `${v+w}` and `${v?m}`.
pub trait Env {
    fn lookup(&self, name: &str) -> Option<&str>;
}

/// No variables at all.
pub struct NoEnv;

impl Env for NoEnv {
    fn lookup(&self, _: &str) -> Option<&str> {
        None
    }
}

/// An ordered list of `(name, value)`; the last entry of a name wins.
impl Env for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl Env for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

/// A failed expansion: the word and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {message}")]
pub struct ShellError {
    pub word: String,
    pub message: String,
}

/// Nesting deeper than this (`${a:-${b:-…}}`, quotes in defaults) is refused rather than
/// allowed to exhaust the stack.
const MAX_DEPTH: usize = 64;

/// How a word is lexed. `Lexer::new` gives the builder's normal mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    /// `\` by default, or `` ` `` after `# escape=``.
    pub escape: char,
    /// Keep the quote characters in the result.
    pub raw_quotes: bool,
    /// Keep the escape characters in the result.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters (heredoc bodies).
    pub skip_quotes: bool,
    /// Leave references to unset variables as they were written.
    pub skip_unset: bool,
}

/// The result of expanding one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expanded {
    /// The whole word, quotes removed, variables replaced; spaces kept.
    pub value: String,
    /// The same split into words at unquoted whitespace (whitespace that came from a variable
    /// outside quotes splits too, as a shell would).
    pub words: Vec<String>,
    /// Variables that were looked up and set.
    pub matched: BTreeSet<String>,
    /// Variables that were looked up and unset.
    pub unmatched: BTreeSet<String>,
}

impl Lexer {
    pub fn new(escape: char) -> Lexer {
        Lexer { escape, raw_quotes: false, raw_escapes: false, skip_quotes: false, skip_unset: false }
    }

    /// Expands `word` against `env`.
    pub fn expand(&self, word: &str, env: &dyn Env) -> Result<Expanded, ShellError> {
        let mut scanner = Scanner {
            lexer: self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            depth: 0,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        match scanner.process_stop_on(None, self.raw_escapes) {
            Ok((value, words)) => Ok(Expanded { value, words, matched: scanner.matched, unmatched: scanner.unmatched }),
            Err(message) => Err(ShellError { word: word.to_owned(), message }),
        }
    }

    /// [`Lexer::expand`]'s whole-word value.
    pub fn expand_word(&self, word: &str, env: &dyn Env) -> Result<String, ShellError> {
        self.expand(word, env).map(|e| e.value)
    }

    /// [`Lexer::expand`]'s words.
    pub fn expand_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        self.expand(word, env).map(|e| e.words)
    }
}

/// Collects words: unquoted whitespace ends a word, quoted text never does.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            // Like BuildKit: whitespace after an empty quoted string ("") neither makes an empty
            // word nor ends the word.
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

struct Scanner<'a> {
    lexer: &'a Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    depth: usize,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

type Lexed<T> = Result<T, String>;

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        match self.env.lookup(name) {
            Some(value) => {
                self.matched.insert(name.to_owned());
                Some(value.to_owned())
            }
            None => {
                self.unmatched.insert(name.to_owned());
                None
            }
        }
    }

    /// Lexes until `stop` (consumed) or the end of the word; `raw_escapes` keeps escape
    /// characters (inside `${v#pattern}` and `${v/pattern/…}`, where the pattern needs them).
    fn process_stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Lexed<(String, Vec<String>)> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("expression nested too deeply".to_owned());
        }
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                self.depth -= 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                    words.add_string(&value);
                }
                '<' => {
                    let value = self.possible_heredoc();
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '\'' if !self.lexer.skip_quotes => {
                    let value = self.single_quoted()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '"' if !self.lexer.skip_quotes => {
                    let value = self.double_quoted(raw_escapes)?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                _ => {
                    self.next();
                    if ch == self.lexer.escape {
                        if raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // The escape character escapes anything; at the very end it vanishes.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!("unexpected end of statement while looking for matching {stop}"));
        }
        self.depth -= 1;
        Ok((result, words.finish()))
    }

    /// Everything up to the next `'`, literally: nothing can be escaped in single quotes.
    fn single_quoted(&mut self) -> Lexed<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".into()),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    /// Up to the next unescaped `"`, expanding `$`; the escape character escapes only `"`, `$`
    /// and itself, and stays literal before anything else.
    fn double_quoted(&mut self, raw_escapes: bool) -> Lexed<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".into()),
                Some('"') => {
                    self.next();
                    if self.lexer.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(_) => {
                    let mut ch = self.next().expect("peeked");
                    if ch == self.lexer.escape {
                        if raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.lexer.escape => {
                                ch = self.next().expect("peeked");
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Lexed<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.process_name();
        let ch = self.next();
        match ch {
            Some('}') => Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(op @ (':' | '+' | '-' | '?' | '#' | '%')) => self.modifier(name, op),
            Some('/') => self.replacement(name),
            other => {
                Err(format!("unsupported modifier ({}) in substitution", other.map(String::from).unwrap_or_default()))
            }
        }
    }

    /// `${name:-word}` and friends; `first` is the character after the name (`:` or the operator).
    fn modifier(&mut self, name: String, first: char) -> Lexed<String> {
        let colon = first == ':';
        let op = if colon { self.next() } else { Some(first) };
        let op_text = format!("{}{}", if colon { ":" } else { "" }, op.map(String::from).unwrap_or_default());
        let pattern_op = matches!(op, Some('#' | '%'));
        if colon && pattern_op {
            return Err(format!("unsupported modifier ({op_text}) in substitution"));
        }
        let word = match self.process_stop_on(Some('}'), pattern_op) {
            Ok((word, _)) => word,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(e) => return Err(e),
        };
        let value = self.lookup(&name);
        if self.lexer.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{op_text}{word}}}"));
        }
        let unset_or_null = match &value {
            None => true,
            Some(v) => colon && v.is_empty(),
        };
        match op {
            Some('-') => Ok(if unset_or_null { word } else { value.unwrap_or_default() }),
            Some('+') => Ok(if unset_or_null { String::new() } else { word }),
            Some('?') => {
                let message = match &value {
                    None => "is not allowed to be unset",
                    Some(v) if colon && v.is_empty() => "is not allowed to be empty",
                    Some(v) => return Ok(v.clone()),
                };
                Err(format!("{name}: {}", if word.is_empty() { message } else { &word }))
            }
            Some(op @ ('#' | '%')) => {
                let (longest, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let value = value.unwrap_or_default();
                let trimmed = if op == '#' {
                    pattern::trim_prefix(pattern, &value, longest)
                } else {
                    pattern::trim_suffix(pattern, &value, longest)
                };
                trimmed.map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))
            }
            _ => Err(format!("unsupported modifier ({op_text}) in substitution")),
        }
    }

    /// `${name/pattern/replacement}` (first match) and `${name//pattern/replacement}` (all).
    fn replacement(&mut self, name: String) -> Lexed<String> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let pattern = match self.process_stop_on(Some('/'), true) {
            Ok((pattern, _)) => pattern,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '/' in ${}".into()),
            Err(e) => return Err(e),
        };
        let replacement = match self.process_stop_on(Some('}'), true) {
            Ok((replacement, _)) => replacement,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(e) => return Err(e),
        };
        let value = self.lookup(&name);
        if self.lexer.skip_unset && value.is_none() {
            let slashes = if all { "//" } else { "/" };
            return Ok(format!("${{{name}{slashes}{pattern}/{replacement}}}"));
        }
        pattern::replace(&pattern, value.as_deref().unwrap_or(""), &replacement, all)
            .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))
    }

    /// A variable name: letters, digits and `_`; or a run of digits (a positional parameter);
    /// or one special parameter character.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(digit) = self.peek().filter(|c| c.is_numeric()) {
                    self.next();
                    name.push(digit);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    /// `<<` keeps the whitespace after it in the same word, so a heredoc marker written
    /// `<< EOF` stays one word.
    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_owned();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(ch) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            self.next();
            result.push(ch);
        }
        result
    }
}
