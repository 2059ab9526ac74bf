//! A container's own control group: its resource limits (Docker's semantics), and what is read
//! back from it (stats, OOM kills, its processes), pausing, and killing whatever is left in it.
//! Both cgroup v2 (one unified hierarchy) and the older v1 (one hierarchy per controller) are
//! supported; the mount root is a parameter so tests can point the code at a fixture tree.
//!
//! Where a container's cgroup lives (`berth` is [`GROUP`]):
//! - root, v2: `<root>/berth/<id>`; the controllers (`cpu cpuset io memory pids`, as far as the
//!   kernel offers them) are enabled in `<root>/cgroup.subtree_control` and
//!   `<root>/berth/cgroup.subtree_control`.
//! - root, v1: `<root>/<controller>/berth/<id>` for each mounted one of memory, cpu, cpuacct,
//!   pids, freezer, cpuset, blkio and devices (co-mounted controllers such as `cpu,cpuacct`
//!   share one directory). cpuset directories start with empty `cpuset.cpus`/`cpuset.mems`,
//!   which would refuse every process, so both are copied from the parent. The devices policy
//!   is written by the container's first process after it joins (sandbox::devices).
//! - rootless, v2: `<delegated>/berth/<id>`, where `<delegated>` is the HIGHEST cgroup above the
//!   caller's own (from /proc/self/cgroup) in an unbroken chain of cgroups delegated to the caller
//!   (owned by it: systemd chowns `user@UID.service` and everything below it to the user). Why
//!   not next to or below the caller's own cgroup:
//!   * below it is impossible: the caller's cgroup holds processes (berth, the user's shell), and
//!     a cgroup with processes cannot enable controllers for children ("no internal processes");
//!     making room would mean moving processes berth does not own.
//!   * a sibling (`<own>/../berth-<id>`) works for moving the container's process (that needs
//!     write access to the common ancestor's cgroup.procs, i.e. the parent's) but its place
//!     depends on which cgroup the creating process happened to be in (every terminal is its
//!     own scope), so `berth stats` from another terminal could not find it.
//!   * the highest delegated cgroup is the same for every process of the user's systemd session,
//!     has no processes of its own (systemd keeps them in leaves), and is an ancestor of the
//!     caller's cgroup, so the container's process can be moved into it.
//!
//!   With no delegated cgroup above the caller's (a login session's `session-N.scope` sits in a
//!   root-owned `user-UID.slice`), there is nothing to create.
//! - rootless, v1: none; v1 has no safe delegation.
//!
//! Without a cgroup of its own (rootless, `Ok(None)` from [`Cgroup::create`]) a container still
//! runs, in its supervisor's cgroup, but limits are refused ([`CgroupError::NotDelegated`]).
//!
//! Order of operations for whoever spawns the container. A new cgroup namespace is rooted at the
//! cgroup the process is in when it is made; for `clone(CLONE_NEWCGROUP)` that is the PARENT's
//! cgroup (the child is moved only afterwards, and would see its cgroup as a `/../…` path).
//! clone3's CLONE_INTO_CGROUP does root it at the target (seen on Linux 6.18), but it is v2-only
//! and Linux 5.7+, so the portable order is:
//! 1. [`Cgroup::create`] (limits applied, nothing in it yet).
//! 2. clone the child WITHOUT `CLONE_NEWCGROUP`; it blocks on a pipe before doing anything else.
//! 3. the parent calls [`Cgroup::add_process`] with the child's host pid, then releases it.
//! 4. the child calls `unshare(CLONE_NEWCGROUP)` (after entering its user namespace, if it makes
//!    one, so the cgroup namespace belongs to it), then mounts and execs as usual.
//!
//! The supervisor itself never joins the cgroup: it would count against the container's memory
//! limit, be frozen by `pause` and be killed by [`Cgroup::kill_all`].

mod limits;
mod v1;
mod v2;

use limits::{Limits, cpu_weight};
pub use limits::{Resources, ThrottleDevice, Unsupported, check, unsupported};

pub use v1::{HostEntry as V1HostEntry, host_entries as host_v1_entries};

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Where cgroup file systems are mounted.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// The directory under which containers' cgroups are made (one per hierarchy on v1).
pub const GROUP: &str = "berth";

