//! Network records as commands manage them: the predefined networks (made on first use),
//! `network create` with Docker's checks, `rm` and `prune`. The kernel is touched only to
//! delete a removed network's bridge (made by the first container attached, kept until then;
//! its rules exist only while containers are attached, see `attach`).
//!
//! Locks: the networks lock (level `Networks`). Whether a network is in use is answered from its
//! runtime state (running containers) and from the caller (containers whose records name it,
//! running or not), which holds the containers lock (order 2) while it asks.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::NetworkError;
use super::kernel::Kernel;
use super::pool;
use super::record::{self, DEFAULT_BRIDGE, DEFAULT_NETWORK, Driver, NetworkRecord, PREDEFINED, SubnetConfig};
use super::state::NetworkState;
use super::subnet::Subnet;
use crate::store::{NetworkIndex, Store};

/// `network create`'s input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    pub name: String,
    /// "bridge" (the only driver), or empty for the default.
    pub driver: String,
    pub subnets: Vec<String>,
    /// The n-th gateway belongs to the n-th subnet.
    pub gateways: Vec<String>,
    /// The n-th range belongs to the n-th subnet.
    pub ip_ranges: Vec<String>,
    pub internal: bool,
    pub ipv6: bool,
    pub labels: BTreeMap<String, String>,
    /// `-o KEY=VALUE`: `mtu` (or `com.docker.network.driver.mtu`) and
    /// `com.docker.network.bridge.name`.
    pub options: BTreeMap<String, String>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn predefined(name: &str, taken: &[Subnet]) -> Result<NetworkRecord, NetworkError> {
    let mut record = NetworkRecord {
        name: name.to_owned(),
        id: record::new_id(),
        created: now(),
        driver: Driver::Null,
        bridge: String::new(),
        subnets: Vec::new(),
        user_subnets: false,
        ipv6: false,
        internal: false,
        dns: false,
        mtu: None,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
    };
    match name {
        DEFAULT_NETWORK => {
            let subnet = pool::first_free(pool::default_candidates(), taken).ok_or(NetworkError::PoolExhausted)?;
            record.driver = Driver::Bridge;
            record.bridge = DEFAULT_BRIDGE.to_owned();
            record.subnets = vec![default_subnet_config(subnet)];
            record.options.insert("com.docker.network.bridge.default_bridge".into(), "true".into());
        }
        "host" => record.driver = Driver::Host,
        _ => {}
    }
    Ok(record)
}

/// A subnet whose gateway is its first address.
fn default_subnet_config(subnet: Subnet) -> SubnetConfig {
    SubnetConfig { gateway: subnet.nth(1).expect("a usable subnet has a first address"), subnet, ip_range: None }
}

/// Every subnet that a new one must not overlap: the host's routes and other networks'.
fn taken_subnets(networks: &[NetworkRecord]) -> Vec<Subnet> {
    let mut taken = pool::host_routes();
    taken.extend(networks.iter().flat_map(|n| n.subnets.iter().map(|s| s.subnet)));
    taken
}

/// The network records, the predefined ones made (and written) if missing. Takes the networks
/// lock itself; the caller holds none of it.
pub fn load(store: &Store) -> Result<Vec<NetworkRecord>, NetworkError> {
    {
        let _lock = store.lock_networks_shared()?;
        let index: NetworkIndex<NetworkRecord> = store.networks()?;
        if PREDEFINED.iter().all(|p| index.networks.iter().any(|n| n.name == *p)) {
            return Ok(index.networks);
        }
    }
    let _lock = store.lock_networks_exclusive()?;
    load_locked(store)
}

/// [`load`] for a caller that holds the networks lock, exclusive.
pub fn load_locked(store: &Store) -> Result<Vec<NetworkRecord>, NetworkError> {
    let mut index: NetworkIndex<NetworkRecord> = store.networks()?;
    let missing: Vec<&str> =
        PREDEFINED.iter().copied().filter(|p| !index.networks.iter().any(|n| n.name == *p)).collect();
    if !missing.is_empty() {
        for name in missing {
            let taken = taken_subnets(&index.networks);
            index.networks.push(predefined(name, &taken)?);
        }
        store.write_networks(&index)?;
    }
    Ok(index.networks)
}

/// The record a user named (name, id or unique id prefix).
pub fn find<'a>(networks: &'a [NetworkRecord], input: &str) -> Result<&'a NetworkRecord, NetworkError> {
    match record::find(networks, input) {
        Ok(Some(n)) => Ok(n),
        Ok(None) => Err(NetworkError::NotFound(input.to_owned())),
        Err(()) => Err(NetworkError::Ambiguous(input.to_owned())),
    }
}

