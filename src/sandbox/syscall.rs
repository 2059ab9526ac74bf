//! The system calls that build a container's mount and UTS/network namespaces, behind a trait so
//! that the plan in mounts.rs can be unit-tested without root: `LinuxSyscall` makes the calls,
//! `RecordingSyscall` writes them down as strings.

#[cfg(test)]
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{CString, OsString};
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;

use super::cgroup::V1HostEntry;

/// The few calls mounts.rs and the container's first process need, each one a single step of
/// the plan (so the recording reads like the plan).
pub trait Syscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno>;
    /// Mounts an overlay with one `lowerdir+` parameter per layer (fsopen/fsconfig, kernel 6.8+),
    /// for layer lists too long for mount(2)'s one-page option string. `lower` is top-most first.
    fn mount_overlay_per_layer(
        &self,
        target: &Path,
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        userxattr: bool,
    ) -> Result<(), Errno>;
    /// Makes the mount at `target` and every mount below it read-only (mount_setattr), keeping
    /// their other flags, which inside a user namespace may be locked.
    fn make_readonly_recursive(&self, target: &Path) -> Result<(), Errno>;
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno>;
    fn chroot(&self, path: &Path) -> Result<(), Errno>;
    fn chdir(&self, path: &Path) -> Result<(), Errno>;
    /// Creates `path` and its missing parents with `mode`; fine if it exists as a directory.
    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), Errno>;
    /// A character device with exactly `mode` (permission bits; the umask does not apply).
    fn mknod_char(&self, path: &Path, mode: u32, major: u64, minor: u64) -> Result<(), Errno>;
    fn symlink(&self, target: &Path, link: &Path) -> Result<(), Errno>;
    /// Creates an empty file if nothing is at `path` (a bind-mount target); fine if a file
    /// exists there already.
    fn create_file(&self, path: &Path, mode: u32) -> Result<(), Errno>;
    /// `path` as seen from inside `root`, symlinks resolved as if `root` were `/`, so the result
    /// never leaves `root` (see [`resolve_in_root`]).
    fn resolve_in_root(&self, root: &Path, path: &Path) -> Result<PathBuf, Errno>;
    fn sethostname(&self, name: &str) -> Result<(), Errno>;
    /// Brings up "lo" in the current network namespace.
    fn set_loopback_up(&self) -> Result<(), Errno>;
    /// Whether the host's /sys/fs/cgroup is a cgroup2 mount (unified hierarchy only).
    fn host_cgroup_is_v2(&self) -> bool;
    /// A cgroup v1 host's hierarchies and aliases under /sys/fs/cgroup (empty on v2).
    fn host_cgroup_v1_entries(&self) -> Vec<V1HostEntry>;
    fn read_link(&self, path: &Path) -> Result<PathBuf, Errno>;
    /// Whether `path` (symlinks followed: a bind source as the user named it) is a directory.
    fn is_dir(&self, path: &Path) -> Result<bool, Errno>;
    /// mount(2) onto `target`, a path inside `root` as [`Syscall::resolve_in_root`] gave it.
    /// The target is opened again with openat2(RESOLVE_IN_ROOT) and mounted on through its fd,
    /// so a symlink swapped into the path meanwhile can never send the mount outside `root`.
    fn mount_in_root(
        &self,
        root: &Path,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno>;
    /// Fills the empty directory `volume` with a copy of the directory `image_dir` (inside the
    /// rootfs), owners, modes and times kept, symlinks never followed; does nothing when
    /// `volume` is not empty or `image_dir` is not a directory. Docker's volume copy-up.
    fn copy_up(&self, image_dir: &Path, volume: &Path) -> Result<(), Errno>;

    fn bind_mount(&self, source: &Path, target: &Path, recursive: bool) -> Result<(), Errno> {
        let flags = if recursive { MsFlags::MS_BIND | MsFlags::MS_REC } else { MsFlags::MS_BIND };
        self.mount(Some(source), target, None, flags, None)
    }
}

// Kernel ABI values that libc does not export for x86_64 glibc (include/uapi/linux/mount.h).
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOUNT_ATTR_RDONLY: u64 = 0x1;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// The real thing.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

