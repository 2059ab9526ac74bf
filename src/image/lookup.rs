//! Finding a local image from what a user typed: an id or id prefix, a name, or a digest
//! reference; short names are tried against each search registry and `localhost/`.

use super::ImageError;
use super::registry::reference::Reference;
use crate::config::Settings;
use crate::store::{ImageIndex, ImageRecord, Store, StoreError};

/// The registry a new short name (tag, import, commit) is qualified with: the first search
/// registry, or `localhost` when there is none, so that lookup finds it again.
pub fn default_registry(settings: &Settings) -> &str {
    settings.search_registries.first().map_or("localhost", |s| s.as_str())
}

/// The fully qualified names a user's input may stand for, most likely first.
pub fn qualified_candidates(settings: &Settings, reference: &Reference) -> Vec<Reference> {
    if !reference.is_short_name() {
        return vec![reference.qualified_with(reference.registry_or_hub())];
    }
    let mut out: Vec<Reference> = settings.search_registries.iter().map(|r| reference.qualified_with(r)).collect();
    out.push(reference.qualified_with("localhost"));
    out
}

/// The image `input` names in the store. Takes the image lock, shared.
pub fn lookup(store: &Store, settings: &Settings, input: &str) -> Result<ImageRecord, ImageError> {
    let _lock = store.lock_images_shared()?;
    let index = store.images()?;
    find_image(&index, settings, input).cloned()
}

/// Docker's order: a full id or `sha256:` prefix is an id; otherwise a name that is in the
/// store wins over an id prefix that the same letters also are (`c` the image `c:latest`, not
/// the image whose id starts with c).
pub fn find_image<'a>(index: &'a ImageIndex, settings: &Settings, input: &str) -> Result<&'a ImageRecord, ImageError> {
    let not_found = || ImageError::Store(StoreError::ImageNotFound(input.to_owned()));
    let hex = input.strip_prefix("sha256:").unwrap_or(input);
    let looks_like_id = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if looks_like_id && (input.starts_with("sha256:") || hex.len() == 64) {
        return index.by_id_prefix(input)?.ok_or_else(not_found);
    }
    if let Ok(reference) = Reference::parse(input)
        && let Some(found) = by_reference(index, settings, &reference)
    {
        return Ok(found);
    }
    if looks_like_id && let Some(found) = index.by_id_prefix(input)? {
        return Ok(found);
    }
    // Not in the store: a malformed reference says why, else it is not found.
    Reference::parse(input)?;
    Err(not_found())
}

fn by_reference<'a>(index: &'a ImageIndex, settings: &Settings, reference: &Reference) -> Option<&'a ImageRecord> {
    qualified_candidates(settings, reference).into_iter().find_map(|candidate| match candidate.digested_name() {
        Some(digested) => index.by_digest(&digested),
        None => candidate.tagged_name().and_then(|t| index.by_name(&t)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Digest, NewImage};

    fn image(seed: &str, names: &[&str]) -> ImageRecord {
        let new = NewImage { names: names.iter().map(|n| n.to_string()).collect(), ..Default::default() };
        ImageRecord::new(new, Digest::sha256_of(seed.as_bytes()), Digest::sha256_of(b"m")).unwrap()
    }

    #[test]
    fn a_name_wins_over_an_id_prefix_of_the_same_letters() {
        let settings = crate::image::registry::tests::settings();
        let mut index = ImageIndex::default();
        // Find a seed whose image id starts with "c", and store another image named c:latest.
        let by_id = (0..).map(|n| image(&n.to_string(), &[])).find(|i| i.id.hex().starts_with('c')).unwrap();
        let named = image("named", &["docker.io/library/c:latest"]);
        index.insert(by_id.clone());
        index.insert(named.clone());
        assert_eq!(find_image(&index, &settings, "c").unwrap().id, named.id);
        // An id prefix that is no name still finds its image; `sha256:` makes it an id.
        let prefix = &by_id.id.hex()[..12];
        assert_eq!(find_image(&index, &settings, prefix).unwrap().id, by_id.id);
        assert_eq!(find_image(&index, &settings, "sha256:c").unwrap().id, by_id.id);
    }
}
