//! Links: look up, create (bridge, veth pair with its peer born in another namespace), set up,
//! enslave, delete.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use super::codec::{
    AF_UNSPEC, IFF_UP, IFLA_ADDRESS, IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINKINFO, IFLA_MASTER, IFLA_MTU,
    IFLA_NET_NS_FD, LinkInfo, NLM_F_CREATE, NLM_F_EXCL, RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, Request, VETH_INFO_PEER,
    ifinfomsg, parse_link,
};
use super::socket::{Netlink, NetlinkError};

/// The longest interface name Linux takes (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// A MAC address.
pub type Mac = [u8; 6];

/// "02:42:0a:4d:00:02".
pub fn format_mac(mac: &Mac) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Six colon-separated hex bytes; None otherwise.
pub fn parse_mac(text: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// A random unicast, locally administered MAC address.
pub fn random_mac() -> Mac {
    let mut mac: Mac = rand::random();
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// One end of a veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethEnd {
    pub name: String,
    pub mtu: Option<u32>,
    pub mac: Option<Mac>,
}

fn link_attrs(mut request: Request, end: &VethEnd) -> Request {
    request = request.attr_str(IFLA_IFNAME, &end.name);
    if let Some(mtu) = end.mtu {
        request = request.attr_u32(IFLA_MTU, mtu);
    }
    if let Some(mac) = end.mac {
        request = request.attr(IFLA_ADDRESS, &mac);
    }
    request
}

impl Netlink {
    /// The link called `name` in this socket's namespace, if there is one.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<LinkInfo>, NetlinkError> {
        let request = Request::new(RTM_GETLINK, 0).header(&ifinfomsg(AF_UNSPEC, 0, 0, 0)).attr_str(IFLA_IFNAME, name);
        match self.dump(request, || format!("looking up link {name}")) {
            Ok(replies) => Ok(replies.iter().filter_map(|p| parse_link(p)).find(|l| l.name == name)),
            Err(e) if e.errno == Errno::ENODEV => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link in this socket's namespace.
    pub fn links(&mut self) -> Result<Vec<LinkInfo>, NetlinkError> {
        let request = Request::new(RTM_GETLINK, 0).header(&ifinfomsg(AF_UNSPEC, 0, 0, 0));
        Ok(self.dump(request, || "listing links".to_owned())?.iter().filter_map(|p| parse_link(p)).collect())
    }

    /// The index of link `name`, which must exist.
    pub fn index_of(&mut self, name: &str) -> Result<u32, NetlinkError> {
        let link = self.link_by_name(name)?.ok_or_else(|| NetlinkError::new(format!("link {name}"), Errno::ENODEV))?;
        u32::try_from(link.index).map_err(|_| NetlinkError::new(format!("link {name}"), Errno::EINVAL))
    }

    /// Creates a bridge (down, no addresses).
    pub fn create_bridge(&mut self, name: &str, mtu: Option<u32>, mac: Option<Mac>) -> Result<(), NetlinkError> {
        let request = Request::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).header(&ifinfomsg(AF_UNSPEC, 0, 0, 0));
        let request = link_attrs(request, &VethEnd { name: name.to_owned(), mtu, mac })
            .begin_nest(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "bridge")
            .end_nest();
        self.execute(request, || format!("creating bridge {name}"))
    }

    /// Creates a veth pair: `host` in this socket's namespace, `peer` directly in the
    /// namespace `peer_netns` (it never exists on the host, so its name cannot clash there).
    pub fn create_veth(
        &mut self,
        host: &VethEnd,
        peer: &VethEnd,
        peer_netns: BorrowedFd<'_>,
    ) -> Result<(), NetlinkError> {
        let request = Request::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).header(&ifinfomsg(AF_UNSPEC, 0, 0, 0));
        let request = link_attrs(request, host)
            .begin_nest(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .begin_nest(IFLA_INFO_DATA)
            .begin_nest(VETH_INFO_PEER)
            .header(&ifinfomsg(AF_UNSPEC, 0, 0, 0));
        let fd = u32::try_from(peer_netns.as_raw_fd()).expect("an open fd is not negative");
        let request = link_attrs(request, peer).attr_u32(IFLA_NET_NS_FD, fd).end_nest().end_nest().end_nest();
        self.execute(request, || format!("creating veth pair {} and {}", host.name, peer.name))
    }

    /// Brings link `index` up.
    pub fn set_up(&mut self, index: u32, name: &str) -> Result<(), NetlinkError> {
        let header = ifinfomsg(AF_UNSPEC, index as i32, IFF_UP, IFF_UP);
        self.execute(Request::new(RTM_NEWLINK, 0).header(&header), || format!("bringing {name} up"))
    }

    /// Makes link `index` a port of bridge `master`.
    pub fn set_master(&mut self, index: u32, name: &str, master: u32) -> Result<(), NetlinkError> {
        let request = Request::new(RTM_NEWLINK, 0)
            .header(&ifinfomsg(AF_UNSPEC, index as i32, 0, 0))
            .attr_u32(IFLA_MASTER, master);
        self.execute(request, || format!("adding {name} to its bridge"))
    }

    /// Deletes link `name`; Ok(false) when there was none.
    pub fn delete_link(&mut self, name: &str) -> Result<bool, NetlinkError> {
        let request = Request::new(RTM_DELLINK, 0).header(&ifinfomsg(AF_UNSPEC, 0, 0, 0)).attr_str(IFLA_IFNAME, name);
        match self.execute(request, || format!("deleting link {name}")) {
            Ok(()) => Ok(true),
            Err(e) if e.errno == Errno::ENODEV => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_format_and_parse() {
        let mac = [0x02, 0x42, 0x0a, 0x4d, 0x00, 0x02];
        assert_eq!(format_mac(&mac), "02:42:0a:4d:00:02");
        assert_eq!(parse_mac("02:42:0a:4d:00:02"), Some(mac));
        for bad in ["", "02:42:0a:4d:00", "02:42:0a:4d:00:02:03", "2:42:0a:4d:00:02", "zz:42:0a:4d:00:02"] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        let random = random_mac();
        assert_eq!(random[0] & 0x03, 0x02, "unicast and locally administered");
    }
}
