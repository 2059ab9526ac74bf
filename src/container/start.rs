//! Starting a container: launch its supervisor as a daemon with one end of a socket pair, and
//! wait for the supervisor to say the container runs (or why it could not).

use std::os::fd::{AsFd, OwnedFd};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use super::index::{ContainerError, refresh};
use super::protocol::{Message, recv_message};
use super::record::{Container, Status};
use super::supervisor::HANDOFF_FD;
use crate::store::Store;

/// A started container and the connection to its supervisor, which delivers its output and exit
/// code to whoever holds it.
pub struct Started {
    pub pid: i32,
    pub connection: OwnedFd,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The container's process could not be started: 125 (setup), 126 (cannot invoke) or 127
    /// (not found), with Docker's kind of message.
    #[error("{message}")]
    Failed { code: i32, message: String },
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("starting the supervisor: {0}")]
    Launch(String),
}

impl StartError {
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Failed { code, .. } => *code,
            _ => 125,
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

/// Starts a created or exited container. Refuses one that is running.
pub fn start(store: &Store, container: &Container) -> Result<Started, StartError> {
    let mut current = container.clone();
    match refresh(store, &mut current) {
        Status::Running | Status::Paused => {
            return Err(ContainerError::WrongState {
                id: current.short_id().to_owned(),
                status: current.state.status.as_str(),
                what: "it is already running".into(),
            }
            .into());
        }
        Status::Created | Status::Exited => {}
    }
    let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| StartError::Launch(e.to_string()))?;
    crate::sandbox::fds::spawn_daemon(
        "/proc/self/exe",
        &supervisor_args(store, &container.id),
        theirs.as_fd(),
        HANDOFF_FD,
    )
    .map_err(|e| StartError::Launch(e.to_string()))?;
    drop(theirs);
    loop {
        match recv_message(ours.as_fd()) {
            Ok(Some(Message::Started(pid))) => return Ok(Started { pid, connection: ours }),
            Ok(Some(Message::Failed(code, message))) => return Err(StartError::Failed { code, message }),
            Ok(Some(_)) => continue,
            Ok(None) => return Err(StartError::Launch("the supervisor ended before starting the container".into())),
            Err(e) => return Err(StartError::Launch(e.to_string())),
        }
    }
}
