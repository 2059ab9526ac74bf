//! cgroup v1: one hierarchy per controller, or per set of co-mounted controllers (`cpu,cpuacct`,
//! often reached through `cpu` and `cpuacct` symlinks), each mounted at `<root>/<controller>`.
//! The container gets `<group>/<id>` in each.

use std::fs;
use std::path::{Path, PathBuf};

use super::{
    CgroupError, CgroupStats, FREEZE_TIMEOUT, Limits, Unsupported, make_dir, procs_below, read_file, read_keyed,
    read_limit, read_trimmed, read_u64, remove_tree, wait_until, write_file,
};

/// The controllers a container joins. The device policy of `devices` is written by the
/// container's first process once it has joined (see sandbox::devices::restrict_cgroup).
const CONTROLLERS: [&str; 8] = ["memory", "cpu", "cpuacct", "pids", "freezer", "cpuset", "blkio", "devices"];

/// One mounted hierarchy and the controllers it carries.
#[derive(Debug, Clone)]
struct Hierarchy {
    controllers: Vec<&'static str>,
    mount: PathBuf,
}

/// The hierarchies mounted under `root` that carry any of [`CONTROLLERS`].
fn hierarchies(root: &Path) -> Vec<Hierarchy> {
    let mut found: Vec<Hierarchy> = Vec::new();
    for controller in CONTROLLERS {
        let Ok(mount) = fs::canonicalize(root.join(controller)) else { continue };
        if !mount.join("cgroup.procs").is_file() {
            continue;
        }
        match found.iter_mut().find(|h| h.mount == mount) {
            Some(h) => h.controllers.push(controller),
            None => found.push(Hierarchy { controllers: vec![controller], mount }),
        }
    }
    found
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone)]
struct Leaf {
    controllers: Vec<&'static str>,
    dir: PathBuf,
}

#[derive(Debug, Clone)]
pub(super) struct V1Cgroup {
    leaves: Vec<Leaf>,
}

impl V1Cgroup {
    pub(super) fn create(root: &Path, group: &str, id: &str, limits: &Limits) -> Result<V1Cgroup, CgroupError> {
        let hierarchies = hierarchies(root);
        if hierarchies.is_empty() {
            return Err(CgroupError::Unsupported(format!(
                "no cgroup v1 controllers are mounted under {}",
                root.display()
            )));
        }
        for needed in limits.controllers() {
            if !hierarchies.iter().any(|h| h.controllers.contains(&needed)) {
                return Err(CgroupError::Unsupported(format!(
                    "the {needed} cgroup controller is not mounted under {}: cannot apply the {needed} limit",
                    root.display()
                )));
            }
        }
        let mut cgroup = V1Cgroup { leaves: Vec::new() };
        if let Err(e) = cgroup.populate(&hierarchies, group, id, limits) {
            // What failed is the error to report; a leftover directory is swept by the next remove.
            let _ = cgroup.remove();
            return Err(e);
        }
        Ok(cgroup)
    }

    /// Makes the directories (recording each in `self` as soon as it exists, so a failure can
    /// remove them) and applies the limits.
    fn populate(
        &mut self,
        hierarchies: &[Hierarchy],
        group: &str,
        id: &str,
        limits: &Limits,
    ) -> Result<(), CgroupError> {
        for h in hierarchies {
            let group_dir = h.mount.join(group);
            let dir = group_dir.join(id);
            make_dir(&group_dir)?;
            make_dir(&dir)?;
            self.leaves.push(Leaf { controllers: h.controllers.clone(), dir: dir.clone() });
            if h.controllers.contains(&"cpuset") {
                inherit_cpuset(&h.mount, &group_dir)?;
                inherit_cpuset(&group_dir, &dir)?;
            }
        }
        self.apply(limits)
    }

