//! Stopping, killing, pausing, removing and waiting for containers: what several verbs share.
//!
//! The container's supervisor normally records how its container ended. These functions signal
//! the container's process (through a pidfd, so a recycled pid is never hit), wait for it to end,
//! then wait for the supervisor to have recorded the exit. When the supervisor itself is gone
//! (killed), they record the exit in its place: status, exit code, the cgroup, `--rm`.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::index::{
    ContainerError, Index, find, find_index, load_all, read_exit_record, refresh, supervisor_alive, update,
};
use super::liveness::{is_alive, process_start_time};
use super::record::{Container, Status};
use super::supervisor::attach_socket_name;
use crate::sandbox::cgroup::{Cgroup, DEFAULT_ROOT};
use crate::sandbox::pidfd::PidFd;
use crate::store::Store;
use crate::store::now_rfc3339;

/// Docker's default grace period between the stop signal and SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: u32 = 10;

/// How long to wait for a SIGKILLed container to be gone (a process in uninterruptible sleep
/// dies only when its system call returns).
const KILL_WAIT: Duration = Duration::from_secs(10);

/// How long a supervisor may take to record its container's exit: it drains the output (at
/// most half a second), writes the exit file, removes the cgroup and updates the record.
const SUPERVISOR_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is already paused")]
    AlreadyPaused(String),
    #[error("container {0} is not paused")]
    NotPaused(String),
    #[error("container is running: stop the container before removing or force remove")]
    Running,
    #[error("container {0} did not exit after SIGKILL")]
    Unkillable(String),
    #[error(
        "container {0} has no cgroup: pausing needs one (rootless containers get one only on cgroup v2 with a \
         cgroup delegated to the user)"
    )]
    NoCgroup(String),
    #[error("{0}")]
    Cgroup(#[from] crate::sandbox::cgroup::CgroupError),
    #[error("waiting for the container: {0}")]
    Wait(std::io::Error),
}

/// A handle on the live process `pid` if it is the one that started at `start_time`.
fn open_process(pid: i32, start_time: u64) -> Option<PidFd> {
    if !is_alive(pid, start_time) {
        return None;
    }
    let handle = PidFd::open(pid).ok()?;
    // The pid may have been recycled between the check and the open: check again through the
    // handle's own process.
    (process_start_time(pid) == Some(start_time)).then_some(handle)
}

/// A handle on the container's first process while it runs.
pub fn container_process(container: &Container) -> Option<PidFd> {
    open_process(container.state.pid, container.state.pid_start_time)
}

fn supervisor_process(container: &Container) -> Option<PidFd> {
    open_process(container.state.supervisor_pid, container.state.supervisor_start_time)
}

pub fn cgroup_of(container: &Container) -> Option<Cgroup> {
    Cgroup::open(Path::new(DEFAULT_ROOT), &container.id, container.config.rootless)
}

fn remove_cgroup_of(container: &Container) {
    if let Some(cgroup) = cgroup_of(container) {
        let _ = cgroup.remove();
    }
}

/// One container, with its state as it really is (see [`refresh`]).
pub fn load_current(store: &Store, input: &str) -> Result<Container, ContainerError> {
    let index = load_all(store)?;
    let mut container = find(&index, input)?.clone();
    refresh(store, &mut container);
    Ok(container)
}

fn is_live(status: Status) -> bool {
    matches!(status, Status::Running | Status::Paused)
}

fn stop_signal_of(container: &Container) -> Signal {
    super::signals::parse_signal(&container.config.stop_signal).unwrap_or(Signal::SIGTERM)
}

