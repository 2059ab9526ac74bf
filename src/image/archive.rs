//! Image archives and root filesystem tarballs.
//!
//! - `save` writes a docker-archive — the layout `docker save` writes since Docker 25: an OCI
//!   image layout (`oci-layout`, `index.json`, `blobs/sha256/`) that also carries Docker's
//!   `manifest.json` and `repositories`, with every layer as an uncompressed tar named by its diff
//!   id — or an oci-archive: an OCI image layout in a tar, blobs exactly as stored.
//! - `load` reads either of those, the older docker-archive layout (`<id>/layer.tar`,
//!   `<hex>.json`), and any of them wrapped in gzip or zstd.
//! - `import` turns one root filesystem tarball into a one-layer image.
//!
//! Archive members arrive in no useful order (a `manifest.json` may follow the layers it names),
//! so `load` first extracts the regular files into a staging directory, then reads the
//! documents, then stages and verifies every layer, and commits only when all of them are good:
//! a bad archive leaves the store as it was.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ImageError;
use super::decode::DecodedReader;
use super::ingest::{self, StagedLayer};
use super::layer::LayerError;
use super::progress::{Progress, human_size, short_digest};
use super::reference::{DOCKER_HUB, Reference, familiar_name};
use super::spec::{
    self, Descriptor, History, ImageConfig, Index, Manifest, ManifestKind, OCI_CONFIG, OCI_INDEX, OCI_LAYER,
    OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST, Platform, RootFs, RunConfig, SpecError,
};
use crate::store::now_rfc3339;
use crate::store::{
    ImageRecord, LayerRecord, Store, StoreError, chain_ids, digest_hex, is_valid_digest, sha256_digest,
};

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
    /// The input is not an archive berth can read, or it contradicts itself.
    #[error("{0}")]
    Invalid(String),
    #[error("archive member {0:?} points outside the archive (absolute path or \"..\")")]
    UnsafePath(String),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("--change {change:?}: {reason}")]
    BadChange { change: String, reason: String },
    /// A failure while bringing in one layer, with the archive member it came from.
    #[error("{what}: {source}")]
    Layer { what: String, source: ImageError },
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
    move |source| ArchiveError::Io { what: what.to_string(), source }
}

/// `NAME[:TAG]` → the fully qualified "registry/repository:tag" berth stores.
pub fn qualify_name(input: &str, default_registry: &str) -> Result<String, ArchiveError> {
    let reference = Reference::parse(input).map_err(ImageError::from)?;
    if reference.digest.is_some() {
        return Err(ArchiveError::Invalid(format!("{input:?}: an image name cannot contain a digest")));
    }
    Ok(reference.qualified_with(default_registry).tagged_name().expect("qualified references have a tag"))
}

// ---------------------------------------------------------------------------------------------
// Compression sniffing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniffed {
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
type Replayed<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Reads the first bytes of `reader` to tell its compression, and gives back a reader that still
/// yields them.
fn sniff<R: Read>(mut reader: R) -> io::Result<(Sniffed, Replayed<R>)> {
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

/// The layer media type for a blob of this compression.
fn layer_media_type(kind: Sniffed, what: &str) -> Result<&'static str, ArchiveError> {
    match kind {
        Sniffed::Empty => Err(ArchiveError::Invalid(format!("{what} is empty"))),
        Sniffed::Plain => Ok(OCI_LAYER),
        Sniffed::Gzip => Ok(OCI_LAYER_GZIP),
        Sniffed::Zstd => Ok(OCI_LAYER_ZSTD),
        Sniffed::Xz | Sniffed::Bzip2 => Err(unsupported_compression(kind, what)),
    }
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

/// An OCI layer media type for a stored layer blob: OCI types as they are, Docker's by their
/// compression.
fn oci_layer_media_type(stored: &str) -> Result<String, ArchiveError> {
    if stored.starts_with("application/vnd.oci.image.layer.") {
        return Ok(stored.to_owned());
    }
    Ok(match spec::layer_compression(stored)? {
        spec::Compression::None => OCI_LAYER,
        spec::Compression::Gzip => OCI_LAYER_GZIP,
        spec::Compression::Zstd => OCI_LAYER_ZSTD,
    }
    .to_owned())
}

/// An OCI manifest for a config and the layers as the store holds them.
fn manifest_for_stored_layers(config_bytes: &[u8], records: &[LayerRecord]) -> Result<Vec<u8>, ArchiveError> {
    let layers = records
        .iter()
        .map(|r| {
            Ok(Descriptor {
                media_type: oci_layer_media_type(&r.blob_media_type)?,
                digest: r.blob_digest.clone(),
                size: r.blob_size,
                ..Default::default()
            })
        })
        .collect::<Result<Vec<_>, ArchiveError>>()?;
    Ok(manifest_bytes(config_bytes, layers))
}

fn manifest_bytes(config_bytes: &[u8], layers: Vec<Descriptor>) -> Vec<u8> {
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        config: Descriptor {
            media_type: OCI_CONFIG.to_owned(),
            digest: sha256_digest(config_bytes),
            size: config_bytes.len() as u64,
            ..Default::default()
        },
        layers,
        annotations: None,
    };
    serde_json::to_vec(&manifest).expect("serializable")
}

/// True if `bytes` is an OCI manifest whose layers are exactly these stored blobs, so it can be
/// kept or written out as it is.
fn manifest_describes(bytes: &[u8], config_digest: &str, blobs: &[(String, u64)]) -> bool {
    let Ok(ManifestKind::Image(manifest)) = spec::parse_manifest(bytes, None) else {
        return false;
    };
    let oci = manifest.media_type.as_deref().map_or(manifest.config.media_type == OCI_CONFIG, |m| m == OCI_MANIFEST);
    oci && manifest.config.digest == config_digest
        && manifest.layers.len() == blobs.len()
        && manifest.layers.iter().zip(blobs).all(|(d, (digest, size))| &d.digest == digest && d.size == *size)
}

/// The layer records of an image's chain ids, read under the shared image lock.
fn layer_records(store: &Store, chains: &[String]) -> Result<Vec<LayerRecord>, ArchiveError> {
    let _lock = store.lock_images_shared()?;
    chains
        .iter()
        .map(|chain| {
            store.layer(chain)?.ok_or_else(|| {
                ArchiveError::Invalid(format!("layer {chain} was removed while the image was being stored; try again"))
            })
        })
        .collect()
}

fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfig, ArchiveError> {
    let config: ImageConfig = serde_json::from_slice(bytes)
        .map_err(|e| ArchiveError::Invalid(format!("{what}: malformed image config: {e}")))?;
    if let Some(bad) = config.rootfs.diff_ids.iter().find(|d| !is_valid_digest(d)) {
        return Err(ArchiveError::Invalid(format!("{what}: invalid diff id {bad:?}")));
    }
    Ok(config)
}

// ---------------------------------------------------------------------------------------------
// save

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// What `docker save` writes and `docker load`/`podman load` read.
    DockerArchive,
    /// An OCI image layout in a tar.
    OciArchive,
}

/// One image to save and the fully qualified names to save it under (none for an image named
/// by id, as Docker does).
#[derive(Debug, Clone)]
pub struct SaveRequest {
    pub id: String,
    pub names: Vec<String>,
}

/// An image as `save` needs it, gathered under the image lock: its documents and its layer blobs
/// already open.
struct SaveImage {
    id: String,
    names: Vec<String>,
    config_bytes: Vec<u8>,
    config: ImageConfig,
    manifest_bytes: Vec<u8>,
    layers: Vec<SaveLayer>,
}

struct SaveLayer {
    record: LayerRecord,
    /// Open before the image lock was released: an `rmi` that unlinks the blob meanwhile leaves
    /// this readable.
    file: File,
    file_len: u64,
    kind: Sniffed,
}

impl SaveLayer {
    /// Bytes of the uncompressed tar. For a compressed blob this is the store's record, which
    /// `append_layer` checks while streaming.
    fn tar_size(&self) -> u64 {
        if self.kind == Sniffed::Plain { self.file_len } else { self.record.size }
    }
}

/// Writes the images to `out` in `format`. Takes the image lock, shared, only while it reads the
/// documents and opens the blob files; the layers are streamed afterwards from the open files.
pub fn save(
    store: &Store,
    requests: &[SaveRequest],
    format: ArchiveFormat,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let images = gather_for_save(store, requests)?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, out));
    match format {
        ArchiveFormat::DockerArchive => write_docker_archive(&mut tar, images)?,
        ArchiveFormat::OciArchive => write_oci_archive(&mut tar, images)?,
    }
    let mut out = tar.into_inner().map_err(io_error("writing the archive"))?;
    out.flush().map_err(io_error("writing the archive"))
}

