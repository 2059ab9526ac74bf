//! flock-based locks. The kernel drops a lock when its holder dies, so a `kill -9` never leaves a
//! stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use super::StoreError;

/// A held lock; released on drop (or when the process dies).
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::io(path, e))
}

pub fn lock_exclusive(path: &Path) -> Result<LockGuard, StoreError> {
    let file = open_lock_file(path)?;
    file.lock().map_err(|e| StoreError::io(path, e))?;
    Ok(LockGuard { _file: file })
}

pub fn lock_shared(path: &Path) -> Result<LockGuard, StoreError> {
    let file = open_lock_file(path)?;
    file.lock_shared().map_err(|e| StoreError::io(path, e))?;
    Ok(LockGuard { _file: file })
}

/// Ok(None) when another process holds the lock.
pub fn try_lock_exclusive(path: &Path) -> Result<Option<LockGuard>, StoreError> {
    let file = open_lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(LockGuard { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(StoreError::io(path, e)),
    }
}