fn parse_options(options: &BTreeMap<String, String>) -> Result<(Option<u32>, Option<String>), NetworkError> {
    let mut mtu = None;
    let mut bridge = None;
    for (key, value) in options {
        match key.as_str() {
            "mtu" | "com.docker.network.driver.mtu" => {
                let parsed: u32 = value.parse().ok().filter(|m| (68..=65535).contains(m)).ok_or_else(|| {
                    NetworkError::BadOption(format!("invalid mtu {value:?}: use a number from 68 to 65535"))
                })?;
                mtu = Some(parsed);
            }
            "com.docker.network.bridge.name" => {
                let valid = !value.is_empty()
                    && value.len() <= super::netlink::MAX_IFNAME
                    && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
                if !valid {
                    return Err(NetworkError::BadOption(format!(
                        "invalid bridge name {value:?}: at most 15 of [a-zA-Z0-9_.-]"
                    )));
                }
                bridge = Some(value.clone());
            }
            other => {
                return Err(NetworkError::BadOption(format!(
                    "unsupported bridge network option {other:?} (berth knows mtu and com.docker.network.bridge.name)"
                )));
            }
        }
    }
    Ok((mtu, bridge))
}

/// The first free berthN (N ≥ 1): used by no record and by no link on the host.
fn free_bridge_name(networks: &[NetworkRecord]) -> Result<String, NetworkError> {
    const LIMIT: u32 = 4096;
    (1..LIMIT)
        .map(|n| format!("berth{n}"))
        .find(|name| {
            !networks.iter().any(|r| &r.bridge == name) && !std::path::Path::new("/sys/class/net").join(name).exists()
        })
        .ok_or(NetworkError::NoBridgeName(LIMIT))
}

fn check_subnet_size(subnet: &Subnet) -> Result<(), NetworkError> {
    let max = if subnet.is_ipv4() { 30 } else { 126 };
    if subnet.prefix() > max { Err(NetworkError::SubnetTooSmall(subnet.to_string())) } else { Ok(()) }
}

/// The subnets of a new network, checked as Docker checks them.
fn subnet_configs(opts: &CreateOptions, others: &[NetworkRecord]) -> Result<(Vec<SubnetConfig>, bool), NetworkError> {
    if opts.gateways.len() > opts.subnets.len() || opts.ip_ranges.len() > opts.subnets.len() {
        return Err(NetworkError::BadOption("every --gateway and --ip-range needs a --subnet".into()));
    }
    let mut configs = Vec::new();
    for (i, text) in opts.subnets.iter().enumerate() {
        let subnet = Subnet::parse(text)?;
        check_subnet_size(&subnet)?;
        let gateway = match opts.gateways.get(i) {
            Some(g) => {
                let addr: IpAddr = g
                    .parse()
                    .map_err(|_| NetworkError::Gateway { gateway: g.clone(), reason: "not an IP address".into() })?;
                let outside = !subnet.contains(addr) || addr == subnet.addr() || Some(addr) == subnet.broadcast();
                if outside {
                    return Err(NetworkError::Gateway {
                        gateway: g.clone(),
                        reason: format!("not a host address of {subnet}"),
                    });
                }
                addr
            }
            None => subnet.nth(1).expect("a /30 or larger has a first address"),
        };
        let ip_range = match opts.ip_ranges.get(i) {
            Some(r) => {
                let range = Subnet::parse(r)?;
                if !subnet.contains_subnet(&range) {
                    return Err(NetworkError::IpRange {
                        range: r.clone(),
                        reason: format!("it is not within subnet {subnet}"),
                    });
                }
                Some(range)
            }
            None => None,
        };
        configs.push(SubnetConfig { subnet, gateway, ip_range });
    }
    for (i, a) in configs.iter().enumerate() {
        if let Some(b) = configs[i + 1..].iter().find(|b| b.subnet.overlaps(&a.subnet)) {
            return Err(NetworkError::SelfOverlap(a.subnet.to_string(), b.subnet.to_string()));
        }
        for other in others {
            if let Some(o) = other.subnets.iter().find(|o| o.subnet.overlaps(&a.subnet)) {
                return Err(NetworkError::Overlap {
                    subnet: a.subnet.to_string(),
                    other: o.subnet.to_string(),
                    network: other.name.clone(),
                });
            }
        }
    }
    let user = !configs.is_empty();
    let ipv6 = opts.ipv6 || configs.iter().any(|c| !c.subnet.is_ipv4());
    let taken = |configs: &[SubnetConfig]| {
        let mut t = taken_subnets(others);
        t.extend(configs.iter().map(|c| c.subnet));
        t
    };
    if !configs.iter().any(|c| c.subnet.is_ipv4()) {
        let subnet = pool::first_free(pool::user_candidates(), &taken(&configs)).ok_or(NetworkError::PoolExhausted)?;
        configs.insert(0, default_subnet_config(subnet));
    }
    if ipv6 && !configs.iter().any(|c| !c.subnet.is_ipv4()) {
        let taken = taken(&configs);
        let subnet = (0..16).map(|_| pool::random_ula()).find(|s| !taken.iter().any(|t| t.overlaps(s)));
        configs.push(default_subnet_config(subnet.ok_or(NetworkError::PoolExhausted)?));
    }
    Ok((configs, user))
}

