//! How each instruction splits its arguments (BuildKit's `line_parsers.go`): exec form (a JSON
//! array of strings) with the silent fallback to shell form when the text is not valid JSON,
//! whitespace-separated words, `KEY=VALUE` pairs and the legacy `KEY VALUE` form, HEALTHCHECK's
//! type word, ONBUILD's nested instruction, and the `--flag` words before the arguments.

use super::lines::{RawNode, node_from_line};
use super::{DockerfileError, Lines};

/// One `KEY=VALUE` of ENV or LABEL; the value still has its quotes (expansion removes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// Written `ENV key value` (one pair, the whole rest of the line is the value).
    pub legacy: bool,
}

/// An instruction's arguments, split the way its keyword splits them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// Nothing after the keyword (and its flags).
    Empty,
    /// Whitespace-separated (FROM, EXPOSE, COPY/ADD/VOLUME in shell form) or quote-aware words
    /// (ARG).
    Words(Vec<String>),
    /// Exec form: a JSON array of strings.
    Json(Vec<String>),
    /// The rest of the line as one string (shell form, WORKDIR, USER, …).
    Text(String),
    KeyValues(Vec<KeyValue>),
    /// HEALTHCHECK: the type word (CMD, NONE) and the command after it.
    Health {
        kind: String,
        command: Box<Args>,
    },
    /// ONBUILD: the instruction it registers.
    Sub(Box<RawNode>),
    /// An instruction berth does not know; reported when the node is typed.
    Ignored,
}

impl Args {
    /// The flat argument list BuildKit's instruction layer works on.
    pub fn flat(&self) -> Vec<String> {
        match self {
            Args::Empty | Args::Ignored => Vec::new(),
            Args::Words(words) | Args::Json(words) => words.clone(),
            Args::Text(text) => vec![text.clone()],
            Args::KeyValues(pairs) => pairs
                .iter()
                .flat_map(|p| [p.key.clone(), p.value.clone(), if p.legacy { String::new() } else { "=".into() }])
                .collect(),
            Args::Health { kind, command } => std::iter::once(kind.clone()).chain(command.flat()).collect(),
            Args::Sub(node) => std::iter::once(node.keyword.clone()).chain(node.args.flat()).collect(),
        }
    }

    pub fn is_json(&self) -> bool {
        match self {
            Args::Json(_) => true,
            Args::Health { command, .. } => command.is_json(),
            _ => false,
        }
    }
}

/// The whitespace that separates a keyword from its arguments and shell-form words
/// (BuildKit's `[\t\v\f\r ]`; a newline cannot occur in a logical line).
pub(super) fn is_line_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits off the leading `--flag[=value]` words. Quotes and the escape character work inside a
/// flag word; a lone `--` ends the flags. Returns the rest of the line and the flags.
pub(super) fn extract_flags(line: &str, escape: char) -> (&str, Vec<String>) {
    let mut flags = Vec::new();
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut i = 0;
    loop {
        while chars.get(i).is_some_and(|(_, c)| c.is_whitespace()) {
            i += 1;
        }
        let Some(&(start, _)) = chars.get(i) else { return ("", flags) };
        if !line[start..].starts_with("--") {
            return (&line[start..], flags);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        while let Some(&(at, ch)) = chars.get(i) {
            match quote {
                None if ch.is_whitespace() => {
                    if word == "--" {
                        return (&line[at..], flags);
                    }
                    break;
                }
                None if ch == '\'' || ch == '"' => {
                    quote = Some(ch);
                    blank_ok = true;
                }
                Some(q) if ch == q => quote = None,
                _ if ch == escape => {
                    if i + 1 == chars.len() {
                        // An escape at the very end is dropped (and ends a quote).
                        quote = None;
                    } else {
                        i += 1;
                        word.push(chars[i].1);
                    }
                }
                _ => word.push(ch),
            }
            i += 1;
        }
        if i >= chars.len() && word == "--" {
            return ("", flags);
        }
        if blank_ok || !word.is_empty() {
            flags.push(word);
        }
    }
}

/// Dispatches on the keyword.
pub(super) fn parse_args(keyword: &str, rest: &str, escape: char, lines: Lines) -> Result<Args, DockerfileError> {
    let fail = |message: String| DockerfileError::new(lines, message);
    Ok(match keyword.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => match parse_json(rest).map_err(fail)? {
            Some(words) => Args::Json(words),
            None => whitespace_words(rest),
        },
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest).map_err(fail)?,
        "arg" => match quoted_words(rest, escape) {
            words if words.is_empty() => Args::Empty,
            words => Args::Words(words),
        },
        "env" => name_values(rest, "ENV", escape).map_err(fail)?,
        "label" => name_values(rest, "LABEL", escape).map_err(fail)?,
        "expose" | "from" => whitespace_words(rest),
        "healthcheck" => health(rest).map_err(fail)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => text(rest),
        "onbuild" if rest.is_empty() => Args::Empty,
        "onbuild" => Args::Sub(Box::new(node_from_line(rest, escape, lines)?)),
        _ => Args::Ignored,
    })
}

fn text(rest: &str) -> Args {
    if rest.is_empty() { Args::Empty } else { Args::Text(rest.to_owned()) }
}

