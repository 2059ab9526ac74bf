//! berth's nftables rules, generated as the text `nft -f -` reads: one table, `inet berth`,
//! never anything outside it. Each change is one transaction (one script), so the kernel
//! never holds half of a change.
//!
//! ```text
//! table inet berth
//!   set bridges                 the bridges of networks with containers attached
//!   chain guard                 filter/prerouting (raw): a packet from a bridge for
//!                               127.0.0.0/8 is dropped (route_localnet is on for bridges)
//!   chain prerouting, output    nat: traffic for one of the host's own addresses → publish
//!   chain publish               a jump to each container chain
//!   chain ctr-<id>              one container's DNAT rules (its published ports)
//!   chain postrouting           nat: masquerade of each network's traffic out of its bridge,
//!                               hairpin (a container reaching itself or a neighbour through
//!                               a published port) and published-on-127.0.0.1 traffic
//!   chain forward               filter: --internal networks reach nothing beyond their bridge;
//!                               published ports are reachable; other networks are not
//! ```
//!
//! A change rewrites the base chains (their size grows with the number of networks and of
//! containers with published ports, never with the number of ports) and fills or deletes only
//! the container chains it is about, so attaching the 300th container costs what the first
//! did. Declaring a table, chain or set that exists is a no-op in nft, and a chain is declared
//! right before it is deleted, so every script applies whatever the kernel holds: after
//! `nft flush ruleset`, the next change recreates the table (the other containers' chains come
//! back empty until `network reload`, which recreates everything).

use std::fmt::Write;
use std::net::IpAddr;

use crate::network::ports::PortMapping;
use crate::network::subnet::Subnet;

pub const TABLE: &str = "inet berth";
/// [`TABLE`]'s name without its family (netlink names the family apart).
pub const TABLE_NAME: &str = "berth";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(
        "cannot publish port {port} on {ip}: IPv6 loopback cannot be forwarded to a bridge network (publish on \
         127.0.0.1, or on every address)"
    )]
    Ipv6Loopback { port: u16, ip: IpAddr },
    #[error("cannot publish port {port} on {ip}: network {network} has no IPv{family} subnet")]
    NoFamily { port: u16, ip: IpAddr, network: String, family: u8 },
}

/// A network that has containers attached, as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwNetwork {
    pub bridge: String,
    pub subnets: Vec<Subnet>,
    pub internal: bool,
}

/// One published port's destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub mapping: PortMapping,
    /// The container's address of the family the rule is for.
    pub target: IpAddr,
}

/// A container with published ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwContainer {
    /// The container's short id (names its chain).
    pub id: String,
    pub forwards: Vec<Forward>,
}

impl FwContainer {
    pub fn chain(&self) -> String {
        chain_of(&self.id)
    }
}

pub fn chain_of(container_id: &str) -> String {
    format!("ctr-{}", &container_id[..container_id.len().min(12)])
}

/// Everything berth's table should hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    pub networks: Vec<FwNetwork>,
    pub containers: Vec<FwContainer>,
}

/// What a script changes besides the base chains.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    /// Delete the table first and fill every container chain (`network reload`).
    pub recreate: bool,
    /// Container ids whose chains are (re)filled.
    pub fill: Vec<String>,
    /// Container ids whose chains are deleted.
    pub remove: Vec<String>,
}

/// The DNAT targets of a container's published ports on a network with these addresses:
/// every host address forwards to both families the container has; a given host address to
/// the container's address of its family.
pub fn forwards(
    network: &str,
    mappings: &[PortMapping],
    v4: Option<IpAddr>,
    v6: Option<IpAddr>,
) -> Result<Vec<Forward>, RuleError> {
    let mut out = Vec::new();
    for m in mappings {
        match m.host_ip {
            None => out.extend([v4, v6].into_iter().flatten().map(|target| Forward { mapping: *m, target })),
            Some(ip) => {
                if let IpAddr::V6(a) = ip
                    && a.is_loopback()
                {
                    return Err(RuleError::Ipv6Loopback { port: m.host_port, ip });
                }
                let target = if ip.is_ipv4() { v4 } else { v6 };
                let family = if ip.is_ipv4() { 4 } else { 6 };
                let target = target.ok_or_else(|| RuleError::NoFamily {
                    port: m.host_port,
                    ip,
                    network: network.into(),
                    family,
                })?;
                out.push(Forward { mapping: *m, target });
            }
        }
    }
    Ok(out)
}

