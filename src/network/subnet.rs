//! IPv4 and IPv6 prefixes ("10.77.0.0/16", "fd00:1::/64"): parsing with Docker's rules, and the
//! arithmetic IPAM and the subnet pool need (containment, overlap, the n-th address).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    #[error("invalid CIDR address: {0}")]
    InvalidCidr(String),
    #[error("invalid subnet {given}: host bits are set (the network address is {network})")]
    HostBits { given: String, network: String },
}

/// A network prefix: an address whose host bits are zero, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    addr: IpAddr,
    prefix: u8,
}

fn width(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

pub(crate) fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(value: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(value).expect("an IPv4 value fits 32 bits")))
    } else {
        IpAddr::V6(Ipv6Addr::from(value))
    }
}

/// The mask of the host bits of a `prefix`-long prefix of a `width`-bit address.
fn host_mask(width: u8, prefix: u8) -> u128 {
    let host_bits = u32::from(width - prefix);
    if host_bits == 0 { 0 } else { u128::MAX >> (128 - host_bits) }
}

impl Subnet {
    /// `addr/prefix`; the host bits of `addr` must be zero.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Subnet, SubnetError> {
        if prefix > width(addr) {
            return Err(SubnetError::InvalidCidr(format!("{addr}/{prefix}")));
        }
        let subnet = Subnet::containing(addr, prefix);
        if subnet.addr != addr {
            return Err(SubnetError::HostBits { given: format!("{addr}/{prefix}"), network: subnet.to_string() });
        }
        Ok(subnet)
    }

    /// The prefix of length `prefix` that holds `addr` (its host bits cleared).
    pub fn containing(addr: IpAddr, prefix: u8) -> Subnet {
        let prefix = prefix.min(width(addr));
        let value = to_u128(addr) & !host_mask(width(addr), prefix);
        Subnet { addr: from_u128(value, addr.is_ipv4()), prefix }
    }

    /// "a.b.c.d/n" or "x::/n". Docker's errors: `invalid CIDR address: 10.0.0.0/33`.
    pub fn parse(text: &str) -> Result<Subnet, SubnetError> {
        let invalid = || SubnetError::InvalidCidr(text.to_owned());
        let (addr, prefix) = text.split_once('/').ok_or_else(invalid)?;
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        if prefix > width(addr) {
            return Err(invalid());
        }
        Subnet::new(addr, prefix)
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    fn host_mask(&self) -> u128 {
        host_mask(width(self.addr), self.prefix)
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.is_ipv4() && to_u128(addr) & !self.host_mask() == to_u128(self.addr)
    }

    /// True when every address of `other` is in this prefix.
    pub fn contains_subnet(&self, other: &Subnet) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// True when the two prefixes share an address (one holds the other).
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains_subnet(other) || other.contains_subnet(self)
    }

    /// The number of addresses minus one (so that a /0 fits).
    pub fn last_offset(&self) -> u128 {
        self.host_mask()
    }

    /// The address `offset` after the network address, if it is in the prefix.
    pub fn nth(&self, offset: u128) -> Option<IpAddr> {
        (offset <= self.host_mask()).then(|| from_u128(to_u128(self.addr) + offset, self.is_ipv4()))
    }

    /// Where `addr` lies after the network address (None outside the prefix).
    pub fn offset_of(&self, addr: IpAddr) -> Option<u128> {
        self.contains(addr).then(|| to_u128(addr) - to_u128(self.addr))
    }

    /// The IPv4 broadcast address (None for IPv6).
    pub fn broadcast(&self) -> Option<IpAddr> {
        self.is_ipv4().then(|| from_u128(to_u128(self.addr) | self.host_mask(), true))
    }

    /// The `index`-th prefix of length `prefix` inside this one (a pool split into subnets).
    pub fn split_nth(&self, prefix: u8, index: u128) -> Option<Subnet> {
        if prefix < self.prefix || prefix > width(self.addr) {
            return None;
        }
        let count_bits = u32::from(prefix - self.prefix);
        if count_bits < 128 && index >> count_bits != 0 {
            return None;
        }
        let step_bits = u32::from(width(self.addr) - prefix);
        let offset = if step_bits >= 128 { 0 } else { index << step_bits };
        Some(Subnet { addr: from_u128(to_u128(self.addr) + offset, self.is_ipv4()), prefix })
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = SubnetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Subnet::parse(s)
    }
}

impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Subnet::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Subnet {
        Subnet::parse(text).unwrap()
    }

    #[test]
    fn parses_docker_forms_and_refuses_hostile_ones() {
        assert_eq!(s("10.0.0.0/24").to_string(), "10.0.0.0/24");
        assert_eq!(s("fd00:1::/64").to_string(), "fd00:1::/64");
        assert_eq!(s("0.0.0.0/0").last_offset(), u128::from(u32::MAX));
        assert_eq!(s("::/0").last_offset(), u128::MAX);
        for bad in ["10.0.0.0/33", "10.0.0.0", "10.0.0.0/", "10.0.0/8", "x/8", "10.0.0.0/-1", "10.0.0.0/+8", "::/129"] {
            assert_eq!(Subnet::parse(bad), Err(SubnetError::InvalidCidr(bad.into())), "{bad}");
        }
        assert_eq!(Subnet::parse("10.0.0.0/33").unwrap_err().to_string(), "invalid CIDR address: 10.0.0.0/33");
        let err = Subnet::parse("10.0.0.1/24").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid subnet 10.0.0.1/24: host bits are set (the network address is 10.0.0.0/24)"
        );
    }

    #[test]
    fn containment_overlap_and_offsets() {
        let net = s("10.1.0.0/16");
        assert!(net.contains("10.1.255.255".parse().unwrap()));
        assert!(!net.contains("10.2.0.0".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        assert!(net.contains_subnet(&s("10.1.4.0/24")));
        assert!(!s("10.1.4.0/24").contains_subnet(&net));
        assert!(net.overlaps(&s("10.1.4.0/24")) && s("10.1.4.0/24").overlaps(&net));
        assert!(!net.overlaps(&s("10.2.0.0/16")));
        assert!(!net.overlaps(&s("fd00::/8")));
        assert_eq!(net.nth(1), Some("10.1.0.1".parse().unwrap()));
        assert_eq!(net.nth(65536), None);
        assert_eq!(net.offset_of("10.1.1.0".parse().unwrap()), Some(256));
        assert_eq!(net.broadcast(), Some("10.1.255.255".parse().unwrap()));
        assert_eq!(s("fd00::/64").broadcast(), None);
        assert_eq!(Subnet::containing("10.1.2.3".parse().unwrap(), 24), s("10.1.2.0/24"));
    }

    #[test]
    fn pools_split_into_subnets() {
        let pool = s("10.78.0.0/15");
        assert_eq!(pool.split_nth(24, 0), Some(s("10.78.0.0/24")));
        assert_eq!(pool.split_nth(24, 256), Some(s("10.79.0.0/24")));
        assert_eq!(pool.split_nth(24, 512), None);
        assert_eq!(pool.split_nth(14, 0), None);
        assert_eq!(s("fd00::/48").split_nth(64, 3), Some(s("fd00:0:0:3::/64")));
    }

    #[test]
    fn serializes_as_text() {
        let json = serde_json::to_string(&s("10.0.0.0/8")).unwrap();
        assert_eq!(json, "\"10.0.0.0/8\"");
        assert_eq!(serde_json::from_str::<Subnet>(&json).unwrap(), s("10.0.0.0/8"));
        assert!(serde_json::from_str::<Subnet>("\"10.0.0.0/40\"").is_err());
    }
}
