//! The supervisor's start: from the claimed record to a running container process. Goes ahead
//! only if the record's claim names this supervisor (see container/start.rs), writes the /etc
//! files, builds the sandbox spec, opens the attach socket and the log, creates the cgroup,
//! makes the stdio, spawns the container and records it Running — if the claim is still its.
//! A failure is recorded (or, with `--rm`, the container removed) and returned with the exit
//! code the starting client reports.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::unistd::Pid;

use super::super::etc_files::{EtcFiles, EtcFilesError};
use super::super::index::{ContainerError, exit_file, load, update};
use super::super::liveness::process_start_time;
use super::super::logfile::{DEFAULT_MAX_SIZE, LogWriter, log_path};
use super::super::protocol::listen_for_attach;
use super::super::record::{Container, NetworkMode, Status};
use super::super::sandbox_spec::{NoIdsToKeep, apply_userns, cgroup_resources, for_container};
use super::super::teardown::{release_network, remove_unstarted};
use crate::network::setup::BridgeSetup;
use crate::sandbox::EXIT_SETUP;
use crate::sandbox::cgroup::{Cgroup, CgroupError, DEFAULT_ROOT};
use crate::sandbox::pidfd::PidFd;
use crate::sandbox::process::SandboxError;
use crate::sandbox::spawn::{BeforeStartError, ContainerStdio, spawn};
use crate::sandbox::spec::{NetworkNamespace, SandboxSpec};
use crate::store::{Store, StoreError, now_rfc3339};

