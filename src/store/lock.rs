//! flock-based locks, each at a named level of the store's lock order (see the lock order at
//! the top of `store/mod.rs`). The kernel drops a lock when its holder dies, so a `kill -9` never
//! leaves a stale lock behind.
//!
//! In debug builds and in tests, every thread keeps a record of the levels it holds, and taking
//! a lock that would wait at a level not above all of them panics, naming both: an order
//! violation is found by the first test that takes the path, not by the first deadlock in the
//! field. Release builds keep no record and check nothing.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use super::StoreError;

/// The store's locks, in the order they are taken: a thread that holds a lock may wait only for
/// one of a later level. The numbers mean nothing beyond the order; a new lock is a new variant in
/// its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockLevel {
    /// `ingest.lock`: shared for a whole pull, load, import or commit.
    Ingest,
    /// `locks/<chain>.lock`: one download and unpack of a layer at a time.
    LayerDownload,
    /// `containers.lock`: containers.json.
    Containers,
    /// Reserved for network records and address leases (bridge networks, compose): after
    /// containers, because whether a network is in use is a question about container records.
    Networks,
    /// `volumes.lock`: volumes.json and the volume directories.
    Volumes,
    /// `images.lock`: images.json, blobs, layers.
    Images,
    /// Reserved for the build cache (cache key → layer): after images, so that a build looks
    /// entries up under the image lock held shared and records one in the same hold of the image
    /// lock, exclusive, that commits its layer, and so that garbage collection, which already holds
    /// the image lock, can drop the entries of the layers it removes.
    BuildCache,
}

impl LockLevel {
    /// Every level, in order.
    pub const ORDER: [LockLevel; 7] = [
        LockLevel::Ingest,
        LockLevel::LayerDownload,
        LockLevel::Containers,
        LockLevel::Networks,
        LockLevel::Volumes,
        LockLevel::Images,
        LockLevel::BuildCache,
    ];

    /// Only the order check names levels, so only builds that check have the names.
    #[cfg(any(debug_assertions, test))]
    pub fn name(self) -> &'static str {
        match self {
            LockLevel::Ingest => "ingest",
            LockLevel::LayerDownload => "layer download",
            LockLevel::Containers => "containers",
            LockLevel::Networks => "networks",
            LockLevel::Volumes => "volumes",
            LockLevel::Images => "images",
            LockLevel::BuildCache => "build cache",
        }
    }

    /// Whether one thread may hold several locks of this level at once. A pull holds one layer
    /// download lock per layer task, and its tasks share threads; each task waits for its own lock
    /// while it holds none, so the order holds per task even where one thread holds several.
    #[cfg(any(debug_assertions, test))]
    fn shared_by_tasks(self) -> bool {
        self == LockLevel::LayerDownload
    }
}

// `ORDER` lists the levels in the order the derived comparison puts them.
const _: () = {
    let mut i = 1;
    while i < LockLevel::ORDER.len() {
        assert!((LockLevel::ORDER[i - 1] as u8) < (LockLevel::ORDER[i] as u8));
        i += 1;
    }
};

/// A held lock; released on drop (or when the process dies).
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
    #[cfg(any(debug_assertions, test))]
    _held: order::Held,
}

impl LockGuard {
    fn new(file: File, _level: Option<LockLevel>) -> LockGuard {
        LockGuard {
            _file: file,
            #[cfg(any(debug_assertions, test))]
            _held: order::Held::record(_level),
        }
    }
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

/// Waits for the lock at `path`, of `level`, exclusive.
pub fn lock_exclusive(level: LockLevel, path: &Path) -> Result<LockGuard, StoreError> {
    #[cfg(any(debug_assertions, test))]
    order::check(level, path);
    let file = open_lock_file(path)?;
    file.lock().map_err(|e| StoreError::io(path, e))?;
    Ok(LockGuard::new(file, Some(level)))
}

/// Waits for the lock at `path`, of `level`, shared.
pub fn lock_shared(level: LockLevel, path: &Path) -> Result<LockGuard, StoreError> {
    #[cfg(any(debug_assertions, test))]
    order::check(level, path);
    let file = open_lock_file(path)?;
    file.lock_shared().map_err(|e| StoreError::io(path, e))?;
    Ok(LockGuard::new(file, Some(level)))
}

/// The lock at `path`, of `level`, exclusive, if nobody holds it: Ok(None) when another process
/// does. It never waits, so it may be tried against the order (garbage collection tries the
/// ingest lock while it holds the image lock); once held it counts as held.
pub fn try_lock_exclusive(level: LockLevel, path: &Path) -> Result<Option<LockGuard>, StoreError> {
    try_lock(Some(level), path)
}

/// A staging directory's own lock, outside the order: its owner takes it on a directory nobody
/// else knows yet (see `Store::new_staging`), and everyone else only tries it, so no one ever
/// waits for it while holding something else.
pub fn lock_staging(path: &Path) -> Result<LockGuard, StoreError> {
    let file = open_lock_file(path)?;
    file.lock().map_err(|e| StoreError::io(path, e))?;
    Ok(LockGuard::new(file, None))
}

/// Tries a staging directory's lock (see [`lock_staging`]): Ok(None) when its owner lives.
pub fn try_lock_staging(path: &Path) -> Result<Option<LockGuard>, StoreError> {
    try_lock(None, path)
}

fn try_lock(level: Option<LockLevel>, path: &Path) -> Result<Option<LockGuard>, StoreError> {
    let file = open_lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(LockGuard::new(file, level))),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(StoreError::io(path, e)),
    }
}

/// The per-thread record of held levels (debug builds and tests only).
#[cfg(any(debug_assertions, test))]
mod order {
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use super::LockLevel;

