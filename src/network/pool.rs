//! Where networks' subnets come from when the user names none: the default network's subnet
//! and a pool for `network create`, each skipping every prefix the host already routes and
//! every subnet another network of this store has.
//!
//! The ranges avoid Docker's (172.17.0.0/16 to 172.31.0.0/16, 192.168.0.0/16) and Podman's
//! (10.88.0.0/16 for its default network, 10.89.0.0 and up for the others), since either may
//! run on the same host, and Kubernetes' usual 10.96.0.0/12 and 10.244.0.0/16.

use std::net::{IpAddr, Ipv6Addr};

use super::subnet::Subnet;

/// The default network's subnet, in order of preference.
pub const DEFAULT_SUBNETS: [&str; 4] = ["10.77.0.0/16", "10.76.0.0/16", "10.75.0.0/16", "10.74.0.0/16"];

/// `network create` takes /24s from these, in order.
pub const USER_POOLS: [&str; 2] = ["10.78.0.0/15", "10.80.0.0/13"];
const USER_POOL_PREFIX: u8 = 24;

/// IPv6 subnets are /64s of unique local addresses (fd00::/8): 40 random bits make a
/// collision with another site's unlikely, as RFC 4193 intends.
const ULA_PREFIX: u8 = 64;

/// The prefixes routed in the host's main routing tables (IPv4 and IPv6), default routes
/// excluded: a new subnet must not overlap any of them. Unreadable tables count as empty.
pub fn host_routes() -> Vec<Subnet> {
    let mut routes = parse_ipv4_routes(&std::fs::read_to_string("/proc/net/route").unwrap_or_default());
    routes.extend(parse_ipv6_routes(&std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default()));
    routes
}

/// /proc/net/route: `Iface Destination Gateway Flags RefCnt Use Metric Mask ...`, addresses as
/// hex numbers in host byte order.
pub fn parse_ipv4_routes(text: &str) -> Vec<Subnet> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            // The kernel prints the network-order value as a native integer.
            let dest = std::net::Ipv4Addr::from(dest.to_ne_bytes());
            let prefix = u8::try_from(u32::from_be_bytes(mask.to_ne_bytes()).leading_ones()).ok()?;
            (prefix > 0).then(|| Subnet::containing(IpAddr::V4(dest), prefix))
        })
        .collect()
}

/// /proc/net/ipv6_route: `dest prefix-len src src-prefix-len next-hop metric refcnt use flags
/// iface`, addresses as 32 hex digits. Link-local and multicast prefixes are left out.
pub fn parse_ipv6_routes(text: &str) -> Vec<Subnet> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let dest = Ipv6Addr::from(u128::from_str_radix(fields.first()?, 16).ok()?);
            let prefix = u8::from_str_radix(fields.get(1)?, 16).ok()?;
            let special = dest.is_multicast() || dest.segments()[0] & 0xffc0 == 0xfe80 || dest.is_loopback();
            (prefix > 0 && prefix <= 128 && !special).then(|| Subnet::containing(IpAddr::V6(dest), prefix))
        })
        .collect()
}

/// The first candidate that overlaps nothing in `taken`.
pub fn first_free(candidates: impl IntoIterator<Item = Subnet>, taken: &[Subnet]) -> Option<Subnet> {
    candidates.into_iter().find(|c| !taken.iter().any(|t| t.overlaps(c)))
}

/// The default network's candidates.
pub fn default_candidates() -> impl Iterator<Item = Subnet> {
    DEFAULT_SUBNETS.iter().map(|s| Subnet::parse(s).expect("a valid built-in subnet"))
}

/// Every /24 of the user pools, in order.
pub fn user_candidates() -> impl Iterator<Item = Subnet> {
    USER_POOLS.iter().flat_map(|pool| {
        let pool = Subnet::parse(pool).expect("a valid built-in pool");
        (0u128..).map_while(move |i| pool.split_nth(USER_POOL_PREFIX, i))
    })
}

/// A random /64 of fd00::/8 (RFC 4193), for `--ipv6` without `--subnet`; tried again by the
/// caller if it overlaps something.
pub fn random_ula() -> Subnet {
    let global_id: u64 = rand::random::<u64>() & 0xff_ffff_ffff;
    let subnet_id: u128 = u128::from(rand::random::<u16>());
    let value = (0xfd_u128 << 120) | (u128::from(global_id) << 80) | (subnet_id << 64);
    Subnet::containing(IpAddr::V6(Ipv6Addr::from(value)), ULA_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
";

    const ROUTE6: &str = "\
fd123400000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0
";

    #[test]
    fn reads_the_hosts_routes() {
        let v4: Vec<String> = parse_ipv4_routes(ROUTE).iter().map(ToString::to_string).collect();
        assert_eq!(v4, ["192.168.2.0/24", "172.17.0.0/16"]);
        let v6: Vec<String> = parse_ipv6_routes(ROUTE6).iter().map(ToString::to_string).collect();
        assert_eq!(v6, ["fd12:3400::/64"]);
        assert!(parse_ipv4_routes("garbage\nmore garbage here").is_empty());
        // This machine's own tables parse (whatever they hold).
        let _ = host_routes();
    }

    #[test]
    fn picks_the_first_subnet_nothing_overlaps() {
        let taken = vec![Subnet::parse("10.77.0.0/16").unwrap(), Subnet::parse("10.76.5.0/24").unwrap()];
        assert_eq!(first_free(default_candidates(), &taken), Some(Subnet::parse("10.75.0.0/16").unwrap()));
        let taken = vec![Subnet::parse("10.78.0.0/24").unwrap(), Subnet::parse("10.78.1.128/25").unwrap()];
        assert_eq!(first_free(user_candidates(), &taken), Some(Subnet::parse("10.78.2.0/24").unwrap()));
        assert_eq!(user_candidates().count(), 512 + 2048);
        let everything = vec![Subnet::parse("10.0.0.0/8").unwrap()];
        assert_eq!(first_free(user_candidates(), &everything), None);
        for candidate in default_candidates().chain(user_candidates()) {
            for peer in ["172.16.0.0/12", "192.168.0.0/16", "10.88.0.0/13", "10.96.0.0/11"] {
                assert!(!candidate.overlaps(&Subnet::parse(peer).unwrap()), "{candidate} overlaps {peer}");
            }
        }
    }

    #[test]
    fn random_ulas_are_unique_local_64s() {
        let a = random_ula();
        assert_eq!(a.prefix(), 64);
        assert!(Subnet::parse("fd00::/8").unwrap().contains_subnet(&a));
        assert_ne!(a, random_ula());
    }
}
