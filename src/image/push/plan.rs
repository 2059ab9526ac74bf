//! What one image's push sends: each layer's blob (the stored compressed blob as it is; an
//! uncompressed tar compressed once and remembered), the config, and the manifest — the stored
//! bytes exactly when nothing about them changes, else the stored manifest with its layer
//! descriptors and media types rewritten, as canonical JSON.

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{Format, PushError};
use crate::image::ImageError;
use crate::image::assemble::canonical_json;
use crate::image::spec::{self, Compression};
use crate::store::{BlobVariant, Digest, ImageRecord, LayerRecord, Store, StoreError};

pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// One blob to send.
#[derive(Debug, Clone)]
pub struct BlobToPush {
    pub digest: Digest,
    pub size: u64,
    pub path: PathBuf,
    /// The short id Docker shows for it: the layer's diff id (the config: none).
    pub diff_id: Option<String>,
    /// What its mount sources are filed under: a layer's chain id, the config's image id.
    pub mount_key: Digest,
}

/// Everything one image's push sends.
#[derive(Debug)]
pub struct Plan {
    pub layers: Vec<BlobToPush>,
    pub config: BlobToPush,
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
}

/// Reads the image's records and decides what to send. Compresses (once, remembered) any
/// layer whose blob is an uncompressed tar. Takes the image lock, shared to read and briefly
/// exclusive to record a compressed copy.
pub fn plan(
    store: &Store,
    image: &ImageRecord,
    format: Option<Format>,
    compression: Compression,
) -> Result<Plan, PushError> {
    let (manifest_bytes, config_bytes, layers) = {
        let _lock = store.lock_images_shared().map_err(ImageError::from)?;
        let manifest = store.read_blob(&image.manifest_digest).map_err(ImageError::from)?;
        let config = store.read_blob(&image.id).map_err(ImageError::from)?;
        let mut layers = Vec::new();
        for chain in &image.layers {
            let record = store
                .layer(chain)
                .map_err(ImageError::from)?
                .ok_or_else(|| ImageError::LayerVanished { chain: chain.to_string() })?;
            let variants = store.layer_variants(chain).map_err(ImageError::from)?;
            layers.push((record, variants));
        }
        (manifest, config, layers)
    };
    let mut manifest: Value = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| PushError::BadManifest { image: image.id.to_string(), detail: e.to_string() })?;
    let stored_format = format_of(&manifest);
    let target = format.unwrap_or(stored_format);
    let descriptors = manifest.get("layers").and_then(Value::as_array).map_or(0, Vec::len);
    if descriptors != layers.len() {
        return Err(PushError::BadManifest {
            image: image.id.to_string(),
            detail: format!("it lists {descriptors} layers, the image has {}", layers.len()),
        });
    }

    let mut blobs = Vec::new();
    let mut changed = target != stored_format;
    for (i, (record, variants)) in layers.iter().enumerate() {
        // Refused before anything is compressed: the push would fail after the work.
        let stored = spec::layer_compression(&record.blob_media_type).map_err(ImageError::from)?;
        if target == Format::V2s2
            && (stored == Compression::Zstd || stored == Compression::None && compression == Compression::Zstd)
        {
            return Err(PushError::ZstdInV2s2 { diff_id: record.diff_id.clone() });
        }
        let (digest, media_type, size) = blob_for(store, record, variants, compression)?;
        let media_type = layer_media_type(&media_type, target, &record.diff_id)?;
        let descriptor = &mut manifest["layers"][i];
        let same = descriptor["digest"] == digest.as_str()
            && descriptor["size"] == size
            && (target == stored_format || descriptor["mediaType"] == media_type.as_str());
        if !same {
            changed = true;
            descriptor["digest"] = digest.as_str().into();
            descriptor["size"] = size.into();
            descriptor["mediaType"] = media_type.into();
        }
        blobs.push(BlobToPush {
            path: store.blob_path(&digest).map_err(ImageError::from)?,
            digest,
            size,
            diff_id: Some(record.diff_id.clone()),
            mount_key: Digest::parse(&record.chain_id).map_err(|e| ImageError::Store(e.into()))?,
        });
    }
    let config = BlobToPush {
        digest: image.id.clone(),
        size: config_bytes.len() as u64,
        path: store.blob_path(&image.id).map_err(ImageError::from)?,
        diff_id: None,
        mount_key: image.id.clone(),
    };
    let manifest_media_type = match target {
        Format::Oci => spec::OCI_MANIFEST,
        Format::V2s2 => spec::DOCKER_MANIFEST,
    };
    if !changed {
        return Ok(Plan {
            layers: blobs,
            config,
            manifest: manifest_bytes,
            manifest_media_type: manifest_media_type.into(),
        });
    }
    if target != stored_format {
        manifest["mediaType"] = manifest_media_type.into();
        manifest["config"]["mediaType"] = match target {
            Format::Oci => spec::OCI_CONFIG,
            Format::V2s2 => DOCKER_CONFIG,
        }
        .into();
    }
    Ok(Plan {
        layers: blobs,
        config,
        manifest: canonical_json(&manifest),
        manifest_media_type: manifest_media_type.into(),
    })
}

