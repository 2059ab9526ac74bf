//! `commit`: a container's upper dir becomes a new layer on top of its image's layers, and a new
//! image of them gets the container's configuration (with `--change` edits) and a history entry.
//! A running container is frozen while its upper dir is packed, as Docker pauses it.

use std::fs::File;
use std::io::BufWriter;

use super::lifecycle::cgroup_of;
use super::record::{Container, Status};
use super::store::{ContainerError, refresh};
use crate::image::ImageError;
use crate::image::archive::{ArchiveError, apply_change};
use crate::image::ingest::{self, unpack_options};
use crate::image::layer;
use crate::image::spec::{self, Descriptor, History, ImageConfig, Manifest, RunConfig};
use crate::store::now_rfc3339;
use crate::store::{ImageRecord, LayerRecord, Store, StoreError, chain_ids, sha256_digest};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

pub struct CommitRequest<'a> {
    /// Dockerfile instructions applied to the new image's config.
    pub changes: &'a [String],
    pub message: Option<&'a str>,
    pub author: Option<&'a str>,
    /// The fully qualified name to give the image.
    pub name: Option<String>,
    /// Freeze a running container while its changes are packed.
    pub pause: bool,
}

/// The new image's runtime defaults: the container's configuration (which already holds what
/// it took from its image), the image's ports and volumes, then the `changes`.
pub fn committed_run_config(
    container: &Container,
    image: &RunConfig,
    changes: &[String],
) -> Result<RunConfig, ArchiveError> {
    let c = &container.config;
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let mut config = RunConfig {
        user: (!c.user.is_empty()).then(|| c.user.clone()),
        env: some(&c.env),
        entrypoint: some(&c.entrypoint),
        cmd: some(&c.cmd),
        working_dir: (c.working_dir != "/" || image.working_dir.is_some()).then(|| c.working_dir.clone()),
        labels: (!c.labels.is_empty()).then(|| c.labels.clone()),
        stop_signal: image.stop_signal.clone().or_else(|| (c.stop_signal != "SIGTERM").then(|| c.stop_signal.clone())),
        ..image.clone()
    };
    for change in changes {
        apply_change(&mut config, change)?;
    }
    Ok(config)
}

/// An OCI layer media type for a stored layer blob.
fn oci_media_type(stored: &str) -> String {
    if stored.starts_with("application/vnd.oci.image.layer.") {
        return stored.to_owned();
    }
    match spec::layer_compression(stored) {
        Ok(spec::Compression::Gzip) => spec::OCI_LAYER_GZIP,
        Ok(spec::Compression::Zstd) => spec::OCI_LAYER_ZSTD,
        _ => spec::OCI_LAYER,
    }
    .to_owned()
}

fn manifest_bytes(config: &[u8], layers: &[LayerRecord]) -> Vec<u8> {
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(spec::OCI_MANIFEST.to_owned()),
        config: Descriptor {
            media_type: spec::OCI_CONFIG.to_owned(),
            digest: sha256_digest(config),
            size: config.len() as u64,
            ..Default::default()
        },
        layers: layers
            .iter()
            .map(|l| Descriptor {
                media_type: oci_media_type(&l.blob_media_type),
                digest: l.blob_digest.clone(),
                size: l.blob_size,
                ..Default::default()
            })
            .collect(),
        annotations: None,
    };
    serde_json::to_vec(&manifest).expect("serializable")
}

/// Thaws a container frozen for the commit when dropped, whatever happens meanwhile.
struct Frozen(Option<crate::sandbox::cgroup::Cgroup>);

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Some(cgroup) = &self.0 {
            let _ = cgroup.thaw();
        }
    }
}

/// Freezes a running (not paused) container if it has a cgroup that can be frozen.
fn freeze(store: &Store, container: &Container) -> Frozen {
    let mut current = container.clone();
    if refresh(store, &mut current) != Status::Running {
        return Frozen(None);
    }
    match cgroup_of(&current) {
        Some(cgroup) if cgroup.freeze().is_ok() => Frozen(Some(cgroup)),
        _ => Frozen(None),
    }
}

/// Packs the container's upper dir into a gzipped layer file in `staging`.
fn pack_changes(
    store: &Store,
    container: &Container,
    staging: &crate::store::Staging,
    pause: bool,
) -> Result<std::path::PathBuf, CommitError> {
    let path = staging.path().join("layer.tar.gz");
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| CommitError::Io { what, source }
    };
    let file = File::create(&path).map_err(io("creating the layer file"))?;
    let mut gz = flate2::write::GzEncoder::new(BufWriter::with_capacity(1 << 20, file), flate2::Compression::fast());
    {
        let _frozen = if pause { freeze(store, container) } else { Frozen(None) };
        layer::pack_upper_dir(&store.container_dir(&container.id).join("upper"), &mut gz, &unpack_options(store))
            .map_err(ImageError::from)?;
    }
    let file = gz
        .finish()
        .map_err(io("compressing the layer"))?
        .into_inner()
        .map_err(|e| CommitError::Io { what: "writing the layer".into(), source: e.into_error() })?;
    file.sync_all().map_err(io("writing the layer"))?;
    Ok(path)
}