fn saddr(subnet: &Subnet) -> String {
    format!("{} saddr {subnet}", if subnet.is_ipv4() { "ip" } else { "ip6" })
}

/// The DNAT rules of one container, consecutive ports forwarded to the same numbers in one rule.
fn dnat_rules(container: &FwContainer) -> Vec<String> {
    let mut rules = Vec::new();
    let mut i = 0;
    let forwards = &container.forwards;
    while i < forwards.len() {
        let first = forwards[i];
        let same_number = first.mapping.host_port == first.mapping.container_port;
        let mut j = i;
        while same_number
            && j + 1 < forwards.len()
            && forwards[j + 1].target == first.target
            && forwards[j + 1].mapping.host_ip == first.mapping.host_ip
            && forwards[j + 1].mapping.protocol == first.mapping.protocol
            && forwards[j + 1].mapping.host_port == forwards[j + 1].mapping.container_port
            && u32::from(forwards[j + 1].mapping.host_port) == u32::from(forwards[j].mapping.host_port) + 1
        {
            j += 1;
        }
        let m = first.mapping;
        let v4 = first.target.is_ipv4();
        let mut rule = format!("meta nfproto {}", if v4 { "ipv4" } else { "ipv6" });
        if let Some(ip) = m.host_ip
            && !ip.is_unspecified()
        {
            let _ = write!(rule, " {} daddr {ip}", if v4 { "ip" } else { "ip6" });
        }
        let last = forwards[j].mapping.host_port;
        let ports = if last == m.host_port { m.host_port.to_string() } else { format!("{}-{last}", m.host_port) };
        let _ = write!(rule, " {} dport {ports}", m.protocol);
        let family = if v4 { "ip" } else { "ip6" };
        let target = if v4 { first.target.to_string() } else { format!("[{}]", first.target) };
        if j > i {
            let _ = write!(rule, " dnat {family} to {target}");
        } else {
            let _ = write!(rule, " dnat {family} to {target}:{}", m.container_port);
        }
        rules.push(rule);
        i = j + 1;
    }
    rules
}

