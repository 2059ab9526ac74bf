//! `rm` and `container prune`.

use super::{
    LifecycleError, SUPERVISOR_WAIT, current, is_live, kill, mark_manually_stopped, remove_cgroup_of,
    wait_for_recorded_end,
};
use crate::container::index::{ContainerError, Index, refresh, supervisor_alive};
use crate::container::record::Container;
use crate::container::signals::SignalNumber;
use crate::store::Store;

/// Removes a container: its record and its directories. A running one only with `force`, which
/// kills it first.
pub fn remove(store: &Store, container: &Container, force: bool) -> Result<(), LifecycleError> {
    let current = current(store, container)?;
    if is_live(current.state.status) {
        if !force {
            return Err(LifecycleError::Running);
        }
        // `rm -f` always wins: no restart policy starts it again meanwhile. On a full disk the
        // mark cannot be written; removing must still work, and the record goes below anyway.
        let _ = mark_manually_stopped(store, &current);
        match kill(store, &current, SignalNumber::KILL) {
            Ok(()) | Err(LifecycleError::NotRunning(_)) => {}
            Err(e) => return Err(e),
        }
    }
    // A supervisor that is still finishing (its container has just ended) writes into the
    // container's directory and record: let it.
    wait_for_recorded_end(store, &current, SUPERVISOR_WAIT);
    {
        let _lock = store.lock_containers_exclusive().map_err(ContainerError::from)?;
        let mut index: Index = store.containers().map_err(ContainerError::from)?;
        let Some(i) = index.containers.iter().position(|c| c.id == current.id) else { return Ok(()) };
        let mut fresh = index.containers[i].clone();
        let status = refresh(store, &mut fresh);
        if is_live(status) || status == crate::container::record::Status::Starting {
            // Started again meanwhile.
            return Err(LifecycleError::Running);
        }
        index.containers.remove(i);
        // The directories first: a kill between leaves a record without them, which the next
        // `rm` finishes, never directories no record owns; and on a full disk the record then
        // has room.
        store.remove_container_dirs(&current.id).map_err(ContainerError::from)?;
        store.write_releasing_reserve(|| store.write_containers(&index)).map_err(ContainerError::from)?;
    }
    remove_cgroup_of(&current);
    crate::container::event::record(store, "destroy", &current);
    Ok(())
}

/// What `container prune` removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub ids: Vec<String>,
    pub bytes: u64,
}

/// Removes every container that is not running (created or exited) and not being started.
/// Takes the containers lock, exclusive.
pub fn prune(store: &Store) -> Result<Pruned, ContainerError> {
    let _lock = store.lock_containers_exclusive()?;
    let mut index: Index = store.containers()?;
    let mut pruned = Pruned::default();
    let mut kept = Vec::with_capacity(index.containers.len());
    let mut doomed = Vec::new();
    for container in std::mem::take(&mut index.containers) {
        let mut current = container.clone();
        let live = is_live(refresh(store, &mut current));
        // A live supervisor is running, finishing or starting the container.
        if live || supervisor_alive(&current) {
            kept.push(container);
        } else {
            doomed.push(container);
        }
    }
    index.containers = kept;
    // The directories first, as in `remove`.
    let mut removed = Vec::new();
    for container in doomed {
        pruned.bytes += crate::container::volumes::disk_usage(&store.container_dir(&container.id));
        store.remove_container_dirs(&container.id)?;
        remove_cgroup_of(&container);
        pruned.ids.push(container.id.clone());
        removed.push(container);
    }
    store.write_releasing_reserve(|| store.write_containers(&index))?;
    for container in &removed {
        crate::container::event::record(store, "destroy", container);
    }
    Ok(pruned)
}
