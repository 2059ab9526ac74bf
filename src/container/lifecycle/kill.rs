//! `kill`: a signal for the container's process; with SIGKILL, everything of the container.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::{LifecycleError, after_exit, cgroup_of, container_process, current, is_live, mark_manually_stopped};
use crate::container::index::supervisor_alive;
use crate::container::record::Container;
use crate::container::signals::SignalNumber;
use crate::sandbox::pidfd::PidFd;
use crate::store::Store;

/// How long to wait for a SIGKILLed container to be gone (a process in uninterruptible sleep
/// dies only when its system call returns).
pub(super) const KILL_WAIT: Duration = Duration::from_secs(10);

/// SIGKILL for everything of the container; true once its first process (`process`) has ended,
/// within `wait`.
///
/// The first process is pid 1 of the container's pid namespace: when it dies the kernel kills
/// every other process of the namespace (and of those below it), after it has stopped new ones
/// from being made there, so no fork escapes; it is reported ended only once they are all gone.
/// A frozen (paused) cgroup is thawed, since a v1 freezer carries out a SIGKILL only on thawed
/// tasks. What is then still in the cgroup is outside the namespace (a `berth exec` waiting for
/// its command): it is killed last, cgroup and all. Not before: on cgroup v1 that kill freezes
/// the cgroup first, and a freeze waits on every task in it, which tasks that are dying do not
/// answer — it would wait out its whole timeout.
pub(super) fn kill_everything(container: &Container, process: &PidFd, wait: Duration) -> Result<bool, LifecycleError> {
    let _ = process.send_signal(libc::SIGKILL);
    let cgroup = cgroup_of(container);
    if let Some(cgroup) = &cgroup
        && cgroup.is_frozen()
    {
        cgroup.thaw()?;
    }
    if !process.wait_exit(Some(wait)).map_err(LifecycleError::Wait)? {
        return Ok(false);
    }
    if let Some(cgroup) = &cgroup
        && !cgroup.pids().is_empty()
    {
        cgroup.kill_all(Signal::SIGKILL)?;
    }
    Ok(true)
}

/// Sends `signal` to a running container; with SIGKILL, returns once its exit is recorded.
pub fn kill(store: &Store, container: &Container, signal: SignalNumber) -> Result<(), LifecycleError> {
    let current = current(store, container)?;
    let not_running = || LifecycleError::NotRunning(current.name.clone());
    let process = if is_live(current.state.status) { container_process(&current) } else { None };
    let Some(process) = process else { return Err(not_running()) };
    crate::container::event::record_with(store, "kill", &current, "signal", &signal.raw().to_string());
    // Docker's rule: the stop signal stops the container for good, any other may be restarted.
    if crate::container::signals::parse_signal(&current.config.stop_signal).unwrap_or(SignalNumber::TERM) == signal {
        mark_manually_stopped(store, &current)?;
    }
    if signal == SignalNumber::KILL {
        if !kill_everything(&current, &process, KILL_WAIT)? {
            return Err(LifecycleError::Unkillable(current.name.clone()));
        }
        return after_exit(store, &current, Some(128 + signal.raw()));
    }
    process.send_signal(signal.raw()).map_err(|_| not_running())?;
    if supervisor_alive(&current) {
        return Ok(());
    }
    // Nobody else will record the exit: see briefly whether the signal ended it.
    if process.wait_exit(Some(Duration::from_secs(1))).map_err(LifecycleError::Wait)? {
        after_exit(store, &current, Some(128 + signal.raw()))?;
    }
    Ok(())
}
