//! A container's /etc/hosts, as Docker writes it: the localhost lines, `--add-host` entries
//! (`host-gateway` resolved to the host's address as the container sees it), `host.docker.internal`
//! and `host.containers.internal` for the host (as Podman adds them, unless the user named
//! them), then the container's own hostname on its addresses.

use std::fmt::Write;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostsError {
    #[error("bad format for add-host: {0:?}")]
    BadFormat(String),
    #[error("invalid IP address in add-host: {0:?}")]
    BadAddress(String),
    #[error("--add-host {0}:host-gateway: the container has no route to the host (its network has no gateway)")]
    NoGateway(String),
}

/// `--add-host`'s address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAddr {
    Ip(IpAddr),
    /// Docker's `host-gateway`: the host, as the container reaches it.
    HostGateway,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraHost {
    pub name: String,
    pub addr: HostAddr,
}

/// One `--add-host`: `NAME:ADDR` or `NAME=ADDR`, ADDR an IPv4 or IPv6 address (IPv6 may be
/// in brackets) or `host-gateway`.
pub fn parse_add_host(raw: &str) -> Result<ExtraHost, HostsError> {
    let (name, addr) = match raw.split_once('=') {
        Some(pair) => pair,
        None => raw.split_once(':').ok_or_else(|| HostsError::BadFormat(raw.to_owned()))?,
    };
    let valid_name = !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid_name || addr.is_empty() {
        return Err(HostsError::BadFormat(raw.to_owned()));
    }
    let addr = if addr == "host-gateway" {
        HostAddr::HostGateway
    } else {
        let bare = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr);
        HostAddr::Ip(bare.parse().map_err(|_| HostsError::BadAddress(addr.to_owned()))?)
    };
    Ok(ExtraHost { name: name.to_owned(), addr })
}

/// What a container's /etc/hosts is made of.
#[derive(Debug, Clone, Default)]
pub struct HostsInput<'a> {
    pub hostname: &'a str,
    /// `--domainname`: the hostname's entry becomes `host.domain host`.
    pub domainname: &'a str,
    /// The container's addresses, its first network's first.
    pub addresses: &'a [IpAddr],
    pub extra: &'a [ExtraHost],
    /// The host as the container reaches it: the bridge's gateway, pasta's mapped address,
    /// 127.0.0.1 with the host's network. `host-gateway` and the host.*.internal names.
    pub host_gateway: Option<IpAddr>,
    /// With `--network host`: the host's own /etc/hosts, which replaces the localhost lines.
    pub base: Option<&'a str>,
}

const LOCALHOST_LINES: &str = "127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
";

/// The names berth gives the host unless the user maps them.
pub const HOST_NAMES: [&str; 2] = ["host.docker.internal", "host.containers.internal"];

