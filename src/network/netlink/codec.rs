//! The rtnetlink wire format, as far as berth needs it: a message header, a fixed family
//! header (ifinfomsg, ifaddrmsg, rtmsg), then type-length-value attributes, each padded to 4
//! bytes, some nested. Requests are built into one buffer; replies are walked with bounds
//! checks only (a short or inconsistent length ends the walk, never panics).
//!
//! The constants are the kernel's ABI (include/uapi/linux/{netlink,rtnetlink,if_link,
//! if_addr}.h); they never change.

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_NEWROUTE: u16 = 24;

pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;
pub const IFLA_MASTER: u16 = 10;
pub const IFLA_LINKINFO: u16 = 18;
pub const IFLA_NET_NS_FD: u16 = 28;
pub const IFLA_INFO_KIND: u16 = 1;
pub const IFLA_INFO_DATA: u16 = 2;
pub const VETH_INFO_PEER: u16 = 1;

pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_BROADCAST: u16 = 4;
/// No duplicate address detection: an IPv6 address is usable at once, not "tentative" for a
/// second or two.
pub const IFA_F_NODAD: u8 = 0x02;

pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RT_TABLE_MAIN: u8 = 254;
pub const RTPROT_BOOT: u8 = 3;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RTN_UNICAST: u8 = 1;

pub const IFF_UP: u32 = 0x1;
pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

const HEADER_LEN: usize = 16;
const ATTR_HEADER_LEN: usize = 4;

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// A request being built: header, family header, attributes.
#[derive(Debug, Clone)]
pub struct Request {
    buf: Vec<u8>,
    open_nests: Vec<usize>,
}

impl Request {
    pub fn new(kind: u16, flags: u16) -> Request {
        let mut buf = vec![0u8; HEADER_LEN];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        Request { buf, open_nests: Vec::new() }
    }

    /// Adds `flags` to the header's flags.
    pub fn with_flags(mut self, flags: u16) -> Request {
        let old = u16::from_ne_bytes([self.buf[6], self.buf[7]]);
        self.buf[6..8].copy_from_slice(&(old | flags).to_ne_bytes());
        self
    }

