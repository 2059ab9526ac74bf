//! `--sdnotify` (Podman's modes) for containers run by a systemd `Type=notify` unit, whose
//! manager hands its socket over in `NOTIFY_SOCKET`:
//! - `conmon` (the default; does something only when `NOTIFY_SOCKET` is set): once the
//!   container has started, the command that started it sends `MAINPID=<supervisor>` and
//!   `READY=1`. The supervisor is the process that lives as long as the container (Podman names
//!   conmon), so `systemctl stop` and the unit's end follow the container; the message comes
//!   from the unit's main process, so the unit needs no `NotifyAccess=`.
//! - `container`: the supervisor binds the socket into the container at
//!   [`CONTAINER_SOCKET`] and sets `NOTIFY_SOCKET` there, so the container's own `sd_notify`
//!   says when it is ready; berth still sends `MAINPID` (the unit needs `NotifyAccess=all`).
//! - `ignore`: nothing is sent and nothing is bound.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the notify socket appears inside a container in `container` mode (Podman's path).
pub const CONTAINER_SOCKET: &str = "/run/notify/notify.sock";

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SdNotify {
    #[default]
    Conmon,
    Container,
    Ignore,
}

#[derive(Debug, thiserror::Error)]
pub enum SdNotifyError {
    #[error("invalid --sdnotify {0:?}: expected container, conmon or ignore")]
    Mode(String),
    #[error("--sdnotify=container: NOTIFY_SOCKET {0:?} is an abstract socket, which cannot be bound into a container")]
    Abstract(String),
    #[error("notifying systemd through {path}: {error}")]
    Send { path: String, error: std::io::Error },
}

impl std::str::FromStr for SdNotify {
    type Err = SdNotifyError;
    fn from_str(text: &str) -> Result<SdNotify, SdNotifyError> {
        match text {
            "conmon" => Ok(SdNotify::Conmon),
            "container" => Ok(SdNotify::Container),
            "ignore" => Ok(SdNotify::Ignore),
            _ => Err(SdNotifyError::Mode(text.to_owned())),
        }
    }
}

/// The socket systemd gave this process, if any.
pub fn notify_socket() -> Option<String> {
    std::env::var("NOTIFY_SOCKET").ok().filter(|s| !s.is_empty())
}

/// In `container` mode, the host path of the socket to bind into the container.
pub fn socket_to_bind(mode: SdNotify) -> Result<Option<PathBuf>, SdNotifyError> {
    match (mode, notify_socket()) {
        (SdNotify::Container, Some(socket)) if socket.starts_with('@') => Err(SdNotifyError::Abstract(socket)),
        (SdNotify::Container, Some(socket)) => Ok(Some(PathBuf::from(socket))),
        _ => Ok(None),
    }
}

/// After a start: what `mode` has berth tell systemd, with the supervisor's pid.
pub fn started(mode: SdNotify, supervisor_pid: i32) -> Result<(), SdNotifyError> {
    let Some(socket) = notify_socket() else { return Ok(()) };
    let message = match mode {
        SdNotify::Conmon => format!("MAINPID={supervisor_pid}\nREADY=1\n"),
        SdNotify::Container => format!("MAINPID={supervisor_pid}\n"),
        SdNotify::Ignore => return Ok(()),
    };
    send(&socket, &message)
}

/// One datagram to the notify socket (a path, or `@name` for an abstract one), as sd_notify.
fn send(socket: &str, message: &str) -> Result<(), SdNotifyError> {
    let error = |error| SdNotifyError::Send { path: socket.to_owned(), error };
    let sender = UnixDatagram::unbound().map_err(error)?;
    if let Some(name) = socket.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).map_err(error)?;
        sender.send_to_addr(message.as_bytes(), &address).map_err(error)?;
    } else {
        sender.send_to(message.as_bytes(), Path::new(socket)).map_err(error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_podmans_names() {
        for (text, mode) in
            [("conmon", SdNotify::Conmon), ("container", SdNotify::Container), ("ignore", SdNotify::Ignore)]
        {
            assert_eq!(text.parse::<SdNotify>().unwrap(), mode);
            assert_eq!(serde_json::to_value(mode).unwrap(), text);
        }
        assert!("systemd".parse::<SdNotify>().is_err());
    }

    #[test]
    fn a_datagram_reaches_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), "READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");
    }
}
