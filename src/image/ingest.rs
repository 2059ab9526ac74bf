//! Bringing one layer blob into the store. The compressed bytes, as they arrive, go to two
//! threads at once: one hashes them and writes the blob file, the other decompresses them and
//! hands the tar to two more, one hashing it (the diff id) and one unpacking it. One pass, no
//! temporary copy, no byte copied between threads; the decompressor, the slowest stage, does
//! nothing else. All inside a staging directory, committed afterwards under the image lock.
//!
//! A layer made here (`TarIngest`: commit, build) runs the other way round: its tar is
//! compressed for the blob while it is hashed and unpacked, again in one pass.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::ImageError;
use super::assemble::oci_media_type;
use super::blob_file::{BlobFile, WrittenBlob};
use super::decode::{LayerDecoder, TarSink};
use super::layer::{self, UnpackOptions, UnpackStats};
use super::spec::Compression;
use crate::store::{ImageRecord, LayerRecord, NewImage, Staging, Store, StoreError};

/// Chunks in flight per channel: with network-sized chunks about a megabyte.
const CHANNEL_DEPTH: usize = 64;
/// How much is read at once from a file or a decompressor.
const READ_SIZE: usize = 256 << 10;
/// Read chunks are carved from buffers of this size, which are reused once every chunk of
/// theirs has been consumed.
const POOL_SIZE: usize = 4 << 20;
/// zstd's default level: as fast as gzip's fastest here, and smaller.
const ZSTD_LEVEL: i32 = 3;

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

/// A layer made here rather than fetched (a commit's upper dir, a build step): its producer
/// writes the tar into this `Write`, and each chunk goes to three threads at once — the
/// compressor (whose output the blob writer hashes and writes), the tar hasher (the diff id)
/// and the unpacker. One pass over the files: no temporary tar or blob file, nothing read back,
/// nothing decompressed. Then `finish`.
pub struct TarIngest {
    compress_tx: mpsc::Sender<Bytes>,
    hash_tx: mpsc::Sender<Bytes>,
    unpack_tx: mpsc::Sender<Bytes>,
    /// The tar written so far and not yet handed on, carved into chunks of `READ_SIZE`.
    pool: BytesMut,
    /// A stage has gone away: writes fail, and `finish` tells why.
    stopped: bool,
    compressor: JoinHandle<Result<(), ImageError>>,
    blob_writer: JoinHandle<Result<WrittenBlob, ImageError>>,
    tar_hasher: JoinHandle<TarDigest>,
    unpacker: JoinHandle<Result<UnpackStats, ImageError>>,
    staging: Staging,
    compression: Compression,
}

impl TarIngest {
    /// Starts the stages, the blob compressed with `compression` (gzip at its fastest level,
    /// as the blob is made once per commit or build step and the level is fixed, so equal tars
    /// give equal blobs).
    pub fn start(store: &Store, staging: Staging, compression: Compression) -> Result<TarIngest, ImageError> {
        let blob_path = staged_blob(&staging);
        let blob = BlobFile::create(&blob_path).map_err(|e| ImageError::io(blob_path.display(), e))?;
        let diff_dir = staging.path().join("diff");
        std::fs::create_dir(&diff_dir).map_err(|e| ImageError::io(diff_dir.display(), e))?;
        let (compress_tx, compress_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (hash_tx, hash_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (unpack_tx, unpack_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (blob_tx, blob_rx) = mpsc::channel(CHANNEL_DEPTH);
        let options = unpack_options(store);
        Ok(TarIngest {
            compress_tx,
            hash_tx,
            unpack_tx,
            pool: BytesMut::new(),
            stopped: false,
            compressor: std::thread::spawn(move || compress(compress_rx, compression, blob_tx)),
            blob_writer: std::thread::spawn(move || {
                write_blob(blob, blob_rx).map_err(|e| ImageError::io(blob_path.display(), e))
            }),
            tar_hasher: std::thread::spawn(move || hash_tar(hash_rx)),
            unpacker: std::thread::spawn(move || {
                Ok(layer::unpack_layer(ChunkReader::new(unpack_rx), &diff_dir, &options)?)
            }),
            staging,
            compression,
        })
    }

    /// True once a stage has stopped (its error is what `finish` returns): a producer's write
    /// error is then only the consequence.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    fn send(&mut self, chunk: Bytes) -> io::Result<()> {
        let sent = self.compress_tx.blocking_send(chunk.clone()).is_ok()
            && self.hash_tx.blocking_send(chunk.clone()).is_ok()
            && self.unpack_tx.blocking_send(chunk).is_ok();
        if !sent {
            self.stopped = true;
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "a stage of the layer ingest stopped"));
        }
        Ok(())
    }