/// The format of a stored manifest: its mediaType, else its config's (OCI manifests may omit
/// the top-level one).
fn format_of(manifest: &Value) -> Format {
    let media_type = manifest.get("mediaType").and_then(Value::as_str);
    let config = manifest.pointer("/config/mediaType").and_then(Value::as_str);
    match media_type.or(config) {
        Some(spec::DOCKER_MANIFEST | DOCKER_CONFIG) => Format::V2s2,
        _ => Format::Oci,
    }
}

/// The media type of a layer blob in a manifest of `format`.
fn layer_media_type(stored: &str, format: Format, diff_id: &str) -> Result<String, PushError> {
    let compression = spec::layer_compression(stored).map_err(ImageError::from)?;
    let same_family = match format {
        Format::Oci => stored.starts_with("application/vnd.oci.image.layer."),
        Format::V2s2 => stored.starts_with("application/vnd.docker.image.rootfs."),
    };
    if same_family {
        return Ok(stored.to_owned());
    }
    Ok(match (format, compression) {
        (Format::Oci, c) => crate::image::assemble::oci_media_type(c).to_owned(),
        (Format::V2s2, Compression::Gzip) => spec::DOCKER_LAYER_GZIP.to_owned(),
        (Format::V2s2, Compression::None) => DOCKER_LAYER.to_owned(),
        (Format::V2s2, Compression::Zstd) => return Err(PushError::ZstdInV2s2 { diff_id: diff_id.to_owned() }),
    })
}

/// The blob to send for a layer: its own when compressed; for a tar, the remembered compressed
/// copy, made now if there is none.
fn blob_for(
    store: &Store,
    record: &LayerRecord,
    variants: &[BlobVariant],
    compression: Compression,
) -> Result<(Digest, String, u64), PushError> {
    let own = || Digest::parse(&record.blob_digest).map_err(|e| ImageError::Store(StoreError::from(e)));
    let stored = spec::layer_compression(&record.blob_media_type).map_err(ImageError::from)?;
    if stored != Compression::None || compression == Compression::None {
        return Ok((own()?, record.blob_media_type.clone(), record.blob_size));
    }
    let wanted = crate::image::assemble::oci_media_type(compression);
    if let Some(v) = variants.iter().find(|v| v.media_type == wanted)
        && let Ok(digest) = Digest::parse(&v.digest)
        && store.has_blob(&digest)
    {
        return Ok((digest, v.media_type.clone(), v.size));
    }
    let variant = compress(store, &own()?, &record.chain_id, compression)?;
    let digest = Digest::parse(&variant.digest).map_err(|e| ImageError::Store(e.into()))?;
    Ok((digest, variant.media_type, variant.size))
}

