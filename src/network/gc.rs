//! Garbage collection of attachments whose owner died without detaching (a supervisor killed
//! with -9, a `run` killed midway): every command that touches networking runs it first, under
//! the networks lock, so a dead container's address, veth and firewall rules are gone before
//! anyone needs them. It costs a read of each network's state and a liveness check per
//! endpoint; it touches the kernel only when it finds a dead owner.
//!
//! And `network reload`: the firewall rebuilt from the recorded state, after something else
//! flushed it (`nft flush ruleset`, a firewalld reload).

use super::NetworkError;
use super::attach::{load_states, release_locked};
use super::firewall::{Change, plan, rules};
use super::kernel::Kernel;
use super::manage;
use super::record::NetworkRecord;
use super::state::Liveness;
use crate::store::Store;

/// Releases every endpoint whose owner is dead; returns their container ids. Needs the networks
/// lock, exclusive.
pub fn collect_locked(
    store: &Store,
    records: &[NetworkRecord],
    kernel: &mut dyn Kernel,
    alive: Liveness,
) -> Result<Vec<String>, NetworkError> {
    let mut states = load_states(store)?;
    let mut dead: Vec<String> = states.values().flat_map(|s| s.dead_endpoints(alive)).collect();
    dead.sort();
    dead.dedup();
    if dead.is_empty() {
        return Ok(dead);
    }
    release_locked(store, records, &mut states, kernel, &dead)?;
    Ok(dead)
}

/// [`collect_locked`] taking the networks lock itself.
pub fn collect_garbage(store: &Store, kernel: &mut dyn Kernel, alive: Liveness) -> Result<Vec<String>, NetworkError> {
    let _lock = store.lock_networks_exclusive()?;
    let records = manage::load_locked(store)?;
    collect_locked(store, &records, kernel, alive)
}

/// `network reload`: garbage collection, then berth's whole table rebuilt in one transaction
/// (deleted, when no network is in use). Takes the networks lock.
pub fn reload(store: &Store, kernel: &mut dyn Kernel, alive: Liveness) -> Result<(), NetworkError> {
    let _lock = store.lock_networks_exclusive()?;
    let records = manage::load_locked(store)?;
    collect_locked(store, &records, kernel, alive)?;
    let states = load_states(store)?;
    let ruleset = plan::ruleset(&records, &states, &[]);
    let change = Change { recreate: true, ..Change::default() };
    kernel.apply_firewall(&rules::script(&ruleset, &change), "reloading berth's firewall rules")
}
