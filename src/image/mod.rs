//! Images: references, registries, pull, layers, and the archive formats.

pub mod archive;
pub mod assemble;
pub mod auth;
mod blob_file;
pub mod check;
pub mod decode;
pub mod import;
pub mod ingest;
pub mod instructions;
pub mod layer;
pub mod login_probe;
pub mod lookup;
pub mod progress;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod spec;

use crate::store::StoreError;

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
    #[error("{0}")]
    Invalid(String),
    #[error("no image for platform {wanted} in {reference} (available: {available})")]
    NoMatchingPlatform { reference: String, wanted: String, available: String },
    #[error("{0}")]
    Io(String),
}

impl ImageError {
    pub fn io(what: impl std::fmt::Display, e: std::io::Error) -> ImageError {
        ImageError::Io(format!("{what}: {e}"))
    }
}
