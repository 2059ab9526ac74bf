//! A container's networking as `ps`, `inspect` and `port` show it: its endpoints (addresses,
//! MAC, published ports) from the networks' runtime state while it runs, and what its record
//! asks for (networks, exposed ports) when it does not.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde_json::{Value, json};

use super::record::{Container, NetworkMode, Status};
use crate::network::ports::{PortMapping, Protocol};
use crate::network::record::NetworkRecord;
use crate::network::state::Endpoint;
use crate::store::Store;

/// The endpoints of running containers, by container id, read once.
#[derive(Debug, Default)]
pub struct LiveNetworks {
    by_container: HashMap<String, Vec<(NetworkRecord, Endpoint)>>,
    /// Rootless: the ports each container's pasta or slirp4netns publishes.
    rootless_ports: HashMap<String, Vec<PortMapping>>,
}

impl LiveNetworks {
    /// Every network's state (unreadable state reads as no endpoints: this only shows).
    pub fn load(store: &Store) -> LiveNetworks {
        let mut by_container: HashMap<String, Vec<(NetworkRecord, Endpoint)>> = HashMap::new();
        for (record, endpoint) in crate::network::attach::all_endpoints(store).unwrap_or_default() {
            by_container.entry(endpoint.container_id.clone()).or_default().push((record, endpoint));
        }
        for endpoints in by_container.values_mut() {
            endpoints.sort_by(|a, b| a.1.ifname.cmp(&b.1.ifname));
        }
        let mut rootless_ports = HashMap::new();
        if store.rootless() {
            for id in store.container_dir_names().unwrap_or_default() {
                let ports = crate::network::rootless::published_ports(&store.container_run_dir(&id));
                if !ports.is_empty() {
                    rootless_ports.insert(id, ports);
                }
            }
        }
        LiveNetworks { by_container, rootless_ports }
    }

    /// One container's endpoints, in interface order (eth0 first), while it runs.
    pub fn of(&self, container: &Container) -> &[(NetworkRecord, Endpoint)] {
        let running = matches!(container.state.status, Status::Running | Status::Paused);
        match self.by_container.get(&container.id) {
            Some(endpoints) if running => endpoints,
            _ => &[],
        }
    }

    /// The published ports of a container, while it runs.
    pub fn ports(&self, container: &Container) -> Vec<PortMapping> {
        let state = &container.state;
        // pasta dies with the supervisor: a file left by a killed one names no ports.
        let forwarded = matches!(state.status, Status::Running | Status::Paused)
            && super::liveness::is_alive(state.supervisor_pid, state.supervisor_start_time);
        let rootless = self.rootless_ports.get(&container.id).filter(|_| forwarded).into_iter().flatten();
        self.of(container).iter().flat_map(|(_, e)| e.ports.iter().copied()).chain(rootless.copied()).collect()
    }
}

fn host_ip_text(ip: Option<IpAddr>) -> String {
    match ip {
        None => "0.0.0.0".to_owned(),
        Some(ip) => ip.to_string(),
    }
}

fn host_ip_url(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V6(a)) => format!("[{a}]"),
        other => host_ip_text(other),
    }
}

/// `ps`'s PORTS: "0.0.0.0:8080->80/tcp, 9000/udp" (exposed ports not published alone).
pub fn ports_text(container: &Container, live: &LiveNetworks) -> String {
    let mut published = live.ports(container);
    published.sort_by_key(|m| (m.container_port, m.protocol, m.host_port));
    let mut parts: Vec<String> = published
        .iter()
        .map(|m| format!("{}:{}->{}/{}", host_ip_url(m.host_ip), m.host_port, m.container_port, m.protocol))
        .collect();
    if matches!(container.state.status, Status::Running | Status::Paused) || published.is_empty() {
        for e in &container.config.net.exposed {
            for port in e.ports.ports() {
                if !published.iter().any(|m| m.container_port == port && m.protocol == e.protocol) {
                    parts.push(format!("{port}/{}", e.protocol));
                }
            }
        }
    }
    parts.join(", ")
}

