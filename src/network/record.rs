//! What berth keeps of a network (in the store's networks.json): its name and id, driver,
//! bridge device, subnets and options. Fixed at `network create`; the kernel objects it
//! describes are made when the first container attaches.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::subnet::Subnet;

/// The default network's name, as Docker calls it.
pub const DEFAULT_NETWORK: &str = "bridge";
/// The default network's bridge device.
pub const DEFAULT_BRIDGE: &str = "berth0";
/// Docker's predefined networks: `bridge`, `host` (the host's namespace), `none` (loopback only).
pub const PREDEFINED: [&str; 3] = [DEFAULT_NETWORK, "host", "none"];

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A Linux bridge with a veth per container.
    #[default]
    Bridge,
    /// The host's network namespace (the predefined `host` network).
    Host,
    /// Loopback only (the predefined `none` network).
    Null,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// One subnet of a network and its gateway (the bridge's address in it).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SubnetConfig {
    pub subnet: Subnet,
    pub gateway: IpAddr,
    /// `--ip-range`: containers get addresses from this part of the subnet only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Subnet>,
}

impl SubnetConfig {
    /// The gateway with the subnet's prefix length, as the bridge carries it.
    pub fn gateway_with_prefix(&self) -> (IpAddr, u8) {
        (self.gateway, self.subnet.prefix())
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct NetworkRecord {
    pub name: String,
    /// 64 hex digits, random.
    pub id: String,
    /// RFC 3339 with nanoseconds, as Docker's `Created`.
    pub created: String,
    pub driver: Driver,
    /// The bridge device (empty for host and none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bridge: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<SubnetConfig>,
    /// The subnets were given by the user (`--subnet`): only then may a container ask for an
    /// address (`--ip`), as Docker has it.
    #[serde(default)]
    pub user_subnets: bool,
    #[serde(default)]
    pub ipv6: bool,
    /// No route out, no NAT, no forwarding to other networks (`--internal`).
    #[serde(default)]
    pub internal: bool,
    /// Containers resolve each other by name through 127.0.0.11 (user-defined networks; not
    /// the default network, as in Docker).
    #[serde(default)]
    pub dns: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Driver options as given (`-o KEY=VALUE`), shown by inspect.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl NetworkRecord {
    pub fn is_predefined(&self) -> bool {
        PREDEFINED.contains(&self.name.as_str())
    }

    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    pub fn ipv4_subnet(&self) -> Option<&SubnetConfig> {
        self.subnets.iter().find(|s| s.subnet.is_ipv4())
    }

    pub fn ipv6_subnet(&self) -> Option<&SubnetConfig> {
        self.subnets.iter().find(|s| !s.subnet.is_ipv4())
    }
}

/// Docker's rule for network names, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`: a name becomes part of
/// file names and firewall chain comments.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A new network id: 64 random hex digits, as Docker's.
pub fn new_id() -> String {
    format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>())
}

/// The network a user named: by exact name, then full id, then a unique id prefix (Docker's
/// order). Ok(None) when nothing matches; Err(()) when an id prefix is ambiguous.
pub fn find<'a>(networks: &'a [NetworkRecord], input: &str) -> Result<Option<&'a NetworkRecord>, ()> {
    if let Some(n) = networks.iter().find(|n| n.name == input || n.id == input) {
        return Ok(Some(n));
    }
    if input.is_empty() || !input.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let mut matching = networks.iter().filter(|n| n.id.starts_with(input));
    match (matching.next(), matching.next()) {
        (Some(n), None) => Ok(Some(n)),
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, id: &str) -> NetworkRecord {
        NetworkRecord {
            name: name.into(),
            id: id.into(),
            created: String::new(),
            driver: Driver::Bridge,
            bridge: String::new(),
            subnets: Vec::new(),
            user_subnets: false,
            ipv6: false,
            internal: false,
            dns: true,
            mtu: None,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
        }
    }

    #[test]
    fn names_follow_dockers_rule() {
        for good in ["a", "web", "my-net_1.2", "A9"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "a/b", "-a", ".a", "a b", "a:b", "ä", &"x".repeat(129)] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(new_id().len(), 64);
        assert_ne!(new_id(), new_id());
    }

    #[test]
    fn lookup_by_name_id_and_prefix() {
        let nets = vec![record("web", "abc123"), record("db", "abd456"), record("abc1", "ffff")];
        assert_eq!(find(&nets, "web").unwrap().unwrap().id, "abc123");
        assert_eq!(find(&nets, "abc1").unwrap().unwrap().name, "abc1", "a name wins over an id prefix");
        assert_eq!(find(&nets, "abd").unwrap().unwrap().name, "db");
        assert!(find(&nets, "ab").is_err());
        assert!(find(&nets, "zzz").unwrap().is_none());
        assert!(find(&nets, "").unwrap().is_none());
    }
}
