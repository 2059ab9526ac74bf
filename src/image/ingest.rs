//! Bringing one layer blob into the store. The compressed bytes, as they arrive, go to two
//! threads at once: one hashes them and writes the blob file, the other decompresses them and
//! hands the tar to two more, one hashing it (the diff id) and one unpacking it. One pass, no
//! temporary copy, no byte copied between threads; the decompressor, the slowest stage, does
//! nothing else. All inside a staging directory, committed afterwards under the image lock.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::ImageError;
use super::blob_file::{BlobFile, WrittenBlob};
use super::decode::{LayerDecoder, TarSink};
use super::layer::{self, UnpackOptions, UnpackStats};
use crate::store::{ImageRecord, LayerRecord, NewImage, Staging, Store, StoreError};

/// Chunks in flight per channel: with network-sized chunks about a megabyte.
const CHANNEL_DEPTH: usize = 64;
/// How much is read at once from a file or a decompressor.
const READ_SIZE: usize = 256 << 10;
/// Read chunks are carved from buffers of this size, which are reused once every chunk of
/// theirs has been consumed.
const POOL_SIZE: usize = 4 << 20;

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

pub fn unpack_options(store: &Store) -> UnpackOptions {
    if store.rootless() { UnpackOptions::ROOTLESS } else { UnpackOptions::ROOTFUL }
}