/// How long pausing may take before berth gives up and thaws the cgroup again.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long `remove` waits for exiting processes to leave the cgroup.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// The version of the cgroups mounted at /sys/fs/cgroup.
pub fn detect() -> CgroupVersion {
    detect_at(Path::new(DEFAULT_ROOT))
}

/// v2 when `root` is a cgroup2 mount (it has cgroup.controllers); otherwise v1 (controllers
/// mounted below `root`, possibly next to a cgroup2 mount at `root/unified`: "hybrid").
pub fn detect_at(root: &Path) -> CgroupVersion {
    if root.join("cgroup.controllers").exists() { CgroupVersion::V2 } else { CgroupVersion::V1 }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "cannot apply resource limits ({what}): limits for rootless containers need cgroup v2 with a cgroup \
         delegated to the user (run berth inside a systemd user session, e.g. under `systemd-run --user --scope`); \
         on cgroup v1, rootless containers get no limits"
    )]
    NotDelegated { what: String },
    #[error("{}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{} did not freeze within {} seconds (thawed again)", path.display(), FREEZE_TIMEOUT.as_secs())]
    FreezeTimeout { path: PathBuf },
}

impl CgroupError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError + '_ {
        move |source| CgroupError::Io { path: path.to_path_buf(), source }
    }

    /// The cgroup file system refused a rootless caller: what happens where nothing is
    /// delegated, or the delegation is read-only.
    fn is_permission_denied(&self) -> bool {
        matches!(self, CgroupError::Io { source, .. }
            if matches!(source.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS)))
    }
}

/// What a cgroup reports. Counters a kernel does not offer read as zero, limits as None.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// Bytes charged to the cgroup, page cache included.
    pub memory_usage: u64,
    /// None when unlimited.
    pub memory_limit: Option<u64>,
    /// Inactive page cache: Docker's `stats` shows `memory_usage - memory_inactive_file`.
    pub memory_inactive_file: u64,
    /// CPU time used by all the cgroup's tasks, in nanoseconds.
    pub cpu_usage_ns: u64,
    pub pids_current: u64,
    /// None when unlimited.
    pub pids_limit: Option<u64>,
}

/// A container's cgroup: one directory on v2, one per hierarchy on v1.
#[derive(Debug, Clone)]
pub struct Cgroup {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    V1(v1::V1Cgroup),
    V2(v2::V2Cgroup),
}

impl Cgroup {
    /// Creates container `id`'s cgroup under `root` (normally [`DEFAULT_ROOT`]) and applies
    /// `resources` (see the module comment for where it goes). Rootless on v1, or on v2 without a
    /// delegated cgroup: `Err(NotDelegated)` if any limit is asked for, else `Ok(None)` — the
    /// container then runs without a cgroup of its own. An existing cgroup of that name (left by
    /// a crash) is reused.
    pub fn create(root: &Path, id: &str, rootless: bool, resources: &Resources) -> Result<Option<Cgroup>, CgroupError> {
        let own = if rootless { own_v2_cgroup() } else { None };
        Self::create_in(root, GROUP, own.as_deref(), id, rootless, resources)
    }

    /// Opens container `id`'s existing cgroup (from any process: stats, pause, top, the OOM
    /// check); None if it has none. Rootless, the place is found from the caller's own cgroup as
    /// at create, so a process outside the user's systemd session (an ssh login's scope) finds
    /// nothing.
    pub fn open(root: &Path, id: &str, rootless: bool) -> Option<Cgroup> {
        let own = if rootless { own_v2_cgroup() } else { None };
        Self::open_in(root, GROUP, own.as_deref(), id, rootless)
    }

