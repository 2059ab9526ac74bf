//! `system check`: verify every blob's digest, every layer's record and every image's pieces;
//! with repair, remove what is broken and every image that needs it.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;

use sha2::{Digest, Sha256};

use super::ImageError;
use crate::store::Store;

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
    Ok(super::layer::format_sha256(hasher))
}

/// Needs the image lock: shared to check, exclusive to repair.
pub fn check_store(store: &Store, repair: bool) -> Result<CheckReport, ImageError> {
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
        let broken = match store.layer(&chain) {
            Ok(Some(layer)) if layer.chain_id != chain => Some("record names another chain id".to_owned()),
            Ok(Some(layer)) if !store.layer_diff_dir(&chain)?.is_dir() => {
                Some(format!("unpacked files missing (blob {})", layer.blob_digest))
            }
            Ok(Some(layer)) if !store.has_blob(&layer.blob_digest) || bad_blobs.contains(&layer.blob_digest) => {
                Some(format!("its blob {} is missing or corrupt", layer.blob_digest))
            }
            Ok(Some(_)) => None,
            Ok(None) => Some("incomplete (no layer.json)".to_owned()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = broken {
            report.problems.push(format!("layer {chain}: {why}"));
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
