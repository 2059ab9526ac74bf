//! `tag`: another name for an image.

use crate::store::{Store, StoreError};

/// Gives image `id` the fully qualified `name` (taken from any image that had it). Takes the
/// image lock, exclusive.
pub fn tag(store: &Store, id: &str, name: &str) -> Result<(), StoreError> {
    let _lock = store.lock_images_exclusive()?;
    let mut index = store.images()?;
    index.tag(id, name)?;
    store.write_images(&index)?;
    super::event::record_id(store, "tag", id, Some(name));
    Ok(())
}
