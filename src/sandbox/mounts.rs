//! The container's filesystem, built by its first process once its namespaces exist: the
//! overlay root, /proc, /dev, /sys, the bind-mounted /etc files, then pivot_root into it.
//!
//! Every mount target inside the rootfs is resolved with [`Syscall::resolve_in_root`], so
//! symlinks an image ships (say /dev → /../../host) stay inside the rootfs.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use super::process::{SandboxError, Step};
use super::spec::SandboxSpec;
use super::syscall::Syscall;
use crate::container::record::NetworkMode;

/// mount(2) copies at most one page of options, NUL included.
pub const MOUNT_DATA_MAX: usize = 4095;

/// The character devices every container gets: name, major, minor (mode 0666).
const DEVICES: [(&str, u64, u64); 6] =
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

const DEV_SYMLINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// The tty group of Debian, Alpine, Fedora and Docker's /dev/pts.
const TTY_GID: u32 = 5;

fn nosuid_nodev_noexec() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
}

/// Builds the container's filesystem and makes it the process's root. Runs in the container's
/// first process, in its new mount (and pid, ipc, network) namespaces, before anything of the
/// container runs; the working directory is `/` afterwards.
pub fn prepare_rootfs(spec: &SandboxSpec, sys: &dyn Syscall) -> Result<(), SandboxError> {
    // Nothing mounted from here on may propagate back to the host (or the supervisor).
    sys.mount(None, Path::new("/"), None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)
        .step(|| "making / private".into())?;
    mount_overlay(spec, sys)?;
    let root = spec.rootfs.as_path();
    mount_proc(root, sys)?;
    mount_dev(root, spec.rootless, spec.process.tty, sys)?;
    mount_sys(root, spec.rootless, spec.network, sys)?;
    bind_etc_files(root, &spec.etc_files, sys)?;
    // Masked and read-only paths will be applied here, while the host paths they need are still
    // reachable.
    enter_root(root, sys)
}

/// The lower directory of an image without layers: an empty directory next to the container's
/// upper directory.
pub fn empty_lower_dir(spec: &SandboxSpec) -> PathBuf {
    spec.upper_dir.with_file_name("lower-empty")
}

/// overlayfs treats `\`, `,` and `:` in paths as syntax; a backslash escapes them.
fn escape_overlay_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The mount(2) option string for an overlay (`lower` top-most first).
pub fn overlay_options(lower: &[PathBuf], upper: &Path, work: &Path, userxattr: bool) -> String {
    let lower: Vec<String> = lower.iter().map(|p| escape_overlay_path(p)).collect();
    let mut options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        escape_overlay_path(upper),
        escape_overlay_path(work)
    );
    if userxattr {
        // Inside a user namespace overlayfs may only use user.* xattrs (kernel 5.11+).
        options.push_str(",userxattr");
    }
    options
}

fn mount_overlay(spec: &SandboxSpec, sys: &dyn Syscall) -> Result<(), SandboxError> {
    let lower = if spec.lower_dirs.is_empty() {
        let empty = empty_lower_dir(spec);
        sys.mkdir_all(&empty, 0o755).step(|| format!("creating {}", empty.display()))?;
        vec![empty]
    } else {
        spec.lower_dirs.clone()
    };
    sys.mkdir_all(&spec.rootfs, 0o755).step(|| format!("creating {}", spec.rootfs.display()))?;
    let options = overlay_options(&lower, &spec.upper_dir, &spec.work_dir, spec.rootless);
    let what = || format!("mounting the overlay on {} ({} layers)", spec.rootfs.display(), lower.len());
    if options.len() <= MOUNT_DATA_MAX {
        sys.mount(Some(Path::new("overlay")), &spec.rootfs, Some("overlay"), MsFlags::empty(), Some(&options))
            .step(what)
    } else {
        // Too long for one page: one fsconfig call per layer has no such limit.
        sys.mount_overlay_per_layer(&spec.rootfs, &lower, &spec.upper_dir, &spec.work_dir, spec.rootless).step(what)
    }
}

/// Resolves `path` inside the rootfs and creates it as a directory.
fn dir_in_root(root: &Path, path: &str, sys: &dyn Syscall) -> Result<PathBuf, SandboxError> {
    let resolved = sys.resolve_in_root(root, Path::new(path)).step(|| format!("resolving {path} in the rootfs"))?;
    sys.mkdir_all(&resolved, 0o755).step(|| format!("creating {path} in the rootfs"))?;
    Ok(resolved)
}

