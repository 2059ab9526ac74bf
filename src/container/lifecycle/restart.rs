//! `restart`: stop, then start again.

use crate::container::signals::SignalNumber;

use super::{LifecycleError, stop};
use crate::container::index::load;
use crate::container::record::Container;
use crate::container::start::launch;
use crate::store::Store;

/// Stops a container (see [`stop`]) and starts it again, detached: its supervisor serves whoever
/// attaches later. A start by another command in between counts as this one's.
pub fn restart(
    store: &Store,
    container: &Container,
    timeout: Option<u32>,
    signal: Option<SignalNumber>,
) -> Result<(), LifecycleError> {
    stop(store, container, timeout, signal)?;
    // Its record as the stop left it (a --rm container is gone).
    let stopped = load(store, &container.id)?;
    drop(launch(store, &stopped)?);
    Ok(())
}
