//! `berth exec`: runs another process in a running container, by joining its namespaces.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::linux::fs::MetadataExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, setns};
use nix::unistd::{ForkResult, fork, pipe2, setsid};
use seccompiler::BpfProgram;

use super::init::{block_signals, restore_signals, wait_forwarding_signals};
use super::process::{self, SandboxError, Step};
use super::spawn::{compile_seccomp, exit_now, read_report, reap, report_and_exit};
use super::spec::ProcessSpec;

/// The namespaces joined, in order: the user namespace first, so the others (owned by it) can be
/// joined; the mount namespace last, since it changes the root /proc is reached through.
pub const JOIN_ORDER: [(&str, CloneFlags); 7] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Runs `process` inside the container whose first process is `target_pid`, with the caller's
/// stdin/stdout/stderr, and returns its exit code (128+n when killed by signal n); with
/// `detach`, returns 0 as soon as the program runs. Failures before the program runs are Errs
/// with exit codes 125/126/127, like [`super::spawn::spawn`]'s.
///
/// The caller runs in the host's user namespace (also when rootless: `rootless` says to join
/// berth's user namespace through the target), is single-threaded, and has checked that
/// `target_pid` is the container's process; a process that is gone gives ESRCH. The calling
/// process itself joins the container's namespaces (all but pid) and is not dumpable afterwards,
/// so it should only report the result and exit. The new process stays in the caller's cgroup.
pub fn exec_in_container(
    target_pid: i32,
    rootless: bool,
    process: &ProcessSpec,
    detach: bool,
) -> Result<i32, SandboxError> {
    if process.args.is_empty() {
        return Err(SandboxError::Invalid("no command specified".into()));
    }
    let filters = compile_seccomp(&process.security)?;
    let namespaces =
        open_namespaces(target_pid, JOIN_ORDER.into_iter().filter(|(name, _)| rootless || *name != "user"))?;
    // Once in the container's namespaces this process must not be ptrace-able or have its
    // /proc/PID/exe (berth's binary) opened by container processes.
    process::make_non_dumpable().step(|| "making berth non-dumpable".into())?;
    join_namespaces(&namespaces)?;
    drop(namespaces);
    let (report_r, report_w) = pipe2(OFlag::O_CLOEXEC).step(|| "creating the report pipe".into())?;
    if detach {
        run_detached(process, &filters, report_r, report_w)
    } else {
        run_attached(process, &filters, report_r, report_w)
    }
}

/// Opens the namespaces of `pid` named in `wanted` (a part of [`JOIN_ORDER`], in its order) to
/// join, before joining any (joining the mount namespace changes what /proc is). Namespaces the
/// caller already shares (the host's network) are skipped: joining one's own namespace may still
/// need privileges over its owner.
pub(crate) fn open_namespaces(
    pid: i32,
    wanted: impl IntoIterator<Item = (&'static str, CloneFlags)>,
) -> Result<Vec<(&'static str, CloneFlags, File)>, SandboxError> {
    let mut opened = Vec::new();
    for (name, flag) in wanted {
        let path = format!("/proc/{pid}/ns/{name}");
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SandboxError::Sys { what: format!("container process {pid}"), errno: Errno::ESRCH });
            }
            Err(e) => return Err(e).step(|| format!("opening {path}")),
        };
        let theirs = file.metadata().step(|| format!("reading {path}"))?;
        let ours =
            std::fs::metadata(format!("/proc/self/ns/{name}")).step(|| format!("reading /proc/self/ns/{name}"))?;
        if (theirs.st_dev(), theirs.st_ino()) != (ours.st_dev(), ours.st_ino()) {
            opened.push((name, flag, file));
        }
    }
    Ok(opened)
}

