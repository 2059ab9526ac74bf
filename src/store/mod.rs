//! The on-disk store: content-addressed blobs, unpacked layers, image records and their names.
//!
//! # Layout (under the store root)
//! ```text
//! store.json               what kind of store this is (rootless or not); written once
//! images.lock              the image lock (see lock order)
//! images.json              every image record and its names; rewritten atomically
//! blobs/sha256/<hex>       manifests, configs and compressed layer blobs, by digest
//! layers/<chain-hex>/      one unpacked layer: diff/ (overlay upper-dir format) + layer.json,
//!                          and compressed.json: the compressed copies push made of a tar blob
//! locks/<hex>.lock         per-layer download locks, so concurrent pulls fetch a layer once
//! ingest.lock              held shared by every pull/load/import (see lock order)
//! containers.lock          the containers lock (see lock order)
//! containers.json          every container's configuration and last recorded state
//! containers/<id>/         upper/ work/ rootfs/ (overlay), ctr.log, exit, etc files
//! networks.lock            the networks lock (see lock order)
//! networks.json            every network's configuration (bridge, subnets, options, labels)
//! volumes.lock             the volumes lock (see lock order)
//! volumes.json             every volume's record (name, driver, labels, options, anonymous)
//! volumes/<name>/_data     a volume's content, mounted into the containers that use it
//! tmp/<random>/            staging areas; each holds its own `lock` while its owner lives
//! reserved-space           space kept for a removal's record rewrite on a full disk (reserve.rs)
//! build-cache/steps/<key>.json   a build step's result (the layer it made), by cache key
//! build-cache/steps.lock   the build cache lock (see lock order)
//! build-cache/stat/        content digests of build context files, by stat (build::stat_cache)
//! events/events.log(.1)    the event journal, one JSON event a line (crate::events)
//! events/events.lock       held for one append (see lock order)
//!
//! Under the runroot: containers/<id>/attach.sock (the supervisor's attach socket),
//! networks/<id>.json (a network's attached containers and their addresses).
//! ```
//!
//! # Lock order
//! Each lock has a level, a [`LockLevel`] (`store/lock.rs`); a thread that holds a lock waits
//! only for locks of later levels, never the other way round. In debug builds and tests a
//! thread that would wait against the order panics (a per-thread record of held levels; release
//! builds keep none). The levels, in order:
//! - `Ingest` (`ingest.lock`): shared for the whole of a pull, load, import or commit, which
//!   commit layers before the image that uses them; tried exclusively by garbage collection,
//!   which removes orphan layers only when it gets it (a try never waits, so it may go against
//!   the order);
//! - `LayerDownload` (`locks/<hex>.lock`), held while that blob is fetched, unpacked and
//!   committed; a process holds at most one per task and never waits for one while it holds the
//!   containers or image lock (one thread may hold several: a pull's tasks share threads);
//! - `Containers` (`containers.lock`): shared to read `containers.json`, exclusive to create,
//!   change or remove a container record;
//! - `Networks` (`networks.lock`): shared to read `networks.json` and the networks' runtime
//!   state under the runroot, exclusive to create or remove a network or to attach a container to
//!   one or detach it. After the containers lock because whether a network is in use is a
//!   question about container records (`network rm` holds the containers lock, shared, while it
//!   removes); never held while waiting for the containers lock;
//! - `Volumes` (`volumes.lock`): shared to read `volumes.json`, exclusive to create or remove a
//!   volume. After the containers lock because whether a volume is in use is a question about
//!   container records: `volume rm` holds the containers lock (shared) while it removes,
//!   `create` holds it (exclusive) while it creates the volumes a new container names, and
//!   `rm -v` removes the container, then its anonymous volumes;
//! - `Images` (`images.lock`): shared to read `images.json`, blobs and layers; exclusive for the
//!   short critical section that commits or removes them;
//! - `BuildCache` (`build-cache/steps.lock`): the build cache's step entries (cache key →
//!   layer, `build-cache/steps/<key>.json`): last, inside the image lock, because a build looks
//!   an entry up and checks that its layer exists under the image lock held shared (an entry
//!   whose layer is gone is a miss: garbage collection need not touch entries), and records an
//!   entry once its layer is committed; `builder prune` takes it exclusive.
//!
//! Staging directories' own locks are outside the order: only their owner ever waits for one.
//! So is `events/events.lock` (crate::events): a leaf, taken under any of these for one append
//! and never held while waiting for anything else.
//!
//! Downloads and unpacking happen in a staging directory under `tmp/` outside the image lock;
//! only the final renames happen under it. Anything in `tmp/` is incomplete by construction: a
//! staging directory whose lock nobody holds belongs to a dead process and is removed on the next
//! open. Every metadata write is temp file + fsync + rename.

