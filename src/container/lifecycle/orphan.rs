//! The end of a container whose supervisor is gone: recorded by the command that notices it
//! (`stop`, `kill`, `rm -f`, `wait`, a new `start`), through the same teardown the supervisor
//! runs.

use super::cgroup_of;
use crate::container::index::{ContainerError, supervisor_alive};
use crate::container::liveness::is_alive;
use crate::container::record::Container;
use crate::container::teardown::{Exit, finish};
use crate::store::Store;

/// Records the end of a container whose record still says it runs although its process is
/// gone and no supervisor is left to say how it ended: the exit file's code if one was
/// written, else `guessed_code`, else 137 (the usual reason for a silent end). Cleans up what
/// the supervisor would have: the cgroup, the attach socket, and the whole container with --rm.
/// Nothing happens while the process or the supervisor lives, or once the record names another
/// process (checked under the containers lock).
pub fn record_exit_if_orphaned(
    store: &Store,
    container: &Container,
    guessed_code: Option<i32>,
) -> Result<(), ContainerError> {
    let pid = container.state.pid;
    if pid <= 0 || supervisor_alive(container) || is_alive(pid, container.state.pid_start_time) {
        return Ok(());
    }
    let cgroup = cgroup_of(container);
    finish(store, container, pid, Exit::Unknown { guessed_code }, cgroup.as_ref(), &mut |_| {})?;
    Ok(())
}
