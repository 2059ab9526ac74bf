//! Unpacked layers, keyed by chain id so that every image with the same layer stack below a
//! layer shares its directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Digest, Staging, Store, StoreError, digest_hex, sha256_digest, sync_dir, write_file_atomically};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LayerRecord {
    pub chain_id: String,
    pub diff_id: String,
    #[serde(default)]
    pub parent: Option<String>,
    /// Bytes of the uncompressed tar.
    pub size: u64,
    /// The blob this layer was unpacked from, kept for push and save.
    pub blob_digest: String,
    pub blob_media_type: String,
    pub blob_size: u64,
}

/// A compressed copy of a layer whose own blob is an uncompressed tar, made once by push and
/// kept beside the layer (`layers/<chain>/compressed.json`) so later pushes send the same bytes
/// (the same digests) without compressing again. Its blob lives in `blobs/` and goes with the
/// layer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BlobVariant {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

const VARIANTS_FILE: &str = "compressed.json";

/// Chain ids for a stack of diff ids, bottom first (OCI image spec: ChainID(L0) = DiffID(L0),
/// ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))).
pub fn chain_digests(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => Digest::sha256_of(format!("{parent} {diff}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// [`chain_digests`] for code still holding `String` diff ids (compatibility).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => sha256_digest(format!("{parent} {diff}").as_bytes()),
        };
        out.push(next);
    }
    out
}

impl Store {
    pub fn layer_dir(&self, chain_id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.layers_dir().join(digest_hex(chain_id)?))
    }

    /// The unpacked files of a layer (an overlay lower dir).
    pub fn layer_diff_dir(&self, chain_id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.layer_dir(chain_id)?.join("diff"))
    }

    /// Needs the image lock, shared or exclusive.
    pub fn layer(&self, chain_id: &str) -> Result<Option<LayerRecord>, StoreError> {
        let path = self.layer_dir(chain_id)?.join("layer.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt { path, reason: e.to_string() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// The compressed copies push made of this layer's blob. Needs the image lock, shared or
    /// exclusive.
    pub fn layer_variants(&self, chain_id: &str) -> Result<Vec<BlobVariant>, StoreError> {
        let path = self.layer_dir(chain_id)?.join(VARIANTS_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt { path, reason: e.to_string() })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Records a compressed copy of the layer's blob (its blob already committed). Needs the
    /// image lock, exclusive. A layer that has gone meanwhile records nothing.
    pub fn add_layer_variant(&self, chain_id: &str, variant: &BlobVariant) -> Result<(), StoreError> {
        if self.layer(chain_id)?.is_none() {
            return Ok(());
        }
        let mut variants = self.layer_variants(chain_id)?;
        variants.retain(|v| v.media_type != variant.media_type);
        variants.push(variant.clone());
        let path = self.layer_dir(chain_id)?.join(VARIANTS_FILE);
        write_file_atomically(&path, &serde_json::to_vec_pretty(&variants).expect("serializable"))
    }

    /// Every layer chain id present. Needs the image lock, shared or exclusive.
    pub fn layer_ids(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.layers_dir();
        let entries = fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        // A stray entry is not a layer: garbage collection must not trip over it.
        Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(|n| format!("sha256:{n}")))
            .filter(|d| super::is_valid_digest(d))
            .collect())
    }

    /// Moves a staged layer (its `diff/` directory already unpacked and verified) into place and
    /// writes its record. Needs the image lock, exclusive. If the layer is already present (a
    /// concurrent pull won), the staged copy is left for the staging area to drop.
    pub fn commit_layer(&self, staging: &Staging, record: &LayerRecord) -> Result<(), StoreError> {
        let dest = self.layer_dir(&record.chain_id)?;
        if self.layer(&record.chain_id)?.is_some() {
            return Ok(());
        }
        let staged = staging.path().join("layer");
        fs::create_dir_all(&staged).map_err(|e| StoreError::io(&staged, e))?;
        let staged_diff = staging.path().join("diff");
        let diff_target = staged.join("diff");
        fs::rename(&staged_diff, &diff_target).map_err(|e| StoreError::io(&diff_target, e))?;
        // layer.json is written last inside the staged directory: a layer directory without it
        // is incomplete and removed by `system check --repair`.
        write_file_atomically(&staged.join("layer.json"), &serde_json::to_vec_pretty(record).expect("serializable"))?;
        remove_incomplete_layer_dir(&dest);
        fs::rename(&staged, &dest).map_err(|e| StoreError::io(&dest, e))?;
        sync_dir(&self.layers_dir())
    }

    /// Removes a layer's directory. Needs the image lock, exclusive. The directory is first
    /// renamed into `tmp/` so a crash mid-removal leaves only sweepable garbage.
    pub fn remove_layer(&self, chain_id: &str) -> Result<(), StoreError> {
        let dir = self.layer_dir(chain_id)?;
        let trash = self.tmp_dir().join(format!("trash-{}", digest_hex(chain_id)?));
        super::remove_path(&trash);
        match fs::rename(&dir, &trash) {
            Ok(()) => {
                super::remove_path(&trash);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&dir, e)),
        }
    }
}

fn remove_incomplete_layer_dir(dir: &Path) {
    if dir.exists() && !dir.join("layer.json").exists() {
        super::remove_path(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_id_of_one_layer_is_its_diff_id() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(chain_ids(std::slice::from_ref(&d)), vec![d]);
    }

    #[test]
    fn chain_ids_are_dockers() {
        // A three-layer image (Debian's busybox-static root filesystem, a layer adding /etc/motd,
        // one whiting it out) pushed to a loopback docker-registry and pulled by Docker 20.10.24
        // (Debian's docker.io): its diff ids, and the names Docker gave the layers in
        // image/vfs/layerdb/sha256/, which are chain ids.
        let diff_ids = [
            "sha256:154878f899d5f23c21839254d95ed2612a793b94d846fe5208906462b0e119ed",
            "sha256:214b36e6efb1650807205ff3ee5d2d68335f10097bbd6237e55f9fb0c7c33c75",
            "sha256:3ba07eb0b5238de2a1dfe6c3b5d18a51b2f67d601808d6bf88b2f6efbcdb2fa0",
        ]
        .map(str::to_owned);
        let dockers = [
            "sha256:154878f899d5f23c21839254d95ed2612a793b94d846fe5208906462b0e119ed",
            "sha256:0340d279bae6acdb0b6fb30c406cc44847b09bbe4de655c99d26640f4dfb7894",
            "sha256:90f6429f47620be4048a56f3f2596b09a20a36876cd5f85ca8c5041b2f01404a",
        ];
        assert_eq!(chain_ids(&diff_ids), dockers);
    }
}
