//! The container's filesystem, built by its first process once its namespaces exist: the
//! overlay root, /proc, /dev (with any added devices), /sys, the bind-mounted /etc files,
//! Docker's masked and read-only /proc and /sys paths (unless privileged), then pivot_root.
//!
//! Every mount target inside the rootfs is resolved with [`Syscall::resolve_in_root`], so
//! symlinks an image ships (say /dev → /../../host) stay inside the rootfs.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use super::cgroup::V1HostEntry;
use super::process::{SandboxError, Step};
use super::spec::{NetworkNamespace, SandboxMount, SandboxMountKind, SandboxSpec, ShmMount};
use super::syscall::Syscall;

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

/// Docker's masked paths: a file gets /dev/null bound over it, a directory an empty read-only
/// tmpfs, so the container cannot read (kcore, keys, timer lists) or reach (firmware, power
/// capping, sound and SCSI control) what they show of the host.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths: the host-wide knobs under /proc (sysctls, sysrq, IRQ affinity).
pub const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

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
    mount_dev(root, spec, sys)?;
    mount_sys(root, spec, sys)?;
    bind_etc_files(root, &spec.etc_files, sys)?;
    mount_user_mounts(root, &spec.mounts, sys)?;
    if !spec.privileged {
        // While the host's /dev/null is still reachable.
        mask_paths(root, sys)?;
        make_paths_readonly(root, sys)?;
    }
    if spec.read_only_rootfs {
        remount_root_read_only(root, sys)?;
    }
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

