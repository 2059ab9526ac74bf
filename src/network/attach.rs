//! Attaching a container to its networks and detaching it: what the start path calls before the
//! container runs, and what teardown (or garbage collection) calls after.
//!
//! Attaching, under the networks lock (exclusive): dead owners' endpoints are collected first;
//! then for each network an address is allocated and the endpoint written (incomplete) to the
//! network's runtime state; then the kernel work: bridge, veth pair into the container's
//! namespace, addresses and routes there, firewall (one nft transaction for the container);
//! then the endpoints are marked complete. Any failure undoes the kernel work done so far and
//! removes the endpoints, so a failed attach leaves nothing (and a crashed one leaves an
//! endpoint whose dead owner the next networking command tears down).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::BorrowedFd;
use std::path::PathBuf;

use super::NetworkError;
use super::firewall::{Change, plan, rules};
use super::ipam;
use super::kernel::Kernel;
use super::manage;
use super::netlink::{Mac, format_mac, random_mac};
use super::plumbing::{BridgeSpec, ContainerLink};
use super::ports::PortMapping;
use super::record::{Driver, NetworkRecord};
use super::state::{Endpoint, Liveness, NetworkState, Owner};
use crate::store::Store;

/// One network a container joins (`--network NAME`, `--network-alias`, `--ip`, `--ip6`,
/// `--mac-address`; `network connect --alias --ip --ip6`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Join {
    /// A network's name, id or unique id prefix.
    pub network: String,
    pub aliases: Vec<String>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub mac: Option<Mac>,
}

/// The container being attached.
#[derive(Debug, Clone, Copy)]
pub struct ContainerRef<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The container's supervisor: the attachment lives as long as it does.
    pub owner: Owner,
    /// The container's network namespace (`/proc/PID/ns/net` of its first process).
    pub netns: BorrowedFd<'a>,
}

pub struct AttachRequest<'a> {
    pub container: ContainerRef<'a>,
    /// In order: the first is the container's default route and carries its published ports.
    pub joins: &'a [Join],
    /// Published ports (from `reserve::reserve`, host ports known).
    pub ports: &'a [PortMapping],
}

/// One interface of an attached container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub network: String,
    pub network_id: String,
    pub ifname: String,
    pub mac: String,
    /// With the network's prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    pub gateways: Vec<IpAddr>,
    /// The network resolves container names (the container gets the embedded responder).
    pub dns: bool,
    pub internal: bool,
}

/// What attaching made, for the container's /etc files, its DNS responder and inspect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attachment {
    pub interfaces: Vec<Interface>,
}

impl Attachment {
    /// The container's addresses, its first network's first (its /etc/hosts entry).
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.interfaces.iter().flat_map(|i| i.addresses.iter().map(|(a, _)| *a)).collect()
    }

    /// The host as the container reaches it (Docker's `host-gateway`): the first network's
    /// IPv4 gateway.
    pub fn host_gateway(&self) -> Option<IpAddr> {
        self.interfaces.first().and_then(|i| i.gateways.iter().copied().find(IpAddr::is_ipv4))
    }

    /// The container uses the embedded DNS responder (one of its networks has DNS).
    pub fn uses_dns(&self) -> bool {
        self.interfaces.iter().any(|i| i.dns)
    }

    /// The responder forwards to upstream servers only if one network reaches out.
    pub fn may_forward_dns(&self) -> bool {
        self.interfaces.iter().any(|i| !i.internal)
    }

    /// The state files the container's DNS responder reads names from (see `dns::StateFiles`).
    pub fn dns_state_files(&self, store: &Store) -> Vec<PathBuf> {
        self.interfaces.iter().filter(|i| i.dns).map(|i| store.network_state_path(&i.network_id)).collect()
    }
}

/// The host end of a container's veth on a network: "veth" and 11 hex digits of a hash of
/// both ids (15 characters, Linux's limit), so it is the same name every time.
pub fn veth_name(container_id: &str, network_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{container_id}/{network_id}").as_bytes());
    format!("veth{}", &hex::encode(digest)[..11])
}

fn valid_alias(alias: &str) -> bool {
    crate::network::record::valid_name(alias) && alias.len() <= 253
}

/// The first of eth0, eth1, … not in `taken`, which it joins.
fn next_ifname(taken: &mut Vec<String>) -> String {
    let name = (0..).map(|n| format!("eth{n}")).find(|n| !taken.contains(n)).expect("unbounded");
    taken.push(name.clone());
    name
}

