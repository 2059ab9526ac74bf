//! The kernel operations attaching and detaching do, behind a trait: [`HostKernel`] does them
//! in the calling thread's network namespace (the host's, or a test's); tests of the logic
//! above use a recorder instead, without root.

use std::os::fd::BorrowedFd;

use super::NetworkError;
use super::firewall::{nft, rules};
use super::netlink::Netlink;
use super::netlink::nftables::NFPROTO_INET;
use super::plumbing::{self, BridgeSpec, ContainerLink};
use super::sysctl;

pub trait Kernel {
    /// Makes sure the bridge exists, is up and has its addresses, with forwarding (IPv6 too
    /// when `ipv6`) and localhost routing on; returns its index.
    fn ensure_bridge(&mut self, spec: &BridgeSpec, ipv6: bool) -> Result<u32, NetworkError>;
    /// Creates a container's veth pair and configures its end in `netns`.
    fn attach_container(
        &mut self,
        bridge: u32,
        netns: BorrowedFd<'_>,
        link: &ContainerLink,
    ) -> Result<(), NetworkError>;
    /// Deletes a container's veth pair (nothing there is fine).
    fn detach_container(&mut self, host_veth: &str) -> Result<(), NetworkError>;
    /// Deletes a bridge with no ports left (nothing there is fine).
    fn remove_bridge(&mut self, name: &str) -> Result<(), NetworkError>;
    /// Applies an nft script to berth's table (one transaction).
    fn apply_firewall(&mut self, script: &str, what: &str) -> Result<(), NetworkError>;
    /// Whether berth's table exists (an in-process netlink query, no `nft` process).
    fn firewall_present(&mut self) -> Result<bool, NetworkError>;
}

/// The real thing, in the calling thread's network namespace; the netlink socket is opened on
/// first use (a command that only applies rules needs none).
#[derive(Default)]
pub struct HostKernel {
    netlink: Option<Netlink>,
}

impl HostKernel {
    fn netlink(&mut self) -> Result<&mut Netlink, NetworkError> {
        if self.netlink.is_none() {
            self.netlink = Some(Netlink::open()?);
        }
        Ok(self.netlink.as_mut().expect("just opened"))
    }
}

impl Kernel for HostKernel {
    fn ensure_bridge(&mut self, spec: &BridgeSpec, ipv6: bool) -> Result<u32, NetworkError> {
        let index = plumbing::ensure_bridge(self.netlink()?, spec)?;
        sysctl::prepare_bridge(&spec.name, ipv6)?;
        Ok(index)
    }

    fn attach_container(
        &mut self,
        bridge: u32,
        netns: BorrowedFd<'_>,
        link: &ContainerLink,
    ) -> Result<(), NetworkError> {
        Ok(plumbing::attach_container(self.netlink()?, bridge, netns, link)?)
    }

    fn detach_container(&mut self, host_veth: &str) -> Result<(), NetworkError> {
        Ok(plumbing::detach_container(self.netlink()?, host_veth)?)
    }

    fn remove_bridge(&mut self, name: &str) -> Result<(), NetworkError> {
        plumbing::remove_bridge_if_unused(self.netlink()?, name)?;
        Ok(())
    }

    fn apply_firewall(&mut self, script: &str, what: &str) -> Result<(), NetworkError> {
        Ok(nft::apply(script, what)?)
    }

    fn firewall_present(&mut self) -> Result<bool, NetworkError> {
        let (family, name) = (NFPROTO_INET, rules::TABLE_NAME);
        Ok(Netlink::open_netfilter()?.nft_table_exists(family, name)?)
    }
}

#[cfg(test)]
pub(crate) mod recording {
    use super::*;

    /// Records what would be done; fails the operations named in `fail`.
    #[derive(Default)]
    pub struct RecordingKernel {
        pub calls: Vec<String>,
        pub scripts: Vec<String>,
        /// Call prefixes ("attach vethX") that fail.
        pub fail: Vec<String>,
        /// Whether berth's table exists: after a script that does not delete it.
        pub table: bool,
    }

    impl RecordingKernel {
        fn record(&mut self, call: String) -> Result<(), NetworkError> {
            let failed = self.fail.iter().any(|f| call.starts_with(f.as_str()));
            self.calls.push(call.clone());
            if failed {
                return Err(NetworkError::BadOption(format!("{call}: failed on purpose")));
            }
            Ok(())
        }
    }

    impl Kernel for RecordingKernel {
        fn ensure_bridge(&mut self, spec: &BridgeSpec, ipv6: bool) -> Result<u32, NetworkError> {
            let addrs: Vec<String> = spec.addresses.iter().map(|(a, p)| format!("{a}/{p}")).collect();
            self.record(format!("bridge {} {} ipv6={ipv6}", spec.name, addrs.join(",")))?;
            Ok(7)
        }

        fn attach_container(
            &mut self,
            bridge: u32,
            _: BorrowedFd<'_>,
            link: &ContainerLink,
        ) -> Result<(), NetworkError> {
            let addrs: Vec<String> = link.addresses.iter().map(|(a, p)| format!("{a}/{p}")).collect();
            let gws: Vec<String> = link.gateways.iter().map(ToString::to_string).collect();
            self.record(format!(
                "attach {} {} on {bridge} {} via {}",
                link.host_veth,
                link.ifname,
                addrs.join(","),
                gws.join(",")
            ))
        }

        fn detach_container(&mut self, host_veth: &str) -> Result<(), NetworkError> {
            self.record(format!("detach {host_veth}"))
        }

        fn remove_bridge(&mut self, name: &str) -> Result<(), NetworkError> {
            self.record(format!("remove bridge {name}"))
        }

        fn apply_firewall(&mut self, script: &str, what: &str) -> Result<(), NetworkError> {
            self.scripts.push(script.to_owned());
            self.record(format!("firewall {what}"))?;
            self.table = !script.ends_with(&format!("delete table {}\n", rules::TABLE));
            Ok(())
        }

        fn firewall_present(&mut self) -> Result<bool, NetworkError> {
            Ok(self.table)
        }
    }
}
