//! What happens to a container after it started: one file per operation (youki's layout) —
//! `stop`, `kill`, `pause` (and unpause), `remove` (and prune), `rename`, `restart`, `wait` —
//! and `orphan`, the end of a container whose supervisor is gone.
//!
//! The container's supervisor normally records how its container ended. These operations signal
//! the container's process (through a pidfd, so a recycled pid is never hit), wait for it to end,
//! then wait for the supervisor to have recorded the exit. When the supervisor itself is gone
//! (killed), they record the exit in its place (`orphan.rs`, through `teardown`). A start in
//! progress is waited out first (`start::settled`): the operation acts on what it became.

mod kill;
mod orphan;
mod pause;
mod remove;
mod rename;
mod restart;
mod stop;
mod wait;

use std::path::Path;
use std::time::Duration;

pub use self::kill::kill;
pub use self::orphan::record_exit_if_orphaned;
pub use self::pause::{pause, unpause};
pub use self::remove::{prune, remove};
pub use self::rename::rename;
pub use self::restart::restart;
pub use self::stop::stop;
pub use self::wait::wait;
use super::index::{ContainerError, find, load_all, update};
use super::liveness::{is_alive, process_start_time};
use super::record::{Container, Status};
use super::start::StartError;
use crate::sandbox::cgroup::{Cgroup, DEFAULT_ROOT};
use crate::sandbox::pidfd::PidFd;
use crate::store::Store;

/// How long a supervisor may take to record its container's exit: it drains the output (at
/// most half a second), writes the exit file, removes the cgroup and updates the record.
const SUPERVISOR_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is already paused")]
    AlreadyPaused(String),
    #[error("container {0} is not paused")]
    NotPaused(String),
    #[error("container is running: stop the container before removing or force remove")]
    Running,
    #[error(
        "its network namespace is shared by {} (--network container:{name}): remove them first",
        .users.join(", ")
    )]
    NetworkShared { name: String, users: Vec<String> },
    #[error("container {0} did not exit after SIGKILL")]
    Unkillable(String),
    #[error(
        "container {0} has no cgroup: pausing needs one (rootless containers get one only on cgroup v2 with a \
         cgroup delegated to the user)"
    )]
    NoCgroup(String),
    #[error(transparent)]
    Cgroup(#[from] crate::sandbox::cgroup::CgroupError),
    #[error("waiting for the container")]
    Wait(#[source] std::io::Error),
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

/// One container, with its state as it really is once no start of it is in progress.
pub fn load_current(store: &Store, input: &str) -> Result<Container, LifecycleError> {
    let index = load_all(store)?;
    current(store, find(&index, input)?)
}

/// `container`'s state as it really is (see `index::refresh`), a start in progress waited out.
fn current(store: &Store, container: &Container) -> Result<Container, LifecycleError> {
    Ok(super::start::settled(store, container)?)
}

fn is_live(status: Status) -> bool {
    matches!(status, Status::Running | Status::Paused)
}

/// After the container's process ended: lets its supervisor finish recording, or records the
/// exit itself if the supervisor is gone. `guessed_code` (128 + the last signal sent) stands in
/// for the code no supervisor saw.
fn after_exit(store: &Store, container: &Container, guessed_code: Option<i32>) -> Result<(), LifecycleError> {
    wait_for_recorded_end(store, container, SUPERVISOR_WAIT);
    Ok(record_exit_if_orphaned(store, container, guessed_code)?)
}

/// Waits at most `timeout` for the container's supervisor (as recorded) to end.
pub fn wait_for_supervisor(container: &Container, timeout: Duration) {
    if let Some(supervisor) = supervisor_process(container) {
        let _ = supervisor.wait_exit(Some(timeout));
    }
}

/// Records that the user stopped container (`stop`, `kill` with its stop signal, `rm -f`):
/// its restart policy must not start it again. Cleared by its next start.
fn mark_manually_stopped(store: &Store, container: &Container) -> Result<(), LifecycleError> {
    match update(store, &container.id, |c| {
        c.state.manually_stopped = true;
        Ok(())
    }) {
        Ok(()) | Err(ContainerError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Waits at most `timeout` for the container's supervisor to have recorded the end of the run
/// `container` names. Without a restart policy that is the supervisor's end; with one the
/// supervisor may live on to restart it (or wait out its back-off), so its record tells.
fn wait_for_recorded_end(store: &Store, container: &Container, timeout: Duration) {
    if container.config.restart.is_no() {
        return wait_for_supervisor(container, timeout);
    }
    let Some(supervisor) = supervisor_process(container) else { return };
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if supervisor.wait_exit(Some(Duration::from_millis(10))).unwrap_or(true) {
            return;
        }
        let recorded = match super::index::load(store, &container.id) {
            Ok(c) => c,
            Err(_) => return,
        };
        let same_run = recorded.state.pid == container.state.pid && is_live(recorded.state.status);
        if !same_run && recorded.state.status != Status::Starting {
            return;
        }
    }
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

/// A paused container's processes take signals only once thawed.
fn resume_to_deliver(store: &Store, container: &Container) -> Result<(), LifecycleError> {
    if let Some(cgroup) = cgroup_of(container) {
        cgroup.thaw()?;
    }
    set_status_if_running(store, container, Status::Running)
}
