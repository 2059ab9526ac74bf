//! Images: references and registries, pull, removal, layers, and the archive formats.

pub mod archive;
pub mod assemble;
mod blob_file;
pub mod check;
pub mod decode;
pub mod ensure;
pub mod event;
pub mod import;
pub mod ingest;
pub mod inspect;
pub mod instructions;
pub mod layer;
pub mod lookup;
pub mod progress;
pub mod pull;
pub mod push;
pub mod registry;
pub mod remove;
pub mod spec;
pub mod tag;

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
    #[error("a stage of the layer ingest stopped before the end of the layer")]
    IngestStopped,
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

#[cfg(test)]
pub(crate) mod tests {
    use std::error::Error;

    use super::*;
    use crate::image::registry::auth::AuthError;
    use crate::image::registry::login_probe::LoginError;
    use crate::image::registry::token::TokenError;

    /// The error and its causes as `main` prints them, `: `-joined, with nothing dropped.
    fn parts(error: &dyn Error) -> Vec<String> {
        let mut out = vec![error.to_string()];
        let mut cause = error.source();
        while let Some(c) = cause {
            out.push(c.to_string());
            cause = c.source();
        }
        out
    }

    /// No part of the printed chain repeats another (what `main`'s de-duplication hides).
    pub(crate) fn assert_prints_once(error: &dyn Error) {
        let parts = parts(error);
        for (i, part) in parts.iter().enumerate().skip(1) {
            assert!(
                !parts[..i].iter().any(|earlier| earlier.contains(part.as_str())),
                "repeated {part:?} in {parts:?}"
            );
        }
    }

    fn not_found() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::ENOENT)
    }

    #[test]
    fn image_and_registry_errors_print_each_cause_once() {
        let store_io = ImageError::Store(StoreError::io(std::path::Path::new("/s/images.json"), not_found()));
        assert_eq!(store_io.to_string(), "/s/images.json: No such file or directory (os error 2)");
        let errors: Vec<Box<dyn Error>> = vec![
            Box::new(store_io),
            Box::new(ImageError::io("reading the layer", not_found())),
            Box::new(ImageError::Runtime(not_found())),
            Box::new(ImageError::BadConfig {
                reference: "r".into(),
                error: serde_json::from_str::<serde_json::Value>("{").unwrap_err(),
            }),
            Box::new(ImageError::BadDigest { reference: "r".into(), error: crate::store::BadDigest("x".into()) }),
            Box::new(ImageError::Store(crate::store::BadDigest("y".into()).into())),
            Box::new(ImageError::Registry(registry::RegistryError::Transport {
                registry: "reg".into(),
                detail: "connection refused".into(),
                retryable: true,
            })),
            Box::new(AuthError::Io { action: "reading", path: "/a.json".into(), error: not_found() }),
            Box::new(LoginError::Runtime(not_found())),
            Box::new(LoginError::Refused(TokenError::Unauthorized("HTTP 401".into()))),
            Box::new(remove::RemoveError::Lookup(ImageError::Store(StoreError::ImageNotFound("x".into())))),
        ];
        for error in &errors {
            assert_prints_once(error.as_ref());
        }
        let runtime = parts(&LoginError::Runtime(not_found()));
        assert_eq!(runtime, ["starting the async runtime", "No such file or directory (os error 2)"]);
    }
}
