//! RUN: the command runs in a berth container made from the step's parent layers (the same
//! create, start and supervisor as `berth run`, through library calls), and the container's
//! upper dir becomes the step's layer the way `commit` makes one. The container is removed
//! whatever happens: a failed command, an error, an interrupt (SIGINT, SIGTERM, SIGHUP).

use std::collections::BTreeMap;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::BuildError;
use super::output::Output;
use crate::build::steps::RunStep;
use crate::container::create::create_for_build;
use crate::container::lifecycle::remove;
use crate::container::protocol::{Message, recv_message};
use crate::container::record::{Container, ContainerConfig, NetworkMode};
use crate::container::start::{StartError, start};
use crate::image::assemble::mount_placeholders;
use crate::image::ingest::{StagedLayer, TarIngest, unpack_options};
use crate::image::layer;
use crate::image::spec::Compression;
use crate::store::Store;

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
    pub store: &'a Store,
    /// The base image's id (the record's image; "" for a stage from scratch).
    pub image_id: &'a str,
    /// Chain ids, bottom first.
    pub layers: Vec<String>,
    pub network: NetworkMode,
    pub interrupts: &'a Interrupts,
    pub output: &'a Output,
}

fn container_config(ctx: &RunContext, step: &RunStep) -> ContainerConfig {
    let network = match step.network {
        crate::build::dockerfile::Network::None => NetworkMode::None,
        crate::build::dockerfile::Network::Host => NetworkMode::Host,
        crate::build::dockerfile::Network::Default => ctx.network,
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
        // As BuildKit's RUN: setuid programs (sudo, su) work.
        no_new_privileges: false,
        rootless: ctx.store.rootless(),
        ..Default::default()
    }
}

/// Runs the step; its changes as a staged layer once the command exited 0.
pub fn run_step(ctx: &RunContext, step: &RunStep, epoch: i64) -> Result<StagedLayer, BuildError> {
    let container = create_for_build(ctx.store, container_config(ctx, step))?;
    let guard = StepContainer { store: ctx.store, container };
    let started = match start(ctx.store, &guard.container) {
        Ok(started) => started,
        Err(StartError::Failed { code, message }) => return Err(BuildError::RunStart { code, message }),
        Err(e) => return Err(e.into()),
    };
    let code = relay(ctx, started)?;
    if code != 0 {
        return Err(BuildError::RunFailed { command: step.argv.clone(), code });
    }
    pack(ctx.store, &guard.container, epoch)
}

/// Relays the step's output until it exits; its exit code.
fn relay(ctx: &RunContext, started: crate::container::start::Started) -> Result<i32, BuildError> {
    let connection = started.connection;
    loop {
        let mut fds = [
            PollFd::new(connection.as_fd(), PollFlags::POLLIN),
            PollFd::new(ctx.interrupts.fd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(BuildError::Relay(e.into())),
        }
        let (conn_ready, signal_ready) =
            (fds[0].revents().is_some_and(|r| !r.is_empty()), fds[1].revents().is_some_and(|r| !r.is_empty()));
        if signal_ready && ctx.interrupts.pending() {
            return Err(BuildError::Interrupted);
        }
        if !conn_ready {
            continue;
        }
        match recv_message(connection.as_fd()) {
            Ok(Some(Message::Stdout(bytes) | Message::Stderr(bytes))) => ctx.output.step_output(&bytes),
            Ok(Some(Message::Exit(code))) => return Ok(code),
            Ok(Some(_)) | Err(Errno::EINTR) => {}
            Ok(None) => return Err(BuildError::SupervisorLost),
            Err(e) => return Err(BuildError::Relay(e.into())),
        }
    }
}

/// The container's upper dir as a staged layer, without the mount targets the sandbox made,
/// its times clamped to the build's epoch.
fn pack(store: &Store, container: &Container, epoch: i64) -> Result<StagedLayer, BuildError> {
    let upper = store.container_dir(&container.id).join("upper");
    let lowers =
        container.config.layers.iter().rev().map(|chain| store.layer_diff_dir(chain)).collect::<Result<Vec<_>, _>>()?;
    let mut ingest = TarIngest::start(store, store.new_staging()?, Compression::Gzip)?;
    let skip = mount_placeholders(&upper, &lowers);
    let packed = layer::pack_upper_dir_clamped(&upper, &mut ingest, &unpack_options(store), &skip, Some(epoch));
    let stopped = ingest.stopped();
    let staged = ingest.finish();
    match packed {
        Err(_) if stopped => Ok(staged?),
        Err(e) => Err(crate::image::ImageError::from(e).into()),
        Ok(_) => Ok(staged?),
    }
}
