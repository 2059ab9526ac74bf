//! Cached steps: a layer step whose key has an entry reuses the entry's layer (or its empty
//! diff) without running. Entries live in the store (`store::BuildCacheEntry`).

use crate::build::cache_key::CacheKey;
use crate::image::assemble::Assembly;
use crate::store::{BuildCacheEntry, LayerRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
#[error("the build cache")]
pub struct CacheError(#[from] StoreError);

pub struct Cache<'a> {
    store: &'a Store,
    /// `--no-cache`: nothing is looked up (results are still recorded).
    disabled: bool,
}

impl<'a> Cache<'a> {
    pub fn new(store: &'a Store, disabled: bool) -> Cache<'a> {
        Cache { store, disabled }
    }

    /// The result recorded for `key` on top of `assembly`'s layers: Some(Some(layer)), Some(None)
    /// for a step that changed nothing, None when there is none (or its layer is gone).
    pub fn lookup(&self, key: &CacheKey, assembly: &Assembly) -> Result<Option<Option<LayerRecord>>, CacheError> {
        if self.disabled {
            return Ok(None);
        }
        let _images = self.store.lock_images_shared()?;
        let _cache = self.store.lock_build_cache_shared()?;
        let Some(entry) = self.store.build_cache_entry(&hex::encode(key.bytes()))? else { return Ok(None) };
        let Some(chain) = entry.chain_id else { return Ok(Some(None)) };
        let Some(layer) = self.store.layer(&chain)? else { return Ok(None) };
        // A key names its parent's layers, so this holds unless the entry is damaged.
        if assembly.chain_for(&layer.diff_id).0 != layer.chain_id {
            return Ok(None);
        }
        Ok(Some(Some(layer)))
    }

    pub fn record(&self, key: &CacheKey, layer: Option<&LayerRecord>) -> Result<(), CacheError> {
        let _cache = self.store.lock_build_cache_exclusive()?;
        let entry = BuildCacheEntry { chain_id: layer.map(|l| l.chain_id.clone()) };
        Ok(self.store.put_build_cache_entry(&hex::encode(key.bytes()), &entry)?)
    }
}
