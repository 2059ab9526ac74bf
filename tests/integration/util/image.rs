//! Images built in memory: layers, configs, manifests, multi-platform indexes, OCI layouts.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{TarEntry, build_tar, busybox_rootfs, entries_from_dir};

/// "sha256:<hex>" of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Which manifest format an image uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// application/vnd.oci.image.manifest.v1+json
    Oci,
    /// application/vnd.docker.distribution.manifest.v2+json
    Docker,
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// A layer to build: its tar entries and compression.
#[derive(Clone, Debug)]
pub struct LayerSpec {
    pub entries: Vec<TarEntry>,
    pub compression: Compression,
}

impl LayerSpec {
    pub fn new(entries: Vec<TarEntry>, compression: Compression) -> LayerSpec {
        LayerSpec { entries, compression }
    }

    /// A layer holding everything under `dir`.
    pub fn from_dir(dir: &Path, compression: Compression) -> LayerSpec {
        LayerSpec { entries: entries_from_dir(dir), compression }
    }
}

/// A built layer: the blob as pushed, its media type, and the digest of its tar (the diff id).
#[derive(Clone, Debug)]
pub struct BuiltLayer {
    pub blob: Vec<u8>,
    pub digest: String,
    pub diff_id: String,
    pub media_type: String,
    /// Uncompressed tar size.
    pub tar_size: u64,
}

/// A built image: its blobs and manifest, in memory.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub layers: Vec<BuiltLayer>,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub manifest_media_type: &'static str,
    /// "os/arch[/variant]"
    pub platform: String,
}

impl BuiltImage {
    /// The image id berth should report: the config digest.
    pub fn id(&self) -> &str {
        &self.config_digest
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// Chain ids of the layers (the store's layer directory names), bottom first.
    pub fn chain_ids(&self) -> Vec<String> {
        chain_ids(&self.diff_ids())
    }

    /// Writes an OCI image layout (oci-layout, index.json, blobs/sha256/…) into `dir` with this
    /// image tagged `tag` (`org.opencontainers.image.ref.name`).
    pub fn write_oci_layout(&self, dir: &Path, tag: &str) {
        write_layout_blobs(dir, std::slice::from_ref(self));
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [self.descriptor_with(Some(tag))],
        });
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).expect("json")).expect("index.json");
    }

    fn descriptor_with(&self, tag: Option<&str>) -> Value {
        let mut d = json!({
            "mediaType": self.manifest_media_type,
            "digest": self.manifest_digest,
            "size": self.manifest.len(),
            "platform": platform_json(&self.platform),
        });
        if let Some(tag) = tag {
            d["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
        }
        d
    }
}

/// Chain ids as the OCI spec defines them: chain(0) = diff(0), chain(n) = sha256(chain(n-1) + " " + diff(n)).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256_digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

fn platform_json(platform: &str) -> Value {
    let mut parts = platform.split('/');
    let os = parts.next().unwrap_or("linux");
    let arch = parts.next().unwrap_or("amd64");
    let mut v = json!({ "os": os, "architecture": arch });
    if let Some(variant) = parts.next() {
        v["variant"] = json!(variant);
    }
    v
}

/// The platform of the machine the tests run on, as an image would declare it.
pub fn host_platform() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        "arm" => "linux/arm/v7",
        "riscv64" => "linux/riscv64",
        "powerpc64" => "linux/ppc64le",
        "s390x" => "linux/s390x",
        other => panic!("unknown host architecture {other}"),
    }
}

fn write_layout_blobs(dir: &Path, images: &[BuiltImage]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("creating blobs dir");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let write = |digest: &str, bytes: &[u8]| {
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).expect("writing blob");
    };
    for image in images {
        for layer in &image.layers {
            write(&layer.digest, &layer.blob);
        }
        write(&image.config_digest, &image.config);
        write(&image.manifest_digest, &image.manifest);
    }
}