/// `save` into `path`, through a temporary file beside it so a failure leaves no partial
/// archive behind.
pub fn save_to_file(
    store: &Store,
    requests: &[SaveRequest],
    format: ArchiveFormat,
    path: &Path,
) -> Result<(), ArchiveError> {
    // A device or a pipe (`-o /dev/null`, `-o >(gzip > x)`) is written into: renaming a file
    // over it would replace the node itself.
    if fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let file = OpenOptions::new().write(true).open(path).map_err(io_error(path.display()))?;
        return save(store, requests, format, &file);
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("archive");
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let temp = dir.join(format!(".{name}.berth-{}.tmp", std::process::id()));
    let result = (|| {
        let file = File::create(&temp).map_err(io_error(path.display()))?;
        save(store, requests, format, &file)?;
        file.sync_all().map_err(io_error(temp.display()))?;
        fs::rename(&temp, path).map_err(io_error(path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn gather_for_save(store: &Store, requests: &[SaveRequest]) -> Result<Vec<SaveImage>, ArchiveError> {
    let mut merged: Vec<SaveRequest> = Vec::new();
    for request in requests {
        match merged.iter_mut().find(|m| m.id == request.id) {
            Some(m) => {
                for name in &request.names {
                    if !m.names.contains(name) {
                        m.names.push(name.clone());
                    }
                }
            }
            None => merged.push(request.clone()),
        }
    }
    let _lock = store.lock_images_shared()?;
    let index = store.images()?;
    merged
        .into_iter()
        .map(|request| {
            let image = index.get(&request.id).ok_or_else(|| StoreError::ImageNotFound(request.id.clone()))?;
            let config_bytes = store.read_blob(&image.id)?;
            let what = format!("image {}", image.short_id());
            if sha256_digest(&config_bytes) != image.id {
                return Err(ArchiveError::Invalid(format!(
                    "{what}: its config blob is corrupt; run `berth system check`"
                )));
            }
            let config = parse_config(&config_bytes, &what)?;
            let manifest_bytes = store.read_blob(&image.manifest_digest)?;
            let layers = image.layers.iter().map(|chain| open_layer(store, chain, &what)).collect::<Result<_, _>>()?;
            Ok(SaveImage { id: image.id.clone(), names: request.names, config_bytes, config, manifest_bytes, layers })
        })
        .collect()
}

fn open_layer(store: &Store, chain: &str, what: &str) -> Result<SaveLayer, ArchiveError> {
    let record = store
        .layer(chain)?
        .ok_or_else(|| ArchiveError::Invalid(format!("{what}: layer {chain} is missing; run `berth system check`")))?;
    let path = store.blob_path(&record.blob_digest)?;
    let file = File::open(&path).map_err(io_error(format!("{what}: layer blob {}", record.blob_digest)))?;
    let file_len = file.metadata().map_err(io_error(path.display()))?.len();
    let kind = sniff_file(&file).map_err(io_error(path.display()))?;
    if file_len != record.blob_size {
        return Err(ArchiveError::Invalid(format!(
            "{what}: layer blob {} has {file_len} bytes, not the {} recorded; run `berth system check`",
            record.blob_digest, record.blob_size
        )));
    }
    Ok(SaveLayer { record, file, file_len, kind })
}

/// "blobs/sha256/<hex>" for a digest.
fn blob_member(digest: &str) -> Result<String, ArchiveError> {
    let hex =
        digest_hex(digest).map_err(|_| ArchiveError::Invalid(format!("unsupported or malformed digest {digest:?}")))?;
    Ok(format!("blobs/sha256/{hex}"))
}

fn header(entry_type: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(entry_type);
    h.set_size(size);
    h.set_mode(if entry_type == tar::EntryType::Directory { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    // A fixed time, so that saving the same images twice gives the same bytes.
    h.set_mtime(0);
    h
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
    let mut h = header(tar::EntryType::Regular, bytes.len() as u64);
    tar.append_data(&mut h, path, bytes).map_err(io_error("writing the archive"))
}

fn append_blob_dirs<W: Write>(tar: &mut tar::Builder<W>) -> Result<(), ArchiveError> {
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = header(tar::EntryType::Directory, 0);
        tar.append_data(&mut h, dir, io::empty()).map_err(io_error("writing the archive"))?;
    }
    Ok(())
}

/// Passes exactly `expected` bytes through, failing if the stream is shorter or longer: the
/// tar header announcing the size is already written.
struct ExactSize<R> {
    inner: R,
    remaining: u64,
    expected: u64,
    what: String,
}

impl<R: Read> Read for ExactSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wrong_size = |what: &str, expected: u64, how: &str| {
            io::Error::other(format!(
                "{what}: the store records {expected} bytes of uncompressed content but its blob holds {how}; \
                 the archive written is incomplete"
            ))
        };
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(wrong_size(&self.what, self.expected, "more")),
            };
        }
        let max = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 && max > 0 {
            return Err(wrong_size(&self.what, self.expected, "fewer"));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Appends one layer as an uncompressed tar of exactly `tar_size` bytes.
fn append_layer<W: Write>(tar: &mut tar::Builder<W>, path: &str, layer: SaveLayer) -> Result<(), ArchiveError> {
    let size = layer.tar_size();
    let mut h = header(tar::EntryType::Regular, size);
    let what = format!("layer {}", layer.record.diff_id);
    let result = match layer.kind {
        Sniffed::Plain => {
            tar.append_data(&mut h, path, ExactSize { inner: layer.file, remaining: size, expected: size, what })
        }
        _ => {
            let tar_stream = DecodedReader::new(layer.file)?;
            tar.append_data(&mut h, path, ExactSize { inner: tar_stream, remaining: size, expected: size, what })
        }
    };
    result.map_err(io_error("writing the archive"))
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

/// (familiar repository, tag) of a fully qualified "registry/repository:tag".
fn familiar_repo_and_tag(full_name: &str) -> Option<(String, String)> {
    let reference = Reference::parse(full_name).ok()?;
    let tag = reference.tag.clone()?;
    Some((familiar_name(&reference.repo_name()).to_owned(), tag))
}

fn check_layers_match_config(image: &SaveImage) -> Result<(), ArchiveError> {
    let diff_ids = &image.config.rootfs.diff_ids;
    let matches =
        diff_ids.len() == image.layers.len() && diff_ids.iter().zip(&image.layers).all(|(d, l)| *d == l.record.diff_id);
    if matches {
        Ok(())
    } else {
        Err(ArchiveError::Invalid(format!(
            "image {}: its layers do not match its config's diff ids; run `berth system check`",
            crate::image::progress::short_digest(&image.id)
        )))
    }
}

fn write_docker_archive<W: Write>(tar: &mut tar::Builder<W>, images: Vec<SaveImage>) -> Result<(), ArchiveError> {
    let mut index = Index { schema_version: 2, media_type: Some(OCI_INDEX.to_owned()), ..Default::default() };
    let mut docker_manifest: Vec<DockerManifestEntry> = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut documents: Vec<(String, Vec<u8>)> = Vec::new();
    let mut layers: Vec<(String, SaveLayer)> = Vec::new();
    for image in images {
        check_layers_match_config(&image)?;
        let descriptors = image
            .layers
            .iter()
            .map(|l| Descriptor {
                media_type: OCI_LAYER.to_owned(),
                digest: l.record.diff_id.clone(),
                size: l.tar_size(),
                ..Default::default()
            })
            .collect();
        let manifest = manifest_bytes(&image.config_bytes, descriptors);
        let manifest_digest = sha256_digest(&manifest);
        let entry = |annotations| Descriptor {
            media_type: OCI_MANIFEST.to_owned(),
            digest: manifest_digest.clone(),
            size: manifest.len() as u64,
            annotations,
            ..Default::default()
        };
        let mut repo_tags = Vec::new();
        for name in &image.names {
            let Some((repo, tag)) = familiar_repo_and_tag(name) else { continue };
            index.manifests.push(entry(Some(BTreeMap::from([
                (ANNOTATION_CONTAINERD_NAME.to_owned(), name.clone()),
                (ANNOTATION_REF_NAME.to_owned(), tag.clone()),
            ]))));
            repo_tags.push(format!("{repo}:{tag}"));
            if let Some(top) = image.layers.last() {
                repositories.entry(repo).or_default().insert(tag, top.record.diff_id[7..].to_owned());
            }
        }
        if repo_tags.is_empty() {
            index.manifests.push(entry(None));
        }
        docker_manifest.push(DockerManifestEntry {
            config: blob_member(&image.id)?,
            repo_tags: (!repo_tags.is_empty()).then_some(repo_tags),
            layers: image.layers.iter().map(|l| blob_member(&l.record.diff_id)).collect::<Result<_, _>>()?,
        });
        documents.push((manifest_digest, manifest));
        documents.push((image.id.clone(), image.config_bytes));
        for layer in image.layers {
            if !layers.iter().any(|(d, _)| *d == layer.record.diff_id) {
                layers.push((layer.record.diff_id.clone(), layer));
            }
        }
    }
    // The small documents first, so a reader that streams the archive knows what the layers are
    // before they arrive.
    append_bytes(tar, "oci-layout", OCI_LAYOUT.as_bytes())?;
    append_bytes(tar, "index.json", &serde_json::to_vec(&index).expect("serializable"))?;
    append_bytes(tar, "manifest.json", &serde_json::to_vec(&docker_manifest).expect("serializable"))?;
    if !repositories.is_empty() {
        append_bytes(tar, "repositories", &serde_json::to_vec(&repositories).expect("serializable"))?;
    }
    append_blob_dirs(tar)?;
    append_documents(tar, documents)?;
    for (diff_id, layer) in layers {
        append_layer(tar, &blob_member(&diff_id)?, layer)?;
    }
    Ok(())
}

fn append_documents<W: Write>(
    tar: &mut tar::Builder<W>,
    documents: Vec<(String, Vec<u8>)>,
) -> Result<(), ArchiveError> {
    let mut written = BTreeSet::new();
    for (digest, bytes) in documents {
        if written.insert(digest.clone()) {
            append_bytes(tar, &blob_member(&digest)?, &bytes)?;
        }
    }
    Ok(())
}

fn platform_of(config: &ImageConfig) -> Option<Platform> {
    (!config.architecture.is_empty() && !config.os.is_empty()).then(|| Platform {
        architecture: config.architecture.clone(),
        os: config.os.clone(),
        variant: config.variant.clone(),
        os_version: None,
    })
}

fn write_oci_archive<W: Write>(tar: &mut tar::Builder<W>, images: Vec<SaveImage>) -> Result<(), ArchiveError> {
    let mut index = Index { schema_version: 2, media_type: Some(OCI_INDEX.to_owned()), ..Default::default() };
    let mut documents: Vec<(String, Vec<u8>)> = Vec::new();
    let mut blobs: Vec<SaveLayer> = Vec::new();
    for image in images {
        check_layers_match_config(&image)?;
        let stored: Vec<(String, u64)> =
            image.layers.iter().map(|l| (l.record.blob_digest.clone(), l.file_len)).collect();
        // The stored manifest is kept when it is OCI and names the blobs the store holds; a
        // Docker manifest, or one naming another compression of a layer the store already had,
        // is replaced by one for the stored blobs (the config, hence the image id, is unchanged).
        let manifest = if manifest_describes(&image.manifest_bytes, &image.id, &stored) {
            image.manifest_bytes
        } else {
            let records: Vec<LayerRecord> = image.layers.iter().map(|l| l.record.clone()).collect();
            manifest_for_stored_layers(&image.config_bytes, &records)?
        };
        let manifest_digest = sha256_digest(&manifest);
        let entry = |annotations| Descriptor {
            media_type: OCI_MANIFEST.to_owned(),
            digest: manifest_digest.clone(),
            size: manifest.len() as u64,
            platform: platform_of(&image.config),
            annotations,
            ..Default::default()
        };
        for name in &image.names {
            index.manifests.push(entry(Some(BTreeMap::from([
                (ANNOTATION_REF_NAME.to_owned(), name.clone()),
                (ANNOTATION_CONTAINERD_NAME.to_owned(), name.clone()),
            ]))));
        }
        if image.names.is_empty() {
            index.manifests.push(entry(None));
        }
        documents.push((manifest_digest, manifest));
        documents.push((image.id.clone(), image.config_bytes));
        for layer in image.layers {
            if !blobs.iter().any(|b| b.record.blob_digest == layer.record.blob_digest) {
                blobs.push(layer);
            }
        }
    }
    append_bytes(tar, "oci-layout", OCI_LAYOUT.as_bytes())?;
    append_bytes(tar, "index.json", &serde_json::to_vec(&index).expect("serializable"))?;
    append_blob_dirs(tar)?;
    append_documents(tar, documents)?;
    for blob in blobs {
        let path = blob_member(&blob.record.blob_digest)?;
        let mut h = header(tar::EntryType::Regular, blob.file_len);
        let what = format!("layer blob {}", blob.record.blob_digest);
        let data = ExactSize { inner: blob.file, remaining: blob.file_len, expected: blob.file_len, what };
        tar.append_data(&mut h, path, data).map_err(io_error("writing the archive"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Extraction (load)

/// The regular files of an archive, extracted under `root` by their normalised member names,
/// and its links, kept as a name map and never created on disk.
struct ExtractedArchive {
    root: PathBuf,
    files: BTreeSet<String>,
    links: BTreeMap<String, String>,
}

/// A member name as a relative '/'-joined path; None for the archive root itself ("./").
fn normalize_member(path: &Path) -> Result<Option<String>, ArchiveError> {
    let unsafe_path = || ArchiveError::UnsafePath(path.display().to_string());
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(unsafe_path)?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return Err(unsafe_path()),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Where a symbolic link at `member` pointing at `target` leads, as a member name; an error if
/// it leads out of the archive.
fn symlink_destination(member: &str, target: &Path) -> Result<String, ArchiveError> {
    let unsafe_link = || ArchiveError::UnsafePath(format!("{member} -> {}", target.display()));
    let mut parts: Vec<&str> = member.split('/').collect();
    parts.pop();
    for component in target.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(unsafe_link)?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop().ok_or_else(unsafe_link)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_link()),
        }
    }
    if parts.is_empty() { Err(unsafe_link()) } else { Ok(parts.join("/")) }
}

/// A tar reading failure in words. Failing before the first member means it is no tar at all;
/// the tar crate's message then tends to quote the garbage, so it is left out unless plain.
fn archive_read_error(after_member: Option<&str>, e: io::Error) -> ArchiveError {
    let detail = e.to_string();
    let plain = detail.len() <= 200 && detail.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    match (after_member, plain) {
        (None, true) => ArchiveError::Invalid(format!("reading the archive: not a tar archive: {detail}")),
        (None, false) => {
            ArchiveError::Invalid("reading the archive: not a tar archive (nor gzip or zstd of one)".into())
        }
        (Some(member), true) => ArchiveError::Invalid(format!("reading the archive after {member}: {detail}")),
        (Some(member), false) => {
            ArchiveError::Invalid(format!("reading the archive after {member}: corrupt tar header"))
        }
    }
}

fn extract_archive(reader: impl Read, root: &Path) -> Result<ExtractedArchive, ArchiveError> {
    fs::create_dir_all(root).map_err(io_error(root.display()))?;
    let mut extracted = ExtractedArchive { root: root.to_owned(), files: BTreeSet::new(), links: BTreeMap::new() };
    let mut last_member: Option<String> = None;
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| archive_read_error(None, e))? {
        let corrupt = |e: io::Error| archive_read_error(last_member.as_deref(), e);
        let mut entry = entry.map_err(corrupt)?;
        let name = entry.path().map_err(corrupt)?.into_owned();
        let Some(member) = normalize_member(&name)? else { continue };
        last_member = Some(member.clone());
        let corrupt = |e: io::Error| archive_read_error(Some(&member), e);
        let entry_type = entry.header().entry_type();
        match entry_type {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let path = root.join(&member);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(io_error(format!("extracting {member}")))?;
                }
                let mut file = File::create(&path).map_err(io_error(format!("extracting {member}")))?;
                let copied = io::copy(&mut entry, &mut file).map_err(corrupt)?;
                if copied != entry.size() {
                    return Err(ArchiveError::Invalid(format!(
                        "the archive is truncated: member {member} has {copied} of its {} bytes",
                        entry.size()
                    )));
                }
                extracted.links.remove(&member);
                extracted.files.insert(member);
            }
            tar::EntryType::Directory => {
                let path = root.join(&member);
                fs::create_dir_all(&path).map_err(io_error(format!("extracting {member}")))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| ArchiveError::Invalid(format!("archive member {member}: link without a target")))?
                    .into_owned();
                let destination = if entry_type == tar::EntryType::Symlink {
                    symlink_destination(&member, &target)?
                } else {
                    normalize_member(&target)?.ok_or_else(|| ArchiveError::UnsafePath(target.display().to_string()))?
                };
                extracted.files.remove(&member);
                extracted.links.insert(member, destination);
            }
            // Devices, fifos, global headers: nothing an image archive needs.
            _ => {}
        }
    }
    if extracted.files.is_empty() {
        return Err(ArchiveError::Invalid("the archive holds no files: not an image archive".into()));
    }
    Ok(extracted)
}

impl ExtractedArchive {
    /// The regular file a member name stands for, following links inside the archive.
    fn resolve(&self, member: &str) -> Result<String, ArchiveError> {
        let mut current = normalize_member(Path::new(member))?
            .ok_or_else(|| ArchiveError::Invalid(format!("{member:?} is not a file name")))?;
        for _ in 0..MAX_LINK_HOPS {
            if self.files.contains(&current) {
                return Ok(current);
            }
            match self.links.get(&current) {
                Some(next) => current = next.clone(),
                None => return Err(ArchiveError::Invalid(format!("the archive has no {member}"))),
            }
        }
        Err(ArchiveError::Invalid(format!("{member}: too many levels of links in the archive")))
    }

    fn contains(&self, member: &str) -> bool {
        self.resolve(member).is_ok()
    }

    fn path(&self, member: &str) -> Result<PathBuf, ArchiveError> {
        Ok(self.root.join(self.resolve(member)?))
    }

    fn open(&self, member: &str) -> Result<File, ArchiveError> {
        File::open(self.path(member)?).map_err(io_error(member))
    }

    /// A JSON document from the archive, refused if implausibly large.
    fn read_document(&self, member: &str) -> Result<Vec<u8>, ArchiveError> {
        let file = self.open(member)?;
        let len = file.metadata().map_err(io_error(member))?.len();
        if len > MAX_DOCUMENT {
            return Err(ArchiveError::Invalid(format!("{member}: {len} bytes is implausibly large for a document")));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(MAX_DOCUMENT).read_to_end(&mut bytes).map_err(io_error(member))?;
        Ok(bytes)
    }

    /// A blob of the OCI layout by descriptor, its digest verified.
    fn read_blob(&self, descriptor: &Descriptor, what: &str) -> Result<Vec<u8>, ArchiveError> {
        let bytes = self.read_document(&blob_member(&descriptor.digest)?)?;
        let actual = sha256_digest(&bytes);
        if actual != descriptor.digest {
            return Err(ImageError::DigestMismatch {
                what: what.to_owned(),
                expected: descriptor.digest.clone(),
                actual,
            }
            .into());
        }
        Ok(bytes)
    }
}

// ---------------------------------------------------------------------------------------------
// load

/// One image found in an archive, checked as far as its documents go.
struct ImagePlan {
    id: String,
    names: Vec<String>,
    config_bytes: Vec<u8>,
    config: ImageConfig,
    /// The archive's own manifest (OCI layout), kept if it names the blobs that end up stored.
    manifest_bytes: Option<Vec<u8>>,
    layers: Vec<PlannedLayer>,
    chains: Vec<String>,
}

struct PlannedLayer {
    /// The member holding the layer blob, links resolved.
    member: String,
    /// From an OCI manifest; docker-archive layers are sniffed.
    media_type: Option<String>,
    /// Known when the member is named by its digest.
    expected_blob: Option<String>,
    diff_id: String,
}

/// What `load` brought into the store.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedImage {
    pub id: String,
    /// Fully qualified names; empty for an untagged image.
    pub names: Vec<String>,
}

/// Loads every image in a docker-archive or oci-archive (maybe gzip- or zstd-compressed) read
/// from `input`. Takes the ingest lock, shared, for the whole load, and the image lock briefly
/// per commit. Nothing is committed unless every image's documents and layers check out.
pub fn load(store: &Store, input: impl Read + 'static, progress: &Progress) -> Result<Vec<LoadedImage>, ArchiveError> {
    let _ingest = store.lock_ingest_shared()?;
    let extraction = store.new_staging()?;
    let archive = extract_archive(decompressed_archive(input)?, &extraction.path().join("archive"))?;
    let plans = plan_images(&archive)?;
    let staged = stage_missing_layers(store, &archive, &plans, progress)?;
    drop(extraction);
    commit_plans(store, plans, staged)
}

fn plan_images(archive: &ExtractedArchive) -> Result<Vec<ImagePlan>, ArchiveError> {
    // Docker's loader reads manifest.json when there is one, even in an archive that is also
    // an OCI layout (Docker 25+); so does berth.
    let plans = if archive.contains("manifest.json") {
        plan_docker_archive(archive)?
    } else if archive.contains("index.json") {
        plan_oci_layout(archive)?
    } else {
        return Err(ArchiveError::Invalid(
            "not an image archive: it has neither manifest.json (docker-archive) nor index.json (oci-archive)".into(),
        ));
    };
    let mut merged: Vec<ImagePlan> = Vec::new();
    for plan in plans {
        match merged.iter_mut().find(|m| m.id == plan.id) {
            Some(existing) => {
                for name in plan.names {
                    if !existing.names.contains(&name) {
                        existing.names.push(name);
                    }
                }
            }
            None => merged.push(plan),
        }
    }
    Ok(merged)
}

/// A name as an archive carries it, fully qualified. Archive names are Docker's: a RepoTag
/// "busybox:latest" is docker.io/library/busybox:latest whatever the search registries, as
/// Docker and Podman read it.
fn archive_name(name: &str) -> Result<String, ArchiveError> {
    qualify_name(name, DOCKER_HUB)
}

/// The digest a member named "blobs/sha256/<hex>" claims for its content.
fn digest_from_blob_member(member: &str) -> Option<String> {
    let normalized = normalize_member(Path::new(member)).ok().flatten()?;
    let digest = format!("sha256:{}", normalized.strip_prefix("blobs/sha256/")?);
    is_valid_digest(&digest).then_some(digest)
}

/// The digest a config member claims: "blobs/sha256/<hex>" or the legacy "<hex>.json".
fn digest_from_config_member(member: &str) -> Option<String> {
    digest_from_blob_member(member).or_else(|| {
        let digest = format!("sha256:{}", member.strip_suffix(".json")?);
        is_valid_digest(&digest).then_some(digest)
    })
}

fn check_layer_count(config: &ImageConfig, layers: usize, what: &str) -> Result<(), ArchiveError> {
    if config.rootfs.diff_ids.len() == layers {
        Ok(())
    } else {
        Err(ArchiveError::Invalid(format!(
            "{what}: lists {layers} layers but its config has {} diff ids",
            config.rootfs.diff_ids.len()
        )))
    }
}

fn plan_docker_archive(archive: &ExtractedArchive) -> Result<Vec<ImagePlan>, ArchiveError> {
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&archive.read_document("manifest.json")?)
        .map_err(|e| ArchiveError::Invalid(format!("manifest.json: malformed: {e}")))?;
    if entries.is_empty() {
        return Err(ArchiveError::Invalid("manifest.json lists no images".into()));
    }
    entries
        .into_iter()
        .map(|entry| {
            let config_bytes = archive
                .read_document(&entry.config)
                .map_err(|e| ArchiveError::Invalid(format!("manifest.json names config {}: {e}", entry.config)))?;
            let id = sha256_digest(&config_bytes);
            if let Some(expected) = digest_from_config_member(&entry.config)
                && expected != id
            {
                return Err(ImageError::DigestMismatch {
                    what: format!("config {}", entry.config),
                    expected,
                    actual: id,
                }
                .into());
            }
            let config = parse_config(&config_bytes, &entry.config)?;
            check_layer_count(&config, entry.layers.len(), &format!("manifest.json entry for {}", entry.config))?;
            let names = entry
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|tag| archive_name(tag))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ArchiveError::Invalid(format!("manifest.json: {e}")))?;
            let layers = entry
                .layers
                .iter()
                .zip(&config.rootfs.diff_ids)
                .map(|(member, diff_id)| {
                    Ok(PlannedLayer {
                        member: archive
                            .resolve(member)
                            .map_err(|e| ArchiveError::Invalid(format!("manifest.json names layer {member}: {e}")))?,
                        media_type: None,
                        expected_blob: digest_from_blob_member(member),
                        diff_id: diff_id.clone(),
                    })
                })
                .collect::<Result<Vec<_>, ArchiveError>>()?;
            Ok(ImagePlan {
                id,
                names,
                chains: chain_ids(&config.rootfs.diff_ids),
                config_bytes,
                config,
                manifest_bytes: None,
                layers,
            })
        })
        .collect()
}

/// The name an index.json entry gives its image: containerd's full-name annotation, or an OCI
/// ref.name that is a full reference. A bare ref.name ("latest", "v1.0") is a tag without a
/// repository, as Docker writes it beside the containerd name, and names nothing on its own.
fn annotated_name(descriptor: &Descriptor) -> Result<Option<String>, ArchiveError> {
    let Some(annotations) = &descriptor.annotations else { return Ok(None) };
    if let Some(name) = annotations.get(ANNOTATION_CONTAINERD_NAME) {
        return archive_name(name)
            .map(Some)
            .map_err(|e| ArchiveError::Invalid(format!("index.json: {ANNOTATION_CONTAINERD_NAME}: {e}")));
    }
    Ok(annotations.get(ANNOTATION_REF_NAME).filter(|r| r.contains(['/', ':'])).and_then(|r| archive_name(r).ok()))
}

/// The index.json entries to load: every entry, except that several entries of one name that
/// all declare platforms are alternatives, of which the host's is chosen.
fn entries_to_load<'a>(
    index: &'a Index,
    host: &Platform,
) -> Result<Vec<(&'a Descriptor, Option<String>)>, ArchiveError> {
    let mut groups: Vec<(Option<String>, Vec<&Descriptor>)> = Vec::new();
    for descriptor in &index.manifests {
        let name = annotated_name(descriptor)?;
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, members)) => members.push(descriptor),
            None => groups.push((name, vec![descriptor])),
        }
    }
    let mut chosen = Vec::new();
    for (name, members) in groups {
        if members.len() > 1 && members.iter().all(|d| d.platform.is_some()) {
            let alternatives =
                Index { manifests: members.iter().map(|d| (*d).clone()).collect(), ..Default::default() };
            let pick = spec::choose_platform(&alternatives, host, "the archive")?;
            let original = members.into_iter().find(|d| *d == pick).expect("picked from these");
            chosen.push((original, name));
        } else {
            chosen.extend(members.into_iter().map(|d| (d, name.clone())));
        }
    }
    Ok(chosen)
}