/// `ps`'s NETWORKS: the networks' names, comma-separated.
pub fn networks_text(container: &Container) -> String {
    match container.config.network {
        NetworkMode::Bridge => container.config.net.network_names().collect::<Vec<_>>().join(","),
        NetworkMode::Host => "host".into(),
        NetworkMode::None => "none".into(),
        NetworkMode::Private => "private".into(),
        NetworkMode::Container => format!("container:{}", container.config.net.container),
    }
}

/// `port CONTAINER [PORT[/PROTO]]`'s lines: "80/tcp -> 0.0.0.0:8080" for every mapping, or
/// "0.0.0.0:8080" for those of the port asked about. Err: the port asked about is not published
/// (Docker's "No public port" error).
pub fn port_lines(container: &Container, live: &LiveNetworks, port: Option<&str>) -> Result<Vec<String>, String> {
    let mut mappings = live.ports(container);
    mappings.sort_by_key(|m| (m.container_port, m.protocol, m.host_port));
    let Some(asked) = port else { return Ok(mappings.iter().map(PortMapping::describe).collect()) };
    let (number, proto) = asked.split_once('/').unwrap_or((asked, "tcp"));
    let number: u16 = number.parse().map_err(|_| format!("invalid port {asked:?}"))?;
    let protocol = Protocol::parse(proto).map_err(|e| e.to_string())?;
    let lines: Vec<String> = mappings
        .iter()
        .filter(|m| m.container_port == number && m.protocol == protocol)
        .map(|m| format!("{}:{}", host_ip_url(m.host_ip), m.host_port))
        .collect();
    if lines.is_empty() {
        return Err(format!("No public port '{number}/{protocol}' published for {}", container.name));
    }
    Ok(lines)
}

/// An endpoint's id, as Docker's are: 64 hex digits, here the same for a container on a
/// network at every start.
fn endpoint_id(network_id: &str, container_id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("endpoint/{network_id}/{container_id}").as_bytes()))
}

fn prefix_of(record: &NetworkRecord, addr: IpAddr) -> u8 {
    record.subnets.iter().find(|s| s.subnet.contains(addr)).map_or(0, |s| s.subnet.prefix())
}

fn gateway_of(record: &NetworkRecord, addr: IpAddr) -> String {
    if record.internal {
        return String::new();
    }
    record.subnets.iter().find(|s| s.subnet.contains(addr)).map(|s| s.gateway.to_string()).unwrap_or_default()
}

/// The addresses of one endpoint as Docker's endpoint settings name them.
fn endpoint_fields(record: &NetworkRecord, endpoint: Option<&Endpoint>) -> BTreeMap<&'static str, Value> {
    let v4 = endpoint.and_then(|e| e.addresses.iter().copied().find(IpAddr::is_ipv4));
    let v6 = endpoint.and_then(|e| e.addresses.iter().copied().find(IpAddr::is_ipv6));
    BTreeMap::from([
        ("IPAddress", json!(v4.map(|a| a.to_string()).unwrap_or_default())),
        ("IPPrefixLen", json!(v4.map_or(0, |a| prefix_of(record, a)))),
        ("Gateway", json!(v4.map(|a| gateway_of(record, a)).unwrap_or_default())),
        ("GlobalIPv6Address", json!(v6.map(|a| a.to_string()).unwrap_or_default())),
        ("GlobalIPv6PrefixLen", json!(v6.map_or(0, |a| prefix_of(record, a)))),
        ("IPv6Gateway", json!(v6.map(|a| gateway_of(record, a)).unwrap_or_default())),
        ("MacAddress", json!(endpoint.map(|e| e.mac.clone()).unwrap_or_default())),
    ])
}