    pub(super) fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        if let Some(memory) = limits.memory {
            let dir = self.dir_for("memory")?;
            // memory+swap may never be below memory: lift it first, so a lower memory limit
            // than before (update) is accepted, then set both.
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            let has_swap_accounting = memsw.exists();
            if has_swap_accounting {
                write_file(&memsw, "-1")?;
            }
            write_file(&dir.join("memory.limit_in_bytes"), &memory.to_string())?;
            // The file is missing where swap accounting is off (Docker warns at create).
            if let (true, Some(swap)) = (has_swap_accounting, limits.memory_swap) {
                write_file(&memsw, &swap.to_string())?;
            }
        }
        if let Some(low) = limits.memory_low {
            write_file(&self.dir_for("memory")?.join("memory.soft_limit_in_bytes"), &low.to_string())?;
        }
        if limits.oom_kill_disable {
            write_file(&self.dir_for("memory")?.join("memory.oom_control"), "1")?;
        }
        if let Some(period) = limits.cpu_period_us {
            write_file(&self.dir_for("cpu")?.join("cpu.cfs_period_us"), &period.to_string())?;
        }
        if let Some(quota) = limits.cpu_quota_us {
            write_file(&self.dir_for("cpu")?.join("cpu.cfs_quota_us"), &quota.to_string())?;
        }
        if let Some(shares) = limits.cpu_shares {
            write_file(&self.dir_for("cpu")?.join("cpu.shares"), &shares.to_string())?;
        }
        if let Some(max) = &limits.pids_max {
            write_file(&self.dir_for("pids")?.join("pids.max"), max)?;
        }
        if let Some(cpus) = &limits.cpuset_cpus {
            write_file(&self.dir_for("cpuset")?.join("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = &limits.cpuset_mems {
            write_file(&self.dir_for("cpuset")?.join("cpuset.mems"), mems)?;
        }
        if let Some(weight) = limits.blkio_weight {
            let dir = self.dir_for("blkio")?;
            let file = ["blkio.weight", "blkio.bfq.weight"].map(|f| dir.join(f)).into_iter().find(|f| f.exists());
            let file = file.ok_or_else(|| CgroupError::Unsupported(Unsupported::BlkioWeight.to_string()))?;
            write_file(&file, &weight.to_string())?;
        }
        for throttle in &limits.throttles {
            let file = self.dir_for("blkio")?.join(throttle.kind.v1_file());
            write_file(&file, &format!("{} {}", throttle.device, throttle.rate))?;
        }
        Ok(())
    }

    pub(super) fn open(root: &Path, group: &str, id: &str) -> Option<V1Cgroup> {
        let leaves: Vec<Leaf> = hierarchies(root)
            .into_iter()
            .map(|h| Leaf { dir: h.mount.join(group).join(id), controllers: h.controllers })
            .filter(|leaf| leaf.dir.is_dir())
            .collect();
        (!leaves.is_empty()).then_some(V1Cgroup { leaves })
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.leaves.iter().find(|l| l.controllers.contains(&controller)).map(|l| l.dir.as_path())
    }

    fn dir_for(&self, controller: &str) -> Result<&Path, CgroupError> {
        self.dir(controller)
            .ok_or_else(|| CgroupError::Unsupported(format!("the container's cgroup has no {controller} controller")))
    }

    pub(super) fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for leaf in &self.leaves {
            write_file(&leaf.dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    pub(super) fn self_join_files(&self) -> Vec<PathBuf> {
        self.leaves.iter().map(|l| l.dir.join("tasks")).collect()
    }

    pub(super) fn freeze(&self) -> Result<(), CgroupError> {
        let state = self.dir_for("freezer")?.join("freezer.state");
        write_file(&state, "FROZEN")?;
        // A task that forks or exits at the wrong moment can leave the cgroup in FREEZING; asking
        // again moves it on (as runc does).
        let frozen = wait_until(FREEZE_TIMEOUT, || {
            read_trimmed(&state).as_deref() == Some("FROZEN") || {
                let _ = write_file(&state, "FROZEN");
                false
            }
        });
        if frozen {
            return Ok(());
        }
        write_file(&state, "THAWED")?;
        Err(CgroupError::FreezeTimeout { path: state })
    }

    pub(super) fn thaw(&self) -> Result<(), CgroupError> {
        let state = self.dir_for("freezer")?.join("freezer.state");
        write_file(&state, "THAWED")?;
        if wait_until(FREEZE_TIMEOUT, || read_trimmed(&state).as_deref() == Some("THAWED")) {
            Ok(())
        } else {
            Err(CgroupError::Unsupported(format!("{} did not thaw", state.display())))
        }
    }

    pub(super) fn is_frozen(&self) -> bool {
        self.dir("freezer")
            .and_then(|dir| read_trimmed(&dir.join("freezer.state")))
            .is_some_and(|state| state == "FROZEN" || state == "FREEZING")
    }

    pub(super) fn stats(&self) -> CgroupStats {
        let mut stats = CgroupStats::default();
        if let Some(dir) = self.dir("memory") {
            stats.memory_usage = read_u64(&dir.join("memory.usage_in_bytes")).unwrap_or(0);
            stats.memory_limit = read_limit(&dir.join("memory.limit_in_bytes"));
            stats.memory_inactive_file = read_keyed(&dir.join("memory.stat"), "total_inactive_file").unwrap_or(0);
        }
        if let Some(dir) = self.dir("cpuacct") {
            stats.cpu_usage_ns = read_u64(&dir.join("cpuacct.usage")).unwrap_or(0);
        }
        if let Some(dir) = self.dir("pids") {
            stats.pids_current = read_u64(&dir.join("pids.current")).unwrap_or(0);
            stats.pids_limit = read_limit(&dir.join("pids.max"));
        }
        stats
    }

    pub(super) fn oom_killed(&self) -> bool {
        self.dir("memory")
            .and_then(|dir| read_keyed(&dir.join("memory.oom_control"), "oom_kill"))
            .is_some_and(|n| n > 0)
    }

    pub(super) fn pids(&self) -> Vec<i32> {
        // Every hierarchy holds the same processes (add_process writes them all); the freezer's
        // is the one pause acts on.
        let leaf = self.dir("freezer").or_else(|| self.leaves.first().map(|l| l.dir.as_path()));
        leaf.map(procs_below).unwrap_or_default()
    }

    pub(super) fn remove(&self) -> Result<(), CgroupError> {
        let mut first_error = None;
        for leaf in &self.leaves {
            if let Err(e) = remove_tree(&leaf.dir) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// One entry of a cgroup v1 host's /sys/fs/cgroup, repeated in a container's own (a tmpfs there,
/// as Docker has it on v1, so runtimes that size themselves from the limits find them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEntry {
    /// A hierarchy mounted at `/sys/fs/cgroup/<name>`; `options` say what it carries ("memory",
    /// "cpu,cpuacct", "name=systemd") and are what mounting it again takes.
    Hierarchy { name: String, options: String },
    /// `/sys/fs/cgroup/<name>`, a symlink (`cpu` → `cpu,cpuacct` where they are co-mounted).
    Link { name: String, target: PathBuf },
}

/// The v1 hierarchies and aliases of this host's /sys/fs/cgroup, as this process's mount
/// namespace shows them. Nothing on a pure v2 host; the cgroup2 `unified` mount of a hybrid host
/// is left out (it holds no container cgroup).
pub fn host_entries() -> Vec<HostEntry> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let known = fs::read_to_string("/proc/cgroups").unwrap_or_default();
    let mut entries = hierarchies_in_mountinfo(&mountinfo, &controllers_in_proc_cgroups(&known));
    let Ok(dir) = fs::read_dir(super::DEFAULT_ROOT) else { return entries };
    let mut links: Vec<HostEntry> = dir
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let target = fs::read_link(e.path()).ok()?;
            // Only an alias of a hierarchy mounted next to it means anything in the container.
            let points_at_hierarchy =
                entries.iter().any(|h| matches!(h, HostEntry::Hierarchy { name, .. } if Path::new(name) == target));
            (is_entry_name(&name) && points_at_hierarchy).then_some(HostEntry::Link { name, target })
        })
        .collect();
    links.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    entries.extend(links);
    entries
}

/// The controllers the kernel has (first column of /proc/cgroups).
fn controllers_in_proc_cgroups(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The `cgroup` (v1) mounts directly below /sys/fs/cgroup, with the options that name their
/// controllers. Other superblock options (xattr, release_agent, noprefix) are dropped: they
/// cannot differ in a second mount of the same hierarchy, and release_agent may not be given
/// at all outside the initial cgroup namespace.
fn hierarchies_in_mountinfo(mountinfo: &str, controllers: &[String]) -> Vec<HostEntry> {
    let prefix = format!("{}/", super::DEFAULT_ROOT);
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else { continue };
        let Some(mount_point) = before.split(' ').nth(4) else { continue };
        let mut after = after.split(' ');
        let (Some("cgroup"), Some(_source), Some(super_options)) = (after.next(), after.next(), after.next()) else {
            continue;
        };
        let Some(name) = mount_point.strip_prefix(&prefix) else { continue };
        if !is_entry_name(name) {
            continue;
        }
        let options: Vec<&str> =
            super_options.split(',').filter(|o| o.starts_with("name=") || controllers.iter().any(|c| c == o)).collect();
        if options.is_empty() || found.iter().any(|h| matches!(h, HostEntry::Hierarchy { name: n, .. } if n == name)) {
            continue;
        }
        found.push(HostEntry::Hierarchy { name: name.to_owned(), options: options.join(",") });
    }
    found
}

/// One plain path component (mountinfo escapes spaces and the like as `\040`: such a name is
/// skipped rather than unescaped).
fn is_entry_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\'])
}

/// A new cpuset cgroup starts with no CPUs and no memory nodes, and refuses processes until it
/// has some: copy the parent's.
fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        if read_file(&own)?.trim().is_empty() {
            write_file(&own, read_file(&parent.join(file))?.trim())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::time::Duration;

    use nix::sys::signal::Signal;

    use super::super::test_support::{release, require_root, skip_or_fail, spawn_held, unique_group, wait_for_exec};
    use super::super::{Cgroup, CgroupVersion, DEFAULT_ROOT, detect_at};
    use super::*;
    use crate::sandbox::cgroup::Resources;

    /// A group directory of this test's own in every hierarchy, removed (with anything left in
    /// it) when dropped.
    struct TestGroup {
        root: PathBuf,
        group: String,
    }

    impl TestGroup {
        /// None (after reporting a skip) unless this is root on a host with v1 controllers.
        fn new() -> Option<TestGroup> {
            if !require_root("creating cgroups") {
                return None;
            }
            let root = PathBuf::from(DEFAULT_ROOT);
            if detect_at(&root) != CgroupVersion::V1 || hierarchies(&root).is_empty() {
                // Not a failure in CI: a pure-v2 host has no v1 to test (the v2 tests run there).
                eprintln!("skipped: this host has no cgroup v1 controllers");
                return None;
            }
            Some(TestGroup { root, group: unique_group() })
        }
    }

    impl Drop for TestGroup {
        fn drop(&mut self) {
            for h in hierarchies(&self.root) {
                let dir = h.mount.join(&self.group);
                for pid in procs_below(&dir) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = fs::write(dir.join("freezer.state"), "THAWED");
                let _ = remove_tree(&dir);
            }
        }
    }

    fn read(dir: &Path, file: &str) -> String {
        fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("reading {file}: {e}")).trim().to_owned()
    }

