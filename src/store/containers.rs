//! Container records on disk: `containers.json` holds every container's configuration and its
//! last recorded state in one file (so `ps` over a thousand containers is one read); each
//! container also has a directory `containers/<id>/` with its overlay upper/work dirs, its log,
//! its generated /etc files and the `exit` file its supervisor writes when the process ends.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{LockGuard, LockLevel, Store, StoreError, lock, write_file_atomically};

/// The containers index, generic over the record type so the store knows nothing of what a
/// container is beyond its id and name.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(bound = "T: Serialize + DeserializeOwned")]
pub struct ContainerIndex<T> {
    pub containers: Vec<T>,
}

impl<T> Default for ContainerIndex<T> {
    fn default() -> Self {
        ContainerIndex { containers: Vec::new() }
    }
}

impl Store {
    /// Lock level `Containers`, shared: for reading containers.json.
    pub fn lock_containers_shared(&self) -> Result<LockGuard, StoreError> {
        lock::lock_shared(LockLevel::Containers, &self.root.join("containers.lock"))
    }

    /// Lock level `Containers`, exclusive: for creating, changing or removing container records.
    pub fn lock_containers_exclusive(&self) -> Result<LockGuard, StoreError> {
        lock::lock_exclusive(LockLevel::Containers, &self.root.join("containers.lock"))
    }

    /// Reads containers.json. Needs the containers lock, shared or exclusive (a reader without
    /// it still sees a whole file, since it is replaced atomically, but maybe a stale one).
    pub fn containers<T: Serialize + DeserializeOwned>(&self) -> Result<ContainerIndex<T>, StoreError> {
        let path = self.root.join("containers.json");
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt { path, reason: e.to_string() })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ContainerIndex::default()),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Replaces containers.json. Needs the containers lock, exclusive.
    pub fn write_containers<T: Serialize + DeserializeOwned>(
        &self,
        index: &ContainerIndex<T>,
    ) -> Result<(), StoreError> {
        write_file_atomically(&self.root.join("containers.json"), &serde_json::to_vec(index).expect("serializable"))
    }

    /// `containers/<id>/`: persistent per-container files.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// `<runroot>/containers/<id>/`: sockets and other runtime files, gone after a reboot.
    pub fn container_run_dir(&self, id: &str) -> PathBuf {
        self.runroot.join("containers").join(id)
    }

    /// The names under `containers/` in the store and in the runroot: each should be a
    /// container's id. Read under the containers lock (either mode) to be an answer.
    pub fn container_dir_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for dir in [self.root.join("containers"), self.runroot.join("containers")] {
            names.extend(super::dir_names(&dir)?);
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Removes what the store and the runroot hold for container `id` (a directory no record
    /// owns). Needs the containers lock, exclusive.
    pub fn remove_container_leftovers(&self, id: &str) -> Result<(), StoreError> {
        self.remove_container_dirs(id)?;
        super::remove_path(&self.container_run_dir(id));
        Ok(())
    }

    /// Creates a container's directories. Needs the containers lock, exclusive.
    pub fn create_container_dirs(&self, id: &str) -> Result<(), StoreError> {
        for dir in [
            self.container_dir(id).join("upper"),
            self.container_dir(id).join("work"),
            self.container_dir(id).join("rootfs"),
            self.container_run_dir(id),
        ] {
            fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        }
        Ok(())
    }

    /// Removes a container's directories (renamed into tmp/ first, so a crash leaves only
    /// sweepable garbage). Needs the containers lock, exclusive.
    pub fn remove_container_dirs(&self, id: &str) -> Result<(), StoreError> {
        if let Some(trash) = self.trash_container_dirs(id)? {
            trash.empty();
        }
        Ok(())
    }

    /// Takes a container's directories out of the store at once (a rename into tmp/), leaving
    /// their deletion, one unlink per file, for when nobody waits on it. Needs the containers
    /// lock, exclusive; emptying the trash needs none (an interrupted one is swept on open).
    pub fn trash_container_dirs(&self, id: &str) -> Result<Option<Trash>, StoreError> {
        let dir = self.container_dir(id);
        let trash = self.tmp_dir().join(format!("trash-{id}"));
        let moved = match fs::rename(&dir, &trash) {
            Ok(()) => Some(Trash(trash)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::io(&dir, e)),
        };
        super::remove_path(&self.container_run_dir(id));
        Ok(moved)
    }
}

/// Directories taken out of the store, still to be deleted.
#[must_use = "the trash is only deleted by `empty`"]
pub struct Trash(PathBuf);

impl Trash {
    pub fn empty(self) {
        super::remove_path(&self.0);
    }
}

/// Reads a small file, None if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(path, e)),
    }
}