/// Compresses the tar blob `source` into a new blob and records it as the layer's copy.
fn compress(store: &Store, source: &Digest, chain: &str, compression: Compression) -> Result<BlobVariant, PushError> {
    let staging = store.new_staging().map_err(ImageError::from)?;
    let staged = staging.path().join("blob");
    let input_path = store.blob_path(source).map_err(ImageError::from)?;
    let io = |what: &str, e: std::io::Error| ImageError::io(format!("{what} {}", input_path.display()), e);
    let mut input = std::fs::File::open(&input_path).map_err(|e| io("reading", e))?;
    let output = std::fs::File::create(&staged).map_err(|e| io("compressing", e))?;
    let mut hashing = HashingWriter { inner: output, hasher: Sha256::new(), size: 0 };
    match compression {
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(&mut hashing, flate2::Compression::default());
            std::io::copy(&mut input, &mut encoder).map_err(|e| io("compressing", e))?;
            encoder.finish().map_err(|e| io("compressing", e))?;
        }
        Compression::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(&mut hashing, 3).map_err(|e| io("compressing", e))?;
            std::io::copy(&mut input, &mut encoder).map_err(|e| io("compressing", e))?;
            encoder.finish().map_err(|e| io("compressing", e))?;
        }
        Compression::None => unreachable!("only compressed copies are made"),
    }
    let HashingWriter { inner, hasher, size } = hashing;
    inner.sync_all().map_err(|e| io("compressing", e))?;
    let digest = Digest::from_sha256_hasher(hasher);
    let variant = BlobVariant {
        digest: digest.to_string(),
        media_type: crate::image::assemble::oci_media_type(compression).to_owned(),
        size,
    };
    let _lock = store.lock_images_exclusive().map_err(ImageError::from)?;
    store.commit_blob(&staged, &digest).map_err(ImageError::from)?;
    store.add_layer_variant(chain, &variant).map_err(ImageError::from)?;
    Ok(variant)
}

struct HashingWriter {
    inner: std::fs::File,
    hasher: Sha256,
    size: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_says_its_format_by_its_media_type_or_its_configs() {
        let docker = serde_json::json!({"mediaType": spec::DOCKER_MANIFEST, "config": {"mediaType": DOCKER_CONFIG}});
        assert_eq!(format_of(&docker), Format::V2s2);
        let oci_without_type = serde_json::json!({"config": {"mediaType": spec::OCI_CONFIG}});
        assert_eq!(format_of(&oci_without_type), Format::Oci);
        let docker_without_type = serde_json::json!({"config": {"mediaType": DOCKER_CONFIG}});
        assert_eq!(format_of(&docker_without_type), Format::V2s2);
    }

    #[test]
    fn layer_media_types_follow_the_format_and_zstd_has_no_v2s2_type() {
        let t = |stored, format| layer_media_type(stored, format, "sha256:x");
        assert_eq!(t(spec::OCI_LAYER_GZIP, Format::V2s2).unwrap(), spec::DOCKER_LAYER_GZIP);
        assert_eq!(t(spec::OCI_LAYER, Format::V2s2).unwrap(), DOCKER_LAYER);
        assert_eq!(t(spec::DOCKER_LAYER_GZIP, Format::Oci).unwrap(), spec::OCI_LAYER_GZIP);
        assert_eq!(t(spec::DOCKER_LAYER_GZIP, Format::V2s2).unwrap(), spec::DOCKER_LAYER_GZIP);
        let nondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
        assert_eq!(t(nondistributable, Format::Oci).unwrap(), nondistributable, "an OCI type stays as it is");
        assert!(matches!(t(spec::OCI_LAYER_ZSTD, Format::V2s2), Err(PushError::ZstdInV2s2 { .. })));
        assert!(t("application/vnd.example+lz4", Format::Oci).is_err());
    }

    #[test]
    fn push_errors_print_each_cause_once() {
        let error = PushError::Registry {
            what: "pushing layer 3f057380db1e".into(),
            source: crate::image::registry::RegistryError::Transport {
                registry: "127.0.0.1:5000".into(),
                detail: "connection refused".into(),
                retryable: true,
            },
        };
        crate::image::tests::assert_prints_once(&error);
        crate::image::tests::assert_prints_once(&PushError::Image(ImageError::NoSearchRegistries));
    }
}