    #[test]
    fn host_entries_are_the_v1_mounts_below_the_root_with_their_controllers() {
        let mountinfo = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/lib/systemd/agent,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/net\\040cls rw - cgroup cgroup rw,net_cls
43 23 0:40 / /mnt/elsewhere rw - cgroup cgroup rw,pids
44 31 0:41 / /sys/fs/cgroup/odd rw - cgroup cgroup rw,noprefix
";
        let proc_cgroups = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t1\t1\ncpuacct\t1\t1\t1\n\
                             memory\t4\t9\t1\nnet_cls\t5\t1\t1\npids\t8\t1\t1\n";
        let controllers = controllers_in_proc_cgroups(proc_cgroups);
        assert_eq!(controllers, ["cpu", "cpuacct", "memory", "net_cls", "pids"]);
        let entry = |name: &str, options: &str| HostEntry::Hierarchy { name: name.into(), options: options.into() };
        assert_eq!(
            hierarchies_in_mountinfo(mountinfo, &controllers),
            [entry("cpu,cpuacct", "cpu,cpuacct"), entry("memory", "memory"), entry("systemd", "name=systemd")]
        );
    }

    #[test]
    fn this_hosts_entries_name_mounted_hierarchies() {
        if detect_at(Path::new(DEFAULT_ROOT)) != CgroupVersion::V1 {
            return eprintln!("skipped: this host has no cgroup v1");
        }
        let entries = host_entries();
        assert!(
            entries.iter().any(|e| matches!(e, HostEntry::Hierarchy { options, .. } if options.contains("memory")))
        );
        for entry in entries {
            let name = match &entry {
                HostEntry::Hierarchy { name, .. } | HostEntry::Link { name, .. } => name,
            };
            assert!(Path::new(DEFAULT_ROOT).join(name).join("cgroup.procs").exists(), "{entry:?}");
        }
    }

