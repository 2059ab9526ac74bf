//! Bringing one layer blob into the store: while its compressed bytes stream in, keep them as a
//! blob, hash them, decompress, hash the tar (the diff id) and unpack it — one pass, no full
//! temporary copy — all inside a staging directory; then commit under the image lock.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::ImageError;
use super::layer::{self, UnpackOptions};
use crate::store::{ImageRecord, LayerRecord, Staging, Store};

/// A layer unpacked and verified in its staging directory, ready to commit.
pub struct StagedLayer {
    pub staging: Staging,
    pub blob_digest: String,
    pub blob_size: u64,
    pub blob_media_type: String,
    pub diff_id: String,
    pub size: u64,
    pub warnings: Vec<String>,
}

struct BlobSink {
    file: BufWriter<File>,
    hasher: Sha256,
    written: u64,
}

/// Passes compressed bytes through while writing them to the staged blob file and hashing them.
struct TeeToBlob<R> {
    inner: R,
    sink: Arc<Mutex<BlobSink>>,
}

impl<R: Read> Read for TeeToBlob<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut sink = self.sink.lock().expect("blob sink lock");
        sink.file.write_all(&buf[..n])?;
        sink.hasher.update(&buf[..n]);
        sink.written += n as u64;
        Ok(n)
    }
}

pub fn unpack_options(store: &Store) -> UnpackOptions {
    if store.rootless() { UnpackOptions::ROOTLESS } else { UnpackOptions::ROOTFUL }
}

/// Reads a whole compressed (or plain) layer blob from `reader` into `staging`: `blob` holds the
/// bytes as given, `diff/` the unpacked files. Runs on the calling thread.
pub fn stage_layer(
    store: &Store,
    staging: Staging,
    reader: impl Read + Send + 'static,
    media_type: &str,
) -> Result<StagedLayer, ImageError> {
    let blob_path = staging.path().join("blob");
    let diff_dir = staging.path().join("diff");
    std::fs::create_dir(&diff_dir).map_err(|e| ImageError::io(diff_dir.display(), e))?;
    let file = File::create(&blob_path).map_err(|e| ImageError::io(blob_path.display(), e))?;
    let sink = Arc::new(Mutex::new(BlobSink {
        file: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        written: 0,
    }));
    let tee = TeeToBlob { inner: reader, sink: sink.clone() };
    let mut tar = layer::decompress(tee)?;
    let stats = layer::unpack_layer(&mut tar, &diff_dir, &unpack_options(store))?;
    // Whatever follows the tar's end marker still belongs to the blob and its digest.
    io::copy(&mut tar, &mut io::sink()).map_err(|e| ImageError::io("reading layer", e))?;
    drop(tar);
    let sink = Arc::try_unwrap(sink)
        .map_err(|_| ImageError::Io("layer reader still in use".into()))?
        .into_inner()
        .expect("blob sink lock");
    let file = sink.file.into_inner().map_err(|e| ImageError::io(blob_path.display(), e.into_error()))?;
    file.sync_all().map_err(|e| ImageError::io(blob_path.display(), e))?;
    Ok(StagedLayer {
        staging,
        blob_digest: format!("sha256:{}", hex::encode(sink.hasher.finalize())),
        blob_size: sink.written,
        blob_media_type: media_type.to_owned(),
        diff_id: stats.diff_id,
        size: stats.uncompressed_size,
        warnings: stats.warnings,
    })
}

impl StagedLayer {
    pub fn verify(
        &self,
        expected_blob: Option<&str>,
        expected_diff_id: Option<&str>,
        what: &str,
    ) -> Result<(), ImageError> {
        if let Some(expected) = expected_blob
            && expected != self.blob_digest
        {
            return Err(ImageError::DigestMismatch {
                what: format!("{what} blob"),
                expected: expected.into(),
                actual: self.blob_digest.clone(),
            });
        }
        if let Some(expected) = expected_diff_id
            && expected != self.diff_id
        {
            return Err(ImageError::DigestMismatch {
                what: format!("{what} uncompressed content (diff id)"),
                expected: expected.into(),
                actual: self.diff_id.clone(),
            });
        }
        Ok(())
    }

    /// Commits the blob and the layer. Takes the image lock, exclusive, briefly.
    pub fn commit(self, store: &Store, chain_id: &str, parent: Option<&str>) -> Result<(), ImageError> {
        let record = LayerRecord {
            chain_id: chain_id.to_owned(),
            diff_id: self.diff_id.clone(),
            parent: parent.map(str::to_owned),
            size: self.size,
            blob_digest: self.blob_digest.clone(),
            blob_media_type: self.blob_media_type.clone(),
            blob_size: self.blob_size,
        };
        let _lock = store.lock_images_exclusive()?;
        store.commit_blob(&self.staging.path().join("blob"), &self.blob_digest)?;
        store.commit_layer(&self.staging, &record)?;
        Ok(())
    }
}

/// Records an image whose layers are all committed: writes its manifest and config blobs and
/// adds the record. Takes the image lock, exclusive. Fails if a layer vanished meanwhile (a
/// concurrent `rmi` removed it), so the caller can retry.
pub fn commit_image(
    store: &Store,
    manifest: &[u8],
    config: &[u8],
    mut record: ImageRecord,
) -> Result<String, ImageError> {
    let _lock = store.lock_images_exclusive()?;
    for chain in &record.layers {
        if store.layer(chain)?.is_none() {
            return Err(ImageError::Invalid(format!(
                "layer {chain} was removed while the image was being stored; try again"
            )));
        }
    }
    record.manifest_digest = store.write_blob(manifest)?;
    record.id = store.write_blob(config)?;
    let mut index = store.images()?;
    let id = record.id.clone();
    index.insert(record);
    store.write_images(&index)?;
    Ok(id)
}