/// The mount(2) option string for a read-only overlay of `lower` (top-most first; at least two,
/// as overlayfs wants without an upper dir).
pub fn read_only_overlay_options(lower: &[PathBuf], userxattr: bool) -> String {
    let lower: Vec<String> = lower.iter().map(|p| escape_overlay_path(p)).collect();
    let mut options = format!("lowerdir={}", lower.join(":"));
    if userxattr {
        options.push_str(",userxattr");
    }
    options
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

/// Mounts the container's overlay (its layers and upper dir) on `spec.rootfs`.
pub fn mount_overlay(spec: &SandboxSpec, sys: &dyn Syscall) -> Result<(), SandboxError> {
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

/// Whether the container gets the node at `path` (e.g. "/dev/null") whatever it asks for.
pub fn is_default_device(path: &str) -> bool {
    let name = path.strip_prefix("/dev/").unwrap_or("");
    DEVICES.iter().any(|(n, _, _)| *n == name) || matches!(name, "console" | "ptmx")
}

fn mount_dev(root: &Path, spec: &SandboxSpec, sys: &dyn Syscall) -> Result<(), SandboxError> {
    let (rootless, tty) = (spec.rootless, spec.process.tty);
    let dev = dir_in_root(root, "/dev", sys)?;
    mount_fs(sys, "tmpfs", &dev, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME, Some("mode=755,size=65536k"))?;
    // /dev is a fresh, empty tmpfs from here on: plain joins cannot meet an image's symlinks.
    for (name, major, minor) in DEVICES {
        let node = dev.join(name);
        if spec.devices.iter().any(|d| d.path.strip_prefix("/dev/") == Some(name)) {
            // `--device /dev/x:/dev/null` replaces the default node.
            continue;
        }
        if rootless {
            // No mknod in a user namespace: the host's nodes, bind-mounted, work the same.
            sys.create_file(&node, 0o666).step(|| format!("creating /dev/{name}"))?;
            sys.bind_mount(&Path::new("/dev").join(name), &node, false)
                .step(|| format!("bind-mounting /dev/{name}"))?;
        } else {
            sys.mknod_char(&node, 0o666, major, minor).step(|| format!("creating /dev/{name}"))?;
        }
    }
    create_devices(root, spec, sys)?;
    mount_devpts(&dev, sys)?;
    for (name, target) in DEV_SYMLINKS {
        sys.symlink(Path::new(target), &dev.join(name)).step(|| format!("creating /dev/{name}"))?;
    }
    let shm = dev.join("shm");
    match spec.tuning.shm {
        ShmMount::Tmpfs => {
            sys.mkdir_all(&shm, 0o755).step(|| "creating /dev/shm".into())?;
            let shm_options = format!("mode=1777,size={}k", spec.tuning.shm_size.div_ceil(1024));
            mount_fs(sys, "tmpfs", &shm, nosuid_nodev_noexec(), Some(&shm_options))?;
        }
        ShmMount::Host => {
            sys.mkdir_all(&shm, 0o755).step(|| "creating /dev/shm".into())?;
            sys.bind_mount(Path::new("/dev/shm"), &shm, true).step(|| "binding the host's /dev/shm".into())?;
        }
        ShmMount::None => {}
    }
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

/// The nodes of `spec.devices`: made with mknod by root for character devices, else (block
/// devices, rootless) the host's node bind-mounted, which works the same.
fn create_devices(root: &Path, spec: &SandboxSpec, sys: &dyn Syscall) -> Result<(), SandboxError> {
    for device in &spec.devices {
        let path = &device.path;
        let node = sys.resolve_in_root(root, Path::new(path)).step(|| format!("resolving {path} in the rootfs"))?;
        if let Some(parent) = node.parent() {
            sys.mkdir_all(parent, 0o755).step(|| format!("creating the directory of {path}"))?;
        }
        if spec.rootless || device.block {
            sys.create_file(&node, device.mode).step(|| format!("creating {path}"))?;
            sys.bind_mount(&device.host_path, &node, false)
                .step(|| format!("bind-mounting {} on {path}", device.host_path.display()))?;
        } else {
            sys.mknod_char(&node, device.mode, device.major, device.minor).step(|| format!("creating {path}"))?;
        }
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

fn mount_sys(root: &Path, spec: &SandboxSpec, sys: &dyn Syscall) -> Result<(), SandboxError> {
    let target = dir_in_root(root, "/sys", sys)?;
    // Read-only unless privileged, as Docker has it.
    let rdonly = if spec.privileged { MsFlags::empty() } else { MsFlags::MS_RDONLY };
    if spec.rootless && spec.network == NetworkNamespace::Host {
        // sysfs can only be mounted by the owner of the network namespace, and the host's
        // belongs to the host: show the host's /sys.
        sys.bind_mount(Path::new("/sys"), &target, true).step(|| "bind-mounting /sys".into())?;
        if !spec.privileged {
            sys.make_readonly_recursive(&target).step(|| "making /sys read-only".into())?;
        }
    } else {
        mount_fs(sys, "sysfs", &target, nosuid_nodev_noexec() | rdonly, None)?;
    }
    if !sys.host_cgroup_is_v2() {
        return mount_cgroup_v1(root, rdonly, sys);
    }
    // The container's own cgroup (its cgroup namespace's root), read-only as Docker has it.
    let cgroup = dir_in_root(root, "/sys/fs/cgroup", sys)?;
    mount_fs(sys, "cgroup2", &cgroup, nosuid_nodev_noexec() | MsFlags::MS_RELATIME | rdonly, None)
}

/// Docker's /sys/fs/cgroup on a v1 host: a tmpfs holding each of the host's v1 hierarchies,
/// mounted again inside the container's cgroup namespace, so each shows the container's own
/// cgroup as its root (limits readable at /sys/fs/cgroup/memory/memory.limit_in_bytes), plus
/// the host's aliases (cpu → cpu,cpuacct). The hybrid host's cgroup2 `unified` mount holds no
/// container cgroup and is left out.
fn mount_cgroup_v1(root: &Path, rdonly: MsFlags, sys: &dyn Syscall) -> Result<(), SandboxError> {
    let entries = sys.host_cgroup_v1_entries();
    if entries.is_empty() {
        return Ok(());
    }
    let dir = dir_in_root(root, "/sys/fs/cgroup", sys)?;
    mount_fs(sys, "tmpfs", &dir, nosuid_nodev_noexec(), Some("mode=755"))?;
    // The tmpfs is berth's own and empty: names (one plain component each) need no resolving.
    for entry in &entries {
        match entry {
            V1HostEntry::Hierarchy { name, options } => {
                let target = dir.join(name);
                sys.mkdir_all(&target, 0o555).step(|| format!("creating /sys/fs/cgroup/{name}"))?;
                let flags = nosuid_nodev_noexec() | MsFlags::MS_RELATIME | rdonly;
                sys.mount(Some(Path::new("cgroup")), &target, Some("cgroup"), flags, Some(options))
                    .step(|| format!("mounting the {options} cgroup on /sys/fs/cgroup/{name}"))?;
            }
            V1HostEntry::Link { name, target } => {
                sys.symlink(target, &dir.join(name)).step(|| format!("creating /sys/fs/cgroup/{name}"))?;
            }
        }
    }
    if rdonly.is_empty() {
        return Ok(());
    }
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | nosuid_nodev_noexec();
    sys.mount(None, &dir, None, flags, Some("mode=755")).step(|| "making /sys/fs/cgroup read-only".into())
}

/// /proc and /sys are fresh mounts of berth's: their paths hold no symlinks of the image.
fn in_root(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// runc's way: /dev/null bound over the path; a directory refuses that (ENOTDIR) and gets an
/// empty read-only tmpfs instead; what this kernel lacks is skipped.
fn mask_paths(root: &Path, sys: &dyn Syscall) -> Result<(), SandboxError> {
    for path in MASKED_PATHS {
        let target = in_root(root, path);
        match sys.bind_mount(Path::new("/dev/null"), &target, false) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(Errno::ENOTDIR) => {
                let flags = MsFlags::MS_RDONLY | nosuid_nodev_noexec();
                sys.mount(Some(Path::new("tmpfs")), &target, Some("tmpfs"), flags, None)
                    .step(|| format!("masking {path}"))?;
            }
            Err(errno) => return Err(SandboxError::Sys { what: format!("masking {path}"), errno }),
        }
    }
    Ok(())
}

/// Each path bound onto itself, then made read-only (keeping its other flags, which in a user
/// namespace are locked); what this kernel lacks is skipped.
fn make_paths_readonly(root: &Path, sys: &dyn Syscall) -> Result<(), SandboxError> {
    for path in READONLY_PATHS {
        let target = in_root(root, path);
        match sys.bind_mount(&target, &target, true) {
            Ok(()) => sys.make_readonly_recursive(&target).step(|| format!("making {path} read-only"))?,
            Err(Errno::ENOENT) => {}
            Err(errno) => return Err(SandboxError::Sys { what: format!("making {path} read-only"), errno }),
        }
    }
    Ok(())
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

/// The binds, volumes and tmpfs mounts the user asked for, in order. Each destination is resolved
/// inside the rootfs (a symlink in the image pointing at / or ../.. stays inside it) and created
/// when missing — a directory for a directory or tmpfs, an empty file for a file — and the mount
/// is made through [`Syscall::mount_in_root`], so it lands inside the rootfs even if the path
/// changes meanwhile.
pub fn mount_user_mounts(root: &Path, mounts: &[SandboxMount], sys: &dyn Syscall) -> Result<(), SandboxError> {
    for mount in mounts {
        let dest = mount.destination.as_str();
        let target = sys.resolve_in_root(root, Path::new(dest)).step(|| format!("resolving {dest} in the rootfs"))?;
        match &mount.kind {
            SandboxMountKind::Bind { copy_up, propagation } => {
                let source = mount.source.as_path();
                let is_dir = sys.is_dir(source).step(|| format!("reading the mount source {}", source.display()))?;
                if is_dir {
                    if *copy_up {
                        sys.copy_up(&target, source)
                            .step(|| format!("copying the image's {dest} into {}", source.display()))?;
                    }
                    sys.mkdir_all(&target, 0o755).step(|| format!("creating the mount point {dest}"))?;
                } else {
                    if let Some(parent) = target.parent() {
                        sys.mkdir_all(parent, 0o755).step(|| format!("creating the directory of {dest}"))?;
                    }
                    sys.create_file(&target, 0o644).step(|| format!("creating the mount point {dest}"))?;
                }
                let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
                sys.mount_in_root(root, Some(source), &target, None, flags, None)
                    .step(|| format!("bind-mounting {} on {dest}", source.display()))?;
                if mount.read_only {
                    make_read_only(&target, sys).step(|| format!("making {dest} read-only"))?;
                }
                if let Some(flag) = propagation_flag(propagation) {
                    sys.mount(None, &target, None, flag, None)
                        .step(|| format!("setting {propagation} propagation on {dest}"))?;
                }
            }
            SandboxMountKind::Tmpfs { options } => {
                sys.mkdir_all(&target, 0o755).step(|| format!("creating the mount point {dest}"))?;
                let (flags, data) = tmpfs_flags_and_data(options, mount.read_only);
                let data = (!data.is_empty()).then_some(data.as_str());
                sys.mount_in_root(root, Some(Path::new("tmpfs")), &target, Some("tmpfs"), flags, data)
                    .step(|| format!("mounting a tmpfs on {dest}"))?;
            }
        }
    }
    Ok(())
}

/// Read-only, recursively, keeping the mount's other (possibly locked) flags; a bind remount
/// where mount_setattr is missing (before Linux 5.12).
fn make_read_only(target: &Path, sys: &dyn Syscall) -> Result<(), Errno> {
    match sys.make_readonly_recursive(target) {
        Err(Errno::ENOSYS) => {
            sys.mount(None, target, None, MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY, None)
        }
        other => other,
    }
}

/// The propagation flag to set after a bind, None for the default (private, like the rest of
/// the container's mounts).
fn propagation_flag(propagation: &str) -> Option<MsFlags> {
    match propagation {
        "shared" => Some(MsFlags::MS_SHARED),
        "rshared" => Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
        "slave" => Some(MsFlags::MS_SLAVE),
        "rslave" => Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        _ => None,
    }
}

/// Docker's `--tmpfs` options split into mount flags and tmpfs data: nosuid, nodev and noexec
/// unless `suid`, `dev` or `exec` say otherwise; `ro` (or a read-only mount) adds MS_RDONLY.
pub fn tmpfs_flags_and_data(options: &str, read_only: bool) -> (MsFlags, String) {
    let mut flags = nosuid_nodev_noexec();
    let mut data = Vec::new();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags.remove(MsFlags::MS_RDONLY),
            "exec" => flags.remove(MsFlags::MS_NOEXEC),
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "suid" => flags.remove(MsFlags::MS_NOSUID),
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "dev" => flags.remove(MsFlags::MS_NODEV),
            "nodev" => flags |= MsFlags::MS_NODEV,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => flags |= MsFlags::MS_DIRSYNC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "mand" => flags |= MsFlags::MS_MANDLOCK,
            // Defaults of mount(8), or no-ops for a new mount.
            "async" | "atime" | "diratime" | "norelatime" | "nostrictatime" | "nomand" | "remount" => {}
            data_option => data.push(data_option),
        }
    }
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    (flags, data.join(","))
}

/// `--read-only`: the overlay root becomes read-only, on its own (a bind remount changes only
/// that mount): /proc, /dev, /sys, the /etc files and the user's mounts keep their own modes.
fn remount_root_read_only(root: &Path, sys: &dyn Syscall) -> Result<(), SandboxError> {
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    sys.mount(None, root, None, flags, None).step(|| "making the root filesystem read-only".into())
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

    fn spec(rootless: bool, network: NetworkNamespace, layers: usize) -> SandboxSpec {
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

    fn plan(spec: &SandboxSpec) -> Vec<String> {
        let sys = RecordingSyscall::new();
        prepare_rootfs(spec, &sys).unwrap();
        sys.calls()
    }

    #[test]
    fn root_plan_mounts_everything_and_pivots() {
        let calls = plan(&spec(false, NetworkNamespace::New, 2));
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
            "mount /dev/null on /c/rootfs/proc/asound type=none flags=bind".into(),
            "mount /dev/null on /c/rootfs/proc/acpi type=none flags=bind".into(),
            "mount /dev/null on /c/rootfs/proc/kcore type=none flags=bind".into(),
            "mount /dev/null on /c/rootfs/proc/keys type=none flags=bind".into(),
            "mount /dev/null on /c/rootfs/proc/latency_stats type=none flags=bind".into(),
            "mount /dev/null on /c/rootfs/proc/timer_list type=none flags=bind".into(),
            "mount /dev/null on /c/rootfs/proc/timer_stats type=none flags=bind".into(),
            "mount /dev/null on /c/rootfs/proc/sched_debug type=none flags=bind".into(),
            "mount /dev/null on /c/rootfs/proc/scsi type=none flags=bind".into(),
            "mount /dev/null on /c/rootfs/sys/firmware type=none flags=bind".into(),
            "mount /dev/null on /c/rootfs/sys/devices/virtual/powercap type=none flags=bind".into(),
            "mount /c/rootfs/proc/bus on /c/rootfs/proc/bus type=none flags=bind,rec".into(),
            "readonly recursive /c/rootfs/proc/bus".into(),
            "mount /c/rootfs/proc/fs on /c/rootfs/proc/fs type=none flags=bind,rec".into(),
            "readonly recursive /c/rootfs/proc/fs".into(),
            "mount /c/rootfs/proc/irq on /c/rootfs/proc/irq type=none flags=bind,rec".into(),
            "readonly recursive /c/rootfs/proc/irq".into(),
            "mount /c/rootfs/proc/sys on /c/rootfs/proc/sys type=none flags=bind,rec".into(),
            "readonly recursive /c/rootfs/proc/sys".into(),
            "mount /c/rootfs/proc/sysrq-trigger on /c/rootfs/proc/sysrq-trigger type=none flags=bind,rec".into(),
            "readonly recursive /c/rootfs/proc/sysrq-trigger".into(),
            "chdir /c/rootfs".into(),
            "pivot_root . .".into(),
            "umount . detach".into(),
            "chdir /".into(),
        ];
        assert_eq!(calls, expected);
    }

    #[test]
    fn masked_directories_get_a_read_only_tmpfs_and_missing_paths_are_skipped() {
        let sys = RecordingSyscall::new()
            .failing("on /c/rootfs/proc/acpi type=none", Errno::ENOTDIR)
            .failing("on /c/rootfs/sys/firmware type=none", Errno::ENOTDIR)
            .failing("on /c/rootfs/proc/timer_stats type=none", Errno::ENOENT)
            .failing("on /c/rootfs/proc/bus type=none", Errno::ENOENT);
        prepare_rootfs(&spec(false, NetworkNamespace::New, 1), &sys).unwrap();
        let calls = sys.calls();
        let at = |call: &str| calls.iter().position(|c| c == call).unwrap_or_else(|| panic!("no {call}"));
        let acpi = at("mount /dev/null on /c/rootfs/proc/acpi type=none flags=bind = ENOTDIR");
        assert_eq!(calls[acpi + 1], "mount tmpfs on /c/rootfs/proc/acpi type=tmpfs flags=rdonly,nosuid,nodev,noexec");
        let firmware = at("mount /dev/null on /c/rootfs/sys/firmware type=none flags=bind = ENOTDIR");
        assert_eq!(
            calls[firmware + 1],
            "mount tmpfs on /c/rootfs/sys/firmware type=tmpfs flags=rdonly,nosuid,nodev,noexec"
        );
        let timer = at("mount /dev/null on /c/rootfs/proc/timer_stats type=none flags=bind = ENOENT");
        assert_eq!(calls[timer + 1], "mount /dev/null on /c/rootfs/proc/sched_debug type=none flags=bind");
        assert!(!calls.contains(&"readonly recursive /c/rootfs/proc/bus".to_string()));
        assert!(calls.contains(&"readonly recursive /c/rootfs/proc/sys".to_string()));
        // Masking comes after /proc and /sys are mounted and before the pivot.
        assert!(at("mount proc on /c/rootfs/proc type=proc flags=nosuid,nodev,noexec") < acpi);
        assert!(at("readonly recursive /c/rootfs/proc/sys") < at("pivot_root . ."));
        // Other failures stop the container.
        let sys = RecordingSyscall::new().failing("on /c/rootfs/proc/kcore", Errno::EPERM);
        let err = prepare_rootfs(&spec(false, NetworkNamespace::New, 1), &sys).unwrap_err();
        assert_eq!(err.to_string(), "masking /proc/kcore: operation not permitted");
    }

    #[test]
    fn privileged_containers_keep_proc_and_sys_open() {
        let mut privileged = spec(false, NetworkNamespace::New, 1);
        privileged.privileged = true;
        let calls = plan(&privileged);
        assert!(!calls.iter().any(|c| c.contains("/dev/null on") || c.starts_with("readonly")), "{calls:#?}");
        assert!(calls.contains(&"mount sysfs on /c/rootfs/sys type=sysfs flags=nosuid,nodev,noexec".to_string()));
        assert!(calls.iter().any(|c| c.starts_with("mount cgroup2") && !c.contains("rdonly")));
        // Rootless with the host's network: the host's /sys, writable.
        let mut rootless = spec(true, NetworkNamespace::Host, 1);
        rootless.privileged = true;
        let calls = plan(&rootless);
        assert!(calls.contains(&"mount /sys on /c/rootfs/sys type=none flags=bind,rec".to_string()));
        assert!(!calls.iter().any(|c| c.starts_with("readonly")));
    }

    fn device(host: &str, path: &str, block: bool, major: u64, minor: u64) -> crate::sandbox::spec::Device {
        crate::sandbox::spec::Device {
            host_path: host.into(),
            path: path.into(),
            block,
            major,
            minor,
            mode: 0o660,
            cgroup_permissions: "rwm".into(),
        }
    }

    #[test]
    fn added_devices_are_made_or_bound() {
        let mut s = spec(false, NetworkNamespace::New, 1);
        s.devices = vec![
            device("/dev/fuse", "/dev/fuse", false, 10, 229),
            device("/dev/sda", "/dev/disks/sda", true, 8, 0),
            device("/dev/zero", "/dev/null", false, 1, 5),
        ];
        let calls = plan(&s);
        let at = |call: &str| calls.iter().position(|c| c == call).unwrap_or_else(|| panic!("no {call}"));
        at("mknod /c/rootfs/dev/fuse 660 c 10:229");
        let disk = at("create /c/rootfs/dev/disks/sda 660");
        assert_eq!(calls[disk - 1], "mkdir /c/rootfs/dev/disks 755");
        assert_eq!(calls[disk + 1], "mount /dev/sda on /c/rootfs/dev/disks/sda type=none flags=bind");
        // The added /dev/null replaces the default one.
        at("mknod /c/rootfs/dev/null 660 c 1:5");
        assert!(!calls.contains(&"mknod /c/rootfs/dev/null 666 c 1:3".to_string()));
        // Made before devpts, so they cannot land on it.
        assert!(at("mknod /c/rootfs/dev/fuse 660 c 10:229") < at("mkdir /c/rootfs/dev/pts 755"));

        let mut rootless = spec(true, NetworkNamespace::New, 1);
        rootless.devices = vec![device("/dev/fuse", "/dev/fuse", false, 10, 229)];
        let calls = plan(&rootless);
        let create = calls.iter().position(|c| c == "create /c/rootfs/dev/fuse 660").unwrap();
        assert_eq!(calls[create + 1], "mount /dev/fuse on /c/rootfs/dev/fuse type=none flags=bind");
        assert!(is_default_device("/dev/null") && is_default_device("/dev/ptmx") && !is_default_device("/dev/fuse"));
    }

    #[test]
    fn rootless_plan_binds_devices_and_uses_userxattr() {
        let calls = plan(&spec(true, NetworkNamespace::New, 1));
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
        let calls = plan(&spec(true, NetworkNamespace::Host, 1));
        let bind = calls.iter().position(|c| c == "mount /sys on /c/rootfs/sys type=none flags=bind,rec").unwrap();
        assert_eq!(calls[bind + 1], "readonly recursive /c/rootfs/sys");
        assert!(!calls.iter().any(|c| c.contains("type=sysfs")));
        // Root mounts a fresh sysfs even with the host's network.
        assert!(plan(&spec(false, NetworkNamespace::Host, 1)).iter().any(|c| c.contains("type=sysfs")));
    }

    #[test]
    fn cgroup2_is_mounted_only_on_v2_hosts() {
        let sys = RecordingSyscall::new().on_cgroup_v1();
        prepare_rootfs(&spec(false, NetworkNamespace::New, 1), &sys).unwrap();
        assert!(!sys.calls().iter().any(|c| c.contains("cgroup2")));
        assert!(plan(&spec(false, NetworkNamespace::New, 1)).iter().any(|c| c.contains("type=cgroup2")));
    }

    fn cgroup_v1_calls(calls: &[String]) -> Vec<String> {
        let start = calls.iter().position(|c| c == "mkdir /c/rootfs/sys/fs/cgroup 755").expect("no /sys/fs/cgroup");
        calls[start..].iter().take_while(|c| !c.contains("/etc")).cloned().collect()
    }

    #[test]
    fn v1_hosts_get_a_read_only_tmpfs_with_each_hierarchy_mounted_again() {
        let sys = RecordingSyscall::new().on_cgroup_v1();
        prepare_rootfs(&spec(false, NetworkNamespace::New, 1), &sys).unwrap();
        let cg = "/c/rootfs/sys/fs/cgroup";
        let mount = |name: &str, options: &str| {
            format!("mount cgroup on {cg}/{name} type=cgroup flags=rdonly,nosuid,nodev,noexec,relatime data={options}")
        };
        assert_eq!(
            cgroup_v1_calls(&sys.calls()),
            [
                format!("mkdir {cg} 755"),
                format!("mount tmpfs on {cg} type=tmpfs flags=nosuid,nodev,noexec data=mode=755"),
                format!("mkdir {cg}/cpu,cpuacct 555"),
                mount("cpu,cpuacct", "cpu,cpuacct"),
                format!("mkdir {cg}/memory 555"),
                mount("memory", "memory"),
                format!("mkdir {cg}/systemd 555"),
                mount("systemd", "name=systemd"),
                format!("symlink {cg}/cpu -> cpu,cpuacct"),
                format!("mount none on {cg} type=none flags=rdonly,nosuid,nodev,noexec,remount data=mode=755"),
            ]
        );
    }

    #[test]
    fn privileged_v1_containers_get_writable_hierarchies() {
        let sys = RecordingSyscall::new().on_cgroup_v1();
        let mut s = spec(false, NetworkNamespace::New, 1);
        s.privileged = true;
        prepare_rootfs(&s, &sys).unwrap();
        let calls = cgroup_v1_calls(&sys.calls());
        assert!(
            calls.iter().any(|c| c.contains("type=cgroup flags=nosuid,nodev,noexec,relatime data=memory")),
            "{calls:?}"
        );
        assert!(!calls.iter().any(|c| c.contains("remount")), "{calls:?}");
    }

    #[test]
    fn devpts_falls_back_without_gid_when_it_is_unmapped() {
        let sys = RecordingSyscall::new().failing("gid=5", Errno::EINVAL);
        prepare_rootfs(&spec(true, NetworkNamespace::New, 1), &sys).unwrap();
        let calls = sys.calls();
        let failed = calls.iter().position(|c| c.ends_with("gid=5 = EINVAL")).unwrap();
        assert_eq!(
            calls[failed + 1],
            "mount devpts on /c/rootfs/dev/pts type=devpts flags=nosuid,noexec data=newinstance,ptmxmode=0666,mode=0620"
        );
        // Other errors are not papered over.
        let sys = RecordingSyscall::new().failing("type=devpts", Errno::EPERM);
        let err = prepare_rootfs(&spec(true, NetworkNamespace::New, 1), &sys).unwrap_err();
        assert_eq!(err.to_string(), "mounting devpts on /c/rootfs/dev/pts: operation not permitted");
        assert_eq!(err.exit_code(), 125);
    }

    #[test]
    fn long_layer_lists_are_mounted_layer_by_layer() {
        let forty = plan(&spec(false, NetworkNamespace::New, 40));
        assert!(forty[2].starts_with("mount overlay on /c/rootfs type=overlay"));
        let calls = plan(&spec(true, NetworkNamespace::New, 100));
        assert_eq!(calls[2], "overlay per layer on /c/rootfs lower=100 upper=/c/upper work=/c/work userxattr=true");
        assert!(!calls.iter().any(|c| c.contains("lowerdir=")));
        // The threshold is the option string's length, not a layer count.
        let lower: Vec<PathBuf> = (0..60).map(layer).collect();
        assert!(overlay_options(&lower, Path::new("/u"), Path::new("/w"), false).len() > MOUNT_DATA_MAX);
    }

    #[test]
    fn images_without_layers_get_an_empty_lower_dir() {
        let calls = plan(&spec(false, NetworkNamespace::New, 0));
        assert_eq!(calls[1], "mkdir /c/lower-empty 755");
        assert!(calls[3].contains("data=lowerdir=/c/lower-empty,upperdir=/c/upper"), "{}", calls[3]);
    }

    #[test]
    fn a_tty_gets_a_console() {
        let mut tty = spec(false, NetworkNamespace::New, 1);
        tty.process.tty = true;
        let calls = plan(&tty);
        let at = calls.iter().position(|c| c == "create /c/rootfs/dev/console 620").unwrap();
        assert_eq!(calls[at + 1], "mount /dev/pts/7 on /c/rootfs/dev/console type=none flags=bind");
        assert!(!plan(&spec(false, NetworkNamespace::New, 1)).iter().any(|c| c.contains("console")));
    }

    #[test]
    fn pivot_root_falls_back_to_move_and_chroot() {
        let sys = RecordingSyscall::new().failing("pivot_root", Errno::EINVAL);
        prepare_rootfs(&spec(false, NetworkNamespace::New, 1), &sys).unwrap();
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

    fn user_mounts() -> Vec<SandboxMount> {
        vec![
            SandboxMount {
                source: "/v/data/_data".into(),
                destination: "/data".into(),
                kind: SandboxMountKind::Bind { copy_up: true, propagation: String::new() },
                read_only: false,
            },
            SandboxMount {
                source: "/host/conf.toml".into(),
                destination: "/etc/app/conf.toml".into(),
                kind: SandboxMountKind::Bind { copy_up: false, propagation: "rslave".into() },
                read_only: true,
            },
            SandboxMount {
                source: PathBuf::new(),
                destination: "/data/tmp".into(),
                kind: SandboxMountKind::Tmpfs { options: "size=64m,exec,mode=1777".into() },
                read_only: false,
            },
        ]
    }

    #[test]
    fn user_mounts_come_after_the_etc_files_and_before_the_read_only_root() {
        let mut s = spec(false, NetworkNamespace::New, 1);
        s.mounts = user_mounts();
        s.read_only_rootfs = true;
        let sys = RecordingSyscall::new().with_files(&["/host/conf.toml"]);
        prepare_rootfs(&s, &sys).unwrap();
        let calls = sys.calls();
        let first = calls.iter().position(|c| c == "copy-up /c/rootfs/data -> /v/data/_data").expect("copy-up");
        assert!(calls[..first].iter().any(|c| c.contains("/c/rootfs/etc/resolv.conf type=none flags=bind")));
        assert_eq!(
            calls[first..first + 10],
            [
                "copy-up /c/rootfs/data -> /v/data/_data",
                "mkdir /c/rootfs/data 755",
                "mount /v/data/_data on /c/rootfs/data type=none flags=bind,rec",
                "mkdir /c/rootfs/etc/app 755",
                "create /c/rootfs/etc/app/conf.toml 644",
                "mount /host/conf.toml on /c/rootfs/etc/app/conf.toml type=none flags=bind,rec",
                "readonly recursive /c/rootfs/etc/app/conf.toml",
                "mount none on /c/rootfs/etc/app/conf.toml type=none flags=rec,slave",
                "mkdir /c/rootfs/data/tmp 755",
                "mount tmpfs on /c/rootfs/data/tmp type=tmpfs flags=nosuid,nodev data=size=64m,mode=1777",
            ]
        );
        // The root goes read-only last, right before pivot_root; without --read-only, never.
        assert_eq!(calls[calls.len() - 5], "mount none on /c/rootfs type=none flags=rdonly,remount,bind");
        assert_eq!(calls[calls.len() - 3], "pivot_root . .");
        s.read_only_rootfs = false;
        assert!(!plan(&s).iter().any(|c| c.contains("remount")));
    }

    #[test]
    fn read_only_binds_fall_back_to_a_remount_without_mount_setattr() {
        let mut s = spec(false, NetworkNamespace::New, 1);
        s.mounts = vec![user_mounts().remove(1)];
        let sys = RecordingSyscall::new()
            .with_files(&["/host/conf.toml"])
            .failing("readonly recursive /c/rootfs/etc/app", Errno::ENOSYS);
        prepare_rootfs(&s, &sys).unwrap();
        let calls = sys.calls();
        let at = calls.iter().position(|c| c.ends_with("= ENOSYS")).unwrap();
        assert_eq!(calls[at + 1], "mount none on /c/rootfs/etc/app/conf.toml type=none flags=rdonly,remount,bind");
    }

    #[test]
    fn tmpfs_options_split_into_flags_and_data() {
        let (flags, data) = tmpfs_flags_and_data("size=1m,ro,suid,dev,uid=5", false);
        assert_eq!(flags, MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC);
        assert_eq!(data, "size=1m,uid=5");
        let (flags, data) = tmpfs_flags_and_data("", true);
        assert_eq!(flags, nosuid_nodev_noexec() | MsFlags::MS_RDONLY);
        assert_eq!(data, "");
    }

    #[test]
    fn mount_destinations_behind_symlinks_stay_inside_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("srv")).unwrap();
        std::os::unix::fs::symlink("/", root.join("slash")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.join("srv/up")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etclink")).unwrap();
        let bind = |dest: &str| SandboxMount {
            source: "/host/dir".into(),
            destination: dest.into(),
            kind: SandboxMountKind::Bind { copy_up: false, propagation: String::new() },
            read_only: false,
        };
        let mounts = [bind("/slash/hostdir"), bind("/srv/up/tmp/x"), bind("/etclink/passwd.d")];
        let sys = RecordingSyscall::new().resolving_for_real();
        mount_user_mounts(root, &mounts, &sys).unwrap();
        let r = root.display();
        assert_eq!(
            sys.calls(),
            [
                format!("mkdir {r}/hostdir 755"),
                format!("mount /host/dir on {r}/hostdir type=none flags=bind,rec"),
                format!("mkdir {r}/tmp/x 755"),
                format!("mount /host/dir on {r}/tmp/x type=none flags=bind,rec"),
                format!("mkdir {r}/etc/passwd.d 755"),
                format!("mount /host/dir on {r}/etc/passwd.d type=none flags=bind,rec"),
            ]
        );
    }

    #[test]
    fn mounting_in_the_root_refuses_targets_outside_it_and_final_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink("/", root.join("link")).unwrap();
        let sys = crate::sandbox::syscall::LinuxSyscall;
        // A target that is not below the root at all.
        assert_eq!(sys.mount_in_root(&root, None, dir.path(), None, MsFlags::MS_BIND, None), Err(Errno::EXDEV));
        // A symlink where the plan expected a directory: never mounted over, never followed.
        assert_eq!(sys.mount_in_root(&root, None, &root.join("link"), None, MsFlags::MS_BIND, None), Err(Errno::ELOOP));
    }
}
