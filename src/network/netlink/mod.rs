//! Configuring links, addresses and routes over NETLINK_ROUTE, with a small codec of berth's
//! own rather than netlink-packet-route + netlink-sys (what netavark uses): berth sends eight
//! kinds of request (and asks nftables one question, `nftables.rs`) and reads back only acknowledgements and link dumps, which takes a few
//! hundred lines here against 14 more crates (a 37 s cold build on this 2-core machine) there;
//! and every length in a reply is checked where it is read, so nothing the kernel sends can
//! make it panic.

mod address;
pub mod codec;
pub mod link;
pub mod nftables;
mod socket;

pub use link::{MAX_IFNAME, Mac, VethEnd, format_mac, parse_mac, random_mac};
pub use socket::{Netlink, NetlinkError};
