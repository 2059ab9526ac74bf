//! Typed readers of single YAML nodes for the compose model: strings, booleans, numbers,
//! lists, dictionaries, durations, byte sizes and paths, each naming the key path on a wrong type.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::ComposeError;
use super::yaml::{Node, Value};

type R<T> = Result<T, ComposeError>;

pub(super) fn check_keys(node: &Node, path: &str, allowed: &[&str]) -> R<()> {
    let Value::Map(entries) = &node.value else {
        return Err(node.error(path, format!("must be a mapping, not {}", node.kind())));
    };
    for (key, value) in entries {
        if !key.name.starts_with("x-") && !allowed.contains(&key.name.as_str()) {
            return Err(ComposeError::At {
                file: value.file.to_path_buf(),
                line: key.line,
                key: join(path, &key.name),
                message: "unknown key (additional properties are not allowed)".into(),
            });
        }
    }
    Ok(())
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

pub fn string(n: &Node, path: &str) -> R<String> {
    match &n.value {
        Value::Scalar(s, _) => Ok(s.clone()),
        _ => Err(n.error(path, format!("must be a string, not {}", n.kind()))),
    }
}

pub(super) fn opt_string(n: Option<&Node>, path: &str) -> R<Option<String>> {
    n.filter(|n| !n.is_null()).map(|n| string(n, path)).transpose()
}

pub(super) fn boolean(n: &Node, path: &str) -> R<bool> {
    match &n.value {
        Value::Scalar(s, _) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::Scalar(s, _) if s.eq_ignore_ascii_case("false") => Ok(false),
        Value::Null => Ok(false),
        _ => Err(n.error(path, format!("must be a boolean, not {}", n.kind()))),
    }
}

pub(super) fn opt_bool(n: Option<&Node>, path: &str) -> R<Option<bool>> {
    n.filter(|n| !n.is_null()).map(|n| boolean(n, path)).transpose()
}

pub(super) fn integer(n: &Node, path: &str) -> R<i64> {
    match &n.value {
        Value::Scalar(s, _) => s.parse().map_err(|_| n.error(path, format!("must be an integer, not {s:?}"))),
        _ => Err(n.error(path, format!("must be an integer, not {}", n.kind()))),
    }
}

pub(super) fn number(n: &Node, path: &str) -> R<f64> {
    match &n.value {
        Value::Scalar(s, _) => s.parse().map_err(|_| n.error(path, format!("must be a number, not {s:?}"))),
        _ => Err(n.error(path, format!("must be a number, not {}", n.kind()))),
    }
}

pub(super) fn list(n: &Node, path: &str) -> R<Vec<String>> {
    match &n.value {
        Value::Seq(items) => items.iter().enumerate().map(|(i, item)| string(item, &format!("{path}[{i}]"))).collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(n.error(path, format!("must be a list, not {}", n.kind()))),
    }
}

pub(super) fn string_or_list(n: &Node, path: &str) -> R<Vec<String>> {
    match &n.value {
        Value::Scalar(s, _) => Ok(vec![s.clone()]),
        _ => list(n, path),
    }
}

/// A command or entrypoint: a list as is, a string split as a shell would (compose-go's shellwords).
pub(super) fn command(n: &Node, path: &str) -> R<Option<Vec<String>>> {
    match &n.value {
        Value::Null => Ok(None),
        Value::Scalar(s, _) => shell_split(s).map(Some).ok_or_else(|| n.error(path, "an unterminated quote")),
        _ => list(n, path).map(Some),
    }
}

pub fn shell_split(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// A mapping of strings (after merge::normalise_service, list forms are mappings already).
pub(super) fn dict(n: &Node, path: &str) -> R<BTreeMap<String, Option<String>>> {
    match &n.value {
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| Ok((k.name.clone(), if v.is_null() { None } else { Some(string(v, &join(path, &k.name))?) })))
            .collect(),
        Value::Seq(items) => {
            let mut out = BTreeMap::new();
            for (i, item) in items.iter().enumerate() {
                let text = string(item, &format!("{path}[{i}]"))?;
                match text.split_once('=') {
                    Some((k, v)) => out.insert(k.to_owned(), Some(v.to_owned())),
                    None => out.insert(text, None),
                };
            }
            Ok(out)
        }
        Value::Null => Ok(BTreeMap::new()),
        _ => Err(n.error(path, format!("must be a mapping or a list, not {}", n.kind()))),
    }
}

pub(super) fn string_dict(n: &Node, path: &str) -> R<BTreeMap<String, String>> {
    Ok(dict(n, path)?.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect())
}

/// Go's time.Duration text, which compose prints: `1m30s`, `500ms`, `0s`.
pub fn duration(n: &Node, path: &str) -> R<String> {
    let text = string(n, path)?;
    let nanos = parse_duration(&text).ok_or_else(|| n.error(path, format!("not a duration: {text:?}")))?;
    Ok(format_duration(nanos))
}

pub fn parse_duration(text: &str) -> Option<u128> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(u128::from(seconds) * 1_000_000_000);
    }
    let mut total = 0u128;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += (value * factor) as u128;
        rest = &rest[unit_len..];
    }
    Some(total)
}

pub fn format_duration(nanos: u128) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        return match nanos {
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}µs", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let secs = nanos % 60_000_000_000;
    let whole = secs / 1_000_000_000;
    let frac = secs % 1_000_000_000;
    let seconds = if frac == 0 {
        format!("{whole}s")
    } else {
        format!("{whole}.{}", format!("{frac:09}").trim_end_matches('0')) + "s"
    };
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// `64m`, `1g`, `1024` → bytes, as Docker's RAMInBytes.
pub fn bytes(n: &Node, path: &str) -> R<String> {
    let text = string(n, path)?;
    parse_bytes(&text).map(|b| b.to_string()).ok_or_else(|| n.error(path, format!("not a size: {text:?}")))
}

pub fn parse_bytes(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(lower.len());
    let value: f64 = lower[..digits].parse().ok()?;
    let factor: u64 = match lower[digits..].trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    Some((value * factor as f64) as u64)
}

pub(super) fn absolute(dir: &Path, path: &str) -> String {
    let expanded = match path.strip_prefix("~/") {
        Some(rest) => std::env::var("HOME").map(|h| format!("{h}/{rest}")).unwrap_or_else(|_| path.to_owned()),
        None => path.to_owned(),
    };
    let joined = if expanded.starts_with('/') { std::path::PathBuf::from(&expanded) } else { dir.join(&expanded) };
    clean(&joined)
}

/// `a/./b/../c` → `a/c`, without touching the filesystem (as Go's filepath.Clean).
pub(super) fn clean(path: &Path) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.to_str().unwrap_or_default().split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// An extension's value as YAML typed it (plain scalars are booleans, numbers or strings).
pub fn to_json(n: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &n.value {
        Value::Null => J::Null,
        Value::Scalar(s, true) if s == "true" || s == "false" => J::Bool(s == "true"),
        Value::Scalar(s, true) => match s.parse::<i64>() {
            Ok(i) => J::from(i),
            Err(_) => match s.parse::<f64>() {
                Ok(f) if f.is_finite() => J::from(f),
                _ => J::String(s.clone()),
            },
        },
        Value::Scalar(s, false) => J::String(s.clone()),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(entries.iter().map(|(k, v)| (k.name.clone(), to_json(v))).collect()),
    }
}