    /// [`Cgroup::create`] with the group directory's name and the caller's own v2 cgroup (as in
    /// /proc/self/cgroup) given.
    fn create_in(
        root: &Path,
        group: &str,
        own: Option<&str>,
        id: &str,
        rootless: bool,
        resources: &Resources,
    ) -> Result<Option<Cgroup>, CgroupError> {
        check_name(id)?;
        let limits = Limits::from_resources(resources)?;
        let inner = match (detect_at(root), rootless) {
            (CgroupVersion::V1, false) => Inner::V1(v1::V1Cgroup::create(root, group, id, &limits)?),
            (CgroupVersion::V1, true) => {
                return not_delegated(resources, "this host uses cgroup v1".into());
            }
            (CgroupVersion::V2, false) => Inner::V2(v2::V2Cgroup::create(root, group, id, &limits, false)?),
            (CgroupVersion::V2, true) => {
                let Some(base) = own.and_then(|own| v2::delegated_base(root, own)) else {
                    let what = match own {
                        Some(own) => format!("no cgroup above yours ({own}) is delegated to you"),
                        None => "this process is in no cgroup v2 (/proc/self/cgroup)".into(),
                    };
                    return not_delegated(resources, what);
                };
                match v2::V2Cgroup::create(&base, group, id, &limits, true) {
                    Ok(cgroup) => Inner::V2(cgroup),
                    // Limits are the point of a cgroup for a user; without any, a delegation
                    // that turns out read-only is no reason to refuse the container.
                    Err(e) if !resources.any() && e.is_permission_denied() => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(Some(Cgroup { inner }))
    }

    fn open_in(root: &Path, group: &str, own: Option<&str>, id: &str, rootless: bool) -> Option<Cgroup> {
        check_name(id).ok()?;
        let inner = match (detect_at(root), rootless) {
            (CgroupVersion::V1, false) => Inner::V1(v1::V1Cgroup::open(root, group, id)?),
            (CgroupVersion::V1, true) => return None,
            (CgroupVersion::V2, false) => Inner::V2(v2::V2Cgroup::open(root, group, id)?),
            (CgroupVersion::V2, true) => Inner::V2(v2::V2Cgroup::open(&v2::delegated_base(root, own?)?, group, id)?),
        };
        Some(Cgroup { inner })
    }

    #[cfg(test)]
    pub fn version(&self) -> CgroupVersion {
        match &self.inner {
            Inner::V1(_) => CgroupVersion::V1,
            Inner::V2(_) => CgroupVersion::V2,
        }
    }

    /// Moves process `pid` (as this process sees pids) into the cgroup, on v1 into every
    /// hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.add_process(pid),
            Inner::V2(c) => c.add_process(pid),
        }
    }

    /// The files a single-threaded process writes "0" into to move itself into this cgroup. On
    /// v1 these are the per-thread `tasks` files: moving only the calling thread skips the
    /// global threadgroup lock whose RCU grace period makes a `cgroup.procs` write by another
    /// process cost 5-15 ms. (A single-threaded process is all of its threads.)
    pub fn self_join_files(&self) -> Vec<PathBuf> {
        match &self.inner {
            Inner::V1(c) => c.self_join_files(),
            Inner::V2(c) => vec![c.procs_file()],
        }
    }

    /// Pauses every process in the cgroup; returns once they are all frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.freeze(),
            Inner::V2(c) => c.freeze(),
        }
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.thaw(),
            Inner::V2(c) => c.thaw(),
        }
    }

    /// True when the cgroup is frozen or being frozen (paused).
    pub fn is_frozen(&self) -> bool {
        match &self.inner {
            Inner::V1(c) => c.is_frozen(),
            Inner::V2(c) => c.is_frozen(),
        }
    }

    pub fn stats(&self) -> CgroupStats {
        match &self.inner {
            Inner::V1(c) => c.stats(),
            Inner::V2(c) => c.stats(),
        }
    }

    /// True once the kernel's OOM killer has killed a process in the cgroup.
    pub fn oom_killed(&self) -> bool {
        match &self.inner {
            Inner::V1(c) => c.oom_killed(),
            Inner::V2(c) => c.oom_killed(),
        }
    }

    /// Every process in the cgroup and the cgroups below it, as host pids, sorted.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids = match &self.inner {
            Inner::V1(c) => c.pids(),
            Inner::V2(c) => c.pids(),
        };
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Sends `signal` to every process in the cgroup. The cgroup is frozen meanwhile (unless v2
    /// can kill it whole with cgroup.kill), so a process cannot escape by forking; a paused
    /// cgroup stays paused, except after SIGKILL, which v1 only carries out on thawed tasks.
    pub fn kill_all(&self, signal: Signal) -> Result<(), CgroupError> {
        if signal == Signal::SIGKILL
            && let Inner::V2(c) = &self.inner
            && c.kill()?
        {
            return Ok(());
        }
        let was_frozen = self.is_frozen();
        let froze = !was_frozen && self.freeze().is_ok();
        for pid in self.pids() {
            // ESRCH (the process has just exited) is the only failure to expect: berth has the
            // privileges over everything in its own containers' cgroups.
            let _ = kill(Pid::from_raw(pid), signal);
        }
        if froze || (was_frozen && signal == Signal::SIGKILL) {
            self.thaw()?;
        }
        Ok(())
    }

    /// Applies `resources` to the existing cgroup (`berth update`): the limits they set are
    /// written, the others left as they are.
    pub fn update(&self, resources: &Resources) -> Result<(), CgroupError> {
        let limits = Limits::from_resources(resources)?;
        match &self.inner {
            Inner::V1(c) => c.apply(&limits),
            Inner::V2(c) => c.apply(&limits),
        }
    }

    /// Removes the cgroup (and any the container made below it), waiting briefly for exiting
    /// processes to leave it. Removing a cgroup that is already gone succeeds.
    pub fn remove(&self) -> Result<(), CgroupError> {
        match &self.inner {
            Inner::V1(c) => c.remove(),
            Inner::V2(c) => c.remove(),
        }
    }
}

