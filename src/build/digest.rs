//! Content digests of the files a step reads, for its cache key: what a copy of them would
//! produce, and nothing else. Each file contributes its path, type, permission bits, owner,
//! symlink target or device number, and for a regular file the sha256 of its content; never its
//! times (a checkout or a `touch` must not invalidate the cache). Content digests come from the
//! [`StatCache`] when the file is in the state it was hashed in, so a rebuild of an unchanged
//! context reads no file content at all.

use std::io::Read;
use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::fcntl::OFlag;
use sha2::{Digest as _, Sha256};

use super::context::fs::{Entry, EntryKind, from_stat, open_in_root};
use super::copy_source::Resolved;
use super::stat_cache::{FileState, StatCache};

#[derive(Debug, thiserror::Error)]
#[error("reading {path} for its digest")]
pub struct DigestError {
    pub path: String,
    pub source: std::io::Error,
}

/// How much work digests took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashStats {
    /// Regular files whose content was read.
    pub files_read: u64,
    pub bytes_read: u64,
    /// Regular files whose digest came from the cache.
    pub files_cached: u64,
}

/// Hashes files below one root (a context, a root filesystem).
pub struct Hasher<'a> {
    root: BorrowedFd<'a>,
    cache: &'a mut StatCache,
    stats: HashStats,
    buffer: Vec<u8>,
}

