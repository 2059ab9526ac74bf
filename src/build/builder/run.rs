//! RUN: the command runs in a berth container made from the step's parent layers (the same
//! create, start and supervisor as `berth run`, through library calls), and the container's
//! upper dir becomes the step's layer the way `commit` makes one. The container is removed
//! whatever happens: a failed command, an error, an interrupt (SIGINT, SIGTERM, SIGHUP).

use std::collections::{BTreeMap, HashSet};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::BuildError;
use super::output::Output;
use crate::build::dockerfile::{MountSpec, Network};
use crate::build::steps::RunStep;
use crate::container::create::create_for_build;
use crate::container::lifecycle::remove;
use crate::container::net_config::NetConfig;
use crate::container::protocol::{Message, recv_message};
use crate::container::record::{Container, ContainerConfig, Mount, MountKind, MountOptions, NetworkMode};
use crate::container::start::{StartError, start};
use crate::image::assemble::mount_placeholders;
use crate::image::ingest::{StagedLayer, TarIngest, unpack_options};
use crate::image::layer;
use crate::image::spec::Compression;
use crate::store::Store;
use sha2::{Digest as _, Sha256};

/// The label that marks a build step's container, with the building process's pid: a build
/// killed with -9 leaves its container, which the next build removes.
pub const BUILD_LABEL: &str = "io.berth.build.pid";

/// SIGINT, SIGTERM and SIGHUP, held for the whole build and read through a signalfd, so that an
/// interrupt ends the build through its error path (which removes the step's container).
pub struct Interrupts {
    fd: SignalFd,
}

impl Interrupts {
    pub fn catch() -> std::io::Result<Interrupts> {
        let mut mask = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            mask.add(s);
        }
        mask.thread_block()?;
        Ok(Interrupts { fd: SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)? })
    }

    /// Whether an interrupt came (it is consumed).
    pub fn pending(&self) -> bool {
        matches!(self.fd.read_signal(), Ok(Some(_)))
    }

    pub fn check(&self) -> Result<(), BuildError> {
        if self.pending() { Err(BuildError::Interrupted) } else { Ok(()) }
    }
}

/// Removes the step's container when dropped.
struct StepContainer<'a> {
    store: &'a Store,
    container: Container,
}

impl Drop for StepContainer<'_> {
    fn drop(&mut self) {
        // remove() wants the record as it is now, not as it was created.
        let current = crate::container::index::load(self.store, &self.container.id);
        let _ = remove(self.store, current.as_ref().unwrap_or(&self.container), true);
    }
}

/// Removes the step containers of builds that are gone (killed before they could clean up).
pub fn remove_stale_containers(store: &Store) {
    let index: crate::container::index::Index = {
        let Ok(_lock) = store.lock_containers_shared() else { return };
        let Ok(index) = store.containers() else { return };
        index
    };
    for container in index.containers {
        let Some(pid) = container.config.labels.get(BUILD_LABEL) else { continue };
        let alive = pid.parse::<i32>().is_ok_and(|pid| {
            pid == std::process::id() as i32 || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        });
        if !alive {
            let _ = remove(store, &container, true);
        }
    }
}

/// What a RUN needs besides its step.
pub struct RunContext<'a> {
    /// The context directory, for `--mount=type=bind` (None: no directory context).
    pub context_dir: Option<&'a Path>,
    /// `--secret` values by id.
    pub secrets: &'a [(String, Vec<u8>)],
    pub store: &'a Store,
    /// The base image's id (the record's image; "" for a stage from scratch).
    pub image_id: &'a str,
    /// Chain ids, bottom first.
    pub layers: Vec<String>,
    /// RUN's network when the instruction does not say: the mode, and its networks (bridge).
    pub network: NetworkMode,
    pub net: &'a NetConfig,
    pub interrupts: &'a Interrupts,
    pub output: &'a Output,
}

/// Files a step's mounts need on the host (secrets, heredoc scripts), in the runroot (a tmpfs on
/// most machines: a secret never reaches the store's disk), removed when dropped.
struct StepFiles(PathBuf);

impl Drop for StepFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_file(dir: &Path, name: &str, content: &[u8], mode: u32) -> Result<PathBuf, BuildError> {
    let path = dir.join(name);
    std::fs::write(&path, content).map_err(|e| BuildError::io(&path, e))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(|e| BuildError::io(&path, e))?;
    Ok(path)
}

fn bind(source: &Path, target: &str, read_only: bool) -> Mount {
    Mount {
        kind: MountKind::Bind,
        source: source.display().to_string(),
        destination: target.to_owned(),
        read_only,
        options: Default::default(),
    }
}

