//! Network namespaces: running a piece of code in another one without moving the process.
//!
//! `setns(CLONE_NEWNET)` changes only the calling thread, and a socket stays in the namespace
//! it was created in, so code that needs sockets inside a container's namespace (netlink to
//! configure its interfaces, the DNS responder's listening sockets) runs on a short-lived
//! thread that joins the namespace, creates them, and ends. The calling thread never leaves
//! its own namespace, so nothing needs to return to it: that matters rootless, where a process
//! in berth's user namespace may enter a container's network namespace (which that user
//! namespace owns) but could never go back into the host's (owned by the initial one).
//! A process started from that thread (`nft`) starts in the joined namespace too.
//!
//! The thread has ended when these functions return, so a caller that was single-threaded is
//! again (it may fork and unshare as before).

use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};

/// Runs `f` on a thread that has joined the network namespace `netns` (an open
/// `/proc/PID/ns/net` or a bind mount of one), and returns what it returns.
pub fn in_netns<T: Send>(netns: BorrowedFd<'_>, f: impl FnOnce() -> T + Send) -> Result<T, Errno> {
    std::thread::scope(|scope| {
        let thread = scope.spawn(move || {
            setns(netns, CloneFlags::CLONE_NEWNET)?;
            Ok(f())
        });
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
/// Runs `f` on a thread in a new, empty network namespace (only a loopback device, down),
/// which ends when nothing uses it any more; `f` gets that namespace as an open fd, to keep it
/// (or pass it to [`in_netns`]) beyond the thread. Tests make their throwaway "hosts" and
/// "containers" with this; it needs CAP_SYS_ADMIN.
pub fn in_new_netns<T: Send>(f: impl FnOnce(OwnedFd) -> T + Send) -> Result<T, Errno> {
    std::thread::scope(|scope| {
        let thread = scope.spawn(move || {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)?;
            let own =
                File::open("/proc/thread-self/ns/net").map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
            Ok(f(OwnedFd::from(own)))
        });
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The network namespace of process `pid`, opened (the supervisor's view of its container's).
#[cfg_attr(not(test), allow(dead_code))]
pub fn open_netns_of(pid: i32) -> std::io::Result<OwnedFd> {
    File::open(format!("/proc/{pid}/ns/net")).map(OwnedFd::from)
}

/// The calling thread's own network namespace, opened.
pub fn open_own_netns() -> std::io::Result<OwnedFd> {
    File::open("/proc/thread-self/ns/net").map(OwnedFd::from)
}

/// Fds passed with [`pass_fd`] are first copied at or above this number, so that no
/// child-side dup2 into a target (below it) overwrites another one's source.
const PASS_FD_BASE: RawFd = 64;

#[cfg_attr(not(test), allow(dead_code))]
/// Makes the child of `command` get `fd` as its fd `target` (below 64), as a helper that takes
/// a namespace as `/proc/self/fd/N` (pasta, slirp4netns) needs. Several fds may be passed to
/// one command. The copy is closed in this process when `command` is dropped.
pub fn pass_fd(command: &mut Command, fd: OwnedFd, target: RawFd) -> Result<(), Errno> {
    assert!((0..PASS_FD_BASE).contains(&target), "a passed fd's target is below {PASS_FD_BASE}");
    let high = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(PASS_FD_BASE))?;
    drop(fd);
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) just returned this new fd, which nothing else owns.
    let high = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(high) };
    let raw = high.as_raw_fd();
    let hook = move || {
        let _open_until_exec = &high;
        // SAFETY: runs in the child between fork and exec, where only async-signal-safe calls
        // may be made, and dup2 is one; the copy it makes has no FD_CLOEXEC.
        if unsafe { libc::dup2(raw, target) } < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
    };
    // SAFETY: the hook above only calls dup2 and allocates nothing.
    unsafe { command.pre_exec(hook) };
    Ok(())
}

/// Makes the child of `command` die (SIGKILL) when this thread's process does: a helper such
/// as pasta that belongs to a supervisor ends with it even after a kill -9 of the supervisor.
/// (The supervisor is single-threaded, so "the thread that forked" is the process.)
pub fn die_with_parent(command: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    let hook = move || {
        // SAFETY: between fork and exec only async-signal-safe calls are made: prctl and
        // getppid. A parent already gone before prctl took effect is caught by getppid.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
        }
        Ok(())
    };
    // SAFETY: the hook above only calls prctl, getppid and _exit, and allocates nothing.
    unsafe { command.pre_exec(hook) };
}

#[cfg(test)]
/// True when `a` and `b` are the same namespace (same device and inode).
pub fn same_namespace(a: &impl std::os::fd::AsFd, b: &impl std::os::fd::AsFd) -> bool {
    let stat = |fd: BorrowedFd<'_>| nix::sys::stat::fstat(fd).ok().map(|s| (s.st_dev, s.st_ino));
    matches!((stat(a.as_fd()), stat(b.as_fd())), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn code_runs_in_another_namespace_and_the_caller_stays_home() {
        if !nix::unistd::geteuid().is_root() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("cannot run this test in CI: needs root: creating network namespaces");
            }
            eprintln!("skipped: needs root: creating network namespaces");
            return;
        }
        let home = open_own_netns().unwrap();
        assert!(same_namespace(&home, &open_netns_of(std::process::id() as i32).unwrap()));
        let fresh = in_new_netns(|ns| ns).unwrap();
        assert!(!same_namespace(&home, &fresh));
        let seen = in_netns(fresh.as_fd(), || open_own_netns().unwrap()).unwrap();
        assert!(same_namespace(&seen, &fresh));
        assert!(same_namespace(&open_own_netns().unwrap(), &home), "the calling thread never moved");
    }
}
