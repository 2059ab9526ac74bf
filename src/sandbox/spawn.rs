//! Creates a container's first process in its own namespaces, as the supervisor asks.
//!
//! Parent and child talk through two close-on-exec pipes: the child waits on the start pipe
//! until the supervisor has placed it (cgroup, records), and reports a failure before its
//! program runs on the report pipe as one line, `<exit code> <message>`. A successful execve
//! closes the child's end with nothing written.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, pipe2};

use super::init;
use super::mounts::prepare_rootfs;
use super::process::{self, SandboxError, Step};
use super::spec::{NetworkNamespace, ProcessSecurity, SandboxSpec, SeccompProfile, SharedNamespace};
use super::syscall::{LinuxSyscall, Syscall};
use super::{EXIT_SETUP, devices, seccomp};

/// The container's standard streams, consumed by [`spawn`]. For a tty all three are (dups of)
/// the pty's slave side.
#[derive(Debug)]
pub struct ContainerStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// The namespaces a container's first process is created in. The cgroup namespace is not among
/// them: the process unshares it once it is in its cgroup (see [`spawn`]).
pub fn namespace_flags(network: &NetworkNamespace) -> CloneFlags {
    let flags =
        CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    match network {
        NetworkNamespace::New => flags | CloneFlags::CLONE_NEWNET,
        NetworkNamespace::Host | NetworkNamespace::Join(_) => flags,
    }
}

/// Opens the network namespace a container is to join, in the supervisor (so a bad path is an
/// error before anything is created); None unless the spec joins one.
fn open_network_namespace(spec: &SandboxSpec) -> Result<Option<File>, SandboxError> {
    let NetworkNamespace::Join(path) = &spec.network else { return Ok(None) };
    if spec.nested_id_maps.is_some() {
        // The container's own user namespace, made by the same clone, holds no privilege over
        // a namespace owned by berth's.
        return Err(SandboxError::Invalid(format!(
            "joining the network namespace {} is not possible for a container with a user namespace of its own \
             (--userns keep-id)",
            path.display()
        )));
    }
    File::open(path).map(Some).step(|| format!("opening the network namespace {}", path.display()))
}

/// Opens a namespace the container is to join (as [`open_network_namespace`] does).
fn open_shared(shared: &SharedNamespace, what: &str) -> Result<Option<File>, SandboxError> {
    let SharedNamespace::Join(path) = shared else { return Ok(None) };
    File::open(path).map(Some).step(|| format!("opening the {what} namespace {}", path.display()))
}

/// The namespaces the container's first process joins, opened by the supervisor.
struct Joined {
    net: Option<File>,
    ipc: Option<File>,
}

/// Moves the calling thread into the network namespace `netns` (opened by
/// [`open_network_namespace`]).
pub fn join_network_namespace(netns: &File) -> Result<(), SandboxError> {
    nix::sched::setns(netns, CloneFlags::CLONE_NEWNET).step(|| "joining the network namespace".into())
}

/// Why the caller's `before_start` hook refused to let the container go: the caller's own error.
pub type BeforeStartError = Box<dyn std::error::Error + Send + Sync>;