    /// Hands on the rest of the tar, ends the input and waits for every stage. A producer that
    /// failed midway calls it too, so that no stage outlives the staging directory, and reports
    /// its own error unless `stopped` says a stage failed first: a tar cut short at an entry
    /// boundary can look whole to the unpacker.
    pub fn finish(mut self) -> Result<StagedLayer, ImageError> {
        let rest = self.pool.split().freeze();
        let complete = !self.stopped && (rest.is_empty() || self.send(rest).is_ok());
        let TarIngest {
            compress_tx,
            hash_tx,
            unpack_tx,
            compressor,
            blob_writer,
            tar_hasher,
            unpacker,
            staging,
            compression,
            ..
        } = self;
        drop((compress_tx, hash_tx, unpack_tx));
        let blob = join(blob_writer, "blob writer").and_then(|r| r);
        let compressed = join(compressor, "layer compressor").and_then(|r| r);
        let unpacked = join(unpacker, "layer unpacker").and_then(|r| r);
        let tar_digest = join(tar_hasher, "layer hasher");
        // The first stage to fail is the cause; the later ones only saw their input end early.
        let blob = blob?;
        compressed?;
        let stats = unpacked?;
        let (diff_id, size) = tar_digest?;
        if !complete {
            return Err(ImageError::IngestStopped);
        }
        Ok(StagedLayer {
            staging,
            blob_digest: blob.digest,
            blob_size: blob.size,
            blob_media_type: oci_media_type(compression).to_owned(),
            diff_id,
            size,
            warnings: stats.warnings,
        })
    }
}

impl io::Write for TarIngest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.stopped {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "a stage of the layer ingest stopped"));
        }
        if self.pool.is_empty() && self.pool.capacity() < READ_SIZE {
            self.pool.reserve(POOL_SIZE);
        }
        let n = buf.len().min(READ_SIZE - self.pool.len());
        self.pool.extend_from_slice(&buf[..n]);
        if self.pool.len() == READ_SIZE {
            let chunk = self.pool.split().freeze();
            self.send(chunk)?;
        }
        Ok(n)
    }

    /// Chunks are handed on when full; `finish` hands on the last one.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Compressed bytes, handed on to the blob writer in chunks of `READ_SIZE`.
struct ChunkSender {
    tx: mpsc::Sender<Bytes>,
    pool: BytesMut,
}

impl ChunkSender {
    fn send(&mut self) -> io::Result<()> {
        if self.pool.is_empty() {
            return Ok(());
        }
        let chunk = self.pool.split().freeze();
        self.tx.blocking_send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the blob writer stopped"))
    }
}