/// Stops a running container: its stop signal (or `signal`), then SIGKILL after `timeout`
/// seconds (default: the container's own, else 10). A container that is not running is left
/// as it is. Returns once the exit is recorded.
pub fn stop(
    store: &Store,
    container: &Container,
    timeout: Option<u32>,
    signal: Option<Signal>,
) -> Result<(), LifecycleError> {
    let mut current = container.clone();
    let process = if is_live(refresh(store, &mut current)) { container_process(&current) } else { None };
    let Some(process) = process else {
        // Already ended: maybe just now, with its supervisor still recording it, or long ago
        // with no supervisor left to record it.
        return after_exit(store, &current, None);
    };
    let signal = signal.unwrap_or_else(|| stop_signal_of(&current));
    let timeout = Duration::from_secs(timeout.or(current.config.stop_timeout).unwrap_or(DEFAULT_STOP_TIMEOUT).into());
    let _ = process.send_signal(signal);
    if current.state.status == Status::Paused {
        resume_to_deliver(store, &current)?;
    }
    let mut last_signal = signal;
    if !process.wait_exit(Some(timeout)).map_err(LifecycleError::Wait)? {
        kill_everything(&current, &process);
        last_signal = Signal::SIGKILL;
        if !process.wait_exit(Some(KILL_WAIT)).map_err(LifecycleError::Wait)? {
            return Err(LifecycleError::Unkillable(current.name.clone()));
        }
    }
    after_exit(store, &current, Some(128 + last_signal as i32))
}

/// SIGKILL for the container's first process and, should anything have escaped its pid
/// namespace's end, everything else in its cgroup.
fn kill_everything(container: &Container, process: &PidFd) {
    let _ = process.send_signal(Signal::SIGKILL);
    if let Some(cgroup) = cgroup_of(container) {
        let _ = cgroup.kill_all(Signal::SIGKILL);
    }
}

/// A paused container's processes take signals only once thawed.
fn resume_to_deliver(store: &Store, container: &Container) -> Result<(), LifecycleError> {
    if let Some(cgroup) = cgroup_of(container) {
        cgroup.thaw()?;
    }
    set_status_if_running(store, container, Status::Running)
}

/// Sends `signal` to a running container; with SIGKILL, returns once its exit is recorded.
pub fn kill(store: &Store, container: &Container, signal: Signal) -> Result<(), LifecycleError> {
    let mut current = container.clone();
    let live = is_live(refresh(store, &mut current));
    let not_running = || LifecycleError::NotRunning(current.name.clone());
    let process = if live { container_process(&current) } else { None };
    let Some(process) = process else { return Err(not_running()) };
    if signal == Signal::SIGKILL {
        kill_everything(&current, &process);
    } else {
        process.send_signal(signal).map_err(|_| not_running())?;
    }
    if signal == Signal::SIGKILL && current.state.status == Status::Paused {
        // v1 freezers carry out a SIGKILL only on thawed tasks.
        resume_to_deliver(store, &current)?;
    }
    let wait = if signal == Signal::SIGKILL {
        KILL_WAIT
    } else if !supervisor_alive(&current) {
        // Nobody else will record the exit: see briefly whether the signal ended it.
        Duration::from_secs(1)
    } else {
        return Ok(());
    };
    if process.wait_exit(Some(wait)).map_err(LifecycleError::Wait)? {
        after_exit(store, &current, Some(128 + signal as i32))?;
    } else if signal == Signal::SIGKILL {
        return Err(LifecycleError::Unkillable(current.name.clone()));
    }
    Ok(())
}

/// After the container's process ended: lets its supervisor finish recording, or records the
/// exit itself if the supervisor is gone. `guessed_code` (128 + the last signal sent) stands in
/// for the code no supervisor saw.
fn after_exit(store: &Store, container: &Container, guessed_code: Option<i32>) -> Result<(), LifecycleError> {
    wait_for_supervisor(container);
    record_exit_if_orphaned(store, container, guessed_code)
}

fn wait_for_supervisor(container: &Container) {
    if let Some(supervisor) = supervisor_process(container) {
        let _ = supervisor.wait_exit(Some(SUPERVISOR_WAIT));
    }
}

