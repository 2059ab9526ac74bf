//! The supervisor's restart: once its container's end is recorded, the restart policy decides
//! (`container::restart::Backoff`); after the back-off the supervisor claims the container
//! again (Starting, naming itself, RestartCount + 1) and starts it as `start` would have. A
//! `stop`, `kill` with the stop signal or `rm -f` (manually_stopped), a `start` by someone
//! else (another supervisor named) or a removal in the meantime each win: no claim, the
//! supervisor ends.

use std::time::Duration;

use crate::container::index::{load, update};
use crate::container::liveness::process_start_time;
use crate::container::record::Status;
use crate::container::restart::Backoff;
use crate::store::Store;

/// After the end of a run of `ran` was recorded with `code`: true once the container is
/// claimed for its next start (the back-off waited out), false when it is not to restart.
pub fn claim_restart(store: &Store, id: &str, backoff: &mut Backoff, code: i32, ran: Duration) -> bool {
    let pid = nix::unistd::getpid().as_raw();
    let Some(start_time) = process_start_time(pid) else { return false };
    let ours = |c: &crate::container::record::Container| {
        c.state.supervisor_pid == pid
            && c.state.supervisor_start_time == start_time
            && c.state.status == Status::Exited
            && !c.state.manually_stopped
    };
    let Ok(container) = load(store, id) else { return false };
    if !ours(&container) {
        return false;
    }
    backoff.set_policy(container.config.restart);
    let Some(delay) = backoff.next(code, container.state.restart_count, ran, container.state.manually_stopped) else {
        return false;
    };
    let _ = update(store, id, |c| {
        c.state.restarting = ours(c);
        Ok(())
    });
    // Nothing else is left to serve: the container's output, clients and checks ended with it.
    std::thread::sleep(delay);
    update(store, id, |c| {
        let claimed = ours(c);
        if claimed {
            c.state.status = Status::Starting;
            c.state.restart_count += 1;
        }
        if c.state.supervisor_pid == pid {
            c.state.restarting = false;
        }
        Ok(claimed)
    })
    .unwrap_or(false)
}
