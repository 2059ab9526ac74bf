//! Networks: every network's configuration in one `networks.json` (persistent, in the store
//! root), and each network's runtime state — which containers are attached, their addresses —
//! in `RUNROOT/networks/<id>.json` (the runroot is a tmpfs, so the state vanishes at a reboot
//! together with the bridges, veths and firewall rules it describes). Both are guarded by
//! `networks.lock`, which comes after the containers lock and before the volumes lock.
//!
//! The store knows nothing of what a network is: the records are generic, as containers' are.

use std::fs;
use std::io;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{LockGuard, LockLevel, Store, StoreError, lock, write_file_atomically};

/// The networks index, generic over the record type.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(bound = "T: Serialize + DeserializeOwned")]
pub struct NetworkIndex<T> {
    pub networks: Vec<T>,
}

impl<T> Default for NetworkIndex<T> {
    fn default() -> Self {
        NetworkIndex { networks: Vec::new() }
    }
}

fn read_json<T: DeserializeOwned + Default>(path: PathBuf) -> Result<T, StoreError> {
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt { path, reason: e.to_string() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(StoreError::io(&path, e)),
    }
}

impl Store {
    /// Lock level `Networks` (after the containers lock, before the volumes lock), shared: for reading
    /// networks.json and the networks' runtime state.
    pub fn lock_networks_shared(&self) -> Result<LockGuard, StoreError> {
        lock::lock_shared(LockLevel::Networks, &self.root.join("networks.lock"))
    }

    /// Lock level `Networks`, exclusive: for creating or removing networks and for attaching containers
    /// to them or detaching them (the runtime state).
    pub fn lock_networks_exclusive(&self) -> Result<LockGuard, StoreError> {
        lock::lock_exclusive(LockLevel::Networks, &self.root.join("networks.lock"))
    }

    /// Reads networks.json. Needs the networks lock, shared or exclusive.
    pub fn networks<T: Serialize + DeserializeOwned>(&self) -> Result<NetworkIndex<T>, StoreError> {
        read_json(self.root.join("networks.json"))
    }

    /// Replaces networks.json. Needs the networks lock, exclusive.
    pub fn write_networks<T: Serialize + DeserializeOwned>(&self, index: &NetworkIndex<T>) -> Result<(), StoreError> {
        write_file_atomically(&self.root.join("networks.json"), &serde_json::to_vec(index).expect("serializable"))
    }

    fn network_state_dir(&self) -> PathBuf {
        self.runroot.join("networks")
    }

    /// `RUNROOT/networks/<id>.json`: a network's runtime state. Read it without the lock only
    /// where a stale answer is harmless (the DNS responder); it is replaced atomically.
    pub fn network_state_path(&self, network_id: &str) -> PathBuf {
        self.network_state_dir().join(format!("{network_id}.json"))
    }

    /// A network's runtime state; the default (nothing attached) when there is none. Needs the
    /// networks lock, shared or exclusive.
    pub fn network_state<T: DeserializeOwned + Default>(&self, network_id: &str) -> Result<T, StoreError> {
        read_json(self.network_state_path(network_id))
    }

    /// Replaces a network's runtime state. Needs the networks lock, exclusive.
    pub fn write_network_state<T: Serialize>(&self, network_id: &str, state: &T) -> Result<(), StoreError> {
        let dir = self.network_state_dir();
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let bytes = serde_json::to_vec(state).expect("serializable");
        write_file_atomically(&self.network_state_path(network_id), &bytes)
    }

    /// Removes a network's runtime state (nothing there is fine). Needs the networks lock,
    /// exclusive.
    pub fn remove_network_state(&self, network_id: &str) -> Result<(), StoreError> {
        let path = self.network_state_path(network_id);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// The ids of the networks that have runtime state. Needs the networks lock.
    pub fn network_state_ids(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.network_state_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&dir, e)),
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_owned))
            .filter(|id| !id.starts_with('.'))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, Default, PartialEq)]
    struct State {
        attached: Vec<String>,
    }

    #[test]
    fn records_and_runtime_state_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), false).unwrap();
        let _lock = store.lock_networks_exclusive().unwrap();
        assert!(store.networks::<String>().unwrap().networks.is_empty());
        store.write_networks(&NetworkIndex { networks: vec!["a".to_owned(), "b".to_owned()] }).unwrap();
        assert_eq!(store.networks::<String>().unwrap().networks, ["a", "b"]);

        assert_eq!(store.network_state::<State>("n1").unwrap(), State::default());
        assert!(store.network_state_ids().unwrap().is_empty());
        let state = State { attached: vec!["c1".into()] };
        store.write_network_state("n1", &state).unwrap();
        assert!(store.network_state_path("n1").starts_with(dir.path().join("run")));
        assert_eq!(store.network_state::<State>("n1").unwrap(), state);
        assert_eq!(store.network_state_ids().unwrap(), ["n1"]);
        store.remove_network_state("n1").unwrap();
        store.remove_network_state("n1").unwrap();
        assert!(store.network_state_ids().unwrap().is_empty());
    }
}
