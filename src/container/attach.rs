//! The client side of attaching: relay the terminal to the supervisor and the container's
//! output back, until the container exits or the user detaches (ctrl-p ctrl-q).

use std::io::{IsTerminal, Write};
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use nix::unistd::{Pid, read};

use super::protocol::{Message, recv_message, send_message};

/// Docker's default detach sequence: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: [u8; 2] = [0x10, 0x11];

pub struct AttachOptions {
    /// Relay our stdin to the container.
    pub stdin: bool,
    /// The container has a terminal: put ours in raw mode, relay its size.
    pub tty: bool,
    /// Forward SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 to this (host) pid.
    pub proxy_signals_to: Option<i32>,
    pub detach_keys: Vec<u8>,
    /// Show the container's stdout and stderr (`run -a` picks some; the others are dropped
    /// here, still kept in the log).
    pub stdout: bool,
    pub stderr: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AttachEnd {
    Exited(i32),
    Detached,
    /// The supervisor went away without an exit code.
    Lost,
}

/// Puts the terminal on fd 0 in raw mode until dropped.
struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    crate::sandbox::fds::window_size(std::io::stdout().as_fd())
        .or_else(|| crate::sandbox::fds::window_size(std::io::stdin().as_fd()))
}

const PROXIED: [Signal; 6] =
    [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2];

/// Watches for the detach sequence in what the user types.
struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    /// Returns the bytes to forward, and whether the sequence completed.
    fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if !self.keys.is_empty() && b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            out.push(b);
        }
        (out, false)
    }
}

pub fn attach(connection: OwnedFd, options: &AttachOptions) -> std::io::Result<AttachEnd> {
    let mut mask = SigSet::empty();
    for s in PROXIED {
        mask.add(s);
    }
    mask.add(Signal::SIGWINCH);
    mask.thread_block()?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
    let _raw = if options.tty && options.stdin { RawTerminal::enter() } else { None };
    if options.tty
        && let Some((rows, cols)) = terminal_size()
    {
        let _ = send_message(connection.as_fd(), &Message::Resize { rows, cols });
    }
    let mut detach =
        DetachMatcher { keys: if options.tty { options.detach_keys.clone() } else { Vec::new() }, matched: 0 };
    let stdin = std::io::stdin();
    let mut stdin_open = options.stdin;
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    loop {
        let mut fds =
            vec![PollFd::new(connection.as_fd(), PollFlags::POLLIN), PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if ready[1] {
            while let Ok(Some(info)) = signals.read_signal() {
                let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
                if signal == Signal::SIGWINCH {
                    if let Some((rows, cols)) = terminal_size() {
                        let _ = send_message(connection.as_fd(), &Message::Resize { rows, cols });
                    }
                } else if let Some(pid) = options.proxy_signals_to {
                    let _ = kill(Pid::from_raw(pid), signal);
                }
            }
        }
        if stdin_open && ready[2] {
            let mut buf = [0u8; 8192];
            match read(stdin.as_fd(), &mut buf) {
                Ok(0) => {
                    stdin_open = false;
                    let _ = send_message(connection.as_fd(), &Message::StdinClose);
                }
                Ok(n) => {
                    let (forward, detached) = detach.feed(&buf[..n]);
                    if !forward.is_empty() {
                        let _ = send_message(connection.as_fd(), &Message::Stdin(forward));
                    }
                    if detached {
                        return Ok(AttachEnd::Detached);
                    }
                }
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(_) => {
                    stdin_open = false;
                    let _ = send_message(connection.as_fd(), &Message::StdinClose);
                }
            }
        }
        if ready[0] {
            match recv_message(connection.as_fd()) {
                Ok(Some(Message::Stdout(bytes))) if options.stdout => {
                    stdout.write_all(&bytes)?;
                    stdout.flush()?;
                }
                Ok(Some(Message::Stderr(bytes))) if options.stderr => {
                    stderr.write_all(&bytes)?;
                }
                Ok(Some(Message::Exit(code))) => return Ok(AttachEnd::Exited(code)),
                Ok(Some(_)) => {}
                Ok(None) => return Ok(AttachEnd::Lost),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequence_is_swallowed_and_partial_matches_are_forwarded() {
        let mut m = DetachMatcher { keys: DEFAULT_DETACH_KEYS.to_vec(), matched: 0 };
        assert_eq!(m.feed(b"ab\x10c"), (b"ab\x10c".to_vec(), false));
        assert_eq!(m.feed(b"x\x10"), (b"x".to_vec(), false));
        assert_eq!(m.feed(b"\x11"), (Vec::new(), true));
    }
}
