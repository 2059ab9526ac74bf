//! Address allocation within one network. The addresses in use come from the network's
//! runtime state (see `state`), read and written under the networks lock, so no address is
//! handed out twice; a dead owner's addresses come back through garbage collection
//! (`gc`), never by guessing.
//!
//! Addresses a container never gets: the network address, the IPv4 broadcast address, the
//! gateway. Allocation searches from just after the address handed out last, so a freed
//! address is reused only once the range has gone round.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::record::SubnetConfig;
use super::state::NetworkState;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("no available IPv{} addresses on network {network} ({range})", if *.v4 { 4 } else { 6 })]
    Exhausted { network: String, range: String, v4: bool },
    #[error("requested address {addr} is not in network {network}'s subnet {range}")]
    NotInRange { addr: IpAddr, network: String, range: String },
    #[error("requested address {addr} is already allocated to container {holder} on network {network}")]
    InUse { addr: IpAddr, network: String, holder: String },
    #[error("requested address {addr} is network {network}'s {what} address")]
    Reserved { addr: IpAddr, network: String, what: &'static str },
    #[error("network {0} has no IPv6 subnet (create it with --ipv6)")]
    NoIpv6(String),
    #[error(
        "user specified IP address is supported only when connecting to networks with user configured subnets \
         ({0} has none)"
    )]
    NoUserSubnet(String),
}

/// Why `addr` may never be handed out in `cfg`, if it may not.
fn reserved(cfg: &SubnetConfig, addr: IpAddr) -> Option<&'static str> {
    if addr == cfg.subnet.addr() {
        Some("network")
    } else if Some(addr) == cfg.subnet.broadcast() {
        Some("broadcast")
    } else if addr == cfg.gateway {
        Some("gateway")
    } else {
        None
    }
}

