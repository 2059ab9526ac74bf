//! Space kept back for the metadata rewrite of a removal. Removing things must work on a full
//! disk, but every removal rewrites a record (containers.json, images.json, volumes.json) before
//! it frees anything, and a rewrite needs room for the new copy beside the old one. So the store
//! keeps `reserved-space`, a file of [`RESERVE_BYTES`]: a removal whose record write fails with
//! ENOSPC (or EDQUOT) deletes it and writes again. The next open makes it again once there is room
//! (by then the removal has freed what it removed).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::{Store, StoreError};

/// Enough for containers.json with a few hundred containers, or images.json with a thousand
/// images.
const RESERVE_BYTES: usize = 2 << 20;

const RESERVE_FILE: &str = "reserved-space";

impl StoreError {
    /// The disk (or the user's quota) is full.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, StoreError::Io { error, .. } if is_out_of_space(error))
    }
}

fn is_out_of_space(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

impl Store {
    fn reserve_path(&self) -> PathBuf {
        self.root.join(RESERVE_FILE)
    }

    /// Runs `write`, the record write of a removal; if the disk is full, gives the reserve back
    /// to the file system and runs it once more. Whatever lock `write` needs, the caller holds.
    pub fn write_releasing_reserve<T>(
        &self,
        mut write: impl FnMut() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match write() {
            Err(e) if e.is_out_of_space() => match fs::remove_file(self.reserve_path()) {
                Ok(()) => write(),
                Err(_) => Err(e),
            },
            other => other,
        }
    }

    /// [`Store::write_releasing_reserve`], and where even that finds no room (the reserve was
    /// drawn on already: a container filled the disk, its end was recorded, now it is removed),
    /// `free` deletes the data of what is being removed first and the record is written after.
    /// A kill between the two leaves a record whose data is gone, which the next removal of it
    /// finishes; so `free` must only delete what the removal removes.
    pub fn write_freeing_first<T>(
        &self,
        mut write: impl FnMut() -> Result<T, StoreError>,
        free: impl FnOnce() -> Result<(), StoreError>,
    ) -> Result<T, StoreError> {
        match self.write_releasing_reserve(&mut write) {
            Err(e) if e.is_out_of_space() => {
                free()?;
                write()
            }
            other => other,
        }
    }

    /// Makes the reserve if it is missing (a new store, or one a removal drew on). Best effort,
    /// no lock: a full disk leaves it missing, and two processes making it at once each write
    /// their own temp file and rename it into place.
    pub(super) fn restore_reserve(&self) {
        let path = self.reserve_path();
        if path.exists() {
            return;
        }
        let tmp = self.tmp_dir().join(format!(".reserve-{}-{:08x}", std::process::id(), rand::random::<u32>()));
        let made = (|| -> io::Result<()> {
            let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            // Written, not fallocated: tmpfs and some file systems accept fallocate yet give
            // the pages only when written.
            file.write_all(&vec![0u8; RESERVE_BYTES])?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if made.is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_makes_the_reserve_and_an_out_of_space_write_gets_a_second_try_after_releasing_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), false).unwrap();
        assert_eq!(fs::metadata(store.reserve_path()).unwrap().len(), RESERVE_BYTES as u64);
        let mut tries = 0;
        let full = || StoreError::io(&store.root, io::Error::from_raw_os_error(libc::ENOSPC));
        let out = store.write_releasing_reserve(|| {
            tries += 1;
            if tries == 1 { Err(full()) } else { Ok(tries) }
        });
        assert_eq!(out.unwrap(), 2);
        assert!(!store.reserve_path().exists());
        // Without a reserve left, the error stands.
        let err = store.write_releasing_reserve(|| Err::<(), _>(full())).unwrap_err();
        assert!(err.is_out_of_space());
        // Other errors are not retried.
        let mut tries = 0;
        let _ = store.write_releasing_reserve(|| {
            tries += 1;
            Err::<(), _>(StoreError::io(&store.root, io::Error::from_raw_os_error(libc::EIO)))
        });
        assert_eq!(tries, 1);
        Store::open(&dir.path().join("root"), &dir.path().join("run"), false).unwrap();
        assert!(store.reserve_path().exists(), "the next open makes it again");
        assert!(fs::read_dir(store.tmp_dir()).unwrap().next().is_none(), "no temp file is left");

        // With no reserve left, what is removed is freed first.
        fs::remove_file(store.reserve_path()).unwrap();
        let freed = std::cell::Cell::new(false);
        let out = store.write_freeing_first(
            || if freed.get() { Ok("written") } else { Err(full()) },
            || {
                freed.set(true);
                Ok(())
            },
        );
        assert_eq!(out.unwrap(), "written");
    }
}
