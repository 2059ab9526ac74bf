//! A step's view of a stage's filesystem without a container: a forked helper mounts a
//! read-only overlay of the layers (`sandbox::container_fs`, as `export` does) and works in it;
//! what it finds comes back as JSON, or as a byte stream through a pipe. Must be called while
//! the build has no thread running (the helper forks).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::BuildError;
use crate::sandbox::container_fs::{FsAccess, Helper, spawn_helper};
use crate::store::{Staging, Store};

/// A root filesystem to look into: layers' diff dirs, top-most first (empty: scratch).
pub struct Snapshot<'a> {
    store: &'a Store,
    layers: Vec<PathBuf>,
}

impl<'a> Snapshot<'a> {
    /// `chains`: chain ids, bottom first.
    pub fn new(store: &'a Store, chains: &[String]) -> Result<Snapshot<'a>, BuildError> {
        let layers = chains.iter().rev().map(|c| store.layer_diff_dir(c)).collect::<Result<Vec<_>, _>>()?;
        Ok(Snapshot { store, layers })
    }

    /// The helper's access, with `staging` for its mountpoint (and an empty lower dir: a
    /// read-only overlay needs two lower dirs).
    fn access(&self, staging: &Staging) -> Result<FsAccess, BuildError> {
        let mut layers = self.layers.clone();
        if layers.len() == 1 {
            let empty = staging.path().join("empty");
            std::fs::create_dir(&empty).map_err(|e| BuildError::io(&empty, e))?;
            layers.push(empty);
        }
        Ok(FsAccess::Snapshot { layers, mountpoint: staging.path().join("rootfs"), userxattr: self.store.rootless() })
    }

    /// Runs `work` with the root's path and returns what it returned.
    pub fn query<T: Serialize + DeserializeOwned>(
        &self,
        mut work: impl FnMut(&Path) -> Result<T, String>,
    ) -> Result<T, BuildError> {
        let mut output = Vec::new();
        let helper = self.stream(&mut |root, mut out| {
            let value = work(root)?;
            let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
            out.write_all(&bytes).map_err(|e| e.to_string())
        })?;
        let read = helper.1.take(64 << 20).read_to_end(&mut output);
        helper.0.wait()?;
        read.map_err(|e| BuildError::io(Path::new("<snapshot helper>"), e))?;
        serde_json::from_slice(&output).map_err(|e| BuildError::Helper(e.to_string()))
    }

    /// Runs `work` with the root's path and the writing end of a pipe; returns the helper and
    /// the reading end (read it to its end, then wait for the helper).
    pub fn stream(
        &self,
        work: &mut dyn FnMut(&Path, File) -> Result<(), String>,
    ) -> Result<(SnapshotHelper, File), BuildError> {
        let staging = self.store.new_staging()?;
        let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| BuildError::io(Path::new("pipe"), e.into()))?;
        if self.layers.is_empty() {
            // Scratch: an empty directory is the whole filesystem; no mount needed.
            let root = staging.path().join("rootfs");
            std::fs::create_dir(&root).map_err(|e| BuildError::io(&root, e))?;
            let access = FsAccess::Running { pid: std::process::id() as i32, rootless: false };
            let mut w = Some(w);
            let helper = spawn_helper(&access, &[r.as_raw_fd()], &mut |_| {
                work(&root, File::from(w.take().ok_or("used twice")?))
            })?;
            drop(w);
            return Ok((SnapshotHelper { helper, _staging: staging }, File::from(r)));
        }
        let access = self.access(&staging)?;
        let mountpoint = staging.path().join("rootfs");
        let mut w = Some(w);
        let helper = spawn_helper(&access, &[r.as_raw_fd()], &mut |_| {
            work(&mountpoint, File::from(w.take().ok_or("used twice")?))
        })?;
        drop(w);
        Ok((SnapshotHelper { helper, _staging: staging }, File::from(r)))
    }
}

/// A running snapshot helper and the staging directory its mountpoint is in.
pub struct SnapshotHelper {
    helper: Helper,
    _staging: Staging,
}

impl SnapshotHelper {
    pub fn wait(self) -> Result<(), BuildError> {
        Ok(self.helper.wait()?)
    }
}
