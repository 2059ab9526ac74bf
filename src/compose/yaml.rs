//! The YAML layer: a tree that keeps what the compose rules need and serde's value types lose:
//! each node's file and line (for errors), its tag (`!reset`, `!override`), and whether a scalar
//! was quoted. Anchors and aliases are resolved here and `<<` merge keys applied.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::error::ComposeError;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// The text, and whether it was a plain (unquoted) scalar: only plain scalars are booleans,
    /// numbers or null.
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// `reset` or `override` (without the `!`), or any other local tag as written.
    pub tag: Option<String>,
    pub file: Rc<Path>,
    pub line: usize,
}

impl Node {
    pub fn new(value: Value, file: &Rc<Path>, line: usize) -> Node {
        Node { value, tag: None, file: file.clone(), line }
    }

    pub fn str(text: &str, file: &Rc<Path>, line: usize) -> Node {
        Node::new(Value::Scalar(text.to_owned(), false), file, line)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(Key, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn error(&self, key: &str, message: impl Into<String>) -> ComposeError {
        ComposeError::At {
            file: self.file.to_path_buf(),
            line: self.line,
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// What kind of value this is, for "must be a string, not a list".
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar(s, true) if s == "true" || s == "false" => "a boolean",
            Value::Scalar(s, true) if s.parse::<f64>().is_ok() => "a number",
            Value::Scalar(..) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses one YAML document (an empty file is an empty mapping).
pub fn parse(text: &str, file: &Path) -> Result<Node, ComposeError> {
    let file: Rc<Path> = Rc::from(file);
    let mut builder = Builder { file: file.clone(), anchors: HashMap::new(), stack: Vec::new(), done: None };
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| ComposeError::Syntax {
            file: file.to_path_buf(),
            line: e.marker().line(),
            message: e.info().to_owned(),
        })?;
        if let Event::DocumentStart(_) = event {
            documents += 1;
            if documents > 1 {
                return Err(ComposeError::Syntax {
                    file: file.to_path_buf(),
                    line: span.start.line(),
                    message: "a compose file holds one YAML document".into(),
                });
            }
        }
        builder.event(event, span)?;
    }
    let root = builder.done.unwrap_or_else(|| Node::new(Value::Map(Vec::new()), &file, 1));
    match root.value {
        Value::Null => Ok(Node::new(Value::Map(Vec::new()), &file, root.line)),
        Value::Map(_) => Ok(root),
        _ => Err(root.error("(top level)", format!("must be a mapping, not {}", root.kind()))),
    }
}

enum Open {
    Seq { anchor: usize, tag: Option<String>, line: usize, items: Vec<Node> },
    Map { anchor: usize, tag: Option<String>, line: usize, entries: Vec<(Key, Node)>, key: Option<Key> },
}

struct Builder {
    file: Rc<Path>,
    anchors: HashMap<usize, Node>,
    stack: Vec<Open>,
    done: Option<Node>,
}

fn tag_name(tag: Option<std::borrow::Cow<'_, saphyr_parser::Tag>>) -> Option<String> {
    let tag = tag?;
    if tag.handle == "!" { Some(tag.suffix.clone()) } else { Some(format!("{}{}", tag.handle, tag.suffix)) }
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), ComposeError> {
        let line = span.start.line();
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag_name(tag);
                let plain = style == ScalarStyle::Plain && tag.is_none();
                let value = if plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
                    || text.is_empty() && tag.is_some()
                {
                    Value::Null
                } else {
                    Value::Scalar(text.into_owned(), plain)
                };
                let node = Node { value, tag, file: self.file.clone(), line };
                self.finish(anchor, node)
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| ComposeError::Syntax {
                    file: self.file.to_path_buf(),
                    line,
                    message: "an alias names no anchor".into(),
                })?;
                self.push(node)
            }
            Event::SequenceStart(anchor, tag) => {
                self.stack.push(Open::Seq { anchor, tag: tag_name(tag), line, items: Vec::new() });
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                self.stack.push(Open::Map { anchor, tag: tag_name(tag), line, entries: Vec::new(), key: None });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Open::Seq { anchor, tag, line, items }) => {
                    let node = Node { value: Value::Seq(items), tag, file: self.file.clone(), line };
                    self.finish(anchor, node)
                }
                _ => unreachable!("the parser balances sequences"),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Open::Map { anchor, tag, line, entries, .. }) => {
                    let entries = apply_merge_keys(entries)?;
                    let node = Node { value: Value::Map(entries), tag, file: self.file.clone(), line };
                    self.finish(anchor, node)
                }
                _ => unreachable!("the parser balances mappings"),
            },
            _ => Ok(()),
        }
    }

    fn finish(&mut self, anchor: usize, node: Node) -> Result<(), ComposeError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.push(node)
    }

    fn push(&mut self, node: Node) -> Result<(), ComposeError> {
        match self.stack.last_mut() {
            None => self.done = Some(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { entries, key, .. }) => match key.take() {
                None => {
                    let name = match &node.value {
                        Value::Scalar(s, _) => s.clone(),
                        Value::Null => String::new(),
                        _ => return Err(node.error("(key)", "a mapping key must be a scalar")),
                    };
                    if entries.iter().any(|(k, _)| k.name == name) && name != "<<" {
                        return Err(node.error(&name, "the key appears twice in one mapping"));
                    }
                    *key = Some(Key { name, line: node.line });
                }
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}

/// YAML merge keys: `<<: *base` or `<<: [*a, *b]` add the entries the mapping lacks (earlier
/// sources win over later ones, the mapping's own keys over all).
fn apply_merge_keys(entries: Vec<(Key, Node)>) -> Result<Vec<(Key, Node)>, ComposeError> {
    if !entries.iter().any(|(k, _)| k.name == "<<") {
        return Ok(entries);
    }
    let mut own = Vec::new();
    let mut sources = Vec::new();
    for (key, node) in entries {
        if key.name == "<<" {
            match node.value {
                Value::Map(_) => sources.push(node),
                Value::Seq(items) => sources.extend(items),
                _ => return Err(node.error("<<", "a merge key takes a mapping or a list of mappings")),
            }
        } else {
            own.push((key, node));
        }
    }
    for source in sources {
        let Value::Map(source_entries) = source.value else {
            return Err(source.error("<<", "a merge key takes a mapping or a list of mappings"));
        };
        for (key, node) in source_entries {
            if !own.iter().any(|(k, _)| k.name == key.name) {
                own.push((key, node));
            }
        }
    }
    Ok(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Node {
        parse(text, Path::new("t.yaml")).unwrap()
    }

    #[test]
    fn lines_tags_and_quoting_survive() {
        let n = doc("services:\n  web:\n    image: !override busybox\n    tty: 'true'\n    init: true\n");
        let web = n.get("services").unwrap().get("web").unwrap();
        let image = web.get("image").unwrap();
        assert_eq!(image.line, 3);
        assert_eq!(image.tag.as_deref(), Some("override"));
        assert_eq!(web.get("tty").unwrap().value, Value::Scalar("true".into(), false));
        assert_eq!(web.get("init").unwrap().value, Value::Scalar("true".into(), true));
    }

    #[test]
    fn anchors_and_merge_keys_resolve() {
        let n = doc("x-base: &base\n  image: a\n  tty: true\nservices:\n  web:\n    <<: *base\n    image: b\n");
        let web = n.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.get("image").unwrap().value, Value::Scalar("b".into(), true));
        assert_eq!(web.get("tty").unwrap().value, Value::Scalar("true".into(), true));
    }

    #[test]
    fn reset_and_null_values() {
        let n = doc("a: !reset []\nb: ~\nc:\n");
        assert_eq!(n.get("a").unwrap().tag.as_deref(), Some("reset"));
        assert!(n.get("b").unwrap().is_null());
        assert!(n.get("c").unwrap().is_null());
    }

    #[test]
    fn bad_yaml_names_the_line() {
        let e = parse("services:\n  web:\n    image: [a\n", Path::new("c.yaml")).unwrap_err();
        assert!(e.to_string().starts_with("c.yaml:"), "{e}");
        let e = parse("a: 1\na: 2\n", Path::new("c.yaml")).unwrap_err();
        assert_eq!(e.to_string(), "c.yaml:2: a: the key appears twice in one mapping");
        assert!(parse("- a\n", Path::new("c.yaml")).is_err());
    }
}
