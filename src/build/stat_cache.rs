//! A persistent cache of file content digests, so that a rebuild does not read files that have
//! not changed. It lives in the store, one small file per context directory:
//! `ROOT/build-cache/stat/<id>.cache` (`<id>`: a digest of the context's canonical path), written
//! whole (temp file, fsync, rename) under `<id>.lock`.
//!
//! An entry is trusted only when the file's (size, mtime ns, ctime ns, inode, device) are all what
//! they were when it was hashed; anything else means reading it again. Size and mtime alone are
//! not enough: a rewrite of the same length whose mtime is set back (`touch -r`, `cp -p`,
//! `rsync -t`, a tar or git checkout restoring times, or two writes within one timestamp tick)
//! leaves both unchanged. The ctime is what catches it: the kernel sets it to the current time on
//! every write, truncate, chmod, chown and utimes, and no system call lets a program set it back.
//! The inode and device catch a file replaced by a rename (how editors save) or a context moved to
//! another filesystem.
//!
//! One race remains, the one git calls "racily clean": a file written again within the same
//! clock tick as it was hashed keeps its ctime. So an entry whose ctime or mtime is less than
//! [`RACY_WINDOW`] older than the moment hashing started is never stored: such a file is read
//! again by the next build, which costs little, since it was just written.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::context::fs::Entry;

/// Files changed this recently are not cached (see the module comment).
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

const MAGIC: &[u8; 16] = b"berth-statcache1";

/// What identifies one state of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileState {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
}

impl FileState {
    pub fn of(entry: &Entry) -> FileState {
        FileState {
            size: entry.size,
            mtime_ns: entry.mtime_ns,
            ctime_ns: entry.ctime_ns,
            ino: entry.ino,
            dev: entry.dev,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("build cache {}", path.display())]
pub struct StatCacheError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// The digests of one context's files, by path.
#[derive(Debug)]
pub struct StatCache {
    file: PathBuf,
    lock: PathBuf,
    loaded: HashMap<String, (FileState, [u8; 32])>,
    fresh: HashMap<String, (FileState, [u8; 32])>,
    /// Paths still in the context (entries for others are dropped when saving).
    seen: Vec<String>,
    racy_window: Duration,
    started_ns: i64,
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The cache file of the context directory `context` under `store_root`.
pub fn cache_path(store_root: &Path, context: &Path) -> PathBuf {
    let id = hex::encode(&Sha256::digest(context.as_os_str().as_encoded_bytes())[..16]);
    store_root.join("build-cache").join("stat").join(format!("{id}.cache"))
}

impl StatCache {
    /// Loads the cache of `context` (a canonical path). A missing or damaged file is an empty
    /// cache: it only costs reading files again.
    pub fn load(store_root: &Path, context: &Path) -> StatCache {
        let file = cache_path(store_root, context);
        let lock = file.with_extension("lock");
        let loaded = fs::read(&file).ok().and_then(|bytes| decode(&bytes)).unwrap_or_default();
        StatCache {
            file,
            lock,
            loaded,
            fresh: HashMap::new(),
            seen: Vec::new(),
            racy_window: RACY_WINDOW,
            started_ns: now_ns(),
        }
    }

    /// A cache that is never stored (a context extracted for this build only).
    pub fn in_memory() -> StatCache {
        StatCache {
            file: PathBuf::new(),
            lock: PathBuf::new(),
            loaded: HashMap::new(),
            fresh: HashMap::new(),
            seen: Vec::new(),
            racy_window: RACY_WINDOW,
            started_ns: now_ns(),
        }
    }

    #[cfg(test)]
    pub fn set_racy_window(&mut self, window: Duration) {
        self.racy_window = window;
    }

    /// The digest recorded for `path` in exactly this state.
    pub fn get(&self, path: &str, state: &FileState) -> Option<[u8; 32]> {
        let hit =
            |map: &HashMap<String, (FileState, [u8; 32])>| map.get(path).filter(|(s, _)| s == state).map(|(_, d)| *d);
        hit(&self.fresh).or_else(|| hit(&self.loaded))
    }

    /// Records a digest; a racily fresh file (see the module comment) is kept for this build
    /// only.
    pub fn put(&mut self, path: &str, state: FileState, digest: [u8; 32]) {
        self.fresh.insert(path.to_owned(), (state, digest));
    }

    /// Marks every path of the context, so entries of deleted files can be dropped.
    pub fn retain_paths<'a>(&mut self, paths: impl IntoIterator<Item = &'a str>) {
        self.seen = paths.into_iter().map(str::to_owned).collect();
    }

    fn storable(&self, state: &FileState) -> bool {
        let window = i64::try_from(self.racy_window.as_nanos()).unwrap_or(i64::MAX);
        let limit = self.started_ns.saturating_sub(window);
        state.ctime_ns < limit && state.mtime_ns < limit
    }

    /// Writes the cache back if anything new was learned: re-read under the lock and merged,
    /// so concurrent builds of one context do not lose each other's entries.
    pub fn save(&self) -> Result<(), StatCacheError> {
        if self.file.as_os_str().is_empty() {
            return Ok(());
        }
        let storable: Vec<_> = self.fresh.iter().filter(|(_, (state, _))| self.storable(state)).collect();
        let changed = storable.iter().any(|(path, entry)| self.loaded.get(*path) != Some(entry))
            || (!self.seen.is_empty() && self.loaded.keys().any(|p| !self.seen.contains(p)));
        if !changed {
            return Ok(());
        }
        let fail = |path: &Path| {
            let path = path.to_owned();
            move |source| StatCacheError { path, source }
        };
        let dir = self.file.parent().expect("a cache file has a parent");
        fs::create_dir_all(dir).map_err(fail(dir))?;
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&self.lock).map_err(fail(&self.lock))?;
        lock.lock().map_err(fail(&self.lock))?;
        let mut merged = fs::read(&self.file).ok().and_then(|b| decode(&b)).unwrap_or_default();
        if !self.seen.is_empty() {
            let seen: std::collections::HashSet<&str> = self.seen.iter().map(String::as_str).collect();
            merged.retain(|path, _| seen.contains(path.as_str()));
        }
        for (path, entry) in storable {
            merged.insert(path.clone(), *entry);
        }
        crate::store::write_file_atomically_with_mode(&self.file, &encode(&merged), 0o600).map_err(fail(&self.file))?;
        drop(lock);
        Ok(())
    }
}

fn encode(entries: &HashMap<String, (FileState, [u8; 32])>) -> Vec<u8> {
    let mut sorted: Vec<_> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::with_capacity(16 + 8 + sorted.len() * 100);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(sorted.len() as u64).to_le_bytes());
    for (path, (state, digest)) in sorted {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        for value in [state.size, state.mtime_ns as u64, state.ctime_ns as u64, state.ino, state.dev] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(digest);
    }
    out
}