/// Starts the container described by `spec` and returns its first process's pid once the
/// container's program is running (or its init is, with `process.init`).
///
/// The child is created in new namespaces and waits until `before_start(pid)` has returned Ok
/// (the place to put it into its cgroup); an Err from the hook kills it and is returned as
/// `SandboxError::BeforeStart`. The child then unshares its cgroup namespace, takes `stdio` as
/// 0/1/2 (with a tty: new session, the tty as controlling terminal), sets the hostname, brings
/// up loopback (unless host network), builds the rootfs and runs the process. Any failure
/// before the program runs comes back as an Err whose `exit_code()` is 125, 126 or 127, with the
/// child already reaped. `stdio` is closed in the caller either way.
///
/// Must be called from a single-threaded process (the child runs arbitrary code between clone
/// and execve). Root: no user namespace; rootless: from inside berth's user namespace.
pub fn spawn(
    spec: &SandboxSpec,
    stdio: ContainerStdio,
    before_start: &mut dyn FnMut(Pid) -> Result<(), BeforeStartError>,
) -> Result<Pid, SandboxError> {
    if spec.process.args.is_empty() {
        return Err(SandboxError::Invalid("no command specified".into()));
    }
    let with_devices;
    let spec = if spec.privileged || !spec.device_requests.is_empty() {
        with_devices = SandboxSpec { devices: resolve_devices(spec)?, ..spec.clone() };
        &with_devices
    } else {
        spec
    };
    let netns = open_network_namespace(spec)?;
    let ipcns = open_shared(&spec.tuning.ipc, "IPC")?;
    let pidns = open_shared(&spec.tuning.pid, "PID")?;
    let (start_r, start_w) = pipe2(OFlag::O_CLOEXEC).step(|| "creating the start pipe".into())?;
    let (report_r, report_w) = pipe2(OFlag::O_CLOEXEC).step(|| "creating the report pipe".into())?;
    let mut flags = namespace_flags(&spec.network);
    if spec.nested_id_maps.is_some() {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    if spec.tuning.pid != SharedNamespace::New {
        flags.remove(CloneFlags::CLONE_NEWPID);
    }
    if spec.tuning.ipc != SharedNamespace::New {
        flags.remove(CloneFlags::CLONE_NEWIPC);
    }
    if spec.tuning.uts_host {
        flags.remove(CloneFlags::CLONE_NEWUTS);
    }
    // A PID namespace cannot be entered by the process itself, only by its next children: the
    // supervisor moves its children's namespace there for the clone, and back right after.
    let own_pidns = match &pidns {
        Some(theirs) => {
            let own = File::open("/proc/self/ns/pid").step(|| "opening berth's PID namespace".into())?;
            nix::sched::setns(theirs, CloneFlags::CLONE_NEWPID).step(|| "joining the PID namespace".into())?;
            Some(own)
        }
        None => None,
    };
    let cloned = clone_process(flags);
    if let (Ok(Some(_)) | Err(_), Some(own)) = (&cloned, &own_pidns) {
        // Back to its own, so that what the supervisor starts later is not in the other
        // container's namespace (setns to one's own active PID namespace is always allowed).
        let _ = nix::sched::setns(own, CloneFlags::CLONE_NEWPID);
    }
    let Some(pid) = cloned.step(|| "creating the container process".into())? else {
        drop(start_w);
        drop(report_r);
        child_main(spec, Joined { net: netns, ipc: ipcns }, stdio, start_r, report_w)
    };
    drop(netns);
    drop(ipcns);
    drop(start_r);
    drop(report_w);
    drop(stdio);

    if let Some((uid_map, gid_map)) = &spec.nested_id_maps {
        // The child waits on the start pipe, so its maps are in place before it does anything.
        let written = std::fs::write(format!("/proc/{pid}/gid_map"), gid_map)
            .and_then(|_| std::fs::write(format!("/proc/{pid}/uid_map"), uid_map));
        if written.is_err() {
            kill_and_reap(pid);
        }
        written.step(|| "writing the container's id maps".into())?;
    }
    if let Err(error) = before_start(pid) {
        kill_and_reap(pid);
        return Err(SandboxError::BeforeStart(error));
    }
    if let Err(errno) = write_all(&start_w, b"1") {
        kill_and_reap(pid);
        return Err(SandboxError::Sys { what: "starting the container process".into(), errno });
    }
    drop(start_w);
    match read_report(report_r) {
        Ok(None) => Ok(pid),
        Ok(Some(err)) => {
            reap(pid);
            Err(err)
        }
        Err(errno) => {
            kill_and_reap(pid);
            Err(SandboxError::Sys { what: "reading the container's start report".into(), errno })
        }
    }
}

/// The seccomp filters for a process with `security`, ready to install (none when unconfined).
pub fn compile_seccomp(security: &ProcessSecurity) -> Result<Vec<seccompiler::BpfProgram>, SandboxError> {
    let profile = match &security.seccomp {
        SeccompProfile::Unconfined => return Ok(Vec::new()),
        SeccompProfile::Default => seccomp::DOCKER_DEFAULT,
        SeccompProfile::Custom(json) => json.as_str(),
    };
    seccomp::compile(profile, security.capabilities).map_err(|e| SandboxError::Invalid(e.to_string()))
}

/// The device nodes of the container, as the host has them now: every host device when
/// privileged, and the requested ones (which win where both name a path).
fn resolve_devices(spec: &SandboxSpec) -> Result<Vec<super::spec::Device>, SandboxError> {
    let mut added = Vec::new();
    for d in &spec.device_requests {
        added.extend(
            devices::resolve(&d.host_path, &d.container_path, &d.cgroup_permissions).map_err(SandboxError::Invalid)?,
        );
    }
    let mut all = if spec.privileged { devices::host_devices() } else { Vec::new() };
    all.retain(|host| !added.iter().any(|d| d.path == host.path));
    all.extend(added);
    Ok(all)
}

/// fork() into the given new namespaces: clone3 without CLONE_VM or a stack, so the child goes
/// on with a copy of the caller's memory and stack. Ok(None) in the child.
pub(crate) fn clone_process(flags: CloneFlags) -> Result<Option<Pid>, Errno> {
    // SAFETY: clone_args is plain old data; all-zero is valid (no pidfd, tids, stack or tls).
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags.bits() as u32 as u64;
    args.exit_signal = libc::SIGCHLD as u64;
    // SAFETY: without CLONE_VM the child gets its own copy of the address space, like fork();
    // callers are single-threaded, so no lock is held by a thread missing from the child. The
    // kernel reads `size` bytes of `args`, which lives for the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut libc::clone_args, size_of::<libc::clone_args>()) };
    match ret {
        r if r < 0 => Err(Errno::last()),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// The container's first process: never returns.
fn child_main(spec: &SandboxSpec, joined: Joined, stdio: ContainerStdio, start: OwnedFd, report: OwnedFd) -> ! {
    // Compiled while the supervisor records the container as running (its file writes and
    // fsyncs take longer), so the filter costs the start nothing on a machine with two cores.
    let filters = compile_seccomp(&spec.process.security);
    if !wait_for_start(start) {
        // The supervisor gave up on this child (or died); it reports why, not us.
        exit_now(EXIT_SETUP);
    }
    let filters = match filters {
        Ok(filters) => filters,
        Err(e) => report_and_exit(&report, &e),
    };
    let err = match std::panic::catch_unwind(AssertUnwindSafe(|| run_container(spec, joined, &filters, stdio, &report)))
    {
        Ok(err) => err,
        Err(_) => SandboxError::Invalid("internal error: the container setup panicked".into()),
    };
    report_and_exit(&report, &err)
}

/// Blocks until the parent says go (true) or closes the pipe (false).
fn wait_for_start(start: OwnedFd) -> bool {
    let mut byte = [0u8; 1];
    matches!(File::from(start).read(&mut byte), Ok(1))
}

fn run_container(
    spec: &SandboxSpec,
    joined: Joined,
    filters: &[seccompiler::BpfProgram],
    stdio: ContainerStdio,
    report: &OwnedFd,
) -> SandboxError {
    let sys = LinuxSyscall;
    let setup = || -> Result<(), SandboxError> {
        // First: /sys, mounted below, shows the network namespace it is mounted in.
        if let Some(netns) = &joined.net {
            join_network_namespace(netns)?;
        }
        if let Some(ipc) = &joined.ipc {
            nix::sched::setns(ipc, CloneFlags::CLONE_NEWIPC).step(|| "joining the IPC namespace".into())?;
        }
        join_cgroup(&spec.cgroup_join_files)?;
        if !spec.privileged {
            // Before any node is made; the container cannot undo it (no cgroupfs on v1).
            let mut rules = devices::cgroup_rules(&spec.devices);
            rules.extend(spec.tuning.device_cgroup_rules.iter().cloned());
            devices::restrict_cgroup(&spec.cgroup_join_files, &rules)
                .step(|| "restricting devices in the devices cgroup".into())?;
        }
        if spec.tuning.cgroup_namespace {
            // Created only now that this process is in the container's cgroup, so that cgroup
            // is the namespace's root.
            unshare(CloneFlags::CLONE_NEWCGROUP).step(|| "creating the cgroup namespace".into())?;
        }
        if let Some(adj) = spec.tuning.oom_score_adj {
            std::fs::write("/proc/self/oom_score_adj", adj.to_string())
                .step(|| format!("setting oom_score_adj to {adj}"))?;
        }
        install_stdio(stdio, spec.process.tty)?;
        configure_namespaces(spec, &sys)?;
        // Through the host's /proc, still mounted here: a namespaced sysctl file shows the
        // namespace of the process that opens it, which is the container's by now.
        for (key, value) in &spec.tuning.sysctls {
            let path = std::path::Path::new("/proc/sys").join(key.replace('.', "/"));
            std::fs::write(&path, value).step(|| format!("setting sysctl {key}={value}"))?;
        }
        prepare_rootfs(spec, &sys)
    };
    if let Err(e) = setup() {
        return e;
    }
    if spec.process.init {
        init::run_init(&spec.process, filters, report)
    } else {
        process::exec_process(&spec.process, filters)
    }
}

fn join_cgroup(files: &[std::path::PathBuf]) -> Result<(), SandboxError> {
    for file in files {
        std::fs::write(file, "0").map_err(|e| SandboxError::Sys {
            what: format!("joining the cgroup ({})", file.display()),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
    }
    Ok(())
}

/// What the new UTS and network namespaces need before anything runs in them.
pub fn configure_namespaces(spec: &SandboxSpec, sys: &dyn Syscall) -> Result<(), SandboxError> {
    if !spec.hostname.is_empty() && !spec.tuning.uts_host {
        sys.sethostname(&spec.hostname).step(|| format!("setting the hostname to {:?}", spec.hostname))?;
    }
    if spec.network == NetworkNamespace::New {
        sys.set_loopback_up().step(|| "bringing up the loopback interface".into())?;
    }
    Ok(())
}

/// Makes `stdio` fds 0, 1 and 2; with a tty also starts a session with it as controlling tty.
fn install_stdio(stdio: ContainerStdio, tty: bool) -> Result<(), SandboxError> {
    let ContainerStdio { stdin, stdout, stderr } = stdio;
    // Copied above 2 first, so that no dup2 below overwrites a source that is itself 0, 1 or 2.
    let high = [stdin, stdout, stderr].map(|fd| dup_above_2(&fd));
    for (target, fd) in high.into_iter().enumerate() {
        let fd = fd.step(|| "duplicating the container's stdio".into())?;
        // SAFETY: dup2 only changes the fd table; `fd` is open, and fds 0-2 now become the
        // container's stdio on purpose (the old ones were the supervisor's, shared, not owned).
        if unsafe { libc::dup2(fd.as_raw_fd(), target as i32) } < 0 {
            return Err(Errno::last()).step(|| format!("installing fd {target}"));
        }
    }
    if tty {
        nix::unistd::setsid().step(|| "creating a session".into())?;
        // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal) and touches no memory.
        if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
            return Err(Errno::last()).step(|| "making the tty the controlling terminal".into());
        }
    }
    Ok(())
}

fn dup_above_2(fd: &OwnedFd) -> Result<OwnedFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC creates a new fd and touches no memory.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `new` was just created by fcntl and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

pub(crate) fn write_all(fd: &impl AsFd, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Ends the process at once: no destructors, no atexit handlers, no flushing of buffers the
/// parent also holds.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Writes `err` to the report pipe and exits with its code. Used by every process between clone
/// or fork and execve.
pub(crate) fn report_and_exit(report: &OwnedFd, err: &SandboxError) -> ! {
    let code = err.exit_code();
    let _ = write_all(report, encode_report(err).as_bytes());
    exit_now(code)
}

/// One line, short enough for one atomic pipe write.
pub fn encode_report(err: &SandboxError) -> String {
    let mut line = format!("{} {}", err.exit_code(), err).replace('\n', " ");
    if line.len() > 4000 {
        let mut cut = 4000;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line
}

/// What a report pipe carried: None when nothing was written (the program is running).
pub fn decode_report(bytes: &[u8]) -> Option<SandboxError> {
    if bytes.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    let parsed = text.split_once(' ').and_then(|(code, message)| Some((code.parse().ok()?, message)));
    Some(match parsed {
        Some((code, message)) => SandboxError::InContainer { code, message: message.to_owned() },
        None => SandboxError::InContainer { code: EXIT_SETUP, message: text.into_owned() },
    })
}

/// Reads the report pipe to its end: every write end is closed once the program runs.
pub(crate) fn read_report(report: OwnedFd) -> Result<Option<SandboxError>, Errno> {
    let mut bytes = Vec::new();
    File::from(report).read_to_end(&mut bytes).map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw))?;
    Ok(decode_report(&bytes))
}

pub(crate) fn reap(pid: Pid) {
    while let Err(Errno::EINTR) = waitpid(pid, None) {}
}

fn kill_and_reap(pid: Pid) {
    let _ = kill(pid, Signal::SIGKILL);
    reap(pid);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::spec::ProcessSpec;
    use crate::sandbox::syscall::RecordingSyscall;

    fn spec(network: NetworkNamespace, hostname: &str) -> SandboxSpec {
        SandboxSpec {
            id: "c1".into(),
            rootless: false,
            lower_dirs: vec![],
            upper_dir: "/c/upper".into(),
            work_dir: "/c/work".into(),
            rootfs: "/c/rootfs".into(),
            hostname: hostname.into(),
            etc_files: vec![],
            network,
            cgroup_join_files: Vec::new(),
            mounts: Vec::new(),
            read_only_rootfs: false,
            nested_id_maps: None,
            privileged: false,
            device_requests: Vec::new(),
            devices: Vec::new(),
            tuning: Default::default(),
            process: ProcessSpec { args: vec!["sh".into()], ..Default::default() },
        }
    }

    #[test]
    fn only_a_new_network_namespace_is_made_at_clone() {
        let private = namespace_flags(&NetworkNamespace::New);
        assert!(private.contains(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID));
        assert!(private.contains(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC));
        assert!(!namespace_flags(&NetworkNamespace::Host).contains(CloneFlags::CLONE_NEWNET));
        assert!(!namespace_flags(&NetworkNamespace::Join("/proc/1/ns/net".into())).contains(CloneFlags::CLONE_NEWNET));
        // Never a user namespace (rootless containers share berth's) nor, at clone time, a
        // cgroup namespace.
        for mode in [NetworkNamespace::New, NetworkNamespace::Host, NetworkNamespace::Join("/x".into())] {
            assert!(!namespace_flags(&mode).intersects(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWCGROUP));
        }
    }

    #[test]
    fn namespaces_get_hostname_and_loopback() {
        let sys = RecordingSyscall::new();
        configure_namespaces(&spec(NetworkNamespace::New, "abc"), &sys).unwrap();
        assert_eq!(sys.calls(), ["sethostname abc", "loopback up"]);
        // A joined namespace is its owner's to configure.
        let sys = RecordingSyscall::new();
        configure_namespaces(&spec(NetworkNamespace::Join("/run/netns/x".into()), "abc"), &sys).unwrap();
        assert_eq!(sys.calls(), ["sethostname abc"]);
        let sys = RecordingSyscall::new();
        configure_namespaces(&spec(NetworkNamespace::Host, ""), &sys).unwrap();
        assert!(sys.calls().is_empty());
    }

    #[test]
    fn a_network_namespace_is_joined_by_path() {
        if !crate::sandbox::cgroup::test_support::require_root("making a network namespace") {
            return;
        }
        let inode = |path: &str| std::fs::metadata(path).map(|m| std::os::linux::fs::MetadataExt::st_ino(&m));
        let mut holder = std::process::Command::new("unshare").args(["--net", "sleep", "60"]).spawn().unwrap();
        let theirs = format!("/proc/{}/ns/net", holder.id());
        let ours = inode("/proc/self/ns/net").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while inode(&theirs).is_ok_and(|i| i == ours) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let wanted = inode(&theirs).unwrap();
        assert_ne!(wanted, ours, "unshare made no network namespace");
        let joining = spec(NetworkNamespace::Join(theirs.clone().into()), "abc");
        let netns = open_network_namespace(&joining).unwrap().expect("a namespace to join");
        // setns moves only the calling thread: a thread of its own joins and looks.
        let joined = std::thread::spawn(move || {
            join_network_namespace(&netns).unwrap();
            inode("/proc/thread-self/ns/net").unwrap()
        })
        .join()
        .unwrap();
        let _ = holder.kill();
        let _ = holder.wait();
        assert_eq!(joined, wanted);
        assert_eq!(inode("/proc/thread-self/ns/net").unwrap(), ours, "only the joining thread moved");

        let missing = spec(NetworkNamespace::Join("/proc/self/ns/berth-no-such".into()), "abc");
        let err = open_network_namespace(&missing).unwrap_err();
        assert!(err.to_string().contains("/proc/self/ns/berth-no-such"), "{err}");
        let mut nested = spec(NetworkNamespace::Join("/proc/self/ns/net".into()), "abc");
        nested.nested_id_maps = Some(("0 1000 1".into(), "0 1000 1".into()));
        assert_eq!(open_network_namespace(&nested).unwrap_err().exit_code(), 125);
    }

    #[test]
    fn reports_round_trip_with_their_exit_codes() {
        for err in [
            SandboxError::NotInPath { program: "foo".into() },
            SandboxError::Exec { program: "/etc".into(), errno: Errno::EACCES },
            SandboxError::Sys { what: "mounting proc on /x\nsecond line".into(), errno: Errno::EPERM },
        ] {
            let decoded = decode_report(encode_report(&err).as_bytes()).unwrap();
            assert_eq!(decoded.exit_code(), err.exit_code());
            assert_eq!(decoded.to_string(), err.to_string().replace('\n', " "));
        }
        assert!(decode_report(b"").is_none());
        let garbled = decode_report(b"oops").unwrap();
        assert_eq!((garbled.exit_code(), garbled.to_string()), (125, "oops".to_string()));
        let long = SandboxError::Invalid("é".repeat(3000));
        assert!(encode_report(&long).len() <= 4000);
    }

    #[test]
    fn empty_commands_are_refused_before_anything_is_created() {
        let mut s = spec(NetworkNamespace::New, "abc");
        s.process.args.clear();
        let (r, w) = nix::unistd::pipe().unwrap();
        let stdio = ContainerStdio { stdin: r, stdout: w.try_clone().unwrap(), stderr: w };
        let err = spawn(&s, stdio, &mut |_| panic!("must not start")).unwrap_err();
        assert_eq!((err.exit_code(), err.to_string()), (125, "no command specified".to_string()));
    }
}