impl io::Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pool.is_empty() && self.pool.capacity() < READ_SIZE {
            self.pool.reserve(POOL_SIZE);
        }
        let n = buf.len().min(READ_SIZE - self.pool.len());
        self.pool.extend_from_slice(&buf[..n]);
        if self.pool.len() == READ_SIZE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn compress(
    mut tar: mpsc::Receiver<Bytes>,
    compression: Compression,
    blob_tx: mpsc::Sender<Bytes>,
) -> Result<(), ImageError> {
    let failed = |e: io::Error| ImageError::io("compressing the layer", e);
    let out = ChunkSender { tx: blob_tx, pool: BytesMut::new() };
    let mut out = match compression {
        Compression::None => {
            let tx = out.tx;
            while let Some(chunk) = tar.blocking_recv() {
                if tx.blocking_send(chunk).is_err() {
                    return Err(failed(io::Error::new(io::ErrorKind::BrokenPipe, "the blob writer stopped")));
                }
            }
            return Ok(());
        }
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            while let Some(chunk) = tar.blocking_recv() {
                gz.write_all(&chunk).map_err(failed)?;
            }
            gz.finish().map_err(failed)?
        }
        Compression::Zstd => {
            let mut zstd = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).map_err(failed)?;
            while let Some(chunk) = tar.blocking_recv() {
                zstd.write_all(&chunk).map_err(failed)?;
            }
            zstd.finish().map_err(failed)?
        }
    };
    out.send().map_err(failed)
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

    /// Commits the blob and the layer; returns the store's record of the layer, which is
    /// another's if a concurrent ingest committed the same chain first. Takes the image lock,
    /// exclusive, briefly.
    pub fn commit(self, store: &Store, chain_id: &str, parent: Option<&str>) -> Result<LayerRecord, ImageError> {
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
        Ok(store.layer(chain_id)?.unwrap_or(record))
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

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::image::decode::DecodedReader;
    use crate::store::sha256_digest;

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let rootless = !nix::unistd::geteuid().is_root();
        let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), rootless).unwrap();
        (dir, store)
    }

    fn tar_with(name: &str, content: &[u8]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        // Written raw: the tar crate refuses to write the hostile names tests need.
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, content).unwrap();
        builder.into_inner().unwrap()
    }

    /// Writes `tar` in pieces of an awkward size, as a tar builder does.
    fn write_in_pieces(ingest: &mut TarIngest, tar: &[u8]) -> io::Result<()> {
        for piece in tar.chunks(7_777) {
            ingest.write_all(piece)?;
        }
        Ok(())
    }

    #[test]
    fn a_written_tar_is_compressed_hashed_and_unpacked_in_one_pass() {
        let (_dir, store) = temp_store();
        // More than a few chunks, and not a multiple of the chunk size.
        let content: Vec<u8> = (0..1_300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let tar = tar_with("data/file", &content);
        for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let mut ingest = TarIngest::start(&store, store.new_staging().unwrap(), compression).unwrap();
            write_in_pieces(&mut ingest, &tar).unwrap();
            let staged = ingest.finish().unwrap();
            assert_eq!((staged.diff_id.clone(), staged.size), (sha256_digest(&tar), tar.len() as u64));
            assert_eq!(staged.blob_media_type, oci_media_type(compression));
            let blob = std::fs::read(staged_blob(&staged.staging)).unwrap();
            assert_eq!((staged.blob_digest.clone(), staged.blob_size), (sha256_digest(&blob), blob.len() as u64));
            let mut decoded = Vec::new();
            DecodedReader::new(&blob[..]).unwrap().read_to_end(&mut decoded).unwrap();
            assert_eq!(decoded, tar, "{compression:?}: the blob is the tar, compressed");
            let unpacked = std::fs::read(staged.staging.path().join("diff/data/file")).unwrap();
            assert!(unpacked == content, "{compression:?}: the unpacked file differs");
        }
    }

    #[test]
    fn a_failing_stage_is_the_error_and_stops_the_writer() {
        let (_dir, store) = temp_store();
        let evil = tar_with("../../evil", &[7u8; 3_000_000]);
        let mut ingest = TarIngest::start(&store, store.new_staging().unwrap(), Compression::Gzip).unwrap();
        let written = write_in_pieces(&mut ingest, &evil);
        assert_eq!(written.is_err(), ingest.stopped(), "a write fails only once a stage stopped");
        let error = ingest.finish().err().expect("a layer that escapes its root is refused").to_string();
        assert!(error.contains("unsafe path"), "{error}");
    }
}