/// `network create`: checks everything, then adds the record. Needs no lock held; takes the
/// networks lock, exclusive.
pub fn create(store: &Store, opts: &CreateOptions) -> Result<NetworkRecord, NetworkError> {
    if !record::valid_name(&opts.name) {
        return Err(NetworkError::InvalidName(opts.name.clone()));
    }
    if !opts.driver.is_empty() && opts.driver != "bridge" {
        return Err(NetworkError::Driver(opts.driver.clone()));
    }
    let (mtu, bridge) = parse_options(&opts.options)?;
    let _lock = store.lock_networks_exclusive()?;
    let mut networks = load_locked(store)?;
    if networks.iter().any(|n| n.name == opts.name) {
        return Err(NetworkError::Exists(opts.name.clone()));
    }
    if let Some(b) = &bridge
        && let Some(other) = networks.iter().find(|n| &n.bridge == b)
    {
        return Err(NetworkError::BadOption(format!("bridge name {b} is taken by network {}", other.name)));
    }
    let (subnets, user_subnets) = subnet_configs(opts, &networks)?;
    let record = NetworkRecord {
        name: opts.name.clone(),
        id: record::new_id(),
        created: now(),
        driver: Driver::Bridge,
        bridge: match bridge {
            Some(b) => b,
            None => free_bridge_name(&networks)?,
        },
        ipv6: subnets.iter().any(|s| !s.subnet.is_ipv4()),
        subnets,
        user_subnets,
        internal: opts.internal,
        dns: true,
        mtu,
        labels: opts.labels.clone(),
        options: opts.options.clone(),
    };
    networks.push(record.clone());
    store.write_networks(&NetworkIndex { networks })?;
    crate::events::record(store, crate::events::Event::network("create", &record.id, &record.name, "bridge"));
    Ok(record)
}

/// The containers attached to a network now (its runtime state), by name.
fn attached(state: &NetworkState) -> Vec<String> {
    state.endpoints.values().map(|e| e.container_name.clone()).collect()
}

/// `network rm NAME`: refused for a predefined network and for one in use, by a running
/// container (runtime state) or by a container whose record names it (`named_by`, answered
/// by the caller under the containers lock). Needs the networks lock, exclusive, held by the
/// caller, who has collected garbage first (a dead container's endpoint is not a use).
pub fn remove_locked(
    store: &Store,
    kernel: &mut dyn Kernel,
    input: &str,
    named_by: &dyn Fn(&NetworkRecord) -> Vec<String>,
) -> Result<NetworkRecord, NetworkError> {
    let mut networks = load_locked(store)?;
    let record = find(&networks, input)?.clone();
    if record.is_predefined() {
        return Err(NetworkError::Predefined(record.name));
    }
    let state: NetworkState = store.network_state(&record.id)?;
    let mut users = attached(&state);
    for name in named_by(&record) {
        if !users.contains(&name) {
            users.push(name);
        }
    }
    if !users.is_empty() {
        return Err(NetworkError::InUse { name: record.name, containers: users });
    }
    // First, so that a failure leaves the record to retry with (a bridge that is not there, or
    // that has ports of someone else's, is left alone). Rootless, no bridge in this namespace
    // is berth's (a root store's could have the same name).
    if !record.bridge.is_empty() && !store.rootless() {
        kernel.remove_bridge(&record.bridge)?;
    }
    networks.retain(|n| n.id != record.id);
    store.write_networks(&NetworkIndex { networks })?;
    store.remove_network_state(&record.id)?;
    crate::events::record(store, crate::events::Event::network("destroy", &record.id, &record.name, "bridge"));
    Ok(record)
}

