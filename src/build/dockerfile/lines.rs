//! The line level of a Dockerfile, with the rules of BuildKit's `parser` package: parser
//! directives at the top, comments, line continuations with the escape character (empty and
//! comment lines inside a continuation are skipped), heredoc bodies after RUN, COPY and ADD
//! (and ONBUILD of those). Each logical line becomes one [`RawNode`]: its keyword, its `--flags`
//! and its arguments split the way that keyword splits them (see `words`).

use super::words::{self, Args};
use super::{DockerfileError, Lines, Warning};
use crate::build::shell::{Lexer, NoEnv};

/// The parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` names an external frontend; berth has its own and only reports it.
    pub syntax: Option<String>,
    /// `# escape=` (`\` or `` ` ``): the escape and line-continuation character.
    pub escape: char,
    /// `# check=` configures BuildKit's lint checks; kept, not enforced.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { syntax: None, escape: '\\', check: None }
    }
}

/// A heredoc attached to an instruction: `<<NAME`, `<<-NAME` (leading tabs stripped),
/// `<<"NAME"` or `<<'NAME'` (quoted: the builder does not expand the body), `3<<NAME` (a file
/// descriptor for the shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub fd: u32,
    pub expand: bool,
    pub chomp: bool,
    /// The lines between the marker and the terminator, as written (tabs not yet stripped).
    pub content: String,
}

impl Heredoc {
    /// The body: with `<<-`, leading tabs removed from every line.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content.split_inclusive('\n').map(|line| line.trim_start_matches('\t')).collect()
    }
}

/// One logical line: an instruction before it is typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawNode {
    /// As written (`run`, `RUN`, …).
    pub keyword: String,
    pub flags: Vec<String>,
    pub args: Args,
    pub heredocs: Vec<Heredoc>,
    /// The logical line, continuations joined.
    pub original: String,
    pub lines: Lines,
}

/// What the line level produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub directives: Directives,
    pub nodes: Vec<RawNode>,
    pub warnings: Vec<Warning>,
}

/// The directive parser's state: directives are only recognised until the first line that is not
/// one (a blank line, another comment, an instruction).
struct DirectiveState {
    done: bool,
    directives: Directives,
    seen: Vec<&'static str>,
}

