//! `pause` and `unpause`: the container's cgroup frozen and thawed.

use super::{LifecycleError, cgroup_of, current, set_status_if_running};
use crate::container::record::{Container, Status};
use crate::store::Store;

/// Freezes a running container's processes.
pub fn pause(store: &Store, container: &Container) -> Result<(), LifecycleError> {
    let current = current(store, container)?;
    match current.state.status {
        Status::Running => {}
        Status::Paused => return Err(LifecycleError::AlreadyPaused(current.name.clone())),
        _ => return Err(LifecycleError::NotRunning(current.name.clone())),
    }
    let cgroup = cgroup_of(&current).ok_or_else(|| LifecycleError::NoCgroup(current.name.clone()))?;
    cgroup.freeze()?;
    set_status_if_running(store, &current, Status::Paused)
}

/// Thaws a paused container.
pub fn unpause(store: &Store, container: &Container) -> Result<(), LifecycleError> {
    let current = current(store, container)?;
    match current.state.status {
        Status::Paused => {}
        Status::Running => return Err(LifecycleError::NotPaused(current.name.clone())),
        _ => return Err(LifecycleError::NotRunning(current.name.clone())),
    }
    let cgroup = cgroup_of(&current).ok_or_else(|| LifecycleError::NoCgroup(current.name.clone()))?;
    cgroup.thaw()?;
    set_status_if_running(store, &current, Status::Running)
}
