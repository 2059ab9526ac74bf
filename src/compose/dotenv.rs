//! `.env`, `--env-file` and `env_file:` files, read as compose-go's dotenv does.

use std::path::Path;

use super::error::ComposeError;
use super::interpolate::{Lookup, interpolate_str};

/// `KEY=VALUE` pairs in order; a bare `KEY` takes its value from `lookup` (or is left out).
/// Values in double quotes or unquoted are interpolated against what is already defined.
pub fn parse(text: &str, file: &Path, lookup: &dyn Lookup) -> Result<Vec<(String, String)>, ComposeError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let error = |message: &str| ComposeError::At {
            file: file.to_path_buf(),
            line: n + 1,
            key: line.split('=').next().unwrap_or("").trim().to_owned(),
            message: message.to_owned(),
        };
        let Some((key, rest)) = line.split_once('=') else {
            let key = line.trim();
            if let Some(v) = lookup.get(key) {
                out.push((key.to_owned(), v));
            }
            continue;
        };
        let key = key.trim().to_owned();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(error("not a KEY=VALUE line"));
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            let mut text = body.to_owned();
            while !text.contains('\'') {
                let Some((_, next)) = lines.next() else { return Err(error("an unterminated quote")) };
                text.push('\n');
                text.push_str(next);
            }
            text[..text.find('\'').unwrap_or(text.len())].to_owned()
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut text = body.to_owned();
            while closing_quote(&text).is_none() {
                let Some((_, next)) = lines.next() else { return Err(error("an unterminated quote")) };
                text.push('\n');
                text.push_str(next);
            }
            let inner = &text[..closing_quote(&text).unwrap_or(text.len())];
            let unescaped = inner.replace("\\n", "\n").replace("\\t", "\t").replace("\\\"", "\"").replace("\\\\", "\\");
            expand(&unescaped, &out, lookup, file, n + 1)?
        } else {
            let value = match rest.find(" #") {
                Some(i) => &rest[..i],
                None => rest,
            };
            expand(value.trim_end(), &out, lookup, file, n + 1)?
        };
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
    }
    Ok(out)
}

fn closing_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b'"' && (i == 0 || bytes[i - 1] != b'\\'))
}

fn expand(
    value: &str,
    earlier: &[(String, String)],
    lookup: &dyn Lookup,
    file: &Path,
    line: usize,
) -> Result<String, ComposeError> {
    struct Chain<'a>(&'a [(String, String)], &'a dyn Lookup);
    impl Lookup for Chain<'_> {
        fn get(&self, name: &str) -> Option<String> {
            self.1.get(name).or_else(|| self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        }
    }
    interpolate_str(value, &Chain(earlier, lookup)).map_err(|message| ComposeError::At {
        file: file.to_path_buf(),
        line,
        key: String::new(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(text: &str) -> Vec<(String, String)> {
        parse(text, Path::new(".env"), &HashMap::<String, String>::new()).unwrap()
    }

    #[test]
    fn dotenv_forms() {
        let got = env("# c\nA=1\nB='lit $A'\nC=\"x\\ny $A\"\nD=v # comment\nE=a#b\nexport F=f\nG=\nA=2\n");
        let want = [("A", "2"), ("B", "lit $A"), ("C", "x\ny 1"), ("D", "v"), ("E", "a#b"), ("F", "f"), ("G", "")];
        assert_eq!(got, want.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec());
    }
}
