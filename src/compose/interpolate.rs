//! Variable interpolation as compose-go's template package does it: `$V`, `${V}`, `${V:-x}`,
//! `${V-x}`, `${V:?err}`, `${V?err}`, `${V:+x}`, `${V+x}` (nestable), and `$$` for a `$`.

use std::collections::HashMap;

use super::error::ComposeError;
use super::yaml::{Node, Value};

/// Where variables come from.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
    /// A variable used with no value and no default (compose warns and substitutes "").
    fn missing(&self, _name: &str) {}
}

impl Lookup for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// One string, interpolated; the error is the message without the place.
pub fn interpolate_str(text: &str, lookup: &dyn Lookup) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let mut depth = 1;
                let mut j = i + 2;
                while j < chars.len() {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!("invalid interpolation format for {text:?}: an unclosed \"${{\""));
                }
                let inner: String = chars[i + 2..j].iter().collect();
                out.push_str(&braced(&inner, text, lookup)?);
                i = j + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                match lookup.get(&name) {
                    Some(v) => out.push_str(&v),
                    None => lookup.missing(&name),
                }
                i = j;
            }
            _ => {
                return Err(format!(
                    "invalid interpolation format for {text:?}: a \"$\" not followed by a name (write \"$$\" for a \"$\")"
                ));
            }
        }
    }
    Ok(out)
}

fn braced(inner: &str, whole: &str, lookup: &dyn Lookup) -> Result<String, String> {
    let name_end = inner.find(|c: char| !is_name_char(c)).unwrap_or(inner.len());
    let name = &inner[..name_end];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(format!("invalid interpolation format for {whole:?}: a bad variable name in \"${{{inner}}}\""));
    }
    let rest = &inner[name_end..];
    let value = lookup.get(name);
    let (op, arg) = if rest.is_empty() {
        ("", "")
    } else if let Some(arg) = [":-", ":?", ":+"].iter().find_map(|op| rest.strip_prefix(op).map(|a| (*op, a))) {
        (arg.0, arg.1)
    } else if let Some(arg) = ["-", "?", "+"].iter().find_map(|op| rest.strip_prefix(op).map(|a| (*op, a))) {
        arg
    } else {
        return Err(format!("invalid interpolation format for {whole:?}: an unknown operator in \"${{{inner}}}\""));
    };
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    match op {
        "" => Ok(value.unwrap_or_else(|| {
            lookup.missing(name);
            String::new()
        })),
        ":-" => {
            if non_empty {
                Ok(value.unwrap_or_default())
            } else {
                interpolate_str(arg, lookup)
            }
        }
        "-" => {
            if set {
                Ok(value.unwrap_or_default())
            } else {
                interpolate_str(arg, lookup)
            }
        }
        ":+" => {
            if non_empty {
                interpolate_str(arg, lookup)
            } else {
                Ok(String::new())
            }
        }
        "+" => {
            if set {
                interpolate_str(arg, lookup)
            } else {
                Ok(String::new())
            }
        }
        ":?" | "?" => {
            if (op == ":?" && non_empty) || (op == "?" && set) {
                return Ok(value.unwrap_or_default());
            }
            let message = interpolate_str(arg, lookup)?;
            if message.is_empty() {
                Err(format!("required variable {name} is missing a value"))
            } else {
                Err(format!("required variable {name} is missing a value: {message}"))
            }
        }
        _ => Err(format!("invalid interpolation format for {whole:?}: an unknown operator in \"${{{inner}}}\"")),
    }
}

/// Interpolates every scalar value of a file's tree (never keys), naming the key path on error.
pub fn interpolate_tree(node: &mut Node, path: &str, lookup: &dyn Lookup) -> Result<(), ComposeError> {
    match &mut node.value {
        Value::Scalar(text, plain) => {
            if text.contains('$') {
                let expanded = interpolate_str(text, lookup).map_err(|m| ComposeError::At {
                    file: node.file.to_path_buf(),
                    line: node.line,
                    key: path.to_owned(),
                    message: m,
                })?;
                *text = expanded;
                // An interpolated value is typed by where it is, as a plain scalar would be.
                *plain = true;
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, &format!("{path}[{i}]"), lookup)?;
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries.iter_mut() {
                if key.name.starts_with("x-") {
                    continue;
                }
                let sub = if path.is_empty() { key.name.clone() } else { format!("{path}.{}", key.name) };
                interpolate_tree(value, &sub, lookup)?;
            }
        }
        Value::Null => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interpolation table of the compose-spec (12-interpolation.md) with V=val, E="" and U unset.
    #[test]
    fn the_spec_table() {
        let env: HashMap<String, String> =
            [("V", "val"), ("E", ""), ("W", "w")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        let cases = [
            ("$V", "val"),
            ("${V}", "val"),
            ("a${V}b", "avalb"),
            ("${U}", ""),
            ("${V:-d}", "val"),
            ("${E:-d}", "d"),
            ("${U:-d}", "d"),
            ("${V-d}", "val"),
            ("${E-d}", ""),
            ("${U-d}", "d"),
            ("${V:+alt}", "alt"),
            ("${E:+alt}", ""),
            ("${U:+alt}", ""),
            ("${V+alt}", "alt"),
            ("${E+alt}", "alt"),
            ("${U+alt}", ""),
            ("${V:?err}", "val"),
            ("${E?err}", ""),
            ("$$V", "$V"),
            ("$${V}", "${V}"),
            ("${U:-${W}}", "w"),
            ("${U:-${U2:-deep}}", "deep"),
            ("${U:-a b}", "a b"),
            ("$V.x", "val.x"),
        ];
        for (input, want) in cases {
            assert_eq!(interpolate_str(input, &env).as_deref(), Ok(want), "{input}");
        }
        assert_eq!(
            interpolate_str("${E:?need it}", &env).unwrap_err(),
            "required variable E is missing a value: need it"
        );
        assert_eq!(interpolate_str("${U?}", &env).unwrap_err(), "required variable U is missing a value");
        assert!(interpolate_str("${V", &env).is_err());
        assert!(interpolate_str("$-", &env).is_err());
        assert!(interpolate_str("${V!x}", &env).is_err());
    }
}