/// The script for `change` to a table that should hold `ruleset`. With no network in use the
/// table is deleted: berth leaves no trace in the firewall when it runs no container.
pub fn script(ruleset: &Ruleset, change: &Change) -> String {
    if ruleset.networks.is_empty() && ruleset.containers.is_empty() {
        return format!("add table {TABLE}\ndelete table {TABLE}\n");
    }
    let mut s = String::new();
    let mut line = |text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    if change.recreate {
        line(format!("add table {TABLE}"));
        line(format!("delete table {TABLE}"));
    }
    line(format!("add table {TABLE}"));
    line(format!("add set {TABLE} bridges {{ type ifname; }}"));
    let base = [
        ("guard", "type filter hook prerouting priority raw; policy accept;"),
        ("prerouting", "type nat hook prerouting priority dstnat; policy accept;"),
        ("output", "type nat hook output priority -100; policy accept;"),
        ("postrouting", "type nat hook postrouting priority srcnat; policy accept;"),
        ("forward", "type filter hook forward priority filter; policy accept;"),
    ];
    for (name, hook) in base {
        line(format!("add chain {TABLE} {name} {{ {hook} }}"));
    }
    line(format!("add chain {TABLE} publish"));
    for (name, _) in base {
        line(format!("flush chain {TABLE} {name}"));
    }
    line(format!("flush chain {TABLE} publish"));
    line(format!("flush set {TABLE} bridges"));
    if !ruleset.networks.is_empty() {
        let names: Vec<String> = ruleset.networks.iter().map(|n| format!("\"{}\"", n.bridge)).collect();
        line(format!("add element {TABLE} bridges {{ {} }}", names.join(", ")));
    }
    line(format!("add rule {TABLE} guard iifname @bridges ip daddr 127.0.0.0/8 drop"));
    line(format!("add rule {TABLE} prerouting fib daddr type local jump publish"));
    line(format!("add rule {TABLE} output fib daddr type local jump publish"));
    line(format!("add rule {TABLE} postrouting oifname @bridges ct status dnat ip saddr 127.0.0.0/8 masquerade"));
    for n in &ruleset.networks {
        let bridge = &n.bridge;
        for subnet in &n.subnets {
            let from = saddr(subnet);
            if !n.internal {
                line(format!("add rule {TABLE} postrouting {from} oifname != \"{bridge}\" masquerade"));
            }
            line(format!("add rule {TABLE} postrouting {from} oifname \"{bridge}\" ct status dnat masquerade"));
        }
    }
    for n in ruleset.networks.iter().filter(|n| n.internal) {
        let bridge = &n.bridge;
        line(format!("add rule {TABLE} forward iifname \"{bridge}\" oifname != \"{bridge}\" drop"));
        line(format!("add rule {TABLE} forward oifname \"{bridge}\" iifname != \"{bridge}\" drop"));
    }
    line(format!("add rule {TABLE} forward ct status dnat accept"));
    for n in ruleset.networks.iter().filter(|n| !n.internal) {
        let bridge = &n.bridge;
        line(format!("add rule {TABLE} forward iifname \"{bridge}\" oifname @bridges oifname != \"{bridge}\" drop"));
    }
    for c in &ruleset.containers {
        if change.remove.contains(&c.id) {
            continue;
        }
        line(format!("add chain {TABLE} {}", c.chain()));
        line(format!("add rule {TABLE} publish jump {}", c.chain()));
    }
    for c in &ruleset.containers {
        if change.remove.contains(&c.id) || !(change.recreate || change.fill.contains(&c.id)) {
            continue;
        }
        line(format!("flush chain {TABLE} {}", c.chain()));
        for rule in dnat_rules(c) {
            line(format!("add rule {TABLE} {} {rule}", c.chain()));
        }
    }
    for id in &change.remove {
        line(format!("add chain {TABLE} {}", chain_of(id)));
        line(format!("delete chain {TABLE} {}", chain_of(id)));
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::network::ports::Protocol;

    pub(crate) fn mapping(host_ip: Option<&str>, host: u16, container: u16, protocol: Protocol) -> PortMapping {
        PortMapping {
            host_ip: host_ip.map(|i| i.parse().unwrap()),
            host_port: host,
            container_port: container,
            protocol,
        }
    }

    pub(crate) fn sample() -> Ruleset {
        let v4: IpAddr = "10.77.0.2".parse().unwrap();
        let v6: IpAddr = "fd00:77::2".parse().unwrap();
        let web = forwards(
            "bridge",
            &[
                mapping(None, 8080, 80, Protocol::Tcp),
                mapping(Some("127.0.0.1"), 5353, 53, Protocol::Udp),
                mapping(None, 9000, 9000, Protocol::Tcp),
                mapping(None, 9001, 9001, Protocol::Tcp),
                mapping(None, 9002, 9002, Protocol::Tcp),
            ],
            Some(v4),
            Some(v6),
        )
        .unwrap();
        Ruleset {
            networks: vec![
                FwNetwork {
                    bridge: "berth0".into(),
                    subnets: vec![Subnet::parse("10.77.0.0/16").unwrap(), Subnet::parse("fd00:77::/64").unwrap()],
                    internal: false,
                },
                FwNetwork {
                    bridge: "berth1".into(),
                    subnets: vec![Subnet::parse("10.78.0.0/24").unwrap()],
                    internal: true,
                },
            ],
            containers: vec![
                FwContainer { id: "0123456789ab".into(), forwards: web },
                FwContainer {
                    id: "ba9876543210".into(),
                    forwards: vec![Forward {
                        mapping: mapping(Some("10.1.2.3"), 2222, 22, Protocol::Tcp),
                        target: "10.77.0.3".parse().unwrap(),
                    }],
                },
            ],
        }
    }

    const BASE: &str = "\
add table inet berth
add set inet berth bridges { type ifname; }
add chain inet berth guard { type filter hook prerouting priority raw; policy accept; }
add chain inet berth prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain inet berth output { type nat hook output priority -100; policy accept; }
add chain inet berth postrouting { type nat hook postrouting priority srcnat; policy accept; }
add chain inet berth forward { type filter hook forward priority filter; policy accept; }
add chain inet berth publish
flush chain inet berth guard
flush chain inet berth prerouting
flush chain inet berth output
flush chain inet berth postrouting
flush chain inet berth forward
flush chain inet berth publish
flush set inet berth bridges
add element inet berth bridges { \"berth0\", \"berth1\" }
add rule inet berth guard iifname @bridges ip daddr 127.0.0.0/8 drop
add rule inet berth prerouting fib daddr type local jump publish
add rule inet berth output fib daddr type local jump publish
add rule inet berth postrouting oifname @bridges ct status dnat ip saddr 127.0.0.0/8 masquerade
add rule inet berth postrouting ip saddr 10.77.0.0/16 oifname != \"berth0\" masquerade
add rule inet berth postrouting ip saddr 10.77.0.0/16 oifname \"berth0\" ct status dnat masquerade
add rule inet berth postrouting ip6 saddr fd00:77::/64 oifname != \"berth0\" masquerade
add rule inet berth postrouting ip6 saddr fd00:77::/64 oifname \"berth0\" ct status dnat masquerade
add rule inet berth postrouting ip saddr 10.78.0.0/24 oifname \"berth1\" ct status dnat masquerade
add rule inet berth forward iifname \"berth1\" oifname != \"berth1\" drop
add rule inet berth forward oifname \"berth1\" iifname != \"berth1\" drop
add rule inet berth forward ct status dnat accept
add rule inet berth forward iifname \"berth0\" oifname @bridges oifname != \"berth0\" drop
";

    #[test]
    fn attaching_fills_only_the_new_containers_chain() {
        let change = Change { fill: vec!["0123456789ab".into()], ..Change::default() };
        let want = format!(
            "{BASE}\
add chain inet berth ctr-0123456789ab
add rule inet berth publish jump ctr-0123456789ab
add chain inet berth ctr-ba9876543210
add rule inet berth publish jump ctr-ba9876543210
flush chain inet berth ctr-0123456789ab
add rule inet berth ctr-0123456789ab meta nfproto ipv4 tcp dport 8080 dnat ip to 10.77.0.2:80
add rule inet berth ctr-0123456789ab meta nfproto ipv6 tcp dport 8080 dnat ip6 to [fd00:77::2]:80
add rule inet berth ctr-0123456789ab meta nfproto ipv4 ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.77.0.2:53
add rule inet berth ctr-0123456789ab meta nfproto ipv4 tcp dport 9000 dnat ip to 10.77.0.2:9000
add rule inet berth ctr-0123456789ab meta nfproto ipv6 tcp dport 9000 dnat ip6 to [fd00:77::2]:9000
add rule inet berth ctr-0123456789ab meta nfproto ipv4 tcp dport 9001 dnat ip to 10.77.0.2:9001
add rule inet berth ctr-0123456789ab meta nfproto ipv6 tcp dport 9001 dnat ip6 to [fd00:77::2]:9001
add rule inet berth ctr-0123456789ab meta nfproto ipv4 tcp dport 9002 dnat ip to 10.77.0.2:9002
add rule inet berth ctr-0123456789ab meta nfproto ipv6 tcp dport 9002 dnat ip6 to [fd00:77::2]:9002
"
        );
        assert_eq!(script(&sample(), &change), want);
    }

    #[test]
    fn ranges_with_the_same_numbers_are_one_rule() {
        let v4: IpAddr = "10.77.0.2".parse().unwrap();
        let maps: Vec<PortMapping> = (8000..=8010).map(|p| mapping(None, p, p, Protocol::Udp)).collect();
        let c = FwContainer { id: "c1".into(), forwards: forwards("n", &maps, Some(v4), None).unwrap() };
        assert_eq!(dnat_rules(&c), ["meta nfproto ipv4 udp dport 8000-8010 dnat ip to 10.77.0.2"]);
        let shifted: Vec<PortMapping> = (0..3).map(|i| mapping(None, 9000 + i, 8000 + i, Protocol::Tcp)).collect();
        let c = FwContainer { id: "c1".into(), forwards: forwards("n", &shifted, Some(v4), None).unwrap() };
        assert_eq!(dnat_rules(&c).len(), 3, "shifted ranges need a rule per port");
    }

    #[test]
    fn removing_deletes_only_that_containers_chain() {
        let change = Change { remove: vec!["0123456789ab".into()], ..Change::default() };
        let want = format!(
            "{BASE}\
add chain inet berth ctr-ba9876543210
add rule inet berth publish jump ctr-ba9876543210
add chain inet berth ctr-0123456789ab
delete chain inet berth ctr-0123456789ab
"
        );
        assert_eq!(script(&sample(), &change), want);
    }

    #[test]
    fn reload_recreates_everything() {
        let change = Change { recreate: true, ..Change::default() };
        let text = script(&sample(), &change);
        assert!(text.starts_with("add table inet berth\ndelete table inet berth\nadd table inet berth\n"));
        assert!(text.contains("add rule inet berth ctr-0123456789ab meta nfproto ipv4 tcp dport 8080"));
        assert!(text.contains(
            "add rule inet berth ctr-ba9876543210 meta nfproto ipv4 ip daddr 10.1.2.3 tcp dport 2222 dnat ip to \
             10.77.0.3:22"
        ));
        assert!(text.lines().all(|l| l.contains("inet berth")), "nothing outside berth's table");
    }

    #[test]
    fn an_empty_ruleset_deletes_the_table() {
        let text = script(&Ruleset::default(), &Change { recreate: true, ..Change::default() });
        assert_eq!(text, "add table inet berth\ndelete table inet berth\n");
        let one = Ruleset { networks: sample().networks[..1].to_vec(), containers: Vec::new() };
        let text = script(&one, &Change::default());
        assert!(text.contains("add element inet berth bridges { \"berth0\" }"), "{text}");
        assert!(!text.contains("publish jump"), "{text}");
    }

    #[test]
    fn forwards_follow_the_host_address_family() {
        let v4: Option<IpAddr> = Some("10.77.0.2".parse().unwrap());
        let m6 = mapping(Some("::1"), 80, 80, Protocol::Tcp);
        assert_eq!(
            forwards("n", &[m6], v4, None).unwrap_err().to_string(),
            "cannot publish port 80 on ::1: IPv6 loopback cannot be forwarded to a bridge network (publish on \
             127.0.0.1, or on every address)"
        );
        let m6 = mapping(Some("2001:db8::1"), 80, 80, Protocol::Tcp);
        assert_eq!(
            forwards("n", &[m6], v4, None).unwrap_err().to_string(),
            "cannot publish port 80 on 2001:db8::1: network n has no IPv6 subnet"
        );
        let all = mapping(None, 80, 80, Protocol::Tcp);
        assert_eq!(forwards("n", &[all], v4, None).unwrap().len(), 1, "every address: the families the container has");
    }
}