/// Follows a descriptor through nested indexes (choosing the host platform) to an image manifest.
fn resolve_image_manifest(
    archive: &ExtractedArchive,
    descriptor: &Descriptor,
    host: &Platform,
    depth: usize,
) -> Result<(Vec<u8>, Manifest), ArchiveError> {
    if depth > MAX_INDEX_DEPTH {
        return Err(ArchiveError::Invalid(format!("index.json: indexes nested more than {MAX_INDEX_DEPTH} deep")));
    }
    let what = format!("manifest {}", descriptor.digest);
    let bytes = archive.read_blob(descriptor, &what)?;
    match spec::parse_manifest(&bytes, Some(&descriptor.media_type))
        .map_err(|e| ArchiveError::Invalid(format!("{what}: {e}")))?
    {
        ManifestKind::Image(manifest) => Ok((bytes, *manifest)),
        ManifestKind::Index(index) => {
            let chosen = spec::choose_platform(&index, host, "the archive")?;
            resolve_image_manifest(archive, chosen, host, depth + 1)
        }
    }
}

fn plan_oci_layout(archive: &ExtractedArchive) -> Result<Vec<ImagePlan>, ArchiveError> {
    let index = match spec::parse_manifest(&archive.read_document("index.json")?, Some(OCI_INDEX)) {
        Ok(ManifestKind::Index(index)) => index,
        Ok(ManifestKind::Image(_)) => {
            return Err(ArchiveError::Invalid("index.json is an image manifest, not an index".into()));
        }
        Err(e) => return Err(ArchiveError::Invalid(format!("index.json: {e}"))),
    };
    if index.manifests.is_empty() {
        return Err(ArchiveError::Invalid("index.json lists no images".into()));
    }
    let host = spec::host_platform();
    entries_to_load(&index, &host)?
        .into_iter()
        .map(|(descriptor, name)| {
            let (manifest_bytes, manifest) = resolve_image_manifest(archive, descriptor, &host, 0)?;
            let config_bytes = archive.read_blob(&manifest.config, &format!("config {}", manifest.config.digest))?;
            let config = parse_config(&config_bytes, &format!("config {}", manifest.config.digest))?;
            check_layer_count(&config, manifest.layers.len(), &format!("manifest {}", descriptor.digest))?;
            let layers = manifest
                .layers
                .iter()
                .zip(&config.rootfs.diff_ids)
                .map(|(layer, diff_id)| {
                    let member = blob_member(&layer.digest)?;
                    Ok(PlannedLayer {
                        member: archive.resolve(&member).map_err(|_| {
                            ArchiveError::Invalid(format!("layer {} is missing from the archive", layer.digest))
                        })?,
                        media_type: Some(layer.media_type.clone()),
                        expected_blob: Some(layer.digest.clone()),
                        diff_id: diff_id.clone(),
                    })
                })
                .collect::<Result<Vec<_>, ArchiveError>>()?;
            Ok(ImagePlan {
                id: sha256_digest(&config_bytes),
                names: name.into_iter().collect(),
                chains: chain_ids(&config.rootfs.diff_ids),
                config_bytes,
                config,
                manifest_bytes: Some(manifest_bytes),
                layers,
            })
        })
        .collect()
}