/// Records the end of a container whose record still says it runs although its process is
/// gone and no supervisor is left to say how it ended: the exit file's code if one was
/// written, else `guessed_code`, else 137 (the usual reason for a silent end). Cleans up what
/// the supervisor would have: the cgroup, the attach socket, and the whole container with --rm.
fn record_exit_if_orphaned(
    store: &Store,
    container: &Container,
    guessed_code: Option<i32>,
) -> Result<(), LifecycleError> {
    // `container` may hold refreshed state: what was recorded is checked under the lock.
    if container.state.pid <= 0
        || supervisor_alive(container)
        || is_alive(container.state.pid, container.state.pid_start_time)
    {
        return Ok(());
    }
    let pid = container.state.pid;
    let unlisted = {
        let _lock = store.lock_containers_exclusive().map_err(ContainerError::from)?;
        let mut index: Index = store.containers().map_err(ContainerError::from)?;
        let Some(i) = index.containers.iter().position(|c| c.id == container.id) else { return Ok(()) };
        let record = &mut index.containers[i];
        if !is_live(record.state.status) || record.state.pid != pid {
            return Ok(());
        }
        let _ = std::fs::remove_file(store.container_run_dir(&record.id).join(attach_socket_name()));
        if record.config.auto_remove {
            Some(super::supervisor::unlist_locked(store, &mut index, i)?)
        } else {
            // Under the lock and before the record says Exited, as the supervisor does it: a
            // `start` after that makes a new cgroup at the same path.
            remove_cgroup_of(container);
            let exit = read_exit_record(store, &record.id);
            let state = &mut record.state;
            state.status = Status::Exited;
            state.exit_code = Some(exit.as_ref().map_or(guessed_code.unwrap_or(137), |e| e.exit_code));
            state.oom_killed = exit.as_ref().is_some_and(|e| e.oom_killed);
            state.finished_at = Some(exit.map_or_else(now_rfc3339, |e| e.finished_at));
            store.write_containers(&index).map_err(ContainerError::from)?;
            None
        }
    };
    // The rest of --rm, as the supervisor would have done it, outside the lock: the container
    // is unlisted, so nothing can make a cgroup at its path any more.
    if let Some((removed, trash)) = unlisted {
        remove_cgroup_of(container);
        let _ = super::volumes::remove_anonymous(store, &removed);
        if let Some(trash) = trash {
            trash.empty();
        }
    }
    Ok(())
}

/// Sets the recorded status of a container that still runs as recorded.
fn set_status_if_running(store: &Store, container: &Container, status: Status) -> Result<(), LifecycleError> {
    let (pid, start) = (container.state.pid, container.state.pid_start_time);
    update(store, &container.id, |c| {
        if c.state.pid == pid && is_live(c.state.status) && is_alive(pid, start) {
            c.state.status = status;
        }
        Ok(())
    })?;
    Ok(())
}