/// Commits `container` as a new image; returns its id ("sha256:…"). Takes the ingest lock
/// (shared) for the whole of it, the image lock briefly to read and to commit.
pub fn commit(store: &Store, container: &Container, request: &CommitRequest) -> Result<String, CommitError> {
    let _ingest = store.lock_ingest_shared()?;
    let image_config: ImageConfig = {
        let _lock = store.lock_images_shared()?;
        let index = store.images()?;
        let image = index
            .get(&container.config.image_id)
            .cloned()
            .ok_or_else(|| StoreError::ImageNotFound(container.config.image_id.clone()))?;
        serde_json::from_slice(&store.read_blob(&image.id)?)
            .map_err(|e| CommitError::Invalid(format!("reading the config of image {}: {e}", image.id)))?
    };
    let run_config =
        committed_run_config(container, &image_config.config.clone().unwrap_or_default(), request.changes)?;

    let packed = store.new_staging()?;
    let layer_file = pack_changes(store, container, &packed, request.pause)?;
    let reader =
        File::open(&layer_file).map_err(|source| CommitError::Io { what: "reading the layer".into(), source })?;
    let staged = ingest::stage_layer(store, store.new_staging()?, reader, spec::OCI_LAYER_GZIP)?;
    let mut diff_ids = image_config.rootfs.diff_ids.clone();
    diff_ids.push(staged.diff_id.clone());
    let chains = chain_ids(&diff_ids);
    let chain = chains.last().cloned().expect("one layer at least");
    let parent = chains.len().checked_sub(2).map(|i| chains[i].clone());
    staged.commit(store, &chain, parent.as_deref())?;
    drop(packed);

    let layers: Vec<LayerRecord> = {
        let _lock = store.lock_images_shared()?;
        chains
            .iter()
            .map(|c| store.layer(c)?.ok_or_else(|| StoreError::ImageNotFound(format!("layer {c}"))))
            .collect::<Result<_, _>>()?
    };
    let created = now_rfc3339();
    let mut config = image_config;
    config.created = Some(created.clone());
    if let Some(author) = request.author {
        config.author = Some(author.to_owned());
    }
    config.config = Some(run_config);
    config.rootfs.diff_ids = diff_ids;
    config.history.push(History {
        created: Some(created.clone()),
        created_by: Some(container.config.argv().join(" ")),
        author: request.author.map(str::to_owned),
        comment: request.message.map(str::to_owned),
        empty_layer: false,
    });
    let config_bytes = serde_json::to_vec(&config).expect("serializable");
    let manifest = manifest_bytes(&config_bytes, &layers);
    let record = ImageRecord {
        names: request.name.iter().cloned().collect(),
        layers: chains,
        size: layers.iter().map(|l| l.size).sum(),
        created: Some(created),
        added: now_rfc3339(),
        ..Default::default()
    };
    Ok(ingest::commit_image(store, &manifest, &config_bytes, record)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::ContainerConfig;

    #[test]
    fn the_new_config_is_the_containers_with_changes() {
        let container = Container {
            config: ContainerConfig {
                env: vec!["PATH=/bin".into(), "A=1".into()],
                cmd: vec!["sh".into()],
                working_dir: "/".into(),
                stop_signal: "SIGTERM".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let image =
            RunConfig { volumes: Some([("/v".to_string(), serde_json::json!({}))].into()), ..Default::default() };
        let config =
            committed_run_config(&container, &image, &["CMD [\"echo\",\"hi\"]".into(), "ENV B=2".into()]).unwrap();
        assert_eq!(config.cmd, Some(vec!["echo".to_string(), "hi".to_string()]));
        assert_eq!(config.env, Some(vec!["PATH=/bin".to_string(), "A=1".to_string(), "B=2".to_string()]));
        assert_eq!(config.working_dir, None);
        assert_eq!(config.stop_signal, None);
        assert!(config.volumes.unwrap().contains_key("/v"));
        assert!(committed_run_config(&container, &image, &["BOGUS x".into()]).is_err());
    }

    #[test]
    fn docker_layer_types_become_oci_ones() {
        assert_eq!(oci_media_type(spec::DOCKER_LAYER_GZIP), spec::OCI_LAYER_GZIP);
        assert_eq!(oci_media_type(spec::OCI_LAYER_ZSTD), spec::OCI_LAYER_ZSTD);
    }
}