/// Unpacks and verifies every layer the store lacks, each in its own staging directory; commits
/// nothing.
fn stage_missing_layers(
    store: &Store,
    archive: &ExtractedArchive,
    plans: &[ImagePlan],
    progress: &Progress,
) -> Result<HashMap<String, StagedLayer>, ArchiveError> {
    let present: BTreeSet<String> = {
        let _lock = store.lock_images_shared()?;
        let mut present = BTreeSet::new();
        for chain in plans.iter().flat_map(|p| &p.chains) {
            if store.layer(chain)?.is_some() {
                present.insert(chain.clone());
            }
        }
        present
    };
    let mut staged: HashMap<String, StagedLayer> = HashMap::new();
    for plan in plans {
        for (layer, chain) in plan.layers.iter().zip(&plan.chains) {
            if present.contains(chain) || staged.contains_key(chain) {
                continue;
            }
            let what = format!("layer {}", layer.member);
            let layer_error = |source: ImageError| ArchiveError::Layer { what: what.clone(), source };
            let media_type = match &layer.media_type {
                Some(m) => m.clone(),
                None => {
                    let kind = sniff_file(&archive.open(&layer.member)?).map_err(io_error(&what))?;
                    layer_media_type(kind, &what)?.to_owned()
                }
            };
            let path = archive.path(&layer.member)?;
            let staged_layer =
                ingest::stage_layer_file(store, store.new_staging()?, &path, &media_type).map_err(layer_error)?;
            staged_layer.verify(layer.expected_blob.as_deref(), Some(&layer.diff_id), &what)?;
            for warning in &staged_layer.warnings {
                progress.message(&format!("{}: warning: {warning}", short_digest(&layer.diff_id)));
            }
            progress.message(&format!(
                "{}: loaded layer ({})",
                short_digest(&layer.diff_id),
                human_size(staged_layer.size)
            ));
            staged.insert(chain.clone(), staged_layer);
        }
    }
    Ok(staged)
}

