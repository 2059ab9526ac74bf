//! Volumes: `volumes/<name>/_data` directories that outlive containers, and their records in one
//! `volumes.json` (name, driver, labels, options, creation time, anonymous or not), guarded by
//! `volumes.lock` (lock level `Volumes`: after the containers lock, before the image lock).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{LockGuard, LockLevel, Store, StoreError, lock, write_file_atomically};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct VolumeRecord {
    pub name: String,
    /// Always "local".
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The local driver's options (type, device, o) as given.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// RFC 3339.
    pub created: String,
    /// Made for one container (`-v /path`, an image VOLUME): removed with it by `rm -v` and
    /// `run --rm`, and by `volume prune` without `-a`.
    #[serde(default)]
    pub anonymous: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct VolumeIndex {
    pub volumes: Vec<VolumeRecord>,
}

impl VolumeIndex {
    pub fn get(&self, name: &str) -> Option<&VolumeRecord> {
        self.volumes.iter().find(|v| v.name == name)
    }
}

impl Store {
    fn volumes_dir(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// `volumes/<name>/`: the volume's own directory (its content is in `_data`).
    pub fn volume_dir(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name)
    }

    /// The names under `volumes/`: each should be a volume's. Read under the volumes lock.
    pub fn volume_dir_names(&self) -> Result<Vec<String>, StoreError> {
        super::dir_names(&self.volumes_dir())
    }

    /// `volumes/<name>/_data`: what containers mount.
    pub fn volume_data_dir(&self, name: &str) -> PathBuf {
        self.volume_dir(name).join("_data")
    }

    /// Lock level `Volumes`, shared: for reading volumes.json.
    pub fn lock_volumes_shared(&self) -> Result<LockGuard, StoreError> {
        lock::lock_shared(LockLevel::Volumes, &self.root.join("volumes.lock"))
    }

    /// Lock level `Volumes`, exclusive: for creating or removing volumes.
    pub fn lock_volumes_exclusive(&self) -> Result<LockGuard, StoreError> {
        lock::lock_exclusive(LockLevel::Volumes, &self.root.join("volumes.lock"))
    }

    /// Reads volumes.json. Needs the volumes lock, shared or exclusive.
    pub fn volumes(&self) -> Result<VolumeIndex, StoreError> {
        let path = self.root.join("volumes.json");
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt { path, reason: e.to_string() })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(VolumeIndex::default()),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Replaces volumes.json. Needs the volumes lock, exclusive.
    pub fn write_volumes(&self, index: &VolumeIndex) -> Result<(), StoreError> {
        write_file_atomically(&self.root.join("volumes.json"), &serde_json::to_vec(index).expect("serializable"))
    }

    /// Creates `volumes/<name>/_data` (mode 0755, as Docker's). Needs the volumes lock,
    /// exclusive; the caller adds the record afterwards, so a crash leaves at worst an unlisted
    /// directory that the next create of that name reuses.
    pub fn create_volume_dir(&self, name: &str) -> Result<PathBuf, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        let data = self.volume_data_dir(name);
        fs::DirBuilder::new().recursive(true).mode(0o755).create(&data).map_err(|e| StoreError::io(&data, e))?;
        Ok(data)
    }

    /// Removes a volume's directory (renamed into tmp/ first, so a crash leaves only sweepable
    /// garbage). Needs the volumes lock, exclusive; the caller has removed the record.
    pub fn remove_volume_dir(&self, name: &str) -> Result<(), StoreError> {
        let dir = self.volume_dir(name);
        let trash = self.tmp_dir().join(format!("trash-volume-{name}"));
        // A removal killed half-way left its trash; the rename below cannot replace it.
        super::remove_path(&trash);
        match fs::rename(&dir, &trash) {
            Ok(()) => super::remove_path(&trash),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&dir, e)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_round_trip_and_their_dirs_come_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), false).unwrap();
        let _lock = store.lock_volumes_exclusive().unwrap();
        assert_eq!(store.volumes().unwrap(), VolumeIndex::default());
        let data = store.create_volume_dir("data").unwrap();
        assert!(data.ends_with("volumes/data/_data") && data.is_dir());
        fs::write(data.join("f"), "x").unwrap();
        let record = VolumeRecord { name: "data".into(), driver: "local".into(), ..Default::default() };
        store.write_volumes(&VolumeIndex { volumes: vec![record.clone()] }).unwrap();
        assert_eq!(store.volumes().unwrap().get("data"), Some(&record));
        store.remove_volume_dir("data").unwrap();
        assert!(!store.volume_dir("data").exists());
        // Removing what is not there is fine.
        store.remove_volume_dir("data").unwrap();
    }
}
