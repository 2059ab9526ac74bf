//! The JSON documents of the OCI image and distribution specs (and their Docker schema 2
//! equivalents) that berth reads and writes. Unknown fields are kept so a config round-trips.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Every manifest type berth can pull, in order of preference, for the Accept header.
pub const ACCEPTED_MANIFESTS: &[&str] =
    &[OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1];

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The runtime defaults an image carries (Docker's "config" object).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// The shell that runs shell-form commands (SHELL), `/bin/sh -c` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// ONBUILD triggers, run when another image is built on this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Go writes a nil slice as `null`.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Docker's HEALTHCHECK: `Test` is `["NONE"]`, `["CMD", argv…]` or `["CMD-SHELL", command]`;
/// durations in nanoseconds, 0 (left out) meaning Docker's default.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a manifest document turned out to be.
#[derive(Debug, Clone)]
pub enum ManifestKind {
    Image(Box<Manifest>),
    Index(Index),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error(
        "Docker schema 1 manifests are not supported (deprecated since 2017); push the image again with a current tool"
    )]
    Schema1,
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("malformed manifest: {0}")]
    Malformed(String),
    #[error("unsupported layer media type {0:?}")]
    UnsupportedLayer(String),
}

/// Classifies and parses a manifest document, using `content_type` (from the registry) when the
/// document does not name its own media type.
pub fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<ManifestKind, SpecError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| SpecError::Malformed(e.to_string()))?;
    if value.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
        return Err(SpecError::Schema1);
    }
    let media_type = value
        .get("mediaType")
        .and_then(Value::as_str)
        .or(content_type)
        .map(|m| m.split(';').next().unwrap_or(m).trim().to_owned());
    let is_index = match media_type.as_deref() {
        Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED) => return Err(SpecError::Schema1),
        Some(other) if !other.is_empty() && other != "application/json" => {
            return Err(SpecError::UnsupportedMediaType(other.to_owned()));
        }
        _ => value.get("manifests").is_some(),
    };
    if is_index {
        serde_json::from_value(value).map(ManifestKind::Index).map_err(|e| SpecError::Malformed(e.to_string()))
    } else {
        let manifest: Box<Manifest> = serde_json::from_value(value).map_err(|e| SpecError::Malformed(e.to_string()))?;
        for layer in &manifest.layers {
            layer_compression(&layer.media_type)?;
        }
        Ok(ManifestKind::Image(manifest))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn layer_compression(media_type: &str) -> Result<Compression, SpecError> {
    match media_type {
        DOCKER_LAYER_GZIP
        | OCI_LAYER_GZIP
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => Ok(Compression::Gzip),
        OCI_LAYER_ZSTD | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Ok(Compression::Zstd),
        OCI_LAYER
        | "application/vnd.docker.image.rootfs.diff.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Ok(Compression::None),
        other => Err(SpecError::UnsupportedLayer(other.to_owned())),
    }
}

/// The platform berth runs on, in OCI terms.
pub fn host_platform() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    let variant = match architecture {
        "arm64" => Some("v8".to_owned()),
        "arm" => Some("v7".to_owned()),
        _ => None,
    };
    Platform { architecture: architecture.to_owned(), os: "linux".to_owned(), variant, os_version: None }
}

impl Platform {
    /// Parses `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(s: &str) -> Option<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let valid = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid) {
            return None;
        }
        let architecture = match parts[1] {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Some(Platform {
            os: parts[0].to_owned(),
            architecture: architecture.to_owned(),
            variant: parts.get(2).map(|v| v.to_string()),
            os_version: None,
        })
    }

    /// True if an index entry's platform satisfies this wanted platform. A missing variant on
    /// either side matches; arm64's implicit variant is v8.
    pub fn matches(&self, candidate: &Platform) -> bool {
        let normal = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_owned()),
            _ => p.variant.clone(),
        };
        self.os == candidate.os
            && self.architecture == candidate.architecture
            && match (normal(self), normal(candidate)) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Picks the manifest for `wanted` from an index: an exact variant match first, then one with
/// no variant; attestation manifests (platform unknown/unknown) never match.
pub fn select_platform<'a>(index: &'a Index, wanted: &Platform) -> Option<&'a Descriptor> {
    let candidates: Vec<&Descriptor> =
        index.manifests.iter().filter(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p))).collect();
    candidates
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| p.variant == wanted.variant))
        .or_else(|| candidates.first())
        .copied()
}

/// [`select_platform`], or when `index` has no manifest for `wanted` an error naming `reference`
/// (what the index came from) and the platforms it has.
pub fn choose_platform<'a>(
    index: &'a Index,
    wanted: &Platform,
    reference: &str,
) -> Result<&'a Descriptor, super::ImageError> {
    select_platform(index, wanted).ok_or_else(|| super::ImageError::NoMatchingPlatform {
        reference: reference.to_owned(),
        wanted: wanted.to_string(),
        available: index
            .manifests
            .iter()
            .filter_map(|d| d.platform.as_ref())
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, digest_char: char) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", digest_char.to_string().repeat(64)),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(Into::into),
                os_version: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn platform_selection_honours_variant() {
        let index = Index {
            schema_version: 2,
            manifests: vec![
                entry("arm", Some("v6"), '1'),
                entry("arm", Some("v7"), '2'),
                entry("arm64", Some("v8"), '3'),
                entry("amd64", None, '4'),
            ],
            ..Default::default()
        };
        let pick =
            |p: &str| select_platform(&index, &Platform::parse(p).unwrap()).map(|d| d.digest.chars().last().unwrap());
        assert_eq!(pick("linux/arm/v7"), Some('2'));
        assert_eq!(pick("linux/arm/v6"), Some('1'));
        assert_eq!(pick("linux/arm64"), Some('3'));
        assert_eq!(pick("linux/amd64"), Some('4'));
        assert_eq!(pick("linux/s390x"), None);
    }

    #[test]
    fn schema1_is_refused_clearly() {
        let doc = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        assert_eq!(parse_manifest(doc, None).unwrap_err(), SpecError::Schema1);
    }

    #[test]
    fn manifest_kinds_are_told_apart() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(parse_manifest(index, Some(OCI_INDEX)), Ok(ManifestKind::Index(_))));
        let image = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{}","size":2}},"layers":[]}}"#,
            "a".repeat(64)
        );
        assert!(matches!(parse_manifest(image.as_bytes(), None), Ok(ManifestKind::Image(_))));
        assert!(parse_manifest(b"not json", None).is_err());
    }
}
