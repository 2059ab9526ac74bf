//! Making an image out of parts, the one way `commit`, `import`, `load` and `build` all use:
//! a base image's config (or none: scratch), layers staged and committed one by one with a
//! history entry each (or an empty-layer entry for a config-only step), and a run config →
//! config bytes, manifest bytes and an image record → `ingest::commit_image`.
//!
//! Reproducible by construction: nothing here reads a clock — the caller passes every `created`
//! time ([`creation_time`] turns SOURCE_DATE_EPOCH into one) — and every document is serialised
//! canonically ([`canonical_json`]: object keys sorted at every level, no whitespace), so equal
//! inputs give equal digests.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::ImageError;
use super::ingest::{self, StagedLayer};
use super::reference::Reference;
use super::spec::{self, Compression, Descriptor, History, ImageConfig, ManifestKind, Platform, RootFs, RunConfig};
use crate::store::{LayerRecord, NewImage, Store, StoreError, chain_ids, sha256_digest};

/// The diff id of a tar with no entries (its two zero end blocks): a commit or a build step
/// that changed no file. Docker and BuildKit store no layer for it, only an empty-layer history
/// entry.
pub const EMPTY_TAR_DIFF_ID: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// Top-level config fields a child image keeps from its base besides the platform, run config,
/// layers and history (Docker's and BuildKit's rule: the rest — `container`, `docker_version`,
/// … — described the base's own making).
const INHERITED_FIELDS: [&str; 2] = ["os.version", "os.features"];

#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("{0}: an image name cannot contain a digest")]
    NameWithDigest(String),
    #[error("SOURCE_DATE_EPOCH={0:?} is not a whole number of seconds since 1970")]
    BadSourceDateEpoch(String),
    #[error("image {id}: malformed config: {reason}")]
    BadConfig { id: String, reason: String },
    #[error("image {id}: {layers} layers, but its config lists {diff_ids} diff ids; run `berth system check`")]
    LayerCountMismatch { id: String, layers: usize, diff_ids: usize },
    #[error("image {id}: layer {chain} does not match its config's diff ids; run `berth system check`")]
    LayerMismatch { id: String, chain: String },
    #[error("layer {0} is missing from the store; run `berth system check`")]
    MissingLayer(String),
}

impl From<StoreError> for AssembleError {
    fn from(e: StoreError) -> Self {
        AssembleError::Image(e.into())
    }
}

impl From<spec::SpecError> for AssembleError {
    fn from(e: spec::SpecError) -> Self {
        AssembleError::Image(e.into())
    }
}

/// Now, as RFC 3339 with nanoseconds in UTC: when a record entered the store, or an image's
/// `created` time when no SOURCE_DATE_EPOCH asks for another.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The `created` time for a new image: SOURCE_DATE_EPOCH (seconds since 1970, the
/// reproducible-builds.org convention) when the caller read one from the environment, else now.
pub fn creation_time(source_date_epoch: Option<&str>) -> Result<String, AssembleError> {
    let Some(text) = source_date_epoch.filter(|t| !t.is_empty()) else { return Ok(now()) };
    let bad = || AssembleError::BadSourceDateEpoch(text.to_owned());
    let seconds: i64 = text.trim().parse().map_err(|_| bad())?;
    let time = chrono::DateTime::from_timestamp(seconds, 0).filter(|_| seconds >= 0).ok_or_else(bad)?;
    Ok(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// `NAME[:TAG]` → the fully qualified "registry/repository:tag" berth stores.
pub fn qualify_name(input: &str, default_registry: &str) -> Result<String, AssembleError> {
    let reference = Reference::parse(input).map_err(ImageError::from)?;
    if reference.digest.is_some() {
        return Err(AssembleError::NameWithDigest(format!("{input:?}")));
    }
    Ok(reference.qualified_with(default_registry).tagged_name().expect("qualified references have a tag"))
}

/// The OCI media type of a layer blob of this compression.
pub fn oci_media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => spec::OCI_LAYER,
        Compression::Gzip => spec::OCI_LAYER_GZIP,
        Compression::Zstd => spec::OCI_LAYER_ZSTD,
    }
}