/// The receiving end of a chunk channel, as a plain `Read` for code that wants one.
struct ChunkReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChunkReader {
    fn new(rx: mpsc::Receiver<Bytes>) -> ChunkReader {
        ChunkReader { rx, current: Bytes::new() }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Reads the next chunk of `reader` (None at its end), carving it from `pool`.
fn read_chunk(reader: &mut impl Read, pool: &mut BytesMut) -> io::Result<Option<Bytes>> {
    if pool.capacity() < READ_SIZE {
        pool.reserve(POOL_SIZE);
    }
    pool.resize(READ_SIZE, 0);
    let n = loop {
        match reader.read(&mut pool[..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    pool.truncate(n);
    Ok((n > 0).then(|| pool.split().freeze()))
}

/// The sha256 ("sha256:<hex>") and size of the decompressed tar.
type TarDigest = (String, u64);

/// One layer being brought in: feed it the blob's bytes in order, then `finish`.
pub struct LayerIngest {
    blob_tx: mpsc::Sender<Bytes>,
    tar_tx: mpsc::Sender<Bytes>,
    blob_writer: JoinHandle<Result<WrittenBlob, ImageError>>,
    /// Ok(false) when the unpacker stopped early (its error says why).
    decoder: JoinHandle<Result<bool, ImageError>>,
    tar_hasher: JoinHandle<TarDigest>,
    unpacker: JoinHandle<Result<UnpackStats, ImageError>>,
    staging: Staging,
    media_type: String,
}

impl LayerIngest {
    pub fn start(store: &Store, staging: Staging, media_type: &str) -> Result<LayerIngest, ImageError> {
        let blob_path = staged_blob(&staging);
        let blob = BlobFile::create(&blob_path).map_err(|e| ImageError::io(blob_path.display(), e))?;
        LayerIngest::start_with(store, staging, media_type, blob)
    }

    fn start_with(
        store: &Store,
        staging: Staging,
        media_type: &str,
        blob: BlobFile,
    ) -> Result<LayerIngest, ImageError> {
        let blob_path = staged_blob(&staging);
        let diff_dir = staging.path().join("diff");
        std::fs::create_dir(&diff_dir).map_err(|e| ImageError::io(diff_dir.display(), e))?;
        let (blob_tx, blob_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (tar_tx, tar_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (unpack_tx, unpack_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (hash_tx, hash_rx) = mpsc::channel(CHANNEL_DEPTH);
        let options = unpack_options(store);
        let writer_path = blob_path.clone();
        Ok(LayerIngest {
            blob_tx,
            tar_tx,
            blob_writer: std::thread::spawn(move || {
                write_blob(blob, blob_rx).map_err(|e| ImageError::io(writer_path.display(), e))
            }),
            decoder: std::thread::spawn(move || decode(tar_rx, TarFanOut { hash_tx, unpack_tx })),
            tar_hasher: std::thread::spawn(move || hash_tar(hash_rx)),
            unpacker: std::thread::spawn(move || {
                Ok(layer::unpack_layer(ChunkReader::new(unpack_rx), &diff_dir, &options)?)
            }),
            staging,
            media_type: media_type.to_owned(),
        })
    }

    /// Hands on the next chunk of the blob. False when a stage has stopped (a bad layer, a full
    /// disk): stop feeding and call `finish` to learn why.
    pub async fn feed(&self, chunk: Bytes) -> bool {
        self.blob_tx.send(chunk.clone()).await.is_ok() && self.tar_tx.send(chunk).await.is_ok()
    }

    /// `feed` for callers outside an async runtime.
    pub fn feed_blocking(&self, chunk: Bytes) -> bool {
        self.blob_tx.blocking_send(chunk.clone()).is_ok() && self.tar_tx.blocking_send(chunk).is_ok()
    }

    /// Ends the input and waits for every stage. Blocks: call it from a blocking context.
    pub fn finish(self) -> Result<StagedLayer, ImageError> {
        let LayerIngest { blob_tx, tar_tx, blob_writer, decoder, tar_hasher, unpacker, staging, media_type } = self;
        drop((blob_tx, tar_tx));
        let blob = join(blob_writer, "blob writer").and_then(|r| r);
        let decoded = join(decoder, "layer decompressor").and_then(|r| r);
        let unpacked = join(unpacker, "layer unpacker").and_then(|r| r);
        let tar_digest = join(tar_hasher, "layer hasher");
        // The first stage to fail is the cause; the later ones only saw their input end early.
        let blob = blob?;
        let decoded_to_the_end = decoded?;
        let stats = unpacked?;
        if !decoded_to_the_end {
            return Err(ImageError::UnpackerStopped);
        }
        let (diff_id, size) = tar_digest?;
        Ok(StagedLayer {
            staging,
            blob_digest: blob.digest,
            blob_size: blob.size,
            blob_media_type: media_type,
            diff_id,
            size,
            warnings: stats.warnings,
        })
    }
}

fn join<T>(handle: JoinHandle<T>, what: &str) -> Result<T, ImageError> {
    handle.join().map_err(|_| ImageError::Panicked(what.to_owned()))
}

fn write_blob(mut blob: BlobFile, mut rx: mpsc::Receiver<Bytes>) -> io::Result<WrittenBlob> {
    while let Some(chunk) = rx.blocking_recv() {
        blob.write(&chunk)?;
    }
    blob.finish()
}

/// Hands each tar chunk to the hasher and the unpacker.
struct TarFanOut {
    hash_tx: mpsc::Sender<Bytes>,
    unpack_tx: mpsc::Sender<Bytes>,
}

impl TarSink for TarFanOut {
    fn take(&mut self, chunk: Bytes) -> bool {
        self.hash_tx.blocking_send(chunk.clone()).is_ok() && self.unpack_tx.blocking_send(chunk).is_ok()
    }
}

fn hash_tar(mut rx: mpsc::Receiver<Bytes>) -> TarDigest {
    let mut hasher = Sha256::new();
    let mut size = 0;
    while let Some(chunk) = rx.blocking_recv() {
        hasher.update(&chunk);
        size += chunk.len() as u64;
    }
    (layer::format_sha256(hasher), size)
}

/// Decompresses the blob and passes the tar on. Reads its input to the end even past the tar's
/// end marker: trailing bytes belong to the blob's digests too.
fn decode(mut compressed: mpsc::Receiver<Bytes>, mut tar: TarFanOut) -> Result<bool, ImageError> {
    let mut decoder = LayerDecoder::default();
    while let Some(chunk) = compressed.blocking_recv() {
        if !decoder.push(chunk, &mut tar)? {
            return Ok(false);
        }
    }
    Ok(decoder.finish(&mut tar)?)
}

/// Reads a whole compressed (or plain) layer blob from `reader` into `staging`: `blob` holds the
/// bytes as given, `diff/` the unpacked files. Reads on the calling thread.
pub fn stage_layer(
    store: &Store,
    staging: Staging,
    reader: impl Read,
    media_type: &str,
) -> Result<StagedLayer, ImageError> {
    feed_to_the_end(LayerIngest::start(store, staging, media_type)?, reader)
}

/// `stage_layer` for a blob that is already a file in the store (an extracted archive member):
/// it becomes the staged blob by a hard link rather than a copy, so its bytes are written once.
/// Where the link is refused, it is copied.
pub fn stage_layer_file(
    store: &Store,
    staging: Staging,
    path: &Path,
    media_type: &str,
) -> Result<StagedLayer, ImageError> {
    let open = |path: &Path| File::open(path).map_err(|e| ImageError::io(path.display(), e));
    let blob_path = staged_blob(&staging);
    if std::fs::hard_link(path, &blob_path).is_err() {
        return stage_layer(store, staging, open(path)?, media_type);
    }
    let file = open(&blob_path)?;
    let reader = file.try_clone().map_err(|e| ImageError::io(blob_path.display(), e))?;
    let ingest = LayerIngest::start_with(store, staging, media_type, BlobFile::adopt(file))?;
    feed_to_the_end(ingest, reader)
}

fn feed_to_the_end(ingest: LayerIngest, mut reader: impl Read) -> Result<StagedLayer, ImageError> {
    let mut pool = BytesMut::new();
    let read = loop {
        match read_chunk(&mut reader, &mut pool) {
            Ok(Some(chunk)) => {
                if !ingest.feed_blocking(chunk) {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let staged = ingest.finish();
    read.map_err(|e| ImageError::io("reading the layer", e))?;
    staged
}

fn staged_blob(staging: &Staging) -> PathBuf {
    staging.path().join("blob")
}

impl StagedLayer {
    pub fn verify(
        &self,
        expected_blob: Option<&str>,
        expected_diff_id: Option<&str>,
        what: &str,
    ) -> Result<(), ImageError> {
        let check = |expected: Option<&str>, actual: &str, part: &str| match expected {
            Some(expected) if expected != actual => Err(ImageError::DigestMismatch {
                what: format!("{what} {part}"),
                expected: expected.into(),
                actual: actual.into(),
            }),
            _ => Ok(()),
        };
        check(expected_blob, &self.blob_digest, "blob")?;
        check(expected_diff_id, &self.diff_id, "uncompressed content (diff id)")
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
        store.commit_blob(&staged_blob(&self.staging), &self.blob_digest)?;
        store.commit_layer(&self.staging, &record)?;
        Ok(())
    }
}

/// Records an image whose layers are all committed: writes its manifest and config blobs and
/// adds the record. Takes the image lock, exclusive. Fails if a layer vanished meanwhile (a
/// concurrent `rmi` removed it), so the caller can retry.
pub fn commit_image(store: &Store, manifest: &[u8], config: &[u8], image: NewImage) -> Result<String, ImageError> {
    let _lock = store.lock_images_exclusive()?;
    for chain in &image.layers {
        if store.layer(chain)?.is_none() {
            return Err(ImageError::LayerVanished { chain: chain.clone() });
        }
    }
    let manifest_digest = store.write_blob(manifest)?;
    let id = store.write_blob(config)?;
    let record = ImageRecord::new(image, id.clone(), manifest_digest).map_err(StoreError::from)?;
    let mut index = store.images()?;
    index.insert(record);
    store.write_images(&index)?;
    Ok(id.into())
}
