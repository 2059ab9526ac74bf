//! berth's minimal init (`--init`): pid 1 of the container forks the real process, forwards
//! signals to it, reaps every orphan the kernel hands to pid 1, and exits as the real process
//! did. Also home of the signal-forwarding wait loop `berth exec` uses.

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, kill, signal, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpgrp, setpgid, tcsetpgrp};

use super::process::{self, SandboxError, Step, open_fds_above_2};
use super::spawn::{exit_now, report_and_exit};
use super::spec::ProcessSpec;

/// Signals passed on to the container's process (tini's list, minus the job-control ones).
pub const FORWARDED_SIGNALS: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

fn waited_signals() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED_SIGNALS {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Blocks the forwarded signals and SIGCHLD (so they queue for [`wait_forwarding_signals`]);
/// returns the previous mask, which a forked child must restore before execve.
pub(crate) fn block_signals() -> Result<SigSet, Errno> {
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited_signals()), Some(&mut old))?;
    Ok(old)
}

pub(crate) fn restore_signals(old: &SigSet) {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(old), None);
}

/// Runs as the container's pid 1, after the rootfs is ready: forks the real process (which sets
/// itself up and execs, reporting failures on `report`) and stays behind to supervise it. Returns
/// only if it could not fork; otherwise the process exits with the real process's status.
pub fn run_init(process: &ProcessSpec, seccomp: &[seccompiler::BpfProgram], report: &OwnedFd) -> SandboxError {
    // Container processes must not reach berth's binary through /proc/1/exe (CVE-2019-5736).
    if let Err(errno) = process::make_non_dumpable() {
        return SandboxError::Sys { what: "making init non-dumpable".into(), errno };
    }
    let old_mask = match block_signals().step(|| "blocking signals in init".into()) {
        Ok(mask) => mask,
        Err(e) => return e,
    };
    // SAFETY: this process is single-threaded (a fresh clone of the single-threaded supervisor).
    match unsafe { fork() } {
        Err(errno) => SandboxError::Sys { what: "forking the container's process".into(), errno },
        Ok(ForkResult::Child) => {
            restore_signals(&old_mask);
            let err = match become_foreground_group(process.tty) {
                Ok(()) => process::exec_process(process, seccomp),
                Err(e) => e,
            };
            report_and_exit(report, &err)
        }
        Ok(ForkResult::Parent { child }) => {
            // Init never execs, so close-on-exec does not apply: close what it inherited (the
            // supervisor's fds, the report pipe's write end) so it holds nothing open.
            close_fds_above_2();
            exit_now(wait_forwarding_signals(child, true, false))
        }
    }
}

/// The real process gets its own process group, and with a tty becomes the terminal's
/// foreground group, so ^C and window changes reach it directly.
fn become_foreground_group(tty: bool) -> Result<(), SandboxError> {
    setpgid(Pid::from_raw(0), Pid::from_raw(0)).step(|| "creating a process group".into())?;
    if tty {
        // A background group that sets the foreground group gets SIGTTOU unless it ignores it.
        // SAFETY: SIG_IGN and SIG_DFL install no handler code.
        unsafe { signal(Signal::SIGTTOU, SigHandler::SigIgn) }.step(|| "ignoring SIGTTOU".into())?;
        let result = tcsetpgrp(std::io::stdin(), getpgrp());
        // SAFETY: as above; SIG_IGN would otherwise survive execve.
        unsafe { signal(Signal::SIGTTOU, SigHandler::SigDfl) }.step(|| "restoring SIGTTOU".into())?;
        result.step(|| "making the process the tty's foreground group".into())?;
    }
    Ok(())
}

fn close_fds_above_2() {
    // SAFETY: close_range only closes fds; init owns nothing above 2 that it still uses.
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) } == 0 {
        return;
    }
    for fd in open_fds_above_2().unwrap_or_default() {
        // SAFETY: as above; an fd that was /proc's own directory handle is already closed and
        // gives EBADF, which is harmless.
        unsafe { libc::close(fd) };
    }
}

/// The shell's view of how a process ended.
pub fn exit_code_of(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Waits for `child` with the forwarded signals and SIGCHLD blocked (see [`block_signals`]),
/// passing each forwarded signal on to it, and returns its exit code (128+n for signal n).
/// `reap_all`: also reap any other child (init's orphans). `skip_kernel_sent`: do not forward
/// signals the kernel generated (a terminal's ^C reaches a child in the same process group
/// anyway).
pub(crate) fn wait_forwarding_signals(child: Pid, reap_all: bool, skip_kernel_sent: bool) -> i32 {
    let set = waited_signals();
    loop {
        // SAFETY: siginfo_t is plain old data; all-zero is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: sigwaitinfo reads the set and writes `info`, both live for the call.
        let sig = unsafe { libc::sigwaitinfo(set.as_ref(), &mut info) };
        if sig < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            // Cannot happen with a valid set; waiting without forwarding is the safe fallback.
            return wait_blocking(child);
        }
        if sig == libc::SIGCHLD {
            if let Some(code) = reap(child, reap_all) {
                return code;
            }
            continue;
        }
        if skip_kernel_sent && info.si_code == libc::SI_KERNEL {
            continue;
        }
        if let Ok(sig) = Signal::try_from(sig) {
            let _ = kill(child, sig);
        }
    }
}

/// Reaps what has ended; Some(exit code) once `child` has.
fn reap(child: Pid, reap_all: bool) -> Option<i32> {
    let which = if reap_all { Pid::from_raw(-1) } else { child };
    loop {
        match waitpid(which, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return None,
            Ok(status) if status.pid() == Some(child) => {
                if let Some(code) = exit_code_of(status) {
                    return Some(code);
                }
            }
            Ok(_) | Err(Errno::EINTR) => {}
            // No children left at all: `child` was reaped elsewhere, which berth never does.
            Err(_) => return Some(super::EXIT_SETUP),
        }
    }
}

fn wait_blocking(child: Pid) -> i32 {
    loop {
        match waitpid(child, None) {
            Ok(status) => {
                if let Some(code) = exit_code_of(status) {
                    return code;
                }
            }
            Err(Errno::EINTR) => {}
            Err(_) => return super::EXIT_SETUP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_of_signals_are_128_plus() {
        let pid = Pid::from_raw(7);
        assert_eq!(exit_code_of(WaitStatus::Exited(pid, 3)), Some(3));
        assert_eq!(exit_code_of(WaitStatus::Signaled(pid, Signal::SIGKILL, false)), Some(137));
        assert_eq!(exit_code_of(WaitStatus::Signaled(pid, Signal::SIGTERM, true)), Some(143));
        assert_eq!(exit_code_of(WaitStatus::Stopped(pid, Signal::SIGSTOP)), None);
    }

    #[test]
    fn forwarded_signals_exclude_chld_and_job_control() {
        for sig in [Signal::SIGCHLD, Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU, Signal::SIGKILL] {
            assert!(!FORWARDED_SIGNALS.contains(&sig));
        }
        assert!(waited_signals().contains(Signal::SIGCHLD));
    }
}