fn mount_fs(
    sys: &dyn Syscall,
    fstype: &str,
    target: &Path,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), SandboxError> {
    sys.mount(Some(Path::new(fstype)), target, Some(fstype), flags, data)
        .step(|| format!("mounting {fstype} on {}", target.display()))
}

fn mount_proc(root: &Path, sys: &dyn Syscall) -> Result<(), SandboxError> {
    let proc = dir_in_root(root, "/proc", sys)?;
    mount_fs(sys, "proc", &proc, nosuid_nodev_noexec(), None)
}

fn mount_dev(root: &Path, rootless: bool, tty: bool, sys: &dyn Syscall) -> Result<(), SandboxError> {
    let dev = dir_in_root(root, "/dev", sys)?;
    mount_fs(sys, "tmpfs", &dev, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME, Some("mode=755,size=65536k"))?;
    // /dev is a fresh, empty tmpfs from here on: plain joins cannot meet an image's symlinks.
    for (name, major, minor) in DEVICES {
        let node = dev.join(name);
        if rootless {
            // No mknod in a user namespace: the host's nodes, bind-mounted, work the same.
            sys.create_file(&node, 0o666).step(|| format!("creating /dev/{name}"))?;
            sys.bind_mount(&Path::new("/dev").join(name), &node, false)
                .step(|| format!("bind-mounting /dev/{name}"))?;
        } else {
            sys.mknod_char(&node, 0o666, major, minor).step(|| format!("creating /dev/{name}"))?;
        }
    }
    mount_devpts(&dev, sys)?;
    for (name, target) in DEV_SYMLINKS {
        sys.symlink(Path::new(target), &dev.join(name)).step(|| format!("creating /dev/{name}"))?;
    }
    let shm = dev.join("shm");
    sys.mkdir_all(&shm, 0o755).step(|| "creating /dev/shm".into())?;
    mount_fs(sys, "tmpfs", &shm, nosuid_nodev_noexec(), Some("mode=1777,size=65536k"))?;
    let mqueue = dev.join("mqueue");
    sys.mkdir_all(&mqueue, 0o755).step(|| "creating /dev/mqueue".into())?;
    mount_fs(sys, "mqueue", &mqueue, nosuid_nodev_noexec(), None)?;
    if tty {
        // Fd 0 is the pty by now; programs that look for their terminal at /dev/console find it.
        // It is bound by path: the fd's own mount belongs to the supervisor's mount namespace,
        // which bind mounts cannot take from.
        let tty_path = sys.read_link(Path::new("/proc/self/fd/0")).step(|| "finding the tty's path".into())?;
        if !tty_path.is_absolute() {
            return Err(SandboxError::Invalid(format!("stdin is not a terminal ({})", tty_path.display())));
        }
        let console = dev.join("console");
        sys.create_file(&console, 0o620).step(|| "creating /dev/console".into())?;
        sys.bind_mount(&tty_path, &console, false).step(|| "bind-mounting the tty on /dev/console".into())?;
    }
    Ok(())
}

fn mount_devpts(dev: &Path, sys: &dyn Syscall) -> Result<(), SandboxError> {
    let pts = dev.join("pts");
    sys.mkdir_all(&pts, 0o755).step(|| "creating /dev/pts".into())?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    let options = "newinstance,ptmxmode=0666,mode=0620";
    let with_gid = format!("{options},gid={TTY_GID}");
    match sys.mount(Some(Path::new("devpts")), &pts, Some("devpts"), flags, Some(&with_gid)) {
        // The tty gid is not mapped in this user namespace (single-id rootless mapping).
        Err(Errno::EINVAL) => mount_fs(sys, "devpts", &pts, flags, Some(options)),
        other => other.step(|| format!("mounting devpts on {}", pts.display())),
    }
}

fn mount_sys(root: &Path, rootless: bool, network: NetworkMode, sys: &dyn Syscall) -> Result<(), SandboxError> {
    let target = dir_in_root(root, "/sys", sys)?;
    if rootless && network == NetworkMode::Host {
        // sysfs can only be mounted by the owner of the network namespace, and the host's
        // belongs to the host: show the host's /sys, read-only.
        sys.bind_mount(Path::new("/sys"), &target, true).step(|| "bind-mounting /sys".into())?;
        sys.make_readonly_recursive(&target).step(|| "making /sys read-only".into())?;
    } else {
        mount_fs(sys, "sysfs", &target, nosuid_nodev_noexec() | MsFlags::MS_RDONLY, None)?;
    }
    if !sys.host_cgroup_is_v2() {
        // The unified hierarchy of a v1 host holds no container cgroup, only the host's tree.
        return Ok(());
    }
    // The container's own cgroup (its cgroup namespace's root), read-only as Docker has it.
    let cgroup = dir_in_root(root, "/sys/fs/cgroup", sys)?;
    mount_fs(sys, "cgroup2", &cgroup, nosuid_nodev_noexec() | MsFlags::MS_RELATIME | MsFlags::MS_RDONLY, None)
}

