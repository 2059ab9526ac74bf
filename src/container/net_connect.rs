//! `network connect` and `network disconnect`: a container's record names one network more or
//! one less, and a running container is attached or detached there at once (its supervisor
//! stays the owner of the new endpoint; its DNS responder rereads the names by itself).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::index::{ContainerError, load, update};
use super::liveness::is_alive;
use super::net_config::NetworkJoin;
use super::record::{Container, NetworkMode, Status};
use super::teardown::owner_alive;
use crate::network::NetworkError;
use crate::network::attach::{self, AttachRequest, ContainerRef, Join};
use crate::network::kernel::HostKernel;
use crate::network::state::Owner;
use crate::store::Store;

fn running(c: &Container) -> bool {
    matches!(c.state.status, Status::Running | Status::Paused) && is_alive(c.state.pid, c.state.pid_start_time)
}

fn check_mode(c: &Container) -> Result<(), ContainerError> {
    match c.config.network {
        NetworkMode::Bridge => Ok(()),
        NetworkMode::Host => Err(ContainerError::NetworkMode { name: c.name.clone(), mode: "host" }),
        NetworkMode::None => Err(ContainerError::NetworkMode { name: c.name.clone(), mode: "none" }),
        NetworkMode::Private => Err(ContainerError::NetworkMode { name: c.name.clone(), mode: "private" }),
        NetworkMode::Container => Err(ContainerError::NetworkMode { name: c.name.clone(), mode: "container" }),
    }
}

/// Connects container `input` to `network`. Takes the networks lock, then the containers lock.
pub fn connect(
    store: &Store,
    input: &str,
    network: &str,
    aliases: &[String],
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
) -> Result<(), ContainerError> {
    let container = load(store, input)?;
    check_mode(&container)?;
    let records = crate::network::manage::load(store)?;
    let record = crate::network::manage::find(&records, network)?.clone();
    let named = |n: &str| crate::network::manage::find(&records, n).is_ok_and(|r| r.id == record.id);
    if container.config.net.network_names().any(named) {
        return Err(NetworkError::AlreadyAttached { container: container.name.clone(), network: record.name }.into());
    }
    if running(&container) {
        let path = format!("/proc/{}/ns/net", container.state.pid);
        let netns = crate::sandbox::netns::open_netns_of(container.state.pid)
            .map_err(|e| NetworkError::Store(crate::store::StoreError::io(std::path::Path::new(&path), e)))?;
        let owner = Owner { pid: container.state.supervisor_pid, start_time: container.state.supervisor_start_time };
        let joins = [Join { network: record.name.clone(), aliases: aliases.to_vec(), ipv4, ipv6, ..Join::default() }];
        let request = AttachRequest {
            container: ContainerRef {
                id: &container.id,
                name: &container.name,
                owner,
                netns: std::os::fd::AsFd::as_fd(&netns),
            },
            joins: &joins,
            ports: &[],
        };
        attach::attach(store, &mut HostKernel::default(), &request, &owner_alive)?;
    }
    let join = NetworkJoin { network: record.name.clone(), aliases: aliases.to_vec(), ipv4, ipv6, mac: None };
    update(store, &container.id, |c| {
        c.config.net.networks.push(join);
        Ok(())
    })?;
    // A running container's attach recorded it (network::attach).
    if !running(&container) {
        attach::record_endpoint_event(store, "connect", &record, &container.id);
    }
    Ok(())
}

/// Disconnects container `input` from `network`. Takes the networks lock, then the containers
/// lock.
pub fn disconnect(store: &Store, input: &str, network: &str) -> Result<(), ContainerError> {
    let container = load(store, input)?;
    check_mode(&container)?;
    let records = crate::network::manage::load(store)?;
    let record = crate::network::manage::find(&records, network)?.clone();
    let named = |n: &str| crate::network::manage::find(&records, n).is_ok_and(|r| r.id == record.id);
    if !container.config.net.network_names().any(named) {
        return Err(ContainerError::NotConnected { name: container.name.clone(), network: record.name });
    }
    if running(&container) {
        attach::detach_from(store, &mut HostKernel::default(), &container.id, &record.id)?;
    }
    update(store, &container.id, |c| {
        c.config.net.networks.retain(|j| !named(&j.network));
        Ok(())
    })?;
    if !running(&container) {
        attach::record_endpoint_event(store, "disconnect", &record, &container.id);
    }
    Ok(())
}
