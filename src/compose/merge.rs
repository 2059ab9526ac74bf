//! Merging compose files (`-f a -f b`, `extends`) by the compose-spec's rules (13-merge.md):
//! mappings merge, sequences append, a few keys are replaced, "unique resources" merge by their
//! key, and `!override` / `!reset` tags in the later file replace or drop a value.

use super::yaml::{Key, Node, Value};

/// Service keys whose value the later file replaces whole.
const REPLACED: &[&str] = &["command", "entrypoint", "healthcheck.test"];

/// Service keys that are a list or a mapping (`K=V` / `K: V`); merged as mappings.
const LIST_OR_DICT: &[(&str, char)] = &[
    ("environment", '='),
    ("labels", '='),
    ("annotations", '='),
    ("sysctls", '='),
    ("extra_hosts", '='),
    ("build.args", '='),
    ("build.labels", '='),
];

/// Makes the list-or-mapping keys of a service mappings, so that both forms merge alike.
pub fn normalise_service(service: &mut Node) {
    for (path, sep) in LIST_OR_DICT {
        let (parent, key) = match path.split_once('.') {
            Some((p, k)) => (Some(p), k),
            None => (None, *path),
        };
        let target = match parent {
            Some(p) => match get_mut(service, p) {
                Some(n) => n,
                None => continue,
            },
            None => service,
        };
        let Some(node) = get_mut(target, key) else { continue };
        list_to_map(node, if *path == "extra_hosts" { ':' } else { *sep });
    }
    for key in ["depends_on", "networks"] {
        if let Some(node) = get_mut(service, key)
            && let Value::Seq(items) = &node.value
        {
            let entries = items
                .iter()
                .filter_map(|item| match &item.value {
                    Value::Scalar(name, _) => Some((
                        Key { name: name.clone(), line: item.line },
                        Node::new(Value::Null, &item.file, item.line),
                    )),
                    _ => None,
                })
                .collect();
            if items.iter().all(|i| matches!(i.value, Value::Scalar(..))) {
                node.value = Value::Map(entries);
            }
        }
    }
}

fn list_to_map(node: &mut Node, sep: char) {
    let Value::Seq(items) = &node.value else { return };
    if !items.iter().all(|i| matches!(i.value, Value::Scalar(..))) {
        return;
    }
    let mut entries: Vec<(Key, Node)> = Vec::new();
    for item in items {
        let Value::Scalar(text, _) = &item.value else { continue };
        // extra_hosts takes `host:ip` and `host=ip`; an IPv6 address has colons of its own.
        let split =
            if sep == ':' { text.split_once('=').or_else(|| text.split_once(':')) } else { text.split_once(sep) };
        let (k, v) = match split {
            Some((k, v)) => (k.to_owned(), Node::str(v, &item.file, item.line)),
            None => (text.clone(), Node::new(Value::Null, &item.file, item.line)),
        };
        entries.retain(|(e, _)| e.name != k);
        entries.push((Key { name: k, line: item.line }, v));
    }
    node.value = Value::Map(entries);
}

pub fn get_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    match &mut node.value {
        Value::Map(entries) => entries.iter_mut().find(|(k, _)| k.name == key).map(|(_, v)| v),
        _ => None,
    }
}

/// `over` merged onto `base`; `path` is the key path (`services.web.ports`) that picks the rule.
pub fn merge(base: &mut Node, over: Node, path: &str) {
    if over.tag.as_deref() == Some("override") || REPLACED.iter().any(|r| path_is(path, r)) {
        *base = Node { tag: None, ..over };
        return;
    }
    match (&mut base.value, over.value) {
        (Value::Map(base_entries), Value::Map(over_entries)) => {
            for (key, value) in over_entries {
                let sub = if path.is_empty() { key.name.clone() } else { format!("{path}.{}", key.name) };
                if value.tag.as_deref() == Some("reset") {
                    base_entries.retain(|(k, _)| k.name != key.name);
                    continue;
                }
                match base_entries.iter_mut().find(|(k, _)| k.name == key.name) {
                    Some((_, existing)) => merge(existing, value, &sub),
                    None => base_entries.push((key, strip_tags(value))),
                }
            }
        }
        (Value::Seq(base_items), Value::Seq(over_items)) => {
            let unique = unique_key(path);
            for item in over_items {
                if item.tag.as_deref() == Some("reset") {
                    continue;
                }
                let item = strip_tags(item);
                match unique.and_then(|f| f(&item).map(|k| (f, k))) {
                    Some((f, key)) => match base_items.iter_mut().find(|b| f(b).as_ref() == Some(&key)) {
                        Some(existing) => *existing = item,
                        None => base_items.push(item),
                    },
                    None => {
                        if !base_items.iter().any(|b| b.value == item.value && is_set_like(path)) {
                            base_items.push(item);
                        }
                    }
                }
            }
        }
        (_, value) => {
            base.value = value;
            base.line = over.line;
            base.file = over.file;
        }
    }
}

fn strip_tags(mut node: Node) -> Node {
    if node.tag.as_deref() == Some("override") {
        node.tag = None;
    }
    node
}

/// `services.web.ports` matches the service-relative rule `ports`.
fn path_is(path: &str, rule: &str) -> bool {
    let mut parts = path.splitn(3, '.');
    parts.next() == Some("services") && parts.next().is_some() && parts.next() == Some(rule)
}