/// The runtime states of every network that has one, by id. Needs the networks lock.
pub(super) fn load_states(store: &Store) -> Result<BTreeMap<String, NetworkState>, NetworkError> {
    let mut states = BTreeMap::new();
    for id in store.network_state_ids()? {
        states.insert(id.clone(), store.network_state(&id)?);
    }
    Ok(states)
}

fn link_for(record: &NetworkRecord, endpoint: &Endpoint) -> ContainerLink {
    let prefix = |a: IpAddr| record.subnets.iter().find(|s| s.subnet.contains(a)).map_or(32, |s| s.subnet.prefix());
    ContainerLink {
        host_veth: endpoint.host_veth.clone(),
        ifname: endpoint.ifname.clone(),
        mac: super::netlink::parse_mac(&endpoint.mac).unwrap_or_else(random_mac),
        mtu: record.mtu,
        addresses: endpoint.addresses.iter().map(|a| (*a, prefix(*a))).collect(),
        gateways: if record.internal {
            Vec::new()
        } else {
            record
                .subnets
                .iter()
                .filter(|s| endpoint.addresses.iter().any(|a| s.subnet.contains(*a)))
                .map(|s| s.gateway)
                .collect()
        },
    }
}

fn bridge_spec(record: &NetworkRecord) -> BridgeSpec {
    BridgeSpec {
        name: record.bridge.clone(),
        addresses: record.subnets.iter().map(|s| s.gateway_with_prefix()).collect(),
        mtu: record.mtu,
    }
}

fn interface(record: &NetworkRecord, endpoint: &Endpoint) -> Interface {
    let link = link_for(record, endpoint);
    Interface {
        network: record.name.clone(),
        network_id: record.id.clone(),
        ifname: endpoint.ifname.clone(),
        mac: endpoint.mac.clone(),
        addresses: link.addresses,
        gateways: link.gateways,
        dns: record.dns,
        internal: record.internal,
    }
}

/// Allocates the endpoints of `request` and writes them, incomplete, to the networks' states.
fn allocate(
    store: &Store,
    records: &[NetworkRecord],
    states: &mut BTreeMap<String, NetworkState>,
    request: &AttachRequest<'_>,
) -> Result<Vec<(NetworkRecord, Endpoint)>, NetworkError> {
    let mut planned: Vec<(NetworkRecord, Endpoint)> = Vec::new();
    // A container already on networks (`network connect`) gets the next free interface names.
    let mut taken_ifnames: Vec<String> =
        states.values().filter_map(|s| s.endpoints.get(request.container.id)).map(|e| e.ifname.clone()).collect();
    for (i, join) in request.joins.iter().enumerate() {
        let record = manage::find(records, &join.network)?.clone();
        if record.driver != Driver::Bridge {
            let driver = if record.driver == Driver::Host { "host" } else { "none" };
            return Err(NetworkError::NotJoinable { network: record.name, driver });
        }
        if planned.iter().any(|(r, _)| r.id == record.id) {
            return Err(NetworkError::AlreadyAttached {
                container: request.container.name.into(),
                network: record.name,
            });
        }
        if let Some(bad) = join.aliases.iter().find(|a| !valid_alias(a)) {
            return Err(NetworkError::BadAlias(bad.clone()));
        }
        if (join.ipv4.is_some() || join.ipv6.is_some()) && !record.user_subnets {
            return Err(ipam::IpamError::NoUserSubnet(record.name).into());
        }
        let state = states.entry(record.id.clone()).or_default();
        if state.endpoints.contains_key(request.container.id) {
            return Err(NetworkError::AlreadyAttached {
                container: request.container.name.into(),
                network: record.name,
            });
        }
        let mut addresses = Vec::new();
        let used = state.used_addresses();
        if let Some(cfg) = record.ipv4_subnet() {
            let after = state.last.get(&cfg.subnet.to_string()).copied();
            let addr = ipam::allocate(&record.name, cfg, &used, state, join.ipv4.map(IpAddr::V4), after)?;
            addresses.push(addr);
        }
        match (record.ipv6_subnet(), join.ipv6) {
            (Some(cfg), requested) => {
                let after = state.last.get(&cfg.subnet.to_string()).copied();
                addresses.push(ipam::allocate(&record.name, cfg, &used, state, requested.map(IpAddr::V6), after)?);
            }
            (None, Some(_)) => return Err(ipam::IpamError::NoIpv6(record.name).into()),
            (None, None) => {}
        }
        let endpoint = Endpoint {
            container_id: request.container.id.to_owned(),
            container_name: request.container.name.to_owned(),
            owner: request.container.owner,
            ifname: next_ifname(&mut taken_ifnames),
            host_veth: veth_name(request.container.id, &record.id),
            mac: format_mac(&join.mac.unwrap_or_else(random_mac)),
            addresses,
            aliases: join.aliases.clone(),
            ports: if i == 0 { request.ports.to_vec() } else { Vec::new() },
            complete: false,
        };
        if i == 0 {
            let v4 = endpoint.addresses.iter().copied().find(IpAddr::is_ipv4);
            let v6 = endpoint.addresses.iter().copied().find(IpAddr::is_ipv6);
            rules::forwards(&record.name, request.ports, v4, v6)?;
        }
        planned.push((record, endpoint));
    }
    for (record, endpoint) in &planned {
        let state = states.entry(record.id.clone()).or_default();
        for addr in &endpoint.addresses {
            if let Some(cfg) = record.subnets.iter().find(|s| s.subnet.contains(*addr)) {
                state.last.insert(cfg.subnet.to_string(), *addr);
            }
        }
        state.endpoints.insert(endpoint.container_id.clone(), endpoint.clone());
        store.write_network_state(&record.id, state)?;
    }
    Ok(planned)
}

