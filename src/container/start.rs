//! Starting a container: claim it, launch its supervisor as a daemon with one end of a socket
//! pair, and wait for the supervisor to say the container runs (or why it could not).
//!
//! The claim makes a start happen once however many commands ask at the same time. Under the
//! containers lock, a `start` checks the recorded state: a container that runs, or is being
//! started by a supervisor that lives, is left alone (the second `start` succeeds without
//! starting anything, as Docker's does); otherwise it launches the supervisor and records
//! `Starting` naming that supervisor (pid and start time), all in one hold of the lock. The
//! supervisor goes ahead only if the record names it (`supervisor::setup`), and records
//! `Running` only if it still does. A claim whose supervisor died is stale: it reads as the
//! status before it (`index::refresh`) and the next start takes it over. So a killed `start`
//! or supervisor never blocks the next start.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use super::index::{ContainerError, Index, refresh, supervisor_alive};
use super::liveness::process_start_time;
use super::protocol::{Message, connect_attach, recv_message};
use super::record::{Container, Status};
use crate::sandbox::EXIT_SETUP;
use crate::store::Store;

/// The fd number on which a supervisor receives its starting client's connection.
pub const HANDOFF_FD: std::os::fd::RawFd = 3;

/// How long a command waits for another one's start of the same container to be decided.
const START_WAIT: Duration = Duration::from_secs(10);

/// How long a start waits for the supervisor of the container's previous run to finish
/// recording its end (it drains output for at most half a second, then writes and removes).
const PREVIOUS_SUPERVISOR_WAIT: Duration = Duration::from_secs(5);

/// A started container and the connection to its supervisor, which delivers its output and exit
/// code to whoever holds it.
pub struct Started {
    pub pid: i32,
    pub connection: OwnedFd,
}

/// What [`launch`] did.
pub enum Launch {
    /// Started by this call.
    Started(Started),
    /// It runs, or another command is starting it: nothing was done.
    AlreadyRunning,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The container's process could not be started: 125 (setup), 126 (cannot invoke) or 127
    /// (not found), with Docker's kind of message.
    #[error("{message}")]
    Failed { code: i32, message: String },
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("starting the supervisor")]
    Launch(#[source] std::io::Error),
    #[error("the supervisor ended before starting the container")]
    SupervisorGone,
    #[error("talking to the supervisor")]
    Protocol(#[source] nix::Error),
    #[error("container {0} is still being started by another command")]
    StillStarting(String),
    #[error("container {0}: the supervisor of its previous run is still recording its end")]
    PreviousRunFinishing(String),
}

impl StartError {
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Failed { code, .. } => *code,
            _ => EXIT_SETUP,
        }
    }
}

/// The hidden verb a supervisor is started with (recognised in cmd::main before parsing).
pub const SUPERVISE_VERB: &str = "__supervise";

fn supervisor_args(store: &Store, id: &str) -> Vec<String> {
    vec![
        "berth".into(),
        "--root".into(),
        store.root().display().to_string(),
        "--runroot".into(),
        store.runroot().display().to_string(),
        SUPERVISE_VERB.into(),
        id.to_owned(),
    ]
}

/// Starts a created or exited container; one that runs is refused (see [`launch`] for the
/// start that accepts it).
pub fn start(store: &Store, container: &Container) -> Result<Started, StartError> {
    match launch(store, container)? {
        Launch::Started(started) => Ok(started),
        Launch::AlreadyRunning => Err(ContainerError::WrongState {
            id: container.short_id().to_owned(),
            status: Status::Running.as_str(),
            what: "it is already running".into(),
        }
        .into()),
    }
}

/// Starts a created or exited container, unless it runs or is being started already.
pub fn launch(store: &Store, container: &Container) -> Result<Launch, StartError> {
    let Some((connection, supervisor)) = claim(store, &container.id)? else { return Ok(Launch::AlreadyRunning) };
    loop {
        match recv_message(connection.as_fd()) {
            Ok(Some(Message::Started(pid))) => {
                // systemd (a Type=notify unit) is told once the container runs; a failure to
                // tell it is systemd's to see (its start times out), not this start's.
                if let Err(e) = super::sdnotify::started(container.config.sdnotify, supervisor) {
                    eprintln!("berth: warning: {e}");
                }
                return Ok(Launch::Started(Started { pid, connection }));
            }
            Ok(Some(Message::Failed(code, message))) => return Err(StartError::Failed { code, message }),
            Ok(Some(_)) => continue,
            Ok(None) => return Err(StartError::SupervisorGone),
            Err(e) => return Err(StartError::Protocol(e)),
        }
    }
}

