//! The kernel side of a bridge network, over netlink: the bridge with its gateway addresses,
//! and per container a veth pair whose host end is a bridge port and whose other end is born
//! inside the container's network namespace, configured there through a netlink socket opened
//! in that namespace (the caller never runs in it).

use std::net::IpAddr;
use std::os::fd::BorrowedFd;

use super::netlink::{Mac, Netlink, NetlinkError, VethEnd};

/// A bridge as a network needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    /// The gateway addresses with their prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    pub mtu: Option<u32>,
}

/// The container's end of one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLink {
    /// The host end's name (on the bridge).
    pub host_veth: String,
    /// The container end's name ("eth0").
    pub ifname: String,
    pub mac: Mac,
    pub mtu: Option<u32>,
    pub addresses: Vec<(IpAddr, u8)>,
    /// Default routes through these (none on `--internal` networks).
    pub gateways: Vec<IpAddr>,
}

/// Makes sure the bridge exists, has its addresses and is up; returns its index. Safe to call
/// for a bridge that exists already, also from two processes at once.
pub fn ensure_bridge(host: &mut Netlink, spec: &BridgeSpec) -> Result<u32, NetlinkError> {
    if host.link_by_name(&spec.name)?.is_none() {
        match host.create_bridge(&spec.name, spec.mtu, None) {
            Err(e) if e.errno != nix::errno::Errno::EEXIST => return Err(e),
            _ => {}
        }
    }
    let index = host.index_of(&spec.name)?;
    for (addr, prefix) in &spec.addresses {
        host.add_address(index, &spec.name, *addr, *prefix)?;
    }
    host.set_up(index, &spec.name)?;
    Ok(index)
}

/// Creates the veth pair of `link`, puts its host end on bridge `bridge_index`, and configures
/// the container end in `container_netns`: addresses, up, loopback up, default routes. On an
/// error the pair is deleted again (deleting one end deletes both).
pub fn attach_container(
    host: &mut Netlink,
    bridge_index: u32,
    container_netns: BorrowedFd<'_>,
    link: &ContainerLink,
) -> Result<(), NetlinkError> {
    let host_end = VethEnd { name: link.host_veth.clone(), mtu: link.mtu, mac: None };
    let peer = VethEnd { name: link.ifname.clone(), mtu: link.mtu, mac: Some(link.mac) };
    host.create_veth(&host_end, &peer, container_netns)?;
    let result = (|| {
        let index = host.index_of(&link.host_veth)?;
        host.set_master(index, &link.host_veth, bridge_index)?;
        host.set_up(index, &link.host_veth)?;
        configure_inside(container_netns, link)
    })();
    if result.is_err() {
        let _ = host.delete_link(&link.host_veth);
    }
    result
}

fn configure_inside(container_netns: BorrowedFd<'_>, link: &ContainerLink) -> Result<(), NetlinkError> {
    let mut inside = Netlink::open_in(container_netns)?;
    let index = inside.index_of(&link.ifname)?;
    for (addr, prefix) in &link.addresses {
        inside.add_address(index, &link.ifname, *addr, *prefix)?;
    }
    inside.set_up(index, &link.ifname)?;
    let lo = inside.index_of("lo")?;
    inside.set_up(lo, "lo")?;
    for gateway in &link.gateways {
        inside.add_default_route(index, *gateway)?;
    }
    Ok(())
}

/// Deletes a container's host-side veth (its peer goes with it); nothing there is fine.
pub fn detach_container(host: &mut Netlink, host_veth: &str) -> Result<(), NetlinkError> {
    host.delete_link(host_veth).map(drop)
}

/// Deletes a bridge once nothing is attached to it; nothing there is fine. Returns whether it
/// is gone: a bridge with ports left (another store's container, say) is kept.
pub fn remove_bridge_if_unused(host: &mut Netlink, name: &str) -> Result<bool, NetlinkError> {
    let Some(bridge) = host.link_by_name(name)? else { return Ok(true) };
    let index = u32::try_from(bridge.index).unwrap_or(0);
    if host.links()?.iter().any(|l| l.master == Some(index)) {
        return Ok(false);
    }
    host.delete_link(name).map(|_| true)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::os::fd::AsFd;

    use super::*;
    use crate::network::netlink::random_mac;
    use crate::network::test_support::require_root;
    use crate::sandbox::netns::{in_netns, in_new_netns};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_bridge_and_a_veth_carry_tcp_between_two_namespaces() {
        if !require_root("creating network namespaces, a bridge and a veth pair") {
            return;
        }
        // A throwaway "host" and "container", both private to this test.
        let host_ns = in_new_netns(|ns| ns).unwrap();
        let ctr_ns = in_new_netns(|ns| ns).unwrap();
        let bridge = BridgeSpec { name: "berthtest0".into(), addresses: vec![(ip("10.99.0.1"), 24)], mtu: Some(1400) };
        let link = ContainerLink {
            host_veth: "vethtest0".into(),
            ifname: "eth0".into(),
            mac: random_mac(),
            mtu: Some(1400),
            addresses: vec![(ip("10.99.0.2"), 24), (ip("fd99::2"), 64)],
            gateways: vec![ip("10.99.0.1")],
        };
        let ctr = ctr_ns.as_fd();
        in_netns(host_ns.as_fd(), || {
            let mut host = Netlink::open().unwrap();
            let index = ensure_bridge(&mut host, &bridge).unwrap();
            assert_eq!(ensure_bridge(&mut host, &bridge).unwrap(), index, "ensuring twice changes nothing");
            attach_container(&mut host, index, ctr, &link).unwrap();
            let err = attach_container(&mut host, index, ctr, &link).unwrap_err();
            assert_eq!(err.errno, nix::errno::Errno::EEXIST, "{err}");
            assert!(host.link_by_name("vethtest0").unwrap().is_some(), "a failed second attach left the first alone");
            assert!(!remove_bridge_if_unused(&mut host, "berthtest0").unwrap(), "the bridge has a port");
        })
        .unwrap();
        let mut inside = Netlink::open_in(ctr).unwrap();
        let eth0 = inside.link_by_name("eth0").unwrap().expect("eth0 was born in the container's namespace");
        assert_ne!(eth0.flags & super::super::netlink::codec::IFF_UP, 0);

        let listener = in_netns(host_ns.as_fd(), || TcpListener::bind("10.99.0.1:0").unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = in_netns(ctr, || TcpStream::connect(SocketAddr::new(ip("10.99.0.1"), port)).unwrap()).unwrap();
        client.write_all(b"hello through the bridge").unwrap();
        drop(client);
        let (mut conn, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), ip("10.99.0.2"));
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello through the bridge");

        in_netns(host_ns.as_fd(), || {
            let mut host = Netlink::open().unwrap();
            detach_container(&mut host, "vethtest0").unwrap();
            detach_container(&mut host, "vethtest0").unwrap();
            assert!(remove_bridge_if_unused(&mut host, "berthtest0").unwrap());
            assert!(host.link_by_name("berthtest0").unwrap().is_none());
            assert!(remove_bridge_if_unused(&mut host, "berthtest0").unwrap());
        })
        .unwrap();
        assert!(inside.link_by_name("eth0").unwrap().is_none(), "the peer went with its host end");
    }
}
