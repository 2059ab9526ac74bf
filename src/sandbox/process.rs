//! The last steps before a container process runs its program: limits, user, working directory,
//! capabilities, environment, fds, and the execve itself. Shared by a container's first process
//! and by `berth exec`; runs inside the container's namespaces, after pivot_root.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};

use super::caps;
use super::seccomp;
use super::spec::{ProcessSpec, Rlimit};
use super::users::{ExecUser, resolve_user};
use super::{EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND, EXIT_SETUP};

/// Docker's PATH for containers whose environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A system call failed while the sandbox was set up.
    #[error("{what}: {}", errno_text(*errno))]
    Sys { what: String, errno: Errno },
    /// The container's configuration cannot be used as it is.
    #[error("{0}")]
    Invalid(String),
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    #[error("exec: {program:?}: executable file not found in $PATH")]
    NotInPath { program: String },
    /// execve itself failed.
    #[error("exec: {program:?}: {}", errno_text(*errno))]
    Exec { program: String, errno: Errno },
    /// The caller's hook before the container starts failed.
    #[error("preparing the container process's start")]
    BeforeStart(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// What a container process reported before it died (see spawn.rs), with its exit code.
    #[error("{message}")]
    InContainer { code: i32, message: String },
}

impl SandboxError {
    /// The exit code a shell would give: 127 when the program does not exist, 126 when it
    /// exists but cannot be run, 125 when berth failed before it got that far.
    pub fn exit_code(&self) -> i32 {
        match self {
            SandboxError::NotInPath { .. } => EXIT_NOT_FOUND,
            SandboxError::Exec { errno: Errno::ENOENT | Errno::ENOTDIR, .. } => EXIT_NOT_FOUND,
            SandboxError::Exec { .. } => EXIT_CANNOT_INVOKE,
            SandboxError::InContainer { code, .. } => *code,
            SandboxError::Sys { .. }
            | SandboxError::Invalid(_)
            | SandboxError::UnknownUser(_)
            | SandboxError::UnknownGroup(_)
            | SandboxError::BeforeStart(_) => EXIT_SETUP,
        }
    }
}

/// "no such file or directory", as Go (and so Docker) spells errno texts.
pub fn errno_text(errno: Errno) -> String {
    let desc = errno.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("{errno:?}"),
    }
}

/// Says which step failed, for errno results.
pub trait Step<T> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, SandboxError>;
}

impl<T> Step<T> for Result<T, Errno> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, SandboxError> {
        self.map_err(|errno| SandboxError::Sys { what: what(), errno })
    }
}

impl<T> Step<T> for io::Result<T> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, SandboxError> {
        self.map_err(|e| SandboxError::Sys {
            what: what(),
            errno: e.raw_os_error().map_or(Errno::EIO, Errno::from_raw),
        })
    }
}

