//! Removing networks needs to know which containers use them: `network rm` and `prune` (the
//! CLI's and the API's) run under the containers lock (shared: records are only read) and the
//! networks lock (exclusive), in that order, after dead containers' attachments are collected.

use super::index::{ContainerError, Index};
use crate::network::gc;
use crate::network::kernel::HostKernel;
use crate::network::manage;
use crate::network::record::NetworkRecord;
use crate::network::state::Owner;
use crate::store::Store;

fn alive(owner: Owner) -> bool {
    super::liveness::is_alive(owner.pid, owner.start_time)
}

/// Runs `work` with both locks held and garbage collected; `work` gets the kernel and, for a
/// network, the containers whose records name it.
pub fn with_network_locks<T>(
    store: &Store,
    work: impl FnOnce(&mut HostKernel, &dyn Fn(&NetworkRecord) -> Vec<String>) -> Result<T, crate::network::NetworkError>,
) -> Result<T, ContainerError> {
    let _containers = store.lock_containers_shared()?;
    let index: Index = store.containers()?;
    let _networks = store.lock_networks_exclusive()?;
    let records = manage::load_locked(store)?;
    let mut kernel = HostKernel::default();
    gc::collect_locked(store, &records, &mut kernel, &alive)?;
    let named_by = |n: &NetworkRecord| super::net_view::containers_naming(&index, n);
    Ok(work(&mut kernel, &named_by)?)
}
