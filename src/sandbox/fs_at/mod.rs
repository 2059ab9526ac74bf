//! Fd-relative filesystem primitives, the one home of the code that must not be fooled by a
//! symlink: every path inside an untrusted tree (a layer being unpacked, a container's root, an
//! image directory copied into a volume) is resolved relative to a directory fd, parents with
//! `openat2(RESOLVE_IN_ROOT)` (or, where that syscall is missing, a walk that refuses symlinks),
//! and the final component only ever with `*at()` calls that do not follow it.
//!
//! Nothing here reads `/proc` to list a directory: in a helper that joined a container's mount
//! namespace, `/proc` belongs to another pid namespace. The one `/proc` use left is the path
//! the `l*xattr` calls need for a name (see [`Node`]), which callers use on the host only.

mod copy_up;
mod node;

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, fchmod, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

pub use copy_up::copy_up;
pub use node::Node;

/// openat2(RESOLVE_IN_ROOT) returns EAGAIN when a rename races the lookup.
const OPENAT2_RETRIES: usize = 16;

/// The kernel's `struct open_how` (libc's is non_exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2() of `path` below `root` with RESOLVE_IN_ROOT: every lookup, absolute symlink
/// targets and ".." included, treats `root` as "/", so the result is never outside `root`.
/// Magic links (/proc/self/fd/...) are refused. An empty path opens `root` itself. O_CLOEXEC is
/// always added. Retries the EAGAIN a concurrent rename can cause.
pub fn openat2_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let bytes = path.as_os_str().as_bytes();
    let path = CString::new(if bytes.is_empty() { b"." } else { bytes }).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (flags | OFlag::O_CLOEXEC).bits() as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    for _ in 0..OPENAT2_RETRIES {
        // SAFETY: `path` is NUL-terminated and `how` is a live open_how whose exact size is
        // passed; the kernel keeps neither pointer.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                size_of::<OpenHow>(),
            )
        };
        if rc >= 0 {
            let fd = RawFd::try_from(rc).map_err(|_| Errno::EOVERFLOW)?;
            // SAFETY: a non-negative openat2 result is a new descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        match Errno::last() {
            Errno::EAGAIN | Errno::EINTR => continue,
            err => return Err(err),
        }
    }
    Err(Errno::EAGAIN)
}

/// How directories below a root are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// openat2(RESOLVE_IN_ROOT): symlinks are followed but clamped to the root.
    Openat2,
    /// Kernels without openat2 (or a seccomp filter that refuses it): one component at a time,
    /// and a symlink in the path is refused.
    NoSymlinkWalk,
}

impl Resolver {
    /// openat2 where the kernel has it: ENOSYS before Linux 5.6; EPERM where a seccomp filter
    /// blocks the syscall; EINVAL or E2BIG where it does not know the flags.
    pub fn detect(root: BorrowedFd<'_>) -> Result<Resolver, Errno> {
        match openat2_in_root(root, Path::new(""), OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(_) => Ok(Resolver::Openat2),
            Err(Errno::ENOSYS | Errno::EPERM | Errno::EINVAL | Errno::E2BIG) => Ok(Resolver::NoSymlinkWalk),
            Err(e) => Err(e),
        }
    }
}

/// Why a directory below a root could not be opened; `depth` is the number of leading
/// components of the requested path that name the culprit (1 = the first component). The
/// walker knows the component; a failed openat2 lookup names the whole path it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    /// Nothing is there (and creating it was not asked for).
    Missing {
        depth: usize,
    },
    /// A component is something other than a directory.
    NotDir {
        depth: usize,
    },
    /// The walker met a symlink, which it never follows.
    Symlink {
        depth: usize,
    },
    /// A directory was to be created where a symlink to a missing directory is.
    DanglingSymlink {
        depth: usize,
    },
    /// openat2 refused the lookup as leaving the root (EXDEV) or looping (ELOOP).
    Escape {
        depth: usize,
        errno: Errno,
    },
    Io {
        depth: usize,
        errno: Errno,
    },
}