/// The OCI media type for a stored layer blob in a manifest berth writes: an OCI layer type as
/// it is, a Docker one by its compression; an unknown type is an error, never a guess.
pub fn oci_layer_media_type(stored: &str) -> Result<String, spec::SpecError> {
    let compression = spec::layer_compression(stored)?;
    if stored.starts_with("application/vnd.oci.image.layer.") {
        return Ok(stored.to_owned());
    }
    Ok(oci_media_type(compression).to_owned())
}

/// `value` as canonical JSON: compact, object keys in byte order at every level. Equal values
/// give equal bytes whatever order their maps were filled in.
pub fn canonical_json(value: &impl Serialize) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("image documents serialize");
    let mut out = Vec::with_capacity(1024);
    write_canonical(&value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key).expect("strings serialize");
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("scalars serialize"),
    }
}

/// An OCI image manifest for a config and these layer descriptors.
pub fn manifest_bytes(config: &[u8], layers: Vec<Descriptor>) -> Vec<u8> {
    canonical_json(&spec::Manifest {
        schema_version: 2,
        media_type: Some(spec::OCI_MANIFEST.to_owned()),
        config: Descriptor {
            media_type: spec::OCI_CONFIG.to_owned(),
            digest: sha256_digest(config),
            size: config.len() as u64,
            ..Default::default()
        },
        layers,
        annotations: None,
    })
}

/// An OCI image manifest for a config and its layers' blobs as the store holds them.
pub fn manifest_for_layers(config: &[u8], layers: &[LayerRecord]) -> Result<Vec<u8>, spec::SpecError> {
    let descriptors = layers
        .iter()
        .map(|l| {
            Ok(Descriptor {
                media_type: oci_layer_media_type(&l.blob_media_type)?,
                digest: l.blob_digest.clone(),
                size: l.blob_size,
                ..Default::default()
            })
        })
        .collect::<Result<Vec<_>, spec::SpecError>>()?;
    Ok(manifest_bytes(config, descriptors))
}

/// True if `bytes` is an OCI manifest of this config whose layers are exactly these blobs
/// (digest, size), so it can be kept or written out as it is.
pub fn manifest_describes(bytes: &[u8], config_digest: &str, blobs: &[(String, u64)]) -> bool {
    let Ok(ManifestKind::Image(manifest)) = spec::parse_manifest(bytes, None) else {
        return false;
    };
    let oci = manifest
        .media_type
        .as_deref()
        .map_or(manifest.config.media_type == spec::OCI_CONFIG, |m| m == spec::OCI_MANIFEST);
    oci && manifest.config.digest == config_digest
        && manifest.layers.len() == blobs.len()
        && manifest.layers.iter().zip(blobs).all(|(d, (digest, size))| &d.digest == digest && d.size == *size)
}

/// Where the sandbox mounts over a container's root (sandbox/mounts.rs). When the image lacks
/// one, an empty directory or file is made there, in the container's upper dir, to mount on.
/// Docker keeps these in an "init" layer under the container's and BuildKit removes them after
/// each step, so neither a commit nor a build step carries them.
pub const MOUNT_TARGETS: [&str; 6] = ["dev", "etc/hostname", "etc/hosts", "etc/resolv.conf", "proc", "sys"];