fn commit_plans(
    store: &Store,
    plans: Vec<ImagePlan>,
    mut staged: HashMap<String, StagedLayer>,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let mut loaded = Vec::new();
    for plan in plans {
        for (i, chain) in plan.chains.iter().enumerate() {
            if let Some(layer) = staged.remove(chain) {
                let parent = i.checked_sub(1).map(|p| plan.chains[p].as_str());
                layer.commit(store, chain, parent)?;
            }
        }
        let records = layer_records(store, &plan.chains)?;
        let stored: Vec<(String, u64)> = records.iter().map(|r| (r.blob_digest.clone(), r.blob_size)).collect();
        let manifest = match plan.manifest_bytes {
            Some(bytes) if manifest_describes(&bytes, &plan.id, &stored) => bytes,
            _ => manifest_for_stored_layers(&plan.config_bytes, &records)?,
        };
        let record = ImageRecord {
            names: plan.names.clone(),
            layers: plan.chains,
            size: records.iter().map(|r| r.size).sum(),
            created: plan.config.created.clone(),
            added: now_rfc3339(),
            ..Default::default()
        };
        let id = ingest::commit_image(store, &manifest, &plan.config_bytes, record)?;
        loaded.push(LoadedImage { id, names: plan.names });
    }
    Ok(loaded)
}

// ---------------------------------------------------------------------------------------------
// import

pub struct ImportRequest<'a> {
    /// Dockerfile instructions applied to the image config.
    pub changes: &'a [String],
    pub message: Option<&'a str>,
    /// Where the tarball came from, for the history comment.
    pub source: &'a str,
    /// The fully qualified name to give the image.
    pub name: Option<String>,
}

/// Makes a one-layer image of a root filesystem tarball (plain, gzip or zstd). Takes the ingest
/// lock, shared, and the image lock briefly to commit. Returns the image id.
pub fn import(
    store: &Store,
    input: impl Read + Send + 'static,
    request: &ImportRequest,
) -> Result<String, ArchiveError> {
    let mut run_config = RunConfig::default();
    for change in request.changes {
        apply_change(&mut run_config, change)?;
    }
    let _ingest = store.lock_ingest_shared()?;
    let (kind, reader) = sniff(input).map_err(io_error("reading the tarball"))?;
    let media_type = layer_media_type(kind, "the tarball")?;
    let staged = ingest::stage_layer(store, store.new_staging()?, reader, media_type)?;
    let diff_id = staged.diff_id.clone();
    staged.commit(store, &diff_id, None)?;
    let records = layer_records(store, std::slice::from_ref(&diff_id))?;
    let created = now_rfc3339();
    let host = spec::host_platform();
    let comment = request.message.map_or_else(|| format!("Imported from {}", request.source), str::to_owned);
    let config = ImageConfig {
        created: Some(created.clone()),
        architecture: host.architecture,
        os: host.os,
        variant: host.variant,
        config: Some(run_config),
        rootfs: RootFs { kind: "layers".into(), diff_ids: vec![diff_id.clone()] },
        history: vec![History {
            created: Some(created.clone()),
            created_by: Some("berth import".into()),
            comment: Some(comment),
            ..Default::default()
        }],
        ..Default::default()
    };
    let config_bytes = serde_json::to_vec(&config).expect("serializable");
    let manifest = manifest_for_stored_layers(&config_bytes, &records)?;
    let record = ImageRecord {
        names: request.name.iter().cloned().collect(),
        layers: vec![diff_id],
        size: records[0].size,
        created: Some(created),
        added: now_rfc3339(),
        ..Default::default()
    };
    Ok(ingest::commit_image(store, &manifest, &config_bytes, record)?)
}

/// The instructions `--change` takes.
const CHANGE_INSTRUCTIONS: &str = "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR";

