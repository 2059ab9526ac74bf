//! The network module's errors: its own, and those of its parts, shown as they are.

use crate::store::StoreError;

use super::dns::server::ResponderError;
use super::firewall::{NftError, RuleError};
use super::hosts::HostsError;
use super::ipam::IpamError;
use super::netlink::NetlinkError;
use super::ports::PortError;
use super::reserve::ReserveError;
use super::rootless::RootlessNetError;
use super::subnet::SubnetError;
use super::sysctl::SysctlError;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network {0} is ambiguous: several network ids start with it")]
    Ambiguous(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("invalid network name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("error while removing network: network {name} has active endpoints ({})", .containers.join(", "))]
    InUse { name: String, containers: Vec<String> },
    #[error("driver {0:?} is not supported: berth has only the bridge driver")]
    Driver(String),
    #[error(transparent)]
    Subnet(#[from] SubnetError),
    #[error("invalid subnet {0}: a network needs at least a /30 (IPv4) or a /126 (IPv6)")]
    SubnetTooSmall(String),
    #[error(
        "invalid pool request: Pool overlaps with other one on this address space ({subnet} and {other} of network {network})"
    )]
    Overlap { subnet: String, other: String, network: String },
    #[error("invalid subnets: {0} and {1} overlap")]
    SelfOverlap(String, String),
    #[error(
        "no subnet is free: every subnet of berth's pool overlaps a network or a route of the host (give --subnet)"
    )]
    PoolExhausted,
    #[error("invalid gateway {gateway}: {reason}")]
    Gateway { gateway: String, reason: String },
    #[error("invalid ip-range {range}: {reason}")]
    IpRange { range: String, reason: String },
    #[error("{0}")]
    BadOption(String),
    #[error("network {network} cannot be joined: it is the {driver} network (use --network {network} alone)")]
    NotJoinable { network: String, driver: &'static str },
    #[error("container {container} is already attached to network {network}")]
    AlreadyAttached { container: String, network: String },
    #[error("invalid alias {0:?}: aliases are DNS names ([a-zA-Z0-9][a-zA-Z0-9_.-]*)")]
    BadAlias(String),
    #[error("no free bridge name: berth0 to berth{0} are taken")]
    NoBridgeName(u32),
    #[error(transparent)]
    Ipam(#[from] IpamError),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Reserve(#[from] ReserveError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Nft(#[from] NftError),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    #[error(transparent)]
    Dns(#[from] ResponderError),
    #[error(transparent)]
    Hosts(#[from] HostsError),
    #[error(transparent)]
    Rootless(#[from] RootlessNetError),
}