pub fn hosts_file(input: &HostsInput<'_>) -> Result<String, HostsError> {
    let mut out = match input.base {
        Some(base) if !base.is_empty() => {
            let mut b = base.to_owned();
            if !b.ends_with('\n') {
                b.push('\n');
            }
            b
        }
        _ => LOCALHOST_LINES.to_owned(),
    };
    for extra in input.extra {
        let addr = match extra.addr {
            HostAddr::Ip(ip) => ip,
            HostAddr::HostGateway => input.host_gateway.ok_or_else(|| HostsError::NoGateway(extra.name.clone()))?,
        };
        let _ = writeln!(out, "{addr}\t{}", extra.name);
    }
    if let Some(gateway) = input.host_gateway {
        let missing: Vec<&str> =
            HOST_NAMES.iter().copied().filter(|n| !input.extra.iter().any(|e| e.name == *n)).collect();
        if !missing.is_empty() {
            let _ = writeln!(out, "{gateway}\t{}", missing.join(" "));
        }
    }
    if !input.hostname.is_empty() {
        let names = if input.domainname.is_empty() {
            input.hostname.to_owned()
        } else {
            format!("{}.{} {}", input.hostname, input.domainname, input.hostname)
        };
        for addr in input.addresses {
            let _ = writeln!(out, "{addr}\t{names}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn add_host_forms() {
        let h = |raw| parse_add_host(raw).map_err(|e| e.to_string());
        assert_eq!(h("db:10.0.0.5"), Ok(ExtraHost { name: "db".into(), addr: HostAddr::Ip(ip("10.0.0.5")) }));
        assert_eq!(h("db=10.0.0.5"), Ok(ExtraHost { name: "db".into(), addr: HostAddr::Ip(ip("10.0.0.5")) }));
        assert_eq!(h("v6:2001:db8::1").unwrap().addr, HostAddr::Ip(ip("2001:db8::1")));
        assert_eq!(h("v6:[2001:db8::1]").unwrap().addr, HostAddr::Ip(ip("2001:db8::1")));
        assert_eq!(h("v6=[::1]").unwrap().addr, HostAddr::Ip(ip("::1")));
        assert_eq!(h("host.docker.internal:host-gateway").unwrap().addr, HostAddr::HostGateway);
        assert_eq!(h("nocolon"), Err("bad format for add-host: \"nocolon\"".into()));
        assert_eq!(h(":1.2.3.4"), Err("bad format for add-host: \":1.2.3.4\"".into()));
        assert_eq!(h("a b:1.2.3.4"), Err("bad format for add-host: \"a b:1.2.3.4\"".into()));
        assert_eq!(h("db:1.2.3"), Err("invalid IP address in add-host: \"1.2.3\"".into()));
        assert_eq!(h("db:"), Err("bad format for add-host: \"db:\"".into()));
    }

    #[test]
    fn a_bridge_containers_hosts_file() {
        let extra = [parse_add_host("db:10.0.0.5").unwrap(), parse_add_host("gw:host-gateway").unwrap()];
        let text = hosts_file(&HostsInput {
            hostname: "0123456789ab",
            addresses: &[ip("10.77.0.2"), ip("fd00::2")],
            extra: &extra,
            host_gateway: Some(ip("10.77.0.1")),
            ..HostsInput::default()
        })
        .unwrap();
        assert_eq!(
            text,
            "127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
10.0.0.5\tdb
10.77.0.1\tgw
10.77.0.1\thost.docker.internal host.containers.internal
10.77.0.2\t0123456789ab
fd00::2\t0123456789ab
"
        );
    }

    #[test]
    fn user_mappings_of_the_host_names_win_and_domains_qualify() {
        let extra = [parse_add_host("host.docker.internal:192.0.2.1").unwrap()];
        let text = hosts_file(&HostsInput {
            hostname: "web",
            domainname: "example.test",
            addresses: &[ip("10.77.0.2")],
            extra: &extra,
            host_gateway: Some(ip("10.77.0.1")),
            ..HostsInput::default()
        })
        .unwrap();
        assert!(text.contains("192.0.2.1\thost.docker.internal\n10.77.0.1\thost.containers.internal\n"), "{text}");
        assert!(text.ends_with("10.77.0.2\tweb.example.test web\n"), "{text}");
    }

    #[test]
    fn host_gateway_needs_a_gateway_and_host_networks_start_from_the_hosts_file() {
        let extra = [parse_add_host("gw:host-gateway").unwrap()];
        let err = hosts_file(&HostsInput { hostname: "x", extra: &extra, ..HostsInput::default() }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--add-host gw:host-gateway: the container has no route to the host (its network has no gateway)"
        );
        let text = hosts_file(&HostsInput {
            base: Some("127.0.0.1 localhost\n192.0.2.9 myhost"),
            host_gateway: Some(ip("127.0.0.1")),
            ..HostsInput::default()
        })
        .unwrap();
        assert_eq!(
            text,
            "127.0.0.1 localhost\n192.0.2.9 myhost\n127.0.0.1\thost.docker.internal host.containers.internal\n"
        );
    }
}
