//! Which containers a listing shows: Docker's `ps` filters (`--filter KEY=VALUE`), parsed into
//! typed filters, and the selection `ps`, compose's `ps` and the API's `containers/json` share.
//!
//! Docker's rules: values given for one key are alternatives, different keys must all match.

use std::collections::BTreeMap;

use regex::Regex;

use super::index::{ContainerError, Index, find_index, load_all, refresh};
use super::net_view::LiveNetworks;
use super::record::{Container, MountKind, NetworkMode, Status};
use crate::config::Settings;
use crate::image::lookup::lookup;
use crate::image::remove::ImageUsers;
use crate::store::{Digest, Store, StoreError};

/// The keys `docker ps --filter` takes.
pub const FILTER_KEYS: [&str; 15] = [
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// Docker's container states, as `status=` takes them (berth's containers are never
/// restarting, removing or dead, so those match nothing).
const STATUSES: [&str; 7] = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("invalid filter {0:?}: expected KEY=VALUE")]
    NotKeyValue(String),
    #[error("invalid filter {filter:?}: supported filters are {}", FILTER_KEYS.join(", "))]
    UnknownKey { filter: String },
    #[error("invalid filter {filter:?}: {reason}")]
    BadValue { filter: String, reason: String },
}

/// A port or port range with its protocol, as `publish=` and `expose=` take them
/// (`80`, `8000-8080/tcp`, `53/udp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFilter {
    pub first: u16,
    pub last: u16,
    pub protocol: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
    /// No healthcheck.
    None,
}

