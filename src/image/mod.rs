//! Images: references and registries, pull, removal, layers, and the archive formats.

pub mod archive;
mod blob_file;
pub mod check;
mod decode;
pub mod ensure;
pub mod ingest;
pub mod layer;
pub mod lookup;
pub mod progress;
pub mod pull;
pub mod registry;
pub mod remove;
pub mod spec;

/// Compatibility path for the modules that still name `image::reference` (the archive code,
/// a few cmd verbs, config); new code uses `image::registry::reference`.
pub use registry::reference;

use crate::store::{BadDigest, StoreError};

/// What went wrong with an image. Every variant either shows its cause in its message or is
/// `transparent` (the inner error's message and source, once); none does both.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what}: digest mismatch: got {actual}, expected {expected}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("no image for platform {wanted} in {reference} (available: {available})")]
    NoMatchingPlatform { reference: String, wanted: String, available: String },
    #[error("no search registries configured for short names")]
    NoSearchRegistries,
    #[error("{reference}: an index inside an index is not supported")]
    NestedIndex { reference: String },
    #[error("{digest}: config blob of {size} bytes is implausibly large")]
    ConfigTooLarge { digest: String, size: u64 },
    #[error("{reference}: malformed image config: {error}")]
    BadConfig { reference: String, error: serde_json::Error },
    #[error("{reference}: manifest lists {layers} layers but the config has {diff_ids} diff ids")]
    LayerCountMismatch { reference: String, layers: usize, diff_ids: usize },
    #[error("{reference}: {error} in the image")]
    BadDigest { reference: String, error: BadDigest },
    #[error("registry sent more than the {expected} bytes the manifest declares for {digest}")]
    Oversized { digest: String, expected: u64 },
    #[error("downloading {digest}: got {received} of {expected} bytes: {why}")]
    Incomplete { digest: String, received: u64, expected: u64, why: String },
    #[error("layer {chain} was removed while the image was being stored; try again")]
    LayerVanished { chain: String },
    #[error("the layer unpacker stopped before the end of the layer")]
    UnpackerStopped,
    #[error("the {0} panicked")]
    Panicked(String),
    #[error("a pull task failed: {0}")]
    Task(tokio::task::JoinError),
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
}

impl ImageError {
    pub fn io(what: impl std::fmt::Display, error: std::io::Error) -> ImageError {
        ImageError::Io { what: what.to_string(), error }
    }
}