    #[test]
    fn v1_limits_processes_stats_pause_and_removal() {
        let Some(t) = TestGroup::new() else { return };
        let resources = Resources {
            memory: Some(64 << 20),
            nano_cpus: Some(500_000_000),
            cpu_shares: Some(512),
            pids_limit: Some(20),
            ..Resources::default()
        };
        let cgroup = Cgroup::create_in(&t.root, &t.group, None, "c1", false, &resources).unwrap().unwrap();
        let super::super::Inner::V1(v1) = &cgroup.inner else { panic!("expected v1: {cgroup:?}") };

        let memory = v1.dir("memory").unwrap();
        assert_eq!(memory, t.root.join("memory").canonicalize().unwrap().join(&t.group).join("c1"));
        assert_eq!(read(memory, "memory.limit_in_bytes"), (64u64 << 20).to_string());
        if memory.join("memory.memsw.limit_in_bytes").exists() {
            assert_eq!(read(memory, "memory.memsw.limit_in_bytes"), (128u64 << 20).to_string());
        }
        let cpu = v1.dir("cpu").unwrap();
        assert_eq!(read(cpu, "cpu.cfs_period_us"), "100000");
        assert_eq!(read(cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(cpu, "cpu.shares"), "512");
        assert_eq!(read(v1.dir("pids").unwrap(), "pids.max"), "20");
        if let Some(cpuset) = v1.dir("cpuset") {
            let host = t.root.join("cpuset");
            assert_eq!(read(cpuset, "cpuset.cpus"), read(&host, "cpuset.cpus"));
            assert_eq!(read(cpuset, "cpuset.mems"), read(&host, "cpuset.mems"));
        }

        let (mut child, stdin) = spawn_held("sleep 30");
        let pid = child.id() as i32;
        cgroup.add_process(pid).unwrap();
        assert_eq!(cgroup.pids(), [pid]);
        for leaf in &v1.leaves {
            assert_eq!(read(&leaf.dir, "cgroup.procs"), pid.to_string(), "{:?}", leaf.controllers);
        }
        release(stdin);
        wait_for_exec(child.id(), "sleep");

        // CPU time is accounted when the task is next scheduled out (here: when sleep sleeps).
        wait_until(Duration::from_secs(5), || cgroup.stats().cpu_usage_ns > 0);
        let stats = cgroup.stats();
        assert!(stats.memory_usage > 0, "{stats:?}");
        assert!(stats.cpu_usage_ns > 0, "{stats:?}");
        assert_eq!(stats.memory_limit, Some(64 << 20));
        assert_eq!(stats.pids_current, 1);
        assert_eq!(stats.pids_limit, Some(20));

        let opened = Cgroup::open_in(&t.root, &t.group, None, "c1", false).expect("open finds the cgroup");
        assert_eq!(opened.pids(), [pid]);
        assert_eq!(opened.version(), CgroupVersion::V1);

        cgroup.freeze().unwrap();
        assert_eq!(read(v1.dir("freezer").unwrap(), "freezer.state"), "FROZEN");
        assert!(opened.is_frozen());
        cgroup.thaw().unwrap();
        assert_eq!(read(v1.dir("freezer").unwrap(), "freezer.state"), "THAWED");
        assert!(!opened.is_frozen());

        cgroup.kill_all(Signal::SIGKILL).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
        assert!(!cgroup.oom_killed());

        cgroup.remove().unwrap();
        for leaf in &v1.leaves {
            assert!(!leaf.dir.exists(), "{} is left", leaf.dir.display());
        }
        assert!(Cgroup::open_in(&t.root, &t.group, None, "c1", false).is_none());
        cgroup.remove().expect("removing twice is fine");
    }

    #[test]
    fn v1_kill_all_keeps_a_paused_cgroup_paused_for_other_signals() {
        let Some(t) = TestGroup::new() else { return };
        let cgroup = Cgroup::create_in(&t.root, &t.group, None, "c1", false, &Resources::default()).unwrap().unwrap();
        let (mut child, stdin) = spawn_held("sleep 30");
        cgroup.add_process(child.id() as i32).unwrap();
        release(stdin);
        wait_for_exec(child.id(), "sleep");
        cgroup.freeze().unwrap();
        cgroup.kill_all(Signal::SIGTERM).unwrap();
        assert!(cgroup.is_frozen(), "SIGTERM must not unpause");
        assert_eq!(child.try_wait().unwrap(), None, "a frozen process cannot act on SIGTERM yet");
        cgroup.thaw().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
        cgroup.remove().unwrap();
    }

    #[test]
    fn v1_memory_limit_ends_in_an_oom_kill() {
        let Some(t) = TestGroup::new() else { return };
        if !Path::new("/usr/bin/dd").exists() && !Path::new("/bin/dd").exists() {
            return skip_or_fail("needs dd");
        }
        let resources = Resources { memory: Some(16 << 20), ..Resources::default() };
        let cgroup = Cgroup::create_in(&t.root, &t.group, None, "oom", false, &resources).unwrap().unwrap();
        // dd reads /dev/zero into one 64 MiB buffer: four times the limit, touched page by page.
        let (mut child, stdin) = spawn_held("dd if=/dev/zero of=/dev/null bs=64M count=1");
        cgroup.add_process(child.id() as i32).unwrap();
        release(stdin);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
        assert!(cgroup.oom_killed());
        cgroup.remove().unwrap();
        assert!(Cgroup::open_in(&t.root, &t.group, None, "oom", false).is_none());
    }
}
