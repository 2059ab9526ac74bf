//! Dockerfile parsing: text to a typed [`Dockerfile`], with the rules of BuildKit's frontend
//! (`parser`, `instructions`). Two levels: `lines` turns the text into logical lines (directives,
//! comments, continuations, heredocs) and splits each into keyword, flags and arguments (`words`);
//! `instructions` types each line (`flags`, `mount`, `chmod`, `values`) and `parse` groups them
//! into stages. Errors name the Dockerfile line and what is wrong; no input makes the parser
//! panic (see `build::robustness`).

mod ast;
mod chmod;
mod flags;
mod instructions;
mod lines;
pub mod mount;
#[cfg(test)]
mod tests;
mod values;
mod words;

use std::fmt;

pub use ast::*;
pub use chmod::Chmod;
pub use instructions::parse_trigger;
pub use values::{parse_expose, parse_signal};

/// Lines of a Dockerfile, 1-based and inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lines {
    pub start: usize,
    pub end: usize,
}

impl Lines {
    pub fn one(line: usize) -> Lines {
        Lines { start: line, end: line }
    }
}

impl fmt::Display for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.end > self.start {
            write!(f, "lines {}-{}", self.start, self.end)
        } else {
            write!(f, "line {}", self.start)
        }
    }
}

/// Something wrong in a Dockerfile, at the lines of the instruction concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile {lines}: {message}")]
pub struct DockerfileError {
    pub lines: Lines,
    pub message: String,
}

impl DockerfileError {
    pub fn new(lines: Lines, message: String) -> DockerfileError {
        DockerfileError { lines, message }
    }
}

/// A finding that does not stop the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub lines: Lines,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dockerfile {}: {}", self.lines, self.message)
    }
}

/// ` (did you mean X?)` when one candidate is within two edits of `word` (case ignored).
pub(crate) fn suggest(word: &str, candidates: &[&str], prefix: &str) -> String {
    let word = word.to_ascii_lowercase();
    let best = candidates
        .iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d > 0 && *d <= 2 && *d < word.chars().count())
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, candidate)) => format!(" (did you mean {prefix}{candidate}?)"),
        None => String::new(),
    }
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 || a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The heredoc a word like `<<EOF` or `3<<-"EOF"` introduces, if it is one.
pub fn heredoc_marker(word: &str) -> Option<Heredoc> {
    lines::parse_heredoc_marker(word).ok().flatten()
}

/// Parses a Dockerfile. It must be UTF-8 (a byte-order mark is dropped).
pub fn parse(bytes: &[u8]) -> Result<Dockerfile, DockerfileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        DockerfileError::new(Lines::one(line), "the Dockerfile is not valid UTF-8".into())
    })?;
    let scanned = lines::scan(text)?;
    let escape = scanned.directives.escape;
    let mut warnings = scanned.warnings;
    if let Some(syntax) = &scanned.directives.syntax {
        warnings.insert(
            0,
            Warning {
                lines: Lines::one(1),
                message: format!("the syntax directive ({syntax}) is ignored: berth parses Dockerfiles itself"),
            },
        );
    }
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &scanned.nodes {
        let source = node.original.trim().to_owned();
        match instructions::type_node(node, escape)? {
            instructions::Typed::From { base, name, platform } => {
                if let Some(name) = &name
                    && let Some(earlier) = stages.iter().find(|s| s.name.as_ref() == Some(name))
                {
                    let message = format!("duplicate stage name {name:?} (also used at {})", earlier.lines);
                    return Err(DockerfileError::new(node.lines, message));
                }
                let index = stages.len();
                stages.push(Stage { index, name, base, platform, lines: node.lines, source, instructions: Vec::new() });
            }
            instructions::Typed::Instruction(instruction) => {
                let located = Located { lines: node.lines, source, instruction };
                match stages.last_mut() {
                    Some(stage) => stage.instructions.push(located),
                    None if matches!(located.instruction, Instruction::Arg(_)) => global_args.push(located),
                    None => {
                        let message = format!(
                            "{} before the first FROM: only ARG may come before FROM",
                            located.instruction.keyword()
                        );
                        return Err(DockerfileError::new(node.lines, message));
                    }
                }
            }
        }
    }
    if stages.is_empty() {
        let last = scanned.nodes.last().map_or(Lines::one(1), |n| n.lines);
        return Err(DockerfileError::new(last, "the Dockerfile has no FROM: no stage to build".into()));
    }
    Ok(Dockerfile { directives: scanned.directives, global_args, stages, warnings })
}