/// The entries of a container's upper dir to leave out of its layer
/// (`layer::pack_upper_dir`): each of [`MOUNT_TARGETS`] that is there only to be mounted
/// on — an empty directory or empty file that no lower layer has — and a directory (`etc`) that
/// holds nothing else and that no lower layer has with another mode or owner. `lowers` are the
/// image's layer directories, top first.
pub fn mount_placeholders(upper: &Path, lowers: &[PathBuf]) -> HashSet<Vec<u8>> {
    let in_lower = |path: &str| lowers.iter().find_map(|lower| fs::symlink_metadata(lower.join(path)).ok());
    let mut skip = HashSet::new();
    for target in MOUNT_TARGETS {
        let Ok(meta) = fs::symlink_metadata(upper.join(target)) else { continue };
        let empty = if meta.is_dir() {
            fs::read_dir(upper.join(target)).is_ok_and(|mut entries| entries.next().is_none())
        } else {
            meta.is_file() && meta.len() == 0
        };
        if empty && in_lower(target).is_none() {
            skip.insert(target.as_bytes().to_vec());
        }
    }
    for parent in MOUNT_TARGETS.iter().filter_map(|t| t.rsplit_once('/').map(|(p, _)| p)) {
        let (Ok(meta), Ok(entries)) = (fs::symlink_metadata(upper.join(parent)), fs::read_dir(upper.join(parent)))
        else {
            continue;
        };
        let only_placeholders = entries.into_iter().all(|entry| {
            entry.is_ok_and(|e| {
                let mut path = format!("{parent}/").into_bytes();
                path.extend_from_slice(e.file_name().as_bytes());
                skip.contains(&path)
            })
        });
        let as_below = in_lower(parent).is_none_or(|lower| {
            lower.is_dir() && (lower.mode(), lower.uid(), lower.gid()) == (meta.mode(), meta.uid(), meta.gid())
        });
        if meta.is_dir() && only_placeholders && as_below {
            skip.insert(parent.as_bytes().to_vec());
        }
    }
    skip
}

/// An image being made: its config so far and one stored layer record per diff id.
#[derive(Debug, Clone)]
pub struct Assembly {
    config: ImageConfig,
    layers: Vec<LayerRecord>,
}

impl Assembly {
    /// An image with no base (`FROM scratch`, `import`), for `platform`.
    pub fn scratch(platform: &Platform) -> Assembly {
        Assembly {
            config: ImageConfig {
                architecture: platform.architecture.clone(),
                os: platform.os.clone(),
                variant: platform.variant.clone(),
                config: Some(RunConfig::default()),
                rootfs: RootFs { kind: "layers".into(), diff_ids: Vec::new() },
                ..Default::default()
            },
            layers: Vec::new(),
        }
    }