fn not_delegated(resources: &Resources, what: String) -> Result<Option<Cgroup>, CgroupError> {
    if resources.any() { Err(CgroupError::NotDelegated { what }) } else { Ok(None) }
}

/// A container id becomes a directory name: it must be one path component.
fn check_name(id: &str) -> Result<(), CgroupError> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return Err(CgroupError::Invalid(format!("{id:?} cannot name a cgroup")));
    }
    Ok(())
}

/// This process's cgroup v2 path (the `0::` line of /proc/self/cgroup).
fn own_v2_cgroup() -> Option<String> {
    parse_v2_cgroup(&fs::read_to_string("/proc/self/cgroup").ok()?)
}

fn parse_v2_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|line| line.strip_prefix("0::")).map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// Writes a control file in one write (never creating it: a missing file means the kernel lacks
/// the feature).
fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    let mut file = fs::OpenOptions::new().write(true).truncate(true).open(path).map_err(CgroupError::io(path))?;
    file.write_all(value.as_bytes()).map_err(CgroupError::io(path))
}

fn read_file(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(CgroupError::io(path))
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn read_u64(path: &Path) -> Option<u64> {
    read_trimmed(path)?.parse().ok()
}

/// The value of `key` in a flat keyed file ("key value" lines: memory.events, cpu.stat, ...).
fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.trim().split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn read_keyed(path: &Path, key: &str) -> Option<u64> {
    keyed_value(&fs::read_to_string(path).ok()?, key)
}

/// A limit file's value: None for "max" (v2) or v1's "unlimited" (a page-rounded i64::MAX).
fn read_limit(path: &Path) -> Option<u64> {
    read_u64(path).filter(|&v| v < 1 << 62)
}

/// Makes a cgroup directory; one that exists already is fine.
fn make_dir(path: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(CgroupError::io(path)(e)),
        _ => Ok(()),
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
}

/// The pids in `dir`'s cgroup.procs and in those of every cgroup below it.
fn procs_below(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for sub in subdirs(dir) {
        pids.extend(procs_below(&sub));
    }
    pids
}

/// Removes `dir` and the cgroups below it, deepest first.
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    for sub in subdirs(dir) {
        remove_tree(&sub)?;
    }
    remove_dir_retrying(dir)
}

/// rmdir, retried while the kernel still counts exiting processes in the cgroup (EBUSY).
fn remove_dir_retrying(dir: &Path) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < REMOVE_TIMEOUT => {
                sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(CgroupError::io(dir)(e)),
        }
    }
}