/// Joins namespaces opened by [`open_namespaces`], in their order.
pub(crate) fn join_namespaces(namespaces: &[(&'static str, CloneFlags, File)]) -> Result<(), SandboxError> {
    for (name, flag, fd) in namespaces {
        setns(fd, *flag).step(|| format!("joining the container's {name} namespace"))?;
    }
    Ok(())
}

/// The forked process's side: it is in the container's pid namespace, so it is the one that
/// runs the program.
fn exec_child(process: &ProcessSpec, filters: &[BpfProgram], report: &OwnedFd) -> ! {
    // setns(mnt) put the root and working directory at the namespace's root already; this only
    // makes it explicit.
    let err = match nix::unistd::chdir("/").step(|| "chdir to /".into()) {
        Ok(()) => process::exec_process(process, filters),
        Err(e) => e,
    };
    report_and_exit(report, &err)
}

fn run_attached(
    process: &ProcessSpec,
    filters: &[BpfProgram],
    report_r: OwnedFd,
    report_w: OwnedFd,
) -> Result<i32, SandboxError> {
    let old_mask = block_signals().step(|| "blocking signals".into())?;
    // SAFETY: the caller is single-threaded (documented on exec_in_container).
    match unsafe { fork() } {
        Err(errno) => {
            restore_signals(&old_mask);
            Err(SandboxError::Sys { what: "forking into the container".into(), errno })
        }
        Ok(ForkResult::Child) => {
            restore_signals(&old_mask);
            drop(report_r);
            exec_child(process, filters, &report_w)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(report_w);
            let report = read_report(report_r);
            let code = wait_forwarding_signals(child, false, true);
            restore_signals(&old_mask);
            match report {
                Ok(None) => Ok(code),
                Ok(Some(err)) => Err(err),
                Err(errno) => Err(SandboxError::Sys { what: "reading the exec report".into(), errno }),
            }
        }
    }
}

/// Double fork: the program's parent exits at once, so it is reparented to the container's pid 1
/// and nobody waits for it here. Its stdin, stdout and stderr are /dev/null: it must not keep the
/// caller's open (`berth exec -d c sleep 9 | cat` returns at once, as Docker's does).
fn run_detached(
    process: &ProcessSpec,
    filters: &[BpfProgram],
    report_r: OwnedFd,
    report_w: OwnedFd,
) -> Result<i32, SandboxError> {
    // This process is in the container's mount namespace by now: the container's own /dev/null.
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .step(|| "opening /dev/null in the container".into())?;
    // SAFETY: the caller is single-threaded (documented on exec_in_container).
    match unsafe { fork() } {
        Err(errno) => Err(SandboxError::Sys { what: "forking into the container".into(), errno }),
        Ok(ForkResult::Child) => {
            drop(report_r);
            // SAFETY: single-threaded, as above (fork() gives a single-threaded child).
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    // Its own session: the caller's terminal going away must not hang it up.
                    let _ = setsid();
                    if let Err(e) = detach_stdio(&devnull) {
                        report_and_exit(&report_w, &e)
                    }
                    drop(devnull);
                    exec_child(process, filters, &report_w)
                }
                Ok(ForkResult::Parent { .. }) => exit_now(0),
                Err(errno) => report_and_exit(
                    &report_w,
                    &SandboxError::Sys { what: "forking the detached process".into(), errno },
                ),
            }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(report_w);
            reap(child);
            match read_report(report_r) {
                Ok(None) => Ok(0),
                Ok(Some(err)) => Err(err),
                Err(errno) => Err(SandboxError::Sys { what: "reading the exec report".into(), errno }),
            }
        }
    }
}

/// Points fds 0, 1 and 2 at `devnull`.
fn detach_stdio(devnull: &File) -> Result<(), SandboxError> {
    for target in 0..=2 {
        // SAFETY: dup2 only changes the fd table; `devnull` is open, and the standard fds are
        // replaced on purpose (they were the caller's, not owned by anything here).
        if unsafe { libc::dup2(devnull.as_raw_fd(), target) } < 0 {
            return Err(Errno::last()).step(|| format!("pointing fd {target} at /dev/null"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_namespace_comes_first_and_mount_last() {
        assert_eq!(JOIN_ORDER[0].0, "user");
        assert_eq!(JOIN_ORDER[JOIN_ORDER.len() - 1].0, "mnt");
        let names: Vec<&str> = JOIN_ORDER.iter().map(|(n, _)| *n).collect();
        for ns in ["cgroup", "ipc", "uts", "net", "pid"] {
            assert!(names.contains(&ns));
        }
    }

    #[test]
    fn own_namespaces_are_skipped_and_gone_processes_give_esrch() {
        // This process shares every namespace with itself: nothing to join.
        let own = open_namespaces(std::process::id() as i32, JOIN_ORDER).unwrap();
        assert!(own.is_empty());
        // A pid beyond pid_max cannot exist.
        let err = open_namespaces(i32::MAX, JOIN_ORDER).unwrap_err();
        assert!(matches!(err, SandboxError::Sys { errno: Errno::ESRCH, .. }), "{err}");
        assert_eq!(err.exit_code(), 125);
    }
}
