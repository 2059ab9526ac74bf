//! Removing layers and blobs that no image needs any more.

use std::collections::BTreeSet;

use super::{Digest, ImageIndex, LockGuard, LockLevel, Store, StoreError, lock};

#[derive(Debug, Default)]
pub struct GcReport {
    pub layers: Vec<Digest>,
    pub blobs: Vec<Digest>,
}

impl Store {
    /// Lock level `Ingest`, shared: held for the whole of an operation that commits layers before the
    /// image that uses them (pull, load, import), so that orphan collection leaves its layers
    /// alone.
    pub fn lock_ingest_shared(&self) -> Result<LockGuard, StoreError> {
        lock::lock_shared(LockLevel::Ingest, &self.root.join("ingest.lock"))
    }

    fn try_lock_ingest_exclusive(&self) -> Result<Option<LockGuard>, StoreError> {
        lock::try_lock_exclusive(LockLevel::Ingest, &self.root.join("ingest.lock"))
    }

    /// Removes layers and blobs that no image in `index` references. Needs the image lock,
    /// exclusive. `suspects` are the layers of just-removed images: always candidates. Every
    /// other unreferenced layer or blob is removed only when no ingest is under way (it may be
    /// a layer a running pull has committed but not yet recorded).
    pub fn collect_garbage(
        &self,
        index: &ImageIndex,
        suspects: &BTreeSet<Digest>,
        suspect_blobs: &BTreeSet<Digest>,
    ) -> Result<GcReport, StoreError> {
        let no_ingest = self.try_lock_ingest_exclusive()?;
        let keep_layers = index.referenced_layers();
        let mut report = GcReport::default();
        // Names on disk that are no digest were never stored by berth: left alone.
        let digests = |names: Vec<String>| names.into_iter().filter_map(|n| Digest::parse(&n).ok());
        let layer_candidates: BTreeSet<Digest> =
            if no_ingest.is_some() { digests(self.layer_ids()?).collect() } else { suspects.clone() };
        let mut keep_blobs: BTreeSet<Digest> = BTreeSet::new();
        for image in &index.images {
            keep_blobs.insert(image.id.clone());
            keep_blobs.insert(image.manifest_digest.clone());
        }
        for chain in &keep_layers {
            if let Some(layer) = self.layer(chain)? {
                keep_blobs.extend(Digest::parse(&layer.blob_digest));
                keep_blobs.extend(self.layer_variants(chain)?.iter().filter_map(|v| Digest::parse(&v.digest).ok()));
            }
        }
        let mut blob_candidates: BTreeSet<Digest> = suspect_blobs.clone();
        for chain in layer_candidates.difference(&keep_layers) {
            if let Ok(Some(layer)) = self.layer(chain) {
                blob_candidates.extend(Digest::parse(&layer.blob_digest));
            }
            let variants = self.layer_variants(chain).unwrap_or_default();
            blob_candidates.extend(variants.iter().filter_map(|v| Digest::parse(&v.digest).ok()));
            self.remove_layer(chain)?;
            report.layers.push(chain.clone());
        }
        if no_ingest.is_some() {
            blob_candidates.extend(digests(self.blob_digests()?));
        }
        for blob in blob_candidates.difference(&keep_blobs) {
            if self.has_blob(blob) {
                self.remove_blob(blob)?;
                report.blobs.push(blob.clone());
            }
        }
        Ok(report)
    }
}
