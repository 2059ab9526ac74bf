//! `config`'s output as Docker Compose v2 prints it. JSON: the model serialised in its field
//! order. YAML: the same JSON read back as YAML (JSON is YAML, and the reader keeps the order)
//! and printed in block style, two-space indent, strings quoted only when YAML would read them
//! as something else.

use std::path::Path;

use super::model::Project;
use super::yaml::{self, Node, Value};

fn tree(project: &Project) -> Node {
    let json = serde_json::to_string(project).unwrap_or_default();
    let mut node = yaml::parse(&json, Path::new("-")).expect("JSON is YAML");
    escape_dollars(&mut node);
    node
}

/// The output is itself a compose file: a `$` in a value is written `$$`, as Docker Compose does.
fn escape_dollars(node: &mut Node) {
    match &mut node.value {
        Value::Scalar(s, false) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Map(entries) => entries.iter_mut().for_each(|(_, v)| escape_dollars(v)),
        Value::Seq(items) => items.iter_mut().for_each(escape_dollars),
        _ => {}
    }
}

/// JSON: compose-go marshals the project as a map, so the top-level keys come sorted.
pub fn to_json(project: &Project) -> String {
    let mut node = tree(project);
    if let Value::Map(entries) = &mut node.value {
        entries.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    }
    let mut out = String::new();
    emit_json(&node, 0, &mut out);
    out
}

fn emit_json(node: &Node, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    let close = "  ".repeat(indent);
    match &node.value {
        Value::Null => out.push_str("null"),
        Value::Scalar(s, true) => out.push_str(s),
        Value::Scalar(s, false) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        Value::Seq(items) if items.is_empty() => out.push_str("[]"),
        Value::Map(entries) if entries.is_empty() => out.push_str("{}"),
        Value::Seq(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad);
                emit_json(item, indent + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&close);
            out.push(']');
        }
        Value::Map(entries) => {
            out.push_str("{\n");
            for (i, (k, v)) in entries.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&serde_json::to_string(&k.name).unwrap_or_default());
                out.push_str(": ");
                emit_json(v, indent + 1, out);
                out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
            }
            out.push_str(&close);
            out.push('}');
        }
    }
}

/// YAML: the project's fields in compose-go's order (name, services, networks, volumes, …).
pub fn to_yaml(project: &Project) -> String {
    let mut node = tree(project);
    if let Value::Map(entries) = &mut node.value {
        let rank = |k: &str| {
            ["name", "services", "networks", "volumes", "secrets", "configs"].iter().position(|n| *n == k).unwrap_or(9)
        };
        entries.sort_by_key(|(k, _)| rank(&k.name));
    }
    drop_empty(&mut node, &["ipam", "placement"]);
    // `command` and `entrypoint` are printed `null` in JSON only (compose-go's omitempty yaml tag).
    if let Some(services) = super::merge::get_mut(&mut node, "services")
        && let Value::Map(entries) = &mut services.value
    {
        for (_, service) in entries.iter_mut() {
            if let Value::Map(keys) = &mut service.value {
                keys.retain(|(k, v)| !(matches!(k.name.as_str(), "command" | "entrypoint") && v.is_null()));
            }
        }
    }
    let mut out = String::new();
    emit(&node, 0, &mut out);
    out
}

/// Keys that JSON prints `{}` and YAML omits (compose-go's omitempty yaml tags).
fn drop_empty(node: &mut Node, keys: &[&str]) {
    match &mut node.value {
        Value::Map(entries) => {
            entries.retain(|(k, v)| {
                !(keys.contains(&k.name.as_str()) && matches!(&v.value, Value::Map(m) if m.is_empty()))
            });
            entries.iter_mut().for_each(|(_, v)| drop_empty(v, keys));
        }
        Value::Seq(items) => items.iter_mut().for_each(|v| drop_empty(v, keys)),
        _ => {}
    }
}

fn emit(node: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                out.push_str(&pad);
                out.push_str(&scalar_text(&k.name, false));
                out.push(':');
                block_child(v, indent, out);
            }
        }
        Value::Seq(items) => {
            for v in items {
                out.push_str(&pad);
                out.push('-');
                match &v.value {
                    Value::Map(entries) if !entries.is_empty() => {
                        // The first key on the dash's line, the rest aligned under it.
                        let mut nested = String::new();
                        emit(v, indent + 2, &mut nested);
                        out.push(' ');
                        out.push_str(nested.trim_start());
                    }
                    _ => block_child(v, indent, out),
                }
            }
        }
        _ => {
            out.push_str(&pad);
            out.push_str(&inline(node));
            out.push('\n');
        }
    }
}

fn block_child(v: &Node, indent: usize, out: &mut String) {
    match &v.value {
        Value::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            emit(v, indent + 2, out);
        }
        Value::Seq(items) if !items.is_empty() => {
            out.push('\n');
            emit(v, indent + 2, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&inline(v));
            out.push('\n');
        }
    }
}

fn inline(v: &Node) -> String {
    match &v.value {
        Value::Null => "null".into(),
        Value::Scalar(s, plain) => scalar_text(s, *plain),
        Value::Seq(_) => "[]".into(),
        Value::Map(_) => "{}".into(),
    }
}

/// A JSON string as a plain scalar when that reads back as the same string, else double-quoted;
/// JSON numbers and booleans (plain) as they are.
fn scalar_text(s: &str, plain: bool) -> String {
    if plain {
        return s.to_owned();
    }
    let special = s.is_empty()
        || s.parse::<f64>().is_ok()
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "~" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
        || s.starts_with(|c: char| " ,[]{}#&*!|>'\"%@`".contains(c))
        || ["- ", "? ", ": "].iter().any(|p| s.starts_with(p))
        || matches!(s, "-" | "?" | ":")
        || s.ends_with(' ')
        || s.contains(": ")
        || s.contains(" #")
        || s.contains('\n')
        || s.contains('\t')
        || s.ends_with(':');
    if special { serde_json::to_string(s).unwrap_or_default() } else { s.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_block_yaml_in_field_order() {
        let json = r#"{"z": {"b": ["x", "1", "-f", {"k": 1, "l": "v"}], "e": {}, "u": null}, "a": "t: u"}"#;
        let node = yaml::parse(json, Path::new("-")).unwrap();
        let mut out = String::new();
        emit(&node, 0, &mut out);
        assert_eq!(
            out,
            "z:\n  b:\n    - x\n    - \"1\"\n    - -f\n    - k: 1\n      l: v\n  e: {}\n  u: null\na: \"t: u\"\n"
        );
    }
}