fn bind_etc_files(root: &Path, files: &[(PathBuf, String)], sys: &dyn Syscall) -> Result<(), SandboxError> {
    for (source, target) in files {
        let resolved =
            sys.resolve_in_root(root, Path::new(target)).step(|| format!("resolving {target} in the rootfs"))?;
        if let Some(parent) = resolved.parent() {
            sys.mkdir_all(parent, 0o755).step(|| format!("creating the directory of {target}"))?;
        }
        sys.create_file(&resolved, 0o644).step(|| format!("creating {target}"))?;
        sys.bind_mount(source, &resolved, false).step(|| format!("bind-mounting {} on {target}", source.display()))?;
    }
    Ok(())
}

/// pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only the
/// container's tree (runc's way, which needs no directory for the old root). Where pivot_root is
/// impossible (a ramfs root) the rootfs is moved over / and chrooted into instead.
fn enter_root(root: &Path, sys: &dyn Syscall) -> Result<(), SandboxError> {
    sys.chdir(root).step(|| format!("chdir to {}", root.display()))?;
    match sys.pivot_root(Path::new("."), Path::new(".")) {
        Ok(()) => {
            sys.umount2(Path::new("."), MntFlags::MNT_DETACH).step(|| "detaching the old root".into())?;
        }
        Err(Errno::EINVAL) => {
            sys.mount(Some(Path::new(".")), Path::new("/"), None, MsFlags::MS_MOVE, None)
                .step(|| "moving the rootfs to /".into())?;
            sys.chroot(Path::new(".")).step(|| "chroot into the rootfs".into())?;
        }
        Err(errno) => return Err(SandboxError::Sys { what: "pivot_root into the rootfs".into(), errno }),
    }
    sys.chdir(Path::new("/")).step(|| "chdir to /".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::spec::ProcessSpec;
    use crate::sandbox::syscall::RecordingSyscall;

    fn layer(n: usize) -> PathBuf {
        PathBuf::from(format!("/var/lib/berth/layers/{n:064x}/diff"))
    }

    fn spec(rootless: bool, network: NetworkMode, layers: usize) -> SandboxSpec {
        SandboxSpec {
            id: "c1".into(),
            rootless,
            lower_dirs: (0..layers).map(layer).collect(),
            upper_dir: "/c/upper".into(),
            work_dir: "/c/work".into(),
            rootfs: "/c/rootfs".into(),
            hostname: "c1".into(),
            etc_files: vec![
                ("/c/hosts".into(), "/etc/hosts".into()),
                ("/c/resolv.conf".into(), "/etc/resolv.conf".into()),
            ],
            network,
            cgroup_join_files: Vec::new(),
            process: ProcessSpec { args: vec!["sh".into()], ..Default::default() },
        }
    }

    fn plan(spec: &SandboxSpec) -> Vec<String> {
        let sys = RecordingSyscall::new();
        prepare_rootfs(spec, &sys).unwrap();
        sys.calls()
    }

    #[test]
    fn root_plan_mounts_everything_and_pivots() {
        let calls = plan(&spec(false, NetworkMode::Private, 2));
        let expected = [
            "mount none on / type=none flags=rec,private".to_string(),
            "mkdir /c/rootfs 755".into(),
            format!(
                "mount overlay on /c/rootfs type=overlay flags= data=lowerdir={}:{},upperdir=/c/upper,workdir=/c/work",
                layer(0).display(),
                layer(1).display()
            ),
            "mkdir /c/rootfs/proc 755".into(),
            "mount proc on /c/rootfs/proc type=proc flags=nosuid,nodev,noexec".into(),
            "mkdir /c/rootfs/dev 755".into(),
            "mount tmpfs on /c/rootfs/dev type=tmpfs flags=nosuid,strictatime data=mode=755,size=65536k".into(),
            "mknod /c/rootfs/dev/null 666 c 1:3".into(),
            "mknod /c/rootfs/dev/zero 666 c 1:5".into(),
            "mknod /c/rootfs/dev/full 666 c 1:7".into(),
            "mknod /c/rootfs/dev/random 666 c 1:8".into(),
            "mknod /c/rootfs/dev/urandom 666 c 1:9".into(),
            "mknod /c/rootfs/dev/tty 666 c 5:0".into(),
            "mkdir /c/rootfs/dev/pts 755".into(),
            "mount devpts on /c/rootfs/dev/pts type=devpts flags=nosuid,noexec data=newinstance,ptmxmode=0666,mode=0620,gid=5"
                .into(),
            "symlink /c/rootfs/dev/fd -> /proc/self/fd".into(),
            "symlink /c/rootfs/dev/stdin -> /proc/self/fd/0".into(),
            "symlink /c/rootfs/dev/stdout -> /proc/self/fd/1".into(),
            "symlink /c/rootfs/dev/stderr -> /proc/self/fd/2".into(),
            "symlink /c/rootfs/dev/ptmx -> pts/ptmx".into(),
            "mkdir /c/rootfs/dev/shm 755".into(),
            "mount tmpfs on /c/rootfs/dev/shm type=tmpfs flags=nosuid,nodev,noexec data=mode=1777,size=65536k".into(),
            "mkdir /c/rootfs/dev/mqueue 755".into(),
            "mount mqueue on /c/rootfs/dev/mqueue type=mqueue flags=nosuid,nodev,noexec".into(),
            "mkdir /c/rootfs/sys 755".into(),
            "mount sysfs on /c/rootfs/sys type=sysfs flags=rdonly,nosuid,nodev,noexec".into(),
            "mkdir /c/rootfs/sys/fs/cgroup 755".into(),
            "mount cgroup2 on /c/rootfs/sys/fs/cgroup type=cgroup2 flags=rdonly,nosuid,nodev,noexec,relatime".into(),
            "mkdir /c/rootfs/etc 755".into(),
            "create /c/rootfs/etc/hosts 644".into(),
            "mount /c/hosts on /c/rootfs/etc/hosts type=none flags=bind".into(),
            "mkdir /c/rootfs/etc 755".into(),
            "create /c/rootfs/etc/resolv.conf 644".into(),
            "mount /c/resolv.conf on /c/rootfs/etc/resolv.conf type=none flags=bind".into(),
            "chdir /c/rootfs".into(),
            "pivot_root . .".into(),
            "umount . detach".into(),
            "chdir /".into(),
        ];
        assert_eq!(calls, expected);
    }

    #[test]
    fn rootless_plan_binds_devices_and_uses_userxattr() {
        let calls = plan(&spec(true, NetworkMode::Private, 1));
        assert!(calls[2].ends_with(",upperdir=/c/upper,workdir=/c/work,userxattr"), "{}", calls[2]);
        assert!(!calls.iter().any(|c| c.starts_with("mknod")));
        for name in ["null", "zero", "full", "random", "urandom", "tty"] {
            let create = format!("create /c/rootfs/dev/{name} 666");
            let bind = format!("mount /dev/{name} on /c/rootfs/dev/{name} type=none flags=bind");
            let at = calls.iter().position(|c| *c == create).unwrap_or_else(|| panic!("no {create}"));
            assert_eq!(calls[at + 1], bind);
        }
        // A private network namespace owned by berth's user namespace can have its own sysfs.
        assert!(
            calls.contains(&"mount sysfs on /c/rootfs/sys type=sysfs flags=rdonly,nosuid,nodev,noexec".to_string())
        );
    }

    #[test]
    fn rootless_host_network_binds_the_hosts_sys_read_only() {
        let calls = plan(&spec(true, NetworkMode::Host, 1));
        let bind = calls.iter().position(|c| c == "mount /sys on /c/rootfs/sys type=none flags=bind,rec").unwrap();
        assert_eq!(calls[bind + 1], "readonly recursive /c/rootfs/sys");
        assert!(!calls.iter().any(|c| c.contains("type=sysfs")));
        // Root mounts a fresh sysfs even with the host's network.
        assert!(plan(&spec(false, NetworkMode::Host, 1)).iter().any(|c| c.contains("type=sysfs")));
    }

    #[test]
    fn cgroup2_is_mounted_only_on_v2_hosts() {
        let sys = RecordingSyscall::new().on_cgroup_v1();
        prepare_rootfs(&spec(false, NetworkMode::Private, 1), &sys).unwrap();
        assert!(!sys.calls().iter().any(|c| c.contains("cgroup")));
        assert!(plan(&spec(false, NetworkMode::Private, 1)).iter().any(|c| c.contains("type=cgroup2")));
    }

    #[test]
    fn devpts_falls_back_without_gid_when_it_is_unmapped() {
        let sys = RecordingSyscall::new().failing("gid=5", Errno::EINVAL);
        prepare_rootfs(&spec(true, NetworkMode::Private, 1), &sys).unwrap();
        let calls = sys.calls();
        let failed = calls.iter().position(|c| c.ends_with("gid=5 = EINVAL")).unwrap();
        assert_eq!(
            calls[failed + 1],
            "mount devpts on /c/rootfs/dev/pts type=devpts flags=nosuid,noexec data=newinstance,ptmxmode=0666,mode=0620"
        );
        // Other errors are not papered over.
        let sys = RecordingSyscall::new().failing("type=devpts", Errno::EPERM);
        let err = prepare_rootfs(&spec(true, NetworkMode::Private, 1), &sys).unwrap_err();
        assert_eq!(err.to_string(), "mounting devpts on /c/rootfs/dev/pts: operation not permitted");
        assert_eq!(err.exit_code(), 125);
    }

    #[test]
    fn long_layer_lists_are_mounted_layer_by_layer() {
        let forty = plan(&spec(false, NetworkMode::Private, 40));
        assert!(forty[2].starts_with("mount overlay on /c/rootfs type=overlay"));
        let calls = plan(&spec(true, NetworkMode::Private, 100));
        assert_eq!(calls[2], "overlay per layer on /c/rootfs lower=100 upper=/c/upper work=/c/work userxattr=true");
        assert!(!calls.iter().any(|c| c.contains("lowerdir=")));
        // The threshold is the option string's length, not a layer count.
        let lower: Vec<PathBuf> = (0..60).map(layer).collect();
        assert!(overlay_options(&lower, Path::new("/u"), Path::new("/w"), false).len() > MOUNT_DATA_MAX);
    }

    #[test]
    fn images_without_layers_get_an_empty_lower_dir() {
        let calls = plan(&spec(false, NetworkMode::Private, 0));
        assert_eq!(calls[1], "mkdir /c/lower-empty 755");
        assert!(calls[3].contains("data=lowerdir=/c/lower-empty,upperdir=/c/upper"), "{}", calls[3]);
    }

    #[test]
    fn a_tty_gets_a_console() {
        let mut tty = spec(false, NetworkMode::Private, 1);
        tty.process.tty = true;
        let calls = plan(&tty);
        let at = calls.iter().position(|c| c == "create /c/rootfs/dev/console 620").unwrap();
        assert_eq!(calls[at + 1], "mount /dev/pts/7 on /c/rootfs/dev/console type=none flags=bind");
        assert!(!plan(&spec(false, NetworkMode::Private, 1)).iter().any(|c| c.contains("console")));
    }

    #[test]
    fn pivot_root_falls_back_to_move_and_chroot() {
        let sys = RecordingSyscall::new().failing("pivot_root", Errno::EINVAL);
        prepare_rootfs(&spec(false, NetworkMode::Private, 1), &sys).unwrap();
        let calls = sys.calls();
        assert_eq!(
            calls[calls.len() - 4..],
            ["pivot_root . . = EINVAL", "mount . on / type=none flags=move", "chroot .", "chdir /"]
        );
    }

    #[test]
    fn overlay_paths_escape_separators() {
        let options = overlay_options(
            &[PathBuf::from("/a:b"), PathBuf::from("/c,d")],
            Path::new("/u\\x"),
            Path::new("/w"),
            false,
        );
        assert_eq!(options, r"lowerdir=/a\:b:/c\,d,upperdir=/u\\x,workdir=/w");
    }

    #[test]
    fn etc_files_stay_inside_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/../../../outside/hosts", root.join("etc/hosts")).unwrap();
        let sys = RecordingSyscall::new().resolving_for_real();
        let files = [(PathBuf::from("/c/hosts"), "/etc/hosts".to_string())];
        bind_etc_files(root, &files, &sys).unwrap();
        let r = root.display();
        assert_eq!(
            sys.calls(),
            [
                format!("mkdir {r}/outside 755"),
                format!("create {r}/outside/hosts 644"),
                format!("mount /c/hosts on {r}/outside/hosts type=none flags=bind"),
            ]
        );
    }
}
