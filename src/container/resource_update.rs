//! `berth update`: new resource limits and restart policy for an existing container, checked as
//! at create, written to its live cgroup when it runs, then to its record.

use std::path::Path;

use super::index::{ContainerError, load, update};
use super::record::{Container, Resources, Status};
use super::resource_options::cgroup_resources;
use super::restart::RestartPolicy;
use crate::sandbox::cgroup::{self, Cgroup, CgroupError, DEFAULT_ROOT};
use crate::store::Store;

/// What `update` changes; None leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct ResourceUpdate {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub blkio_weight: Option<u16>,
    pub pids_limit: Option<i64>,
    pub restart: Option<RestartPolicy>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// The cgroup code's words (Docker's checks), or the kernel's refusal of a live limit.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")]
    SwapBelowMemory,
    #[error("Restart policy cannot be updated because AutoRemove is enabled for the container")]
    AutoRemove,
    #[error("cannot update container {0}: it has no cgroup of its own to apply limits to")]
    NoCgroup(String),
}

/// The container's resources with `change` applied.
fn merged(old: &Resources, change: &ResourceUpdate) -> Result<Resources, UpdateError> {
    let mut r = old.clone();
    if let (Some(memory), None, Some(swap)) = (change.memory, change.memory_swap, old.more.memory_swap)
        && swap > 0
        && memory > swap
    {
        return Err(UpdateError::SwapBelowMemory);
    }
    // Docker's --cpus and --cpu-period/--cpu-quota exclude each other; a new one replaces the
    // other kind.
    if change.nano_cpus.is_some() {
        (r.more.cpu_period, r.more.cpu_quota) = (None, None);
    }
    if change.cpu_period.is_some() || change.cpu_quota.is_some() {
        r.nano_cpus = None;
    }
    let set = |slot: &mut Option<i64>, value: Option<i64>| {
        if let Some(v) = value {
            *slot = Some(v).filter(|&v| v != 0);
        }
    };
    set(&mut r.memory, change.memory);
    set(&mut r.more.memory_swap, change.memory_swap);
    set(&mut r.more.memory_reservation, change.memory_reservation);
    set(&mut r.nano_cpus, change.nano_cpus);
    set(&mut r.more.cpu_period, change.cpu_period);
    set(&mut r.more.cpu_quota, change.cpu_quota);
    set(&mut r.pids_limit, change.pids_limit);
    if let Some(shares) = change.cpu_shares {
        r.cpu_shares = Some(shares).filter(|&s| s != 0);
    }
    if let Some(weight) = change.blkio_weight {
        r.more.blkio_weight = Some(weight).filter(|&w| w != 0);
    }
    if let Some(cpus) = &change.cpuset_cpus {
        r.more.cpuset_cpus = Some(cpus.clone()).filter(|c| !c.is_empty());
    }
    if let Some(mems) = &change.cpuset_mems {
        r.more.cpuset_mems = Some(mems.clone()).filter(|m| !m.is_empty());
    }
    cgroup::check(&cgroup_resources(&r))?;
    Ok(r)
}

/// Updates container `name`. A running (or paused) container's cgroup gets the new limits
/// first, so a limit the kernel refuses (memory below what is in use) changes nothing. Takes
/// the containers lock to write the record.
pub fn update_resources(store: &Store, name: &str, change: &ResourceUpdate) -> Result<Container, UpdateError> {
    let container = load(store, name)?;
    if change.restart.is_some_and(|p| !p.is_no()) && container.config.auto_remove {
        return Err(UpdateError::AutoRemove);
    }
    let resources = merged(&container.config.resources, change)?;
    let limits_changed = resources != container.config.resources;
    if limits_changed && matches!(container.state.status, Status::Running | Status::Paused) {
        let cgroup = Cgroup::open(Path::new(DEFAULT_ROOT), &container.id, container.config.rootless)
            .ok_or_else(|| UpdateError::NoCgroup(container.name.clone()))?;
        cgroup.update(&cgroup_resources(&resources))?;
    }
    let updated = update(store, &container.id, |c| {
        c.config.resources = resources.clone();
        if let Some(policy) = change.restart {
            c.config.restart = policy;
        }
        Ok(c.clone())
    })?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_merge_into_the_old_limits() {
        let old = Resources { memory: Some(64 << 20), nano_cpus: Some(1_000_000_000), ..Resources::default() };
        let change = ResourceUpdate { cpu_quota: Some(50_000), pids_limit: Some(10), ..Default::default() };
        let r = merged(&old, &change).unwrap();
        assert_eq!(
            (r.memory, r.nano_cpus, r.more.cpu_quota, r.pids_limit),
            (Some(64 << 20), None, Some(50_000), Some(10))
        );
        let swap = Resources { memory: Some(64 << 20), ..Resources::default() };
        let swap = Resources {
            more: super::super::resource_options::MoreResources { memory_swap: Some(128 << 20), ..Default::default() },
            ..swap
        };
        let err = merged(&swap, &ResourceUpdate { memory: Some(256 << 20), ..Default::default() }).unwrap_err();
        assert!(matches!(err, UpdateError::SwapBelowMemory), "{err}");
        let both = ResourceUpdate { memory: Some(256 << 20), memory_swap: Some(-1), ..Default::default() };
        assert_eq!(merged(&swap, &both).unwrap().more.memory_swap, Some(-1));
        let bad = ResourceUpdate { cpuset_cpus: Some("x".into()), ..Default::default() };
        assert!(matches!(merged(&old, &bad), Err(UpdateError::Cgroup(_))));
    }
}