impl ResolveError {
    /// The errno that says the same thing, for callers that report an io::Error.
    pub fn errno(self) -> Errno {
        match self {
            ResolveError::Missing { .. } => Errno::ENOENT,
            ResolveError::NotDir { .. } => Errno::ENOTDIR,
            ResolveError::Symlink { .. } => Errno::ELOOP,
            ResolveError::DanglingSymlink { .. } => Errno::EEXIST,
            ResolveError::Escape { errno, .. } | ResolveError::Io { errno, .. } => errno,
        }
    }
}

const DIR_PATH_FLAGS: OFlag = OFlag::O_PATH.union(OFlag::O_DIRECTORY).union(OFlag::O_CLOEXEC);

/// Opens directory `dir` (its components, none empty, "." or "..") below `root` as an O_PATH
/// fd, never outside `root`; with `create_missing`, missing directories are made (mode 0755,
/// owned by the caller), each one re-resolved from the root so a symlink swapped into the path
/// cannot lead outside.
pub fn open_dir_in_root(
    root: BorrowedFd<'_>,
    resolver: Resolver,
    dir: &[Vec<u8>],
    create_missing: bool,
) -> Result<OwnedFd, ResolveError> {
    let io = |depth: usize| move |errno: Errno| ResolveError::Io { depth, errno };
    if dir.is_empty() {
        return openat(root, c".", DIR_PATH_FLAGS, Mode::empty()).map_err(io(0));
    }
    match resolver {
        Resolver::Openat2 => match resolve_prefix(root, dir, dir.len()) {
            Err(ResolveError::Missing { .. }) if create_missing => create_missing_dirs(root, dir),
            other => other,
        },
        Resolver::NoSymlinkWalk => walk_no_symlinks(root, dir, create_missing),
    }
}

/// The first `depth` components of `dir`, resolved with openat2.
fn resolve_prefix(root: BorrowedFd<'_>, dir: &[Vec<u8>], depth: usize) -> Result<OwnedFd, ResolveError> {
    let prefix = dir.get(..depth).unwrap_or(dir).join(&b'/');
    if prefix.contains(&0) {
        return Err(ResolveError::Io { depth, errno: Errno::EINVAL });
    }
    openat2_in_root(root, Path::new(std::ffi::OsStr::from_bytes(&prefix)), DIR_PATH_FLAGS).map_err(
        |errno| match errno {
            Errno::ENOENT => ResolveError::Missing { depth },
            Errno::ENOTDIR => ResolveError::NotDir { depth },
            Errno::EXDEV | Errno::ELOOP => ResolveError::Escape { depth, errno },
            errno => ResolveError::Io { depth, errno },
        },
    )
}