/// Applies one Dockerfile instruction (`CMD ["/bin/sh"]`, `ENV K=V`, …) to an image's run config.
pub fn apply_change(config: &mut RunConfig, change: &str) -> Result<(), ArchiveError> {
    let bad = |reason: String| ArchiveError::BadChange { change: change.to_owned(), reason };
    let trimmed = change.trim();
    let (instruction, args) = match trimmed.split_once(char::is_whitespace) {
        Some((i, a)) => (i, a.trim()),
        None => (trimmed, ""),
    };
    if instruction.is_empty() {
        return Err(bad(format!("empty instruction; expected one of {CHANGE_INSTRUCTIONS}")));
    }
    let instruction = instruction.to_ascii_uppercase();
    if args.is_empty() && CHANGE_INSTRUCTIONS.split(", ").any(|i| i == instruction) {
        return Err(bad(format!("{instruction} needs arguments")));
    }
    match instruction.as_str() {
        "CMD" => config.cmd = Some(command_form(args)),
        "ENTRYPOINT" => config.entrypoint = Some(command_form(args)),
        "ENV" => {
            for (key, value) in key_value_pairs(args).map_err(bad)? {
                set_env(config, &key, &value);
            }
        }
        "LABEL" => {
            let labels = config.labels.get_or_insert_default();
            labels.extend(key_value_pairs(args).map_err(bad)?);
        }
        "EXPOSE" => {
            let ports = config.exposed_ports.get_or_insert_default();
            for word in split_words(args).map_err(bad)? {
                for port in exposed_ports(&word).map_err(bad)? {
                    ports.insert(port, json!({}));
                }
            }
        }
        "VOLUME" => {
            let paths = match serde_json::from_str::<Vec<String>>(args) {
                Ok(list) => list,
                Err(_) => split_words(args).map_err(bad)?,
            };
            if paths.is_empty() || paths.iter().any(|p| p.is_empty()) {
                return Err(bad("VOLUME needs non-empty paths".into()));
            }
            let volumes = config.volumes.get_or_insert_default();
            for path in paths {
                volumes.insert(path, json!({}));
            }
        }
        "WORKDIR" => {
            let dir = single_word(args).map_err(bad)?;
            config.working_dir = Some(if dir.starts_with('/') {
                dir
            } else {
                let base = config.working_dir.as_deref().unwrap_or("/");
                format!("{}/{dir}", base.trim_end_matches('/'))
            });
        }
        "USER" => config.user = Some(single_word(args).map_err(bad)?),
        "STOPSIGNAL" => config.stop_signal = Some(single_word(args).map_err(bad)?),
        other => return Err(bad(format!("unsupported instruction {other}; --change takes {CHANGE_INSTRUCTIONS}"))),
    }
    Ok(())
}

/// Exec form (a JSON array of strings) as it is; anything else is shell form, run by /bin/sh -c.
fn command_form(args: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(args) {
        Ok(list) if args.trim_start().starts_with('[') => list,
        _ => vec!["/bin/sh".into(), "-c".into(), args.to_owned()],
    }
}

fn set_env(config: &mut RunConfig, key: &str, value: &str) {
    let env = config.env.get_or_insert_default();
    let entry = format!("{key}={value}");
    match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

/// `K=V K2="V 2"` pairs, or the legacy `K the rest of the line`, as ENV and LABEL take them.
fn key_value_pairs(args: &str) -> Result<Vec<(String, String)>, String> {
    let words = split_words(args)?;
    if words.first().is_some_and(|w| w.contains('=')) {
        return words
            .into_iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(format!("{w:?} is not KEY=VALUE")),
            })
            .collect();
    }
    match args.split_once(char::is_whitespace) {
        Some((key, value)) if !value.trim().is_empty() => Ok(vec![(key.to_owned(), value.trim().to_owned())]),
        _ => Err("expected KEY=VALUE or KEY VALUE".into()),
    }
}

fn single_word(args: &str) -> Result<String, String> {
    match split_words(args)?.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err("expected exactly one argument".into()),
    }
}

/// Splits on unquoted whitespace, removing quotes: "..." (where \ escapes), '...' (literal), and
/// \ escaping one character outside quotes — Dockerfile word rules.
fn split_words(args: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current: Option<String> = None;
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(word) = current.take() {
                    words.push(word);
                }
            }
            '\\' => current.get_or_insert_default().push(chars.next().unwrap_or('\\')),
            '\'' => {
                let word = current.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                let word = current.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            c => current.get_or_insert_default().push(c),
        }
    }
    words.extend(current);
    Ok(words)
}