fn decode(bytes: &[u8]) -> Option<HashMap<String, (FileState, [u8; 32])>> {
    let mut rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let u64_at = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let count = u64_at(take(8)?);
    let mut entries = HashMap::new();
    for _ in 0..count {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let path = String::from_utf8(take(len)?.to_vec()).ok()?;
        let mut values = [0u64; 5];
        for value in &mut values {
            *value = u64_at(take(8)?);
        }
        let digest: [u8; 32] = take(32)?.try_into().ok()?;
        let state = FileState {
            size: values[0],
            mtime_ns: values[1] as i64,
            ctime_ns: values[2] as i64,
            ino: values[3],
            dev: values[4],
        };
        entries.insert(path, (state, digest));
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(n: u64) -> FileState {
        FileState { size: n, mtime_ns: 1, ctime_ns: 2, ino: 3, dev: 4 }
    }

    #[test]
    fn round_trip_merge_and_prune() {
        let store = tempfile::tempdir().unwrap();
        let ctx = Path::new("/some/context");
        let mut cache = StatCache::load(store.path(), ctx);
        cache.put("a", state(1), [1; 32]);
        cache.put("b", state(2), [2; 32]);
        cache.save().unwrap();
        let mut again = StatCache::load(store.path(), ctx);
        assert_eq!(again.get("a", &state(1)), Some([1; 32]));
        assert_eq!(again.get("a", &state(9)), None, "any difference in the state is a miss");
        // Another build of the same context saved meanwhile: both survive.
        let mut other = StatCache::load(store.path(), ctx);
        other.put("c", state(3), [3; 32]);
        other.save().unwrap();
        again.put("d", state(4), [4; 32]);
        again.retain_paths(["a", "c", "d"]);
        again.save().unwrap();
        let last = StatCache::load(store.path(), ctx);
        assert_eq!(last.get("c", &state(3)), Some([3; 32]));
        assert_eq!(last.get("d", &state(4)), Some([4; 32]));
        assert_eq!(last.get("b", &state(2)), None, "b left the context");
    }

    #[test]
    fn racily_fresh_files_are_not_stored() {
        let store = tempfile::tempdir().unwrap();
        let ctx = Path::new("/ctx");
        let mut cache = StatCache::load(store.path(), ctx);
        let just_now = FileState { ctime_ns: now_ns(), ..state(1) };
        cache.put("new", just_now, [7; 32]);
        assert_eq!(cache.get("new", &just_now), Some([7; 32]), "usable within this build");
        cache.save().unwrap();
        assert_eq!(StatCache::load(store.path(), ctx).get("new", &just_now), None);
    }

    #[test]
    fn damaged_files_are_empty_caches() {
        let store = tempfile::tempdir().unwrap();
        let ctx = Path::new("/ctx");
        let path = cache_path(store.path(), ctx);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut bytes = encode(&HashMap::from([("x".to_owned(), (state(1), [1; 32]))]));
        bytes.truncate(bytes.len() - 5);
        fs::write(&path, &bytes).unwrap();
        assert_eq!(StatCache::load(store.path(), ctx).get("x", &state(1)), None);
        fs::write(&path, b"garbage").unwrap();
        assert_eq!(StatCache::load(store.path(), ctx).get("x", &state(1)), None);
    }
}