#[derive(Debug, Clone)]
pub enum Filter {
    /// A prefix of the id.
    Id(String),
    /// A regular expression searched in the name (Docker's: `^web$` is exact).
    Name(Regex),
    /// `label=KEY` or `label=KEY=VALUE`.
    Label {
        key: String,
        value: Option<String>,
    },
    /// One of Docker's state names.
    Status(&'static str),
    /// Exited with this code.
    Exited(i32),
    /// Made from this image: a name as given at create (with or without `:latest`), an id
    /// prefix, or whatever image the name resolves to now.
    Ancestor(String),
    /// Created before / after this container (name or id).
    Before(String),
    Since(String),
    /// Mounts this volume name or host path, or has a mount at this container path.
    Volume(String),
    /// Attached to this network.
    Network(String),
    Health(Health),
    Publish(PortFilter),
    Expose(PortFilter),
    /// Linux knows only `default`.
    Isolation(String),
    /// Swarm tasks: berth runs none.
    IsTask(bool),
}

impl Filter {
    pub fn parse(text: &str) -> Result<(&'static str, Filter), FilterError> {
        let (key, value) = text.split_once('=').ok_or_else(|| FilterError::NotKeyValue(text.to_owned()))?;
        let key = FILTER_KEYS
            .iter()
            .copied()
            .find(|k| *k == key)
            .ok_or_else(|| FilterError::UnknownKey { filter: text.to_owned() })?;
        let bad = |reason: &str| FilterError::BadValue { filter: text.to_owned(), reason: reason.to_owned() };
        let filter = match key {
            "id" => Filter::Id(value.to_owned()),
            "name" => {
                let pattern = value.strip_prefix('/').unwrap_or(value);
                Filter::Name(Regex::new(pattern).map_err(|e| bad(&format!("not a regular expression: {e}")))?)
            }
            "label" => match value.split_once('=') {
                Some((k, v)) => Filter::Label { key: k.to_owned(), value: Some(v.to_owned()) },
                None => Filter::Label { key: value.to_owned(), value: None },
            },
            "status" => Filter::Status(
                STATUSES
                    .iter()
                    .copied()
                    .find(|s| *s == value)
                    .ok_or_else(|| bad(&format!("status is one of {}", STATUSES.join(", "))))?,
            ),
            "exited" => Filter::Exited(value.parse().map_err(|_| bad("exited takes an exit code"))?),
            "ancestor" => Filter::Ancestor(value.to_owned()),
            "before" => Filter::Before(value.to_owned()),
            "since" => Filter::Since(value.to_owned()),
            "volume" => Filter::Volume(value.to_owned()),
            "network" => Filter::Network(value.to_owned()),
            "health" => Filter::Health(match value {
                "starting" => Health::Starting,
                "healthy" => Health::Healthy,
                "unhealthy" => Health::Unhealthy,
                "none" => Health::None,
                _ => return Err(bad("health is one of starting, healthy, unhealthy, none")),
            }),
            "publish" => Filter::Publish(parse_port(value).map_err(|r| bad(&r))?),
            "expose" => Filter::Expose(parse_port(value).map_err(|r| bad(&r))?),
            "isolation" => Filter::Isolation(value.to_owned()),
            "is-task" => Filter::IsTask(match value {
                "true" => true,
                "false" => false,
                _ => return Err(bad("is-task takes true or false")),
            }),
            _ => unreachable!("every key of FILTER_KEYS is handled"),
        };
        Ok((key, filter))
    }
}

fn parse_port(text: &str) -> Result<PortFilter, String> {
    let (ports, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    if !matches!(protocol, "tcp" | "udp" | "sctp") {
        return Err(format!("unknown protocol {protocol:?}: use tcp, udp or sctp"));
    }
    let port = |p: &str| p.parse::<u16>().map_err(|_| format!("{p:?} is not a port number"));
    let (first, last) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    if first > last {
        return Err(format!("port range {ports:?} ends before it starts"));
    }
    Ok(PortFilter { first, last, protocol: protocol.to_owned() })
}

impl PortFilter {
    pub fn contains(&self, port: u16, protocol: &str) -> bool {
        (self.first..=self.last).contains(&port) && self.protocol == protocol
    }
}

/// The ports `publish=` (host ports, while the container runs) or `expose=` (container ports:
/// published ones and those `--expose` or the image's EXPOSE name) look at, as Docker's
/// `ps` reads them from its PORTS.
fn ports(filter: &Filter, c: &Container, live: Option<&LiveNetworks>) -> Vec<(u16, String)> {
    let mappings = live.map(|l| l.ports(c)).unwrap_or_default();
    match filter {
        Filter::Publish(_) => mappings.iter().map(|m| (m.host_port, m.protocol.to_string())).collect(),
        _ => {
            let mut out: Vec<(u16, String)> =
                mappings.iter().map(|m| (m.container_port, m.protocol.to_string())).collect();
            for e in &c.config.net.exposed {
                out.extend(e.ports.ports().map(|p| (p, e.protocol.to_string())));
            }
            out
        }
    }
}

/// Parsed filters, grouped by key.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    by_key: BTreeMap<&'static str, Vec<Filter>>,
}

impl Filters {
    pub fn parse<S: AsRef<str>>(filters: &[S]) -> Result<Filters, FilterError> {
        let mut out = Filters::default();
        for text in filters {
            let (key, filter) = Filter::parse(text.as_ref())?;
            out.by_key.entry(key).or_default().push(filter);
        }
        Ok(out)
    }

