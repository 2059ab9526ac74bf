//! Paths of layer entries, as components relative to the layer root.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::LayerError;

/// A layer-relative path with no empty, "." or ".." components; empty means the root.
pub(super) type RelPath = Vec<Vec<u8>>;

/// Docker semantics: leading "/" and "./" are dropped (absolute means relative to the layer
/// root), ".." is resolved lexically and must not climb out.
pub(super) fn normalize_layer_path(raw: &[u8]) -> Result<RelPath, LayerError> {
    if raw.contains(&0) {
        return Err(LayerError::BadArchive(format!("{}: path contains a NUL byte", String::from_utf8_lossy(raw))));
    }
    let mut out: RelPath = Vec::new();
    for component in raw.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(LayerError::UnsafePath(format!(
                        "{}: climbs above the layer root",
                        String::from_utf8_lossy(raw)
                    )));
                }
            }
            name => out.push(name.to_vec()),
        }
    }
    Ok(out)
}

pub(super) fn display_rel(rel: &[Vec<u8>]) -> String {
    if rel.is_empty() {
        return ".".to_owned();
    }
    String::from_utf8_lossy(&rel.join(&b'/')).into_owned()
}

/// An error about `rel` below `dest`, naming the full path.
pub(super) fn io_err_at<E: Into<io::Error>>(dest: &Path, rel: &[Vec<u8>]) -> impl FnOnce(E) -> LayerError {
    let path = dest.join(OsStr::from_bytes(&rel.join(&b'/')));
    move |e| LayerError::Io { path, source: e.into() }
}
