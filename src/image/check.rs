//! `system check`: verify every blob's digest, every layer's record and unpacked files, and
//! every image's pieces; with repair, remove what is broken and every image that needs it.
//!
//! A layer's unpacked files are compared with its blob: the blob is decoded, its tar's digest
//! must be the layer's diff id (which proves the tar is the one the layer was unpacked from),
//! and every entry of the tar is compared with the tree (`layer::verify_layer`). Unpacked files
//! are not fsynced, so this is what finds a layer that a power loss damaged. `quick` checks
//! only that the unpacked directory is there.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::ImageError;
use super::decode::DecodedReader;
use super::ingest::unpack_options;
use super::layer::{self, LayerError};
use crate::store::{LayerRecord, Store};

#[derive(Debug, Default)]
pub struct CheckReport {
    pub blobs: usize,
    pub layers: usize,
    pub images: usize,
    pub problems: Vec<String>,
    pub repaired: Vec<String>,
    pub unrepaired: usize,
}

fn file_digest(path: &std::path::Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(layer::format_sha256(hasher))
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The differences between a layer's unpacked files and its blob, one line each.
fn verify_unpacked(store: &Store, layer: &LayerRecord) -> Result<Vec<String>, ImageError> {
    let blob = store.blob_path(&layer.blob_digest)?;
    let file = File::open(&blob).map_err(|e| ImageError::io(blob.display(), e))?;
    let mut tar = Hashing { inner: DecodedReader::new(file)?, hasher: Sha256::new() };
    let diff = store.layer_diff_dir(&layer.chain_id)?;
    let damage = layer::verify_layer(&mut tar, &diff, &unpack_options(store))?;
    let diff_id = layer::format_sha256(tar.hasher);
    if diff_id != layer.diff_id {
        return Ok(vec![format!("its blob decodes to {diff_id}, not to its diff id {}", layer.diff_id)]);
    }
    Ok(damage.iter().map(ToString::to_string).collect())
}

/// Why layer `chain` is broken, one line each; none when it is sound.
fn layer_problems(store: &Store, chain: &str, bad_blobs: &BTreeSet<String>, quick: bool) -> Vec<String> {
    let layer = match store.layer(chain) {
        Ok(Some(layer)) => layer,
        Ok(None) => return vec!["incomplete (no layer.json)".to_owned()],
        Err(e) => return vec![e.to_string()],
    };
    let diff_dir_missing = match store.layer_diff_dir(chain) {
        Ok(dir) => !dir.is_dir(),
        Err(e) => return vec![e.to_string()],
    };
    if layer.chain_id != chain {
        return vec!["record names another chain id".to_owned()];
    }
    if diff_dir_missing {
        return vec![format!("unpacked files missing (blob {})", layer.blob_digest)];
    }
    if !store.has_blob(&layer.blob_digest) || bad_blobs.contains(&layer.blob_digest) {
        return vec![format!("its blob {} is missing or corrupt", layer.blob_digest)];
    }
    if quick {
        return Vec::new();
    }
    match verify_unpacked(store, &layer) {
        Ok(damage) => damage,
        Err(ImageError::Layer(e @ LayerError::Io { .. })) => vec![format!("unpacked files cannot be read: {e}")],
        Err(e) => vec![format!("cannot be compared with its blob: {e}")],
    }
}

/// The whole check: every blob, every layer's record and unpacked files, every image; with
/// `repair`, what is broken is removed. Needs the image lock: shared to check, exclusive to
/// repair.
pub fn check_store(store: &Store, repair: bool) -> Result<CheckReport, ImageError> {
    check(store, repair, false)
}

/// `check_store` without comparing unpacked layers with their blobs (`system check --quick`):
/// only that each layer's directory is there. Same locks.
pub fn check_store_metadata(store: &Store, repair: bool) -> Result<CheckReport, ImageError> {
    check(store, repair, true)
}

fn check(store: &Store, repair: bool, quick: bool) -> Result<CheckReport, ImageError> {
    let mut report = CheckReport::default();
    let mut bad_blobs = BTreeSet::new();
    for digest in store.blob_digests()? {
        report.blobs += 1;
        let path = store.blob_path(&digest)?;
        match file_digest(&path) {
            Ok(actual) if actual == digest => {}
            Ok(actual) => {
                report.problems.push(format!("blob {digest}: content hashes to {actual}"));
                bad_blobs.insert(digest);
            }
            Err(e) => {
                report.problems.push(format!("blob {digest}: unreadable: {e}"));
                bad_blobs.insert(digest);
            }
        }
    }
    let mut bad_layers = BTreeSet::new();
    for chain in store.layer_ids()? {
        report.layers += 1;
        let problems = layer_problems(store, &chain, &bad_blobs, quick);
        if !problems.is_empty() {
            report.problems.extend(problems.iter().map(|why| format!("layer {chain}: {why}")));
            bad_layers.insert(chain);
        }
    }
    let mut index = match store.images() {
        Ok(index) => index,
        Err(e) => {
            report.problems.push(format!("image index: {e}"));
            report.unrepaired += 1;
            return Ok(report);
        }
    };
    let before = index.clone();
    let mut bad_images = Vec::new();
    for image in &index.images {
        report.images += 1;
        let mut why = Vec::new();
        for digest in [&image.id, &image.manifest_digest] {
            if !store.has_blob(digest) || bad_blobs.contains(digest.as_str()) {
                why.push(format!("blob {digest} missing or corrupt"));
            }
        }
        for chain in &image.layers {
            if bad_layers.contains(chain.as_str()) || store.layer(chain).ok().flatten().is_none() {
                why.push(format!("layer {chain} missing or broken"));
            }
        }
        if !why.is_empty() {
            report.problems.push(format!(
                "image {} ({}): {}",
                image.short_id(),
                image.names.join(", "),
                why.join("; ")
            ));
            bad_images.push(image.id.clone());
        }
    }
    if !repair {
        return Ok(report);
    }
    for id in &bad_images {
        index.remove(id);
        report.repaired.push(format!("removed image {id}"));
    }
    if index != before {
        store.write_images(&index)?;
    }
    for chain in &bad_layers {
        store.remove_layer(chain)?;
        report.repaired.push(format!("removed layer {chain}"));
    }
    for blob in &bad_blobs {
        store.remove_blob(blob)?;
        report.repaired.push(format!("removed blob {blob}"));
    }
    let suspects: BTreeSet<crate::store::Digest> =
        before.images.iter().filter(|i| bad_images.contains(&i.id)).flat_map(|i| i.layers.iter().cloned()).collect();
    let gc = store.collect_garbage(&index, &suspects, &BTreeSet::new())?;
    report.repaired.extend(gc.layers.iter().map(|l| format!("removed unused layer {l}")));
    report.repaired.extend(gc.blobs.iter().map(|b| format!("removed unused blob {b}")));
    Ok(report)
}