    /// Status filters make a listing include stopped containers, as in Docker.
    pub fn has_status(&self) -> bool {
        self.by_key.contains_key("status") || self.by_key.contains_key("exited")
    }
}

/// The facts filters compare with that are not in the container itself.
#[derive(Debug, Default)]
pub struct Context {
    /// Image ids the `ancestor=` values resolve to now.
    ancestor_ids: Vec<String>,
    /// Creation times of the containers `before=` / `since=` name.
    created: BTreeMap<String, String>,
    /// The running containers' published ports, read once when `publish=` or `expose=` asks.
    live: Option<LiveNetworks>,
}

impl Context {
    /// Resolves what the filters name: ancestor images (one that is not there matches only
    /// by name) and the `before`/`since` containers (which must exist, as in Docker).
    pub fn resolve(
        filters: &Filters,
        index: &Index,
        store: &Store,
        settings: &Settings,
    ) -> Result<Context, ContainerError> {
        let mut context = Context::default();
        for filter in filters.by_key.values().flatten() {
            match filter {
                Filter::Ancestor(image) => {
                    if let Ok(found) = lookup(store, settings, image) {
                        context.ancestor_ids.push(found.id.to_string());
                    }
                }
                Filter::Before(name) | Filter::Since(name) => {
                    let found = &index.containers[find_index(index, name)?];
                    context.created.insert(name.clone(), found.created.clone());
                }
                Filter::Publish(_) | Filter::Expose(_) if context.live.is_none() => {
                    context.live = Some(LiveNetworks::load(store));
                }
                _ => {}
            }
        }
        Ok(context)
    }
}

impl Filters {
    pub fn matches(&self, c: &Container, context: &Context) -> bool {
        self.by_key.values().all(|alternatives| alternatives.iter().any(|f| matches_one(f, c, context)))
    }
}

/// The container's health as `health=` filters it: none without a check (or before its first
/// start), else the recorded status.
fn health_of(c: &Container) -> Health {
    use super::health::HealthStatus;
    match (super::health::active(&c.config), &c.state.health) {
        (Some(_), Some(h)) => match h.status {
            HealthStatus::Starting => Health::Starting,
            HealthStatus::Healthy => Health::Healthy,
            HealthStatus::Unhealthy => Health::Unhealthy,
        },
        _ => Health::None,
    }
}

fn matches_one(filter: &Filter, c: &Container, context: &Context) -> bool {
    match filter {
        Filter::Id(prefix) => c.id.starts_with(prefix.as_str()),
        Filter::Name(pattern) => pattern.is_match(&c.name),
        Filter::Label { key, value } => match value {
            Some(value) => c.config.labels.get(key).is_some_and(|have| have == value),
            None => c.config.labels.contains_key(key),
        },
        Filter::Status(status) => {
            (if c.state.restarting_now() { "restarting" } else { c.state.status.as_str() }) == *status
        }
        Filter::Exited(code) => c.state.status == Status::Exited && c.state.exit_code == Some(*code),
        Filter::Ancestor(image) => ancestor_matches(image, c) || context.ancestor_ids.contains(&c.config.image_id),
        Filter::Before(name) => context.created.get(name).is_some_and(|t| c.created < *t),
        Filter::Since(name) => context.created.get(name).is_some_and(|t| c.created > *t),
        Filter::Volume(wanted) => c.config.mounts.iter().any(|m| {
            m.destination == *wanted || (m.kind != MountKind::Tmpfs && !m.source.is_empty() && m.source == *wanted)
        }),
        Filter::Network(name) => match c.config.network {
            NetworkMode::Bridge => c.config.net.network_names().any(|n| n == name.as_str()),
            mode => network_names(mode).contains(&name.as_str()),
        },
        // No healthchecks yet: every container has none.
        Filter::Health(health) => *health == health_of(c),
        Filter::Publish(wanted) | Filter::Expose(wanted) => {
            ports(filter, c, context.live.as_ref()).iter().any(|(port, proto)| wanted.contains(*port, proto))
        }
        Filter::Isolation(isolation) => isolation == "default",
        Filter::IsTask(task) => !task,
    }
}

/// The network names a container is on, as `network=` matches them: `--network` takes
/// `private` for the loopback-only namespace (bridge networks are named in the record).
fn network_names(mode: NetworkMode) -> &'static [&'static str] {
    match mode {
        NetworkMode::Private => &["private"],
        NetworkMode::Bridge | NetworkMode::Container => &[],
        NetworkMode::None => &["none"],
        NetworkMode::Host => &["host"],
    }
}

/// The image as the container was created from it (with or without `:latest`), or its id.
fn ancestor_matches(value: &str, c: &Container) -> bool {
    let with_latest = |s: &str| {
        if s.rsplit('/').next().is_some_and(|last| last.contains(':') || last.contains('@')) {
            s.to_owned()
        } else {
            format!("{s}:latest")
        }
    };
    let hex = c.config.image_id.strip_prefix("sha256:").unwrap_or(&c.config.image_id);
    let value_hex = value.strip_prefix("sha256:").unwrap_or(value);
    with_latest(value) == with_latest(&c.config.image_name) || (value_hex.len() >= 4 && hex.starts_with(value_hex))
}

