//! Image archives.
//!
//! - `save` writes a docker-archive — the layout `docker save` writes since Docker 25: an OCI
//!   image layout (`oci-layout`, `index.json`, `blobs/sha256/`) that also carries Docker's
//!   `manifest.json` and `repositories`, with every layer as an uncompressed tar named by its diff
//!   id — or an oci-archive: an OCI image layout in a tar, blobs exactly as stored (`save.rs`).
//! - `load` reads either of those, the older docker-archive layout (`<id>/layer.tar`,
//!   `<hex>.json`), and any of them wrapped in gzip or zstd (`load.rs`).
//!
//! Archive members arrive in no useful order (a `manifest.json` may follow the layers it names),
//! so `load` first extracts the regular files into a staging directory (`extract.rs`), then
//! reads the documents, then stages and verifies every layer, and commits only when all of them
//! are good: a bad archive leaves the store as it was.
//!
//! The compression sniffer here repeats the one in `image/layer.rs`; the layer module's is to
//! become the one copy.

mod extract;
mod load;
mod save;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use serde::{Deserialize, Serialize};

pub use self::load::load;
#[cfg(any(test, fuzzing))]
pub use self::load::read_documents;
pub use self::save::{ArchiveFormat, SaveRequest, save, save_to_file};
use super::ImageError;
use super::assemble::{AssembleError, oci_media_type};
use super::decode;
use super::layer::LayerError;
use super::spec::{Compression, ImageConfig, SpecError};
use crate::store::{StoreError, digest_hex, is_valid_digest};

/// JSON documents (manifests, configs, indexes) larger than this are refused rather than read
/// into memory.
const MAX_DOCUMENT: u64 = 32 << 20;
/// Nested indexes followed at most this deep.
const MAX_INDEX_DEPTH: usize = 4;
/// Symbolic and hard links inside an archive followed at most this many times.
const MAX_LINK_HOPS: usize = 16;

const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    /// The input is not an archive berth can read, or it contradicts itself.
    #[error("{0}")]
    Invalid(String),
    #[error("archive member {0:?} points outside the archive (absolute path or \"..\")")]
    UnsafePath(String),
    #[error("{what}: {error}")]
    Io { what: String, error: io::Error },
    /// A failure while bringing in one layer, with the archive member it came from.
    #[error("{what}: {error}")]
    Layer { what: String, error: ImageError },
}

impl From<StoreError> for ArchiveError {
    fn from(e: StoreError) -> Self {
        ArchiveError::Image(e.into())
    }
}

impl From<LayerError> for ArchiveError {
    fn from(e: LayerError) -> Self {
        ArchiveError::Image(e.into())
    }
}

impl From<SpecError> for ArchiveError {
    fn from(e: SpecError) -> Self {
        ArchiveError::Image(e.into())
    }
}

fn io_error(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> ArchiveError {
    move |error| ArchiveError::Io { what: what.to_string(), error }
}

// ---------------------------------------------------------------------------------------------
// Compression sniffing (image::decode's sniffer; an archive's magic fits in its first bytes)

/// What a blob's first bytes show: None for an empty blob.
pub(super) type Sniffed = Option<decode::Compression>;

const MAGIC_LEN: usize = 6;

fn sniff_file(file: &File) -> io::Result<Sniffed> {
    let mut head = [0u8; MAGIC_LEN];
    let mut filled = 0;
    while filled < head.len() {
        match file.read_at(&mut head[filled..], filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(decode::sniff_compression(&head[..filled]))
}

/// The compression of a layer blob kept as it is, or why it cannot be kept: image layers are
/// plain, gzip or zstd.
fn compression_of(kind: Sniffed, what: &str) -> Result<Compression, ArchiveError> {
    match kind {
        None => Err(ArchiveError::Invalid(format!("{what} is empty"))),
        Some(decode::Compression::Plain) => Ok(Compression::None),
        Some(decode::Compression::Gzip) => Ok(Compression::Gzip),
        Some(decode::Compression::Zstd) => Ok(Compression::Zstd),
        Some(other) => Err(ArchiveError::Invalid(format!(
            "{what} is {}-compressed, which an image layer cannot be; decompress it first",
            if other == decode::Compression::Xz { "xz" } else { "bzip2" }
        ))),
    }
}

/// The layer media type for a blob of this compression.
pub(super) fn layer_media_type(kind: Sniffed, what: &str) -> Result<&'static str, ArchiveError> {
    compression_of(kind, what).map(oci_media_type)
}

/// The tar stream inside a possibly compressed archive (gzip, zstd, bzip2 or xz).
fn decompressed_archive(reader: impl Read + 'static) -> Result<Box<dyn Read>, ArchiveError> {
    match decode::decompressing_reader(reader).map_err(io_error("reading the archive"))? {
        (None, _) => Err(ArchiveError::Invalid("the archive is empty".into())),
        (Some(_), decoded) => Ok(decoded),
    }
}

fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfig, ArchiveError> {
    let config: ImageConfig = serde_json::from_slice(bytes)
        .map_err(|e| ArchiveError::Invalid(format!("{what}: malformed image config: {e}")))?;
    if let Some(bad) = config.rootfs.diff_ids.iter().find(|d| !is_valid_digest(d)) {
        return Err(ArchiveError::Invalid(format!("{what}: invalid diff id {bad:?}")));
    }
    Ok(config)
}

/// "blobs/sha256/<hex>" for a digest.
fn blob_member(digest: &str) -> Result<String, ArchiveError> {
    let hex =
        digest_hex(digest).map_err(|_| ArchiveError::Invalid(format!("unsupported or malformed digest {digest:?}")))?;
    Ok(format!("blobs/sha256/{hex}"))
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}
