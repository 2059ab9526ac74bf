//! Holding a container's published host ports: for each one a socket bound to it (never
//! listening: the firewall's DNAT sends the traffic to the container before any socket could
//! see it), kept open by the container's supervisor for the container's life. A port that
//! something else holds fails here, at `run`, with `address already in use` and the port, not
//! later; and nothing else can take the port while the container runs. (Podman does the same
//! for root containers.)
//!
//! Rootless, pasta binds the host ports itself, so the ports are only probed (bound and
//! released at once) for the early, clear error; random ports are chosen the same way.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6, SockaddrLike, SockaddrStorage, bind, getsockname,
    setsockopt, socket, sockopt,
};

use super::ports::{PortMapping, Protocol, PublishSpec};
use crate::sandbox::process::errno_text;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    /// Go's wording, which Docker and Podman print for this.
    #[error("listen {}{} {addr}: bind: {}", protocol, if addr.is_ipv4() { "4" } else { "6" }, errno_text(*errno))]
    Bind { protocol: Protocol, addr: SocketAddr, errno: Errno },
    #[error(
        "cannot publish port {port} rootless: ports below {start} need privileges (allow them with `sysctl \
         net.ipv4.ip_unprivileged_port_start={port}`)"
    )]
    Privileged { port: u16, start: u16 },
    #[error("no free host port in {range} for container port {container}/{protocol}")]
    NoFreePort { range: String, container: u16, protocol: Protocol },
    #[error("creating a socket: {}", errno_text(*.0))]
    Socket(Errno),
}

/// Whether the sockets are kept (root) or only tried (rootless, pasta binds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Hold,
    Probe,
}

/// The resolved mappings and, in [`Mode::Hold`], the sockets that hold them.
#[derive(Debug, Default)]
pub struct Reservation {
    pub mappings: Vec<PortMapping>,
    pub sockets: Vec<OwnedFd>,
}

/// The lowest port an unprivileged process may bind (net.ipv4.ip_unprivileged_port_start;
/// 1024 when unreadable).
pub fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1024)
}

/// Binds one socket to `addr` (port 0: the kernel picks); returns it and its port.
fn bind_one(protocol: Protocol, addr: SocketAddr) -> Result<(OwnedFd, u16), ReserveError> {
    let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let kind = match protocol {
        Protocol::Tcp => SockType::Stream,
        Protocol::Udp => SockType::Datagram,
    };
    let fd = socket(family, kind, SockFlag::SOCK_CLOEXEC, None).map_err(ReserveError::Socket)?;
    if addr.is_ipv6() {
        // [::]:P holds only the IPv6 side; 0.0.0.0:P is bound separately.
        setsockopt(&fd, sockopt::Ipv6V6Only, &true).map_err(ReserveError::Socket)?;
    }
    let result = match addr {
        SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a)),
        SocketAddr::V6(a) => bind(fd.as_raw_fd(), &SockaddrIn6::from(a)),
    };
    result.map_err(|errno| ReserveError::Bind { protocol, addr, errno })?;
    let bound: SockaddrStorage = getsockname(fd.as_raw_fd()).map_err(ReserveError::Socket)?;
    let port = bound.as_sockaddr_in().map(|a| a.port()).or_else(|| bound.as_sockaddr_in6().map(|a| a.port()));
    debug_assert!(bound.len() > 0);
    Ok((fd, port.unwrap_or(addr.port())))
}

/// Binds `port` (0: any) on `host_ip`, or on 0.0.0.0 and [::] when None (the IPv6 one skipped
/// where the host has no IPv6); returns the sockets and the port.
fn bind_port(protocol: Protocol, host_ip: Option<IpAddr>, port: u16) -> Result<(Vec<OwnedFd>, u16), ReserveError> {
    if let Some(ip) = host_ip {
        let (fd, port) = bind_one(protocol, SocketAddr::new(ip, port))?;
        return Ok((vec![fd], port));
    }
    let (v4, port) = bind_one(protocol, SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))?;
    match bind_one(protocol, SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)) {
        Ok((v6, _)) => Ok((vec![v4, v6], port)),
        Err(ReserveError::Socket(Errno::EAFNOSUPPORT)) => Ok((vec![v4], port)),
        Err(ReserveError::Bind { errno: Errno::EADDRNOTAVAIL | Errno::EAFNOSUPPORT, .. }) => Ok((vec![v4], port)),
        Err(e) => Err(e),
    }
}

