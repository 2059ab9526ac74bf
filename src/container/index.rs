//! Reading and changing container records in the store, and telling the truth about whether a
//! container runs: a recorded "running" is believed only while its pid lives with the recorded
//! start time.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::liveness::is_alive;
use super::record::{Container, Status};
use crate::store::{ContainerIndex, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("container name {0:?} is ambiguous: several containers start with it")]
    Ambiguous(String),
    #[error(
        "the container name \"/{name}\" is already in use by container {id}: remove (or rename) that container to reuse the name"
    )]
    NameInUse { name: String, id: String },
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("container {id} is {status}: {what}")]
    WrongState { id: String, status: &'static str, what: String },
    #[error("no command specified: the image has no Entrypoint or Cmd; give a command after the image name")]
    NoCommand,
    #[error("the working directory {0:?} is invalid: it needs to be an absolute path")]
    RelativeWorkingDir(String),
    #[error("--userns keep-id is only for rootless containers")]
    KeepIdNeedsRootless,
    #[error("image {0} was removed while the container was being created")]
    ImageRemoved(String),
    #[error(transparent)]
    MountSpec(#[from] super::mounts::MountSpecError),
    #[error(transparent)]
    Volume(#[from] super::volumes::VolumeError),
    #[error("container {0} is being started by another process")]
    StartedElsewhere(String),
    #[error(
        "rootless containers cannot join network {0} yet: a rootless container has a network of its own (the default, \
         pasta, slirp4netns, none or host)"
    )]
    RootlessNetwork(String),
    #[error("{0} needs a user-defined network, which rootless containers cannot join yet")]
    RootlessNetFlag(&'static str),
    #[error("container {name} is on the {mode} network: it cannot be connected to or disconnected from other networks")]
    NetworkMode { name: String, mode: &'static str },
    #[error("container {name} is not connected to network {network}")]
    NotConnected { name: String, network: String },
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    #[error("renaming container {input}: it is already named {name:?}")]
    AlreadyNamed { input: String, name: String },
}

pub type Index = ContainerIndex<Container>;

/// What the supervisor writes into `containers/<id>/exit` when the container's process ends.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub finished_at: String,
    pub oom_killed: bool,
}

pub fn exit_file(store: &Store, id: &str) -> PathBuf {
    store.container_dir(id).join("exit")
}

pub fn read_exit_record(store: &Store, id: &str) -> Option<ExitRecord> {
    let bytes = crate::store::read_optional(&exit_file(store, id)).ok().flatten()?;
    serde_json::from_slice(&bytes).ok()
}

/// Reads every container. Takes the containers lock, shared.
pub fn load_all(store: &Store) -> Result<Index, ContainerError> {
    let _lock = store.lock_containers_shared()?;
    Ok(store.containers()?)
}

/// The index position of the container a user named: full id, unique id prefix, or name.
pub fn find_index(index: &Index, input: &str) -> Result<usize, ContainerError> {
    let name = input.strip_prefix('/').unwrap_or(input);
    if let Some(i) = index.containers.iter().position(|c| c.id == input || c.name == name) {
        return Ok(i);
    }
    let hexish = !input.is_empty() && input.bytes().all(|b| b.is_ascii_hexdigit());
    if hexish {
        let mut found = index.containers.iter().enumerate().filter(|(_, c)| c.id.starts_with(input));
        match (found.next(), found.next()) {
            (Some((i, _)), None) => return Ok(i),
            (Some(_), Some(_)) => return Err(ContainerError::Ambiguous(input.to_owned())),
            _ => {}
        }
    }
    Err(ContainerError::NotFound(input.to_owned()))
}

pub fn find<'a>(index: &'a Index, input: &str) -> Result<&'a Container, ContainerError> {
    Ok(&index.containers[find_index(index, input)?])
}

/// Reads one container. Takes the containers lock, shared.
pub fn load(store: &Store, input: &str) -> Result<Container, ContainerError> {
    Ok(find(&load_all(store)?, input)?.clone())
}

/// Runs `change` on one container's record and writes the index back, returning what `change`
/// returned. Takes the containers lock, exclusive.
pub fn update<T>(
    store: &Store,
    id: &str,
    change: impl FnOnce(&mut Container) -> Result<T, ContainerError>,
) -> Result<T, ContainerError> {
    let _lock = store.lock_containers_exclusive()?;
    let mut index: Index = store.containers()?;
    let i = index.containers.iter().position(|c| c.id == id).ok_or_else(|| ContainerError::NotFound(id.to_owned()))?;
    let out = change(&mut index.containers[i])?;
    store.write_containers(&index)?;
    Ok(out)
}

/// The container's status as it really is: a recorded running/paused container whose process
/// is gone has exited (with the code its supervisor wrote, if it got that far); a start whose
/// supervisor is gone never happened. Applies the truth to `container.state` in memory;
/// persisting it is the caller's choice.
pub fn refresh(store: &Store, container: &mut Container) -> Status {
    let state = &mut container.state;
    if state.status == Status::Starting && !is_alive(state.supervisor_pid, state.supervisor_start_time) {
        state.status = state.at_rest();
    }
    if matches!(state.status, Status::Running | Status::Paused) && !is_alive(state.pid, state.pid_start_time) {
        let exit = read_exit_record(store, &container.id);
        // The process is gone but its living supervisor has not written the exit yet (it tears
        // the network down first): still running, as Docker's is until its shim reports the
        // exit, rather than an exit code of -1 nobody gave.
        if exit.is_none() && is_alive(state.supervisor_pid, state.supervisor_start_time) {
            return state.status;
        }
        state.status = Status::Exited;
        state.exit_code = Some(exit.as_ref().map_or(-1, |e| e.exit_code));
        state.oom_killed = exit.as_ref().is_some_and(|e| e.oom_killed);
        state.finished_at = exit.map(|e| e.finished_at).or_else(|| state.finished_at.clone());
    }
    state.status
}

/// True while the container's supervisor process lives.
pub fn supervisor_alive(container: &Container) -> bool {
    is_alive(container.state.supervisor_pid, container.state.supervisor_start_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed_by(pid: i32, start_time: u64, started_before: bool) -> Container {
        let mut c = Container { id: "c".repeat(64), name: "c".into(), ..Default::default() };
        c.state.status = Status::Starting;
        c.state.supervisor_pid = pid;
        c.state.supervisor_start_time = start_time;
        c.state.exit_code = started_before.then_some(3);
        c.state.started_at = started_before.then(|| "2026-12-03T00:00:00Z".to_owned());
        c
    }

    #[test]
    fn a_claim_holds_while_its_supervisor_lives_and_reads_as_before_once_it_died() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(&root.path().join("root"), &root.path().join("run"), false).unwrap();
        let me = std::process::id() as i32;
        let start = super::super::liveness::process_start_time(me).unwrap();
        assert_eq!(refresh(&store, &mut claimed_by(me, start, false)), Status::Starting);
        // The same pid with another start time is another process: the claimant is gone.
        let mut stale = claimed_by(me, start + 1, false);
        assert_eq!(refresh(&store, &mut stale), Status::Created);
        let mut stale_rerun = claimed_by(me, start + 1, true);
        assert_eq!(refresh(&store, &mut stale_rerun), Status::Exited);
        assert_eq!(stale_rerun.state.exit_code, Some(3), "the last run's code is kept");
    }
}