/// Polls `done` with growing pauses until it holds (true) or `timeout` passes (false).
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::process::{Child, ChildStdin, Command, Stdio};

    /// True when running as root; otherwise reports a skip (a failure when CI=true).
    pub fn require_root(what: &str) -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        skip_or_fail(&format!("needs root: {what}"));
        false
    }

    pub fn skip_or_fail(reason: &str) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("cannot run this test in CI: {reason}");
        }
        eprintln!("skipped: {reason}");
    }

    /// A name no other test run uses.
    pub fn unique_group() -> String {
        format!("berth-test-{:016x}", rand::random::<u64>())
    }

    /// Starts `sh -c 'read x; exec COMMAND'`: the shell waits for a line on stdin, so it can be
    /// moved into a cgroup before COMMAND starts.
    pub fn spawn_held(command: &str) -> (Child, ChildStdin) {
        let mut child = Command::new("sh")
            .args(["-c", &format!("read x; exec {command}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning sh");
        let stdin = child.stdin.take().expect("piped stdin");
        (child, stdin)
    }

    /// Lets a process started by [`spawn_held`] go on to exec its command.
    pub fn release(stdin: ChildStdin) {
        use std::io::Write;
        let mut stdin = stdin;
        stdin.write_all(b"\n").expect("releasing the held process");
    }

    /// Waits until process `pid` runs `comm` (it has exec'd).
    pub fn wait_for_exec(pid: u32, comm: &str) {
        let path = format!("/proc/{pid}/comm");
        let ok = super::wait_until(std::time::Duration::from_secs(5), || {
            std::fs::read_to_string(&path).is_ok_and(|c| c.trim() == comm)
        });
        assert!(ok, "process {pid} did not exec {comm}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_follows_cgroup_controllers_at_the_root() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(detect_at(dir.path()), CgroupVersion::V1);
        fs::write(dir.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        assert_eq!(detect_at(dir.path()), CgroupVersion::V2);
    }

    #[test]
    fn keyed_files_and_limits_parse() {
        let events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(keyed_value(events, "oom_kill"), Some(2));
        assert_eq!(keyed_value(events, "oom"), Some(3));
        assert_eq!(keyed_value(events, "missing"), None);
        let oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
        assert_eq!(keyed_value(oom_control, "oom_kill"), Some(1));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("limit");
        fs::write(&file, "max\n").unwrap();
        assert_eq!(read_limit(&file), None);
        fs::write(&file, "9223372036854771712\n").unwrap();
        assert_eq!(read_limit(&file), None);
        fs::write(&file, "67108864\n").unwrap();
        assert_eq!(read_limit(&file), Some(64 << 20));
    }

    #[test]
    fn own_cgroup_is_the_v2_line() {
        let hybrid = "4:memory:/x\n1:cpu:/\n0::/user.slice/user-1000.slice/session-3.scope\n";
        assert_eq!(parse_v2_cgroup(hybrid).as_deref(), Some("/user.slice/user-1000.slice/session-3.scope"));
        assert_eq!(parse_v2_cgroup("4:memory:/x\n"), None);
    }

    #[test]
    fn ids_must_be_one_path_component() {
        for bad in ["", ".", "..", "a/b", "../x"] {
            assert!(matches!(check_name(bad), Err(CgroupError::Invalid(_))), "{bad:?}");
        }
        assert!(check_name("0123abcd").is_ok());
    }

    #[test]
    fn rootless_on_v1_gets_no_cgroup_and_no_limits() {
        // A root without cgroup.controllers is v1; rootless v1 never touches it.
        let root = tempfile::tempdir().unwrap();
        let none = Cgroup::create_in(root.path(), GROUP, None, "c1", true, &Resources::default()).unwrap();
        assert!(none.is_none());
        let limited = Resources { memory: Some(64 << 20), ..Resources::default() };
        let err = Cgroup::create_in(root.path(), GROUP, None, "c1", true, &limited).unwrap_err();
        assert!(matches!(err, CgroupError::NotDelegated { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("cgroup v2") && message.contains("delegated"), "{message}");
        assert!(message.contains("on cgroup v1, rootless containers get no limits"), "{message}");
        assert!(Cgroup::open_in(root.path(), GROUP, None, "c1", true).is_none());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0, "nothing may be created");
    }
}
