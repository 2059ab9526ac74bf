//! Metadata of one node, changed or read without following a symlink in its place: owner, mode,
//! times and extended attributes.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FchmodatFlags, Mode, UtimensatFlags, fchmod, fchmodat, fstatat, futimens, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat};

use super::{cstring, file_type};

/// Something whose metadata can be changed: an open fd (not O_PATH: the xattr calls refuse
/// those), or a name in a directory that is handled without following a symlink in its place.
#[derive(Clone, Copy)]
pub enum Node<'a> {
    Fd(BorrowedFd<'a>),
    At { parent: BorrowedFd<'a>, name: &'a CStr },
}

impl Node<'_> {
    /// /proc path for the l*xattr calls: the parent is pinned by its fd and only the last
    /// component is looked up, without following it. Needs this process's own /proc.
    fn proc_path(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<CString> {
        let mut path = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
        path.extend_from_slice(name.to_bytes());
        cstring(&path)
    }

    pub fn chown(self, uid: u32, gid: u32) -> nix::Result<()> {
        let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        match self {
            Node::Fd(fd) => fchown(fd, uid, gid),
            Node::At { parent, name } => fchownat(parent, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW),
        }
    }

    /// The permission bits (and set-id and sticky bits) of `mode`. Must not be called on
    /// symlinks (Linux symlinks have no mode of their own).
    pub fn chmod(self, mode: u32) -> nix::Result<()> {
        let mode = Mode::from_bits_truncate(mode & 0o7777);
        match self {
            Node::Fd(fd) => fchmod(fd, mode),
            Node::At { parent, name } => {
                match fchmodat(parent, name, mode, FchmodatFlags::NoFollowSymlink) {
                    // Old libcs cannot chmod without following; safe to follow once we know the
                    // name is not a symlink.
                    Err(Errno::EOPNOTSUPP | Errno::ENOSYS) => {
                        let st = fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
                        if file_type(&st) == libc::S_IFLNK {
                            return Err(Errno::ELOOP);
                        }
                        fchmodat(parent, name, mode, FchmodatFlags::FollowSymlink)
                    }
                    other => other,
                }
            }
        }
    }

    pub fn set_times(self, atime: &TimeSpec, mtime: &TimeSpec) -> nix::Result<()> {
        match self {
            Node::Fd(fd) => futimens(fd, atime, mtime),
            Node::At { parent, name } => utimensat(parent, name, atime, mtime, UtimensatFlags::NoFollowSymlink),
        }
    }

    pub fn set_xattr(self, key: &CStr, value: &[u8]) -> io::Result<()> {
        let rc = match self {
            Node::Fd(fd) => {
                // SAFETY: key is NUL-terminated and value points to value.len() readable bytes
                // for the duration of the call.
                unsafe { libc::fsetxattr(fd.as_raw_fd(), key.as_ptr(), value.as_ptr().cast(), value.len(), 0) }
            }
            Node::At { parent, name } => {
                let path = Self::proc_path(parent, name)?;
                // SAFETY: path and key are NUL-terminated and value points to value.len()
                // readable bytes for the duration of the call.
                unsafe { libc::lsetxattr(path.as_ptr(), key.as_ptr(), value.as_ptr().cast(), value.len(), 0) }
            }
        };
        if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }

    /// getxattr into `buf`; an empty buf asks only for the value's size.
    fn get_xattr_raw(self, key: &CStr, buf: &mut [u8]) -> io::Result<usize> {
        let (ptr, len) = if buf.is_empty() {
            (std::ptr::null_mut(), 0)
        } else {
            (buf.as_mut_ptr().cast::<libc::c_void>(), buf.len())
        };
        let rc = match self {
            // SAFETY: key is NUL-terminated; ptr is either null with len 0 or points to len
            // writable bytes.
            Node::Fd(fd) => unsafe { libc::fgetxattr(fd.as_raw_fd(), key.as_ptr(), ptr, len) },
            Node::At { parent, name } => {
                let path = Self::proc_path(parent, name)?;
                // SAFETY: path and key are NUL-terminated; ptr is either null with len 0 or
                // points to len writable bytes.
                unsafe { libc::lgetxattr(path.as_ptr(), key.as_ptr(), ptr, len) }
            }
        };
        usize::try_from(rc).map_err(|_| io::Error::last_os_error())
    }

    /// The value of `key`; None when the node has no such attribute (or its filesystem none).
    pub fn get_xattr(self, key: &CStr) -> io::Result<Option<Vec<u8>>> {
        loop {
            let size = match self.get_xattr_raw(key, &mut []) {
                Ok(size) => size,
                Err(e) if is_no_such_xattr(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            if size == 0 {
                return Ok(Some(Vec::new()));
            }
            let mut value = vec![0u8; size];
            match self.get_xattr_raw(key, &mut value) {
                Ok(n) => {
                    value.truncate(n);
                    return Ok(Some(value));
                }
                // The value grew between the two calls.
                Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
                Err(e) if is_no_such_xattr(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    fn list_xattrs_raw(self, buf: &mut [u8]) -> io::Result<usize> {
        let (ptr, len) = if buf.is_empty() {
            (std::ptr::null_mut(), 0)
        } else {
            (buf.as_mut_ptr().cast::<libc::c_char>(), buf.len())
        };
        let rc = match self {
            // SAFETY: ptr is either null with len 0 or points to len writable bytes.
            Node::Fd(fd) => unsafe { libc::flistxattr(fd.as_raw_fd(), ptr, len) },
            Node::At { parent, name } => {
                let path = Self::proc_path(parent, name)?;
                // SAFETY: path is NUL-terminated; ptr is either null with len 0 or points to len
                // writable bytes.
                unsafe { libc::llistxattr(path.as_ptr(), ptr, len) }
            }
        };
        usize::try_from(rc).map_err(|_| io::Error::last_os_error())
    }

    /// The names of the node's extended attributes; none where the filesystem has none.
    pub fn list_xattrs(self) -> io::Result<Vec<CString>> {
        loop {
            let size = match self.list_xattrs_raw(&mut []) {
                Ok(size) => size,
                Err(e) if is_xattr_unsupported(&e) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            if size == 0 {
                return Ok(Vec::new());
            }
            let mut buf = vec![0u8; size];
            match self.list_xattrs_raw(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return buf.split(|b| *b == 0).filter(|name| !name.is_empty()).map(cstring).collect();
                }
                Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_no_such_xattr(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENODATA)) || is_xattr_unsupported(e)
}

fn is_xattr_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP))
}