fn whitespace_words(rest: &str) -> Args {
    if rest.is_empty() {
        return Args::Empty;
    }
    Args::Words(rest.split(is_line_space).filter(|w| !w.is_empty()).map(str::to_owned).collect())
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// `Ok(None)` when `rest` is not a JSON array (the instruction falls back to shell form); an error
/// when it is one but holds something other than strings.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else { return Ok(None) };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NOT_STRINGS.to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn maybe_json(rest: &str) -> Result<Args, String> {
    if rest.is_empty() {
        return Ok(Args::Empty);
    }
    Ok(match parse_json(rest)? {
        Some(words) => Args::Json(words),
        None => Args::Text(rest.to_owned()),
    })
}

fn health(rest: &str) -> Result<Args, String> {
    let kind_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if kind_end == 0 {
        return Ok(Args::Empty);
    }
    let command = maybe_json(rest[kind_end..].trim_start())?;
    Ok(Args::Health { kind: rest[..kind_end].to_owned(), command: Box::new(command) })
}

/// Words separated by unquoted whitespace; quotes and escapes are kept in the words (the
/// expansion step removes them).
pub(super) fn quoted_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        // Inside single quotes nothing is escaped.
        let escapable = quote != Some('\'');
        match quote {
            None if ch.is_whitespace() => {
                if in_word && (blank_ok || !word.is_empty()) {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                in_word = false;
                i += 1;
                continue;
            }
            None => {
                in_word = true;
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
            }
            Some(q) if ch == q => quote = None,
            Some(_) => {}
        }
        if ch == escape && escapable {
            if i + 1 == chars.len() {
                // An escape at the very end is dropped (and ends a quote).
                break;
            }
            word.push(ch);
            i += 1;
        }
        word.push(chars[i]);
        i += 1;
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// ENV and LABEL: `KEY=VALUE …`, or the legacy `KEY VALUE` when the first word has no `=`.
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Args, String> {
    let words = quoted_words(rest, escape);
    if words.is_empty() {
        return Ok(Args::Empty);
    }
    if !words[0].contains('=') {
        let Some(at) = rest.find(is_line_space) else {
            return Err(format!("{keyword} must have two arguments"));
        };
        let value = rest[at..].trim_start_matches(is_line_space);
        return Ok(Args::KeyValues(vec![KeyValue {
            key: rest[..at].to_owned(),
            value: value.to_owned(),
            legacy: true,
        }]));
    }
    let mut pairs = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!("Syntax error - can't find = in {word:?}. Must be of the form: name=value"));
        };
        pairs.push(KeyValue { key: key.to_owned(), value: value.to_owned(), legacy: false });
    }
    Ok(Args::KeyValues(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_stop_at_the_first_word_without_dashes() {
        let (rest, flags) = extract_flags("--mount=type=cache,target=/x --network=none echo --no", '\\');
        assert_eq!(flags, ["--mount=type=cache,target=/x", "--network=none"]);
        assert_eq!(rest, "echo --no");
        let (rest, flags) = extract_flags("--from=\"a b\" -- --x y", '\\');
        assert_eq!(flags, ["--from=a b"]);
        assert_eq!(rest, " --x y");
        let (rest, flags) = extract_flags("--a\\ b c", '\\');
        assert_eq!((rest, flags), ("c", vec!["--a b".to_owned()]));
        assert_eq!(extract_flags("", '\\'), ("", vec![]));
        assert_eq!(extract_flags("--", '\\'), ("", vec![]));
        assert_eq!(extract_flags("-x y", '\\'), ("-x y", vec![]));
    }

    #[test]
    fn json_falls_back_to_shell_form_unless_it_holds_non_strings() {
        assert_eq!(maybe_json(r#"["a", "b c"]"#).unwrap(), Args::Json(vec!["a".into(), "b c".into()]));
        assert_eq!(maybe_json("['a']").unwrap(), Args::Text("['a']".into()));
        assert_eq!(maybe_json(r#"["a"#).unwrap(), Args::Text(r#"["a"#.into()));
        assert_eq!(maybe_json(r#"["a"] b"#).unwrap(), Args::Text(r#"["a"] b"#.into()));
        assert_eq!(maybe_json("[]").unwrap(), Args::Json(vec![]));
        assert_eq!(maybe_json(r#"["a", 1]"#).unwrap_err(), NOT_STRINGS);
        assert_eq!(maybe_json(r#"[["a"]]"#).unwrap_err(), NOT_STRINGS);
    }

    #[test]
    fn quoted_words_keep_quotes_and_escapes() {
        assert_eq!(quoted_words(r#"a="b c" d=e\ f 'g h'"#, '\\'), [r#"a="b c""#, r"d=e\ f", "'g h'"]);
        assert_eq!(quoted_words(r#"x="" y"#, '\\'), [r#"x="""#, "y"]);
        assert_eq!(quoted_words("a\\", '\\'), ["a"]);
        assert!(quoted_words("   ", '\\').is_empty());
    }

    #[test]
    fn env_forms() {
        let pairs = |args: Args| match args {
            Args::KeyValues(p) => p.into_iter().map(|p| (p.key, p.value, p.legacy)).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(pairs(name_values("A b c", "ENV", '\\').unwrap()), [("A".into(), "b c".into(), true)]);
        assert_eq!(
            pairs(name_values(r#"A=1 B="2 3""#, "ENV", '\\').unwrap()),
            [("A".into(), "1".into(), false), ("B".into(), r#""2 3""#.into(), false)]
        );
        assert_eq!(name_values("A", "ENV", '\\').unwrap_err(), "ENV must have two arguments");
        assert!(name_values("A=1 B", "LABEL", '\\').unwrap_err().contains("can't find = in \"B\""));
    }
}