fn service_key(path: &str) -> Option<&str> {
    let mut parts = path.splitn(3, '.');
    (parts.next() == Some("services")).then_some(())?;
    parts.next()?;
    parts.next()
}

/// Lists of scalars that hold each value once (cap_add, dns, …).
fn is_set_like(path: &str) -> bool {
    matches!(
        service_key(path),
        Some(
            "cap_add"
                | "cap_drop"
                | "dns"
                | "dns_search"
                | "dns_opt"
                | "expose"
                | "security_opt"
                | "profiles"
                | "env_file"
                | "tmpfs"
        )
    )
}

type UniqueKey = fn(&Node) -> Option<String>;

/// The compose-spec's unique resources: the key that identifies an item of the list.
fn unique_key(path: &str) -> Option<UniqueKey> {
    match service_key(path)? {
        "volumes" => Some(volume_target),
        "secrets" | "configs" => Some(|n| match &n.value {
            Value::Scalar(s, _) => Some(s.clone()),
            Value::Map(_) => scalar(n.get("target")?).or_else(|| scalar(n.get("source")?)),
            _ => None,
        }),
        "ports" => Some(|n| match &n.value {
            Value::Scalar(s, _) => Some(s.clone()),
            Value::Map(_) => Some(format!(
                "{}:{}:{}/{}",
                n.get("host_ip").and_then(scalar).unwrap_or_default(),
                n.get("published").and_then(scalar).unwrap_or_default(),
                n.get("target").and_then(scalar).unwrap_or_default(),
                n.get("protocol").and_then(scalar).unwrap_or_else(|| "tcp".into())
            )),
            _ => None,
        }),
        "devices" => Some(|n| scalar(n).map(|s| s.split(':').nth(1).unwrap_or(&s).to_owned())),
        _ => None,
    }
}

fn scalar(n: &Node) -> Option<String> {
    match &n.value {
        Value::Scalar(s, _) => Some(s.clone()),
        _ => None,
    }
}

fn volume_target(n: &Node) -> Option<String> {
    match &n.value {
        Value::Scalar(s, _) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(if parts.len() >= 2 { parts[1].to_owned() } else { parts[0].to_owned() })
        }
        Value::Map(_) => scalar(n.get("target")?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse;
    use std::path::Path;

    fn merged(a: &str, b: &str) -> Node {
        let mut base = parse(a, Path::new("a.yaml")).unwrap();
        let over = parse(b, Path::new("b.yaml")).unwrap();
        for doc in [&mut base] {
            if let Some(services) = get_mut(doc, "services")
                && let Value::Map(entries) = &mut services.value
            {
                entries.iter_mut().for_each(|(_, s)| normalise_service(s));
            }
        }
        let mut over = over;
        if let Some(services) = get_mut(&mut over, "services")
            && let Value::Map(entries) = &mut services.value
        {
            entries.iter_mut().for_each(|(_, s)| normalise_service(s));
        }
        merge(&mut base, over, "");
        base
    }

    fn texts(n: &Node) -> Vec<String> {
        match &n.value {
            Value::Seq(items) => items.iter().filter_map(scalar).collect(),
            _ => panic!("not a list"),
        }
    }

    /// The merge table of the compose-spec (13-merge.md), one row per rule.
    #[test]
    fn the_spec_merge_rules() {
        let m = merged(
            "services:\n  web:\n    image: a\n    command: x y\n    environment: [A=1, B=2]\n    ports: ['80:80']\n    volumes: ['d:/data', '/other']\n    cap_add: [NET_ADMIN]\n    labels: {l: 1}\n",
            "services:\n  web:\n    image: b\n    command: [z]\n    environment: {B: 3, C: 4}\n    ports: ['80:80', '81:81']\n    volumes: ['e:/data']\n    cap_add: [NET_ADMIN, SYS_ADMIN]\n    labels: !reset {}\n",
        );
        let web = m.get("services").unwrap().get("web").unwrap();
        assert_eq!(scalar(web.get("image").unwrap()).unwrap(), "b");
        assert_eq!(texts(web.get("command").unwrap()), ["z"]);
        let env: Vec<(String, Option<String>)> =
            web.get("environment").unwrap().entries().iter().map(|(k, v)| (k.name.clone(), scalar(v))).collect();
        assert_eq!(env, [("A", "1"), ("B", "3"), ("C", "4")].map(|(k, v)| (k.to_owned(), Some(v.to_owned()))).to_vec());
        assert_eq!(texts(web.get("ports").unwrap()), ["80:80", "81:81"]);
        assert_eq!(texts(web.get("volumes").unwrap()), ["e:/data", "/other"]);
        assert_eq!(texts(web.get("cap_add").unwrap()), ["NET_ADMIN", "SYS_ADMIN"]);
        assert!(web.get("labels").is_none());
    }

    #[test]
    fn override_replaces_instead_of_merging() {
        let m = merged(
            "services:\n  web:\n    ports: ['80:80']\n    environment: {A: 1}\n",
            "services:\n  web:\n    ports: !override ['90:90']\n    environment: !override {B: 2}\n",
        );
        let web = m.get("services").unwrap().get("web").unwrap();
        assert_eq!(texts(web.get("ports").unwrap()), ["90:90"]);
        assert!(web.get("environment").unwrap().get("A").is_none());
        assert!(web.get("environment").unwrap().get("B").is_some());
    }
}
