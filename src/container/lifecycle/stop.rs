//! `stop`: the container's stop signal, then SIGKILL after a grace period.

use std::time::Duration;

use crate::container::signals::SignalNumber;

use super::kill::{KILL_WAIT, kill_everything};
use super::{
    LifecycleError, after_exit, container_process, current, is_live, mark_manually_stopped, resume_to_deliver,
};
use crate::container::record::{Container, Status};
use crate::store::Store;

/// Docker's default grace period between the stop signal and SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: u32 = 10;

fn stop_signal_of(container: &Container) -> SignalNumber {
    crate::container::signals::parse_signal(&container.config.stop_signal).unwrap_or(SignalNumber::TERM)
}

/// Stops a running container: its stop signal (or `signal`), then SIGKILL after `timeout`
/// seconds (default: the container's own, else 10). A container that is not running is left
/// as it is. Returns once the exit is recorded.
pub fn stop(
    store: &Store,
    container: &Container,
    timeout: Option<u32>,
    signal: Option<SignalNumber>,
) -> Result<(), LifecycleError> {
    let current = current(store, container)?;
    // Before the signal: the supervisor's restart decision must see it (also during a back-off).
    mark_manually_stopped(store, &current)?;
    let process = if is_live(current.state.status) { container_process(&current) } else { None };
    let Some(process) = process else {
        // Already ended: maybe just now, with its supervisor still recording it, or long ago
        // with no supervisor left to record it.
        return after_exit(store, &current, None);
    };
    let signal = signal.unwrap_or_else(|| stop_signal_of(&current));
    let timeout = Duration::from_secs(timeout.or(current.config.stop_timeout).unwrap_or(DEFAULT_STOP_TIMEOUT).into());
    let _ = process.send_signal(signal.raw());
    if current.state.status == Status::Paused {
        resume_to_deliver(store, &current)?;
    }
    let mut last_signal = signal;
    if !process.wait_exit(Some(timeout)).map_err(LifecycleError::Wait)? {
        last_signal = SignalNumber::KILL;
        if !kill_everything(&current, &process, KILL_WAIT)? {
            return Err(LifecycleError::Unkillable(current.name.clone()));
        }
    }
    after_exit(store, &current, Some(128 + last_signal.raw()))?;
    crate::container::event::record(store, "stop", &current);
    Ok(())
}