/// Why a supervisor could not start its container.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("reading the container's record")]
    Record(#[source] ContainerError),
    #[error("container {0} is not claimed by this supervisor (another start took it over)")]
    NotClaimed(String),
    #[error(transparent)]
    EtcFiles(#[from] EtcFilesError),
    #[error("preparing the container's filesystem")]
    Spec(#[source] StoreError),
    #[error(transparent)]
    KeepId(#[from] NoIdsToKeep),
    #[error("{}", path.display())]
    RunDir { path: PathBuf, source: std::io::Error },
    #[error("attach socket in {}", path.display())]
    AttachSocket { path: PathBuf, source: Errno },
    #[error("opening the log")]
    Log(#[source] std::io::Error),
    #[error("creating the cgroup")]
    Cgroup(#[source] CgroupError),
    #[error("setting up stdio")]
    Stdio(#[source] Errno),
    #[error("watching the container's process")]
    Watch(#[source] std::io::Error),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("cannot join the network of container {0}: it is not running")]
    SharedNetwork(String),
    #[error(transparent)]
    SdNotify(#[from] crate::container::sdnotify::SdNotifyError),
}

/// Why the container's network could not be set up (inside the spawn hook's error).
#[derive(Debug, thiserror::Error)]
#[error("setting up the container's network")]
pub struct NetworkSetupError(#[source] pub crate::network::NetworkError);

impl SetupError {
    /// What the starting client exits with: the sandbox's 125/126/127, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            SetupError::Sandbox(e) => e.exit_code(),
            _ => EXIT_SETUP,
        }
    }
}

/// The supervisor's ends of the container's stdio: where output comes from, where input goes.
pub struct Stdio {
    pub out: OwnedFd,
    pub err: Option<OwnedFd>,
    pub input: Option<OwnedFd>,
    /// The pty master, for resizes.
    pub pty: Option<OwnedFd>,
}

/// A container whose process runs, and what its supervisor holds for it.
pub struct Running {
    pub container: Container,
    pub pid: Pid,
    /// Readable once the container's process has exited.
    pub pidfd: OwnedFd,
    pub stdio: Stdio,
    pub cgroup: Option<Cgroup>,
    pub log: LogWriter,
    pub listener: OwnedFd,
    /// The container's networks: held host ports and DNS responder (None: no bridge network).
    pub network: Option<BridgeSetup>,
    /// Keeps the run directory (the attach socket's) open for the container's life.
    pub run_dir: File,
}

/// This process as a claim names it.
#[derive(Debug, Clone, Copy)]
struct Me {
    pid: i32,
    start_time: u64,
}

impl Me {
    fn claims(&self, c: &Container) -> bool {
        c.state.status == Status::Starting
            && c.state.supervisor_pid == self.pid
            && c.state.supervisor_start_time == self.start_time
    }
}

/// Starts container `id`, which a `start` claimed for this process.
pub fn start(store: &Store, id: &str) -> Result<Running, SetupError> {
    let pid = std::process::id() as i32;
    let me = Me { pid, start_time: process_start_time(pid).unwrap_or(0) };
    let container = load(store, id).map_err(SetupError::Record)?;
    if !me.claims(&container) {
        return Err(SetupError::NotClaimed(container.name));
    }
    let mut cgroup = None;
    match prepare_and_spawn(store, &container, me, &mut cgroup) {
        Ok(running) => Ok(running),
        Err(e) => {
            record_failed_start(store, &container, me, &e, cgroup.as_ref());
            Err(e)
        }
    }
}

fn prepare_and_spawn(
    store: &Store,
    container: &Container,
    me: Me,
    cgroup_slot: &mut Option<Cgroup>,
) -> Result<Running, SetupError> {
    let id = &container.id;
    // Missing after a create killed between its record and its directories.
    store.create_container_dirs(id).map_err(SetupError::Spec)?;
    let etc = EtcFiles::for_config(&container.config).write(&store.container_dir(id))?;
    let mut spec = {
        let _lock = store.lock_images_shared().map_err(SetupError::Spec)?;
        for_container(store, container, etc).map_err(SetupError::Spec)?
    };
    apply_userns(&mut spec, container.config.userns)?;
    bind_notify_socket(&mut spec, container)?;
    if container.config.network == NetworkMode::Container {
        share_network(store, container, &mut spec)?;
    }
    let run_dir_path = store.container_run_dir(id);
    let run_dir_error = |source| SetupError::RunDir { path: run_dir_path.clone(), source };
    std::fs::create_dir_all(&run_dir_path).map_err(run_dir_error)?;
    let run_dir = File::open(&run_dir_path).map_err(run_dir_error)?;
    let listener = listen_for_attach(&run_dir)
        .map_err(|source| SetupError::AttachSocket { path: run_dir_path.clone(), source })?;
    let log = LogWriter::open(log_path(&store.container_dir(id)), DEFAULT_MAX_SIZE).map_err(SetupError::Log)?;
    let config = &container.config;
    *cgroup_slot = Cgroup::create(Path::new(DEFAULT_ROOT), id, config.rootless, &cgroup_resources(&config.resources))
        .map_err(SetupError::Cgroup)?;
    spec.cgroup_join_files = cgroup_slot.as_ref().map(Cgroup::self_join_files).unwrap_or_default();
    let (theirs, stdio) = make_stdio(config.tty, config.open_stdin).map_err(SetupError::Stdio)?;
    let mut network = None;
    let _ = std::fs::remove_file(exit_file(store, id));
    let spawned = {
        // The network first: the claim is recorded Running only once the container is whole.
        let mut before_start = |pid: Pid| -> Result<(), BeforeStartError> {
            network = super::network::set_up(store, container, pid).map_err(NetworkSetupError)?;
            record_running(store, id, me, pid)?;
            Ok(())
        };
        spawn(&spec, theirs, &mut before_start)
    };
    let pid = match spawned {
        Ok(pid) => pid,
        Err(e) => {
            if network.take().is_some() {
                release_network(store, id);
            }
            return Err(e.into());
        }
    };
    // Our own child, not reaped yet: the pid cannot have been reused.
    let pidfd = PidFd::open(pid.as_raw()).map_err(SetupError::Watch)?.into_fd();
    Ok(Running {
        container: container.clone(),
        pid,
        pidfd,
        stdio,
        cgroup: cgroup_slot.clone(),
        log,
        listener,
        network,
        run_dir,
    })
}

/// `--sdnotify=container`: systemd's notify socket (the one this supervisor was started with)
/// bound into the container, and named there by NOTIFY_SOCKET.
fn bind_notify_socket(spec: &mut SandboxSpec, container: &Container) -> Result<(), SetupError> {
    use crate::container::sdnotify::{CONTAINER_SOCKET, socket_to_bind};
    if let Some(socket) = socket_to_bind(container.config.sdnotify)? {
        spec.mounts.push(crate::sandbox::spec::SandboxMount {
            source: socket,
            destination: CONTAINER_SOCKET.to_owned(),
            kind: crate::sandbox::spec::SandboxMountKind::Bind { copy_up: false, propagation: String::new() },
            read_only: false,
        });
        spec.process.env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        spec.process.env.push(format!("NOTIFY_SOCKET={CONTAINER_SOCKET}"));
    }
    Ok(())
}

/// `--network container:X`: X's namespace joined, X's /etc/hosts and resolv.conf copied (its
/// names and resolver are this container's too, as in Docker).
fn share_network(store: &Store, container: &Container, spec: &mut SandboxSpec) -> Result<(), SetupError> {
    let other_id = &container.config.net.container;
    let not_running = || SetupError::SharedNetwork(other_id[..other_id.len().min(12)].to_owned());
    let other = load(store, other_id).map_err(|_| not_running())?;
    let alive = matches!(other.state.status, Status::Running | Status::Paused)
        && super::super::liveness::is_alive(other.state.pid, other.state.pid_start_time);
    if !alive {
        return Err(SetupError::SharedNetwork(other.name));
    }
    spec.network = NetworkNamespace::Join(PathBuf::from(format!("/proc/{}/ns/net", other.state.pid)));
    let (from, to) = (store.container_dir(&other.id), store.container_dir(&container.id));
    for name in ["hosts", "resolv.conf"] {
        if let Ok(bytes) = std::fs::read(from.join(name)) {
            crate::store::write_file_atomically(&to.join(name), &bytes).map_err(SetupError::Spec)?;
        }
    }
    Ok(())
}

/// The hook between clone and the container's go: Running, with the new process's pid and
/// start time, if the claim is still this supervisor's.
fn record_running(store: &Store, id: &str, me: Me, pid: Pid) -> Result<(), ContainerError> {
    let start_time = process_start_time(pid.as_raw()).unwrap_or(0);
    let started = update(store, id, |c| {
        if !me.claims(c) {
            return Err(ContainerError::StartedElsewhere(c.name.clone()));
        }
        let state = &mut c.state;
        state.status = Status::Running;
        state.pid = pid.as_raw();
        state.pid_start_time = start_time;
        state.started_at = Some(now_rfc3339());
        state.finished_at = None;
        state.exit_code = None;
        state.oom_killed = false;
        state.error = None;
        Ok(c.clone())
    })?;
    crate::container::event::record(store, "start", &started);
    for mount in started.config.mounts.iter().filter(|m| m.kind == crate::container::record::MountKind::Volume) {
        let event = crate::events::Event::volume("mount", &mount.source, "local")
            .with("container", &started.id)
            .with("destination", &mount.destination)
            .with("read/write", if mount.read_only { "false" } else { "true" });
        crate::events::record(store, event);
    }
    Ok(())
}

/// After a failed start: the status before the claim, with the failure's code and message; a
/// `--rm` container is removed. Only while the claim is this supervisor's.
fn record_failed_start(store: &Store, container: &Container, me: Me, error: &SetupError, cgroup: Option<&Cgroup>) {
    if container.config.auto_remove {
        let _ = remove_unstarted(store, &container.id, cgroup);
        return;
    }
    let message = super::error_chain(error);
    let _ = update(store, &container.id, |c| {
        if me.claims(c) {
            // Under the lock while the claim is ours: a later start makes a cgroup at its path.
            if let Some(cgroup) = cgroup {
                let _ = cgroup.remove();
            }
            c.state.status = c.state.at_rest();
            c.state.exit_code = Some(error.exit_code());
            c.state.error = Some(message);
            c.state.pid = 0;
        }
        Ok(())
    });
}

fn pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC)
}

fn set_nonblocking(fd: std::os::fd::BorrowedFd) -> nix::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(|_| ())
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// The container's stdio (handed to it) and ours.
fn make_stdio(tty: bool, open_stdin: bool) -> nix::Result<(ContainerStdio, Stdio)> {
    if tty {
        let pty = nix::pty::openpty(None, None)?;
        let master = pty.master;
        fcntl(master.as_fd(), FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
        let slave = pty.slave;
        let theirs = ContainerStdio {
            stdin: slave.try_clone().map_err(io_errno)?,
            stdout: slave.try_clone().map_err(io_errno)?,
            stderr: slave,
        };
        set_nonblocking(master.as_fd())?;
        let input = master.try_clone().map_err(io_errno)?;
        let pty_fd = master.try_clone().map_err(io_errno)?;
        return Ok((theirs, Stdio { out: master, err: None, input: Some(input), pty: Some(pty_fd) }));
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin, input) = if open_stdin {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        (File::open("/dev/null").map_err(io_errno)?.into(), None)
    };
    set_nonblocking(out_r.as_fd())?;
    set_nonblocking(err_r.as_fd())?;
    Ok((
        ContainerStdio { stdin, stdout: out_w, stderr: err_w },
        Stdio { out: out_r, err: Some(err_r), input, pty: None },
    ))
}
