//! `--filter` for events, with Docker's semantics (daemon/events/filter.go): values of one key
//! are alternatives, keys must all match; `container`, `volume` and `network` match the actor's
//! id or `name` attribute by prefix (so a `container=` filter also passes another type's event
//! only if its actor matches), `image` matches the image exactly, with or without its tag,
//! `event` the action or its part before `:`, `label` a `key` or `key=value` attribute.

use std::collections::BTreeMap;

use super::{Event, Kind};

#[derive(Debug, thiserror::Error)]
pub enum BadFilter {
    #[error("bad format of filter (expected name=value): {0:?}")]
    Format(String),
    #[error("invalid filter {0:?}")]
    Key(String),
    #[error("invalid filter type={0:?}: the types are container, image, volume and network")]
    Type(String),
}

const KEYS: &[&str] = &["type", "event", "container", "image", "label", "volume", "network"];

#[derive(Debug, Default, Clone)]
pub struct Filter {
    values: BTreeMap<String, Vec<String>>,
}

impl Filter {
    /// From `--filter KEY=VALUE` arguments.
    pub fn parse(args: &[String]) -> Result<Filter, BadFilter> {
        let mut filter = Filter::default();
        for arg in args {
            let (key, value) = arg.split_once('=').ok_or_else(|| BadFilter::Format(arg.clone()))?;
            let key = key.trim().to_lowercase();
            if !KEYS.contains(&key.as_str()) {
                return Err(BadFilter::Key(key));
            }
            if key == "type" && !["container", "image", "volume", "network"].contains(&value) {
                return Err(BadFilter::Type(value.to_owned()));
            }
            filter.values.entry(key).or_default().push(value.to_owned());
        }
        Ok(filter)
    }

    pub fn matches(&self, event: &Event) -> bool {
        let attr = |k: &str| event.actor.attributes.get(k).map(String::as_str);
        self.exact("event", &[&event.action, event.action_prefix()])
            && self.exact("type", &[event.kind.as_str()])
            && self.fuzzy(Kind::Container, event)
            && self.fuzzy(Kind::Volume, event)
            && self.fuzzy(Kind::Network, event)
            && self.image(event, attr(if event.kind == Kind::Image { "name" } else { "image" }))
            && self.labels(event)
    }

    /// Whether `key` is not filtered, or one of its values is one of `candidates`.
    fn exact(&self, key: &str, candidates: &[&str]) -> bool {
        self.values.get(key).is_none_or(|values| values.iter().any(|v| candidates.contains(&v.as_str())))
    }

    fn fuzzy(&self, kind: Kind, event: &Event) -> bool {
        let name = event.actor.attributes.get("name").map_or("", String::as_str);
        self.values.get(kind.as_str()).is_none_or(|values| {
            values.iter().any(|v| {
                !v.is_empty() && (event.actor.id.starts_with(v.as_str()) || name == v || name.starts_with(v.as_str()))
            })
        })
    }

    fn image(&self, event: &Event, name: Option<&str>) -> bool {
        let id = event.actor.id.as_str();
        let mut candidates = vec![id, strip_tag(id)];
        if let Some(name) = name {
            candidates.extend([name, strip_tag(name)]);
        }
        self.exact("image", &candidates)
    }

    fn labels(&self, event: &Event) -> bool {
        self.values.get("label").is_none_or(|values| {
            values.iter().all(|v| match v.split_once('=') {
                Some((k, want)) => event.actor.attributes.get(k).is_some_and(|have| have == want),
                None => event.actor.attributes.contains_key(v.as_str()),
            })
        })
    }
}

/// `busybox:latest` → `busybox`; a registry's port (`host:5000/x`) is not a tag.
fn strip_tag(reference: &str) -> &str {
    let reference = reference.split_once('@').map_or(reference, |(name, _)| name);
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => &reference[..i],
        _ => reference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(args: &[&str]) -> Filter {
        Filter::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ctr(action: &str) -> Event {
        let labels = BTreeMap::from([("tier".to_owned(), "web".to_owned())]);
        Event::container(action, "abc123", "web1", "busybox:latest", &labels)
    }

    #[test]
    fn keys_and_alternatives() {
        assert!(filter(&[]).matches(&ctr("start")));
        assert!(filter(&["event=start", "event=die"]).matches(&ctr("die")));
        assert!(!filter(&["event=start"]).matches(&ctr("die")));
        assert!(filter(&["event=exec_create"]).matches(&ctr("exec_create: sh -c true")));
        assert!(filter(&["container=web1"]).matches(&ctr("die")));
        assert!(filter(&["container=abc"]).matches(&ctr("die")));
        assert!(!filter(&["container=other"]).matches(&ctr("die")));
        assert!(filter(&["image=busybox"]).matches(&ctr("die")));
        assert!(filter(&["image=busybox:latest"]).matches(&ctr("die")));
        assert!(!filter(&["image=alpine"]).matches(&ctr("die")));
        assert!(filter(&["label=tier"]).matches(&ctr("die")));
        assert!(filter(&["label=tier=web"]).matches(&ctr("die")));
        assert!(!filter(&["label=tier=db"]).matches(&ctr("die")));
        assert!(!filter(&["type=image"]).matches(&ctr("die")));
        assert!(filter(&["type=container", "event=die"]).matches(&ctr("die")));
        let volume = Event::volume("create", "data", "local");
        assert!(filter(&["volume=data"]).matches(&volume));
        assert!(!filter(&["container=web1"]).matches(&volume));
        let image = Event::image("tag", "sha256:0123", "host:5000/app:v1");
        assert!(filter(&["image=host:5000/app"]).matches(&image));
    }

    #[test]
    fn bad_filters_are_refused() {
        for bad in ["nokey", "colour=red", "type=plugin"] {
            assert!(Filter::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