/// Claims container `id` and launches its supervisor, in one hold of the containers lock; None
/// when it runs or is being started. Our end of the supervisor's connection otherwise.
fn claim(store: &Store, id: &str) -> Result<Option<(OwnedFd, i32)>, StartError> {
    loop {
        let lock = store.lock_containers_exclusive().map_err(ContainerError::from)?;
        let mut index: Index = store.containers().map_err(ContainerError::from)?;
        let i =
            index.containers.iter().position(|c| c.id == id).ok_or_else(|| ContainerError::NotFound(id.to_owned()))?;
        let recorded = index.containers[i].clone();
        let mut current = recorded.clone();
        match refresh(store, &mut current) {
            Status::Running | Status::Paused | Status::Starting => return Ok(None),
            Status::Created | Status::Exited => {}
        }
        if matches!(recorded.state.status, Status::Running | Status::Paused) {
            // Its process has ended but the record was not told: by its supervisor, which is
            // still finishing (let it: its teardown would hit this start's cgroup), or by nobody.
            drop(lock);
            if supervisor_alive(&recorded) {
                super::lifecycle::wait_for_supervisor(&recorded, PREVIOUS_SUPERVISOR_WAIT);
                if supervisor_alive(&recorded) {
                    return Err(StartError::PreviousRunFinishing(recorded.name));
                }
            }
            super::lifecycle::record_exit_if_orphaned(store, &recorded, None)?;
            continue;
        }
        let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
            .map_err(|e| StartError::Launch(e.into()))?;
        // Launched before the claim is written, so the claim can name it; it reads the record
        // only once this lock is let go, and goes ahead only if the claim names it.
        let pid = crate::sandbox::fds::spawn_daemon(
            "/proc/self/exe",
            &supervisor_args(store, id),
            theirs.as_fd(),
            HANDOFF_FD,
        )
        .map_err(StartError::Launch)?;
        drop(theirs);
        let start_time = process_start_time(pid).ok_or(StartError::SupervisorGone)?;
        let state = &mut index.containers[i].state;
        state.status = Status::Starting;
        // A start by the user begins afresh (Docker's): no stop to honour, no restarts counted.
        state.manually_stopped = false;
        state.restart_count = 0;
        state.supervisor_pid = pid;
        state.supervisor_start_time = start_time;
        store.write_containers(&index).map_err(ContainerError::from)?;
        return Ok(Some((ours, pid)));
    }
}

/// The container once no start of it is in progress (waiting for one to be decided, at most
/// [`START_WAIT`]), its state refreshed.
pub fn settled(store: &Store, container: &Container) -> Result<Container, StartError> {
    let deadline = Instant::now() + START_WAIT;
    let mut current = container.clone();
    let mut pause = Duration::from_millis(1);
    while refresh(store, &mut current) == Status::Starting {
        if Instant::now() >= deadline {
            return Err(StartError::StillStarting(container.name.clone()));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
        current = super::index::load(store, &container.id)?;
    }
    Ok(current)
}

/// A connection to a running container's supervisor, as a start would have given (`start -a`
/// of a container that runs, or that another command started meanwhile).
pub fn connect_running(store: &Store, container: &Container) -> Result<Started, StartError> {
    let current = settled(store, container)?;
    if !matches!(current.state.status, Status::Running | Status::Paused) {
        return Err(ContainerError::WrongState {
            id: current.short_id().to_owned(),
            status: current.state.status.as_str(),
            what: "it is not running".into(),
        }
        .into());
    }
    let connection = connect_attach(&store.container_run_dir(&current.id)).map_err(StartError::Protocol)?;
    Ok(Started { pid: current.state.pid, connection })
}