/// The container mounts of a step's `--mount`s and heredoc scripts; the targets they need made.
fn step_mounts(
    ctx: &RunContext,
    step: &RunStep,
    files: &Path,
    env: &mut Vec<String>,
) -> Result<Vec<Mount>, BuildError> {
    let mut mounts = Vec::new();
    for (i, file) in step.inline_files.iter().enumerate() {
        let path = write_file(files, &format!("inline-{i}"), file.content.as_bytes(), file.mode)?;
        mounts.push(bind(&path, &file.path, true));
    }
    for (i, spec) in step.mounts.iter().enumerate() {
        match spec {
            MountSpec::Tmpfs { target, size } => mounts.push(Mount {
                kind: MountKind::Tmpfs,
                destination: target.clone(),
                options: MountOptions {
                    tmpfs: size.map(|s| format!("size={s}")).unwrap_or_default(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            MountSpec::Cache { target, id, from: None, read_only, mode, uid, gid, .. } => {
                let dir = ctx.store.root().join("build-cache/mounts").join(hex::encode(Sha256::digest(id.as_bytes())));
                if !dir.exists() {
                    std::fs::create_dir_all(&dir).map_err(|e| BuildError::io(&dir, e))?;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(*mode))
                        .map_err(|e| BuildError::io(&dir, e))?;
                    std::os::unix::fs::chown(&dir, Some(*uid), Some(*gid)).map_err(|e| BuildError::io(&dir, e))?;
                }
                mounts.push(bind(&dir, target, *read_only));
            }
            MountSpec::Cache { .. } => return Err(BuildError::Unsupported("RUN --mount=type=cache,from=")),
            MountSpec::Bind { target, source, from: None, read_write: false } => {
                let Some(root) = ctx.context_dir else {
                    return Err(BuildError::Unsupported("RUN --mount=type=bind without a context directory"));
                };
                let cleaned = crate::build::paths::clean(&format!("/{source}"));
                let host = root.join(cleaned.trim_start_matches('/'));
                // A symlink in the context must not lead the bind out of it.
                let real = std::fs::canonicalize(&host).map_err(|e| BuildError::io(&host, e))?;
                if !real.starts_with(root) {
                    return Err(BuildError::Copy(format!("{source:?} leads outside the build context")));
                }
                mounts.push(bind(&real, target, true));
            }
            MountSpec::Bind { .. } => return Err(BuildError::Unsupported("RUN --mount=type=bind with rw or from=")),
            MountSpec::Secret { id, target, env: var, required, mode, uid, gid } => {
                let Some((_, value)) = ctx.secrets.iter().find(|(s, _)| s == id) else {
                    if *required {
                        return Err(BuildError::Copy(format!(
                            "secret {id} not found (pass it with --secret id={id},src=FILE)"
                        )));
                    }
                    continue;
                };
                if let Some(var) = var {
                    env.push(format!("{var}={}", String::from_utf8_lossy(value)));
                }
                if target.is_some() || var.is_none() {
                    let path = write_file(files, &format!("secret-{i}"), value, *mode)?;
                    std::os::unix::fs::chown(&path, Some(*uid), Some(*gid)).map_err(|e| BuildError::io(&path, e))?;
                    let target = target.clone().unwrap_or_else(|| format!("/run/secrets/{id}"));
                    mounts.push(bind(&path, &target, true));
                }
            }
            MountSpec::Ssh { .. } => return Err(BuildError::Unsupported("RUN --mount=type=ssh")),
        }
    }
    Ok(mounts)
}

/// The mount targets the sandbox made in the upper dir for the step's mounts (and the parent
/// directories it made for them): left out of the layer, as BuildKit leaves them out.
fn mount_target_skip(upper: &Path, lowers: &[PathBuf], mounts: &[Mount], skip: &mut HashSet<Vec<u8>>) {
    let in_lower = |path: &str| lowers.iter().any(|lower| std::fs::symlink_metadata(lower.join(path)).is_ok());
    for mount in mounts {
        let target = crate::build::paths::clean(&mount.destination);
        let mut path = target.trim_start_matches('/').to_owned();
        if path.is_empty() || path.starts_with("dev/") || in_lower(&path) {
            continue;
        }
        skip.insert(path.clone().into_bytes());
        while let Some((parent, _)) = path.rsplit_once('/') {
            let parent = parent.to_owned();
            let only_skipped = std::fs::read_dir(upper.join(&parent)).is_ok_and(|entries| {
                entries.flatten().all(|e| {
                    let mut p = format!("{parent}/").into_bytes();
                    p.extend_from_slice(e.file_name().as_encoded_bytes());
                    skip.contains(&p)
                })
            });
            if in_lower(&parent) || !only_skipped {
                break;
            }
            skip.insert(parent.clone().into_bytes());
            path = parent;
        }
    }
}

/// The network a RUN gets: its `--network=` when given, else the build's `--network` when that
/// is `none` or `host`. `Default` stays for the build's default (bridge, private): what it gives
/// is the same for every build of the store. The builder keys the step on this resolved form, so
/// a step made without a network is never reused where it would have had one (or the host's).
pub fn effective_network(step: &Network, build: NetworkMode) -> Network {
    match (step, build) {
        (Network::Default, NetworkMode::None) => Network::None,
        (Network::Default, NetworkMode::Host) => Network::Host,
        (step, _) => step.clone(),
    }
}

fn container_config(ctx: &RunContext, step: &RunStep) -> ContainerConfig {
    let (network, net) = match step.network {
        Network::None => (NetworkMode::None, NetConfig::default()),
        Network::Host => (NetworkMode::Host, NetConfig::default()),
        Network::Default => (ctx.network, ctx.net.clone()),
    };
    let env = step.env.iter().chain(&step.proxy_env).map(|(k, v)| format!("{k}={v}")).collect();
    ContainerConfig {
        image_id: ctx.image_id.to_owned(),
        image_name: "berth-build".into(),
        layers: ctx.layers.clone(),
        cmd: step.argv.clone(),
        env,
        working_dir: step.workdir.clone(),
        user: step.user.clone(),
        labels: BTreeMap::from([(BUILD_LABEL.to_owned(), std::process::id().to_string())]),
        stop_signal: "SIGTERM".into(),
        network,
        net,
        // As BuildKit's RUN: setuid programs (sudo, su) work.
        no_new_privileges: false,
        rootless: ctx.store.rootless(),
        ..Default::default()
    }
}

/// A RUN whose container was started: its output comes through [`wait_any`], and [`finish`]
/// packs its layer once it exited. The container is removed when this is dropped.
///
/// [`finish`]: RunningStep::finish
pub struct RunningStep<'a> {
    guard: StepContainer<'a>,
    _files: StepFiles,
    connection: std::os::fd::OwnedFd,
    argv: Vec<String>,
    epoch: i64,
}

/// Creates and starts the step's container (the supervisor is a re-exec of berth: no fork runs
/// berth's code here, so several steps may run at once from this one thread).
pub fn begin_step<'s>(
    store: &'s Store,
    ctx: &RunContext,
    step: &RunStep,
    epoch: i64,
) -> Result<RunningStep<'s>, BuildError> {
    let files = ctx.store.runroot().join("build").join(format!("{:032x}", rand::random::<u128>()));
    std::fs::create_dir_all(&files).map_err(|e| BuildError::io(&files, e))?;
    let files = StepFiles(files);
    let mut config = container_config(ctx, step);
    config.mounts = step_mounts(ctx, step, &files.0, &mut config.env)?;
    let container = create_for_build(ctx.store, config)?;
    let guard = StepContainer { store, container };
    let started = match start(store, &guard.container) {
        Ok(started) => started,
        Err(StartError::Failed { code, message }) => return Err(BuildError::RunStart { code, message }),
        Err(e) => return Err(e.into()),
    };
    Ok(RunningStep { guard, _files: files, connection: started.connection, argv: step.argv.clone(), epoch })
}

