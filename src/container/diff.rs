//! `diff`: what a container changed, from its upper dir: A (added), C (changed), D (deleted),
//! as Docker lists them. The mount targets the sandbox made there are not changes.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::record::Container;
use crate::image::assemble::mount_placeholders;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Added,
    Changed,
    Deleted,
}

impl Kind {
    pub fn letter(self) -> char {
        match self {
            Kind::Added => 'A',
            Kind::Changed => 'C',
            Kind::Deleted => 'D',
        }
    }
}

/// One changed path, absolute in the container ("/etc/passwd").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: Kind,
    pub path: String,
}

/// The container's changes, parents before their children, names sorted. Reads the upper dir
/// as it is: a running container may change it meanwhile.
pub fn changes(store: &Store, container: &Container) -> Result<Vec<Change>, StoreError> {
    let upper = store.container_dir(&container.id).join("upper");
    let lowers =
        container.config.layers.iter().rev().map(|chain| store.layer_diff_dir(chain)).collect::<Result<Vec<_>, _>>()?;
    let skip = mount_placeholders(&upper, &lowers);
    let mut out = Vec::new();
    walk(&upper, &lowers, &skip, Path::new(""), &mut out)?;
    Ok(out)
}

fn walk(
    upper: &Path,
    lowers: &[PathBuf],
    skip: &HashSet<Vec<u8>>,
    rel: &Path,
    out: &mut Vec<Change>,
) -> Result<(), StoreError> {
    let dir = upper.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| StoreError::io(&dir, e))?
        .map(|entry| entry.map(|e| e.file_name()).map_err(|e| StoreError::io(&dir, e)))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let path = rel.join(&name);
        if skip.contains(path.as_os_str().as_bytes()) {
            continue;
        }
        let full = upper.join(&path);
        let meta = fs::symlink_metadata(&full).map_err(|e| StoreError::io(&full, e))?;
        // An overlay whiteout (a 0:0 character device) or an AUFS-style `.wh.` file.
        let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
        if let Some(hidden) = name.as_bytes().strip_prefix(b".wh.").filter(|_| !whiteout) {
            if hidden != b".wh..opq" {
                let path = rel.join(std::ffi::OsStr::from_bytes(hidden));
                out.push(Change { kind: Kind::Deleted, path: absolute(&path) });
            }
            continue;
        }
        if whiteout {
            out.push(Change { kind: Kind::Deleted, path: absolute(&path) });
            continue;
        }
        let in_lower = lowers.iter().any(|lower| fs::symlink_metadata(lower.join(&path)).is_ok());
        out.push(Change { kind: if in_lower { Kind::Changed } else { Kind::Added }, path: absolute(&path) });
        if meta.is_dir() {
            walk(upper, lowers, skip, &path, out)?;
        }
    }
    Ok(())
}

fn absolute(rel: &Path) -> String {
    format!("/{}", rel.display())
}