mod atomic;
mod build_cache;
mod containers;
mod digest;
mod gc;
mod images;
mod layers;
mod lock;
mod networks;
mod reserve;
mod time;
mod volumes;

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use atomic::{sync_dir, write_file_atomically, write_file_atomically_with_mode};
pub use build_cache::BuildCacheEntry;
pub use containers::{ContainerIndex, Trash, read_optional};
pub use digest::{Algorithm, BadDigest, Digest, DigestArg};
pub use images::{ImageIndex, ImageRecord, NewImage};
pub use layers::{BlobVariant, LayerRecord, chain_digests, chain_ids};
pub use lock::{LockGuard, LockLevel};
pub use networks::NetworkIndex;
pub use time::now_rfc3339;
pub use volumes::{VolumeIndex, VolumeRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The io error is part of the message and no `source()`, so it shows once.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("{path}: corrupt record: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    BadDigest(#[from] BadDigest),
    #[error("{root} was created by a {created} berth and cannot be used {now} (use another --root)")]
    ModeMismatch { root: PathBuf, created: &'static str, now: &'static str },
    #[error("no such image: {0}")]
    ImageNotFound(String),
    #[error("image reference {0:?} is ambiguous")]
    Ambiguous(String),
}

impl StoreError {
    pub fn io(path: &Path, error: io::Error) -> Self {
        StoreError::Io { path: path.to_owned(), error }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct StoreInfo {
    version: u32,
    rootless: bool,
}

/// An open store. Cheap to open: creating it only makes missing directories and sweeps `tmp/`.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    runroot: PathBuf,
    rootless: bool,
}

/// A staging directory under `tmp/`, removed on drop unless its contents were committed.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    _lock: LockGuard,
}

impl Staging {
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Compatibility for code still holding `String` digests: whether `digest` is a sha256
/// [`Digest`] (the only kind the store keeps).
pub fn is_valid_digest(digest: &str) -> bool {
    Digest::parse(digest).is_ok_and(|d| d.algorithm() == Algorithm::Sha256)
}

/// Compatibility for code still holding `String` digests: the hex part of a sha256 digest.
pub fn digest_hex(digest: &str) -> Result<&str, StoreError> {
    sha256_hex_of(digest).map(|_| &digest[7..])
}

/// The store keeps sha256 content only (`blobs/sha256/`, chain ids).
fn sha256_hex_of<D: DigestArg + ?Sized>(digest: &D) -> Result<String, StoreError> {
    let digest = digest.to_digest()?;
    if digest.algorithm() != Algorithm::Sha256 {
        return Err(BadDigest(digest.to_string()).into());
    }
    Ok(digest.hex().to_owned())
}

impl Store {
    /// Opens (creating if needed) the store at `root`. Needs no lock: directory creation is
    /// idempotent and the tmp sweep only removes staging directories whose lock it can take.
    pub fn open(root: &Path, runroot: &Path, rootless: bool) -> Result<Store, StoreError> {
        let store = Store { root: root.to_owned(), runroot: runroot.to_owned(), rootless };
        for dir in [
            store.root.clone(),
            store.root.join("blobs/sha256"),
            store.layers_dir(),
            store.root.join("locks"),
            store.tmp_dir(),
            store.runroot.clone(),
        ] {
            fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        }
        store.check_store_info()?;
        store.sweep_abandoned_staging()?;
        store.restore_reserve();
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runroot(&self) -> &Path {
        &self.runroot
    }

    pub fn rootless(&self) -> bool {
        self.rootless
    }

    /// The xattr namespace overlayfs reads in this store's mounts: `user.` inside a user
    /// namespace, `trusted.` for real root.
    pub fn overlay_xattr_prefix(&self) -> &'static str {
        if self.rootless { "user.overlay." } else { "trusted.overlay." }
    }

    fn check_store_info(&self) -> Result<(), StoreError> {
        let path = self.root.join("store.json");
        let wanted = StoreInfo { version: 1, rootless: self.rootless };
        match fs::read(&path) {
            Ok(bytes) => {
                let found: StoreInfo = serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::Corrupt { path: path.clone(), reason: e.to_string() })?;
                if found.rootless != wanted.rootless {
                    let mode = |r: bool| if r { "rootless" } else { "root" };
                    return Err(StoreError::ModeMismatch {
                        root: self.root.clone(),
                        created: mode(found.rootless),
                        now: mode(wanted.rootless),
                    });
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_file_atomically(&path, &serde_json::to_vec_pretty(&wanted).expect("serializable"))
            }
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    fn sweep_abandoned_staging(&self) -> Result<(), StoreError> {
        let tmp = self.tmp_dir();
        let entries = fs::read_dir(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // A `.new-` directory is being set up right now, or was left by a crash during the
            // few syscalls of setup; a `trash-` one is being emptied by its owner (a `--rm`
            // supervisor after its container exited), or was left by a kill. Only old ones are
            // abandoned: deleting a live one here would only repeat its owner's work on the
            // start-up path of this command.
            let abandoned_after = if name.starts_with(".new-") {
                Some(3600)
            } else if name.starts_with("trash-") {
                Some(60)
            } else {
                None
            };
            if let Some(seconds) = abandoned_after {
                let changed = entry.metadata().map(|m| m.ctime()).unwrap_or(0);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                if now.saturating_sub(changed) > seconds {
                    remove_path(&path);
                }
                continue;
            }
            let lock_path = path.join("lock");
            if !lock_path.exists() {
                remove_path(&path);
                continue;
            }
            if let Ok(Some(_guard)) = lock::try_lock_staging(&lock_path) {
                remove_path(&path);
            }
        }
        Ok(())
    }

    /// A fresh staging directory. No store lock needed. The directory is set up under a
    /// `.new-` name and renamed only once its lock is held, so a concurrent sweep never sees an
    /// unlocked live staging directory.
    pub fn new_staging(&self) -> Result<Staging, StoreError> {
        let id: u128 = rand::random();
        let setup = self.tmp_dir().join(format!(".new-{id:032x}"));
        let dir = self.tmp_dir().join(format!("{id:032x}"));
        fs::create_dir(&setup).map_err(|e| StoreError::io(&setup, e))?;
        let lock = lock::lock_staging(&setup.join("lock"))?;
        fs::rename(&setup, &dir).map_err(|e| StoreError::io(&dir, e))?;
        Ok(Staging { dir, _lock: lock })
    }

    /// Lock level `Images`, shared: for reading images.json, blobs and layers.
    pub fn lock_images_shared(&self) -> Result<LockGuard, StoreError> {
        lock::lock_shared(LockLevel::Images, &self.root.join("images.lock"))
    }

    /// Lock level `Images`, exclusive: for committing or removing images, blobs and layers.
    pub fn lock_images_exclusive(&self) -> Result<LockGuard, StoreError> {
        lock::lock_exclusive(LockLevel::Images, &self.root.join("images.lock"))
    }

    /// Lock level `LayerDownload`: held while one layer is fetched and committed. Must not be
    /// taken while the containers or image lock is held.
    pub fn lock_layer_download(&self, chain_id: &(impl DigestArg + ?Sized)) -> Result<LockGuard, StoreError> {
        let hex = sha256_hex_of(chain_id)?;
        lock::lock_exclusive(LockLevel::LayerDownload, &self.root.join("locks").join(format!("{hex}.lock")))
    }

    /// Reads the image index. Needs the image lock, shared or exclusive.
    pub fn images(&self) -> Result<ImageIndex, StoreError> {
        ImageIndex::read(&self.root.join("images.json"))
    }

    /// Replaces the image index. Needs the image lock, exclusive.
    pub fn write_images(&self, index: &ImageIndex) -> Result<(), StoreError> {
        index.write(&self.root.join("images.json"))
    }

    pub fn blob_path(&self, digest: &(impl DigestArg + ?Sized)) -> Result<PathBuf, StoreError> {
        Ok(self.root.join("blobs/sha256").join(sha256_hex_of(digest)?))
    }

    /// Needs the image lock (either mode) for a stable answer.
    pub fn has_blob(&self, digest: &(impl DigestArg + ?Sized)) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.exists())
    }

    /// Needs the image lock, shared or exclusive.
    pub fn read_blob(&self, digest: &(impl DigestArg + ?Sized)) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest)?;
        fs::read(&path).map_err(|e| StoreError::io(&path, e))
    }

    /// Moves a fully written and verified file into the blob store. Needs the image lock,
    /// exclusive. The caller has fsynced the file.
    pub fn commit_blob(&self, staged_file: &Path, digest: &(impl DigestArg + ?Sized)) -> Result<(), StoreError> {
        let path = self.blob_path(digest)?;
        if path.exists() {
            return Ok(());
        }
        fs::rename(staged_file, &path).map_err(|e| StoreError::io(&path, e))?;
        sync_dir(path.parent().expect("blob has a parent"))
    }

    /// Writes a small blob (manifest, config) by content. Needs the image lock, exclusive.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::sha256_of(bytes);
        let path = self.blob_path(&digest)?;
        if !path.exists() {
            write_file_atomically(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Removes a blob. Needs the image lock, exclusive.
    pub fn remove_blob(&self, digest: &(impl DigestArg + ?Sized)) -> Result<(), StoreError> {
        let path = self.blob_path(digest)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// Every blob digest in the store. Needs the image lock, shared or exclusive.
    /// (Strings while `image::check` holds digests as strings.)
    pub fn blob_digests(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join("blobs/sha256");
        let entries = fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        Ok(entries
            .flatten()
            .filter_map(|e| Digest::sha256_hex(e.file_name().to_str()?).ok())
            .map(String::from)
            .collect())
    }
}

/// Compatibility for code still holding `String` digests: [`Digest::sha256_of`] as text.
pub fn sha256_digest(bytes: &[u8]) -> String {
    Digest::sha256_of(bytes).into()
}

/// Removes a file or directory tree, best effort: used only for garbage that a later sweep would
/// retry.
pub(crate) fn remove_path(path: &Path) {
    let _ = fs::remove_dir_all(path).or_else(|_| fs::remove_file(path));
}

/// The entry names of `dir`, sorted; none if it does not exist.
fn dir_names(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    Ok(names)
}
