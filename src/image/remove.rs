//! Removing images (`rmi`, `image prune`, and compose's `down --rmi`): Docker's rules for when a
//! name is only untagged and when the image goes, and the lock choreography that keeps an image
//! a container uses from disappearing under it.
//!
//! Which images containers use is a question about container records, which this module does
//! not read (the image layer knows nothing of containers): the caller passes a function that
//! answers it, called while the containers lock is held.

use std::collections::{BTreeMap, BTreeSet};

use super::ImageError;
use super::lookup::{find_image, qualified_candidates};
use super::registry::reference::Reference;
use crate::config::Settings;
use crate::store::{Digest, ImageIndex, ImageRecord, Store, StoreError};

/// The images containers were created from (their layers are those containers' lower dirs),
/// each with one such container's short id.
pub type ImageUsers = BTreeMap<Digest, String>;

/// What removing one image did, in Docker's words.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Removal {
    /// Names (and digest references) that no longer point at the image.
    pub untagged: Vec<String>,
    /// The image itself, when it went.
    pub deleted: Option<Digest>,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error(transparent)]
    Lookup(#[from] ImageError),
    #[error("conflict: unable to delete {short_id} (must be forced): image is referenced in multiple repositories")]
    SeveralNames { short_id: String },
    #[error(
        "conflict: unable to remove repository reference {input:?} (must force) - container {container} is using its \
         referenced image {short_id}"
    )]
    NameInUse { input: String, container: String, short_id: String },
    #[error("conflict: unable to delete {short_id} (must be forced) - image is being used by container {container}")]
    InUse { short_id: String, container: String },
}

/// Removes each of `inputs` (names, digests or ids), in order, and collects the layers and
/// blobs only they used. One input failing does not stop the others: each gets its own result.
/// Takes the containers lock (shared, throughout, so the users stay those `users` reported)
/// and then the image lock (exclusive).
pub fn remove_images<E>(
    store: &Store,
    settings: &Settings,
    inputs: &[String],
    force: bool,
    users: impl FnOnce(&Store) -> Result<ImageUsers, E>,
) -> Result<Vec<Result<Removal, RemoveError>>, E>
where
    E: From<StoreError>,
{
    let mut ids_by_name = BTreeMap::new();
    let results: Vec<Result<Removal, RemoveError>> = change_images(store, users, |index, in_use| {
        for image in &index.images {
            for name in image.names.iter().chain(&image.digests) {
                ids_by_name.insert(name.clone(), image.id.to_string());
            }
        }
        inputs.iter().map(|input| remove_from_index(index, settings, input, force, in_use)).collect()
    })?;
    for removal in results.iter().flatten() {
        for name in &removal.untagged {
            let id = ids_by_name.get(name).map_or(name.as_str(), String::as_str);
            let name = super::registry::reference::familiar_name(name);
            crate::events::record(store, crate::events::Event::image("untag", id, name));
        }
        if let Some(id) = &removal.deleted {
            crate::events::record(store, crate::events::Event::image("delete", id.as_ref(), id.as_ref()));
        }
    }
    Ok(results)
}

/// The choreography every removal follows: lock 2 (shared) while `users` reads the container
/// records and for as long as the answer must stay true, the image lock (exclusive), `change` on a copy
/// of the index, the index written back, then what the removed images alone used collected.
fn change_images<T, E: From<StoreError>>(
    store: &Store,
    users: impl FnOnce(&Store) -> Result<ImageUsers, E>,
    change: impl FnOnce(&mut ImageIndex, &ImageUsers) -> T,
) -> Result<T, E> {
    let _containers = store.lock_containers_shared()?;
    let in_use = users(store)?;
    let _images = store.lock_images_exclusive()?;
    let before = store.images()?;
    let mut index = before.clone();
    let out = change(&mut index, &in_use);
    store.write_releasing_reserve(|| store.write_images(&index))?;
    collect_after_removal(store, &before, &index)?;
    Ok(out)
}

/// What `image prune` removed, and the bytes that freed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub removed: Vec<ImageRecord>,
    pub reclaimed: u64,
}

/// Removes every image no container uses that is dangling (has no name), or, with `all`, every
/// such image. Locks as [`remove_images`].
pub fn prune_images<E>(
    store: &Store,
    all: bool,
    users: impl FnOnce(&Store) -> Result<ImageUsers, E>,
) -> Result<Pruned, E>
where
    E: From<StoreError>,
{
    change_images(store, users, |index, in_use| {
        let mut pruned = Pruned::default();
        let doomed: Vec<ImageRecord> =
            index.images.iter().filter(|i| (all || i.is_dangling()) && !in_use.contains_key(&i.id)).cloned().collect();
        for image in doomed {
            index.remove(&image.id);
            let id = image.id.to_string();
            crate::events::record(store, crate::events::Event::image("delete", &id, &id));
            pruned.reclaimed += image.size;
            pruned.removed.push(image);
        }
        pruned
    })
}