/// Attaches a container to `request.joins` (see the module comment). Takes the networks
/// lock; the caller holds no lock of a higher order (volumes, images).
pub fn attach(
    store: &Store,
    kernel: &mut dyn Kernel,
    request: &AttachRequest<'_>,
    alive: Liveness,
) -> Result<Attachment, NetworkError> {
    let _lock = store.lock_networks_exclusive()?;
    let records = manage::load_locked(store)?;
    super::gc::collect_locked(store, &records, kernel, alive)?;
    let mut states = load_states(store)?;
    let planned = allocate(store, &records, &mut states, request)?;
    let mut done: Vec<&str> = Vec::new();
    let kernel_work = (|| -> Result<(), NetworkError> {
        for (record, endpoint) in &planned {
            let bridge = kernel.ensure_bridge(&bridge_spec(record), record.ipv6)?;
            let mut link = link_for(record, endpoint);
            // One default route: the first interface's (a later one would replace it).
            if endpoint.ifname != "eth0" {
                link.gateways.clear();
            }
            kernel.attach_container(bridge, request.container.netns, &link)?;
            done.push(&endpoint.host_veth);
        }
        let ruleset = plan::ruleset(&records, &states, &[]);
        let change = Change { fill: vec![request.container.id.to_owned()], ..Change::default() };
        kernel.apply_firewall(&rules::script(&ruleset, &change), "setting up the container's firewall rules")
    })();
    if let Err(e) = kernel_work {
        for veth in done {
            let _ = kernel.detach_container(veth);
        }
        // The error that matters is the first; undoing is best effort (and what is left over
        // belongs to no endpoint, so no one would look for it: the veths die with the
        // container's namespace, and the rules are rewritten by the next change).
        let _ = release_locked(store, &records, &mut states, kernel, &[request.container.id.to_owned()]);
        return Err(e);
    }
    let mut attachment = Attachment::default();
    for (record, endpoint) in &planned {
        let state = states.get_mut(&record.id).expect("allocated above");
        if let Some(e) = state.endpoints.get_mut(request.container.id) {
            e.complete = true;
        }
        store.write_network_state(&record.id, state)?;
        attachment.interfaces.push(interface(record, endpoint));
    }
    for (record, _) in &planned {
        record_endpoint_event(store, "connect", record, request.container.id);
    }
    Ok(attachment)
}

/// A network's `connect` or `disconnect` event about a container (Docker's, at every start and
/// end of a container's attachment, not only at `network connect`).
pub fn record_endpoint_event(store: &Store, action: &str, record: &NetworkRecord, container_id: &str) {
    let event =
        crate::events::Event::network(action, &record.id, &record.name, "bridge").with("container", container_id);
    crate::events::record(store, event);
}

