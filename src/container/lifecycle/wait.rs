//! `wait`: the exit code of a container, once it has ended.

use super::{LifecycleError, after_exit, container_process, current, is_live};
use crate::container::index::{find_index, load_all, read_exit_record, refresh};
use crate::container::protocol::{Message, connect_attach, recv_message};
use crate::container::record::Container;
use crate::store::Store;

/// Waits for a container to end and returns its exit code. A container that is not running
/// (created or exited) gives its recorded code at once (0 for one never started).
pub fn wait(store: &Store, container: &Container) -> Result<i32, LifecycleError> {
    let current = current(store, container)?;
    if !is_live(current.state.status) {
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
    let connection = connect_attach(&store.container_run_dir(&container.id)).ok()?;
    loop {
        match recv_message(&connection) {
            Ok(Some(Message::Exit(code))) => return Some(code),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}