/// Builds an image in memory: layers (tar entries or directories, each with its compression),
/// a config (platform, Cmd, Env, Labels, history) and a manifest in OCI or Docker schema 2
/// format. Layer and config bytes are deterministic: the same builder gives the same digests.
#[derive(Clone, Debug)]
pub struct OciImageBuilder {
    layers: Vec<LayerSpec>,
    format: Format,
    platform: String,
    cmd: Vec<String>,
    env: Vec<String>,
    labels: BTreeMap<String, String>,
    created: String,
    /// Extra config text so otherwise identical images get distinct ids.
    comment: String,
}

impl Default for OciImageBuilder {
    fn default() -> Self {
        OciImageBuilder::new()
    }
}

impl OciImageBuilder {
    /// An empty OCI-format image for the host platform, Cmd ["sh"].
    pub fn new() -> OciImageBuilder {
        OciImageBuilder {
            layers: Vec::new(),
            format: Format::Oci,
            platform: host_platform().to_owned(),
            cmd: vec!["sh".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            labels: BTreeMap::new(),
            created: "2024-01-02T03:04:05Z".into(),
            comment: String::new(),
        }
    }

    /// The usual test image: one gzip layer with [`busybox_rootfs`].
    pub fn busybox() -> OciImageBuilder {
        let dir = tempfile::tempdir().expect("temp dir");
        busybox_rootfs(dir.path());
        OciImageBuilder::new().layer(LayerSpec::from_dir(dir.path(), Compression::Gzip))
    }

    pub fn layer(mut self, layer: LayerSpec) -> Self {
        self.layers.push(layer);
        self
    }

    /// Adds a layer from tar entries.
    pub fn layer_entries(self, entries: Vec<TarEntry>, compression: Compression) -> Self {
        self.layer(LayerSpec::new(entries, compression))
    }

    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// "os/arch[/variant]", e.g. "linux/arm/v7".
    pub fn platform(mut self, platform: &str) -> Self {
        self.platform = platform.to_owned();
        self
    }

    pub fn cmd(mut self, cmd: &[&str]) -> Self {
        self.cmd = cmd.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn env(mut self, var: &str) -> Self {
        self.env.push(var.to_owned());
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn created(mut self, created: &str) -> Self {
        self.created = created.to_owned();
        self
    }

    /// Sets the history comment, which also makes the image id distinct.
    pub fn comment(mut self, comment: &str) -> Self {
        self.comment = comment.to_owned();
        self
    }

    /// Builds the layers, config and manifest.
    pub fn build(&self) -> BuiltImage {
        let layers: Vec<BuiltLayer> = self.layers.iter().map(|l| build_layer(l, self.format)).collect();
        let platform = platform_json(&self.platform);
        let history: Vec<Value> = layers
            .iter()
            .enumerate()
            .map(|(i, _)| {
                json!({
                    "created": self.created,
                    "created_by": format!("/bin/sh -c #(nop) layer {i} {}", self.comment),
                    "comment": self.comment,
                })
            })
            .collect();
        let mut config = json!({
            "created": self.created,
            "architecture": platform["architecture"],
            "os": platform["os"],
            "config": {
                "Cmd": self.cmd,
                "Env": self.env,
                "Labels": self.labels,
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            },
            "history": history,
        });
        if let Some(variant) = platform.get("variant") {
            config["variant"] = variant.clone();
        }
        let config = serde_json::to_vec(&config).expect("json");
        let config_digest = sha256_digest(&config);
        let (manifest_media_type, config_media_type) = match self.format {
            Format::Oci => (OCI_MANIFEST, OCI_CONFIG),
            Format::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG),
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_media_type,
            "config": { "mediaType": config_media_type, "digest": config_digest, "size": config.len() },
            "layers": layers.iter().map(|l| json!({
                "mediaType": l.media_type,
                "digest": l.digest,
                "size": l.blob.len(),
            })).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec_pretty(&manifest).expect("json");
        BuiltImage {
            layers,
            config,
            config_digest,
            manifest_digest: sha256_digest(&manifest),
            manifest,
            manifest_media_type,
            platform: self.platform.clone(),
        }
    }
}

/// Tars, compresses and hashes one layer.
pub fn build_layer(spec: &LayerSpec, format: Format) -> BuiltLayer {
    let tar = build_tar(&spec.entries);
    let diff_id = sha256_digest(&tar);
    let blob = compress(&tar, spec.compression);
    let media_type = match (format, spec.compression) {
        (Format::Docker, Compression::Gzip) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        (Format::Docker, Compression::None) => "application/vnd.docker.image.rootfs.diff.tar",
        (Format::Docker, Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (Format::Oci, Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
        (Format::Oci, Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (Format::Oci, Compression::None) => "application/vnd.oci.image.layer.v1.tar",
    };
    BuiltLayer {
        digest: sha256_digest(&blob),
        blob,
        diff_id,
        media_type: media_type.to_owned(),
        tar_size: tar.len() as u64,
    }
}

/// `data` compressed as asked (gzip level 6 / zstd level 3), deterministic.
pub fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            enc.write_all(data).expect("gzip");
            enc.finish().expect("gzip")
        }
        Compression::Zstd => zstd::stream::encode_all(data, 3).expect("zstd"),
    }
}

/// A multi-platform index (OCI image index or Docker manifest list) over several images.
#[derive(Clone, Debug)]
pub struct BuiltIndex {
    pub images: Vec<BuiltImage>,
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: &'static str,
}

impl BuiltIndex {
    /// An index of `images`, each described with its platform. Docker format when every image
    /// is a Docker schema 2 image, OCI otherwise.
    pub fn new(images: Vec<BuiltImage>) -> BuiltIndex {
        let docker = images.iter().all(|i| i.manifest_media_type == DOCKER_MANIFEST);
        let media_type = if docker { DOCKER_LIST } else { OCI_INDEX };
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": images.iter().map(|i| i.descriptor_with(None)).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec_pretty(&index).expect("json");
        BuiltIndex { digest: sha256_digest(&bytes), bytes, images, media_type }
    }

    /// Three distinct small busybox-less images for linux/amd64, linux/arm64 and linux/arm/v7,
    /// each with a file /platform naming its platform.
    pub fn three_platforms(format: Format) -> BuiltIndex {
        BuiltIndex::of_platforms(format, &["linux/amd64", "linux/arm64", "linux/arm/v7"])
    }

    /// An index of one small image per platform ("os/arch[/variant]"), each with a file
    /// /platform naming its platform.
    pub fn of_platforms(format: Format, platforms: &[&str]) -> BuiltIndex {
        let images = platforms
            .iter()
            .map(|p| {
                OciImageBuilder::new()
                    .format(format)
                    .platform(p)
                    .layer_entries(vec![TarEntry::file("platform", format!("{p}\n"))], Compression::Gzip)
                    .build()
            })
            .collect();
        BuiltIndex::new(images)
    }

    /// The image for `platform` ("os/arch[/variant]").
    pub fn image_for(&self, platform: &str) -> &BuiltImage {
        self.images.iter().find(|i| i.platform == platform).unwrap_or_else(|| panic!("no image for {platform}"))
    }

    /// Writes an OCI image layout in `dir` whose index.json points at this index (tagged `tag`).
    pub fn write_oci_layout(&self, dir: &Path, tag: &str) {
        write_layout_blobs(dir, &self.images);
        let blobs = dir.join("blobs/sha256");
        std::fs::write(blobs.join(self.digest.trim_start_matches("sha256:")), &self.bytes).expect("index blob");
        let top = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{
                "mediaType": self.media_type,
                "digest": self.digest,
                "size": self.bytes.len(),
                "annotations": { "org.opencontainers.image.ref.name": tag },
            }],
        });
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&top).expect("json")).expect("index.json");
    }
}