impl RunningStep<'_> {
    /// The step's changes as a staged layer, once its command exited with `code` (0, else the
    /// step failed).
    pub fn finish(self, code: i32) -> Result<StagedLayer, BuildError> {
        if code != 0 {
            return Err(BuildError::RunFailed { command: self.argv.clone(), code });
        }
        pack(self.guard.store, &self.guard.container, self.epoch)
    }
}

/// Waits for output or an exit from any of the running steps, relaying the output: which one
/// exited and its code, or None once some output was relayed.
pub fn wait_any(
    running: &[&RunningStep],
    interrupts: &Interrupts,
    output: &Output,
) -> Result<Option<(usize, i32)>, BuildError> {
    let mut fds: Vec<PollFd> = running.iter().map(|r| PollFd::new(r.connection.as_fd(), PollFlags::POLLIN)).collect();
    fds.push(PollFd::new(interrupts.fd.as_fd(), PollFlags::POLLIN));
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(e) => return Err(BuildError::Relay(e.into())),
    }
    let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
    drop(fds);
    if ready[running.len()] && interrupts.pending() {
        return Err(BuildError::Interrupted);
    }
    for (i, step) in running.iter().enumerate() {
        if !ready[i] {
            continue;
        }
        match recv_message(step.connection.as_fd()) {
            Ok(Some(Message::Stdout(bytes) | Message::Stderr(bytes))) => output.step_output(&bytes),
            Ok(Some(Message::Exit(code))) => return Ok(Some((i, code))),
            Ok(Some(_)) | Err(Errno::EINTR) => {}
            Ok(None) => return Err(BuildError::SupervisorLost),
            Err(e) => return Err(BuildError::Relay(e.into())),
        }
    }
    Ok(None)
}

/// The container's upper dir as a staged layer, without the mount targets the sandbox made,
/// its times clamped to the build's epoch.
fn pack(store: &Store, container: &Container, epoch: i64) -> Result<StagedLayer, BuildError> {
    let upper = store.container_dir(&container.id).join("upper");
    let lowers =
        container.config.layers.iter().rev().map(|chain| store.layer_diff_dir(chain)).collect::<Result<Vec<_>, _>>()?;
    let mut ingest = TarIngest::start(store, store.new_staging()?, Compression::Gzip)?;
    let mut skip = mount_placeholders(&upper, &lowers);
    mount_target_skip(&upper, &lowers, &container.config.mounts, &mut skip);
    let packed = layer::pack_upper_dir_clamped(&upper, &mut ingest, &unpack_options(store), &skip, Some(epoch));
    let stopped = ingest.stopped();
    let staged = ingest.finish();
    match packed {
        Err(_) if stopped => Ok(staged?),
        Err(e) => Err(crate::image::ImageError::from(e).into()),
        Ok(_) => Ok(staged?),
    }
}
