//! Image layers: unpacking OCI/Docker layer tarballs into overlayfs "upper dir" format
//! (`unpack`), packing an upper dir back into a layer tarball (`pack`), and checking an
//! unpacked layer against its tar (`verify`).
//!
//! Unpacking is the security-critical half: a layer is untrusted input, so every file is
//! created relative to a directory fd of the layer root, parents are resolved with
//! `openat2(RESOLVE_IN_ROOT)` (or a no-symlinks walk where that syscall is missing), and the
//! final component is only ever touched with `*at()` calls that do not follow symlinks; the
//! primitives for all of that are `sandbox::fs_at`'s.

mod entry;
mod pack;
mod path;
mod tar_io;
mod unpack;
mod verify;

use std::ffi::CString;
use std::io;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

pub use pack::{pack_upper_dir, pack_upper_dir_clamped};
pub(crate) use tar_io::{ExactSizeReader, base_header, device_number, join_tar_path};
pub use unpack::unpack_layer;
pub use verify::verify_layer;

/// Name prefix that marks a whiteout entry in a layer tarball.
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Names with this prefix are aufs bookkeeping, not whiteouts.
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
/// Entry name that makes its directory opaque.
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Overlay metadata in either namespace; never taken from, or written into, a tarball.
const OVERLAY_XATTR_PREFIXES: [&[u8]; 2] = [b"trusted.overlay.", b"user.overlay."];
/// PAX record prefix for extended attributes (GNU tar / Docker / containerd).
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";
/// Host SELinux labels must not travel inside image layers.
const SELINUX_XATTR: &[u8] = b"security.selinux";

/// Errors from unpacking, packing or verifying a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("i/o error on {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unsafe path in layer: {0}")]
    UnsafePath(String),
    #[error("bad layer archive: {0}")]
    BadArchive(String),
    #[error("unknown layer compression: stream is neither gzip, zstd nor tar")]
    UnknownCompression,
    #[error("cannot pack {}: overlay {feature} is not representable in a layer", path.display())]
    UnsupportedOverlayFeature { path: PathBuf, feature: String },
}

/// Where overlay metadata goes: "trusted.overlay." when running as real root,
/// "user.overlay." inside a user namespace (rootless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackOptions {
    pub overlay_xattr_prefix: &'static str,
    pub in_user_namespace: bool,
}

impl UnpackOptions {
    /// Real root on the host: trusted.* overlay xattrs, device nodes allowed.
    pub const ROOTFUL: UnpackOptions =
        UnpackOptions { overlay_xattr_prefix: "trusted.overlay.", in_user_namespace: false };
    /// Inside a user namespace: user.* overlay xattrs (mount with `userxattr`), no devices.
    pub const ROOTLESS: UnpackOptions =
        UnpackOptions { overlay_xattr_prefix: "user.overlay.", in_user_namespace: true };

    fn overlay_xattr(&self, suffix: &str) -> io::Result<CString> {
        CString::new(format!("{}{suffix}", self.overlay_xattr_prefix))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }
}

/// What an unpack did, besides creating files. The diff id is not here: callers hash the tar
/// stream where it is produced (see `ingest`), on another thread than the one writing files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Number of tar entries processed (not counting PAX / long-name headers).
    pub entries: u64,
    /// Non-fatal problems (unmapped owners, skipped devices, xattrs that could not be set).
    pub warnings: Vec<String>,
}

pub(crate) fn stream_error(source: io::Error) -> LayerError {
    LayerError::Io { path: PathBuf::from("<layer stream>"), source }
}

pub(crate) fn format_sha256(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

fn is_overlay_xattr(name: &[u8]) -> bool {
    OVERLAY_XATTR_PREFIXES.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests;
