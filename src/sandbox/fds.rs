//! File descriptor plumbing that needs `unsafe`: adopting an inherited descriptor, accepting a
//! connection, terminal window sizes, and starting a detached process.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket::{SockFlag, accept4};
use nix::unistd::{ForkResult, fork, setsid};

/// Ignores SIGPIPE so that writes to a closed pipe fail with EPIPE instead (the supervisor, which
/// must outlive any reader that goes away).
pub fn ignore_sigpipe() {
    // SAFETY: SIG_IGN installs no handler code.
    let _ =
        unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) };
}

/// Adopts a descriptor this process inherited at a fixed number, marking it close-on-exec.
/// None if no such descriptor is open.
pub fn take_inherited_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only queries whether the descriptor is open.
    let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
    if !open {
        return None;
    }
    // SAFETY: the launcher passed this descriptor for this process to own; nothing else in the
    // process refers to it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = fcntl(owned.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    Some(owned)
}

/// Accepts one pending connection on a non-blocking listener.
pub fn accept_client(listener: BorrowedFd) -> Option<OwnedFd> {
    let fd = accept4(listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC).ok()?;
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn set_window_size(fd: BorrowedFd, rows: u16, cols: u16) {
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives for the duration of the call.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
}

/// Makes the child `command` starts the leader of a new session whose controlling terminal is
/// its standard input (a pty's slave), as a login's terminal is: the API's `exec -t` runs the
/// exec'd program on a pty the service made, and the service itself has no terminal.
pub fn controlling_terminal_on_stdin(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and calls only setsid and ioctl, which are
    // async-signal-safe, on no data of the parent's.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            if libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

pub fn window_size(fd: BorrowedFd) -> Option<(u16, u16)> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes into a winsize struct we own for the duration of the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_row > 0).then_some((size.ws_row, size.ws_col))
}

/// Starts `program` with `args` as a daemon: in its own session, reparented away from the
/// caller (double fork), stdio on /dev/null, `pass_fd` as its descriptor `target_fd`. Returns the
/// daemon's pid once the intermediate process has exited, so the caller has no child left
/// behind. The caller must be single-threaded or accept that only async-signal-safe work happens
/// in the children (it is: dup2, setsid, fork, write, execv with everything prepared before the
/// fork).
pub fn spawn_daemon(program: &str, args: &[String], pass_fd: BorrowedFd, target_fd: RawFd) -> std::io::Result<i32> {
    let program = CString::new(program)?;
    let argv: Vec<CString> = args.iter().map(|a| CString::new(a.as_str())).collect::<Result<_, _>>()?;
    let devnull = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
    // The intermediate process tells the daemon's pid through this (close-on-exec) pipe.
    let (pid_r, pid_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let pass = pass_fd.as_raw_fd();
    let null = devnull.as_raw_fd();
    // SAFETY: the child only calls async-signal-safe functions (setsid, fork, write, dup2,
    // execv, _exit) on data prepared before the fork.
    match unsafe { fork() }.map_err(std::io::Error::from)? {
        ForkResult::Child => {
            let _ = setsid();
            // SAFETY: as above.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    // SAFETY: raw dup2 on descriptors that are open in this process; the targets
                    // are the standard descriptors and the agreed handoff number.
                    unsafe {
                        libc::dup2(pass, target_fd);
                        libc::dup2(null, 0);
                        libc::dup2(null, 1);
                        libc::dup2(null, 2);
                    }
                    let _ = nix::unistd::execv(&program, &argv);
                }
                Ok(ForkResult::Parent { child }) => {
                    let _ = nix::unistd::write(&pid_w, &child.as_raw().to_ne_bytes());
                }
                Err(_) => {}
            }
            // SAFETY: leaving the intermediate (or failed) child without running destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(pid_w);
            let _ = nix::sys::wait::waitpid(child, None);
            let mut bytes = [0u8; 4];
            match nix::unistd::read(&pid_r, &mut bytes) {
                Ok(4) => Ok(i32::from_ne_bytes(bytes)),
                Ok(_) => Err(std::io::Error::other("the daemon could not be forked")),
                Err(errno) => Err(errno.into()),
            }
        }
    }
}
