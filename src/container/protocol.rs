//! The attach protocol between a supervisor and its clients (`run` in the foreground, `start
//! -a`, `attach`), over a SOCK_SEQPACKET unix socket so every message keeps its boundaries:
//! the first byte says what it is, the rest is its payload.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, MsgFlags, SockFlag, SockType, UnixAddr, bind, listen, recv, send, socket,
};

/// The attach socket, bound and connected through /proc/self/fd/DIR so its path stays under
/// the 108-byte limit of unix socket addresses whatever the runroot.
pub fn attach_socket_name() -> &'static str {
    "attach.sock"
}

fn short_socket_addr(dir: &File) -> nix::Result<UnixAddr> {
    UnixAddr::new(format!("/proc/self/fd/{}/{}", dir.as_raw_fd(), attach_socket_name()).as_str())
}

/// Connects to a container's attach socket in its run directory.
pub fn connect_attach(run_dir: &Path) -> nix::Result<OwnedFd> {
    let dir = File::open(run_dir).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let sock = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)?;
    nix::sys::socket::connect(sock.as_raw_fd(), &short_socket_addr(&dir)?)?;
    Ok(sock)
}

/// The supervisor's side: a fresh non-blocking listener on the attach socket in `run_dir`.
pub fn listen_for_attach(run_dir: &File) -> nix::Result<OwnedFd> {
    let addr = short_socket_addr(run_dir)?;
    let _ = nix::unistd::unlinkat(
        run_dir.as_fd(),
        Path::new(attach_socket_name()).as_os_str().as_bytes(),
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    let sock =
        socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    bind(sock.as_raw_fd(), &addr)?;
    listen(&sock, Backlog::new(16)?)?;
    Ok(sock)
}

/// The largest message either side sends.
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Supervisor → client: container output.
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// Supervisor → client: the container process started with this (host) pid.
    Started(i32),
    /// Supervisor → client: the container could not start; the exit code (125/126/127) and why.
    Failed(i32, String),
    /// Supervisor → client: the container exited with this code (after cleanup).
    Exit(i32),
    /// Client → supervisor: bytes for the container's stdin.
    Stdin(Vec<u8>),
    /// Client → supervisor: no more stdin.
    StdinClose,
    /// Client → supervisor: the terminal's new size.
    Resize {
        rows: u16,
        cols: u16,
    },
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload): (u8, Vec<u8>) = match self {
            Message::Stdout(b) => (1, b.clone()),
            Message::Stderr(b) => (2, b.clone()),
            Message::Started(pid) => (3, pid.to_string().into_bytes()),
            Message::Failed(code, why) => (4, format!("{code} {why}").into_bytes()),
            Message::Exit(code) => (5, code.to_string().into_bytes()),
            Message::Stdin(b) => (6, b.clone()),
            Message::StdinClose => (7, Vec::new()),
            Message::Resize { rows, cols } => (8, format!("{rows} {cols}").into_bytes()),
        };
        let mut out = Vec::with_capacity(payload.len() + 1);
        out.push(kind);
        out.extend(payload);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Message> {
        let (&kind, payload) = bytes.split_first()?;
        let text = || std::str::from_utf8(payload).ok();
        Some(match kind {
            1 => Message::Stdout(payload.to_vec()),
            2 => Message::Stderr(payload.to_vec()),
            3 => Message::Started(text()?.parse().ok()?),
            4 => {
                let (code, why) = text()?.split_once(' ')?;
                Message::Failed(code.parse().ok()?, why.to_owned())
            }
            5 => Message::Exit(text()?.parse().ok()?),
            6 => Message::Stdin(payload.to_vec()),
            7 => Message::StdinClose,
            8 => {
                let (rows, cols) = text()?.split_once(' ')?;
                Message::Resize { rows: rows.parse().ok()?, cols: cols.parse().ok()? }
            }
            _ => return None,
        })
    }
}

/// Sends one message; output larger than a message is split.
pub fn send_message(fd: BorrowedFd, message: &Message) -> nix::Result<()> {
    match message {
        Message::Stdout(b) | Message::Stderr(b) | Message::Stdin(b) if b.len() > MAX_MESSAGE - 1 => {
            for chunk in b.chunks(MAX_MESSAGE - 1) {
                let part = match message {
                    Message::Stdout(_) => Message::Stdout(chunk.to_vec()),
                    Message::Stderr(_) => Message::Stderr(chunk.to_vec()),
                    _ => Message::Stdin(chunk.to_vec()),
                };
                send_all(fd, &part.encode())?;
            }
            Ok(())
        }
        _ => send_all(fd, &message.encode()),
    }
}

fn send_all(fd: BorrowedFd, bytes: &[u8]) -> nix::Result<()> {
    loop {
        match send(fd.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
            Err(nix::Error::EINTR) => continue,
            other => return other.map(|_| ()),
        }
    }
}

/// Receives one message. Ok(None) when the peer closed the connection.
pub fn recv_message(fd: impl AsFd) -> nix::Result<Option<Message>> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        match recv(fd.as_fd().as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Message::decode(&buf[..n])),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        for m in [
            Message::Stdout(b"hi\n".to_vec()),
            Message::Stderr(vec![]),
            Message::Started(42),
            Message::Failed(127, "exec: \"x\": executable file not found in $PATH".into()),
            Message::Exit(137),
            Message::Stdin(vec![0, 1, 2]),
            Message::StdinClose,
            Message::Resize { rows: 24, cols: 80 },
        ] {
            assert_eq!(Message::decode(&m.encode()), Some(m));
        }
        assert_eq!(Message::decode(&[99]), None);
        assert_eq!(Message::decode(&[]), None);
    }
}
