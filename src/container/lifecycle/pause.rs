//! `pause` and `unpause`: the container's cgroup frozen and thawed.

use super::{LifecycleError, cgroup_of, current, set_status_if_running};
use crate::container::record::{Container, Status};
use crate::store::Store;

/// Freezes a running container's processes.
pub fn pause(store: &Store, container: &Container) -> Result<(), LifecycleError> {
    set_paused(store, container, true)
}

/// Thaws a paused container.
pub fn unpause(store: &Store, container: &Container) -> Result<(), LifecycleError> {
    set_paused(store, container, false)
}

fn set_paused(store: &Store, container: &Container, paused: bool) -> Result<(), LifecycleError> {
    let current = current(store, container)?;
    let name = || current.name.clone();
    match (current.state.status, paused) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (Status::Paused, true) => return Err(LifecycleError::AlreadyPaused(name())),
        (Status::Running, false) => return Err(LifecycleError::NotPaused(name())),
        _ => return Err(LifecycleError::NotRunning(name())),
    }
    let cgroup = cgroup_of(&current).ok_or_else(|| LifecycleError::NoCgroup(name()))?;
    if paused {
        cgroup.freeze()?;
        set_status_if_running(store, &current, Status::Paused)?;
    } else {
        cgroup.thaw()?;
        set_status_if_running(store, &current, Status::Running)?;
    }
    crate::container::event::record(store, if paused { "pause" } else { "unpause" }, &current);
    Ok(())
}