fn cstring(bytes: &[u8]) -> Result<CString, Errno> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

fn path_cstring(path: &Path) -> Result<CString, Errno> {
    cstring(path.as_os_str().as_bytes())
}

fn io_errno(e: io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// Turns a raw syscall's -1/errno result into a Result.
fn check(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

fn fsconfig(fs: &OwnedFd, cmd: libc::c_uint, key: Option<&CString>, value: Option<&CString>) -> Result<(), Errno> {
    let key = key.map_or(std::ptr::null(), |k| k.as_ptr());
    let value = value.map_or(std::ptr::null(), |v| v.as_ptr());
    // SAFETY: fsconfig reads the NUL-terminated key and value (or ignores the null pointers for
    // commands that take none); the fd is a valid fs context owned by the caller.
    check(unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key, value, 0) }).map(drop)
}

impl Syscall for LinuxSyscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn mount_overlay_per_layer(
        &self,
        target: &Path,
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        userxattr: bool,
    ) -> Result<(), Errno> {
        let fstype = cstring(b"overlay")?;
        // SAFETY: fsopen reads the NUL-terminated name; a non-negative result is a new fd that
        // nothing else owns.
        let fs = unsafe {
            OwnedFd::from_raw_fd(check(libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC))? as i32)
        };
        let lower_key = cstring(b"lowerdir+")?;
        for dir in lower {
            fsconfig(&fs, FSCONFIG_SET_STRING, Some(&lower_key), Some(&path_cstring(dir)?))?;
        }
        fsconfig(&fs, FSCONFIG_SET_STRING, Some(&cstring(b"upperdir")?), Some(&path_cstring(upper)?))?;
        fsconfig(&fs, FSCONFIG_SET_STRING, Some(&cstring(b"workdir")?), Some(&path_cstring(work)?))?;
        if userxattr {
            fsconfig(&fs, FSCONFIG_SET_FLAG, Some(&cstring(b"userxattr")?), None)?;
        }
        fsconfig(&fs, FSCONFIG_CMD_CREATE, None, None)?;
        // SAFETY: fsmount takes the fs context fd and returns a new detached-mount fd that
        // nothing else owns.
        let mnt = unsafe {
            OwnedFd::from_raw_fd(check(libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0))? as i32)
        };
        let empty = cstring(b"")?;
        let target = path_cstring(target)?;
        // SAFETY: move_mount reads the two NUL-terminated paths; both fds are valid.
        check(unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                mnt.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        })
        .map(drop)
    }

    fn make_readonly_recursive(&self, target: &Path) -> Result<(), Errno> {
        let target = path_cstring(target)?;
        let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0 };
        // SAFETY: mount_setattr reads the NUL-terminated path and `size` bytes of `attr`, which
        // is a live, correctly laid out struct mount_attr.
        check(unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                target.as_ptr(),
                libc::AT_RECURSIVE as libc::c_uint,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        })
        .map(drop)
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        nix::mount::umount2(target, flags)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chroot(&self, path: &Path) -> Result<(), Errno> {
        nix::unistd::chroot(path)
    }

    fn chdir(&self, path: &Path) -> Result<(), Errno> {
        nix::unistd::chdir(path)
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), Errno> {
        fs::DirBuilder::new().recursive(true).mode(mode).create(path).map_err(io_errno)
    }

    fn mknod_char(&self, path: &Path, mode: u32, major: u64, minor: u64) -> Result<(), Errno> {
        use nix::sys::stat::{Mode, SFlag, makedev, mknod};
        mknod(path, SFlag::S_IFCHR, Mode::from_bits_truncate(mode), makedev(major, minor))?;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_errno)
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<(), Errno> {
        std::os::unix::fs::symlink(target, link).map_err(io_errno)
    }

    fn create_file(&self, path: &Path, mode: u32) -> Result<(), Errno> {
        match fs::OpenOptions::new().write(true).create_new(true).mode(mode).custom_flags(libc::O_NOFOLLOW).open(path) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let meta = fs::symlink_metadata(path).map_err(io_errno)?;
                if meta.is_dir() { Err(Errno::EISDIR) } else { Ok(()) }
            }
            Err(e) => Err(io_errno(e)),
        }
    }

    fn resolve_in_root(&self, root: &Path, path: &Path) -> Result<PathBuf, Errno> {
        resolve_in_root(root, path).map_err(io_errno)
    }

    fn sethostname(&self, name: &str) -> Result<(), Errno> {
        nix::unistd::sethostname(name)
    }

    fn set_loopback_up(&self) -> Result<(), Errno> {
        // SAFETY: socket() has no memory effects; a non-negative result is a new fd we own.
        let sock = unsafe {
            OwnedFd::from_raw_fd(check(
                libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) as libc::c_long
            )? as i32)
        };
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS fills ifr_ifru.ifru_flags of the ifreq we pass, which lives for
        // the call.
        check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } as libc::c_long)?;
        // SAFETY: the kernel just wrote ifru_flags, the union member SIOCGIFFLAGS uses.
        unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: SIOCSIFFLAGS reads the ifreq we pass, which lives for the call.
        check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } as libc::c_long).map(drop)
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf, Errno> {
        fs::read_link(path).map_err(io_errno)
    }

    fn host_cgroup_is_v2(&self) -> bool {
        nix::sys::statfs::statfs("/sys/fs/cgroup")
            .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    }

    fn host_cgroup_v1_entries(&self) -> Vec<V1HostEntry> {
        super::cgroup::host_v1_entries()
    }

    fn is_dir(&self, path: &Path) -> Result<bool, Errno> {
        fs::metadata(path).map(|m| m.is_dir()).map_err(io_errno)
    }

    fn mount_in_root(
        &self,
        root: &Path,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        let relative = target.strip_prefix(root).map_err(|_| Errno::EXDEV)?;
        let root_fd = nix::fcntl::open(root, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
        let target_fd =
            match super::fs_at::openat2_in_root(root_fd.as_fd(), relative, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
                Ok(fd) => fd,
                // Before Linux 5.6: the path as resolved is all there is.
                Err(Errno::ENOSYS) => return nix::mount::mount(source, target, fstype, flags, data),
                Err(e) => return Err(e),
            };
        // A final component that became a symlink would be mounted over, not followed: refuse.
        if nix::sys::stat::fstat(&target_fd)?.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(Errno::ELOOP);
        }
        let through_fd = PathBuf::from(format!("/proc/self/fd/{}", target_fd.as_raw_fd()));
        nix::mount::mount(source, &through_fd, fstype, flags, data)
    }

    fn copy_up(&self, image_dir: &Path, volume: &Path) -> Result<(), Errno> {
        super::fs_at::copy_up(image_dir, volume).map_err(io_errno)
    }
}

