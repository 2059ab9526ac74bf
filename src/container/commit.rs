//! `commit`: a container's upper dir becomes a new layer on top of its image's layers, and a new
//! image of them gets the container's configuration (with `--change` edits) and a history entry.
//! A running container is frozen while its upper dir is packed, as Docker pauses it.

use super::index::{ContainerError, refresh};
use super::lifecycle::cgroup_of;
use super::record::{Container, Status};
use crate::image::ImageError;
use crate::image::assemble::{AssembleError, Assembly, mount_placeholders};
use crate::image::ingest::{StagedLayer, TarIngest, unpack_options};
use crate::image::instructions::{ChangeError, apply_changes};
use crate::image::layer;
use crate::image::spec::{Compression, History, RunConfig};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    #[error(transparent)]
    Change(#[from] ChangeError),
}

pub struct CommitRequest<'a> {
    /// Dockerfile instructions applied to the new image's config (`--change`).
    pub changes: &'a [String],
    /// The history comment (`-m`).
    pub message: Option<&'a str>,
    /// The image's and the history entry's author (`-a`); none is inherited from the base.
    pub author: Option<&'a str>,
    /// The fully qualified name to give the image.
    pub name: Option<String>,
    /// Freeze a running container while its changes are packed.
    pub pause: bool,
    /// The image's `created` time (RFC 3339): the caller's choice, for reproducible images.
    pub created: &'a str,
}

/// The new image's runtime defaults: the container's configuration (which already holds what
/// it took from its image), the image's ports and volumes, then the `changes`.
pub fn committed_run_config(
    container: &Container,
    image: &RunConfig,
    changes: &[String],
) -> Result<RunConfig, ChangeError> {
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
    apply_changes(&mut config, changes)?;
    Ok(config)
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

/// Streams the container's upper dir into a staged layer: the tar goes straight into the
/// ingest pipeline (gzip for the blob, the diff id, the unpacked copy), with no file between.
/// The mount targets the sandbox made are left out, as Docker leaves them out. The container
/// is frozen, when asked, only while its files are read.
fn pack_changes(store: &Store, container: &Container, pause: bool) -> Result<StagedLayer, CommitError> {
    let upper = store.container_dir(&container.id).join("upper");
    let lowers =
        container.config.layers.iter().rev().map(|chain| store.layer_diff_dir(chain)).collect::<Result<Vec<_>, _>>()?;
    let mut ingest = TarIngest::start(store, store.new_staging()?, Compression::Gzip)?;
    let packed = {
        let _frozen = if pause { freeze(store, container) } else { Frozen(None) };
        let skip = mount_placeholders(&upper, &lowers);
        layer::pack_upper_dir(&upper, &mut ingest, &unpack_options(store), &skip)
    };
    let stopped = ingest.stopped();
    let staged = ingest.finish();
    match packed {
        // The packer only saw its output close: the stage that failed says why.
        Err(_) if stopped => Ok(staged?),
        Err(e) => Err(ImageError::from(e).into()),
        Ok(_) => Ok(staged?),
    }
}

/// Commits `container` as a new image on top of its image; returns its id ("sha256:…"). An
/// unchanged container gives an empty-layer history entry and no layer, as Docker's commit does.
/// Takes the ingest lock (shared) for the whole of it, the image lock briefly to read and to
/// commit.
pub fn commit(store: &Store, container: &Container, request: &CommitRequest) -> Result<String, CommitError> {
    let _ingest = store.lock_ingest_shared()?;
    let mut image = Assembly::from_image(store, &container.config.image_id)?;
    let run_config = committed_run_config(container, image.run_config(), request.changes)?;
    image.set_run_config(run_config);
    image.set_author(request.author);
    let staged = pack_changes(store, container, request.pause)?;
    let history = History {
        created: Some(request.created.to_owned()),
        // Docker's: the container's command, without its entrypoint.
        created_by: Some(container.config.cmd.join(" ")),
        author: request.author.map(str::to_owned),
        comment: request.message.map(str::to_owned),
        empty_layer: false,
    };
    image.add_changes(store, staged, history)?;
    Ok(image.finish(request.created)?.commit(store, request.name.iter().cloned().collect())?)
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
}
