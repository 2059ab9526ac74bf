//! `system boot`: after a reboot no supervisor is left, so nothing carries out restart
//! policies; this starts the containers whose policy says so (`always`, and `unless-stopped`
//! unless the user stopped it), as Podman's podman-restart.service does. A shipped systemd unit
//! (contrib/systemd/) calls it at boot. Running it again starts only what is not running.

use super::index::{ContainerError, load_all, refresh};
use super::record::{Container, Status};
use super::start::{Launch, StartError, launch};
use crate::store::Store;

/// What `boot` did for one container.
#[derive(Debug)]
pub enum Booted {
    Started,
    /// Already running or being started.
    Running,
    Failed(StartError),
}

/// Starts every container whose restart policy asks for it at boot and that does not run;
/// each with what came of it, in the order of the records.
pub fn boot(store: &Store) -> Result<Vec<(Container, Booted)>, ContainerError> {
    let index = load_all(store)?;
    let mut done = Vec::new();
    for container in index.containers {
        if !container.config.restart.starts_at_boot(container.state.manually_stopped) {
            continue;
        }
        let mut current = container.clone();
        if matches!(refresh(store, &mut current), Status::Running | Status::Paused | Status::Starting) {
            done.push((container, Booted::Running));
            continue;
        }
        let outcome = match launch(store, &container) {
            Ok(Launch::Started(_)) => Booted::Started,
            Ok(Launch::AlreadyRunning) => Booted::Running,
            Err(e) => Booted::Failed(e),
        };
        done.push((container, outcome));
    }
    Ok(done)
}