impl DirectiveState {
    fn parse(&mut self, line: &str, number: usize) -> Result<(), DockerfileError> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = match key.to_ascii_lowercase().as_str() {
            "syntax" => "syntax",
            "escape" => "escape",
            "check" => "check",
            _ => {
                self.done = true;
                return Ok(());
            }
        };
        let at = Lines::one(number);
        if self.seen.contains(&key) {
            return Err(DockerfileError::new(at, format!("only one {key} parser directive can be used")));
        }
        self.seen.push(key);
        match key {
            "syntax" => self.directives.syntax = Some(value),
            "check" => self.directives.check = Some(value),
            _ => {
                self.directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        let message = format!("invalid escape token '{value}' does not match ` or \\");
                        return Err(DockerfileError::new(at, message));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `# key = value` (BuildKit's `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` after the `#`).
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
    let name = &rest[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let after_eq = rest[name_len..].trim_start_matches(is_regex_space).strip_prefix('=')?;
    let value = after_eq.trim_start_matches(is_regex_space).trim_end_matches(is_regex_space);
    if !value.is_empty() {
        return Some((name.to_owned(), value.to_owned()));
    }
    // Only whitespace after '=': the regex's lazy `.+?` takes exactly one character of it.
    after_eq.chars().next().map(|c| (name.to_owned(), c.to_string()))
}

/// RE2's `\s`.
fn is_regex_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a trailing continuation character (the escape, then only spaces or tabs) and says
/// whether the logical line ends here. An escaped escape (`\\` at the end) is no continuation.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(before) if before.is_empty() || !before.ends_with(escape) => (before, false),
        _ => (line, true),
    }
}

/// Splits a logical line into keyword, flags and arguments, and types the arguments.
pub(super) fn node_from_line(line: &str, escape: char, lines: Lines) -> Result<RawNode, DockerfileError> {
    let trimmed = line.trim();
    let (keyword, rest) = match trimmed.find(words::is_line_space) {
        Some(at) => (&trimmed[..at], trimmed[at..].trim_start_matches(words::is_line_space)),
        None => (trimmed, ""),
    };
    let (args, flags) = words::extract_flags(rest, escape);
    let args = words::parse_args(keyword, args.trim(), escape, lines)?;
    Ok(RawNode { keyword: keyword.to_owned(), flags, args, heredocs: Vec::new(), original: line.to_owned(), lines })
}

/// Heredoc markers of a logical line, in order: words of the form `[fd]<<[-]NAME`.
fn heredoc_markers(line: &str) -> Result<Vec<Heredoc>, String> {
    let lexer = Lexer { raw_quotes: true, raw_escapes: true, skip_unset: true, ..Lexer::new('\\') };
    // A line the lexer cannot split (an unterminated quote) has no heredocs, as in BuildKit.
    let words = lexer.expand_words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc_marker(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// `^(\d*)<<(-?)\s*([^<]*)$`, then the name lexed: a quoted name (any part of it) turns
/// expansion off. Not a heredoc when the name is empty or more than one word.
pub(super) fn parse_heredoc_marker(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else { return Ok(None) };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(is_regex_space);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let lexer = Lexer { skip_unset: true, ..Lexer::new('\\') };
    let names = lexer.expand_words(rest, &NoEnv).map_err(|e| e.to_string())?;
    let [name] = names.as_slice() else { return Ok(None) };
    let raw = Lexer { raw_quotes: true, ..lexer }.expand_words(rest, &NoEnv).map_err(|e| e.to_string())?;
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let expand = raw.len() == 1 && quotes(name) == quotes(&raw[0]);
    let fd = word[..digits].parse().unwrap_or(0);
    Ok(Some(Heredoc { name: name.clone(), fd, expand, chomp, content: String::new() }))
}

/// Whether heredocs are looked for after this node: RUN, COPY, ADD, or ONBUILD of one of them,
/// and not in exec (JSON) form.
fn can_contain_heredoc(node: &RawNode) -> bool {
    let node = match &node.args {
        Args::Sub(inner) if node.keyword.eq_ignore_ascii_case("onbuild") => inner,
        _ => node,
    };
    let heredoc_keyword = ["run", "copy", "add"].iter().any(|k| node.keyword.eq_ignore_ascii_case(k));
    heredoc_keyword && !matches!(node.args, Args::Json(_))
}

/// Scans a whole Dockerfile.
pub(super) fn scan(text: &str) -> Result<Scanned, DockerfileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut state = DirectiveState { done: false, directives: Directives::default(), seen: Vec::new() };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut next = 0;
    while next < lines.len() {
        let number = next + 1;
        let first = trim_newline(lines[next]).trim_start();
        next += 1;
        state.parse(first, number)?;
        let escape = state.directives.escape;
        let first = if is_comment(first) { "" } else { first };
        let (content, mut end_of_line) = trim_continuation(first, escape);
        if end_of_line && content.is_empty() {
            continue;
        }
        let mut logical = content.to_owned();
        let mut empty_continuation = false;
        while !end_of_line && next < lines.len() {
            let raw = lines[next];
            next += 1;
            if is_comment(raw) {
                continue;
            }
            let line = trim_newline(raw);
            if line.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (content, end) = trim_continuation(line, escape);
            end_of_line = end;
            logical.push_str(content);
        }
        let at = Lines { start: number, end: next };
        if empty_continuation {
            warnings.push(Warning {
                lines: Lines::one(next),
                message: format!(
                    "empty continuation line found in: {logical} (empty continuation lines will become errors)"
                ),
            });
        }
        let mut node = node_from_line(&logical, escape, at)?;
        if can_contain_heredoc(&node) && logical.contains("<<") {
            let markers = heredoc_markers(&logical).map_err(|e| DockerfileError::new(at, e))?;
            for mut doc in markers {
                let mut terminated = false;
                while next < lines.len() {
                    let line = lines[next];
                    next += 1;
                    let mut candidate = trim_newline(line);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(line);
                }
                if !terminated {
                    let message = format!(
                        "unterminated heredoc {:?} (no line {:?} before the end of the file)",
                        doc.name, doc.name
                    );
                    return Err(DockerfileError::new(Lines { start: number, end: next.max(number) }, message));
                }
                node.heredocs.push(doc);
            }
            node.lines.end = next;
        }
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(DockerfileError::new(Lines::one(lines.len().max(1)), "file with no instructions".into()));
    }
    Ok(Scanned { directives: state.directives, nodes, warnings })
}