/// Sets the process up and replaces it with the container's program; returns only on failure.
/// Must run inside the container (after pivot_root or setns into its mount namespace), as root
/// of the container's user namespace with a full capability set. `seccomp`: the filters
/// compiled for `process.security` (see [`seccomp::compile`]).
pub fn exec_process(process: &ProcessSpec, seccomp: &[seccompiler::BpfProgram]) -> SandboxError {
    match setup_and_exec(process, seccomp) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn setup_and_exec(process: &ProcessSpec, filters: &[seccompiler::BpfProgram]) -> Result<Infallible, SandboxError> {
    let argv0 = process.args.first().ok_or_else(|| SandboxError::Invalid("no command specified".into()))?;
    umask(Mode::from_bits_truncate(0o022));
    let groups = read_container_file("/etc/group")?;
    let mut user = resolve_user(&process.user, &read_container_file("/etc/passwd")?, &groups)?;
    for extra in &process.additional_groups {
        let gid = super::users::resolve_group(extra, &groups)?;
        if !user.additional_gids.contains(&gid) {
            user.additional_gids.push(gid);
        }
    }
    set_rlimits(&process.rlimits)?;
    let cwd = if process.cwd.is_empty() { "/" } else { process.cwd.as_str() };
    create_working_dir(cwd)?;

    let security = &process.security;
    caps::restrict_bounding_set(security.capabilities).step(|| "dropping capabilities".into())?;
    caps::clear_ambient().step(|| "clearing ambient capabilities".into())?;
    if !security.no_new_privileges {
        // Without no_new_privs, installing a filter takes CAP_SYS_ADMIN, which is still held
        // here and not after the user switch (runc's order): the steps below run filtered.
        seccomp::install(filters).step(|| "installing the seccomp filter".into())?;
    }
    switch_user(&user)?;
    caps::set_process_caps(user.uid == 0, security.capabilities).step(|| "setting capabilities".into())?;
    nix::unistd::chdir(cwd).step(|| format!("chdir to {cwd}"))?;

    let hostname = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let env = container_env(&process.env, &user.home, &hostname, process.tty);
    let program = resolve_program(argv0, path_of(&env), &is_executable)?;
    let c_program = to_cstring(program.as_os_str().as_encoded_bytes())?;
    let c_args = process.args.iter().map(|a| to_cstring(a.as_bytes())).collect::<Result<Vec<_>, _>>()?;
    let c_env = env.iter().map(|e| to_cstring(e.as_bytes())).collect::<Result<Vec<_>, _>>()?;
    mark_fds_cloexec().step(|| "marking inherited fds close-on-exec".into())?;
    reset_signals();
    if security.no_new_privileges {
        seccomp::set_no_new_privs().step(|| "setting no_new_privs".into())?;
        // Last, so that the filter constrains the program and none of berth's own setup.
        seccomp::install(filters).step(|| "installing the seccomp filter".into())?;
    }
    let errno = nix::unistd::execve(&c_program, &c_args, &c_env).unwrap_err();
    Err(SandboxError::Exec { program: argv0.clone(), errno })
}

/// Ignored signals stay ignored across execve, and the Rust runtime ignores SIGPIPE: give the
/// container's program the default dispositions and an empty signal mask, as a shell would.
fn reset_signals() {
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
    for sig in Signal::iterator().filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP)) {
        // SAFETY: SIG_DFL installs no handler code.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

fn to_cstring(bytes: &[u8]) -> Result<CString, SandboxError> {
    CString::new(bytes).map_err(|_| SandboxError::Invalid("argument or environment entry contains a NUL byte".into()))
}

/// A file of the container's own /etc; a missing one reads as empty.
fn read_container_file(path: &str) -> Result<String, SandboxError> {
    match fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).step(|| format!("reading {path}")),
    }
}

fn create_working_dir(cwd: &str) -> Result<(), SandboxError> {
    // As Docker does: the working directory is created as root, even for another user.
    fs::DirBuilder::new().recursive(true).mode(0o755).create(cwd).step(|| format!("creating working directory {cwd}"))
}

/// setgroups, then gids, then uids: each step needs the privileges the next one drops.
fn switch_user(user: &ExecUser) -> Result<(), SandboxError> {
    let groups: Vec<Gid> = user.additional_gids.iter().map(|&g| Gid::from_raw(g)).collect();
    match setgroups(&groups) {
        // A user namespace that denies setgroups (the single-id rootless mapping) keeps the
        // groups it has; no supplementary group of the image is mapped there anyway.
        Err(Errno::EPERM) => {}
        other => other.step(|| format!("setting supplementary groups {:?}", user.additional_gids))?,
    }
    let gid = Gid::from_raw(user.gid);
    setresgid(gid, gid, gid).map_err(|e| id_error("gid", user.gid, e))?;
    let uid = Uid::from_raw(user.uid);
    setresuid(uid, uid, uid).map_err(|e| id_error("uid", user.uid, e))
}

fn id_error(kind: &str, id: u32, errno: Errno) -> SandboxError {
    if errno == Errno::EINVAL {
        SandboxError::Invalid(format!(
            "{kind} {id} is not mapped in berth's user namespace (are subordinate ids configured for this user?)"
        ))
    } else {
        SandboxError::Sys { what: format!("setting {kind} {id}"), errno }
    }
}

/// The `--ulimit` name (Docker's, e.g. "nofile") as a resource.
pub fn rlimit_resource(name: &str) -> Option<Resource> {
    let name = name.to_ascii_lowercase();
    let name = name.strip_prefix("rlimit_").unwrap_or(&name);
    Some(match name {
        "as" => Resource::RLIMIT_AS,
        "core" => Resource::RLIMIT_CORE,
        "cpu" => Resource::RLIMIT_CPU,
        "data" => Resource::RLIMIT_DATA,
        "fsize" => Resource::RLIMIT_FSIZE,
        "locks" => Resource::RLIMIT_LOCKS,
        "memlock" => Resource::RLIMIT_MEMLOCK,
        "msgqueue" => Resource::RLIMIT_MSGQUEUE,
        "nice" => Resource::RLIMIT_NICE,
        "nofile" => Resource::RLIMIT_NOFILE,
        "nproc" => Resource::RLIMIT_NPROC,
        "rss" => Resource::RLIMIT_RSS,
        "rtprio" => Resource::RLIMIT_RTPRIO,
        "rttime" => Resource::RLIMIT_RTTIME,
        "sigpending" => Resource::RLIMIT_SIGPENDING,
        "stack" => Resource::RLIMIT_STACK,
        _ => return None,
    })
}