fn create_missing_dirs(root: BorrowedFd<'_>, dir: &[Vec<u8>]) -> Result<OwnedFd, ResolveError> {
    let mut current =
        openat(root, c".", DIR_PATH_FLAGS, Mode::empty()).map_err(|errno| ResolveError::Io { depth: 0, errno })?;
    for (index, component) in dir.iter().enumerate() {
        let depth = index + 1;
        current = match resolve_prefix(root, dir, depth) {
            Ok(fd) => fd,
            Err(ResolveError::Missing { .. }) => {
                let name = cstring(component).map_err(|_| ResolveError::Io { depth, errno: Errno::EINVAL })?;
                match make_dir(current.as_fd(), &name, 0o755) {
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                        return Err(ResolveError::DanglingSymlink { depth });
                    }
                    Err(e) => return Err(ResolveError::Io { depth, errno: io_errno(&e) }),
                }
                resolve_prefix(root, dir, depth)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(current)
}

fn walk_no_symlinks(root: BorrowedFd<'_>, dir: &[Vec<u8>], create: bool) -> Result<OwnedFd, ResolveError> {
    let mut current =
        openat(root, c".", DIR_PATH_FLAGS, Mode::empty()).map_err(|errno| ResolveError::Io { depth: 0, errno })?;
    for (index, component) in dir.iter().enumerate() {
        let depth = index + 1;
        let name = cstring(component).map_err(|_| ResolveError::Io { depth, errno: Errno::EINVAL })?;
        current = match openat(current.as_fd(), name.as_c_str(), DIR_PATH_FLAGS | OFlag::O_NOFOLLOW, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create => {
                make_dir(current.as_fd(), &name, 0o755).map_err(|e| ResolveError::Io { depth, errno: io_errno(&e) })?
            }
            Err(Errno::ENOENT) => return Err(ResolveError::Missing { depth }),
            Err(Errno::ENOTDIR | Errno::ELOOP) => {
                let st =
                    lstat_at(current.as_fd(), &name).map_err(|e| ResolveError::Io { depth, errno: io_errno(&e) })?;
                return Err(match st {
                    Some(st) if file_type(&st) == libc::S_IFLNK => ResolveError::Symlink { depth },
                    _ => ResolveError::NotDir { depth },
                });
            }
            Err(errno) => return Err(ResolveError::Io { depth, errno }),
        };
    }
    Ok(current)
}

fn io_errno(e: &io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// `bytes` as a C string; a NUL inside is invalid input.
pub fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// The entry `name` in `parent`, not following a symlink; None if there is none.
pub fn lstat_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<FileStat>> {
    match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The S_IFMT bits of a stat.
pub fn file_type(st: &FileStat) -> u32 {
    st.st_mode & libc::S_IFMT
}

pub fn is_dir(st: &FileStat) -> bool {
    file_type(st) == libc::S_IFDIR
}

/// Opens a directory for reading without following a symlink in its place.
pub fn open_dir_nofollow(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    Ok(openat(parent, name, flags, Mode::empty())?)
}

/// Opens a regular file for reading without following a symlink in its place; non-blocking,
/// so a fifo swapped in cannot hang the reader.
pub fn open_file_nofollow(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    Ok(openat(parent, name, flags, Mode::empty())?)
}

/// Creates the new regular file `name` (mode 0600 until the caller sets its own); fails with
/// EEXIST rather than follow or reuse what is there.
pub fn create_file_excl(parent: BorrowedFd<'_>, name: &CStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(parent, name, flags, Mode::from_bits_truncate(0o600))
}

/// Makes directory `name` with exactly `mode` (mkdir honours the umask, so the mode is set
/// afterwards) and opens it.
pub fn make_dir(parent: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    mkdirat(parent, name, Mode::from_bits_truncate(0o700))?;
    let dir = open_dir_nofollow(parent, name)?;
    fchmod(&dir, Mode::from_bits_truncate(mode))?;
    Ok(dir)
}

/// The names in a directory (without "." and ".."), sorted (reproducible archives). Reads
/// through a new open file description of the directory, never through /proc.
pub fn dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    let mut listing =
        nix::dir::Dir::openat(dir, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let name = entry?.file_name().to_owned();
        if name.as_bytes() != b"." && name.as_bytes() != b".." {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Removes `name` and, if it is a directory, everything below it; never follows a symlink.
/// Nothing there is fine.
pub fn remove_tree_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let Some(st) = lstat_at(parent, name)? else {
        return Ok(());
    };
    if !is_dir(&st) {
        unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)?;
        return Ok(());
    }
    let dir = open_dir_nofollow(parent, name)?;
    for child in dir_names(dir.as_fd())? {
        remove_tree_at(dir.as_fd(), &child)?;
    }
    drop(dir);
    unlinkat(parent, name, UnlinkatFlags::RemoveDir)?;
    Ok(())
}

/// Removes the non-directory `name` (a file, symlink, device, …) without following it.
pub fn remove_non_dir(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    Ok(unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)?)
}

#[cfg(test)]
mod tests;