    /// An image on top of `base` (its config, and the store's records of its layers, bottom
    /// first). The child keeps the base's platform, run config, layers and history; `created`,
    /// `author` and the base's other top-level fields are its own to set.
    pub fn from_base(id: &str, base: &ImageConfig, layers: Vec<LayerRecord>) -> Result<Assembly, AssembleError> {
        let diff_ids = &base.rootfs.diff_ids;
        if diff_ids.len() != layers.len() {
            return Err(AssembleError::LayerCountMismatch {
                id: id.to_owned(),
                layers: layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        for ((layer, diff_id), chain) in layers.iter().zip(diff_ids).zip(chain_ids(diff_ids)) {
            if layer.diff_id != *diff_id || layer.chain_id != chain {
                return Err(AssembleError::LayerMismatch { id: id.to_owned(), chain: layer.chain_id.clone() });
            }
        }
        let extra: Map<String, Value> = INHERITED_FIELDS
            .iter()
            .filter_map(|key| base.extra.get(*key).map(|v| ((*key).to_owned(), v.clone())))
            .collect();
        Ok(Assembly {
            config: ImageConfig {
                created: None,
                author: None,
                architecture: base.architecture.clone(),
                os: base.os.clone(),
                variant: base.variant.clone(),
                config: Some(base.config.clone().unwrap_or_default()),
                rootfs: RootFs { kind: "layers".into(), diff_ids: diff_ids.clone() },
                history: base.history.clone(),
                extra,
            },
            layers,
        })
    }

    /// [`Assembly::from_base`] for an image in the store, by id. Takes the image lock, shared.
    pub fn from_image(store: &Store, id: &str) -> Result<Assembly, AssembleError> {
        let _lock = store.lock_images_shared()?;
        let index = store.images()?;
        let image = index.get(id).ok_or_else(|| StoreError::ImageNotFound(id.to_owned()))?;
        let config: ImageConfig = serde_json::from_slice(&store.read_blob(&image.id)?)
            .map_err(|e| AssembleError::BadConfig { id: image.id.to_string(), reason: e.to_string() })?;
        let layers = image
            .layers
            .iter()
            .map(|chain| store.layer(chain)?.ok_or_else(|| AssembleError::MissingLayer(chain.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Assembly::from_base(&image.id, &config, layers)
    }

    /// The layers so far, bottom first (what a build step's container runs on).
    pub fn layers(&self) -> &[LayerRecord] {
        &self.layers
    }

    /// The run config (Docker's "config": Cmd, Env, …) so far.
    pub fn run_config(&self) -> &RunConfig {
        self.config.config.as_ref().expect("an assembly always has a run config")
    }

    /// The run config, to apply instructions to (`instructions::Instruction::apply`).
    pub fn run_config_mut(&mut self) -> &mut RunConfig {
        self.config.config.get_or_insert_default()
    }

    pub fn set_run_config(&mut self, config: RunConfig) {
        self.config.config = Some(config);
    }

    /// The image's author (`commit -a`, a Dockerfile's MAINTAINER); a child does not inherit
    /// its base's.
    pub fn set_author(&mut self, author: Option<&str>) {
        self.config.author = author.map(str::to_owned);
    }

    /// The chain id a layer of `diff_id` gets on top of the layers so far, and its parent's.
    pub fn chain_for(&self, diff_id: &str) -> (String, Option<String>) {
        match self.layers.last() {
            None => (diff_id.to_owned(), None),
            Some(top) => {
                let chains = chain_ids(&[top.chain_id.clone(), diff_id.to_owned()]);
                (chains[1].clone(), Some(top.chain_id.clone()))
            }
        }
    }

    /// Commits a staged layer on top of the layers so far (under the image lock, exclusive,
    /// briefly) and records it with `history` (its `empty_layer` cleared).
    pub fn add_layer(&mut self, store: &Store, staged: StagedLayer, history: History) -> Result<(), AssembleError> {
        let (chain, parent) = self.chain_for(&staged.diff_id);
        let record = staged.commit(store, &chain, parent.as_deref())?;
        self.add_stored_layer(record, history);
        Ok(())
    }

    /// A container's or a build step's changes: [`Assembly::add_layer`], except that a diff
    /// with no entries stores no layer and becomes an empty-layer history entry, as Docker's
    /// commit and BuildKit do it.
    pub fn add_changes(&mut self, store: &Store, staged: StagedLayer, history: History) -> Result<(), AssembleError> {
        if staged.diff_id == EMPTY_TAR_DIFF_ID {
            self.add_empty_layer(history);
            return Ok(());
        }
        self.add_layer(store, staged, history)
    }

    /// A layer already in the store (a cached build step), on top of the layers so far. Its
    /// record's chain id must be [`Assembly::chain_for`] its diff id.
    pub fn add_stored_layer(&mut self, record: LayerRecord, history: History) {
        debug_assert_eq!(record.chain_id, self.chain_for(&record.diff_id).0, "a layer on another parent");
        self.config.rootfs.diff_ids.push(record.diff_id.clone());
        self.layers.push(record);
        self.config.history.push(History { empty_layer: false, ..history });
    }

    /// A step that changed only the config (ENV, CMD, `commit` of an unchanged container):
    /// a history entry with `empty_layer` set and no layer.
    pub fn add_empty_layer(&mut self, history: History) {
        self.config.history.push(History { empty_layer: true, ..history });
    }

    /// The finished documents, the image `created` at `created` (RFC 3339).
    pub fn finish(mut self, created: &str) -> Result<Assembled, AssembleError> {
        self.config.created = Some(created.to_owned());
        let config = canonical_json(&self.config);
        let manifest = manifest_for_layers(&config, &self.layers)?;
        Ok(Assembled { config, manifest, layers: self.layers, created: Some(created.to_owned()) })
    }
}

/// An image ready to commit: its config and manifest bytes and its (committed) layers.
#[derive(Debug, Clone)]
pub struct Assembled {
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub layers: Vec<LayerRecord>,
    /// The config's `created`, kept in the image record for listing.
    pub created: Option<String>,
}

impl Assembled {
    /// An image whose config was made elsewhere (a loaded archive), kept byte for byte: with
    /// `manifest` when it describes exactly these stored blobs, else a new one for them.
    pub fn from_config(
        config: Vec<u8>,
        created: Option<String>,
        layers: Vec<LayerRecord>,
        manifest: Option<Vec<u8>>,
    ) -> Result<Assembled, AssembleError> {
        let blobs: Vec<(String, u64)> = layers.iter().map(|l| (l.blob_digest.clone(), l.blob_size)).collect();
        let manifest = match manifest {
            Some(bytes) if manifest_describes(&bytes, &sha256_digest(&config), &blobs) => bytes,
            _ => manifest_for_layers(&config, &layers)?,
        };
        Ok(Assembled { config, manifest, layers, created })
    }

    /// The image id: the config's digest.
    #[cfg(test)]
    pub fn id(&self) -> String {
        sha256_digest(&self.config)
    }

    /// The image to store under `names` (fully qualified).
    pub fn new_image(&self, names: Vec<String>) -> NewImage {
        NewImage {
            names,
            layers: self.layers.iter().map(|l| l.chain_id.clone()).collect(),
            size: self.layers.iter().map(|l| l.size).sum(),
            created: self.created.clone(),
            added: now(),
            ..Default::default()
        }
    }

    /// Stores the documents and the record (names moved to it from whatever image had them);
    /// returns the image id. Takes the image lock, exclusive.
    pub fn commit(self, store: &Store, names: Vec<String>) -> Result<String, AssembleError> {
        let image = self.new_image(names);
        Ok(ingest::commit_image(store, &self.manifest, &self.config, image)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ingest::stage_layer;

    fn layer(n: u8, media_type: &str, parent: Option<&LayerRecord>) -> LayerRecord {
        let diff_id = format!("sha256:{}", hex::encode([n; 32]));
        let chain_id = match parent {
            None => diff_id.clone(),
            Some(p) => chain_ids(&[p.chain_id.clone(), diff_id.clone()])[1].clone(),
        };
        LayerRecord {
            chain_id,
            diff_id,
            parent: parent.map(|p| p.chain_id.clone()),
            size: 100 * u64::from(n),
            blob_digest: format!("sha256:{}", hex::encode([n + 100; 32])),
            blob_media_type: media_type.to_owned(),
            blob_size: 10 * u64::from(n),
        }
    }

    fn layers(count: u8) -> Vec<LayerRecord> {
        let mut out: Vec<LayerRecord> = Vec::new();
        for n in 1..=count {
            let next = layer(n, spec::DOCKER_LAYER_GZIP, out.last());
            out.push(next);
        }
        out
    }

    fn amd64() -> Platform {
        Platform { architecture: "amd64".into(), os: "linux".into(), ..Default::default() }
    }

    fn history(by: &str) -> History {
        History { created: Some("2024-01-01T00:00:00Z".into()), created_by: Some(by.into()), ..Default::default() }
    }

    fn image_of(records: &[LayerRecord]) -> Assembled {
        let mut image = Assembly::scratch(&amd64());
        for record in records {
            image.add_stored_layer(record.clone(), history("RUN step"));
        }
        image.run_config_mut().cmd = Some(vec!["sh".into()]);
        image.finish("2024-01-01T00:00:00Z").unwrap()
    }

    #[test]
    fn manifest_and_config_for_zero_one_and_three_layers() {
        for count in [0, 1, 3] {
            let records = layers(count);
            let image = image_of(&records);
            let config: ImageConfig = serde_json::from_slice(&image.config).unwrap();
            assert_eq!(config.rootfs.diff_ids, records.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>());
            assert_eq!(config.history.len(), usize::from(count));
            assert_eq!((config.architecture.as_str(), config.os.as_str()), ("amd64", "linux"));
            assert_eq!(config.created.as_deref(), Some("2024-01-01T00:00:00Z"));
            let ManifestKind::Image(manifest) = spec::parse_manifest(&image.manifest, None).unwrap() else {
                panic!("an image manifest")
            };
            assert_eq!(manifest.media_type.as_deref(), Some(spec::OCI_MANIFEST));
            assert_eq!(manifest.config.digest, image.id());
            assert_eq!(manifest.config.size, image.config.len() as u64);
            assert_eq!(manifest.layers.len(), usize::from(count));
            for (descriptor, record) in manifest.layers.iter().zip(&records) {
                assert_eq!(descriptor.media_type, spec::OCI_LAYER_GZIP, "Docker's type becomes OCI's");
                assert_eq!((&descriptor.digest, descriptor.size), (&record.blob_digest, record.blob_size));
            }
            let record = image.new_image(vec!["localhost/x:1".into()]);
            assert_eq!(record.layers, records.iter().map(|l| l.chain_id.clone()).collect::<Vec<_>>());
            assert_eq!(record.size, records.iter().map(|l| l.size).sum::<u64>());
            assert!(manifest_describes(
                &image.manifest,
                &image.id(),
                &records.iter().map(|l| (l.blob_digest.clone(), l.blob_size)).collect::<Vec<_>>()
            ));
        }
    }

    #[test]
    fn unknown_layer_media_types_are_refused() {
        let mut records = layers(2);
        records[1].blob_media_type = "application/vnd.example.layer+lz4".into();
        let mut image = Assembly::scratch(&amd64());
        for record in records {
            image.add_stored_layer(record, history("RUN x"));
        }
        let error = image.finish("2024-01-01T00:00:00Z").unwrap_err().to_string();
        assert!(error.contains("unsupported layer media type"), "{error}");
        assert!(oci_layer_media_type("application/vnd.oci.image.layer.v1.tar+foo").is_err());
        assert_eq!(oci_layer_media_type(spec::OCI_LAYER_ZSTD).unwrap(), spec::OCI_LAYER_ZSTD);
        assert_eq!(oci_layer_media_type("application/vnd.docker.image.rootfs.diff.tar").unwrap(), spec::OCI_LAYER);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level_and_is_stable() {
        let mut config = RunConfig { cmd: Some(vec!["b".into(), "a".into()]), ..Default::default() };
        config.extra.insert("Zeta".into(), serde_json::json!({"y": 1, "x": [{"b": 2, "a": 1}]}));
        config.extra.insert("Alpha".into(), Value::Null);
        assert_eq!(
            String::from_utf8(canonical_json(&config)).unwrap(),
            r#"{"Alpha":null,"Cmd":["b","a"],"Zeta":{"x":[{"a":1,"b":2}],"y":1}}"#
        );
        let first = image_of(&layers(3));
        let second = image_of(&layers(3));
        assert_eq!((first.config.clone(), first.manifest.clone()), (second.config, second.manifest));
        let value: Value = serde_json::from_slice(&first.config).unwrap();
        assert_eq!(canonical_json(&value), first.config, "canonical bytes are a fixed point");
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }

    #[test]
    fn a_child_keeps_the_bases_platform_config_and_history_but_not_its_author() {
        let records = layers(2);
        let mut base = ImageConfig {
            created: Some("2020-01-01T00:00:00Z".into()),
            author: Some("base author".into()),
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: Some("v8".into()),
            config: Some(RunConfig { env: Some(vec!["A=1".into()]), ..Default::default() }),
            rootfs: RootFs { kind: "layers".into(), diff_ids: records.iter().map(|l| l.diff_id.clone()).collect() },
            history: vec![history("ADD x"), history("RUN y")],
            ..Default::default()
        };
        base.extra.insert("os.version".into(), "10.0".into());
        base.extra.insert("docker_version".into(), "20.10".into());
        let mut child = Assembly::from_base("sha256:base", &base, records.clone()).unwrap();
        child.add_empty_layer(history("ENV B=2"));
        let config: ImageConfig =
            serde_json::from_slice(&child.finish("2024-01-01T00:00:00Z").unwrap().config).unwrap();
        assert_eq!((config.architecture.as_str(), config.variant.as_deref()), ("arm64", Some("v8")));
        assert_eq!(config.author, None);
        assert_eq!(config.config.unwrap().env.unwrap(), ["A=1"]);
        assert_eq!(config.history.len(), 3);
        assert!(config.history[2].empty_layer && !config.history[1].empty_layer);
        assert_eq!(config.rootfs.diff_ids.len(), 2);
        assert_eq!(config.extra.get("os.version"), Some(&Value::from("10.0")));
        assert!(!config.extra.contains_key("docker_version"));

        let error = Assembly::from_base("sha256:base", &base, records[..1].to_vec()).unwrap_err();
        assert!(error.to_string().contains("1 layers, but its config lists 2 diff ids"), "{error}");
        let mut swapped = records.clone();
        swapped.swap(0, 1);
        assert!(Assembly::from_base("sha256:base", &base, swapped).is_err());
    }

    #[test]
    fn source_date_epoch_sets_the_creation_time() {
        assert_eq!(creation_time(Some("1700000000")).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(creation_time(Some("0")).unwrap(), "1970-01-01T00:00:00Z");
        for bad in ["yesterday", "-5", "1.5"] {
            assert!(creation_time(Some(bad)).unwrap_err().to_string().contains("SOURCE_DATE_EPOCH"));
        }
        assert!(creation_time(None).unwrap().ends_with('Z'));
    }

    #[test]
    fn the_empty_tar_diff_id_is_the_digest_of_two_zero_blocks() {
        assert_eq!(sha256_digest(&[0u8; 1024]), EMPTY_TAR_DIFF_ID);
        let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
        assert_eq!(sha256_digest(&empty), EMPTY_TAR_DIFF_ID);
    }

    #[test]
    fn mount_targets_made_for_the_sandbox_are_left_out_of_a_containers_layer() {
        let dir = tempfile::tempdir().unwrap();
        let (upper, lower) = (dir.path().join("upper"), dir.path().join("lower"));
        for d in ["upper/proc", "upper/dev", "upper/etc", "upper/data", "lower/etc", "lower/sys"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for f in ["upper/etc/hosts", "upper/etc/resolv.conf", "lower/etc/hostname"] {
            fs::write(dir.path().join(f), "").unwrap();
        }
        fs::write(upper.join("etc/hostname"), "").unwrap(); // copied up over the image's
        fs::create_dir(upper.join("sys")).unwrap(); // the image has /sys: not a placeholder
        fs::write(upper.join("dev/null"), "").unwrap(); // not empty
        let skip = mount_placeholders(&upper, std::slice::from_ref(&lower));
        let mut names: Vec<&str> = skip.iter().map(|p| std::str::from_utf8(p).unwrap()).collect();
        names.sort_unstable();
        assert_eq!(names, ["etc/hosts", "etc/resolv.conf", "proc"]);
        fs::remove_file(upper.join("etc/hostname")).unwrap();
        let skip = mount_placeholders(&upper, &[lower]);
        assert!(skip.contains(b"etc".as_slice()), "an etc/ holding only placeholders goes too");
    }

    #[test]
    fn unchanged_files_become_an_empty_layer_and_changed_ones_a_layer() {
        let dir = tempfile::tempdir().unwrap();
        let rootless = !nix::unistd::geteuid().is_root();
        let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), rootless).unwrap();
        let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, "hello", &b"hi"[..]).unwrap();
        let full = builder.into_inner().unwrap();

        let mut image = Assembly::scratch(&amd64());
        let stage = |tar: &[u8]| stage_layer(&store, store.new_staging().unwrap(), tar, spec::OCI_LAYER).unwrap();
        image.add_changes(&store, stage(&full), history("RUN write")).unwrap();
        image.add_changes(&store, stage(&empty), history("RUN true")).unwrap();
        assert_eq!(image.layers.len(), 1);
        assert_eq!(image.config.history.iter().map(|h| h.empty_layer).collect::<Vec<_>>(), [false, true]);
        let names = vec!["localhost/assembled:1".to_owned()];
        let id = image.finish("2024-01-01T00:00:00Z").unwrap().commit(&store, names.clone()).unwrap();
        let _lock = store.lock_images_shared().unwrap();
        let record = store.images().unwrap().get(&id).cloned().unwrap();
        assert_eq!(record.names, names);
        assert_eq!(record.layers, [sha256_digest(&full)]);
        assert_eq!(store.layer(&sha256_digest(&full)).unwrap().unwrap().size, full.len() as u64);
    }
}
