//! Instruction flags (`COPY --from=x`, `RUN --mount=…`), with the rules of BuildKit's `BFlags`:
//! each instruction declares the flags it takes; `--name=value` for strings (repeatable for list
//! flags), `--name`, `--name=true|false` for booleans; unknown and repeated flags are errors;
//! a `--` ends the flags.

use std::collections::BTreeMap;

use super::suggest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Bool,
    String,
    List,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Bool(bool),
    String(String),
    List(Vec<String>),
}

/// The flags an instruction was given, checked against the flags it declares.
#[derive(Debug, Default)]
pub(super) struct Flags {
    values: BTreeMap<&'static str, Value>,
}

impl Flags {
    /// Parses `words` (each `--name[=value]`) against `declared`.
    pub fn parse(words: &[String], declared: &[(&'static str, Kind)]) -> Result<Flags, String> {
        let mut values: BTreeMap<&'static str, Value> = BTreeMap::new();
        for word in words {
            if word == "--" {
                break;
            }
            let Some(body) = word.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {word}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some(&(name, kind)) = declared.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = declared.iter().map(|(n, _)| *n).collect();
                return Err(format!("unknown flag: --{name}{}", suggest(name, &names, "--")));
            };
            if kind != Kind::List && values.contains_key(name) {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            let value = match (kind, value) {
                (Kind::Bool, None) => Value::Bool(true),
                (Kind::Bool, Some("")) => return Err(format!("missing a value on flag: --{name}")),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err(format!("expecting boolean value for flag --{name}, not: {v}")),
                },
                (_, None) => return Err(format!("missing a value on flag: --{name}")),
                (Kind::String, Some(v)) => Value::String(v.to_owned()),
                (Kind::List, Some(v)) => {
                    if let Some(Value::List(list)) = values.get_mut(name) {
                        list.push(v.to_owned());
                        continue;
                    }
                    Value::List(vec![v.to_owned()])
                }
            };
            values.insert(name, value);
        }
        Ok(Flags { values })
    }

    /// A string flag's value, `None` when not given.
    pub fn string(&self, name: &str) -> Option<String> {
        match self.values.get(name) {
            Some(Value::String(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// A boolean flag: `None` when not given.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.values.get(name) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        match self.values.get(name) {
            Some(Value::List(list)) => list.clone(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const DECLARED: &[(&str, Kind)] = &[("link", Kind::Bool), ("from", Kind::String), ("exclude", Kind::List)];

    #[test]
    fn values_by_kind() {
        let flags = Flags::parse(&words(&["--link", "--from=a=b", "--exclude=x", "--exclude=y"]), DECLARED).unwrap();
        assert_eq!(flags.bool("link"), Some(true));
        assert_eq!(flags.string("from").as_deref(), Some("a=b"));
        assert_eq!(flags.list("exclude"), ["x", "y"]);
        let flags = Flags::parse(&words(&["--link=FALSE", "--", "--from"]), DECLARED).unwrap();
        assert_eq!((flags.bool("link"), flags.string("from")), (Some(false), None));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = |list: &[&str]| Flags::parse(&words(list), DECLARED).unwrap_err();
        assert_eq!(err(&["--lnk"]), "unknown flag: --lnk (did you mean --link?)");
        assert_eq!(err(&["--boo"]), "unknown flag: --boo");
        assert_eq!(err(&["--from=a", "--from=b"]), "duplicate flag specified: --from");
        assert_eq!(err(&["--from"]), "missing a value on flag: --from");
        assert_eq!(err(&["--link="]), "missing a value on flag: --link");
        assert_eq!(err(&["--link=yes"]), "expecting boolean value for flag --link, not: yes");
        assert_eq!(err(&["-x"]), "arg should start with -- : -x");
    }
}
