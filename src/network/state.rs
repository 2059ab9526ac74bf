//! A network's runtime state (RUNROOT/networks/<id>.json, under the networks lock): the
//! containers attached to it, each with its addresses, interface names, published ports and
//! owner. The set of addresses in use is the union of the endpoints' addresses, so an address
//! can only be free or held by exactly one endpoint.
//!
//! An endpoint is written before any kernel object is made for it and completed afterwards,
//! so a crash at any point leaves an endpoint whose dead owner the next networking command
//! finds and tears down (every teardown step tolerates the object being gone).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::ports::PortMapping;

/// The process whose life an attachment lasts: the container's supervisor. Alive only while a
/// process with this pid has this start time (pids are recycled).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub pid: i32,
    /// Field 22 of /proc/PID/stat.
    pub start_time: u64,
}

/// How a caller tells whether an owner lives: `container::liveness::is_alive` in berth (the
/// network module may not depend on the container module), a closure in tests.
pub type Liveness<'a> = &'a dyn Fn(Owner) -> bool;

/// One container's attachment to one network.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub container_id: String,
    pub container_name: String,
    pub owner: Owner,
    /// The interface in the container ("eth0").
    pub ifname: String,
    /// The host end of the veth pair, on the bridge.
    pub host_veth: String,
    pub mac: String,
    /// The container's addresses on this network (an IPv4 one, and an IPv6 one on `--ipv6`
    /// networks); the prefix lengths are the network's.
    pub addresses: Vec<IpAddr>,
    /// `--network-alias`: more names the network's DNS answers for this container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The ports published to this endpoint's address (DNAT rules in berth's table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    /// Every kernel object of this endpoint was made; false while attaching (and forever when
    /// the attaching process died midway).
    pub complete: bool,
}

impl Endpoint {
    /// The names the network's DNS answers for this container: its name, aliases and short id.
    pub fn dns_names(&self) -> impl Iterator<Item = &str> {
        let short = &self.container_id[..self.container_id.len().min(12)];
        std::iter::once(self.container_name.as_str()).chain(self.aliases.iter().map(String::as_str)).chain([short])
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct NetworkState {
    /// By container id.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
    /// The address handed out last in each subnet: the next search starts after it, so an
    /// address just freed is not handed to the next container at once.
    #[serde(default)]
    pub last: BTreeMap<String, IpAddr>,
}

impl NetworkState {
    /// Every address held by an endpoint.
    pub fn used_addresses(&self) -> BTreeSet<IpAddr> {
        self.endpoints.values().flat_map(|e| e.addresses.iter().copied()).collect()
    }

    /// The endpoint holding `addr`.
    pub fn holder_of(&self, addr: IpAddr) -> Option<&Endpoint> {
        self.endpoints.values().find(|e| e.addresses.contains(&addr))
    }

    /// The endpoints whose owner is dead.
    pub fn dead_endpoints(&self, alive: Liveness) -> Vec<String> {
        self.endpoints.values().filter(|e| !alive(e.owner)).map(|e| e.container_id.clone()).collect()
    }
}
