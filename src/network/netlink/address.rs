//! Addresses and routes.

use std::net::IpAddr;

use super::codec::{
    AF_INET, AF_INET6, IFA_ADDRESS, IFA_BROADCAST, IFA_F_NODAD, IFA_LOCAL, NLM_F_CREATE, NLM_F_REPLACE, RTA_GATEWAY,
    RTA_OIF, RTM_NEWADDR, RTM_NEWROUTE, Request, ifaddrmsg, rtmsg,
};
use super::socket::{Netlink, NetlinkError};
use crate::network::subnet::Subnet;

fn family(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { AF_INET } else { AF_INET6 }
}

fn octets(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

impl Netlink {
    /// Gives link `index` the address `addr/prefix` (again, if it has it: replaced, so this is
    /// idempotent). IPv6 addresses skip duplicate address detection, so they work at once.
    pub fn add_address(&mut self, index: u32, name: &str, addr: IpAddr, prefix: u8) -> Result<(), NetlinkError> {
        let flags = if addr.is_ipv4() { 0 } else { IFA_F_NODAD };
        let mut request = Request::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE)
            .header(&ifaddrmsg(family(addr), prefix, flags, index))
            .attr(IFA_LOCAL, &octets(addr))
            .attr(IFA_ADDRESS, &octets(addr));
        if let Some(broadcast) = Subnet::containing(addr, prefix).broadcast().filter(|_| prefix < 31) {
            request = request.attr(IFA_BROADCAST, &octets(broadcast));
        }
        self.execute(request, || format!("adding address {addr}/{prefix} to {name}"))
    }

    /// Adds a default route (IPv4 or IPv6, after `gateway`'s family) through `gateway` on link
    /// `index`.
    pub fn add_default_route(&mut self, index: u32, gateway: IpAddr) -> Result<(), NetlinkError> {
        let request = Request::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE)
            .header(&rtmsg(family(gateway), 0))
            .attr(RTA_GATEWAY, &octets(gateway))
            .attr_u32(RTA_OIF, index);
        self.execute(request, || format!("adding a default route through {gateway}"))
    }
}
