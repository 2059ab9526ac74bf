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
pub use self::save::{ArchiveFormat, SaveRequest, save, save_to_file};
use super::ImageError;
use super::assemble::{AssembleError, oci_media_type};
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
// Compression sniffing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sniffed {
    Empty,
    Plain,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

fn sniff_bytes(head: &[u8]) -> Sniffed {
    match head {
        [] => Sniffed::Empty,
        [0x1f, 0x8b, ..] => Sniffed::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Sniffed::Zstd,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Sniffed::Xz,
        [b'B', b'Z', b'h', ..] => Sniffed::Bzip2,
        _ => Sniffed::Plain,
    }
}

/// A reader whose first bytes were read to sniff them, and put back in front.
pub(super) type Replayed<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Reads the first bytes of `reader` to tell its compression, and gives back a reader that still
/// yields them.
pub(super) fn sniff<R: Read>(mut reader: R) -> io::Result<(Sniffed, Replayed<R>)> {
    let mut head = Vec::with_capacity(6);
    (&mut reader).take(6).read_to_end(&mut head)?;
    Ok((sniff_bytes(&head), io::Cursor::new(head).chain(reader)))
}

fn sniff_file(file: &File) -> io::Result<Sniffed> {
    let mut head = [0u8; 6];
    let mut filled = 0;
    while filled < head.len() {
        match file.read_at(&mut head[filled..], filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(sniff_bytes(&head[..filled]))
}

fn unsupported_compression(kind: Sniffed, what: &str) -> ArchiveError {
    let name = if kind == Sniffed::Xz { "xz" } else { "bzip2" };
    ArchiveError::Invalid(format!("{what} is {name}-compressed, which berth does not read; decompress it first"))
}

/// The compression of a blob, or why berth cannot take it.
fn compression_of(kind: Sniffed, what: &str) -> Result<Compression, ArchiveError> {
    match kind {
        Sniffed::Empty => Err(ArchiveError::Invalid(format!("{what} is empty"))),
        Sniffed::Plain => Ok(Compression::None),
        Sniffed::Gzip => Ok(Compression::Gzip),
        Sniffed::Zstd => Ok(Compression::Zstd),
        Sniffed::Xz | Sniffed::Bzip2 => Err(unsupported_compression(kind, what)),
    }
}

/// The layer media type for a blob of this compression.
pub(super) fn layer_media_type(kind: Sniffed, what: &str) -> Result<&'static str, ArchiveError> {
    compression_of(kind, what).map(oci_media_type)
}

/// The tar stream inside a possibly gzip- or zstd-compressed archive.
fn decompressed_archive(reader: impl Read + 'static) -> Result<Box<dyn Read>, ArchiveError> {
    let (kind, reader) = sniff(reader).map_err(io_error("reading the archive"))?;
    match kind {
        Sniffed::Empty => Err(ArchiveError::Invalid("the archive is empty".into())),
        Sniffed::Plain => Ok(Box::new(reader)),
        Sniffed::Gzip => Ok(Box::new(flate2::read::MultiGzDecoder::new(reader))),
        Sniffed::Zstd => {
            Ok(Box::new(zstd::stream::read::Decoder::new(reader).map_err(io_error("reading the archive"))?))
        }
        Sniffed::Xz | Sniffed::Bzip2 => Err(unsupported_compression(kind, "the archive")),
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
