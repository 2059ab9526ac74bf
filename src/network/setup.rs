//! A container's whole bridge-network set-up in one call, for its supervisor: the host ports
//! held, the attachment (addresses, veths, firewall), the DNS responder bound inside the
//! container with its redirect, and the content of /etc/hosts and /etc/resolv.conf. Undone as
//! a whole when any step fails. [`tear_down`] is its opposite.
//!
//! Called in the supervisor, after the container's process is cloned and before it is let go
//! (spawn's `before_start` hook), from the host's network namespace: the reservation sockets
//! and the responder's upstream sockets are made there.

use std::net::IpAddr;

use super::NetworkError;
use super::attach::{self, AttachRequest, Attachment, ContainerRef, Join};
use super::dns::names::StateFiles;
use super::dns::server::{Responder, ResponderConfig};
use super::firewall::{dns as dns_nat, nft};
use super::hosts::{ExtraHost, HostsInput, hosts_file};
use super::kernel::Kernel;
use super::ports::PublishSpec;
use super::reserve::{self, Reservation};
use super::resolv::{self, DnsFlags, ResolvConf};
use super::state::Liveness;
use crate::store::Store;

pub struct BridgeRequest<'a> {
    pub container: ContainerRef<'a>,
    pub joins: &'a [Join],
    pub publish: &'a [PublishSpec],
    pub rootless: bool,
    pub hostname: &'a str,
    pub domainname: &'a str,
    pub extra_hosts: &'a [ExtraHost],
    pub dns: &'a DnsFlags,
    /// The host's resolver configuration (`resolv::host_resolv_conf()`).
    pub host_resolv: &'a ResolvConf,
}

/// What the supervisor keeps for the container's life.
pub struct BridgeSetup {
    /// Holds the published host ports; dropping it frees them.
    pub reservation: Reservation,
    pub attachment: Attachment,
    /// For the supervisor's poll loop (`poll_fds`, `ready`, `deadline`, `expire`); None when no
    /// network of the container resolves names.
    pub responder: Option<Responder<StateFiles>>,
    /// The content of the container's /etc/hosts.
    pub hosts: String,
    /// The content of the container's /etc/resolv.conf.
    pub resolv_conf: String,
}

fn dns_responder(
    store: &Store,
    request: &BridgeRequest<'_>,
    attachment: &Attachment,
) -> Result<Option<Responder<StateFiles>>, NetworkError> {
    if !attachment.uses_dns() {
        return Ok(None);
    }
    let (upstreams, upstreams_in_container) = resolv::upstreams(request.host_resolv, request.dns);
    let config = ResponderConfig {
        upstreams: if attachment.may_forward_dns() { upstreams } else { Vec::new() },
        upstreams_in_container,
    };
    let netns = request.container.netns.try_clone_to_owned().map_err(super::dns::server::ResponderError::Dup)?;
    let responder = Responder::bind(netns, config, StateFiles::new(attachment.dns_state_files(store)))?;
    let (udp, tcp) = responder.ports();
    nft::apply_in(
        request.container.netns,
        &dns_nat::dns_nat_script(udp, tcp),
        "redirecting 127.0.0.11:53 to berth's resolver",
    )?;
    Ok(Some(responder))
}

/// The /etc/hosts of a container with `attachment`: at its start, and again when `network
/// connect` or `disconnect` changes its networks while it runs.
pub fn hosts_for(
    attachment: &Attachment,
    hostname: &str,
    domainname: &str,
    extra_hosts: &[ExtraHost],
) -> Result<String, NetworkError> {
    let addresses = attachment.addresses();
    Ok(hosts_file(&HostsInput {
        hostname,
        domainname,
        addresses: &addresses,
        extra: extra_hosts,
        host_gateway: attachment.host_gateway(),
        base: None,
    })?)
}

fn etc_files(request: &BridgeRequest<'_>, attachment: &Attachment) -> Result<(String, String), NetworkError> {
    let addresses = attachment.addresses();
    let hosts = hosts_for(attachment, request.hostname, request.domainname, request.extra_hosts)?;
    let mode = if attachment.uses_dns() {
        resolv::Mode::Embedded
    } else {
        resolv::Mode::Copied { ipv6: addresses.iter().any(IpAddr::is_ipv6) }
    };
    let conf = resolv::container_resolv_conf(request.host_resolv, request.dns, mode);
    Ok((hosts, resolv::render(&conf)))
}

/// Sets up a container on bridge networks (see the module comment). Takes the networks lock.
pub fn set_up_bridge(
    store: &Store,
    kernel: &mut dyn Kernel,
    request: &BridgeRequest<'_>,
    alive: Liveness,
) -> Result<BridgeSetup, NetworkError> {
    let reservation = reserve::reserve(request.publish, reserve::Mode::Hold, request.rootless)?;
    let attach_request =
        AttachRequest { container: request.container, joins: request.joins, ports: &reservation.mappings };
    let attachment = attach::attach(store, kernel, &attach_request, alive)?;
    let rest = dns_responder(store, request, &attachment).and_then(|r| Ok((r, etc_files(request, &attachment)?)));
    match rest {
        Ok((responder, (hosts, resolv_conf))) => {
            Ok(BridgeSetup { reservation, attachment, responder, hosts, resolv_conf })
        }
        Err(e) => {
            // Undone as a whole; the first error is the one to show.
            let _ = attach::detach(store, kernel, request.container.id);
            Err(e)
        }
    }
}

/// Undoes [`set_up_bridge`] once the container has exited (the supervisor's teardown, or
/// whoever finds the container orphaned): the attachment goes; the reservation and the
/// responder go when the supervisor drops them (or dies). Takes the networks lock.
pub fn tear_down(store: &Store, kernel: &mut dyn Kernel, container_id: &str) -> Result<bool, NetworkError> {
    attach::detach(store, kernel, container_id)
}
