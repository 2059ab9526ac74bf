//! The build cache's step entries: `build-cache/steps/<key hex>.json`, each naming the layer a
//! build step made (or none: the step changed nothing), under `build-cache/steps.lock`
//! (level `BuildCache`). An entry is only a hint: its layer is looked up before it is used, so
//! an entry whose layer garbage collection removed is a miss, never an error.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{LockGuard, LockLevel, Store, StoreError, lock, write_file_atomically};

/// One step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildCacheEntry {
    /// The chain id of the layer the step made; None for a step whose diff was empty.
    pub chain_id: Option<String>,
}

/// A step entry as it lies in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    pub key_hex: String,
    pub entry: BuildCacheEntry,
    pub modified: Option<std::time::SystemTime>,
}

impl Store {
    fn build_cache_dir(&self) -> PathBuf {
        self.root.join("build-cache")
    }

    fn step_entry_path(&self, key_hex: &str) -> Result<PathBuf, StoreError> {
        if key_hex.len() != 64 || !key_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::BadDigest(super::BadDigest(key_hex.to_owned())));
        }
        Ok(self.build_cache_dir().join("steps").join(format!("{key_hex}.json")))
    }

    /// Lock level `BuildCache`, shared: to read step entries.
    pub fn lock_build_cache_shared(&self) -> Result<LockGuard, StoreError> {
        std::fs::create_dir_all(self.build_cache_dir().join("steps"))
            .map_err(|e| StoreError::io(&self.build_cache_dir(), e))?;
        lock::lock_shared(LockLevel::BuildCache, &self.build_cache_dir().join("steps.lock"))
    }

    /// Lock level `BuildCache`, exclusive: to write or remove step entries.
    pub fn lock_build_cache_exclusive(&self) -> Result<LockGuard, StoreError> {
        std::fs::create_dir_all(self.build_cache_dir().join("steps"))
            .map_err(|e| StoreError::io(&self.build_cache_dir(), e))?;
        lock::lock_exclusive(LockLevel::BuildCache, &self.build_cache_dir().join("steps.lock"))
    }

    /// The entry for a step key (hex). Needs the build cache lock, shared.
    pub fn build_cache_entry(&self, key_hex: &str) -> Result<Option<BuildCacheEntry>, StoreError> {
        let path = self.step_entry_path(key_hex)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Records a step's result. Needs the build cache lock, exclusive.
    pub fn put_build_cache_entry(&self, key_hex: &str, entry: &BuildCacheEntry) -> Result<(), StoreError> {
        let path = self.step_entry_path(key_hex)?;
        let bytes = serde_json::to_vec(entry).expect("entries serialize");
        write_file_atomically(&path, &bytes)
    }

    /// Every step entry with its key (hex) and when it was written, in key order; unreadable
    /// entries are skipped (an entry is only a hint). Needs the build cache lock, shared.
    pub fn build_cache_entries(&self) -> Result<Vec<StoredEntry>, StoreError> {
        let steps = self.build_cache_dir().join("steps");
        let entries = match std::fs::read_dir(&steps) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&steps, e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(key_hex) = name.strip_suffix(".json") else { continue };
            let Ok(bytes) = std::fs::read(entry.path()) else { continue };
            let Ok(value) = serde_json::from_slice::<BuildCacheEntry>(&bytes) else { continue };
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            out.push(StoredEntry { key_hex: key_hex.to_owned(), entry: value, modified });
        }
        out.sort_by(|a, b| a.key_hex.cmp(&b.key_hex));
        Ok(out)
    }

    /// The build cache's directories besides the step entries (stat caches, cache mounts), which
    /// `builder prune` removes with them.
    pub fn build_cache_side_dirs(&self) -> [PathBuf; 2] {
        ["stat", "mounts"].map(|d| self.build_cache_dir().join(d))
    }

    /// Removes every step entry, the stat caches and the cache mounts (`builder prune`); the number of step
    /// entries removed. Needs the build cache lock, exclusive.
    pub fn clear_build_cache(&self) -> Result<usize, StoreError> {
        let steps = self.build_cache_dir().join("steps");
        let mut removed = 0;
        if let Ok(entries) = std::fs::read_dir(&steps) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().ends_with(".json") {
                    std::fs::remove_file(entry.path()).map_err(|e| StoreError::io(&entry.path(), e))?;
                    removed += 1;
                }
            }
        }
        for dir in self.build_cache_side_dirs() {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&dir, e)),
            }
        }
        Ok(removed)
    }
}
