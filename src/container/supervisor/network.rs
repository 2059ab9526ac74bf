//! The container's networks, from its supervisor: set up in spawn's `before_start` hook (the
//! container's process exists and waits, so its network namespace does too), kept for the
//! container's life. Root: bridge networks (the held host ports, the DNS responder), torn down
//! by `teardown::finish`'s ReleaseNetwork step. Rootless: the container's own network through
//! pasta or slirp4netns, the supervisor's child, ended when the supervisor drops it (before
//! the end is recorded) or dies. See ARCHITECTURE.md, "Network set-up".

use nix::unistd::Pid;

use super::super::liveness::process_start_time;
use super::super::net_connect::{container_netns, container_ref};
use super::super::record::{Container, NetworkMode};
use super::super::teardown::owner_alive;
use crate::network::NetworkError;
use crate::network::attach::Join;
use crate::network::hosts::{ExtraHost, parse_add_host};
use crate::network::kernel::HostKernel;
use crate::network::resolv::{DnsFlags, host_resolv_conf};
use crate::network::rootless::{
    HelperChoice, RootlessRequest, RootlessSetup, set_up_rootless as set_up_rootless_network,
};
use crate::network::setup::{BridgeRequest, BridgeSetup, set_up_bridge};
use crate::network::state::Owner;
use crate::store::Store;

/// Puts the container whose first process is `pid` on its networks and writes its /etc/hosts
/// and /etc/resolv.conf (not yet bind-mounted: the process waits). None when the container has
/// no bridge network. Takes the networks lock.
pub fn set_up(store: &Store, container: &Container, pid: Pid) -> Result<Option<BridgeSetup>, NetworkError> {
    let config = &container.config;
    if config.network != NetworkMode::Bridge || config.rootless {
        return Ok(None);
    }
    let netns = container_netns(pid.as_raw())?;
    let me = std::process::id() as i32;
    let owner = Owner { pid: me, start_time: process_start_time(me).unwrap_or(0) };
    let joins: Vec<Join> = config
        .net
        .networks
        .iter()
        .map(|j| Join {
            network: j.network.clone(),
            aliases: j.aliases.clone(),
            ipv4: j.ipv4,
            ipv6: j.ipv6,
            mac: j.mac.as_deref().and_then(crate::network::netlink::parse_mac),
        })
        .collect();
    let extra_hosts = extra_hosts(container)?;
    let dns = dns_flags(container);
    let publish = config.net.publish_specs();
    let request = BridgeRequest {
        container: container_ref(container, owner, &netns),
        joins: &joins,
        publish: &publish,
        rootless: config.rootless,
        hostname: &config.hostname,
        domainname: &config.net.domainname,
        extra_hosts: &extra_hosts,
        dns: &dns,
        host_resolv: &host_resolv_conf(),
    };
    let setup = set_up_bridge(store, &mut HostKernel::default(), &request, &owner_alive)?;
    if let Err(e) = write_network_files(store, container, &setup.hosts, &setup.resolv_conf) {
        super::super::teardown::release_network(store, &container.id);
        return Err(e.into());
    }
    Ok(Some(setup))
}

fn extra_hosts(container: &Container) -> Result<Vec<ExtraHost>, NetworkError> {
    Ok(container.config.net.extra_hosts.iter().map(|h| parse_add_host(h)).collect::<Result<Vec<_>, _>>()?)
}

fn dns_flags(container: &Container) -> DnsFlags {
    let net = &container.config.net;
    DnsFlags { servers: net.dns.clone(), search: net.dns_search.clone(), options: net.dns_options.clone() }
}

/// A rootless container's own network (pasta or slirp4netns, as its network's name asks) for
/// the container whose first process is `pid`, and its /etc/hosts and /etc/resolv.conf
/// written. None when the container is not rootless on the default network.
pub fn set_up_rootless(store: &Store, container: &Container, pid: Pid) -> Result<Option<RootlessSetup>, NetworkError> {
    let config = &container.config;
    if config.network != NetworkMode::Bridge || !config.rootless {
        return Ok(None);
    }
    let helper = config.net.network_names().next().and_then(HelperChoice::for_network).unwrap_or_default();
    let path = format!("/proc/{pid}/ns/net");
    let io = |e| NetworkError::Store(crate::store::StoreError::io(std::path::Path::new(&path), e));
    let netns = crate::sandbox::netns::open_netns_of(pid.as_raw()).map_err(io)?;
    let run_dir = store.container_run_dir(&container.id);
    let request = RootlessRequest {
        netns: std::os::fd::AsFd::as_fd(&netns),
        publish: &config.net.publish_specs(),
        helper,
        hostname: &config.hostname,
        domainname: &config.net.domainname,
        extra_hosts: &extra_hosts(container)?,
        dns: &dns_flags(container),
        host_resolv: &host_resolv_conf(),
        run_dir: &run_dir,
        probe_cache: &store.runroot().join("pasta-features.json"),
    };
    let setup = set_up_rootless_network(&request)?;
    write_network_files(store, container, &setup.hosts, &setup.resolv_conf)?;
    Ok(Some(setup))
}

/// The container's /etc/hosts and /etc/resolv.conf. Plain writes, as etc_files' at every
/// start: the files are made again at the next start, and no one reads them before the child
/// bind-mounts them (fsyncs cost ~10 ms each on disk).
fn write_network_files(
    store: &Store,
    container: &Container,
    hosts: &str,
    resolv_conf: &str,
) -> Result<(), crate::store::StoreError> {
    let dir = store.container_dir(&container.id);
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| crate::store::StoreError::io(&path, e))
    };
    write("hosts", hosts).and_then(|()| write("resolv.conf", resolv_conf))
}