/// Resolves `path` inside `root` the way the kernel's RESOLVE_IN_ROOT does: every symlink is
/// followed with `root` as `/`, and `..` never climbs above `root`. Components that do not exist
/// are appended as they are. The rootfs is not yet in use by anyone while it is prepared, so
/// resolving first and using the result afterwards is not racy.
pub fn resolve_in_root(root: &Path, path: &Path) -> io::Result<PathBuf> {
    const MAX_SYMLINKS: usize = 255;
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_components_front(&mut pending, path);
    let mut resolved = PathBuf::new();
    let mut symlinks = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let full = root.join(&candidate);
        match fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                symlinks += 1;
                if symlinks > MAX_SYMLINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&full)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                push_components_front(&mut pending, &target);
            }
            Ok(_) => resolved = candidate,
            Err(e) if e.kind() == io::ErrorKind::NotFound => resolved = candidate,
            Err(e) => return Err(e),
        }
    }
    Ok(root.join(resolved))
}

/// Puts the normal and `..` components of `path` in front of `pending`, in order.
fn push_components_front(pending: &mut VecDeque<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    for part in parts.into_iter().rev() {
        pending.push_front(part);
    }
}

/// Writes every call down instead of making it; calls whose record contains a configured
/// substring fail with the configured errno (and are recorded with `= ERRNO`).
#[derive(Debug, Default)]
#[cfg(test)]
pub struct RecordingSyscall {
    calls: RefCell<Vec<String>>,
    failures: Vec<(String, Errno)>,
    resolve_for_real: bool,
    cgroup_v1: bool,
    files: Vec<PathBuf>,
}

