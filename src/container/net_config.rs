//! A container's networking as `run`/`create` ask for it: the flags as text ([`NetFlags`]),
//! checked into the mode and what the record keeps ([`NetConfig`]), from which the supervisor
//! builds the network set-up request at each start (`supervisor/network.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::record::NetworkMode;
use crate::network::hosts::{self, HostsError};
use crate::network::ports::{self, ExposedPorts, PortError, PublishSpec};

/// The name of the default network, as Docker's `network ls` shows it.
pub const DEFAULT_NETWORK: &str = "bridge";

/// The networking flags of `run`/`create` as text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetFlags {
    /// `--network`, repeatable: `bridge` (also `default`), `none`, `host`, or a network's name.
    pub networks: Vec<String>,
    /// `--network-alias` (on the first network).
    pub aliases: Vec<String>,
    /// `-p/--publish`.
    pub publish: Vec<String>,
    /// `-P/--publish-all`.
    pub publish_all: bool,
    /// `--expose`.
    pub expose: Vec<String>,
    /// `--ip`, `--ip6`, `--mac-address` (on the first network).
    pub ip: Option<String>,
    pub ip6: Option<String>,
    pub mac_address: Option<String>,
    /// `--add-host NAME:ADDR`.
    pub add_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub domainname: Option<String>,
}

/// One network a container joins, as its record keeps it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkJoin {
    /// The network's name as the user gave it (checked to exist at create).
    pub network: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// What a container's record keeps of its networking (besides its [`NetworkMode`]).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct NetConfig {
    /// With `NetworkMode::Bridge`: the networks, in order (the first has the default route and
    /// the published ports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkJoin>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<PublishSpec>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publish_all: bool,
    /// `--expose` and the image's EXPOSE (what `-P` publishes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed: Vec<ExposedPorts>,
    /// `--add-host` as given (checked at create).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domainname: String,
}

impl NetConfig {
    pub fn is_empty(&self) -> bool {
        *self == NetConfig::default()
    }

    /// The networks' names, in order.
    pub fn network_names(&self) -> impl Iterator<Item = &str> {
        self.networks.iter().map(|j| j.network.as_str())
    }