    /// Appends a family header (its own size is a multiple of 4).
    pub fn header(mut self, bytes: &[u8]) -> Request {
        self.buf.extend_from_slice(bytes);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    pub fn attr(mut self, kind: u16, payload: &[u8]) -> Request {
        let len = u16::try_from(ATTR_HEADER_LEN + payload.len()).expect("a netlink attribute fits 64 KiB");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    pub fn attr_u32(self, kind: u16, value: u32) -> Request {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// A NUL-terminated string attribute (interface names, link kinds).
    pub fn attr_str(self, kind: u16, value: &str) -> Request {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.attr(kind, &bytes)
    }

    /// Opens a nested attribute; everything up to the matching [`Request::end_nest`] is inside.
    pub fn begin_nest(mut self, kind: u16) -> Request {
        self.open_nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self
    }

    pub fn end_nest(mut self) -> Request {
        let start = self.open_nests.pop().expect("end_nest matches a begin_nest");
        let len = u16::try_from(self.buf.len() - start).expect("a netlink attribute fits 64 KiB");
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// The finished message with its sequence number.
    pub fn finish(mut self, seq: u32) -> Vec<u8> {
        assert!(self.open_nests.is_empty(), "every nest is closed");
        let len = u32::try_from(self.buf.len()).expect("a netlink message fits 4 GiB");
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// struct ifinfomsg.
pub fn ifinfomsg(family: u8, index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = family;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// struct ifaddrmsg.
pub fn ifaddrmsg(family: u8, prefix_len: u8, flags: u8, index: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = family;
    b[1] = prefix_len;
    b[2] = flags;
    b[3] = RT_SCOPE_UNIVERSE;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b
}

/// struct rtmsg for a unicast route in the main table.
pub fn rtmsg(family: u8, dst_len: u8) -> [u8; 12] {
    [family, dst_len, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0, 0, 0, 0]
}

/// One message of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// The messages in one datagram; stops at the first malformed one.
pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    std::iter::from_fn(move || {
        if buf.len() < HEADER_LEN {
            return None;
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        if len < HEADER_LEN || len > buf.len() {
            return None;
        }
        let message = Message {
            kind: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes(buf[8..12].try_into().ok()?),
            payload: &buf[HEADER_LEN..len],
        };
        buf = &buf[align(len).min(buf.len())..];
        Some(message)
    })
}

/// The attributes in `buf` as (type, payload), nested flag bits cleared; stops at the first
/// malformed one.
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < ATTR_HEADER_LEN {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        if len < ATTR_HEADER_LEN || len > buf.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        let payload = &buf[ATTR_HEADER_LEN..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((kind, payload))
    })
}

/// An NLMSG_ERROR payload's error: 0 for an acknowledgement, else a negative errno.
pub fn error_code(payload: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(payload.get(0..4)?.try_into().ok()?))
}

/// What a link message says of a link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkInfo {
    pub index: i32,
    pub name: String,
    /// The index of the bridge it is enslaved to.
    pub master: Option<u32>,
    pub flags: u32,
}

/// Parses an RTM_NEWLINK payload (ifinfomsg + attributes).
pub fn parse_link(payload: &[u8]) -> Option<LinkInfo> {
    let header = payload.get(0..16)?;
    let mut info = LinkInfo {
        index: i32::from_ne_bytes(header[4..8].try_into().ok()?),
        flags: u32::from_ne_bytes(header[8..12].try_into().ok()?),
        ..LinkInfo::default()
    };
    for (kind, value) in attrs(&payload[16..]) {
        match kind {
            IFLA_IFNAME => {
                let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
                info.name = String::from_utf8_lossy(&value[..end]).into_owned();
            }
            IFLA_MASTER => info.master = value.get(0..4).and_then(|v| v.try_into().ok()).map(u32::from_ne_bytes),
            _ => {}
        }
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_laid_out_as_the_kernel_reads_them() {
        let msg = Request::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_ACK)
            .header(&ifinfomsg(AF_UNSPEC, 0, 0, 0))
            .attr_str(IFLA_IFNAME, "br0")
            .begin_nest(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "bridge")
            .end_nest()
            .finish(7);
        assert_eq!(msg.len(), 16 + 16 + 8 + (4 + 12));
        assert_eq!(u32::from_ne_bytes(msg[0..4].try_into().unwrap()) as usize, msg.len());
        assert_eq!(u16::from_ne_bytes([msg[6], msg[7]]), NLM_F_CREATE | NLM_F_ACK | NLM_F_REQUEST);
        assert_eq!(u32::from_ne_bytes(msg[8..12].try_into().unwrap()), 7);
        let parsed: Vec<Message> = messages(&msg).collect();
        assert_eq!(parsed.len(), 1);
        let attributes: Vec<(u16, &[u8])> = attrs(&parsed[0].payload[16..]).collect();
        assert_eq!(attributes[0], (IFLA_IFNAME, &b"br0\0"[..]));
        assert_eq!(attributes[1].0, IFLA_LINKINFO);
        let inner: Vec<(u16, &[u8])> = attrs(attributes[1].1).collect();
        assert_eq!(inner, vec![(IFLA_INFO_KIND, &b"bridge\0"[..])]);
    }

    #[test]
    fn links_parse_and_garbage_ends_the_walk() {
        let msg = Request::new(RTM_NEWLINK, 0)
            .header(&ifinfomsg(AF_UNSPEC, 5, IFF_UP, 0))
            .attr_str(IFLA_IFNAME, "veth1")
            .attr_u32(IFLA_MASTER, 3)
            .finish(1);
        let m = messages(&msg).next().unwrap();
        let link = parse_link(m.payload).unwrap();
        assert_eq!(link, LinkInfo { index: 5, name: "veth1".into(), master: Some(3), flags: IFF_UP });

        // Truncated at every length: no panic, no message beyond the buffer.
        for cut in 0..msg.len() {
            let got: Vec<Message> = messages(&msg[..cut]).collect();
            assert!(got.is_empty(), "a cut message at {cut} is not returned");
            let _ = parse_link(&msg[16..cut.max(16)]);
        }
        // Lengths that lie.
        let mut lying = msg.clone();
        lying[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(messages(&lying).count(), 0);
        let mut lying = msg.clone();
        lying[32..34].copy_from_slice(&2u16.to_ne_bytes());
        let m = messages(&lying).next().unwrap();
        assert_eq!(attrs(&m.payload[16..]).count(), 0);
        assert_eq!(error_code(&[1, 2]), None);
        assert_eq!(error_code(&(-17i32).to_ne_bytes()), Some(-17));
    }
}