/// The limits to set when the requested ones cannot be: the hard limit no higher than the current
/// one, the soft limit no higher than that.
pub fn clamp_rlimit(soft: u64, hard: u64, current_hard: u64) -> (u64, u64) {
    let hard = hard.min(current_hard);
    (soft.min(hard), hard)
}

fn set_rlimits(limits: &[Rlimit]) -> Result<(), SandboxError> {
    for limit in limits {
        let resource = rlimit_resource(&limit.name)
            .ok_or_else(|| SandboxError::Invalid(format!("invalid ulimit {:?}: unknown resource", limit.name)))?;
        if limit.soft > limit.hard {
            return Err(SandboxError::Invalid(format!(
                "invalid ulimit {}: soft limit {} is above hard limit {}",
                limit.name, limit.soft, limit.hard
            )));
        }
        let what = || format!("setting ulimit {}={}:{}", limit.name, limit.soft, limit.hard);
        match setrlimit(resource, limit.soft, limit.hard) {
            // Raising a hard limit needs privileges the caller (rootless) may lack, and nofile
            // cannot exceed fs.nr_open: keep what is allowed rather than fail.
            Err(Errno::EPERM) => {
                let (_, current_hard) = getrlimit(resource).step(what)?;
                let (soft, hard) = clamp_rlimit(limit.soft, limit.hard, current_hard);
                setrlimit(resource, soft, hard).step(what)?;
            }
            other => other.step(what)?,
        }
    }
    Ok(())
}