/// Untags or deletes one image in `index` (the caller writes it back). An image a container
/// uses is never deleted: it is refused, or with `force` only untagged. Needs the image lock,
/// exclusive.
pub fn remove_from_index(
    index: &mut ImageIndex,
    settings: &Settings,
    input: &str,
    force: bool,
    in_use: &ImageUsers,
) -> Result<Removal, RemoveError> {
    let image = find_image(index, settings, input)?.clone();
    let short_id = || image.short_id().to_owned();
    // A name, unless the input is (a prefix of) the id itself.
    let by_name = Reference::parse(input)
        .ok()
        .filter(|_| !image.id.hex().starts_with(input.strip_prefix("sha256:").unwrap_or(input)));
    // The image's name the input stands for.
    let named = |reference: &Reference| {
        qualified_candidates(settings, reference)
            .into_iter()
            .filter_map(|c| c.tagged_name())
            .find(|n| image.names.contains(n))
    };
    match &by_name {
        Some(reference) => {
            if let Some(name) = named(reference)
                && image.names.len() > 1
            {
                index.untag(&name);
                return Ok(Removal { untagged: vec![name], deleted: None });
            }
        }
        None if image.names.len() > 1 && !force => return Err(RemoveError::SeveralNames { short_id: short_id() }),
        None => {}
    }
    if let Some(container) = in_use.get(&image.id) {
        if !force {
            let container = container.clone();
            return Err(match by_name {
                Some(_) => RemoveError::NameInUse { input: input.to_owned(), container, short_id: short_id() },
                None => RemoveError::InUse { short_id: short_id(), container },
            });
        }
        // Forced: the names go, the image stays for as long as the container needs its layers.
        let names: Vec<String> = match &by_name {
            Some(reference) => named(reference).into_iter().collect(),
            None => image.names.clone(),
        };
        for name in &names {
            index.untag(name);
        }
        return Ok(Removal { untagged: names, deleted: None });
    }
    let untagged = image.names.iter().chain(&image.digests).cloned().collect();
    index.remove(&image.id);
    Ok(Removal { untagged, deleted: Some(image.id) })
}

/// Removes the layers and blobs that the removed images alone used. Needs the image lock,
/// exclusive.
pub fn collect_after_removal(store: &Store, before: &ImageIndex, after: &ImageIndex) -> Result<(), StoreError> {
    let removed: Vec<_> = before.images.iter().filter(|i| after.get(&i.id).is_none()).collect();
    let layers: BTreeSet<Digest> = removed.iter().flat_map(|i| i.layers.iter().cloned()).collect();
    let blobs: BTreeSet<Digest> = removed.iter().flat_map(|i| [i.id.clone(), i.manifest_digest.clone()]).collect();
    store.collect_garbage(after, &layers, &blobs)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewImage;

    fn image(seed: &str, names: &[&str]) -> ImageRecord {
        let new = NewImage { names: names.iter().map(|n| n.to_string()).collect(), ..Default::default() };
        ImageRecord::new(new, Digest::sha256_of(seed.as_bytes()), Digest::sha256_of(b"m")).unwrap()
    }

    fn settings() -> Settings {
        crate::image::registry::tests::settings()
    }

    #[test]
    fn a_name_of_an_image_with_several_is_only_untagged() {
        let mut index = ImageIndex::default();
        index.insert(image("a", &["docker.io/library/x:1", "docker.io/library/x:2"]));
        let removal = remove_from_index(&mut index, &settings(), "x:1", false, &ImageUsers::new()).unwrap();
        assert_eq!(removal, Removal { untagged: vec!["docker.io/library/x:1".into()], deleted: None });
        assert_eq!(index.images[0].names, ["docker.io/library/x:2"]);
        let removal = remove_from_index(&mut index, &settings(), "x:2", false, &ImageUsers::new()).unwrap();
        assert_eq!(removal.deleted, Some(Digest::sha256_of(b"a")));
        assert!(index.images.is_empty());
    }

    #[test]
    fn an_id_with_several_names_needs_force() {
        let mut index = ImageIndex::default();
        let record = image("a", &["docker.io/library/x:1", "docker.io/library/y:1"]);
        let id = record.id.clone();
        index.insert(record);
        let err = remove_from_index(&mut index, &settings(), id.short(), false, &ImageUsers::new()).unwrap_err();
        assert!(matches!(err, RemoveError::SeveralNames { .. }), "{err}");
        let removal = remove_from_index(&mut index, &settings(), id.short(), true, &ImageUsers::new()).unwrap();
        assert_eq!(removal.untagged.len(), 2);
        assert_eq!(removal.deleted, Some(id));
    }

    #[test]
    fn an_image_in_use_is_refused_or_with_force_only_untagged() {
        let mut index = ImageIndex::default();
        let record = image("a", &["docker.io/library/x:1"]);
        let users = ImageUsers::from([(record.id.clone(), "c0ffee".to_owned())]);
        index.insert(record);
        let err = remove_from_index(&mut index, &settings(), "x:1", false, &users).unwrap_err();
        assert!(err.to_string().contains("container c0ffee is using its referenced image"), "{err}");
        let id = index.images[0].id.clone();
        let err = remove_from_index(&mut index, &settings(), id.as_str(), false, &users).unwrap_err();
        assert!(matches!(err, RemoveError::InUse { .. }), "{err}");
        let removal = remove_from_index(&mut index, &settings(), "x:1", true, &users).unwrap();
        assert_eq!(removal, Removal { untagged: vec!["docker.io/library/x:1".into()], deleted: None });
        assert_eq!(index.images.len(), 1, "the image stays for its container");
        let missing = remove_from_index(&mut index, &settings(), "nothere", false, &users).unwrap_err();
        assert_eq!(missing.to_string(), "no such image: nothere");
    }
}