    /// `-p`, and with `-P` every exposed port not published already.
    pub fn publish_specs(&self) -> Vec<PublishSpec> {
        let mut specs = self.publish.clone();
        if self.publish_all {
            specs.extend(ports::publish_all(&self.exposed, &self.publish));
        }
        specs
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetOptionsError {
    #[error(
        "conflicting options: cannot attach both user-defined and non-user-defined network-modes ({0} with other \
         networks)"
    )]
    Conflict(String),
    #[error("invalid --network {0:?}")]
    BadNetwork(String),
    #[error("{flag} needs a bridge network (the container's network is {mode})")]
    NeedsBridge { flag: &'static str, mode: &'static str },
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Host(#[from] HostsError),
    #[error("invalid {flag} {value:?}")]
    Address { flag: &'static str, value: String },
    #[error("invalid --mac-address {0:?}")]
    Mac(String),
    #[error("invalid --domainname {0:?}")]
    Domainname(String),
}

fn address<T: std::str::FromStr>(flag: &'static str, value: &Option<String>) -> Result<Option<T>, NetOptionsError> {
    value.as_deref().map(|v| v.parse().map_err(|_| NetOptionsError::Address { flag, value: v.to_owned() })).transpose()
}

fn mode_name(mode: NetworkMode) -> &'static str {
    match mode {
        NetworkMode::Host => "host",
        NetworkMode::None => "none",
        NetworkMode::Private => "private",
        NetworkMode::Bridge => "bridge",
    }
}

/// Checks the flags: the mode and what the record keeps. `--network` names are not looked up
/// here (that needs the store; `create` does it).
pub fn parse(flags: &NetFlags) -> Result<(NetworkMode, NetConfig), NetOptionsError> {
    let mut mode = NetworkMode::Bridge;
    let mut names: Vec<String> = Vec::new();
    for name in &flags.networks {
        let special = match name.as_str() {
            "host" => Some(NetworkMode::Host),
            "none" => Some(NetworkMode::None),
            // Loopback only: what berth gave before it had networking, kept for scripts.
            "private" => Some(NetworkMode::Private),
            _ => None,
        };
        if let Some(special) = special {
            if flags.networks.len() > 1 {
                return Err(NetOptionsError::Conflict(name.clone()));
            }
            mode = special;
            continue;
        }
        let canonical = if name.is_empty() || name == "default" { DEFAULT_NETWORK } else { name };
        if canonical.contains('/') || canonical.contains(char::is_whitespace) {
            return Err(NetOptionsError::BadNetwork(name.clone()));
        }
        names.push(canonical.to_owned());
    }
    if mode == NetworkMode::Bridge && names.is_empty() {
        names.push(DEFAULT_NETWORK.to_owned());
    }
    let mac = match &flags.mac_address {
        Some(m) => {
            let parsed = crate::network::netlink::parse_mac(m).ok_or_else(|| NetOptionsError::Mac(m.clone()))?;
            Some(crate::network::netlink::format_mac(&parsed))
        }
        None => None,
    };
    let ipv4 = address::<Ipv4Addr>("--ip", &flags.ip)?;
    let ipv6 = address::<Ipv6Addr>("--ip6", &flags.ip6)?;
    if mode != NetworkMode::Bridge {
        let per_network = [
            ("--ip", ipv4.is_some()),
            ("--ip6", ipv6.is_some()),
            ("--mac-address", mac.is_some()),
            ("--network-alias", !flags.aliases.is_empty()),
        ];
        if let Some((flag, _)) = per_network.iter().find(|(_, set)| *set) {
            return Err(NetOptionsError::NeedsBridge { flag, mode: mode_name(mode) });
        }
    }
    let mut networks: Vec<NetworkJoin> =
        names.into_iter().map(|network| NetworkJoin { network, ..NetworkJoin::default() }).collect();
    if let Some(first) = networks.first_mut() {
        first.aliases = flags.aliases.clone();
        first.ipv4 = ipv4;
        first.ipv6 = ipv6;
        first.mac = mac;
    }
    let publish = flags.publish.iter().map(|p| ports::parse_publish(p)).collect::<Result<Vec<_>, _>>()?;
    if mode == NetworkMode::Host && !publish.is_empty() {
        // Docker accepts and ignores them there; saying so beats a port that is not where asked.
        return Err(NetOptionsError::NeedsBridge { flag: "--publish", mode: "host" });
    }
    let exposed = flags.expose.iter().map(|e| ports::parse_expose(e)).collect::<Result<Vec<_>, _>>()?;
    for h in &flags.add_hosts {
        hosts::parse_add_host(h)?;
    }
    let dns = flags
        .dns
        .iter()
        .map(|d| d.parse().map_err(|_| NetOptionsError::Address { flag: "--dns", value: d.clone() }))
        .collect::<Result<Vec<IpAddr>, _>>()?;
    let domainname = flags.domainname.clone().unwrap_or_default();
    if !domainname.is_empty() && !crate::network::record::valid_name(&domainname) {
        return Err(NetOptionsError::Domainname(domainname));
    }
    let config = NetConfig {
        networks: if mode == NetworkMode::Bridge { networks } else { Vec::new() },
        publish,
        publish_all: flags.publish_all,
        exposed,
        extra_hosts: flags.add_hosts.clone(),
        dns,
        dns_search: flags.dns_search.clone(),
        dns_options: flags.dns_options.clone(),
        domainname,
    };
    Ok((mode, config))
}

/// The image's EXPOSE keys ("80/tcp") added to `config.exposed` (after `--expose`), skipping
/// any it cannot read (an image is not the user's input to refuse).
pub fn add_image_exposed<'a>(config: &mut NetConfig, keys: impl Iterator<Item = &'a String>) {
    for key in keys {
        if let Ok(e) = ports::parse_expose(key)
            && !config.exposed.contains(&e)
        {
            config.exposed.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(networks: &[&str]) -> NetFlags {
        NetFlags { networks: networks.iter().map(|s| s.to_string()).collect(), ..NetFlags::default() }
    }

    #[test]
    fn no_network_flag_means_the_default_bridge() {
        let (mode, config) = parse(&NetFlags::default()).unwrap();
        assert_eq!(mode, NetworkMode::Bridge);
        assert_eq!(config.network_names().collect::<Vec<_>>(), ["bridge"]);
        let (_, config) = parse(&flags(&["default"])).unwrap();
        assert_eq!(config.network_names().collect::<Vec<_>>(), ["bridge"]);
    }

    #[test]
    fn networks_repeat_and_special_modes_stand_alone() {
        let (mode, config) = parse(&flags(&["web", "db"])).unwrap();
        assert_eq!(mode, NetworkMode::Bridge);
        assert_eq!(config.network_names().collect::<Vec<_>>(), ["web", "db"]);
        assert_eq!(parse(&flags(&["host"])).unwrap().0, NetworkMode::Host);
        assert_eq!(parse(&flags(&["none"])).unwrap().0, NetworkMode::None);
        assert!(parse(&flags(&["none"])).unwrap().1.networks.is_empty());
        assert!(matches!(parse(&flags(&["host", "web"])), Err(NetOptionsError::Conflict(_))));
        assert!(matches!(parse(&flags(&["a/b"])), Err(NetOptionsError::BadNetwork(_))));
    }

    #[test]
    fn per_network_flags_go_to_the_first_network_and_need_a_bridge() {
        let f = NetFlags {
            networks: vec!["web".into(), "db".into()],
            aliases: vec!["app".into()],
            ip: Some("10.1.0.5".into()),
            mac_address: Some("02:42:AC:11:00:02".into()),
            ..NetFlags::default()
        };
        let (_, config) = parse(&f).unwrap();
        assert_eq!(config.networks[0].aliases, ["app"]);
        assert_eq!(config.networks[0].ipv4, Some(Ipv4Addr::new(10, 1, 0, 5)));
        assert_eq!(config.networks[0].mac.as_deref(), Some("02:42:ac:11:00:02"));
        assert_eq!(config.networks[1], NetworkJoin { network: "db".into(), ..NetworkJoin::default() });
        let on_none = NetFlags { ip: Some("10.1.0.5".into()), ..flags(&["none"]) };
        assert!(matches!(parse(&on_none), Err(NetOptionsError::NeedsBridge { flag: "--ip", .. })));
        assert!(parse(&NetFlags { ip: Some("10.1.0.300".into()), ..NetFlags::default() }).is_err());
        assert!(parse(&NetFlags { mac_address: Some("zz".into()), ..NetFlags::default() }).is_err());
    }

    #[test]
    fn ports_hosts_and_dns_are_checked() {
        let f = NetFlags {
            publish: vec!["127.0.0.1:8080:80".into(), "53/udp".into()],
            publish_all: true,
            expose: vec!["9000".into()],
            add_hosts: vec!["db:10.0.0.9".into(), "gw:host-gateway".into()],
            dns: vec!["10.0.0.53".into()],
            ..NetFlags::default()
        };
        let (_, mut config) = parse(&f).unwrap();
        add_image_exposed(&mut config, ["80/tcp".to_string(), "9000/tcp".to_string()].iter());
        let specs = config.publish_specs();
        let published: Vec<String> =
            specs.iter().map(|s| format!("{}/{}", s.container_ports, s.protocol.as_str())).collect();
        assert_eq!(published, ["80/tcp", "53/udp", "9000/tcp"], "-P adds what -p does not publish");
        let bad_port = NetFlags { publish: vec!["99999:80".into()], ..NetFlags::default() };
        assert_eq!(parse(&bad_port).unwrap_err().to_string(), "invalid hostPort: 99999");
        assert!(parse(&NetFlags { add_hosts: vec!["nocolon".into()], ..NetFlags::default() }).is_err());
        assert!(parse(&NetFlags { dns: vec!["x".into()], ..NetFlags::default() }).is_err());
        let host_publish = NetFlags { publish: vec!["80".into()], ..flags(&["host"]) };
        assert!(parse(&host_publish).is_err());
    }
}