/// "80", "80/udp", "8000-8002/tcp" → "80/tcp", … as Docker's ExposedPorts keys.
fn exposed_ports(word: &str) -> Result<Vec<String>, String> {
    let (ports, protocol) = word.split_once('/').unwrap_or((word, "tcp"));
    let protocol = protocol.to_ascii_lowercase();
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("{word:?}: protocol must be tcp, udp or sctp"));
    }
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("{word:?}: invalid port"));
    let (first, last) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    if last < first {
        return Err(format!("{word:?}: invalid port range"));
    }
    Ok((first..=last).map(|p| format!("{p}/{protocol}")).collect())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use serde_json::Value;

    use super::*;

    struct TestStore {
        _dir: tempfile::TempDir,
        store: Store,
    }

    fn temp_store() -> TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootless = !nix::unistd::geteuid().is_root();
        let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), rootless).expect("store");
        TestStore { _dir: dir, store }
    }

    enum Member<'a> {
        File(&'a [u8]),
        Symlink(&'a str),
    }

    /// A tar of `members`, in order; names are written raw so tests can build hostile ones.
    fn tar_of(members: &[(&str, Member)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, member) in members {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().expect("gnu header").name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1);
            match member {
                Member::File(bytes) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(bytes.len() as u64);
                    h.set_cksum();
                    builder.append(&h, *bytes).expect("append");
                }
                Member::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_link_name(target).expect("link name");
                    h.set_cksum();
                    builder.append(&h, io::empty()).expect("append");
                }
            }
        }
        builder.into_inner().expect("tar")
    }

    fn rootfs_tar(content: &[u8]) -> Vec<u8> {
        tar_of(&[("etc/hello", Member::File(content)), ("bin/tool", Member::File(b"#!/bin/sh\n"))])
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip")
    }

    fn import_tar(store: &Store, tarball: Vec<u8>, name: Option<&str>, changes: &[String]) -> String {
        let request = ImportRequest {
            changes,
            message: None,
            source: "test",
            name: name.map(|n| qualify_name(n, DOCKER_HUB).expect("name")),
        };
        import(store, Cursor::new(tarball), &request).expect("import")
    }

    fn save_bytes(store: &Store, requests: &[SaveRequest], format: ArchiveFormat) -> Vec<u8> {
        let mut out = Vec::new();
        save(store, requests, format, &mut out).expect("save");
        out
    }

    fn load_bytes(store: &Store, archive: Vec<u8>) -> Result<Vec<LoadedImage>, ArchiveError> {
        load(store, Cursor::new(archive), &Progress::Quiet)
    }

    /// Every member of a tar, by name.
    fn members(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for entry in tar::Archive::new(archive).entries().expect("tar") {
            let mut entry = entry.expect("entry");
            let name = entry.path().expect("path").to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            out.insert(name, bytes);
        }
        out
    }

    fn assert_store_empty(store: &Store) {
        let _lock = store.lock_images_shared().unwrap();
        assert!(store.images().unwrap().images.is_empty(), "no image may be recorded");
        assert!(store.layer_ids().unwrap().is_empty(), "no layer may be committed");
        assert!(store.blob_digests().unwrap().is_empty(), "no blob may be committed");
    }

    fn assert_store_consistent(store: &Store) {
        let _lock = store.lock_images_shared().unwrap();
        let report = crate::image::check::check_store(store, false).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    fn request(id: &str, names: &[&str]) -> SaveRequest {
        SaveRequest { id: id.to_owned(), names: names.iter().map(|n| n.to_string()).collect() }
    }

    #[test]
    fn saving_to_a_pipe_writes_into_it_instead_of_replacing_it() {
        use std::os::unix::fs::FileTypeExt;
        let a = temp_store();
        let id = import_tar(&a.store, rootfs_tar(b"hello"), Some("demo:1"), &[]);
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe");
        nix::unistd::mkfifo(&pipe, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let reader = std::thread::spawn({
            let pipe = pipe.clone();
            move || fs::read(pipe).unwrap()
        });
        save_to_file(&a.store, &[request(&id, &["docker.io/library/demo:1"])], ArchiveFormat::DockerArchive, &pipe)
            .unwrap();
        let archive = reader.join().unwrap();
        assert!(members(&archive).contains_key("manifest.json"));
        assert!(fs::symlink_metadata(&pipe).unwrap().file_type().is_fifo(), "the pipe was replaced");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "a temporary file was left");
    }

    #[test]
    fn docker_archive_round_trip_keeps_id_names_and_config() {
        let a = temp_store();
        let changes = vec![r#"CMD ["/bin/sh"]"#.to_owned()];
        let id = import_tar(&a.store, gzip(&rootfs_tar(b"hello")), Some("demo:1"), &changes);
        let archive =
            save_bytes(&a.store, &[request(&id, &["docker.io/library/demo:1"])], ArchiveFormat::DockerArchive);

        let files = members(&archive);
        let manifest: Vec<DockerManifestEntry> = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(manifest.len(), 1);
        assert_eq!(manifest[0].repo_tags, Some(vec!["demo:1".to_owned()]));
        assert_eq!(manifest[0].config, format!("blobs/sha256/{}", &id[7..]));
        let layer = &files[&manifest[0].layers[0]];
        assert_eq!(*layer, rootfs_tar(b"hello"), "docker-archive layers are the uncompressed tar");
        assert_eq!(format!("blobs/sha256/{}", &sha256_digest(layer)[7..]), manifest[0].layers[0]);
        assert!(files.contains_key("oci-layout") && files.contains_key("index.json"));
        let repositories: Value = serde_json::from_slice(&files["repositories"]).unwrap();
        assert_eq!(repositories["demo"]["1"], json!(&sha256_digest(layer)[7..]));

        let b = temp_store();
        let loaded = load_bytes(&b.store, archive).expect("load");
        assert_eq!(loaded, vec![LoadedImage { id: id.clone(), names: vec!["docker.io/library/demo:1".into()] }]);
        let config = parse_config(&b.store.read_blob(&id).unwrap(), "test").unwrap();
        assert_eq!(config.config.unwrap().cmd, Some(vec!["/bin/sh".to_owned()]));
        assert_store_consistent(&b.store);
    }

    #[test]
    fn oci_archive_round_trip_keeps_the_stored_blobs() {
        let a = temp_store();
        let id = import_tar(&a.store, gzip(&rootfs_tar(b"oci")), Some("quay.io/me/x:2"), &[]);
        let archive = save_bytes(&a.store, &[request(&id, &["quay.io/me/x:2"])], ArchiveFormat::OciArchive);
        let files = members(&archive);
        assert!(!files.contains_key("manifest.json"));
        let index: Index = serde_json::from_slice(&files["index.json"]).unwrap();
        let annotations = index.manifests[0].annotations.as_ref().unwrap();
        assert_eq!(annotations[ANNOTATION_REF_NAME], "quay.io/me/x:2");

        let b = temp_store();
        let loaded = load_bytes(&b.store, archive).expect("load");
        assert_eq!(loaded[0].id, id);
        assert_eq!(loaded[0].names, vec!["quay.io/me/x:2".to_owned()]);
        let blob = |s: &Store| {
            let _lock = s.lock_images_shared().unwrap();
            s.layer(&s.images().unwrap().images[0].layers[0]).unwrap().unwrap().blob_digest
        };
        assert_eq!(blob(&a.store), blob(&b.store), "the gzip blob travels as it is");
        let manifest_digest = |s: &Store| {
            let _lock = s.lock_images_shared().unwrap();
            s.images().unwrap().images[0].manifest_digest.clone()
        };
        assert_eq!(manifest_digest(&a.store), manifest_digest(&b.store), "the OCI manifest is kept");
        assert_store_consistent(&b.store);
    }

    #[test]
    fn images_saved_by_id_load_untagged_and_shared_layers_are_written_once() {
        let a = temp_store();
        let first = import_tar(&a.store, rootfs_tar(b"same"), Some("one"), &[]);
        let second = import_tar(&a.store, rootfs_tar(b"same"), None, &["USER nobody".to_owned()]);
        assert_ne!(first, second);
        let archive = save_bytes(
            &a.store,
            &[request(&first, &["docker.io/library/one:latest"]), request(&second, &[])],
            ArchiveFormat::DockerArchive,
        );
        let layer_members = members(&archive)
            .into_iter()
            .filter(|(name, bytes)| name.starts_with("blobs/sha256/") && bytes.len() > 1000)
            .count();
        assert_eq!(layer_members, 1);
        let b = temp_store();
        let loaded = load_bytes(&b.store, archive).expect("load");
        assert_eq!(loaded.len(), 2);
        assert!(loaded[1].names.is_empty());
        assert_eq!(loaded[1].id, second);
    }

    #[test]
    fn compressed_archives_load() {
        let a = temp_store();
        let id = import_tar(&a.store, rootfs_tar(b"z"), Some("z"), &[]);
        let archive = save_bytes(&a.store, &[request(&id, &["docker.io/library/z:latest"])], ArchiveFormat::OciArchive);
        let zstd_archive = zstd::stream::encode_all(Cursor::new(&archive), 3).unwrap();
        for wrapped in [gzip(&archive), zstd_archive] {
            let b = temp_store();
            assert_eq!(load_bytes(&b.store, wrapped).expect("load")[0].id, id);
        }
    }

    /// The layout `docker save` wrote before Docker 25: `<v1 id>/layer.tar`, `<hex>.json`, a
    /// repeated layer as a symlink to the first, and manifest.json last.
    #[test]
    fn legacy_docker_archive_with_linked_layers_loads() {
        let layer = rootfs_tar(b"legacy");
        let diff_id = sha256_digest(&layer);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id, diff_id]},
        }))
        .unwrap();
        let config_name = format!("{}.json", &sha256_digest(&config)[7..]);
        let manifest = serde_json::to_vec(&json!([{
            "Config": config_name, "RepoTags": ["legacy:old"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"],
        }]))
        .unwrap();
        let archive = tar_of(&[
            ("aaa/layer.tar", Member::File(&layer)),
            ("aaa/VERSION", Member::File(b"1.0")),
            ("bbb/layer.tar", Member::Symlink("../aaa/layer.tar")),
            (&config_name, Member::File(&config)),
            ("manifest.json", Member::File(&manifest)),
        ]);
        let b = temp_store();
        let loaded = load_bytes(&b.store, archive).expect("load");
        assert_eq!(loaded[0].names, vec!["docker.io/library/legacy:old".to_owned()]);
        let _lock = b.store.lock_images_shared().unwrap();
        let image = b.store.images().unwrap().images[0].clone();
        assert_eq!(image.layers, chain_ids(&[diff_id.clone(), diff_id]));
        let manifest = b.store.read_blob(&image.manifest_digest).unwrap();
        assert!(matches!(spec::parse_manifest(&manifest, None), Ok(ManifestKind::Image(m)) if m.layers.len() == 2));
        drop(_lock);
        assert_store_consistent(&b.store);
    }

    #[test]
    fn a_nested_index_resolves_to_the_host_platform() {
        let layer = gzip(&rootfs_tar(b"nested"));
        let diff_id = sha256_digest(&rootfs_tar(b"nested"));
        let host = spec::host_platform();
        let config = serde_json::to_vec(&json!({
            "architecture": host.architecture, "os": host.os,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .unwrap();
        let descriptor = |media_type: &str, bytes: &[u8], platform: Option<Platform>| Descriptor {
            media_type: media_type.into(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
            platform,
            ..Default::default()
        };
        let manifest = serde_json::to_vec(&Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            config: descriptor(OCI_CONFIG, &config, None),
            layers: vec![descriptor(OCI_LAYER_GZIP, &layer, None)],
            annotations: None,
        })
        .unwrap();
        let foreign = Platform { architecture: "s390x".into(), os: "linux".into(), ..Default::default() };
        let absent = b"a manifest that is not in the archive";
        let nested = serde_json::to_vec(&Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: vec![
                descriptor(OCI_MANIFEST, absent, Some(foreign)),
                descriptor(OCI_MANIFEST, &manifest, Some(host.clone())),
            ],
            annotations: None,
        })
        .unwrap();
        let mut top = descriptor(OCI_INDEX, &nested, None);
        top.annotations = Some(BTreeMap::from([(ANNOTATION_REF_NAME.to_owned(), "example.com/multi:1".to_owned())]));
        let index =
            serde_json::to_vec(&Index { schema_version: 2, manifests: vec![top], ..Default::default() }).unwrap();
        let blob = |bytes: &[u8]| format!("blobs/sha256/{}", &sha256_digest(bytes)[7..]);
        let (nested_name, manifest_name, config_name, layer_name) =
            (blob(&nested), blob(&manifest), blob(&config), blob(&layer));
        let archive = tar_of(&[
            ("oci-layout", Member::File(OCI_LAYOUT.as_bytes())),
            ("index.json", Member::File(&index)),
            (&nested_name, Member::File(&nested)),
            (&manifest_name, Member::File(&manifest)),
            (&config_name, Member::File(&config)),
            (&layer_name, Member::File(&layer)),
        ]);
        let b = temp_store();
        let loaded = load_bytes(&b.store, archive).expect("load");
        assert_eq!(loaded, vec![LoadedImage { id: sha256_digest(&config), names: vec!["example.com/multi:1".into()] }]);
    }

    /// A saved docker-archive of one small image, its members by name, and the manifest.json.
    fn saved_docker_archive() -> (Vec<u8>, DockerManifestEntry) {
        let a = temp_store();
        let id = import_tar(&a.store, gzip(&rootfs_tar(b"victim")), Some("victim"), &[]);
        let archive =
            save_bytes(&a.store, &[request(&id, &["docker.io/library/victim:latest"])], ArchiveFormat::DockerArchive);
        let entry: Vec<DockerManifestEntry> = serde_json::from_slice(&members(&archive)["manifest.json"]).unwrap();
        (archive, entry[0].clone())
    }

    /// Rebuilds a saved archive with one member changed (None: removed).
    fn rebuilt(archive: &[u8], name: &str, replacement: Option<&[u8]>) -> Vec<u8> {
        let files = members(archive);
        let kept: Vec<(&str, Member)> = files
            .iter()
            .filter(|(n, _)| !n.ends_with('/'))
            .filter_map(|(n, bytes)| {
                let bytes = if n == name { replacement? } else { bytes.as_slice() };
                Some((n.as_str(), Member::File(bytes)))
            })
            .collect();
        tar_of(&kept)
    }

    fn assert_load_fails(archive: Vec<u8>, expected: &str) {
        let b = temp_store();
        let error = load_bytes(&b.store, archive).expect_err("a bad archive must not load");
        let text = error.to_string();
        assert!(text.contains(expected), "error {text:?} should mention {expected:?}");
        assert!(!text.contains('\n'));
        assert_store_empty(&b.store);
    }

    #[test]
    fn a_config_that_does_not_match_its_name_is_refused() {
        let (archive, entry) = saved_docker_archive();
        let mut config = members(&archive)[&entry.config].clone();
        config.extend_from_slice(b" ");
        assert_load_fails(rebuilt(&archive, &entry.config, Some(&config)), "digest mismatch");
    }

    #[test]
    fn a_layer_with_a_flipped_byte_is_refused() {
        let (archive, entry) = saved_docker_archive();
        let mut layer = members(&archive)[&entry.layers[0]].clone();
        let hello = layer.windows(6).position(|w| w == b"victim").expect("content in layer");
        layer[hello] ^= 0x20;
        assert_load_fails(rebuilt(&archive, &entry.layers[0], Some(&layer)), "digest mismatch");
        // The same flip in a layer not named by its digest is caught by the config's diff id.
        let legacy = rebuilt(&rebuilt(&archive, &entry.layers[0], None), "x", None);
        let mut manifest = serde_json::to_value(vec![entry.clone()]).unwrap();
        manifest[0]["Layers"] = json!(["abc/layer.tar"]);
        let manifest = serde_json::to_vec(&manifest).unwrap();
        let mut files: Vec<(String, Vec<u8>)> =
            members(&legacy).into_iter().filter(|(n, _)| !n.ends_with('/')).collect();
        files.retain(|(n, _)| n != "manifest.json" && n != "index.json");
        files.push(("abc/layer.tar".into(), layer));
        files.push(("manifest.json".into(), manifest));
        let tar = tar_of(&files.iter().map(|(n, b)| (n.as_str(), Member::File(b))).collect::<Vec<_>>());
        assert_load_fails(tar, "diff id");
    }

    #[test]
    fn an_archive_without_manifest_or_index_is_refused() {
        let (archive, _) = saved_docker_archive();
        let without = rebuilt(&rebuilt(&archive, "manifest.json", None), "index.json", None);
        assert_load_fails(without, "neither manifest.json");
    }

    #[test]
    fn truncated_and_garbage_archives_are_refused() {
        let (archive, _) = saved_docker_archive();
        assert_load_fails(archive[..archive.len() / 2].to_vec(), "truncated");
        let compressed = gzip(&archive);
        assert_load_fails(compressed[..compressed.len() / 2].to_vec(), "reading the archive");
        assert_load_fails(vec![0x42; 4096], "reading the archive");
        assert_load_fails(Vec::new(), "empty");
    }

    #[test]
    fn members_outside_the_archive_are_refused() {
        let (archive, _) = saved_docker_archive();
        let mut files: Vec<(String, Vec<u8>)> =
            members(&archive).into_iter().filter(|(n, _)| !n.ends_with('/')).collect();
        files.insert(0, ("../escape".into(), b"x".to_vec()));
        let tar = tar_of(&files.iter().map(|(n, b)| (n.as_str(), Member::File(b))).collect::<Vec<_>>());
        assert_load_fails(tar, "outside the archive");
        let link = tar_of(&[("a/layer.tar", Member::Symlink("../../etc/passwd"))]);
        assert_load_fails(link, "outside the archive");
    }

    #[test]
    fn a_layer_that_escapes_its_root_is_refused() {
        let evil = tar_of(&[("../../evil", Member::File(b"x"))]);
        let diff_id = sha256_digest(&evil);
        let config = serde_json::to_vec(&json!({"rootfs": {"type": "layers", "diff_ids": [diff_id]}})).unwrap();
        let config_name = format!("{}.json", &sha256_digest(&config)[7..]);
        let manifest =
            serde_json::to_vec(&json!([{"Config": config_name, "RepoTags": [], "Layers": ["l/layer.tar"]}])).unwrap();
        let archive = tar_of(&[
            ("l/layer.tar", Member::File(&evil)),
            (&config_name, Member::File(&config)),
            ("manifest.json", Member::File(&manifest)),
        ]);
        assert_load_fails(archive, "layer l/layer.tar: unsafe path in layer");
    }

    #[test]
    fn import_refuses_empty_and_xz_input() {
        let s = temp_store();
        let request = ImportRequest { changes: &[], message: None, source: "in", name: None };
        let empty = import(&s.store, Cursor::new(Vec::new()), &request).unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");
        let xz = import(&s.store, Cursor::new(b"\xfd7zXZ\0rest".to_vec()), &request).unwrap_err();
        assert!(xz.to_string().contains("xz"), "{xz}");
        assert_store_empty(&s.store);
    }

    #[test]
    fn import_records_platform_history_and_message() {
        let s = temp_store();
        let request = ImportRequest { changes: &[], message: Some("hello"), source: "in", name: Some("x".into()) };
        let id = import(&s.store, Cursor::new(rootfs_tar(b"h")), &request).unwrap();
        let config = parse_config(&s.store.read_blob(&id).unwrap(), "t").unwrap();
        assert_eq!(config.architecture, spec::host_platform().architecture);
        assert_eq!(config.history[0].comment.as_deref(), Some("hello"));
        assert_eq!(config.history[0].created_by.as_deref(), Some("berth import"));
        assert_eq!(config.rootfs.diff_ids, vec![sha256_digest(&rootfs_tar(b"h"))]);
        let _lock = s.store.lock_images_shared().unwrap();
        let record = s.store.layer(&config.rootfs.diff_ids[0]).unwrap().unwrap();
        assert_eq!(record.size, rootfs_tar(b"h").len() as u64, "a layer's recorded size is its exact tar size");
    }

    #[test]
    fn exact_size_refuses_short_and_long_streams() {
        let read = |data: &[u8], expected: u64| {
            let mut out = Vec::new();
            ExactSize { inner: data, remaining: expected, expected, what: "t".into() }
                .read_to_end(&mut out)
                .map(|_| out)
        };
        assert_eq!(read(b"abcd", 4).unwrap(), b"abcd");
        assert!(read(b"abc", 4).unwrap_err().to_string().contains("fewer"));
        assert!(read(b"abcde", 4).unwrap_err().to_string().contains("more"));
    }

    fn changed(changes: &[&str]) -> Result<RunConfig, ArchiveError> {
        let mut config = RunConfig::default();
        for change in changes {
            apply_change(&mut config, change)?;
        }
        Ok(config)
    }

    #[test]
    fn changes_set_commands_in_exec_and_shell_form() {
        let config = changed(&[r#"CMD ["/bin/sh", "-c", "echo hi"]"#, "entrypoint /init --flag"]).unwrap();
        assert_eq!(config.cmd.unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(config.entrypoint.unwrap(), ["/bin/sh", "-c", "/init --flag"]);
        assert_eq!(changed(&["CMD [not json"]).unwrap().cmd.unwrap(), ["/bin/sh", "-c", "[not json"]);
    }

    #[test]
    fn changes_set_env_labels_ports_volumes_and_the_rest() {
        let config = changed(&[
            r#"ENV A=1 B="two words" C=a\ b"#,
            "ENV PATH /usr/bin:/bin",
            "ENV A=replaced",
            r#"LABEL org.example="x y" 'k'=v"#,
            "EXPOSE 80 53/udp 8000-8001",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            "STOPSIGNAL SIGINT",
        ])
        .unwrap();
        assert_eq!(config.env.unwrap(), ["A=replaced", "B=two words", "C=a b", "PATH=/usr/bin:/bin"]);
        let labels = config.labels.unwrap();
        assert_eq!((labels["org.example"].as_str(), labels["k"].as_str()), ("x y", "v"));
        let ports: Vec<_> = config.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let volumes: Vec<_> = config.volumes.unwrap().into_keys().collect();
        assert_eq!(volumes, ["/cache", "/data", "/logs"]);
        assert_eq!(config.working_dir.as_deref(), Some("/srv/app"));
        assert_eq!(config.user.as_deref(), Some("1000:1000"));
        assert_eq!(config.stop_signal.as_deref(), Some("SIGINT"));
    }

    #[test]
    fn bad_changes_are_refused_with_the_reason() {
        for (change, reason) in [
            ("RUN rm -rf /", "unsupported instruction RUN"),
            ("", "empty instruction"),
            ("CMD", "needs arguments"),
            ("ENV A", "KEY=VALUE"),
            ("ENV A=1 B", "not KEY=VALUE"),
            ("EXPOSE 70000", "invalid port"),
            ("EXPOSE 80/icmp", "protocol"),
            ("LABEL a=\"open", "unterminated"),
            ("USER a b", "exactly one"),
        ] {
            let error = changed(&[change]).unwrap_err().to_string();
            assert!(error.contains(reason), "{change:?}: {error:?} should mention {reason:?}");
        }
    }

    #[test]
    fn member_names_are_normalised_and_confined() {
        assert_eq!(normalize_member(Path::new("./a//b/./c")).unwrap().as_deref(), Some("a/b/c"));
        assert_eq!(normalize_member(Path::new("./")).unwrap(), None);
        assert!(normalize_member(Path::new("/etc/passwd")).is_err());
        assert!(normalize_member(Path::new("a/../../b")).is_err());
        assert_eq!(symlink_destination("x/layer.tar", Path::new("../y/layer.tar")).unwrap(), "y/layer.tar");
        assert!(symlink_destination("x/layer.tar", Path::new("../../y")).is_err());
        assert!(symlink_destination("x", Path::new("/abs")).is_err());
    }
}
