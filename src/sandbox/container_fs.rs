//! Reaching a container's files from outside it, for `cp` and `export`: a forked helper joins a
//! running container's mount namespace (and, rootless, its user namespace), or mounts a stopped
//! container's overlay in a mount namespace of its own, and runs the caller's work with a
//! directory fd of the container's root. The caller's process stays where it is (its host paths
//! keep working); a pipe between the two carries the data.

use std::fs::File;
use std::os::fd::{OwnedFd, RawFd};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2};

use super::exec::{self, JOIN_ORDER};
use super::mounts::{mount_overlay, mount_user_mounts, read_only_overlay_options};
use super::process::{SandboxError, Step, make_non_dumpable};
use super::spawn::{exit_now, read_report, report_and_exit};
use super::spec::SandboxSpec;
use super::syscall::{LinuxSyscall, Syscall};

/// How the helper reaches a container's files.
#[derive(Debug)]
pub enum FsAccess {
    /// Join the mount namespace of the running container whose first process is `pid` (first
    /// its user namespace, when `rootless`): the container's own view, its mounts included.
    Running { pid: i32, rootless: bool },
    /// Mount the stopped container's overlay, then its binds, volumes and tmpfs mounts, in a new
    /// mount namespace. Rootless callers must be in berth's user namespace.
    Stopped(Box<SandboxSpec>),
    /// Mount a read-only overlay of `layers` (top-most first: a container's upper dir, then its
    /// image's layers) on `mountpoint` in a new mount namespace: what the container's root holds,
    /// without its mounts, readable while it runs.
    Snapshot { layers: Vec<PathBuf>, mountpoint: PathBuf, userxattr: bool },
}

/// A running helper. [`Helper::wait`] must be called: it reaps the process and gives its error.
#[derive(Debug)]
pub struct Helper {
    pid: Pid,
    report: OwnedFd,
}

impl Helper {
    /// Waits for the helper to end; the error it reported, if any.
    pub fn wait(self) -> Result<(), SandboxError> {
        let report = read_report(self.report);
        let status = loop {
            match waitpid(self.pid, None) {
                Err(Errno::EINTR) => continue,
                other => break other,
            }
        };
        match report {
            Ok(Some(err)) => Err(err),
            Err(errno) => Err(SandboxError::Sys { what: "reading the helper's report".into(), errno }),
            Ok(None) => match status {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(status) => Err(SandboxError::Invalid(format!("the helper process ended unexpectedly ({status:?})"))),
                Err(errno) => Err(SandboxError::Sys { what: "waiting for the helper process".into(), errno }),
            },
        }
    }
}

/// Forks a helper that reaches the container's files as `access` says and calls `work` with a
/// directory fd (O_PATH) of the container's root; `work`'s error comes back from
/// [`Helper::wait`]. `close_in_child`: fds of the caller's that the helper must not hold (the
/// caller's end of a pipe, so that its reader sees the end).
///
/// Must be called from a single-threaded process. Namespace files are opened before the fork,
/// so a container that is gone is reported at once.
pub fn spawn_helper(
    access: &FsAccess,
    close_in_child: &[RawFd],
    work: &mut dyn FnMut(OwnedFd) -> Result<(), String>,
) -> Result<Helper, SandboxError> {
    let namespaces = match access {
        FsAccess::Running { pid, rootless } => open_namespaces(*pid, *rootless)?,
        _ => Vec::new(),
    };
    let (report_r, report_w) = pipe2(OFlag::O_CLOEXEC).step(|| "creating the report pipe".into())?;
    // SAFETY: the caller is single-threaded (documented above), so the child may run arbitrary
    // code after fork.
    match unsafe { fork() } {
        Err(errno) => Err(SandboxError::Sys { what: "forking the helper process".into(), errno }),
        Ok(ForkResult::Child) => {
            // A reader that stops early (a whole file read, or `| head`) must show up as EPIPE
            // here, which the work handles, not as a SIGPIPE death.
            super::fds::ignore_sigpipe();
            drop(report_r);
            for &fd in close_in_child {
                // SAFETY: `fd` belongs to the parent's half of a pipe; this copy of the process
                // never uses it (the OwnedFd that holds it here is never dropped: the process
                // ends with _exit).
                unsafe { libc::close(fd) };
            }
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                enter(access, namespaces).and_then(|root| work(root).map_err(SandboxError::Invalid))
            }));
            match result {
                Ok(Ok(())) => exit_now(0),
                Ok(Err(e)) => report_and_exit(&report_w, &e),
                Err(_) => {
                    report_and_exit(&report_w, &SandboxError::Invalid("internal error: the helper panicked".into()))
                }
            }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(report_w);
            Ok(Helper { pid: child, report: report_r })
        }
    }
}