/// Freezes a running container's processes.
pub fn pause(store: &Store, container: &Container) -> Result<(), LifecycleError> {
    let mut current = container.clone();
    match refresh(store, &mut current) {
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
    let mut current = container.clone();
    match refresh(store, &mut current) {
        Status::Paused => {}
        Status::Running => return Err(LifecycleError::NotPaused(current.name.clone())),
        _ => return Err(LifecycleError::NotRunning(current.name.clone())),
    }
    let cgroup = cgroup_of(&current).ok_or_else(|| LifecycleError::NoCgroup(current.name.clone()))?;
    cgroup.thaw()?;
    set_status_if_running(store, &current, Status::Running)
}

/// Removes a container: its record and its directories. A running one only with `force`, which
/// kills it first.
pub fn remove(store: &Store, container: &Container, force: bool) -> Result<(), LifecycleError> {
    let mut current = container.clone();
    if is_live(refresh(store, &mut current)) {
        if !force {
            return Err(LifecycleError::Running);
        }
        match kill(store, &current, Signal::SIGKILL) {
            Ok(()) | Err(LifecycleError::NotRunning(_)) => {}
            Err(e) => return Err(e),
        }
    }
    // A supervisor that is still finishing (its container has just ended) writes into the
    // container's directory and record: let it.
    wait_for_supervisor(&current);
    {
        let _lock = store.lock_containers_exclusive().map_err(ContainerError::from)?;
        let mut index: Index = store.containers().map_err(ContainerError::from)?;
        let Some(i) = index.containers.iter().position(|c| c.id == current.id) else { return Ok(()) };
        let mut fresh = index.containers[i].clone();
        if is_live(refresh(store, &mut fresh)) {
            // Started again meanwhile.
            return Err(LifecycleError::Running);
        }
        index.containers.remove(i);
        store.write_containers(&index).map_err(ContainerError::from)?;
        store.remove_container_dirs(&current.id).map_err(ContainerError::from)?;
    }
    remove_cgroup_of(&current);
    Ok(())
}

/// Waits for a container to end and returns its exit code. A container that is not running
/// (created or exited) gives its recorded code at once (0 for one never started).
pub fn wait(store: &Store, container: &Container) -> Result<i32, LifecycleError> {
    let mut current = container.clone();
    if !is_live(refresh(store, &mut current)) {
        return Ok(current.state.exit_code.unwrap_or(0));
    }
    // The supervisor tells its attach clients the exit code, even of a --rm container whose
    // record is gone by then.
    if let Some(code) = exit_code_from_supervisor(store, &current) {
        return Ok(code);
    }
    if let Some(process) = container_process(&current) {
        process.wait_exit(None).map_err(LifecycleError::Wait)?;
    }
    after_exit(store, &current, None)?;
    let index = load_all(store)?;
    match find_index(&index, &current.id) {
        Ok(i) => {
            let mut fresh = index.containers[i].clone();
            refresh(store, &mut fresh);
            Ok(fresh.state.exit_code.unwrap_or(-1))
        }
        // Removed (--rm) by its supervisor after its exit, which we did not hear.
        Err(_) => Ok(read_exit_record(store, &current.id).map_or(-1, |e| e.exit_code)),
    }
}

/// Listens on the container's attach socket until the supervisor announces the exit code; None
/// if it cannot be reached or goes away without one.
fn exit_code_from_supervisor(store: &Store, container: &Container) -> Option<i32> {
    use super::protocol::{Message, recv_message};
    let connection = super::supervisor::connect_attach(&store.container_run_dir(&container.id)).ok()?;
    loop {
        match recv_message(&connection) {
            Ok(Some(Message::Exit(code))) => return Some(code),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Renames a container. Takes the containers lock, exclusive.
pub fn rename(store: &Store, input: &str, new_name: &str) -> Result<(), ContainerError> {
    let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
    if !super::record::is_valid_name(new_name) {
        return Err(ContainerError::InvalidName(new_name.to_owned()));
    }
    let _lock = store.lock_containers_exclusive()?;
    let mut index: Index = store.containers()?;
    let i = find_index(&index, input)?;
    if index.containers[i].name == new_name {
        return Err(ContainerError::Other(format!("renaming container {input}: it is already named {new_name:?}")));
    }
    if let Some(other) = index.containers.iter().find(|c| c.name == new_name) {
        return Err(ContainerError::NameInUse { name: new_name.to_owned(), id: other.id.clone() });
    }
    index.containers[i].name = new_name.to_owned();
    store.write_containers(&index)?;
    Ok(())
}

/// What `container prune` removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub ids: Vec<String>,
    pub bytes: u64,
}

/// Removes every container that is not running (created or exited). Takes the containers lock,
/// exclusive.
pub fn prune(store: &Store) -> Result<Pruned, ContainerError> {
    let _lock = store.lock_containers_exclusive()?;
    let mut index: Index = store.containers()?;
    let mut pruned = Pruned::default();
    let mut kept = Vec::with_capacity(index.containers.len());
    let mut doomed = Vec::new();
    for container in std::mem::take(&mut index.containers) {
        let mut current = container.clone();
        let live = is_live(refresh(store, &mut current));
        if live || supervisor_alive(&current) {
            kept.push(container);
        } else {
            doomed.push(container);
        }
    }
    index.containers = kept;
    store.write_containers(&index)?;
    for container in doomed {
        pruned.bytes += super::volumes::disk_usage(&store.container_dir(&container.id));
        store.remove_container_dirs(&container.id)?;
        remove_cgroup_of(&container);
        pruned.ids.push(container.id);
    }
    Ok(pruned)
}