/// An address of `cfg` for a new endpoint of `network`: `requested` if given (it must be in
/// the range and free), else the first free one after `after`.
pub fn allocate(
    network: &str,
    cfg: &SubnetConfig,
    used: &BTreeSet<IpAddr>,
    state: &NetworkState,
    requested: Option<IpAddr>,
    after: Option<IpAddr>,
) -> Result<IpAddr, IpamError> {
    let range = cfg.ip_range.unwrap_or(cfg.subnet);
    if let Some(addr) = requested {
        if !cfg.subnet.contains(addr) {
            return Err(IpamError::NotInRange { addr, network: network.into(), range: cfg.subnet.to_string() });
        }
        if let Some(what) = reserved(cfg, addr) {
            return Err(IpamError::Reserved { addr, network: network.into(), what });
        }
        if used.contains(&addr) {
            let holder = state.holder_of(addr).map_or_else(|| "(unknown)".to_owned(), |e| e.container_name.clone());
            return Err(IpamError::InUse { addr, network: network.into(), holder });
        }
        return Ok(addr);
    }
    let last = range.last_offset();
    let start = after.and_then(|a| range.offset_of(a)).map_or(0, |o| if o >= last { 0 } else { o + 1 });
    // Every address that cannot be taken is in `used` or one of the three reserved ones, so a
    // free one (if the range has any) turns up within that many steps of the start: the walk
    // is bounded by the range's size and by that, whichever is smaller (an IPv6 /64 is never
    // walked through).
    let bound = last.min(used.len() as u128 + 3);
    for step in 0..=bound {
        // start + step, going round after the last offset (step ≤ bound ≤ last: no overflow).
        let offset = start.checked_add(step).filter(|o| *o <= last).unwrap_or_else(|| step - (last - start) - 1);
        let Some(addr) = range.nth(offset) else { continue };
        if reserved(cfg, addr).is_none() && !used.contains(&addr) {
            return Ok(addr);
        }
    }
    Err(IpamError::Exhausted { network: network.into(), range: range.to_string(), v4: range.is_ipv4() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::state::{Endpoint, Owner};
    use crate::network::subnet::Subnet;

    fn cfg(subnet: &str, gateway: &str, range: Option<&str>) -> SubnetConfig {
        SubnetConfig {
            subnet: Subnet::parse(subnet).unwrap(),
            gateway: gateway.parse().unwrap(),
            ip_range: range.map(|r| Subnet::parse(r).unwrap()),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn endpoint(id: &str, addr: IpAddr) -> Endpoint {
        Endpoint {
            container_id: id.into(),
            container_name: format!("name-{id}"),
            owner: Owner { pid: 1, start_time: 1 },
            ifname: "eth0".into(),
            host_veth: String::new(),
            mac: String::new(),
            addresses: vec![addr],
            aliases: Vec::new(),
            ports: Vec::new(),
            complete: true,
        }
    }

    /// Allocates for ids until an error, recording each endpoint as attach does.
    fn fill(cfg: &SubnetConfig, state: &mut NetworkState) -> Result<Vec<IpAddr>, IpamError> {
        let mut got = Vec::new();
        for i in 0.. {
            let used = state.used_addresses();
            let after = state.last.get("k").copied();
            let addr = match allocate("net", cfg, &used, state, None, after) {
                Ok(a) => a,
                Err(e) if got.is_empty() => return Err(e),
                Err(_) => return Ok(got),
            };
            state.last.insert("k".into(), addr);
            state.endpoints.insert(format!("c{i}"), endpoint(&format!("c{i}"), addr));
            got.push(addr);
        }
        unreachable!()
    }

    #[test]
    fn a_slash_29_holds_five_containers_then_is_exhausted() {
        let cfg = cfg("10.5.0.0/29", "10.5.0.1", None);
        let mut state = NetworkState::default();
        let got = fill(&cfg, &mut state).unwrap();
        let want: Vec<IpAddr> = (2..=6).map(|i| ip(&format!("10.5.0.{i}"))).collect();
        assert_eq!(got, want, "network .0, gateway .1 and broadcast .7 are never handed out");
        let err = allocate("net", &cfg, &state.used_addresses(), &state, None, Some(ip("10.5.0.6"))).unwrap_err();
        assert_eq!(err.to_string(), "no available IPv4 addresses on network net (10.5.0.0/29)");
    }

    #[test]
    fn a_freed_address_is_reused_only_after_the_range_goes_round() {
        let cfg = cfg("10.5.0.0/29", "10.5.0.1", None);
        let mut state = NetworkState::default();
        fill(&cfg, &mut state).unwrap();
        state.endpoints.remove("c1"); // 10.5.0.3 is free again
        let used = state.used_addresses();
        assert_eq!(allocate("net", &cfg, &used, &state, None, Some(ip("10.5.0.6"))), Ok(ip("10.5.0.3")));
        let mut state = NetworkState::default();
        state.endpoints.insert("a".into(), endpoint("a", ip("10.5.0.2")));
        let used = state.used_addresses();
        // After .2 comes .3, although nothing else is taken: the search starts after the last.
        assert_eq!(allocate("net", &cfg, &used, &state, None, Some(ip("10.5.0.2"))), Ok(ip("10.5.0.3")));
        assert_eq!(allocate("net", &cfg, &used, &state, None, Some(ip("10.5.0.6"))), Ok(ip("10.5.0.3")));
    }

    #[test]
    fn requested_addresses_are_checked() {
        let cfg = cfg("10.5.0.0/24", "10.5.0.1", None);
        let mut state = NetworkState::default();
        state.endpoints.insert("a".into(), endpoint("a", ip("10.5.0.9")));
        let used = state.used_addresses();
        let ask = |a: &str| allocate("net", &cfg, &used, &state, Some(ip(a)), None).map_err(|e| e.to_string());
        assert_eq!(ask("10.5.0.77"), Ok(ip("10.5.0.77")));
        assert_eq!(
            ask("10.5.0.9"),
            Err("requested address 10.5.0.9 is already allocated to container name-a on network net".into())
        );
        assert_eq!(ask("10.5.0.1"), Err("requested address 10.5.0.1 is network net's gateway address".into()));
        assert_eq!(ask("10.5.0.0"), Err("requested address 10.5.0.0 is network net's network address".into()));
        assert_eq!(ask("10.5.0.255"), Err("requested address 10.5.0.255 is network net's broadcast address".into()));
        assert_eq!(
            ask("10.6.0.2"),
            Err("requested address 10.6.0.2 is not in network net's subnet 10.5.0.0/24".into())
        );
    }

    #[test]
    fn ip_ranges_limit_the_pool() {
        let cfg = cfg("10.5.0.0/24", "10.5.0.1", Some("10.5.0.128/30"));
        let mut state = NetworkState::default();
        let got = fill(&cfg, &mut state).unwrap();
        let want: Vec<IpAddr> = (128..=131).map(|i| ip(&format!("10.5.0.{i}"))).collect();
        assert_eq!(got, want, "the range's own network and broadcast addresses are ordinary addresses of the subnet");
        // A requested address outside the range but inside the subnet is fine (Docker's rule).
        let used = state.used_addresses();
        assert_eq!(allocate("net", &cfg, &used, &state, Some(ip("10.5.0.5")), None), Ok(ip("10.5.0.5")));
    }

    #[test]
    fn ipv6_ranges_are_never_walked_through() {
        let v6 = cfg("fd00:1::/64", "fd00:1::1", None);
        let mut state = NetworkState::default();
        let got = fill_some(&v6, &mut state, 3);
        assert_eq!(got, vec![ip("fd00:1::2"), ip("fd00:1::3"), ip("fd00:1::4")]);
        // The whole address space, starting after its very last address: goes round to ::.
        let everything = cfg("::/0", "::1", None);
        let after = Some(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        let got = allocate("n", &everything, &BTreeSet::new(), &NetworkState::default(), None, after);
        assert_eq!(got, Ok(ip("::2")), ":: is the network address and ::1 the gateway");
    }

    fn fill_some(cfg: &SubnetConfig, state: &mut NetworkState, n: usize) -> Vec<IpAddr> {
        (0..n)
            .map(|i| {
                let addr =
                    allocate("n", cfg, &state.used_addresses(), state, None, state.last.get("k").copied()).unwrap();
                state.last.insert("k".into(), addr);
                state.endpoints.insert(format!("c{i}"), endpoint(&format!("c{i}"), addr));
                addr
            })
            .collect()
    }
}
