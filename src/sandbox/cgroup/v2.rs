//! cgroup v2: one hierarchy; the container gets `<base>/<group>/<id>`, with the controllers
//! enabled in the `cgroup.subtree_control` of `<base>` and `<base>/<group>`. `<base>` is the
//! mount root for root, the delegated cgroup for rootless (see [`delegated_base`]).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use nix::unistd::{AccessFlags, access, geteuid};

use super::limits::{CPU_PERIOD_US, io_weight};
use super::{
    CgroupError, CgroupStats, FREEZE_TIMEOUT, Limits, Unsupported, cpu_weight, make_dir, procs_below, read_file,
    read_keyed, read_limit, read_trimmed, read_u64, remove_tree, wait_until, write_file,
};

/// The controllers enabled for containers, where the kernel (or the delegation) offers them.
const CONTROLLERS: [&str; 5] = ["cpu", "cpuset", "io", "memory", "pids"];

#[derive(Debug, Clone)]
pub(super) struct V2Cgroup {
    dir: PathBuf,
}

impl V2Cgroup {
    pub(super) fn create(
        base: &Path,
        group: &str,
        id: &str,
        limits: &Limits,
        rootless: bool,
    ) -> Result<V2Cgroup, CgroupError> {
        let needed: Vec<&str> = limits.controllers().into_iter().map(|c| if c == "blkio" { "io" } else { c }).collect();
        let group_dir = base.join(group);
        enable_controllers(base, &needed, rootless)?;
        make_dir(&group_dir)?;
        enable_controllers(&group_dir, &needed, rootless)?;
        let cgroup = V2Cgroup { dir: group_dir.join(id) };
        make_dir(&cgroup.dir)?;
        if let Err(e) = cgroup.apply(limits) {
            // What failed is the error to report; a leftover directory is swept by the next remove.
            let _ = cgroup.remove();
            return Err(e);
        }
        Ok(cgroup)
    }

