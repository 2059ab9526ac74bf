//! `rm` and `container prune`.

use super::{
    LifecycleError, SUPERVISOR_WAIT, current, is_live, kill, mark_manually_stopped, remove_cgroup_of,
    wait_for_recorded_end,
};
use crate::container::index::{ContainerError, Index, refresh, supervisor_alive};
use crate::container::record::{Container, NetworkMode};
use crate::container::signals::SignalNumber;
use crate::store::Store;

/// Times `rm -f` goes round again when a start claimed the container between its look and its
/// removal; each round waits for that start to settle, then kills what it started.
const FORCED_ROUNDS: usize = 8;

/// Removes a container: its record and its directories. A running one only with `force`, which
/// kills it first, and also one being started: the start is waited out, then killed.
pub fn remove(store: &Store, container: &Container, force: bool) -> Result<(), LifecycleError> {
    let mut latest = container.clone();
    for _ in 0..FORCED_ROUNDS {
        match remove_once(store, &latest, force) {
            // Read again: the start that claimed it is then seen, waited out and killed.
            Err(LifecycleError::Running) if force => latest = crate::container::index::load(store, &container.id)?,
            done => return done,
        }
    }
    Err(LifecycleError::Running)
}

/// One try: `Running` when the container runs (or a start of it claimed it meanwhile).
fn remove_once(store: &Store, container: &Container, force: bool) -> Result<(), LifecycleError> {
    let current = current(store, container)?;
    refuse_if_network_shared(store, &current)?;
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
            // Started again meanwhile (a racing `start` claimed it after our look).
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

/// A container whose network namespace others join (`--network container:NAME`, running or
/// not) stays until they go: removing it would leave them a namespace that is gone, or none
/// to start with. Even with `-f`, as Podman (its dependent containers) does.
fn refuse_if_network_shared(store: &Store, container: &Container) -> Result<(), LifecycleError> {
    let index: Index = store.containers().map_err(ContainerError::from)?;
    let users: Vec<String> = index
        .containers
        .iter()
        .filter(|c| c.config.network == NetworkMode::Container && c.config.net.container == container.id)
        .map(|c| c.name.clone())
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    Err(LifecycleError::NetworkShared { name: container.name.clone(), users })
}

/// What `container prune` removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub ids: Vec<String>,
    pub bytes: u64,
}

/// Removes every container that is not running (created or exited), not being started and not
/// held back by `keep` (the caller's filters). Takes the containers lock, exclusive.
pub fn prune(store: &Store, keep: &dyn Fn(&Container) -> bool) -> Result<Pruned, ContainerError> {
    let _lock = store.lock_containers_exclusive()?;
    let mut index: Index = store.containers()?;
    let mut pruned = Pruned::default();
    let mut kept = Vec::with_capacity(index.containers.len());
    let mut doomed = Vec::new();
    for container in std::mem::take(&mut index.containers) {
        let mut current = container.clone();
        let live = is_live(refresh(store, &mut current));
        // A live supervisor is running, finishing or starting the container.
        if live || supervisor_alive(&current) || keep(&current) {
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
