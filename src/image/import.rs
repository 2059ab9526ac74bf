//! `import`: one root filesystem tarball (plain, gzip or zstd) becomes a one-layer image with
//! no base, the host's platform, `--change` instructions applied and one history entry.

use std::io::Read;

use super::ImageError;
use super::archive::{ArchiveError, layer_media_type};
use super::assemble::{AssembleError, Assembly};
use super::decode::{self, Compression};
use super::ingest;
use super::instructions::{ChangeError, apply_changes};
use super::spec::{self, History};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not a tarball berth reads (empty, xz, bzip2).
    #[error(transparent)]
    Tarball(#[from] ArchiveError),
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("reading the tarball: {0}")]
    Read(std::io::Error),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        ImportError::Image(e.into())
    }
}

pub struct ImportRequest<'a> {
    /// Dockerfile instructions applied to the image config (`--change`).
    pub changes: &'a [String],
    /// The history comment (`-m`); "Imported from SOURCE" when none is given.
    pub message: Option<&'a str>,
    /// Where the tarball came from, for the history comment.
    pub source: &'a str,
    /// The fully qualified name to give the image.
    pub name: Option<String>,
    /// The image's `created` time (RFC 3339): the caller's choice, for reproducible images.
    pub created: &'a str,
}

/// Makes a one-layer image of a root filesystem tarball. The changes are checked before the
/// tarball is read. Takes the ingest lock, shared, and the image lock briefly to commit.
/// Returns the image id.
pub fn import(store: &Store, input: impl Read, request: &ImportRequest) -> Result<String, ImportError> {
    let mut image = Assembly::scratch(&spec::host_platform());
    apply_changes(image.run_config_mut(), request.changes)?;
    let _ingest = store.lock_ingest_shared()?;
    let mut input = input;
    let mut head = Vec::with_capacity(8);
    (&mut input).take(8).read_to_end(&mut head).map_err(ImportError::Read)?;
    let kind = decode::sniff_compression(&head);
    let replayed = std::io::Cursor::new(head).chain(input);
    // A layer blob is plain, gzip or zstd: a tarball in another compression is decompressed
    // on the way in and kept as a plain tar.
    let staged = if let Some(Compression::Bzip2 | Compression::Xz) = kind {
        let (_, decoded) = decode::decompressing_reader(replayed).map_err(ImportError::Read)?;
        ingest::stage_layer(store, store.new_staging()?, decoded, spec::OCI_LAYER)?
    } else {
        let media_type = layer_media_type(kind, "the tarball")?;
        ingest::stage_layer(store, store.new_staging()?, replayed, media_type)?
    };
    let comment = request.message.map_or_else(|| format!("Imported from {}", request.source), str::to_owned);
    // Unlike a commit's, an imported layer is kept even when it holds no files, as Docker does.
    image.add_layer(
        store,
        staged,
        History {
            created: Some(request.created.to_owned()),
            created_by: Some("berth import".into()),
            comment: Some(comment),
            ..Default::default()
        },
    )?;
    let id = image.finish(request.created)?.commit(store, request.name.iter().cloned().collect())?;
    super::event::record_id(store, "import", &id, request.name.as_deref());
    Ok(id)
}