    pub(super) fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        if let Some(memory) = limits.memory {
            write_file(&self.dir.join("memory.max"), &memory.to_string())?;
            // v2 limits swap on its own: Docker's memory+swap less the memory. The file is
            // missing where swap accounting is off.
            let swap = self.dir.join("memory.swap.max");
            if let (true, Some(total)) = (swap.exists(), limits.memory_swap) {
                let value =
                    if total < 0 { "max".to_owned() } else { (total as u64).saturating_sub(memory).to_string() };
                write_file(&swap, &value)?;
            }
        }
        if let Some(low) = limits.memory_low {
            write_file(&self.dir.join("memory.low"), &low.to_string())?;
        }
        if limits.cpu_quota_us.is_some() || limits.cpu_period_us.is_some() {
            let quota = limits.cpu_quota_us.filter(|&q| q > 0).map_or("max".to_owned(), |q| q.to_string());
            let period = limits.cpu_period_us.unwrap_or(CPU_PERIOD_US);
            write_file(&self.dir.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(shares) = limits.cpu_shares {
            write_file(&self.dir.join("cpu.weight"), &cpu_weight(shares).to_string())?;
        }
        if let Some(max) = &limits.pids_max {
            write_file(&self.dir.join("pids.max"), max)?;
        }
        if let Some(cpus) = &limits.cpuset_cpus {
            write_file(&self.dir.join("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = &limits.cpuset_mems {
            write_file(&self.dir.join("cpuset.mems"), mems)?;
        }
        if let Some(weight) = limits.blkio_weight {
            let bfq = self.dir.join("io.bfq.weight");
            let (file, value) = if bfq.exists() {
                (bfq, weight.to_string())
            } else {
                (self.dir.join("io.weight"), format!("default {}", io_weight(weight)))
            };
            if !file.exists() {
                return Err(CgroupError::Unsupported(Unsupported::BlkioWeight.to_string()));
            }
            write_file(&file, &value)?;
        }
        for throttle in &limits.throttles {
            let line = format!("{} {}={}", throttle.device, throttle.kind.v2_key(), throttle.rate);
            write_file(&self.dir.join("io.max"), &line)?;
        }
        Ok(())
    }

    pub(super) fn open(base: &Path, group: &str, id: &str) -> Option<V2Cgroup> {
        let dir = base.join(group).join(id);
        dir.is_dir().then_some(V2Cgroup { dir })
    }

    pub(super) fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        write_file(&self.procs_file(), &pid.to_string())
    }

    pub(super) fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    fn freeze_file(&self) -> Result<PathBuf, CgroupError> {
        let file = self.dir.join("cgroup.freeze");
        if file.exists() {
            Ok(file)
        } else {
            Err(CgroupError::Unsupported("pausing needs the cgroup v2 freezer (Linux 5.2 or newer)".into()))
        }
    }

    /// True once cgroup.events reports `frozen` as `want`.
    fn wait_frozen(&self, want: u64) -> bool {
        let events = self.dir.join("cgroup.events");
        wait_until(FREEZE_TIMEOUT, || read_keyed(&events, "frozen") == Some(want))
    }

    pub(super) fn freeze(&self) -> Result<(), CgroupError> {
        let file = self.freeze_file()?;
        write_file(&file, "1")?;
        if self.wait_frozen(1) {
            return Ok(());
        }
        write_file(&file, "0")?;
        Err(CgroupError::FreezeTimeout { path: self.dir.clone() })
    }

    pub(super) fn thaw(&self) -> Result<(), CgroupError> {
        write_file(&self.freeze_file()?, "0")?;
        if self.wait_frozen(0) {
            Ok(())
        } else {
            Err(CgroupError::Unsupported(format!("{} did not thaw", self.dir.display())))
        }
    }

    pub(super) fn is_frozen(&self) -> bool {
        read_trimmed(&self.dir.join("cgroup.freeze")).as_deref() == Some("1")
            || read_keyed(&self.dir.join("cgroup.events"), "frozen") == Some(1)
    }

    pub(super) fn stats(&self) -> CgroupStats {
        let file = |name: &str| self.dir.join(name);
        CgroupStats {
            memory_usage: read_u64(&file("memory.current")).unwrap_or(0),
            memory_limit: read_limit(&file("memory.max")),
            memory_inactive_file: read_keyed(&file("memory.stat"), "inactive_file").unwrap_or(0),
            cpu_usage_ns: read_keyed(&file("cpu.stat"), "usage_usec").unwrap_or(0).saturating_mul(1000),
            pids_current: read_u64(&file("pids.current")).unwrap_or(0),
            pids_limit: read_limit(&file("pids.max")),
        }
    }

    pub(super) fn oom_killed(&self) -> bool {
        read_keyed(&self.dir.join("memory.events"), "oom_kill").is_some_and(|n| n > 0)
    }

    pub(super) fn pids(&self) -> Vec<i32> {
        procs_below(&self.dir)
    }

    /// SIGKILLs everything in the cgroup at once through cgroup.kill (Linux 5.14+), which no
    /// forking process can escape. False when the kernel has no cgroup.kill.
    pub(super) fn kill(&self) -> Result<bool, CgroupError> {
        let file = self.dir.join("cgroup.kill");
        if !file.exists() {
            return Ok(false);
        }
        write_file(&file, "1")?;
        Ok(true)
    }

    pub(super) fn remove(&self) -> Result<(), CgroupError> {
        remove_tree(&self.dir)
    }
}

/// The controller names in a cgroup.controllers or cgroup.subtree_control file.
fn controller_names(path: &Path) -> Result<Vec<String>, CgroupError> {
    Ok(read_file(path)?.split_whitespace().map(|c| c.trim_start_matches('+').to_owned()).collect())
}

/// Enables [`CONTROLLERS`] for `dir`'s children, as far as `dir` has them; `needed` ones must
/// all be there. Each is tried on its own if enabling them together fails (the kernel refuses
/// `cpu`, for one, while realtime tasks sit outside the root cgroup), and only a needed one
/// failing is an error.
fn enable_controllers(dir: &Path, needed: &[&str], rootless: bool) -> Result<(), CgroupError> {
    let available = controller_names(&dir.join("cgroup.controllers"))?;
    if let Some(missing) = needed.iter().find(|c| !available.iter().any(|a| a == *c)) {
        let hint = if rootless {
            " (systemd delegates to user sessions the controllers that `Delegate=` lists for user@.service)"
        } else {
            ""
        };
        return Err(CgroupError::Unsupported(format!(
            "the {missing} cgroup controller is not available in {}{hint}: cannot apply the {missing} limit",
            dir.display()
        )));
    }
    let subtree_control = dir.join("cgroup.subtree_control");
    let enabled = controller_names(&subtree_control)?;
    let to_enable: Vec<&str> = CONTROLLERS
        .into_iter()
        .filter(|c| available.iter().any(|a| a == c) && !enabled.iter().any(|e| e == c))
        .collect();
    if to_enable.is_empty() {
        return Ok(());
    }
    let all = to_enable.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ");
    if write_file(&subtree_control, &all).is_ok() {
        return Ok(());
    }
    for controller in to_enable {
        if let Err(e) = write_file(&subtree_control, &format!("+{controller}"))
            && needed.contains(&controller)
        {
            return Err(e);
        }
    }
    Ok(())
}

/// Rootless: the highest cgroup in the unbroken chain of delegated cgroups above the caller's
/// own cgroup `own` (a path relative to `root`, as /proc/self/cgroup gives it). None when the
/// caller's parent cgroup is not delegated. The caller's own cgroup is never the base: it holds
/// processes, so it cannot have children with controllers.
pub(super) fn delegated_base(root: &Path, own: &str) -> Option<PathBuf> {
    let relative = Path::new(own.trim_start_matches('/'));
    if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let mut base = None;
    let mut dir = root.join(relative).parent()?.to_path_buf();
    while dir.starts_with(root) && is_delegated(&dir) {
        base = Some(dir.clone());
        if !dir.pop() {
            break;
        }
    }
    base
}

/// cgroups(7): a cgroup is delegated by making the user own its directory, cgroup.procs and
/// cgroup.subtree_control. Ownership is what is checked (root may write anything, so
/// writability alone says nothing when berth runs as root), and writability as well (a user
/// may own a read-only mount).
fn is_delegated(dir: &Path) -> bool {
    let me = geteuid().as_raw();
    [dir.to_path_buf(), dir.join("cgroup.procs"), dir.join("cgroup.subtree_control")]
        .iter()
        .all(|path| fs::metadata(path).is_ok_and(|m| m.uid() == me) && access(path, AccessFlags::W_OK).is_ok())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::ExitStatusExt;

    use nix::sys::signal::Signal;

    use super::super::test_support::{release, require_root, spawn_held, unique_group, wait_for_exec};
    use super::super::{Cgroup, CgroupVersion, DEFAULT_ROOT, GROUP, Inner, detect_at};
    use super::*;
    use crate::sandbox::cgroup::Resources;

    const ID: &str = "0123456789abcdef";

    fn limited() -> Resources {
        Resources {
            memory: Some(64 << 20),
            nano_cpus: Some(500_000_000),
            cpu_shares: Some(512),
            pids_limit: Some(20),
            ..Resources::default()
        }
    }

    /// A temp dir laid out like a cgroup2 mount: every cgroup directory holds its control files
    /// as plain files, with the values a fresh kernel cgroup has.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new(controllers: &str) -> Fixture {
            let fixture = Fixture { dir: tempfile::tempdir().unwrap() };
            fixture.add_cgroup("", controllers);
            fixture
        }

        fn root(&self) -> &Path {
            self.dir.path()
        }

        fn path(&self, cgroup: &str) -> PathBuf {
            self.root().join(cgroup)
        }

        /// Makes `cgroup` (and any missing parents, with the same files) as the kernel would.
        fn add_cgroup(&self, cgroup: &str, controllers: &str) {
            let dir = self.path(cgroup);
            if cgroup.contains('/') {
                self.add_cgroup(cgroup.rsplit_once('/').unwrap().0, controllers);
            } else if !cgroup.is_empty() {
                self.add_cgroup("", controllers);
            }
            if dir.join("cgroup.procs").exists() {
                return;
            }
            fs::create_dir_all(&dir).unwrap();
            let files = [
                ("cgroup.controllers", format!("{controllers}\n")),
                ("cgroup.subtree_control", String::new()),
                ("cgroup.procs", String::new()),
                ("cgroup.events", "populated 0\nfrozen 0\n".into()),
                ("cgroup.freeze", "0\n".into()),
                ("cgroup.kill", String::new()),
                ("memory.max", "max\n".into()),
                ("memory.swap.max", "max\n".into()),
                ("memory.current", "0\n".into()),
                ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n".into()),
                ("memory.stat", "anon 0\nfile 0\ninactive_file 0\n".into()),
                ("cpu.max", "max 100000\n".into()),
                ("cpu.weight", "100\n".into()),
                ("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n".into()),
                ("pids.max", "max\n".into()),
                ("pids.current", "0\n".into()),
            ];
            for (name, content) in files {
                fs::write(dir.join(name), content).unwrap();
            }
        }

        fn read(&self, cgroup: &str, file: &str) -> String {
            fs::read_to_string(self.path(cgroup).join(file)).unwrap().trim().to_owned()
        }

        fn write(&self, cgroup: &str, file: &str, content: &str) {
            fs::write(self.path(cgroup).join(file), content).unwrap();
        }

        /// Makes `cgroup` look owned by someone else: chowned away when running as root, and
        /// read-only for everyone else.
        fn undelegate(&self, cgroup: &str) {
            let procs = self.path(cgroup).join("cgroup.procs");
            if geteuid().is_root() {
                nix::unistd::chown(&procs, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
            }
            fs::set_permissions(&procs, fs::Permissions::from_mode(0o444)).unwrap();
        }
    }

    #[test]
    fn root_v2_enables_controllers_on_the_way_and_writes_the_limits() {
        let f = Fixture::new("cpuset cpu io memory hugetlb pids rdma misc");
        f.add_cgroup(&format!("berth/{ID}"), "cpuset cpu io memory hugetlb pids rdma misc");
        let cgroup = Cgroup::create_in(f.root(), GROUP, None, ID, false, &limited()).unwrap().unwrap();
        let Inner::V2(v2) = &cgroup.inner else { panic!("expected v2: {cgroup:?}") };
        assert_eq!(v2.dir, f.path(&format!("berth/{ID}")));

        assert_eq!(f.read("", "cgroup.subtree_control"), "+cpu +cpuset +io +memory +pids");
        assert_eq!(f.read("berth", "cgroup.subtree_control"), "+cpu +cpuset +io +memory +pids");
        let leaf = format!("berth/{ID}");
        assert_eq!(f.read(&leaf, "memory.max"), (64u64 << 20).to_string());
        assert_eq!(f.read(&leaf, "memory.swap.max"), (64u64 << 20).to_string());
        assert_eq!(f.read(&leaf, "cpu.max"), "50000 100000");
        assert_eq!(f.read(&leaf, "cpu.weight"), "20");
        assert_eq!(f.read(&leaf, "pids.max"), "20");

        cgroup.add_process(4242).unwrap();
        assert_eq!(f.read(&leaf, "cgroup.procs"), "4242");
        assert_eq!(cgroup.pids(), [4242]);

        f.write(&leaf, "cgroup.events", "populated 1\nfrozen 1\n");
        cgroup.freeze().unwrap();
        assert_eq!(f.read(&leaf, "cgroup.freeze"), "1");
        assert!(cgroup.is_frozen());
        f.write(&leaf, "cgroup.events", "populated 1\nfrozen 0\n");
        cgroup.thaw().unwrap();
        assert_eq!(f.read(&leaf, "cgroup.freeze"), "0");
        assert!(!cgroup.is_frozen());

        f.write(&leaf, "memory.current", "1048576\n");
        f.write(&leaf, "memory.stat", "anon 4096\ninactive_file 8192\n");
        f.write(&leaf, "cpu.stat", "usage_usec 1500\nuser_usec 1000\n");
        f.write(&leaf, "pids.current", "3\n");
        let stats = cgroup.stats();
        assert_eq!(
            stats,
            super::super::CgroupStats {
                memory_usage: 1 << 20,
                memory_limit: Some(64 << 20),
                memory_inactive_file: 8192,
                cpu_usage_ns: 1_500_000,
                pids_current: 3,
                pids_limit: Some(20),
            }
        );

        assert!(!cgroup.oom_killed());
        f.write(&leaf, "memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
        assert!(cgroup.oom_killed());

        let opened = Cgroup::open_in(f.root(), GROUP, None, ID, false).expect("open finds it");
        assert_eq!(opened.version(), CgroupVersion::V2);
        assert!(opened.oom_killed());
        assert!(Cgroup::open_in(f.root(), GROUP, None, "other", false).is_none());
    }

    #[test]
    fn already_enabled_controllers_are_left_alone_and_missing_swap_accounting_is_no_error() {
        let f = Fixture::new("cpu memory pids");
        f.write("", "cgroup.subtree_control", "cpu memory pids\n");
        let leaf = format!("berth/{ID}");
        f.add_cgroup(&leaf, "cpu memory pids");
        fs::remove_file(f.path(&leaf).join("memory.swap.max")).unwrap();
        let memory_only = Resources { memory: Some(64 << 20), ..Resources::default() };
        Cgroup::create_in(f.root(), GROUP, None, ID, false, &memory_only).unwrap().unwrap();
        assert_eq!(f.read("", "cgroup.subtree_control"), "cpu memory pids", "nothing to enable: nothing written");
        assert_eq!(f.read("berth", "cgroup.subtree_control"), "+cpu +memory +pids");
        assert_eq!(f.read(&leaf, "memory.max"), (64u64 << 20).to_string());
        assert!(!f.path(&leaf).join("memory.swap.max").exists(), "control files are never created");
        assert_eq!(f.read(&leaf, "cpu.max"), "max 100000", "no cpu limit asked for");
    }

    #[test]
    fn a_limit_whose_controller_is_unavailable_is_refused() {
        let f = Fixture::new("cpu memory");
        f.add_cgroup(&format!("berth/{ID}"), "cpu memory");
        let pids = Resources { pids_limit: Some(10), ..Resources::default() };
        let err = Cgroup::create_in(f.root(), GROUP, None, ID, false, &pids).unwrap_err();
        assert!(matches!(err, CgroupError::Unsupported(_)), "{err:?}");
        assert!(err.to_string().contains("pids"), "{err}");
        // Without that limit the same hierarchy is fine.
        let memory = Resources { memory: Some(64 << 20), ..Resources::default() };
        assert!(Cgroup::create_in(f.root(), GROUP, None, ID, false, &memory).unwrap().is_some());
    }

    const USER: &str = "user.slice/user-1000.slice";
    const SERVICE: &str = "user.slice/user-1000.slice/user@1000.service";

    /// A systemd-like tree: the user's manager and everything below it delegated, the slices
    /// above it not.
    fn systemd_fixture() -> Fixture {
        let controllers = "cpu io memory pids";
        let f = Fixture::new(controllers);
        f.add_cgroup(&format!("{SERVICE}/app.slice/vte-spawn-1.scope"), controllers);
        f.add_cgroup(&format!("{SERVICE}/berth/{ID}"), controllers);
        f.add_cgroup(&format!("{USER}/session-3.scope"), controllers);
        for cgroup in ["", "user.slice", USER, &format!("{USER}/session-3.scope")] {
            f.undelegate(cgroup);
        }
        f
    }

    #[test]
    fn rootless_v2_goes_under_the_highest_delegated_cgroup() {
        let f = systemd_fixture();
        let own = format!("/{SERVICE}/app.slice/vte-spawn-1.scope");
        assert_eq!(delegated_base(f.root(), &own), Some(f.path(SERVICE)));
        let cgroup = Cgroup::create_in(f.root(), GROUP, Some(&own), ID, true, &limited()).unwrap().unwrap();
        let Inner::V2(v2) = &cgroup.inner else { panic!("expected v2: {cgroup:?}") };
        let leaf = format!("{SERVICE}/berth/{ID}");
        assert_eq!(v2.dir, f.path(&leaf));
        assert_eq!(f.read(SERVICE, "cgroup.subtree_control"), "+cpu +io +memory +pids");
        assert_eq!(f.read(&format!("{SERVICE}/berth"), "cgroup.subtree_control"), "+cpu +io +memory +pids");
        assert_eq!(f.read(&leaf, "memory.max"), (64u64 << 20).to_string());
        assert_eq!(f.read(&leaf, "cpu.max"), "50000 100000");
        assert_eq!(f.read(&leaf, "pids.max"), "20");
        assert_eq!(f.read("", "cgroup.subtree_control"), "", "nothing above the delegation is touched");

        // Another process of the same user, in another scope, finds the same cgroup.
        let other_terminal = format!("/{SERVICE}/app.slice/other.scope");
        let opened = Cgroup::open_in(f.root(), GROUP, Some(&other_terminal), ID, true).expect("open finds it");
        let Inner::V2(opened) = &opened.inner else { panic!("expected v2") };
        assert_eq!(opened.dir, v2.dir);
    }

    #[test]
    fn rootless_v2_without_delegation_runs_without_a_cgroup_and_refuses_limits() {
        let f = systemd_fixture();
        let own = format!("/{USER}/session-3.scope");
        assert_eq!(delegated_base(f.root(), &own), None);
        assert!(Cgroup::create_in(f.root(), GROUP, Some(&own), ID, true, &Resources::default()).unwrap().is_none());
        let err = Cgroup::create_in(f.root(), GROUP, Some(&own), ID, true, &limited()).unwrap_err();
        assert!(matches!(err, CgroupError::NotDelegated { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&own), "{message}");
        assert!(message.contains("cgroup v2") && message.contains("systemd user session"), "{message}");
        assert!(message.contains("on cgroup v1, rootless containers get no limits"), "{message}");
        assert!(Cgroup::open_in(f.root(), GROUP, Some(&own), ID, true).is_none());
        assert!(Cgroup::open_in(f.root(), GROUP, None, ID, true).is_none());

        // Not in any v2 cgroup at all (no 0:: line): the same.
        assert!(Cgroup::create_in(f.root(), GROUP, None, ID, true, &Resources::default()).unwrap().is_none());
        assert!(matches!(
            Cgroup::create_in(f.root(), GROUP, None, ID, true, &limited()),
            Err(CgroupError::NotDelegated { .. })
        ));
    }

    #[test]
    fn the_callers_own_cgroup_is_never_the_base() {
        let f = Fixture::new("memory");
        f.undelegate("");
        f.add_cgroup("delegated/mine", "memory");
        f.undelegate("delegated");
        // Only the caller's own cgroup is delegated (a service with Delegate=yes): no room.
        assert_eq!(delegated_base(f.root(), "/delegated/mine"), None);
        assert_eq!(delegated_base(f.root(), "/"), None);
        assert_eq!(delegated_base(f.root(), "/../etc"), None);
    }

    /// The real kernel: a cgroup2 mount at /sys/fs/cgroup (pure v2) or /sys/fs/cgroup/unified
    /// (hybrid, where it carries few or no controllers: then only the core files are exercised).
    #[test]
    fn real_v2_processes_freeze_kill_and_removal() {
        if !require_root("creating cgroups") {
            return;
        }
        let Some(root) = [DEFAULT_ROOT, "/sys/fs/cgroup/unified"]
            .into_iter()
            .map(PathBuf::from)
            .find(|root| detect_at(root) == CgroupVersion::V2)
        else {
            return super::super::test_support::skip_or_fail("no cgroup2 file system is mounted");
        };
        let group = unique_group();
        let _cleanup = RemoveOnDrop(root.join(&group));
        let available = controller_names(&root.join("cgroup.controllers")).unwrap();
        let has = |c: &str| available.iter().any(|a| a == c);
        let resources = Resources {
            memory: has("memory").then_some(64 << 20),
            nano_cpus: has("cpu").then_some(500_000_000),
            pids_limit: has("pids").then_some(20),
            ..Resources::default()
        };
        let cgroup = Cgroup::create_in(&root, &group, None, "c1", false, &resources).unwrap().unwrap();
        let dir = root.join(&group).join("c1");
        let read = |file: &str| fs::read_to_string(dir.join(file)).unwrap().trim().to_owned();
        if has("memory") {
            assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        }
        if has("cpu") {
            assert_eq!(read("cpu.max"), "50000 100000");
        }
        if has("pids") {
            assert_eq!(read("pids.max"), "20");
        }

        let (mut child, stdin) = spawn_held("sleep 30");
        let pid = child.id() as i32;
        cgroup.add_process(pid).unwrap();
        assert_eq!(cgroup.pids(), [pid]);
        release(stdin);
        wait_for_exec(child.id(), "sleep");
        // CPU time is accounted when the task is next scheduled out (here: when sleep sleeps).
        wait_until(std::time::Duration::from_secs(5), || cgroup.stats().cpu_usage_ns > 0);
        assert!(cgroup.stats().cpu_usage_ns > 0, "{:?}", cgroup.stats());

        cgroup.freeze().unwrap();
        assert!(cgroup.is_frozen());
        assert_eq!(read_keyed(&dir.join("cgroup.events"), "frozen"), Some(1));
        cgroup.thaw().unwrap();
        assert!(!cgroup.is_frozen());

        cgroup.kill_all(Signal::SIGKILL).unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        cgroup.remove().unwrap();
        assert!(!dir.exists());
    }

    struct RemoveOnDrop(PathBuf);

    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            for pid in procs_below(&self.0) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = remove_tree(&self.0);
        }
    }
}