/// What a listing asks for.
#[derive(Debug, Default)]
pub struct Query {
    /// Stopped containers too (implied by `last`, and by a status filter).
    pub all: bool,
    /// Only the N newest.
    pub last: Option<usize>,
    pub filters: Filters,
}

/// The containers `query` selects, newest first, each with its state refreshed (a recorded
/// running container whose process is gone is shown exited). Takes the containers lock,
/// shared, and the image lock, shared, to resolve `ancestor=`.
pub fn list(store: &Store, settings: &Settings, query: &Query) -> Result<Vec<Container>, ContainerError> {
    let index = load_all(store)?;
    let context = Context::resolve(&query.filters, &index, store, settings)?;
    let mut containers = index.containers;
    containers.reverse();
    containers.sort_by(|a, b| b.created.cmp(&a.created));
    let all = query.all || query.last.is_some() || query.filters.has_status();
    let mut out = Vec::new();
    for mut c in containers {
        let status = refresh(store, &mut c);
        if !all && !matches!(status, Status::Running | Status::Paused) {
            continue;
        }
        if !query.filters.matches(&c, &context) {
            continue;
        }
        out.push(c);
        if query.last.is_some_and(|n| out.len() >= n) {
            break;
        }
    }
    Ok(out)
}

/// The images containers use, for `image::remove`. Needs the containers lock, shared or
/// exclusive.
pub fn image_users(store: &Store) -> Result<ImageUsers, StoreError> {
    let index: Index = store.containers()?;
    Ok(index
        .containers
        .iter()
        .rev()
        .filter_map(|c| Some((Digest::parse(&c.config.image_id).ok()?, c.short_id().to_owned())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::Mount;

    fn container(name: &str, created: &str) -> Container {
        let mut c = Container { name: name.into(), id: format!("{name}0123456789abcdef"), ..Default::default() };
        c.created = created.into();
        c
    }

    fn filters(items: &[&str]) -> Filters {
        Filters::parse(items).unwrap()
    }

    fn error(item: &str) -> String {
        Filters::parse(&[item]).unwrap_err().to_string()
    }

    #[test]
    fn names_match_as_regular_expressions() {
        let c = container("my-web-1", "");
        let ctx = Context::default();
        for (pattern, expected) in [
            ("web", true),
            ("^my", true),
            ("^web", false),
            ("-1$", true),
            ("^my-web-1$", true),
            ("^my-web$", false),
            ("/my-web-1", true),
            ("my-.*-1", true),
            ("^(db|my-web-1)$", true),
        ] {
            assert_eq!(filters(&[&format!("name={pattern}")]).matches(&c, &ctx), expected, "{pattern}");
        }
        assert!(error("name=(").contains("not a regular expression"));
    }

    #[test]
    fn one_key_is_alternatives_and_keys_all_match() {
        let mut c = container("web", "");
        c.config.labels.insert("tier".into(), "front".into());
        c.state.status = Status::Exited;
        c.state.exit_code = Some(3);
        let ctx = Context::default();
        assert!(filters(&["label=tier", "status=exited"]).matches(&c, &ctx));
        assert!(filters(&["label=tier=front", "label=tier=back"]).matches(&c, &ctx));
        assert!(!filters(&["label=tier=back"]).matches(&c, &ctx));
        assert!(!filters(&["label=tier", "status=running"]).matches(&c, &ctx));
        assert!(filters(&["exited=3"]).matches(&c, &ctx));
        assert!(!filters(&["exited=0"]).matches(&c, &ctx));
        assert!(filters(&["id=web01"]).matches(&c, &ctx));
        assert!(!filters(&["id=eb"]).matches(&c, &ctx));
        assert!(filters(&["exited=3"]).has_status() && filters(&["status=created"]).has_status());
        assert!(!filters(&["label=x"]).has_status());
    }

    #[test]
    fn before_and_since_compare_creation_times() {
        let old = container("old", "2026-01-01T00:00:00Z");
        let mid = container("mid", "2026-01-02T00:00:00Z");
        let new = container("new", "2026-01-03T00:00:00Z");
        let index = Index { containers: vec![old.clone(), mid.clone(), new.clone()] };
        let f = filters(&["since=old", "before=new"]);
        let mut ctx = Context::default();
        for filter in f.by_key.values().flatten() {
            if let Filter::Before(n) | Filter::Since(n) = filter {
                ctx.created.insert(n.clone(), index.containers[find_index(&index, n).unwrap()].created.clone());
            }
        }
        assert!(f.matches(&mid, &ctx));
        assert!(!f.matches(&old, &ctx) && !f.matches(&new, &ctx));
    }

    #[test]
    fn volumes_networks_and_the_filters_of_features_berth_lacks() {
        let mut c = container("web", "");
        c.config.mounts = vec![
            Mount { kind: MountKind::Volume, source: "data".into(), destination: "/srv".into(), ..Default::default() },
            Mount {
                kind: MountKind::Bind,
                source: "/host/dir".into(),
                destination: "/in".into(),
                ..Default::default()
            },
        ];
        c.config.network = NetworkMode::Host;
        let ctx = Context::default();
        for (filter, expected) in [
            ("volume=data", true),
            ("volume=/srv", true),
            ("volume=/host/dir", true),
            ("volume=other", false),
            ("network=host", true),
            ("network=bridge", false),
            ("health=none", true),
            ("health=healthy", false),
            ("publish=80", false),
            ("expose=8000-8080/udp", false),
            ("isolation=default", true),
            ("isolation=hyperv", false),
            ("is-task=false", true),
            ("is-task=true", false),
        ] {
            assert_eq!(filters(&[filter]).matches(&c, &ctx), expected, "{filter}");
        }
        c.config.network = NetworkMode::Bridge;
        c.config.net.networks =
            vec![crate::container::net_config::NetworkJoin { network: "web".into(), ..Default::default() }];
        assert!(filters(&["network=web"]).matches(&c, &ctx) && !filters(&["network=bridge"]).matches(&c, &ctx));
    }

    #[test]
    fn ancestors_match_names_with_implied_latest_and_ids() {
        let mut c = Container::default();
        c.config.image_name = "busybox".into();
        c.config.image_id = format!("sha256:{}", "ab".repeat(32));
        assert!(ancestor_matches("busybox:latest", &c));
        assert!(ancestor_matches("busybox", &c));
        assert!(!ancestor_matches("busybox:1", &c));
        assert!(ancestor_matches("abab", &c));
        assert!(ancestor_matches("sha256:ababab", &c));
        assert!(!ancestor_matches("ab", &c));
        let ctx = Context { ancestor_ids: vec![c.config.image_id.clone()], ..Default::default() };
        assert!(filters(&["ancestor=elsewhere/renamed:tag"]).matches(&c, &ctx));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        assert_eq!(error("status"), r#"invalid filter "status": expected KEY=VALUE"#);
        assert!(error("colour=red").contains("supported filters are ancestor, before, expose"));
        assert!(error("status=sleeping").contains("status is one of created, restarting, running"));
        assert!(error("exited=x").contains("exited takes an exit code"));
        assert!(error("health=meh").contains("health is one of"));
        assert!(error("publish=80/icmp").contains("unknown protocol"));
        assert!(error("publish=90-80").contains("ends before it starts"));
        assert!(error("expose=http").contains("is not a port number"));
        assert!(error("is-task=yes").contains("true or false"));
        assert_eq!(parse_port("53/udp").unwrap(), PortFilter { first: 53, last: 53, protocol: "udp".into() });
        let range = parse_port("8000-8080").unwrap();
        assert_eq!(range, PortFilter { first: 8000, last: 8080, protocol: "tcp".into() });
        assert!(range.contains(8000, "tcp") && range.contains(8080, "tcp"));
        assert!(!range.contains(8081, "tcp") && !range.contains(8000, "udp"));
    }
}