/// inspect's NetworkSettings, in Docker's shape: the first network's addresses at the top
/// level, every network under Networks, Ports with the published host ports (exposed ones
/// not published: null).
pub fn network_settings(store: &Store, container: &Container, live: &LiveNetworks) -> Value {
    let endpoints = live.of(container);
    let mut ports = serde_json::Map::new();
    for e in &container.config.net.exposed {
        for port in e.ports.ports() {
            ports.insert(format!("{port}/{}", e.protocol), Value::Null);
        }
    }
    for m in live.ports(container) {
        let key = format!("{}/{}", m.container_port, m.protocol);
        let binding = json!({ "HostIp": host_ip_text(m.host_ip), "HostPort": m.host_port.to_string() });
        match ports.get_mut(&key) {
            Some(Value::Array(list)) => list.push(binding),
            _ => {
                ports.insert(key, json!([binding]));
            }
        }
    }
    let records = || crate::network::manage::load(store).unwrap_or_default();
    let mut networks = serde_json::Map::new();
    let mut first: Option<BTreeMap<&'static str, Value>> = None;
    let mut add = |record: &NetworkRecord, endpoint: Option<&Endpoint>, aliases: Vec<String>| {
        let fields = endpoint_fields(record, endpoint);
        let mut entry = serde_json::Map::new();
        entry.insert("IPAMConfig".into(), Value::Null);
        entry.insert("Links".into(), Value::Null);
        entry.insert("Aliases".into(), if aliases.is_empty() { Value::Null } else { json!(aliases) });
        entry.insert("NetworkID".into(), json!(record.id));
        entry.insert(
            "EndpointID".into(),
            json!(endpoint.map(|_| endpoint_id(&record.id, &container.id)).unwrap_or_default()),
        );
        let dns_names: Vec<&str> = endpoint.map(|e| e.dns_names().collect()).unwrap_or_default();
        entry.insert(
            "DNSNames".into(),
            if dns_names.is_empty() || !record.dns { Value::Null } else { json!(dns_names) },
        );
        for (k, v) in &fields {
            entry.insert((*k).into(), v.clone());
        }
        if first.is_none() {
            first = Some(fields);
        }
        networks.insert(record.name.clone(), Value::Object(entry));
    };
    match container.config.network {
        NetworkMode::Bridge if !endpoints.is_empty() => {
            for (record, endpoint) in endpoints {
                add(record, Some(endpoint), endpoint.aliases.clone());
            }
        }
        NetworkMode::Bridge => {
            let records = records();
            for join in &container.config.net.networks {
                if let Ok(record) = crate::network::manage::find(&records, &join.network) {
                    add(record, None, join.aliases.clone());
                }
            }
        }
        NetworkMode::Host | NetworkMode::None => {
            let records = records();
            let name = if container.config.network == NetworkMode::Host { "host" } else { "none" };
            if let Ok(record) = crate::network::manage::find(&records, name) {
                add(record, None, Vec::new());
            }
        }
        NetworkMode::Private | NetworkMode::Container => {}
    }
    let running = matches!(container.state.status, Status::Running | Status::Paused);
    let sandbox_key = if running && container.config.network != NetworkMode::Host {
        format!("/proc/{}/ns/net", container.state.pid)
    } else {
        String::new()
    };
    let mut settings = serde_json::Map::new();
    settings.insert("Bridge".into(), json!(""));
    settings.insert("SandboxID".into(), json!(""));
    settings.insert("SandboxKey".into(), json!(sandbox_key));
    settings.insert("HairpinMode".into(), json!(false));
    settings.insert("Ports".into(), Value::Object(ports));
    let top = first.unwrap_or_default();
    for key in
        ["IPAddress", "IPPrefixLen", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPv6Gateway", "MacAddress"]
    {
        let empty = if key.ends_with("PrefixLen") { json!(0) } else { json!("") };
        settings.insert(key.into(), top.get(key).cloned().unwrap_or(empty));
    }
    settings.insert("Networks".into(), Value::Object(networks));
    Value::Object(settings)
}

/// The containers whose records name `network`, running or not, read under the containers
/// lock the caller holds: those on bridge networks, whose record names the network by name,
/// id or id prefix (as given at create).
pub fn containers_naming(index: &super::index::Index, network: &NetworkRecord) -> Vec<String> {
    let names = |given: &str| given == network.name || (given.len() >= 2 && network.id.starts_with(given));
    index
        .containers
        .iter()
        .filter(|c| match c.config.network {
            NetworkMode::Bridge => c.config.net.network_names().any(names),
            NetworkMode::Private | NetworkMode::None | NetworkMode::Host | NetworkMode::Container => false,
        })
        .map(|c| c.name.clone())
        .collect()
}
