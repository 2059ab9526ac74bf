//! What the network module's tests share: skipping for a missing privilege or program (a
//! failure in CI, where nothing may be skipped), throwaway namespaces, and one turn of a
//! supervisor-like poll loop around a DNS responder.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

use nix::poll::{PollFd, PollTimeout, poll};

use super::dns::names::NameSource;
use super::dns::server::Responder;
use super::netlink::Netlink;
use crate::sandbox::netns::in_new_netns;

/// In CI (`CI=true`) a test that cannot run fails; elsewhere it says why and passes.
pub fn skip_or_fail(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("cannot run this test in CI: {reason}");
    }
    eprintln!("skipped: {reason}");
}

pub fn require_root(what: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        skip_or_fail(&format!("needs root: {what}"));
    }
    root
}

/// `found`, or a skip saying `program` is not installed (scripts/setup installs it).
pub fn require<T>(found: Option<T>, program: &str) -> Option<T> {
    if found.is_none() {
        skip_or_fail(&format!("{program} is not installed (scripts/setup installs it)"));
    }
    found
}

/// Root and nft: what applying berth's rules in a test's namespace needs.
pub fn require_root_and_nft(what: &str) -> bool {
    require_root(what) && require(super::firewall::nft::find_nft().ok(), "nft").is_some()
}

/// A new network namespace with its loopback up.
pub fn netns_with_lo() -> OwnedFd {
    let ns = in_new_netns(|ns| ns).unwrap();
    let mut nl = Netlink::open_in(ns.as_fd()).unwrap();
    let lo = nl.index_of("lo").unwrap();
    nl.set_up(lo, "lo").unwrap();
    ns
}

/// One round of the supervisor's loop: poll the responder's fds (10 ms), handle what is ready.
pub fn turn<N: NameSource>(responder: &mut Responder<N>) {
    let ready: Vec<i32> = {
        let fds = responder.poll_fds();
        let mut polled: Vec<PollFd> = fds.iter().map(|(fd, flags)| PollFd::new(*fd, *flags)).collect();
        let _ = poll(&mut polled, PollTimeout::from(10u16));
        polled
            .iter()
            .zip(&fds)
            .filter(|(p, _)| p.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, (fd, _))| fd.as_raw_fd())
            .collect()
    };
    for fd in ready {
        responder.ready(fd, Instant::now());
    }
}
