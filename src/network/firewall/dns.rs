//! Docker's trick for the embedded DNS responder, in the container's own network namespace: the
//! responder listens on 127.0.0.11 at ports the kernel chose, and a NAT rule sends what the
//! container's resolver sends to 127.0.0.11:53 there (replies are translated back by conntrack).
//! So the container's own programs can still bind port 53, on any address.

use std::net::Ipv4Addr;

/// The address containers on user-defined networks use as their nameserver.
pub const RESOLVER_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

pub const DNS_TABLE: &str = "ip berth-dns";

/// The script for the container's namespace: DNAT of 127.0.0.11:53 to the responder's ports.
pub fn dns_nat_script(udp_port: u16, tcp_port: u16) -> String {
    format!(
        "add table {DNS_TABLE}
add chain {DNS_TABLE} output {{ type nat hook output priority -100; policy accept; }}
flush chain {DNS_TABLE} output
add rule {DNS_TABLE} output ip daddr {RESOLVER_ADDR} udp dport 53 dnat to {RESOLVER_ADDR}:{udp_port}
add rule {DNS_TABLE} output ip daddr {RESOLVER_ADDR} tcp dport 53 dnat to {RESOLVER_ADDR}:{tcp_port}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nat_rules_point_port_53_at_the_responder() {
        assert_eq!(
            dns_nat_script(40001, 40002),
            "add table ip berth-dns
add chain ip berth-dns output { type nat hook output priority -100; policy accept; }
flush chain ip berth-dns output
add rule ip berth-dns output ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:40001
add rule ip berth-dns output ip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:40002
"
        );
    }
}
