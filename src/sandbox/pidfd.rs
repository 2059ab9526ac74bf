//! Process file descriptors: a handle on one process that cannot be confused with a later
//! process given the same pid, used to signal a container and wait for its end without being
//! its parent.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};

#[derive(Debug)]
pub struct PidFd {
    fd: OwnedFd,
}

impl PidFd {
    /// A handle on the live process `pid`. Fails with ESRCH when there is none. The caller
    /// checks afterwards that the process is the one it meant (its start time), since the pid
    /// may have been recycled before the handle was taken.
    pub fn open(pid: i32) -> io::Result<PidFd> {
        if pid <= 0 {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; no memory
        // is passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
        Ok(PidFd { fd: unsafe { OwnedFd::from_raw_fd(fd as i32) } })
    }

    /// The handle as a plain descriptor (readable once the process has exited), for a poll set.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Sends signal number `signal` (real-time ones too) to the process; ESRCH once it has exited.
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        // SAFETY: pidfd_send_signal with a null siginfo (the kernel fills in a SI_USER one) and
        // no flags; the descriptor is valid for the duration of the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Waits until the process has exited (readable pidfd), at most `timeout` (None: forever).
    /// True if it exited.
    pub fn wait_exit(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let remaining = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, remaining) {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(false);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Reaps the caller's child behind `pidfd` if it has exited: its status, or None while it runs.
pub fn reap_exited(pidfd: impl AsFd) -> nix::Result<Option<WaitStatus>> {
    match waitid(Id::PIDFd(pidfd.as_fd()), WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG)? {
        WaitStatus::StillAlive => Ok(None),
        status => Ok(Some(status)),
    }
}
