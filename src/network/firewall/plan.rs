//! What berth's table should hold, from the networks' records and runtime state: a network's
//! rules from its first use (its runtime state is made then) until it is removed, as its
//! bridge stays; a container's DNAT rules while it has published ports. So a container
//! without published ports changes nothing in the table, and starting one runs no `nft`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::rules::{FwContainer, FwNetwork, Ruleset, forwards};
use crate::network::record::NetworkRecord;
use crate::network::state::NetworkState;

/// The ruleset for `states` (by network id), leaving out the containers in `leaving`.
pub fn ruleset(records: &[NetworkRecord], states: &BTreeMap<String, NetworkState>, leaving: &[String]) -> Ruleset {
    let mut ruleset = Ruleset::default();
    for record in records {
        let Some(state) = states.get(&record.id) else { continue };
        let endpoints: Vec<_> = state.endpoints.values().filter(|e| !leaving.contains(&e.container_id)).collect();
        if record.bridge.is_empty() {
            continue;
        }
        ruleset.networks.push(FwNetwork {
            bridge: record.bridge.clone(),
            subnets: record.subnets.iter().map(|s| s.subnet).collect(),
            internal: record.internal,
        });
        for endpoint in endpoints.into_iter().filter(|e| !e.ports.is_empty()) {
            let v4 = endpoint.addresses.iter().copied().find(IpAddr::is_ipv4);
            let v6 = endpoint.addresses.iter().copied().find(IpAddr::is_ipv6);
            // Checked when the container was attached; a mapping that no longer fits is left out.
            let forwards = forwards(&record.name, &endpoint.ports, v4, v6).unwrap_or_default();
            ruleset.containers.push(FwContainer { id: endpoint.container_id.clone(), forwards });
        }
    }
    ruleset.containers.sort_by(|a, b| a.id.cmp(&b.id));
    ruleset
}
