//! `export`: a tar of a container's root filesystem as its processes see it, without its
//! mounts: a read-only overlay of its upper dir over its image's layers, mounted by a helper in
//! a mount namespace of its own, so a running container can be exported too.

use std::fs::File;
use std::path::Path;

use super::cp::{CopyError, write_tar};
use super::record::Container;
use crate::sandbox::container_fs::{FsAccess, spawn_helper};
use crate::store::Store;

/// Writes the container's files to `out` as a tar (member names relative: "bin/sh"). Takes the
/// image lock (shared) while it looks its layers up.
pub fn export(store: &Store, container: &Container, out: File) -> Result<(), CopyError> {
    let staging = store.new_staging()?;
    let mut layers = vec![store.container_dir(&container.id).join("upper")];
    {
        let _lock = store.lock_images_shared()?;
        for chain in container.config.layers.iter().rev() {
            layers.push(store.layer_diff_dir(chain)?);
        }
    }
    if layers.len() < 2 {
        // overlayfs wants two lower dirs when it has no upper dir.
        let empty = staging.path().join("empty");
        std::fs::create_dir(&empty)
            .map_err(|source| CopyError::Io { what: format!("creating {}", empty.display()), source })?;
        layers.push(empty);
    }
    let access = FsAccess::Snapshot { layers, mountpoint: staging.path().join("rootfs"), userxattr: store.rootless() };
    let mut out = Some(out);
    let helper = spawn_helper(&access, &[], &mut |root| {
        let out = out.take().expect("the output is used once");
        write_tar(std::os::fd::AsFd::as_fd(&root), Path::new(""), "", false, out)
            .map(drop)
            .map_err(|e| crate::container::supervisor::error_chain(&e))
    })?;
    drop(out);
    helper.wait()?;
    Ok(())
}