/// `network prune`: every user-defined network nobody uses and `keep` does not hold back (the
/// caller's filters). Same locks as [`remove_locked`].
pub fn prune_locked(
    store: &Store,
    kernel: &mut dyn Kernel,
    named_by: &dyn Fn(&NetworkRecord) -> Vec<String>,
    keep: &dyn Fn(&NetworkRecord) -> bool,
) -> Result<Vec<NetworkRecord>, NetworkError> {
    let networks = load_locked(store)?;
    let mut removed = Vec::new();
    for record in networks.iter().filter(|n| !n.is_predefined() && !keep(n)) {
        match remove_locked(store, kernel, &record.id, named_by) {
            Ok(r) => removed.push(r),
            Err(NetworkError::InUse { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), false).unwrap();
        (dir, store)
    }

    fn opts(name: &str) -> CreateOptions {
        CreateOptions { name: name.into(), ..CreateOptions::default() }
    }

    fn none(_: &NetworkRecord) -> Vec<String> {
        Vec::new()
    }

    #[test]
    fn the_predefined_networks_appear_on_first_use() {
        let (_dir, store) = store();
        let networks = load(&store).unwrap();
        let names: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, PREDEFINED);
        let bridge = &networks[0];
        assert_eq!((bridge.driver, bridge.bridge.as_str(), bridge.dns), (Driver::Bridge, "berth0", false));
        let subnet = bridge.subnets[0].subnet;
        assert!(pool::default_candidates().any(|c| c == subnet), "{subnet}");
        assert!(!pool::host_routes().iter().any(|r| r.overlaps(&subnet)), "{subnet} is routed on this host");
        assert_eq!(Some(bridge.subnets[0].gateway), subnet.nth(1));
        assert_eq!(load(&store).unwrap(), networks, "made once, then read");
    }

    #[test]
    fn create_checks_like_docker_and_changes_nothing_on_error() {
        let (_dir, store) = store();
        let web = create(&store, &opts("web")).unwrap();
        assert_eq!((web.bridge.as_str(), web.dns, web.user_subnets), ("berth1", true, false));
        assert!(pool::user_candidates().any(|c| c == web.subnets[0].subnet));
        let before = std::fs::read(store.root().join("networks.json")).unwrap();
        let fail = |o: CreateOptions| create(&store, &o).unwrap_err().to_string();
        assert_eq!(fail(opts("web")), "network with name web already exists");
        assert_eq!(fail(opts("bridge")), "network with name bridge already exists");
        assert_eq!(fail(opts("a/b")), "invalid network name \"a/b\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        assert_eq!(
            fail(CreateOptions { subnets: vec!["10.0.0.0/33".into()], ..opts("x") }),
            "invalid CIDR address: 10.0.0.0/33"
        );
        assert_eq!(
            fail(CreateOptions { subnets: vec!["10.0.0.0/31".into()], ..opts("x") }),
            "invalid subnet 10.0.0.0/31: a network needs at least a /30 (IPv4) or a /126 (IPv6)"
        );
        let web_subnet = web.subnets[0].subnet.to_string();
        assert_eq!(
            fail(CreateOptions { subnets: vec![web_subnet.clone()], ..opts("x") }),
            format!(
                "invalid pool request: Pool overlaps with other one on this address space ({web_subnet} and {web_subnet} \
                 of network web)"
            )
        );
        assert_eq!(
            fail(CreateOptions { subnets: vec!["10.200.0.0/16".into(), "10.200.5.0/24".into()], ..opts("x") }),
            "invalid subnets: 10.200.0.0/16 and 10.200.5.0/24 overlap"
        );
        assert_eq!(
            fail(CreateOptions {
                subnets: vec!["10.200.0.0/24".into()],
                gateways: vec!["10.201.0.1".into()],
                ..opts("x")
            }),
            "invalid gateway 10.201.0.1: not a host address of 10.200.0.0/24"
        );
        assert_eq!(
            fail(CreateOptions {
                subnets: vec!["10.200.0.0/24".into()],
                ip_ranges: vec!["10.200.1.0/28".into()],
                ..opts("x")
            }),
            "invalid ip-range 10.200.1.0/28: it is not within subnet 10.200.0.0/24"
        );
        assert_eq!(
            fail(CreateOptions { gateways: vec!["10.0.0.1".into()], ..opts("x") }),
            "every --gateway and --ip-range needs a --subnet"
        );
        assert_eq!(
            fail(CreateOptions { driver: "macvlan".into(), ..opts("x") }),
            "driver \"macvlan\" is not supported: berth has only the bridge driver"
        );
        let o = |k: &str, v: &str| CreateOptions { options: [(k.to_owned(), v.to_owned())].into(), ..opts("x") };
        assert_eq!(fail(o("mtu", "9")), "invalid mtu \"9\": use a number from 68 to 65535");
        assert!(fail(o("com.docker.network.bridge.name", "much-too-long-name")).starts_with("invalid bridge name"));
        assert!(fail(o("com.docker.network.bridge.name", "berth1")).contains("taken by network web"));
        assert!(fail(o("foo", "1")).starts_with("unsupported bridge network option \"foo\""));
        assert_eq!(std::fs::read(store.root().join("networks.json")).unwrap(), before, "nothing changed");
    }

    #[test]
    fn explicit_subnets_gateways_ranges_and_ipv6() {
        let (_dir, store) = store();
        let net = create(
            &store,
            &CreateOptions {
                subnets: vec!["10.210.0.0/24".into(), "fd10::/64".into()],
                gateways: vec!["10.210.0.254".into()],
                ip_ranges: vec!["10.210.0.128/25".into()],
                internal: true,
                labels: [("team".to_owned(), "a".to_owned())].into(),
                options: [("mtu".to_owned(), "1400".to_owned())].into(),
                ..opts("back")
            },
        )
        .unwrap();
        assert!(net.user_subnets && net.ipv6 && net.internal);
        assert_eq!(net.mtu, Some(1400));
        assert_eq!(net.subnets[0].gateway.to_string(), "10.210.0.254");
        assert_eq!(net.subnets[0].ip_range.unwrap().to_string(), "10.210.0.128/25");
        assert_eq!(net.subnets[1].gateway.to_string(), "fd10::1");
        // --ipv6 alone: a random unique local /64 beside a pool subnet.
        let v6 = create(&store, &CreateOptions { ipv6: true, ..opts("v6") }).unwrap();
        assert!(v6.ipv4_subnet().is_some() && v6.ipv6_subnet().unwrap().subnet.prefix() == 64);
        // An IPv6-only --subnet still gets an IPv4 one from the pool.
        let only6 = create(&store, &CreateOptions { subnets: vec!["fd20::/64".into()], ..opts("only6") }).unwrap();
        assert!(only6.ipv4_subnet().is_some() && only6.ipv6);
    }

    #[test]
    fn remove_and_prune_refuse_networks_in_use() {
        let (_dir, store) = store();
        create(&store, &opts("a")).unwrap();
        let b = create(&store, &opts("b")).unwrap();
        create(&store, &CreateOptions { labels: [("keep".to_owned(), "1".to_owned())].into(), ..opts("c") }).unwrap();
        let _lock = store.lock_networks_exclusive().unwrap();
        let mut kernel = crate::network::kernel::recording::RecordingKernel::default();
        let err = remove_locked(&store, &mut kernel, "bridge", &none).unwrap_err();
        assert_eq!(err.to_string(), "bridge is a pre-defined network and cannot be removed");
        assert_eq!(
            remove_locked(&store, &mut kernel, "nope", &none).unwrap_err().to_string(),
            "network nope not found"
        );
        let named = |n: &NetworkRecord| if n.name == "a" { vec!["web".to_owned()] } else { Vec::new() };
        let err = remove_locked(&store, &mut kernel, "a", &named).unwrap_err();
        assert_eq!(err.to_string(), "error while removing network: network a has active endpoints (web)");
        // A running container, from the runtime state.
        let mut state = NetworkState::default();
        let ep = crate::network::dns::names::tests::endpoint(&"1".repeat(64), "db", &[], &["10.78.1.2"]);
        state.endpoints.insert(ep.container_id.clone(), ep);
        store.write_network_state(&b.id, &state).unwrap();
        assert!(matches!(remove_locked(&store, &mut kernel, &b.id[..10], &none), Err(NetworkError::InUse { .. })));
        let keep = |n: &NetworkRecord| n.labels.contains_key("keep");
        assert!(prune_locked(&store, &mut kernel, &named, &keep).unwrap().is_empty(), "a is named, b attached, c kept");
        let pruned = prune_locked(&store, &mut kernel, &none, &|_| false).unwrap();
        let names: Vec<&str> = pruned.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        store.remove_network_state(&b.id).unwrap();
        assert_eq!(remove_locked(&store, &mut kernel, "b", &none).unwrap().name, "b");
        assert_eq!(
            kernel.calls,
            ["remove bridge berth1", "remove bridge berth3", "remove bridge berth2"],
            "each removed network's bridge"
        );
        let left: Vec<String> = load_locked(&store).unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(left, PREDEFINED);
    }
}
