//! Rootless user-defined networks: one network namespace per user in which berth's bridges,
//! veths, firewall rules and containers' DNS live exactly as they do for root on the host,
//! joined to the host by one pasta (Podman 5's rootless-netns). This file holds the pieces that
//! need no supervisor: the record of that namespace, its health check, and its pasta command
//! line. The design, and why it needs a keeper process:
//!
//! - Every rootless berth command runs in a user namespace of its own (same mapping, new
//!   namespace: see `sandbox::userns`), and a network namespace belongs to the user namespace
//!   that made it: a container of one `run` cannot enter a namespace made by another `run`.
//!   So the shared namespace is made by a small keeper process (`berth __netns-keeper`, a
//!   hidden verb like `__supervise`) in a user namespace of its own, which every rootless
//!   command then joins with setns instead of unsharing a new one (a process may join a user
//!   namespace its own user owns — from the initial user namespace, before berth unshares
//!   anything: a process in a sibling user namespace has no capability over the keeper's
//!   network namespace, and a veth cannot be moved between network namespaces owned by
//!   sibling user namespaces in either direction, so a supervisor that only opened the
//!   keeper's namespace by fd could not attach its container). The keeper holds the user and
//!   network namespaces and does nothing else: it is Podman's pause process, with the network
//!   namespace kept in it instead of in a bind mount (which a per-command mount namespace
//!   would lose).
//! - The keeper starts pasta for the namespace: no published ports (`-t none -u none`),
//!   outbound NAT and DNS forwarding only. Published ports of rootless containers on user
//!   networks are forwarded by their supervisor (a host-side socket per port, spliced to the
//!   container's address through a socket made in the shared namespace), since Debian 12's
//!   pasta has no way to add ports to a running instance.
//! - Reference counting is the endpoints' liveness, as for root: the keeper exits (and pasta
//!   with it) when no network has a live endpoint and no container record names a user
//!   network, checked by the garbage collection any networking command runs.
//! - A dead keeper or pasta is found by [`health`] (pid + start time, as everything else) and
//!   replaced; containers whose namespace died with a keeper lose their network and are
//!   reported as such by `inspect`.

use serde::{Deserialize, Serialize};

use super::pasta::{DNS_FORWARD, NETNS_FD, PastaFeatures};
use super::state::{Liveness, Owner};

/// RUNROOT/rootless-netns.json: the keeper and its pasta.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootlessNetns {
    pub keeper: Owner,
    pub pasta: Option<Owner>,
}

impl RootlessNetns {
    /// The namespaces to join, as paths of the keeper's.
    pub fn userns_path(&self) -> String {
        format!("/proc/{}/ns/user", self.keeper.pid)
    }

    pub fn netns_path(&self) -> String {
        format!("/proc/{}/ns/net", self.keeper.pid)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No shared namespace yet: start a keeper.
    Missing,
    /// Keeper and pasta run.
    Ready,
    /// The keeper is gone (and the namespace with it): start a new one, and drop the state of
    /// the endpoints that lived in the old one.
    KeeperGone,
    /// The namespace lives but its pasta died: start pasta again.
    PastaGone,
}

pub fn health(state: Option<&RootlessNetns>, alive: Liveness) -> Health {
    match state {
        None => Health::Missing,
        Some(s) if !alive(s.keeper) => Health::KeeperGone,
        Some(RootlessNetns { pasta: Some(p), .. }) if alive(*p) => Health::Ready,
        Some(_) => Health::PastaGone,
    }
}

/// The shared namespace's pasta command line: the namespace as fd [`NETNS_FD`] (joined from
/// the keeper's user namespace, which owns it), no ports.
pub fn pasta_args(pid_file: &str, features: PastaFeatures) -> Vec<String> {
    let mut args: Vec<String> = [
        "--config-net",
        "--quiet",
        "--runas",
        "0:0",
        "-t",
        "none",
        "-u",
        "none",
        "-T",
        "none",
        "-U",
        "none",
        "--no-map-gw",
        "--dns-forward",
    ]
    .map(str::to_owned)
    .to_vec();
    args.push(DNS_FORWARD.to_string());
    if features.map_guest_addr {
        args.extend(["--map-guest-addr".to_owned(), super::pasta::GUEST_ADDR.to_string()]);
    }
    args.extend(["--netns".to_owned(), format!("/proc/self/fd/{NETNS_FD}"), "--pid".to_owned(), pid_file.to_owned()]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_keeper_and_pasta() {
        let keeper = Owner { pid: 10, start_time: 1 };
        let pasta = Owner { pid: 11, start_time: 2 };
        let all = |_: Owner| true;
        let no_pasta = |o: Owner| o.pid != 11;
        let nothing = |_: Owner| false;
        let state = RootlessNetns { keeper, pasta: Some(pasta) };
        assert_eq!(health(None, &all), Health::Missing);
        assert_eq!(health(Some(&state), &all), Health::Ready);
        assert_eq!(health(Some(&state), &no_pasta), Health::PastaGone);
        assert_eq!(health(Some(&RootlessNetns { pasta: None, ..state }), &all), Health::PastaGone);
        assert_eq!(health(Some(&state), &nothing), Health::KeeperGone);
        assert_eq!(state.netns_path(), "/proc/10/ns/net");
        assert_eq!(state.userns_path(), "/proc/10/ns/user");
    }

    #[test]
    fn the_shared_namespaces_pasta_forwards_no_ports() {
        let args = pasta_args("/run/user/1000/berth/rootless-netns.pid", PastaFeatures::default()).join(" ");
        assert_eq!(
            args,
            "--config-net --quiet --runas 0:0 -t none -u none -T none -U none --no-map-gw --dns-forward 169.254.1.1 \
             --netns /proc/self/fd/3 --pid /run/user/1000/berth/rootless-netns.pid"
        );
    }
}
