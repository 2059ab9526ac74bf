//! The filesystem primitives the build context uses: directory-fd-relative, never following a
//! symlink it was not asked to, on the sandbox's fd-relative primitives (`sandbox::fs_at`).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};

/// Opens `path` below the directory `root` with every lookup (symlinks, `..`) kept inside it.
/// Where openat2 is missing (kernels before 5.6, some seccomp filters), walks the components
/// with O_NOFOLLOW instead: stricter, as no symlink may then appear in `path` at all.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    match crate::sandbox::fs_at::openat2_in_root(root, path, flags) {
        Err(Errno::ENOSYS | Errno::EPERM) => open_without_symlinks(root, path, flags),
        other => other.map_err(io::Error::from),
    }
}

fn open_without_symlinks(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let parts: Vec<&OsStr> = path.iter().filter(|p| *p != "/" && *p != ".").collect();
    let mut dir = openat(root, ".", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
    for (i, part) in parts.iter().enumerate() {
        if *part == ".." {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        let last = i + 1 == parts.len();
        let part_flags = if last {
            flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
        } else {
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
        };
        dir = openat(dir.as_fd(), *part, part_flags, Mode::from_bits_truncate(0o600))?;
    }
    if parts.is_empty() {
        return Ok(openat(root, ".", flags | OFlag::O_CLOEXEC, Mode::empty())?);
    }
    Ok(dir)
}

/// What a directory entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    File,
    Dir,
    /// With its target, as written.
    Symlink(String),
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

/// One file of a tree, as lstat sees it. `path` is relative to the tree's root, `/`-separated,
/// without a leading `./`; the root itself is `""`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
    /// A device node's number.
    pub rdev: u64,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// The last path component.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

fn nanos(sec: i64, nsec: i64) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// lstat of `name` in the directory `dir`, as an [`Entry`] at `path`.
pub fn entry_at(dir: BorrowedFd<'_>, name: &OsStr, path: String) -> io::Result<Entry> {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => EntryKind::Dir,
        SFlag::S_IFREG => EntryKind::File,
        SFlag::S_IFLNK => {
            let target = readlinkat(dir, name)?;
            EntryKind::Symlink(String::from_utf8_lossy(target.as_bytes()).into_owned())
        }
        SFlag::S_IFIFO => EntryKind::Fifo,
        SFlag::S_IFSOCK => EntryKind::Socket,
        SFlag::S_IFCHR => EntryKind::CharDevice,
        _ => EntryKind::BlockDevice,
    };
    Ok(from_stat(&st, kind, path))
}

pub fn from_stat(st: &FileStat, kind: EntryKind, path: String) -> Entry {
    Entry {
        path,
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size as u64,
        mtime_ns: nanos(st.st_mtime, st.st_mtime_nsec),
        ctime_ns: nanos(st.st_ctime, st.st_ctime_nsec),
        ino: st.st_ino,
        dev: st.st_dev,
        rdev: st.st_rdev,
    }
}

/// The names in the directory `dir` (not `.` and `..`), sorted bytewise.
pub fn sorted_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    Ok(crate::sandbox::fs_at::dir_names(dir)?.into_iter().map(|n| n.into_bytes()).collect())
}

/// Opens the subdirectory `name` of `dir`, refusing a symlink.
pub fn open_subdir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    crate::sandbox::fs_at::open_dir_nofollow(dir, &crate::sandbox::fs_at::cstring(name.as_bytes())?)
}

/// Opens a directory given by a host path.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?)
}