/// The user (rootless only) and mount namespaces of `pid`, user first; one this process already
/// shares is left out.
fn open_namespaces(pid: i32, rootless: bool) -> Result<Vec<(&'static str, CloneFlags, File)>, SandboxError> {
    let wanted = JOIN_ORDER.into_iter().filter(|(name, _)| *name == "mnt" || (rootless && *name == "user"));
    exec::open_namespaces(pid, wanted)
}

/// In the helper: gets to the container's files; returns an O_PATH fd of its root.
fn enter(access: &FsAccess, namespaces: Vec<(&'static str, CloneFlags, File)>) -> Result<OwnedFd, SandboxError> {
    let sys = LinuxSyscall;
    let root: PathBuf = match access {
        FsAccess::Running { .. } => {
            // Container processes must not be able to ptrace a process that holds host fds.
            make_non_dumpable().step(|| "making the helper non-dumpable".into())?;
            exec::join_namespaces(&namespaces)?;
            // Joining a mount namespace moves the root and working directory to its root: the
            // container's, since it pivoted there.
            PathBuf::from("/")
        }
        FsAccess::Stopped(spec) => {
            private_mount_namespace(&sys)?;
            mount_overlay(spec, &sys)?;
            mount_user_mounts(&spec.rootfs, &spec.mounts, &sys)?;
            spec.rootfs.clone()
        }
        FsAccess::Snapshot { layers, mountpoint, userxattr } => {
            private_mount_namespace(&sys)?;
            sys.mkdir_all(mountpoint, 0o755).step(|| format!("creating {}", mountpoint.display()))?;
            let options = read_only_overlay_options(layers, *userxattr);
            sys.mount(Some(Path::new("overlay")), mountpoint, Some("overlay"), MsFlags::MS_RDONLY, Some(&options))
                .step(|| {
                    format!("mounting a read-only overlay of {} layers on {}", layers.len(), mountpoint.display())
                })?;
            mountpoint.clone()
        }
    };
    nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .step(|| format!("opening the container's root ({})", root.display()))
}

/// A mount namespace of the helper's own, whose mounts never propagate anywhere.
fn private_mount_namespace(sys: &dyn Syscall) -> Result<(), SandboxError> {
    unshare(CloneFlags::CLONE_NEWNS).step(|| "creating a mount namespace".into())?;
    sys.mount(None, Path::new("/"), None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)
        .step(|| "making / private".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    #[test]
    fn errors_of_the_work_come_back_and_a_gone_container_is_esrch() {
        let err = open_namespaces(i32::MAX, false).unwrap_err();
        assert!(matches!(err, SandboxError::Sys { errno: Errno::ESRCH, .. }), "{err}");
        // Our own namespaces: nothing to join, so the work runs in the helper, here.
        let access = FsAccess::Running { pid: std::process::id() as i32, rootless: false };
        let helper = spawn_helper(&access, &[], &mut |_root| Err("no luck".into())).unwrap();
        assert_eq!(helper.wait().unwrap_err().to_string(), "no luck");
        // The helper writes into a pipe whose reading end it closed; the reader sees the end.
        let (r, w) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut w = Some(w);
        let helper = spawn_helper(&access, &[r.as_raw_fd()], &mut |root| {
            let st = nix::sys::stat::fstat(&root).map_err(|e| e.to_string())?;
            let kind = if st.st_mode & libc::S_IFMT == libc::S_IFDIR { "dir" } else { "other" };
            File::from(w.take().unwrap()).write_all(kind.as_bytes()).map_err(|e| e.to_string())
        })
        .unwrap();
        drop(w);
        let mut text = String::new();
        File::from(r).read_to_string(&mut text).unwrap();
        helper.wait().unwrap();
        assert_eq!(text, "dir");
    }
}