impl<'a> Hasher<'a> {
    pub fn new(root: BorrowedFd<'a>, cache: &'a mut StatCache) -> Hasher<'a> {
        Hasher { root, cache, stats: HashStats::default(), buffer: vec![0; 1 << 20] }
    }

    pub fn stats(&self) -> HashStats {
        self.stats
    }

    /// The sha256 of a regular file's content: from the cache when the file's state matches,
    /// else read (through the root, never following a symlink) and recorded.
    pub fn content(&mut self, entry: &Entry) -> Result<[u8; 32], DigestError> {
        let state = FileState::of(entry);
        if let Some(digest) = self.cache.get(&entry.path, &state) {
            self.stats.files_cached += 1;
            return Ok(digest);
        }
        let fail = |source| DigestError { path: entry.path.clone(), source };
        let fd = open_in_root(self.root, Path::new(&entry.path), OFlag::O_RDONLY | OFlag::O_NOFOLLOW).map_err(fail)?;
        let mut file = std::fs::File::from(fd);
        // The state of the file actually read, not the walk's: if it changed in between, the
        // digest belongs to the new state.
        let state_now = |file: &std::fs::File| -> Result<FileState, DigestError> {
            let st = nix::sys::stat::fstat(file).map_err(|e| fail(e.into()))?;
            Ok(FileState::of(&from_stat(&st, EntryKind::File, String::new())))
        };
        let opened = state_now(&file)?;
        let mut sha = Sha256::new();
        loop {
            let n = file.read(&mut self.buffer).map_err(fail)?;
            if n == 0 {
                break;
            }
            sha.update(&self.buffer[..n]);
            self.stats.bytes_read += n as u64;
        }
        self.stats.files_read += 1;
        let digest: [u8; 32] = sha.finalize().into();
        // A file written while it was read has no digest worth keeping.
        if state_now(&file)? == opened {
            self.cache.put(&entry.path, opened, digest);
        }
        Ok(digest)
    }

    /// Feeds one entry's record into `sha`, under the name `path`.
    fn record(&mut self, sha: &mut Sha256, path: &str, entry: &Entry) -> Result<(), DigestError> {
        let field = |sha: &mut Sha256, bytes: &[u8]| {
            sha.update((bytes.len() as u64).to_le_bytes());
            sha.update(bytes);
        };
        let kind: &[u8] = match &entry.kind {
            EntryKind::File => b"f",
            EntryKind::Dir => b"d",
            EntryKind::Symlink(_) => b"l",
            EntryKind::Fifo => b"p",
            EntryKind::Socket => b"s",
            EntryKind::CharDevice => b"c",
            EntryKind::BlockDevice => b"b",
        };
        field(sha, kind);
        field(sha, path.as_bytes());
        for value in [entry.mode, entry.uid, entry.gid] {
            sha.update(value.to_le_bytes());
        }
        match &entry.kind {
            EntryKind::File => {
                sha.update(entry.size.to_le_bytes());
                let content = self.content(entry)?;
                sha.update(content);
            }
            EntryKind::Symlink(target) => field(sha, target.as_bytes()),
            EntryKind::CharDevice | EntryKind::BlockDevice => sha.update(entry.rdev.to_le_bytes()),
            EntryKind::Dir | EntryKind::Fifo | EntryKind::Socket => {}
        }
        Ok(())
    }

    /// The digest of a set of entries (in the order given), each recorded under its own path.
    pub fn entries(&mut self, entries: &[Entry]) -> Result<String, DigestError> {
        let mut sha = Sha256::new();
        for entry in entries {
            self.record(&mut sha, &entry.path, entry)?;
        }
        Ok(format!("sha256:{}", hex::encode(sha.finalize())))
    }

    /// The digest of what one COPY or ADD reads: each resolved source, its name and `--parents`
    /// directories, and everything below it.
    pub fn resolved(&mut self, sources: &[Resolved]) -> Result<String, DigestError> {
        let mut sha = Sha256::new();
        for source in sources {
            sha.update((source.name.len() as u64).to_le_bytes());
            sha.update(source.name.as_bytes());
            if let Some((dir, parents)) = &source.parents {
                sha.update(b"parents");
                sha.update((dir.len() as u64).to_le_bytes());
                sha.update(dir.as_bytes());
                for parent in parents {
                    self.record(&mut sha, &parent.path, parent)?;
                }
            }
            self.record(&mut sha, &source.path, &source.entry)?;
            for entry in &source.contents {
                self.record(&mut sha, &entry.path, entry)?;
            }
            sha.update(b"end");
        }
        Ok(format!("sha256:{}", hex::encode(sha.finalize())))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::fd::AsFd;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;
    use crate::build::context::fs::open_dir;
    use crate::build::context::walk::walk;

    fn digest(root: &Path, cache: &mut StatCache) -> (String, HashStats) {
        let fd = open_dir(root).unwrap();
        let entries = walk(fd.as_fd(), "", None).unwrap().entries;
        let mut hasher = Hasher::new(fd.as_fd(), cache);
        let digest = hasher.entries(&entries).unwrap();
        (digest, hasher.stats())
    }

    fn set_mtime(path: &Path, seconds: i64) {
        let t = nix::sys::time::TimeSpec::new(seconds, 0);
        nix::sys::stat::utimensat(nix::fcntl::AT_FDCWD, path, &t, &t, nix::sys::stat::UtimensatFlags::NoFollowSymlink)
            .unwrap();
    }

    /// Waits until the clock has moved past `path`'s ctime, so a rewrite gets a new ctime.
    fn after_ctime_tick() {
        std::thread::sleep(Duration::from_millis(20));
    }

    #[test]
    fn same_size_same_mtime_rewrite_is_noticed_and_unchanged_files_are_not_read() {
        let store = tempfile::tempdir().unwrap();
        let ctx = tempfile::tempdir().unwrap();
        let file = ctx.path().join("data");
        fs::write(&file, "aaaa").unwrap();
        set_mtime(&file, 1_000_000);
        fs::create_dir(ctx.path().join("d")).unwrap();
        fs::write(ctx.path().join("d/other"), vec![7u8; 100_000]).unwrap();
        let mut cache = StatCache::load(store.path(), ctx.path());
        cache.set_racy_window(Duration::ZERO);
        let (first, stats) = digest(ctx.path(), &mut cache);
        assert_eq!((stats.files_read, stats.bytes_read), (2, 100_004));
        cache.save().unwrap();

        // A new build: nothing changed, nothing is read.
        let mut cache = StatCache::load(store.path(), ctx.path());
        cache.set_racy_window(Duration::ZERO);
        let (second, stats) = digest(ctx.path(), &mut cache);
        assert_eq!(second, first);
        assert_eq!((stats.files_read, stats.bytes_read, stats.files_cached), (0, 0, 2));

        // Same size, mtime set back: only the ctime differs, and that is enough.
        after_ctime_tick();
        fs::write(&file, "bbbb").unwrap();
        set_mtime(&file, 1_000_000);
        let mut cache = StatCache::load(store.path(), ctx.path());
        cache.set_racy_window(Duration::ZERO);
        let (third, stats) = digest(ctx.path(), &mut cache);
        assert_ne!(third, first);
        assert_eq!((stats.files_read, stats.bytes_read), (1, 4));
    }

    #[test]
    fn metadata_counts_times_do_not() {
        let ctx = tempfile::tempdir().unwrap();
        let file = ctx.path().join("f");
        fs::write(&file, "x").unwrap();
        let mut cache = StatCache::in_memory();
        let (base, _) = digest(ctx.path(), &mut cache);
        set_mtime(&file, 5);
        assert_eq!(digest(ctx.path(), &mut StatCache::in_memory()).0, base, "mtime alone changes nothing");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        let (mode_changed, _) = digest(ctx.path(), &mut StatCache::in_memory());
        assert_ne!(mode_changed, base);
        fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("x", &file).unwrap();
        assert_ne!(digest(ctx.path(), &mut StatCache::in_memory()).0, mode_changed);
    }
}