#[cfg(test)]
impl RecordingSyscall {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call whose record contains `needle` fails with `errno`.
    pub fn failing(mut self, needle: &str, errno: Errno) -> Self {
        self.failures.push((needle.to_owned(), errno));
        self
    }

    /// Resolves paths in the root with the real [`resolve_in_root`] (it only reads), instead of
    /// joining them.
    pub fn resolving_for_real(mut self) -> Self {
        self.resolve_for_real = true;
        self
    }

    /// Makes [`Syscall::is_dir`] say `paths` are files.
    pub fn with_files(mut self, paths: &[&str]) -> Self {
        self.files.extend(paths.iter().map(PathBuf::from));
        self
    }

    /// Pretends the host uses cgroup v1.
    pub fn on_cgroup_v1(mut self) -> Self {
        self.cgroup_v1 = true;
        self
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn record(&self, call: String) -> Result<(), Errno> {
        let failure = self.failures.iter().find(|(needle, _)| call.contains(needle.as_str())).map(|(_, e)| *e);
        match failure {
            Some(errno) => {
                self.calls.borrow_mut().push(format!("{call} = {errno:?}"));
                Err(errno)
            }
            None => {
                self.calls.borrow_mut().push(call);
                Ok(())
            }
        }
    }
}

/// "nosuid,nodev,bind" for MS_NOSUID|MS_NODEV|MS_BIND.
#[cfg(test)]
pub fn flag_names(flags: MsFlags) -> String {
    flags.iter_names().map(|(name, _)| name.trim_start_matches("MS_").to_lowercase()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
impl Syscall for RecordingSyscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        let mut call = format!(
            "mount {} on {} type={} flags={}",
            source.map_or("none".into(), |s| s.display().to_string()),
            target.display(),
            fstype.unwrap_or("none"),
            flag_names(flags)
        );
        if let Some(data) = data {
            call.push_str(&format!(" data={data}"));
        }
        self.record(call)
    }

    fn mount_overlay_per_layer(
        &self,
        target: &Path,
        lower: &[PathBuf],
        upper: &Path,
        work: &Path,
        userxattr: bool,
    ) -> Result<(), Errno> {
        self.record(format!(
            "overlay per layer on {} lower={} upper={} work={} userxattr={userxattr}",
            target.display(),
            lower.len(),
            upper.display(),
            work.display()
        ))
    }

    fn make_readonly_recursive(&self, target: &Path) -> Result<(), Errno> {
        self.record(format!("readonly recursive {}", target.display()))
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        let detach = if flags.contains(MntFlags::MNT_DETACH) { " detach" } else { "" };
        self.record(format!("umount {}{detach}", target.display()))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
        self.record(format!("pivot_root {} {}", new_root.display(), put_old.display()))
    }

    fn chroot(&self, path: &Path) -> Result<(), Errno> {
        self.record(format!("chroot {}", path.display()))
    }

    fn chdir(&self, path: &Path) -> Result<(), Errno> {
        self.record(format!("chdir {}", path.display()))
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), Errno> {
        self.record(format!("mkdir {} {mode:o}", path.display()))
    }

    fn mknod_char(&self, path: &Path, mode: u32, major: u64, minor: u64) -> Result<(), Errno> {
        self.record(format!("mknod {} {mode:o} c {major}:{minor}", path.display()))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<(), Errno> {
        self.record(format!("symlink {} -> {}", link.display(), target.display()))
    }

    fn create_file(&self, path: &Path, mode: u32) -> Result<(), Errno> {
        self.record(format!("create {} {mode:o}", path.display()))
    }

    fn resolve_in_root(&self, root: &Path, path: &Path) -> Result<PathBuf, Errno> {
        if self.resolve_for_real {
            return resolve_in_root(root, path).map_err(io_errno);
        }
        Ok(root.join(path.strip_prefix("/").unwrap_or(path)))
    }

    fn sethostname(&self, name: &str) -> Result<(), Errno> {
        self.record(format!("sethostname {name}"))
    }

    fn set_loopback_up(&self) -> Result<(), Errno> {
        self.record("loopback up".into())
    }

    fn host_cgroup_is_v2(&self) -> bool {
        !self.cgroup_v1
    }

    /// Separate cpu and cpuacct (this development machine's layout) with a co-mounted alias.
    fn host_cgroup_v1_entries(&self) -> Vec<V1HostEntry> {
        if !self.cgroup_v1 {
            return Vec::new();
        }
        let hierarchy =
            |name: &str, options: &str| V1HostEntry::Hierarchy { name: name.into(), options: options.into() };
        vec![
            hierarchy("cpu,cpuacct", "cpu,cpuacct"),
            hierarchy("memory", "memory"),
            hierarchy("systemd", "name=systemd"),
            V1HostEntry::Link { name: "cpu".into(), target: "cpu,cpuacct".into() },
        ]
    }

    /// Every link reads as "/dev/pts/7" (the tty's path, the one link mounts.rs reads).
    fn read_link(&self, _path: &Path) -> Result<PathBuf, Errno> {
        Ok(PathBuf::from("/dev/pts/7"))
    }

    /// Everything is a directory but the paths given to [`RecordingSyscall::with_files`].
    fn is_dir(&self, path: &Path) -> Result<bool, Errno> {
        Ok(!self.files.iter().any(|f| f == path))
    }

    /// Recorded as the plain mount it amounts to.
    fn mount_in_root(
        &self,
        _root: &Path,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        self.mount(source, target, fstype, flags, data)
    }

    fn copy_up(&self, image_dir: &Path, volume: &Path) -> Result<(), Errno> {
        self.record(format!("copy-up {} -> {}", image_dir.display(), volume.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolving_in_root_never_leaves_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("run/systemd")).unwrap();
        std::os::unix::fs::symlink("/../../../../tmp/escape", root.join("etc/abs")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.join("etc/up")).unwrap();
        std::os::unix::fs::symlink("../run/systemd/stub", root.join("etc/resolv.conf")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();

        assert_eq!(resolve_in_root(root, Path::new("/etc/abs")).unwrap(), root.join("tmp/escape"));
        assert_eq!(resolve_in_root(root, Path::new("/etc/up/passwd")).unwrap(), root.join("passwd"));
        assert_eq!(resolve_in_root(root, Path::new("/../../etc/hosts")).unwrap(), root.join("etc/hosts"));
        assert_eq!(resolve_in_root(root, Path::new("etc/resolv.conf")).unwrap(), root.join("run/systemd/stub"));
        assert_eq!(resolve_in_root(root, Path::new("/new/a/../b")).unwrap(), root.join("new/b"));
        assert_eq!(resolve_in_root(root, Path::new("/loop")).unwrap_err().raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn recording_fails_only_the_configured_calls() {
        let sys = RecordingSyscall::new().failing("gid=5", Errno::EINVAL);
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
        assert_eq!(sys.mount(None, Path::new("/p"), Some("devpts"), flags, Some("gid=5")), Err(Errno::EINVAL));
        assert_eq!(sys.mount(None, Path::new("/p"), Some("devpts"), flags, Some("mode=0620")), Ok(()));
        assert_eq!(
            sys.calls(),
            [
                "mount none on /p type=devpts flags=nosuid,noexec data=gid=5 = EINVAL",
                "mount none on /p type=devpts flags=nosuid,noexec data=mode=0620"
            ]
        );
    }

    #[test]
    fn create_file_keeps_existing_files_and_refuses_directories() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts");
        LinuxSyscall.create_file(&file, 0o644).unwrap();
        fs::write(&file, "kept").unwrap();
        LinuxSyscall.create_file(&file, 0o644).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "kept");
        assert_eq!(LinuxSyscall.create_file(dir.path(), 0o644), Err(Errno::EISDIR));
    }
}