fn has_var(env: &[String], key: &str) -> bool {
    env.iter().any(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
}

/// The process environment: the given one plus Docker's defaults for PATH, HOSTNAME, TERM (with
/// a tty) and HOME, each only when the given one lacks it.
pub fn container_env(env: &[String], home: &str, hostname: &str, tty: bool) -> Vec<String> {
    let mut out = Vec::with_capacity(env.len() + 4);
    if !has_var(env, "PATH") {
        out.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has_var(env, "HOSTNAME") && !hostname.is_empty() {
        out.push(format!("HOSTNAME={hostname}"));
    }
    if tty && !has_var(env, "TERM") {
        out.push("TERM=xterm".into());
    }
    out.extend(env.iter().cloned());
    if !has_var(env, "HOME") {
        out.push(format!("HOME={}", if home.is_empty() { "/" } else { home }));
    }
    out
}

/// The value of the last PATH entry of `env`.
pub fn path_of(env: &[String]) -> &str {
    env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("")
}

/// What execve should run for `argv0`: itself when it contains a slash, otherwise the first
/// executable regular file of that name in `path` (Go's exec.LookPath, which Docker uses; an
/// empty entry means the working directory).
pub fn resolve_program(
    argv0: &str,
    path: &str,
    is_executable: &dyn Fn(&Path) -> bool,
) -> Result<PathBuf, SandboxError> {
    if argv0.contains('/') {
        return Ok(PathBuf::from(argv0));
    }
    if !argv0.is_empty() {
        for dir in path.split(':') {
            let candidate = Path::new(if dir.is_empty() { "." } else { dir }).join(argv0);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(SandboxError::NotInPath { program: argv0.to_owned() })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_dir() && m.permissions().mode() & 0o111 != 0)
}

/// Marks every fd above 2 close-on-exec, so nothing of berth's leaks into the container.
pub fn mark_fds_cloexec() -> Result<(), Errno> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes fd flags; it touches no memory.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        return Ok(());
    }
    for fd in open_fds_above_2()? {
        // SAFETY: F_SETFD only changes the flags of `fd`; an fd closed meanwhile gives EBADF,
        // which is harmless.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Makes this process non-dumpable: processes of other users (a container's, once this process
/// is in its namespaces) can no longer ptrace it or open its /proc/PID files, such as exe.
pub fn make_non_dumpable() -> Result<(), Errno> {
    // SAFETY: PR_SET_DUMPABLE takes integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_SET_DUMPABLE,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// The fds above 2 this process has open, from /proc/self/fd.
pub fn open_fds_above_2() -> Result<Vec<i32>, Errno> {
    let entries = fs::read_dir("/proc/self/fd").map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw))?;
    Ok(entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).filter(|&fd| fd > 2).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        let not_found = SandboxError::NotInPath { program: "foo".into() };
        assert_eq!(not_found.exit_code(), 127);
        assert_eq!(not_found.to_string(), r#"exec: "foo": executable file not found in $PATH"#);
        let missing = SandboxError::Exec { program: "/nope".into(), errno: Errno::ENOENT };
        assert_eq!(missing.exit_code(), 127);
        assert_eq!(missing.to_string(), r#"exec: "/nope": no such file or directory"#);
        for errno in [Errno::EACCES, Errno::ENOEXEC, Errno::EISDIR, Errno::EPERM] {
            assert_eq!(SandboxError::Exec { program: "/etc".into(), errno }.exit_code(), 126, "{errno:?}");
        }
        let denied = SandboxError::Exec { program: "/etc/passwd".into(), errno: Errno::EACCES };
        assert_eq!(denied.to_string(), r#"exec: "/etc/passwd": permission denied"#);
        assert_eq!(SandboxError::Sys { what: "mounting /proc".into(), errno: Errno::EPERM }.exit_code(), 125);
        assert_eq!(SandboxError::UnknownUser("bob".into()).exit_code(), 125);
        assert_eq!(
            SandboxError::UnknownUser("bob".into()).to_string(),
            "unable to find user bob: no matching entries in passwd file"
        );
        assert_eq!(SandboxError::InContainer { code: 126, message: "x".into() }.exit_code(), 126);
    }

    #[test]
    fn programs_are_looked_up_in_the_containers_path() {
        let exists = |p: &Path| p == Path::new("/bin/sh") || p == Path::new("/usr/bin/env") || p == Path::new("./tool");
        let path = "/usr/local/bin:/usr/bin:/bin";
        assert_eq!(resolve_program("sh", path, &exists).unwrap(), PathBuf::from("/bin/sh"));
        assert_eq!(resolve_program("env", path, &exists).unwrap(), PathBuf::from("/usr/bin/env"));
        assert_eq!(resolve_program("tool", "/bin::/sbin", &exists).unwrap(), PathBuf::from("./tool"));
        // A name with a slash is used as it is, existing or not.
        assert_eq!(resolve_program("./nope", path, &exists).unwrap(), PathBuf::from("./nope"));
        let err = resolve_program("foo", path, &exists).unwrap_err();
        assert_eq!(err.exit_code(), 127);
        assert!(matches!(resolve_program("sh", "", &exists), Err(SandboxError::NotInPath { .. })));
        assert!(matches!(resolve_program("", path, &exists), Err(SandboxError::NotInPath { .. })));
    }

    #[test]
    fn executables_are_regular_files_with_an_x_bit() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("run");
        fs::write(&script, "#!/bin/sh\n").unwrap();
        assert!(!is_executable(&script));
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(is_executable(&script));
        assert!(!is_executable(dir.path()));
        assert!(!is_executable(&dir.path().join("missing")));
    }

    #[test]
    fn environment_gets_dockers_defaults_only_where_missing() {
        let env = container_env(&strings(&["FOO=1"]), "/root", "abc123", true);
        assert_eq!(
            env,
            strings(&[&format!("PATH={DEFAULT_PATH}"), "HOSTNAME=abc123", "TERM=xterm", "FOO=1", "HOME=/root"])
        );
        let given = strings(&["PATH=/x", "HOSTNAME=h", "TERM=dumb", "HOME=/home/me"]);
        assert_eq!(container_env(&given, "/root", "abc123", true), given);
        assert_eq!(container_env(&[], "", "", false), strings(&[&format!("PATH={DEFAULT_PATH}"), "HOME=/"]));
        // A variable whose name merely starts with PATH is not PATH.
        assert!(container_env(&strings(&["PATHX=1"]), "/", "h", false)[0].starts_with("PATH=/usr/local/sbin"));
        assert_eq!(path_of(&strings(&["PATH=/a", "X=1", "PATH=/b"])), "/b");
        assert_eq!(path_of(&strings(&["X=1"])), "");
    }

    #[test]
    fn rlimits_map_dockers_names_and_clamp() {
        assert_eq!(rlimit_resource("nofile"), Some(Resource::RLIMIT_NOFILE));
        assert_eq!(rlimit_resource("RLIMIT_NPROC"), Some(Resource::RLIMIT_NPROC));
        assert_eq!(rlimit_resource("as"), Some(Resource::RLIMIT_AS));
        assert_eq!(rlimit_resource("bogus"), None);
        assert_eq!(clamp_rlimit(1024, 1_048_576, 524_288), (1024, 524_288));
        assert_eq!(clamp_rlimit(1_048_576, 1_048_576, 524_288), (524_288, 524_288));
        assert_eq!(clamp_rlimit(10, 20, u64::MAX), (10, 20));
    }

    #[test]
    fn errno_texts_read_like_gos() {
        assert_eq!(errno_text(Errno::ENOENT), "no such file or directory");
        assert_eq!(errno_text(Errno::EACCES), "permission denied");
    }
}
