//! The event journal: what `berth events` shows, written by the feature code that changes state
//! (container lifecycle, images, volumes, networks), never by `cmd`. berth has no daemon to
//! broadcast events, so they go to an append-only file in the store (`journal`) that readers
//! read and followers poll. Recording an event is best effort: a full disk must not fail the
//! operation the event describes, so [`record`] warns once and goes on.
//!
//! Each line of the journal is one event in Docker's JSON shape (`docker events --format
//! '{{json .}}'`), so `--format json` prints the line as it is stored.

mod filter;
mod journal;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::Store;

// The reader API (`read`, `Follower`) serves `berth events` and the API service's events
// endpoint; not every item is used by every build.
#[allow(unused_imports)]
pub use filter::{BadFilter, Filter};
#[allow(unused_imports)]
pub use journal::{Follower, JournalError, append, read};

/// The kinds of objects events are about (Docker's `Type`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Container,
    Image,
    Volume,
    Network,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Volume => "volume",
            Kind::Network => "network",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, in Docker's JSON shape: `status`, `id` and `from` are the legacy fields Docker
/// still sends for container and image events.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub kind: Kind,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// An event of now about `id`, with Docker's legacy fields filled in as Docker does.
    pub fn new(kind: Kind, action: impl Into<String>, id: impl Into<String>) -> Event {
        let now = chrono::Utc::now();
        let time_nano = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let action = action.into();
        let id = id.into();
        let legacy = matches!(kind, Kind::Container | Kind::Image);
        Event {
            status: legacy.then(|| action.clone()),
            id: legacy.then(|| id.clone()),
            from: None,
            kind,
            action,
            actor: Actor { id, attributes: BTreeMap::new() },
            scope: "local".to_owned(),
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
        }
    }

    /// A container event: attributes `name`, `image` and the container's labels, as Docker's.
    pub fn container<'a>(
        action: impl Into<String>,
        id: &str,
        name: &str,
        image: &str,
        labels: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Event {
        let mut event = Event::new(Kind::Container, action, id);
        event.from = Some(image.to_owned());
        for (k, v) in labels {
            event.actor.attributes.insert(k.clone(), v.clone());
        }
        event.actor.attributes.insert("name".to_owned(), name.to_owned());
        event.actor.attributes.insert("image".to_owned(), image.to_owned());
        event
    }

    /// An image event about `id` (an image id, or the reference of a pull or push) with its
    /// `name` attribute.
    pub fn image(action: &str, id: &str, name: &str) -> Event {
        Event::new(Kind::Image, action, id).with("name", name)
    }

    /// A volume event: the actor is the volume's name, as in Docker.
    pub fn volume(action: &str, name: &str, driver: &str) -> Event {
        Event::new(Kind::Volume, action, name).with("driver", driver)
    }

    /// A network event about the network `id` named `name`.
    pub fn network(action: &str, id: &str, name: &str, driver: &str) -> Event {
        Event::new(Kind::Network, action, id).with("name", name).with("type", driver)
    }

    pub fn with(mut self, key: &str, value: &str) -> Event {
        self.actor.attributes.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The action without its detail: `exec_create: sh -c x` → `exec_create` (what
    /// `--filter event=` matches, besides the whole action).
    pub fn action_prefix(&self) -> &str {
        self.action.split_once(':').map_or(&self.action, |(head, _)| head)
    }

    /// Docker's text form: `TIME TYPE ACTION ID (k=v, …)`, the time in RFC 3339 with nine
    /// fraction digits in the local zone.
    pub fn to_text(&self) -> String {
        let time = chrono::DateTime::from_timestamp_nanos(self.time_nano).with_timezone(&chrono::Local);
        let mut stamp = time.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string();
        if stamp.ends_with("+00:00") {
            stamp.truncate(stamp.len() - 6);
            stamp.push('Z');
        }
        let mut line = format!("{stamp} {} {} {}", self.kind.as_str(), self.action, self.actor.id);
        if !self.actor.attributes.is_empty() {
            let attrs: Vec<String> = self.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
            line.push_str(&format!(" ({})", attrs.join(", ")));
        }
        line
    }
}

/// Appends `event` to the store's journal; a failure is a warning on standard error (once per
/// process), never the failure of the operation the event describes.
pub fn record(store: &Store, event: Event) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    if let Err(e) = append(store, &event)
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        eprintln!("berth: warning: recording the {} {} event: {e}", event.kind.as_str(), event.action);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_is_dockers() {
        let mut event = Event::new(Kind::Container, "die", "abc").with("exitCode", "3").with("name", "web");
        event.time_nano = 1_700_000_000_000_000_001;
        let text = event.to_text();
        assert!(text.ends_with(" container die abc (exitCode=3, name=web)"), "{text}");
        assert!(text.starts_with("2023-11-1"), "{text}");
        assert!(text.contains(".000000001"), "{text}");
    }

    #[test]
    fn json_shape_round_trips_and_carries_legacy_fields() {
        let event = Event::container("start", "abc", "web", "busybox", &BTreeMap::new());
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["status"], "start");
        assert_eq!(json["id"], "abc");
        assert_eq!(json["from"], "busybox");
        assert_eq!(json["Actor"]["Attributes"]["name"], "web");
        assert_eq!(json["Type"], "container");
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        let volume = serde_json::to_value(Event::volume("create", "v", "local")).unwrap();
        assert!(volume.get("status").is_none());
    }

    #[test]
    fn action_prefix_drops_the_detail() {
        assert_eq!(Event::new(Kind::Container, "exec_create: sh -c x", "a").action_prefix(), "exec_create");
        assert_eq!(Event::new(Kind::Container, "start", "a").action_prefix(), "start");
    }
}