/// A random free port (both families when `host_ip` is None): a port free on IPv4 may be
/// taken on IPv6, so that is retried a few times with another port.
fn bind_random(protocol: Protocol, host_ip: Option<IpAddr>) -> Result<(Vec<OwnedFd>, u16), ReserveError> {
    let mut last = None;
    for _ in 0..16 {
        match bind_port(protocol, host_ip, 0) {
            Ok(found) => return Ok(found),
            Err(e @ ReserveError::Bind { errno: Errno::EADDRINUSE, .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("the loop ran"))
}

/// Resolves and binds every port of `specs`. `rootless` adds the privileged-port check (root
/// binds any port).
pub fn reserve(specs: &[PublishSpec], mode: Mode, rootless: bool) -> Result<Reservation, ReserveError> {
    let start = if rootless { unprivileged_port_start() } else { 0 };
    let mut out = Reservation::default();
    let keep = |out: &mut Reservation, spec: &PublishSpec, fds: Vec<OwnedFd>, host: u16, container: u16| {
        out.mappings.push(PortMapping {
            host_ip: spec.host_ip,
            host_port: host,
            container_port: container,
            protocol: spec.protocol,
        });
        if mode == Mode::Hold {
            out.sockets.extend(fds);
        }
    };
    for spec in specs {
        let protocol = spec.protocol;
        match spec.host_ports {
            None => {
                for container in spec.container_ports.ports() {
                    let (fds, host) = bind_random(protocol, spec.host_ip)?;
                    keep(&mut out, spec, fds, host, container);
                }
            }
            Some(hosts) if hosts.len() == spec.container_ports.len() => {
                if hosts.start < start {
                    return Err(ReserveError::Privileged { port: hosts.start, start });
                }
                for (host, container) in hosts.ports().zip(spec.container_ports.ports()) {
                    let (fds, _) = bind_port(protocol, spec.host_ip, host)?;
                    keep(&mut out, spec, fds, host, container);
                }
            }
            Some(hosts) => {
                // One container port, a range of host ports: the first free one.
                let container = spec.container_ports.start;
                let mut found = None;
                for host in hosts.ports().filter(|p| *p >= start) {
                    match bind_port(protocol, spec.host_ip, host) {
                        Ok((fds, _)) => {
                            found = Some((fds, host));
                            break;
                        }
                        Err(ReserveError::Bind { errno: Errno::EADDRINUSE, .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
                let Some((fds, host)) = found else {
                    if hosts.end < start {
                        return Err(ReserveError::Privileged { port: hosts.start, start });
                    }
                    return Err(ReserveError::NoFreePort { range: hosts.to_string(), container, protocol });
                };
                keep(&mut out, spec, fds, host, container);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::ports::parse_publish;

    fn specs(raw: &[&str]) -> Vec<PublishSpec> {
        raw.iter().map(|r| parse_publish(r).unwrap()).collect()
    }

    #[test]
    fn a_held_port_cannot_be_taken_twice() {
        let first = reserve(&specs(&["127.0.0.1::80"]), Mode::Hold, false).unwrap();
        let port = first.mappings[0].host_port;
        assert_ne!(port, 0);
        assert_eq!(first.sockets.len(), 1);
        let err = reserve(&specs(&[&format!("127.0.0.1:{port}:80")]), Mode::Hold, false).unwrap_err();
        assert_eq!(err.to_string(), format!("listen tcp4 127.0.0.1:{port}: bind: address already in use"));
        // UDP is another port space.
        let udp = reserve(&specs(&[&format!("127.0.0.1:{port}:80/udp")]), Mode::Hold, false).unwrap();
        assert_eq!(udp.mappings[0].host_port, port);
        drop(first);
        reserve(&specs(&[&format!("127.0.0.1:{port}:80")]), Mode::Hold, false).expect("free again once released");
    }

    #[test]
    fn every_address_means_both_families_and_probing_holds_nothing() {
        let held = reserve(&specs(&["90"]), Mode::Hold, false).unwrap();
        let port = held.mappings[0].host_port;
        assert!(held.sockets.len() <= 2 && !held.sockets.is_empty());
        let err = reserve(&specs(&[&format!("{port}:90")]), Mode::Probe, false).unwrap_err();
        assert!(err.to_string().ends_with(&format!(":{port}: bind: address already in use")), "{err}");
        drop(held);
        let probed = reserve(&specs(&[&format!("{port}:90")]), Mode::Probe, false).unwrap();
        assert!(probed.sockets.is_empty());
        assert_eq!(
            probed.mappings[0],
            PortMapping { host_ip: None, host_port: port, container_port: 90, protocol: Protocol::Tcp }
        );
    }

    #[test]
    fn ranges_map_one_to_one_or_pick_a_free_port() {
        let taken = reserve(&specs(&["127.0.0.1::1"]), Mode::Hold, false).unwrap();
        let p = taken.mappings[0].host_port;
        if p > 65000 {
            return; // no room above it for the range below
        }
        let got = reserve(&specs(&[&format!("127.0.0.1:{p}-{}:80", p + 3)]), Mode::Probe, false).unwrap();
        assert!(got.mappings[0].host_port > p, "the held port is skipped: {:?}", got.mappings);
        let err = reserve(&specs(&[&format!("127.0.0.1:{p}-{p}:80")]), Mode::Probe, false).unwrap_err();
        assert!(err.to_string().contains("address already in use"), "{err}");
        let range = reserve(&specs(&[&format!("127.0.0.1:{}-{}:7000-7002", p + 1, p + 3)]), Mode::Probe, false);
        if let Ok(range) = range {
            let pairs: Vec<(u16, u16)> = range.mappings.iter().map(|m| (m.host_port, m.container_port)).collect();
            assert_eq!(pairs, vec![(p + 1, 7000), (p + 2, 7001), (p + 3, 7002)]);
        }
    }

    #[test]
    fn rootless_ports_below_the_unprivileged_start_are_refused_clearly() {
        let start = unprivileged_port_start();
        if start == 0 {
            return; // every port is unprivileged on this host
        }
        let port = start - 1;
        let err = reserve(&specs(&[&format!("{port}:80")]), Mode::Probe, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot publish port {port} rootless: ports below {start} need privileges (allow them with `sysctl \
                 net.ipv4.ip_unprivileged_port_start={port}`)"
            )
        );
    }
}
