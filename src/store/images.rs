//! Image records and the names that point at them, kept together in one `images.json` so that
//! listing hundreds of images is a single small read.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{BadDigest, Digest, StoreError, write_file_atomically};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ImageRecord {
    /// The digest of the image config blob.
    pub id: Digest,
    /// Fully qualified "registry/repository:tag" names.
    #[serde(default)]
    pub names: Vec<String>,
    /// Fully qualified "registry/repository@sha256:…" digests this image was pulled by.
    #[serde(default)]
    pub digests: Vec<String>,
    /// The digest of the image manifest blob stored with it.
    pub manifest_digest: Digest,
    /// Chain ids of the image's layers, bottom first.
    #[serde(default)]
    pub layers: Vec<Digest>,
    /// Sum of the uncompressed layer sizes.
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub created: Option<String>,
    /// When it entered this store (RFC 3339).
    pub added: String,
}

/// An image about to be stored: everything but the digests of its config and manifest, which
/// storing them gives (`ingest::commit_image`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewImage {
    pub names: Vec<String>,
    pub digests: Vec<String>,
    /// Chain ids, bottom first. Strings while the ingest paths still hold them as strings;
    /// checked when the record is made.
    pub layers: Vec<String>,
    pub size: u64,
    pub created: Option<String>,
    pub added: String,
}

impl ImageRecord {
    /// The record for `image` once its config (`id`) and manifest blobs are stored.
    pub fn new(image: NewImage, id: Digest, manifest_digest: Digest) -> Result<ImageRecord, BadDigest> {
        Ok(ImageRecord {
            id,
            names: image.names,
            digests: image.digests,
            manifest_digest,
            layers: image.layers.iter().map(|l| Digest::parse(l)).collect::<Result<_, _>>()?,
            size: image.size,
            created: image.created,
            added: image.added,
        })
    }

    pub fn short_id(&self) -> &str {
        self.id.short()
    }

