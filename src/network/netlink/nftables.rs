//! The one nftables question berth asks in-process, over NETLINK_NETFILTER: does a table
//! exist? Attaching or detaching a container without published ports changes nothing in
//! berth's table, so no `nft` process runs then; this check (a few microseconds, against
//! 10-30 ms for starting `nft`) is what tells it the table is really there, so that after an
//! `nft flush ruleset` the next container brings the whole table back.
//!
//! The constants are the kernel's ABI (include/uapi/linux/netfilter/{nfnetlink,nf_tables}.h).

use nix::errno::Errno;

use super::codec::Request;
use super::socket::{Netlink, NetlinkError};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETTABLE: u16 = 1;
const NFTA_TABLE_NAME: u16 = 1;
const NFNETLINK_V0: u8 = 0;
pub const NFPROTO_INET: u8 = 1;

/// struct nfgenmsg: family, version, resource id (big-endian; 0 here).
fn nfgenmsg(family: u8) -> [u8; 4] {
    [family, NFNETLINK_V0, 0, 0]
}

fn get_table(family: u8, name: &str) -> Request {
    Request::new((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, 0)
        .header(&nfgenmsg(family))
        .attr_str(NFTA_TABLE_NAME, name)
}

impl Netlink {
    /// Whether table `name` of `family` (NFPROTO_*) exists in this socket's namespace. Needs a
    /// NETLINK_NETFILTER socket ([`Netlink::open_netfilter`]) and CAP_NET_ADMIN.
    pub fn nft_table_exists(&mut self, family: u8, name: &str) -> Result<bool, NetlinkError> {
        // The kernel answers with the table (ignored) and then the acknowledgement, or ENOENT.
        match self.execute(get_table(family, name), || format!("looking up nftables table {name}")) {
            Ok(()) => Ok(true),
            Err(e) if e.errno == Errno::ENOENT => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_laid_out_as_nfnetlink_reads_it() {
        let bytes = get_table(NFPROTO_INET, "berth").finish(7);
        // Header: length, type 0x0a01, flags NLM_F_REQUEST, seq 7, pid 0.
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize, bytes.len());
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 0x0a01);
        assert_eq!(u16::from_ne_bytes([bytes[6], bytes[7]]), 1);
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        assert_eq!(&bytes[16..20], &[NFPROTO_INET, 0, 0, 0]);
        // NFTA_TABLE_NAME "berth\0", padded to 4 bytes.
        assert_eq!(&bytes[20..24], &[10, 0, 1, 0]);
        assert_eq!(&bytes[24..32], b"berth\0\0\0");
        assert_eq!(bytes.len(), 32);
    }
}