/// Removes the endpoints of `containers` from every network: veths, firewall rules (one
/// transaction), addresses. Bridges stay (as Docker's do) until their network is removed:
/// deleting one costs ~40 ms of the kernel's global netlink lock, which the next container's
/// set-up would wait for. Every step runs even when one before it failed; the states are
/// written in any case, and the first error is returned.
pub(super) fn release_locked(
    store: &Store,
    records: &[NetworkRecord],
    states: &mut BTreeMap<String, NetworkState>,
    kernel: &mut dyn Kernel,
    containers: &[String],
) -> Result<bool, NetworkError> {
    let mut first_error: Option<NetworkError> = None;
    let mut note = |r: Result<(), NetworkError>| {
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    };
    let mut any = false;
    for (network_id, state) in states.iter_mut() {
        let leaving: Vec<Endpoint> =
            state.endpoints.values().filter(|e| containers.contains(&e.container_id)).cloned().collect();
        if leaving.is_empty() {
            continue;
        }
        any = true;
        for endpoint in &leaving {
            note(kernel.detach_container(&endpoint.host_veth));
            state.endpoints.remove(&endpoint.container_id);
            // Only what was connected is disconnected (not the undoing of a failed attach).
            if endpoint.complete
                && let Some(record) = records.iter().find(|r| &r.id == network_id)
            {
                record_endpoint_event(store, "disconnect", record, &endpoint.container_id);
            }
        }
    }
    if !any {
        return Ok(false);
    }
    let ruleset = plan::ruleset(records, states, containers);
    let change = Change { remove: containers.to_vec(), ..Change::default() };
    note(kernel.apply_firewall(&rules::script(&ruleset, &change), "removing the container's firewall rules"));
    for (network_id, state) in states.iter() {
        if records.iter().any(|r| &r.id == network_id) {
            note(store.write_network_state(network_id, state).map_err(NetworkError::from));
        } else {
            // The state of a network that was removed while nothing was attached.
            note(store.remove_network_state(network_id).map_err(NetworkError::from));
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(true),
    }
}

/// Detaches a container from all its networks (its teardown: the supervisor after the
/// container exited, or whoever finds it orphaned). Nothing attached is fine and touches
/// nothing. Takes the networks lock.
pub fn detach(store: &Store, kernel: &mut dyn Kernel, container_id: &str) -> Result<bool, NetworkError> {
    let _lock = store.lock_networks_exclusive()?;
    let mut states = load_states(store)?;
    if !states.values().any(|s| s.endpoints.contains_key(container_id)) {
        return Ok(false);
    }
    let records = manage::load_locked(store)?;
    release_locked(store, &records, &mut states, kernel, &[container_id.to_owned()])
}

/// Every endpoint of every network, with its network (`ps` reads them once for all its rows).
/// Needs no lock: a stale answer is harmless there.
pub fn all_endpoints(store: &Store) -> Result<Vec<(NetworkRecord, Endpoint)>, NetworkError> {
    let records: crate::store::NetworkIndex<NetworkRecord> = store.networks()?;
    let states = load_states(store)?;
    let mut out = Vec::new();
    for record in records.networks {
        if let Some(state) = states.get(&record.id) {
            out.extend(state.endpoints.values().map(|e| (record.clone(), e.clone())));
        }
    }
    Ok(out)
}

/// Detaches a container from one network (`network disconnect`): its veth there, its address,
/// and the firewall rewritten (its published ports go if they were on this network). Ok(false):
/// it was not attached there. Takes the networks lock.
pub fn detach_from(
    store: &Store,
    kernel: &mut dyn Kernel,
    container_id: &str,
    network: &str,
) -> Result<bool, NetworkError> {
    let _lock = store.lock_networks_exclusive()?;
    let records = manage::load_locked(store)?;
    let record = manage::find(&records, network)?.clone();
    let mut states = load_states(store)?;
    let Some(endpoint) = states.get_mut(&record.id).and_then(|s| s.endpoints.remove(container_id)) else {
        return Ok(false);
    };
    let detached = kernel.detach_container(&endpoint.host_veth);
    let ruleset = plan::ruleset(&records, &states, &[]);
    let change = if endpoint.ports.is_empty() {
        Change::default()
    } else {
        Change { remove: vec![container_id.to_owned()], ..Change::default() }
    };
    let applied = kernel.apply_firewall(&rules::script(&ruleset, &change), "removing the container's firewall rules");
    store.write_network_state(&record.id, &states[&record.id])?;
    detached?;
    applied?;
    Ok(true)
}

/// The container's endpoints now, by network name (inspect's NetworkSettings, `port`).
/// Needs no lock: a stale answer is harmless there.
pub fn endpoints_of(store: &Store, container_id: &str) -> Result<Vec<(NetworkRecord, Endpoint)>, NetworkError> {
    let records: crate::store::NetworkIndex<NetworkRecord> = store.networks()?;
    let states = load_states(store)?;
    let mut out = Vec::new();
    for record in records.networks {
        if let Some(e) = states.get(&record.id).and_then(|s| s.endpoints.get(container_id)) {
            let e = e.clone();
            out.push((record, e));
        }
    }
    Ok(out)
}