    pub fn is_dangling(&self) -> bool {
        self.names.is_empty()
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct ImageIndex {
    pub images: Vec<ImageRecord>,
}

impl ImageIndex {
    pub(super) fn read(path: &Path) -> Result<ImageIndex, StoreError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt { path: path.to_owned(), reason: e.to_string() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ImageIndex::default()),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    pub(super) fn write(&self, path: &Path) -> Result<(), StoreError> {
        write_file_atomically(path, &serde_json::to_vec(self).expect("serializable"))
    }

    pub fn get(&self, id: &str) -> Option<&ImageRecord> {
        self.images.iter().find(|i| i.id == id)
    }

    pub fn by_name(&self, full_name: &str) -> Option<&ImageRecord> {
        self.images.iter().find(|i| i.names.iter().any(|n| n == full_name))
    }

    pub fn by_digest(&self, full_digest_ref: &str) -> Option<&ImageRecord> {
        self.images.iter().find(|i| i.digests.iter().any(|d| d == full_digest_ref))
    }

    /// An image whose id starts with `prefix` (with or without "sha256:"), if exactly one does.
    pub fn by_id_prefix(&self, prefix: &str) -> Result<Option<&ImageRecord>, StoreError> {
        let hex = prefix.strip_prefix("sha256:").unwrap_or(prefix);
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let mut found = self.images.iter().filter(|i| i.id.hex().starts_with(hex));
        match (found.next(), found.next()) {
            (Some(one), None) => Ok(Some(one)),
            (Some(_), Some(_)) => Err(StoreError::Ambiguous(prefix.to_owned())),
            _ => Ok(None),
        }
    }

    /// Adds an image, or merges names and digests into the record with the same id. A name
    /// moves: any other image that had it loses it (and may become dangling).
    pub fn insert(&mut self, record: ImageRecord) {
        for name in &record.names {
            self.untag(name);
        }
        match self.images.iter_mut().find(|i| i.id == record.id) {
            Some(existing) => {
                for name in record.names {
                    if !existing.names.contains(&name) {
                        existing.names.push(name);
                    }
                }
                for digest in record.digests {
                    if !existing.digests.contains(&digest) {
                        existing.digests.push(digest);
                    }
                }
            }
            None => self.images.push(record),
        }
    }

    /// Gives the image `id` the name `full_name`, taking it from whichever image had it.
    pub fn tag(&mut self, id: &str, full_name: &str) -> Result<(), StoreError> {
        if self.get(id).is_none() {
            return Err(StoreError::ImageNotFound(id.to_owned()));
        }
        self.untag(full_name);
        let image = self.images.iter_mut().find(|i| i.id == id).expect("checked above");
        image.names.push(full_name.to_owned());
        Ok(())
    }

    /// Removes a name from whatever image has it; true if one had it.
    pub fn untag(&mut self, full_name: &str) -> bool {
        let mut found = false;
        for image in &mut self.images {
            let before = image.names.len();
            image.names.retain(|n| n != full_name);
            found |= image.names.len() != before;
        }
        found
    }

    pub fn remove(&mut self, id: &str) -> Option<ImageRecord> {
        let pos = self.images.iter().position(|i| i.id == id)?;
        Some(self.images.remove(pos))
    }

    pub fn referenced_layers(&self) -> BTreeSet<Digest> {
        self.images.iter().flat_map(|i| i.layers.iter().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id_char: char, names: &[&str]) -> ImageRecord {
        let new = NewImage { names: names.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        let id = Digest::sha256_hex(&id_char.to_string().repeat(64)).unwrap();
        ImageRecord::new(new, id, Digest::sha256_of(b"manifest")).unwrap()
    }

    #[test]
    fn inserting_an_image_moves_its_names() {
        let mut index = ImageIndex::default();
        index.insert(image('a', &["docker.io/library/x:latest"]));
        index.insert(image('b', &["docker.io/library/x:latest"]));
        assert!(index.images[0].is_dangling());
        assert_eq!(index.by_name("docker.io/library/x:latest").unwrap().id, index.images[1].id);
    }

    /// images.json exactly as berth wrote it before digests were typed (f62b865): it loads, and
    /// written back it is the same bytes.
    const OLD_IMAGES_JSON: &str = concat!(
        r#"{"images":[{"id":"sha256:6d3e4188a38af91b0c1577b9e88c53368926b2fe0e1fb985d6e8a70040520c4d","#,
        r#""names":["docker.io/library/busybox:latest"],"#,
        r#""digests":["docker.io/library/busybox@sha256:9e2bbca079387d7965c3a9cee6d0c53f4f4e63ff7637877a83c4c05f2a666112"],"#,
        r#""manifest_digest":"sha256:0b6b0ffa3b5af3a0e0cdb4a1bb1d36e9b4fc5eb24a7bc73a25a15cd28e2b68f4","#,
        r#""layers":["sha256:3d24ee258efc3bfe4066a1a9fb83febf6dc0b1548dfe896161533668281c9f4f","#,
        r#""sha256:1a2f3b8f9a4c5ad1ec3c2e4a1f1e0c3c0b8a3a0f9d8c7b6a5f4e3d2c1b0a9f8e"],"size":4493312,"#,
        r#""created":"2024-09-26T21:31:42Z","added":"2026-11-30T10:00:00.123456789Z"},"#,
        r#"{"id":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","names":[],"digests":[],"#,
        r#""manifest_digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","layers":[],"size":0,"#,
        r#""created":null,"added":"2026-11-30T10:00:01Z"}]}"#
    );

    #[test]
    fn a_store_written_before_typed_digests_loads_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.json");
        fs::write(&path, OLD_IMAGES_JSON).unwrap();
        let index = ImageIndex::read(&path).unwrap();
        assert_eq!(index.images[0].id.short(), "6d3e4188a38a");
        assert_eq!(index.images[0].layers.len(), 2);
        assert!(index.images[1].is_dangling());
        index.write(&path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), OLD_IMAGES_JSON);
        // Records without the fields older berths left out load too.
        let minimal = r#"{"images":[{"id":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","manifest_digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","added":"x"}]}"#;
        fs::write(&path, minimal).unwrap();
        assert_eq!(ImageIndex::read(&path).unwrap().images[0].layers, Vec::<Digest>::new());
    }

    #[test]
    fn a_damaged_digest_in_images_json_is_a_corrupt_record_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.json");
        fs::write(&path, OLD_IMAGES_JSON.replace("sha256:aaaa", "sha256:../a")).unwrap();
        let err = ImageIndex::read(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("invalid digest \"sha256:../a"), "{err}");
    }

    #[test]
    fn id_prefix_must_be_unique() {
        let mut index = ImageIndex::default();
        index.insert(image('a', &[]));
        let mut other = image('a', &[]);
        other.id = Digest::sha256_hex(&format!("{}b", "a".repeat(63))).unwrap();
        index.insert(other);
        assert!(matches!(index.by_id_prefix("aaaa"), Err(StoreError::Ambiguous(_))));
        assert!(index.by_id_prefix("zz").unwrap().is_none());
    }
}
