//! Where the service listens: a unix socket it makes (owner-only, refusing a path someone else
//! owns), one systemd passed (`LISTEN_FDS`), or a loopback TCP port when asked.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::socket::{AddressFamily, SockaddrLike, SockaddrStorage, getsockname};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;

/// What the user asked to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid address {0:?}: use unix:///PATH or tcp://127.0.0.1:PORT")]
    BadAddress(String),
    #[error("{0} is not a loopback address: TCP needs --insecure-tcp for that (anyone who can reach it is root)")]
    NotLoopback(SocketAddr),
    #[error("{}: owned by uid {owner}, not by this user: refusing to use it", path.display())]
    OwnedByOther { path: PathBuf, owner: u32 },
    #[error("{}: exists and is not a socket", .0.display())]
    NotASocket(PathBuf),
    #[error("{}: another service is listening on it", .0.display())]
    InUse(PathBuf),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("LISTEN_FDS: descriptor {LISTEN_FDS_START} is not a unix or TCP stream socket")]
    BadActivationFd,
}

impl Address {
    pub fn parse(text: &str) -> Result<Address, ListenError> {
        let bad = || ListenError::BadAddress(text.to_owned());
        if let Some(path) = text.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(bad());
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if let Some(host_port) = text.strip_prefix("tcp://") {
            let host_port = host_port.trim_end_matches('/');
            let host_port =
                host_port.strip_prefix("localhost:").map_or(host_port.to_owned(), |p| format!("127.0.0.1:{p}"));
            return host_port.parse().map(Address::Tcp).map_err(|_| bad());
        }
        Err(bad())
    }
}

/// A bound, listening socket.
pub enum Listener {
    Unix(std::os::unix::net::UnixListener),
    Tcp(std::net::TcpListener),
}

impl Listener {
    pub fn describe(&self) -> String {
        match self {
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix://{}", p.display())))
                .unwrap_or_else(|| "unix socket".into()),
            Listener::Tcp(l) => l.local_addr().map(|a| format!("tcp://{a}")).unwrap_or_else(|_| "tcp".into()),
        }
    }
}

/// The socket systemd passed, if this process (or, rootless, the parent that entered the user
/// namespace for it) is the one `LISTEN_PID` names.
pub fn activation_socket() -> Result<Option<Listener>, ListenError> {
    let fds: u32 = match std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse().ok()) {
        Some(n) if n >= 1 => n,
        _ => return Ok(None),
    };
    let for_us = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()).is_none_or(|pid| {
        pid == std::process::id()
            || (std::env::var_os(crate::sandbox::userns::IN_USERNS_ENV).is_some()
                && pid == std::os::unix::process::parent_id())
    });
    if !for_us || fds == 0 {
        return Ok(None);
    }
    // The variables stay: a supervisor started from here is not the pid LISTEN_PID names.
    let Some(fd) = crate::sandbox::fds::take_inherited_fd(LISTEN_FDS_START) else { return Ok(None) };
    Ok(Some(listener_from_fd(fd)?))
}

fn listener_from_fd(fd: OwnedFd) -> Result<Listener, ListenError> {
    let address: SockaddrStorage =
        getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd())).map_err(|_| ListenError::BadActivationFd)?;
    match address.family() {
        Some(AddressFamily::Unix) => {
            let listener = std::os::unix::net::UnixListener::from(fd);
            Ok(Listener::Unix(listener))
        }
        Some(AddressFamily::Inet | AddressFamily::Inet6) => Ok(Listener::Tcp(std::net::TcpListener::from(fd))),
        _ => Err(ListenError::BadActivationFd),
    }
}

/// Binds `address`. A unix socket gets mode 0660 (and group `berth` when that group exists and
/// we are root); a path that exists must be a stale socket of ours.
pub fn bind(address: &Address, insecure_tcp: bool) -> Result<Listener, ListenError> {
    match address {
        Address::Tcp(addr) => {
            if !addr.ip().is_loopback() {
                if !insecure_tcp {
                    return Err(ListenError::NotLoopback(*addr));
                }
                eprintln!("berth: warning: serving the API on {addr} without TLS: anyone who can reach it is root");
            }
            let listener = std::net::TcpListener::bind(addr)
                .map_err(|error| ListenError::Io { path: PathBuf::from(addr.to_string()), error })?;
            Ok(Listener::Tcp(listener))
        }
        Address::Unix(path) => bind_unix(path).map(Listener::Unix),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ListenError + '_ {
    move |error| ListenError::Io { path: path.to_owned(), error }
}

fn bind_unix(path: &Path) -> Result<std::os::unix::net::UnixListener, ListenError> {
    let me = nix::unistd::geteuid().as_raw();
    if let Some(parent) = path.parent()
        && !parent.exists()
    {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700)).map_err(io(parent))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            if meta.uid() != me {
                return Err(ListenError::OwnedByOther { path: path.to_owned(), owner: meta.uid() });
            }
            if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
                return Err(ListenError::NotASocket(path.to_owned()));
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ListenError::InUse(path.to_owned()));
            }
            std::fs::remove_file(path).map_err(io(path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    if let Some(parent) = path.parent() {
        let owner = std::fs::metadata(parent).map_err(io(parent))?.uid();
        if owner != me && owner != 0 {
            return Err(ListenError::OwnedByOther { path: parent.to_owned(), owner });
        }
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(io(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io(path))?;
    if me == 0
        && let Ok(Some(group)) = nix::unistd::Group::from_name("berth")
    {
        let _ = nix::unistd::chown(path, None, Some(group.gid));
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_bad_ones_are_refused() {
        assert_eq!(Address::parse("unix:///run/x.sock").unwrap(), Address::Unix("/run/x.sock".into()));
        assert_eq!(Address::parse("tcp://127.0.0.1:2375").unwrap(), Address::Tcp("127.0.0.1:2375".parse().unwrap()));
        assert_eq!(Address::parse("tcp://localhost:2375").unwrap(), Address::Tcp("127.0.0.1:2375".parse().unwrap()));
        for bad in ["unix://relative", "/path", "tcp://nohost", "http://127.0.0.1:1"] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        let far = Address::parse("tcp://0.0.0.0:0").unwrap();
        assert!(matches!(bind(&far, false), Err(ListenError::NotLoopback(_))));
    }
}
