//! Container events for the journal (`crate::events`), with Docker's attributes: the
//! container's name, image and labels, and what the action adds (exit code, signal).

use crate::container::record::Container;
use crate::events::{self, Event};
use crate::store::Store;

/// Records `action` about `container`.
pub fn record(store: &Store, action: &str, container: &Container) {
    events::record(store, of(action, container));
}

/// Records `action` about `container` with one more attribute (`exitCode`, `signal`).
pub fn record_with(store: &Store, action: &str, container: &Container, key: &str, value: &str) {
    events::record(store, of(action, container).with(key, value));
}

fn of(action: &str, container: &Container) -> Event {
    Event::container(action, &container.id, &container.name, &container.config.image_name, &container.config.labels)
}

/// Runs `spec` in `container` (`sandbox::exec::exec_in_container`), recorded first as Docker's
/// `exec_create: CMD` and `exec_start: CMD` events: the exec joins the container's mount
/// namespace, where the journal is out of reach, so its end (`exec_die`) is not recorded.
pub fn exec_in_container(
    store: &Store,
    container: &Container,
    spec: &crate::sandbox::spec::ProcessSpec,
    detach: bool,
) -> Result<i32, crate::sandbox::process::SandboxError> {
    let command = spec.args.join(" ");
    let exec_id: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
    for action in ["exec_create", "exec_start"] {
        record_with(store, &format!("{action}: {command}"), container, "execID", &exec_id);
    }
    crate::sandbox::exec::exec_in_container(container.state.pid, container.config.rootless, spec, detach)
}