    /// The levels one thread holds, each with the token of its guard.
    type Record = Arc<Mutex<Vec<(LockLevel, u64)>>>;

    thread_local! {
        static HELD: Record = Record::default();
    }

    static NEXT_TOKEN: AtomicU64 = AtomicU64::new(0);

    /// Panics if this thread holds a level that `level` may not be waited for under.
    pub(super) fn check(level: LockLevel, path: &Path) {
        HELD.with(|held| {
            let held = held.lock().unwrap_or_else(|e| e.into_inner());
            let blocking =
                held.iter().map(|&(h, _)| h).filter(|&h| h > level || (h == level && !level.shared_by_tasks()));
            if let Some(higher) = blocking.max() {
                let order: Vec<&str> = LockLevel::ORDER.iter().map(|l| l.name()).collect();
                panic!(
                    "lock order violated: waiting for the {} lock ({}) while holding the {} lock; the order is {}",
                    level.name(),
                    path.display(),
                    higher.name(),
                    order.join(" → ")
                );
            }
        });
    }

    /// A guard's entry in the record of the thread that took it. Dropped on any thread, it leaves
    /// that record (a pull takes a layer lock on a blocking thread and drops it elsewhere).
    #[derive(Debug)]
    pub(super) struct Held(Option<(Record, u64)>);

    impl Held {
        pub(super) fn record(level: Option<LockLevel>) -> Held {
            Held(level.map(|level| {
                let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
                let record = HELD.with(Arc::clone);
                record.lock().unwrap_or_else(|e| e.into_inner()).push((level, token));
                (record, token)
            }))
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            if let Some((record, token)) = &self.0 {
                record.lock().unwrap_or_else(|e| e.into_inner()).retain(|&(_, t)| t != *token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a fresh thread (a record of its own) and returns its panic message, if any.
    fn panic_of(f: impl FnOnce() + Send + 'static) -> Option<String> {
        let err = std::thread::spawn(f).join().err()?;
        Some(err.downcast_ref::<String>().cloned().unwrap_or_default())
    }

    fn lock_file(dir: &tempfile::TempDir, name: &str) -> std::path::PathBuf {
        dir.path().join(format!("{name}.lock"))
    }

    #[test]
    fn taking_locks_in_order_is_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = LockLevel::ORDER.iter().map(|l| lock_file(&dir, l.name())).collect();
        assert_eq!(
            panic_of(move || {
                let _guards: Vec<LockGuard> =
                    LockLevel::ORDER.iter().zip(&paths).map(|(&l, p)| lock_shared(l, p).unwrap()).collect();
            }),
            None
        );
    }

    #[test]
    fn waiting_for_a_lower_level_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let (images, containers) = (lock_file(&dir, "images"), lock_file(&dir, "containers"));
        let message = panic_of(move || {
            let _images = lock_shared(LockLevel::Images, &images).unwrap();
            let _containers = lock_exclusive(LockLevel::Containers, &containers).unwrap();
        })
        .expect("taking the containers lock under the images lock panics");
        assert!(
            message.starts_with("lock order violated: waiting for the containers lock")
                && message.contains("while holding the images lock"),
            "{message}"
        );
    }

    #[test]
    fn waiting_for_a_second_lock_of_one_level_is_caught_except_layer_downloads() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (lock_file(&dir, "a"), lock_file(&dir, "b"));
        let (a2, b2) = (a.clone(), b.clone());
        assert!(
            panic_of(move || {
                let _first = lock_shared(LockLevel::Volumes, &a2).unwrap();
                let _second = lock_shared(LockLevel::Volumes, &b2).unwrap();
            })
            .is_some()
        );
        assert_eq!(
            panic_of(move || {
                let _first = lock_exclusive(LockLevel::LayerDownload, &a).unwrap();
                let _second = lock_exclusive(LockLevel::LayerDownload, &b).unwrap();
                let _images = lock_exclusive(LockLevel::Images, &b.with_extension("images")).unwrap();
            }),
            None
        );
    }

    #[test]
    fn a_released_lock_no_longer_counts_wherever_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (images, ingest) = (lock_file(&dir, "images"), lock_file(&dir, "ingest"));
        assert_eq!(
            panic_of(move || {
                drop(lock_exclusive(LockLevel::Images, &images).unwrap());
                let _ingest = lock_shared(LockLevel::Ingest, &ingest).unwrap();
                // Taken here, dropped on another thread: this thread's record forgets it.
                let guard = lock_exclusive(LockLevel::Images, &images).unwrap();
                std::thread::spawn(move || drop(guard)).join().unwrap();
                drop(_ingest);
                let _again = lock_shared(LockLevel::Ingest, &ingest).unwrap();
            }),
            None
        );
    }

    #[test]
    fn trying_against_the_order_is_allowed_and_then_counts() {
        let dir = tempfile::tempdir().unwrap();
        let (images, ingest, containers) =
            (lock_file(&dir, "images"), lock_file(&dir, "ingest"), lock_file(&dir, "containers"));
        assert_eq!(
            panic_of({
                let images = images.clone();
                move || {
                    let _images = lock_exclusive(LockLevel::Images, &images).unwrap();
                    assert!(try_lock_exclusive(LockLevel::Ingest, &ingest).unwrap().is_some());
                    let _staging = lock_staging(&images.with_extension("staging")).unwrap();
                }
            }),
            None
        );
        let message = panic_of(move || {
            let _images = try_lock_exclusive(LockLevel::Images, &images).unwrap().expect("free");
            let _containers = lock_shared(LockLevel::Containers, &containers).unwrap();
        });
        assert!(message.is_some_and(|m| m.contains("holding the images lock")));
    }
}
