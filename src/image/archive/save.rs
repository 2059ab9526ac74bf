//! `save`: images out of the store as a docker-archive or an oci-archive.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, ArchiveError, DockerManifestEntry, OCI_LAYOUT, Sniffed,
    blob_member, io_error, parse_config, sniff_file,
};
use crate::image::assemble::{manifest_bytes, manifest_describes, manifest_for_layers};
use crate::image::decode::{self, DecodedReader};
use crate::image::layer::ExactSizeReader;
use crate::image::reference::{Reference, familiar_name};
use crate::image::spec::{Descriptor, ImageConfig, Index, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, Platform};
use crate::store::{LayerRecord, Store, StoreError, sha256_digest};

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
        if self.kind == Some(decode::Compression::Plain) { self.file_len } else { self.record.size }
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
    out.flush().map_err(io_error("writing the archive"))?;
    for request in requests {
        crate::image::event::record_id(store, "save", &request.id, request.names.first().map(String::as_str));
    }
    Ok(())
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
            Ok(SaveImage {
                id: image.id.to_string(),
                names: request.names,
                config_bytes,
                config,
                manifest_bytes,
                layers,
            })
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

/// Exactly `size` bytes of `inner`, or an error: the tar header announcing the size is
/// already written.
fn exact_size<R: Read>(inner: R, size: u64, what: &str) -> ExactSizeReader<R> {
    let wrong = |how: &str| {
        format!(
            "{what}: the store records {size} bytes of uncompressed content but its blob holds {how}; \
             the archive written is incomplete"
        )
    };
    ExactSizeReader::new(inner, size, wrong("fewer")).refusing_more(wrong("more"))
}

/// Appends one layer as an uncompressed tar of exactly `tar_size` bytes.
fn append_layer<W: Write>(tar: &mut tar::Builder<W>, path: &str, layer: SaveLayer) -> Result<(), ArchiveError> {
    let size = layer.tar_size();
    let mut h = header(tar::EntryType::Regular, size);
    let what = format!("layer {}", layer.record.diff_id);
    let result = match layer.kind {
        Some(decode::Compression::Plain) => tar.append_data(&mut h, path, exact_size(layer.file, size, &what)),
        _ => {
            let tar_stream = DecodedReader::new(layer.file)?;
            tar.append_data(&mut h, path, exact_size(tar_stream, size, &what))
        }
    };
    result.map_err(io_error("writing the archive"))
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
            manifest_for_layers(&image.config_bytes, &records)?
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
        let data = exact_size(blob.file, blob.file_len, &what);
        tar.append_data(&mut h, path, data).map_err(io_error("writing the archive"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_size_refuses_short_and_long_streams() {
        let read = |data: &[u8], expected: u64| {
            let mut out = Vec::new();
            exact_size(data, expected, "t").read_to_end(&mut out).map(|_| out)
        };
        assert_eq!(read(b"abcd", 4).unwrap(), b"abcd");
        assert!(read(b"abc", 4).unwrap_err().to_string().contains("fewer"));
        assert!(read(b"abcde", 4).unwrap_err().to_string().contains("more"));
    }
}
