//! Image layers: unpacking OCI/Docker layer tarballs into overlayfs "upper dir"
//! format, and packing an upper dir back into a layer tarball.
//!
//! Unpacking is the security-critical half: a layer is untrusted input, so every
//! file is created relative to a directory fd of the layer root, parents are
//! resolved with `openat2(RESOLVE_IN_ROOT)` (or a no-symlinks walk where that
//! syscall is missing), and the final component is only ever touched with
//! `*at()` calls that do not follow symlinks.

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, FileStat, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstat, fstatat, futimens, mkdirat, mknodat,
    utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use sha2::{Digest, Sha256};

/// Name prefix that marks a whiteout entry in a layer tarball.
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Names with this prefix are aufs bookkeeping, not whiteouts.
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
/// Entry name that makes its directory opaque.
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Overlay metadata in either namespace; never taken from, or written into, a tarball.
const OVERLAY_XATTR_PREFIXES: [&[u8]; 2] = [b"trusted.overlay.", b"user.overlay."];
/// PAX record prefix for extended attributes (GNU tar / Docker / containerd).
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";
/// Host SELinux labels must not travel inside image layers.
const SELINUX_XATTR: &[u8] = b"security.selinux";
/// A hostile layer must not be able to grow the warning list without bound.
const MAX_WARNINGS: usize = 200;
/// openat2(RESOLVE_IN_ROOT) returns EAGAIN when a rename races the lookup.
const OPENAT2_RETRIES: usize = 16;
const COPY_BUFFER_SIZE: usize = 128 * 1024;

/// Errors from unpacking or packing a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unsafe path in layer: {0}")]
    UnsafePath(String),
    #[error("bad layer archive: {0}")]
    BadArchive(String),
    #[error("unknown layer compression: stream is neither gzip, zstd nor tar")]
    UnknownCompression,
    #[error("cannot pack {}: overlay {feature} is not representable in a layer", path.display())]
    UnsupportedOverlayFeature { path: PathBuf, feature: String },
}

/// Where overlay metadata goes: "trusted.overlay." when running as real root,
/// "user.overlay." inside a user namespace (rootless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackOptions {
    pub overlay_xattr_prefix: &'static str,
    pub in_user_namespace: bool,
}

impl UnpackOptions {
    /// Real root on the host: trusted.* overlay xattrs, device nodes allowed.
    pub const ROOTFUL: UnpackOptions =
        UnpackOptions { overlay_xattr_prefix: "trusted.overlay.", in_user_namespace: false };
    /// Inside a user namespace: user.* overlay xattrs (mount with `userxattr`), no devices.
    pub const ROOTLESS: UnpackOptions =
        UnpackOptions { overlay_xattr_prefix: "user.overlay.", in_user_namespace: true };

    fn overlay_xattr(&self, suffix: &str) -> io::Result<CString> {
        CString::new(format!("{}{suffix}", self.overlay_xattr_prefix))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }
}

/// The initial user namespace maps every uid to itself; anything else is a child namespace.
#[cfg(test)]
fn running_in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    }
}

/// What an unpack did, besides creating files. The diff id is not here: callers hash the tar
/// stream where it is produced (see `ingest`), on another thread than the one writing files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Number of tar entries processed (not counting PAX / long-name headers).
    pub entries: u64,
    /// Non-fatal problems (unmapped owners, skipped devices, xattrs that could not be set).
    pub warnings: Vec<String>,
}

// ---------------------------------------------------------------------------
// Format sniffing and digests
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Compression {
    None,
    Gzip,
    Zstd,
}

pub(super) fn stream_error(source: io::Error) -> LayerError {
    LayerError::Io { path: PathBuf::from("<layer stream>"), source }
}

pub(super) fn sniff_format(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if looks_like_tar(head) {
        Some(Compression::None)
    } else {
        None
    }
}

/// Tar has no magic at offset 0, so accept an empty stream, an end-of-archive
/// block, or a first header whose checksum is right.
fn looks_like_tar(head: &[u8]) -> bool {
    if head.is_empty() {
        return true;
    }
    let Some(block) = head.get(..512) else {
        return false;
    };
    block.iter().all(|b| *b == 0) || tar_checksum_matches(block)
}

fn tar_checksum_matches(block: &[u8]) -> bool {
    let Some(field) = block.get(148..156) else {
        return false;
    };
    let digits: Vec<u8> =
        field.iter().copied().skip_while(|b| *b == b' ').take_while(|b| (b'0'..=b'7').contains(b)).collect();
    let Ok(text) = std::str::from_utf8(&digits) else {
        return false;
    };
    let Ok(stored) = i64::from_str_radix(text, 8) else {
        return false;
    };
    // The checksum is computed with its own field read as eight spaces; some
    // historic tars summed signed bytes, so accept either.
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || stored == signed
}

pub(super) fn format_sha256(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

// ---------------------------------------------------------------------------
// Layer paths
// ---------------------------------------------------------------------------

/// A layer-relative path with no empty, "." or ".." components; empty means the root.
type RelPath = Vec<Vec<u8>>;

/// Docker semantics: leading "/" and "./" are dropped (absolute means relative
/// to the layer root), ".." is resolved lexically and must not climb out.
fn normalize_layer_path(raw: &[u8]) -> Result<RelPath, LayerError> {
    if raw.contains(&0) {
        return Err(LayerError::BadArchive(format!("{}: path contains a NUL byte", String::from_utf8_lossy(raw))));
    }
    let mut out: RelPath = Vec::new();
    for component in raw.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(LayerError::UnsafePath(format!(
                        "{}: climbs above the layer root",
                        String::from_utf8_lossy(raw)
                    )));
                }
            }
            name => out.push(name.to_vec()),
        }
    }
    Ok(out)
}

fn display_rel(rel: &[Vec<u8>]) -> String {
    if rel.is_empty() {
        return ".".to_owned();
    }
    String::from_utf8_lossy(&rel.join(&b'/')).into_owned()
}

fn rel_to_cstring(rel: &[Vec<u8>]) -> io::Result<CString> {
    bytes_to_cstring(&rel.join(&b'/'))
}

fn bytes_to_cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

fn io_err_at<E: Into<io::Error>>(dest: &Path, rel: &[Vec<u8>]) -> impl FnOnce(E) -> LayerError {
    let path = dest.join(OsStr::from_bytes(&rel.join(&b'/')));
    move |e| LayerError::Io { path, source: e.into() }
}

// ---------------------------------------------------------------------------
// Low-level filesystem helpers
// ---------------------------------------------------------------------------

/// Mirrors the kernel's `struct open_how` (libc's is non_exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2() relative to `root`, treating it as "/" for every lookup, including
/// absolute symlink targets and "..".
fn openat2_in_root(root: BorrowedFd<'_>, path: &CStr, flags: OFlag) -> nix::Result<OwnedFd> {
    let how =
        OpenHow { flags: flags.bits() as u64, mode: 0, resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS };
    for _ in 0..OPENAT2_RETRIES {
        // SAFETY: `path` is NUL-terminated and `how` is a live open_how whose exact size is passed; the kernel keeps neither pointer.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
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

/// The entry `name` in `parent`, not following a symlink; None if there is none.
pub(crate) fn lstat_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<FileStat>> {
    match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The S_IFMT bits of a stat.
pub(crate) fn file_type(st: &FileStat) -> u32 {
    st.st_mode & libc::S_IFMT
}

fn is_dir(st: &FileStat) -> bool {
    file_type(st) == libc::S_IFDIR
}

/// Opens a directory for reading without following a symlink in its place.
fn open_dir_nofollow(parent: BorrowedFd<'_>, name: &CStr) -> nix::Result<OwnedFd> {
    openat(parent, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
}

/// mkdir honours the umask, so the final mode is set explicitly afterwards.
fn make_dir(parent: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    mkdirat(parent, name, Mode::from_bits_truncate(0o700))?;
    let dir = open_dir_nofollow(parent, name)?;
    fchmod(&dir, Mode::from_bits_truncate(mode))?;
    Ok(dir)
}

/// Lists a directory's entries (without "." and ".."), not following symlinks.
fn list_dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    // The magic link names exactly the directory we hold, whatever happens to its path.
    let mut names = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))? {
        names.push(bytes_to_cstring(entry?.file_name().as_bytes())?);
    }
    Ok(names)
}

/// Removes `name` and, if it is a directory, everything below it; never follows symlinks.
fn remove_tree_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let Some(st) = lstat_at(parent, name)? else {
        return Ok(());
    };
    if !is_dir(&st) {
        unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)?;
        return Ok(());
    }
    let dir = open_dir_nofollow(parent, name)?;
    for child in list_dir_names(dir.as_fd())? {
        remove_tree_at(dir.as_fd(), &child)?;
    }
    drop(dir);
    unlinkat(parent, name, UnlinkatFlags::RemoveDir)?;
    Ok(())
}

/// Something whose metadata can be changed: an open fd, or a name in a
/// directory that is handled without following a symlink in its place.
#[derive(Clone, Copy)]
enum Node<'a> {
    Fd(BorrowedFd<'a>),
    At { parent: BorrowedFd<'a>, name: &'a CStr },
}

impl Node<'_> {
    /// /proc path for the l*xattr calls: the parent is pinned by its fd and
    /// only the last component is looked up, without following it.
    fn proc_path(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<CString> {
        let mut path = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
        path.extend_from_slice(name.to_bytes());
        bytes_to_cstring(&path)
    }

    fn chown(self, uid: u32, gid: u32) -> nix::Result<()> {
        let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        match self {
            Node::Fd(fd) => fchown(fd, uid, gid),
            Node::At { parent, name } => fchownat(parent, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW),
        }
    }

    /// Must not be called on symlinks (Linux symlinks have no mode of their own).
    fn chmod(self, mode: u32) -> nix::Result<()> {
        let mode = Mode::from_bits_truncate(mode);
        match self {
            Node::Fd(fd) => fchmod(fd, mode),
            Node::At { parent, name } => {
                match fchmodat(parent, name, mode, FchmodatFlags::NoFollowSymlink) {
                    // Old libcs cannot chmod without following; safe to follow
                    // once we know the name is not a symlink.
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

    fn set_times(self, atime: &TimeSpec, mtime: &TimeSpec) -> nix::Result<()> {
        match self {
            Node::Fd(fd) => futimens(fd, atime, mtime),
            Node::At { parent, name } => utimensat(parent, name, atime, mtime, UtimensatFlags::NoFollowSymlink),
        }
    }

    fn set_xattr(self, key: &CStr, value: &[u8]) -> io::Result<()> {
        let rc = match self {
            Node::Fd(fd) => {
                // SAFETY: key is NUL-terminated and value points to value.len() readable bytes for the duration of the call.
                unsafe { libc::fsetxattr(fd.as_raw_fd(), key.as_ptr(), value.as_ptr().cast(), value.len(), 0) }
            }
            Node::At { parent, name } => {
                let path = Self::proc_path(parent, name)?;
                // SAFETY: path and key are NUL-terminated and value points to value.len() readable bytes for the duration of the call.
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
            // SAFETY: key is NUL-terminated; ptr is either null with len 0 or points to len writable bytes.
            Node::Fd(fd) => unsafe { libc::fgetxattr(fd.as_raw_fd(), key.as_ptr(), ptr, len) },
            Node::At { parent, name } => {
                let path = Self::proc_path(parent, name)?;
                // SAFETY: path and key are NUL-terminated; ptr is either null with len 0 or points to len writable bytes.
                unsafe { libc::lgetxattr(path.as_ptr(), key.as_ptr(), ptr, len) }
            }
        };
        usize::try_from(rc).map_err(|_| io::Error::last_os_error())
    }

    fn get_xattr(self, key: &CStr) -> io::Result<Option<Vec<u8>>> {
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
                // SAFETY: path is NUL-terminated; ptr is either null with len 0 or points to len writable bytes.
                unsafe { libc::llistxattr(path.as_ptr(), ptr, len) }
            }
        };
        usize::try_from(rc).map_err(|_| io::Error::last_os_error())
    }

    fn list_xattrs(self) -> io::Result<Vec<CString>> {
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
                    return buf.split(|b| *b == 0).filter(|name| !name.is_empty()).map(bytes_to_cstring).collect();
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

fn is_overlay_xattr(name: &[u8]) -> bool {
    OVERLAY_XATTR_PREFIXES.iter().any(|p| name.starts_with(p))
}

// ---------------------------------------------------------------------------
// Unpacking
// ---------------------------------------------------------------------------

/// How parent directories are resolved inside the layer root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolver {
    /// openat2(RESOLVE_IN_ROOT): symlinks are followed but clamped to the root.
    Openat2,
    /// Kernels without openat2: walk one component at a time and refuse symlinks.
    NoSymlinkWalk,
}

/// How whiteouts are represented on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhiteoutStyle {
    /// 0/0 character device, switching to `Xattr` the first time mknod gets EPERM.
    Device,
    /// Empty regular file with `<prefix>whiteout` (kernel >= 6.7).
    Xattr,
}

/// Unpack an (uncompressed) OCI/Docker layer tar stream into `dest` (an
/// existing, normally empty directory) in overlayfs "upper dir" format.
///
/// The stream is read to its very end, so a digest taken of it upstream covers
/// every byte. On error, `dest` holds a partial layer and should be discarded.
pub fn unpack_layer(tar: impl Read, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats, LayerError> {
    let root = open_layer_root(dest)?;
    let resolver = detect_resolver(root.as_fd(), dest)?;
    unpack_with(tar, dest, root, opts, resolver, WhiteoutStyle::Device)
}

fn open_layer_root(dest: &Path) -> Result<OwnedFd, LayerError> {
    nix::fcntl::open(dest, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| LayerError::Io { path: dest.to_owned(), source: e.into() })
}

/// ENOSYS on old kernels; EPERM where a seccomp filter blocks the syscall.
fn detect_resolver(root: BorrowedFd<'_>, dest: &Path) -> Result<Resolver, LayerError> {
    match openat2_in_root(root, c".", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC) {
        Ok(_) => Ok(Resolver::Openat2),
        Err(Errno::ENOSYS | Errno::EPERM | Errno::EINVAL | Errno::E2BIG) => Ok(Resolver::NoSymlinkWalk),
        Err(e) => Err(LayerError::Io { path: dest.to_owned(), source: e.into() }),
    }
}

fn unpack_with(
    mut reader: impl Read,
    dest: &Path,
    root: OwnedFd,
    opts: &UnpackOptions,
    resolver: Resolver,
    whiteout_style: WhiteoutStyle,
) -> Result<UnpackStats, LayerError> {
    let mut unpacker = Unpacker {
        root,
        dest,
        opts,
        resolver,
        whiteout_style,
        warnings: Warnings::default(),
        dir_times: Vec::new(),
        buf: vec![0u8; COPY_BUFFER_SIZE],
        last_parent: None,
        entries: 0,
    };
    {
        let mut archive = tar::Archive::new(&mut reader);
        let entries = archive.entries().map_err(|e| LayerError::BadArchive(e.to_string()))?;
        let mut last_path = String::from("<start of archive>");
        for entry in entries {
            let mut entry =
                entry.map_err(|e| LayerError::BadArchive(format!("reading the entry after {last_path}: {e}")))?;
            last_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            unpacker.unpack_entry(&mut entry)?;
            unpacker.entries += 1;
        }
    }
    unpacker.apply_dir_times()?;
    // Bytes after the end-of-archive blocks still belong to the blob's digest.
    io::copy(&mut reader, &mut io::sink()).map_err(stream_error)?;
    Ok(UnpackStats { entries: unpacker.entries, warnings: unpacker.warnings.into_vec() })
}

#[derive(Default)]
struct Warnings {
    list: Vec<String>,
    seen_keys: HashSet<String>,
    suppressed: u64,
}

impl Warnings {
    fn push(&mut self, message: String) {
        if self.list.len() < MAX_WARNINGS {
            self.list.push(message);
        } else {
            self.suppressed += 1;
        }
    }

    /// Reports only the first problem of a kind; layers tend to repeat them thousands of times.
    fn once(&mut self, key: String, message: impl FnOnce() -> String) {
        if self.seen_keys.insert(key) {
            self.push(message());
        }
    }

    fn into_vec(mut self) -> Vec<String> {
        if self.suppressed > 0 {
            self.list.push(format!("{} further warnings suppressed", self.suppressed));
        }
        self.list
    }
}

/// Metadata of one tar entry, from its header and PAX records.
struct EntryMeta {
    mode: u32,
    uid: u32,
    gid: u32,
    atime: TimeSpec,
    mtime: TimeSpec,
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// What kind of node an entry creates, for deciding which metadata applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    File,
    Dir,
    Symlink,
    Special,
}

/// Directory times are applied after all entries, because creating children
/// changes them; dev/ino guard against the path having been replaced since.
struct DirTimes {
    rel: RelPath,
    dev: u64,
    ino: u64,
    atime: TimeSpec,
    mtime: TimeSpec,
}

struct Unpacker<'a> {
    root: OwnedFd,
    dest: &'a Path,
    opts: &'a UnpackOptions,
    resolver: Resolver,
    whiteout_style: WhiteoutStyle,
    warnings: Warnings,
    dir_times: Vec<DirTimes>,
    buf: Vec<u8>,
    /// The directory the last entry, a regular file, was created in, to spare resolving it
    /// again for the next file: a layer lists a directory's files one after another.
    last_parent: Option<(Vec<Vec<u8>>, OwnedFd)>,
    entries: u64,
}

impl Unpacker<'_> {
    fn unpack_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), LayerError> {
        // Only a run of regular files may reuse the last file's directory: any other entry
        // (a directory, link or whiteout) may replace or remove that directory.
        let last_parent = self.last_parent.take();
        let raw_path = entry.path_bytes().into_owned();
        let rel = normalize_layer_path(&raw_path)?;
        let Some((name, parent)) = rel.split_last() else {
            return Ok(()); // the layer root itself
        };
        if name.as_slice() == OPAQUE_MARKER {
            return self.mark_opaque(parent);
        }
        if name.starts_with(WHITEOUT_META_PREFIX) {
            return Ok(());
        }
        let meta = read_entry_meta(entry, &rel)?;
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            return self.create_whiteout(parent, hidden, &rel, &meta);
        }

        let entry_type = entry.header().entry_type();
        match entry_type {
            tar::EntryType::Regular if raw_path.ends_with(b"/") => {
                // Pre-POSIX tars mark directories only with a trailing slash.
                self.create_dir(&rel, &meta)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.create_file(&rel, &meta, entry, last_parent)
            }
            tar::EntryType::Directory => self.create_dir(&rel, &meta),
            tar::EntryType::Symlink => {
                let target = link_target(entry, &rel)?;
                self.create_symlink(&rel, &target, &meta)
            }
            tar::EntryType::Link => {
                let target = link_target(entry, &rel)?;
                self.create_hardlink(&rel, &target)
            }
            tar::EntryType::Fifo => self.create_special(&rel, SFlag::S_IFIFO, 0, &meta),
            tar::EntryType::Char | tar::EntryType::Block => {
                if self.opts.in_user_namespace {
                    self.warnings.push(format!(
                        "skipped device node {}: devices cannot be created in a user namespace",
                        display_rel(&rel)
                    ));
                    return Ok(());
                }
                let kind = if entry_type == tar::EntryType::Char { SFlag::S_IFCHR } else { SFlag::S_IFBLK };
                let dev = device_number(entry.header(), &rel)?;
                self.create_special(&rel, kind, dev, &meta)
            }
            tar::EntryType::XGlobalHeader => Ok(()),
            other => {
                self.warnings.push(format!("skipped {}: unsupported tar entry type {:?}", display_rel(&rel), other));
                Ok(())
            }
        }
    }

    fn io_err<E: Into<io::Error>>(&self, rel: &[Vec<u8>]) -> impl FnOnce(E) -> LayerError {
        io_err_at(self.dest, rel)
    }

    // --- resolution ------------------------------------------------------

    /// Opens directory `dir` (layer-relative) as an O_PATH fd without letting
    /// symlinks lead outside the root; creates missing directories (0755) if asked.
    fn open_dir(&self, dir: &[Vec<u8>], create_missing: bool) -> Result<OwnedFd, LayerError> {
        if dir.is_empty() {
            return self.root.try_clone().map_err(self.io_err(dir));
        }
        match self.resolver {
            Resolver::Openat2 => self.open_dir_openat2(dir, create_missing),
            Resolver::NoSymlinkWalk => self.open_dir_walk(dir, create_missing),
        }
    }

    fn open_dir_openat2(&self, dir: &[Vec<u8>], create: bool) -> Result<OwnedFd, LayerError> {
        match self.resolve_in_root(dir)? {
            Ok(fd) => Ok(fd),
            Err(Errno::ENOENT) if create => self.create_missing_dirs(dir),
            Err(e) => Err(self.resolution_error(dir, e)),
        }
    }

    /// The outer Result is for paths that cannot be expressed; the inner one is the syscall's.
    fn resolve_in_root(&self, dir: &[Vec<u8>]) -> Result<nix::Result<OwnedFd>, LayerError> {
        let path = rel_to_cstring(dir).map_err(self.io_err(dir))?;
        Ok(openat2_in_root(self.root.as_fd(), &path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC))
    }

    /// Creates the missing tail of `dir` one level at a time; every prefix is
    /// re-resolved in the root so a symlink in the path cannot lead outside.
    fn create_missing_dirs(&self, dir: &[Vec<u8>]) -> Result<OwnedFd, LayerError> {
        let mut current = self.root.try_clone().map_err(self.io_err(&[]))?;
        for (depth, component) in dir.iter().enumerate() {
            let prefix = dir.get(..=depth).unwrap_or(dir);
            match self.resolve_in_root(prefix)? {
                Ok(fd) => current = fd,
                Err(Errno::ENOENT) => {
                    let name = bytes_to_cstring(component).map_err(self.io_err(prefix))?;
                    match make_dir(current.as_fd(), &name, 0o755) {
                        Ok(_) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                            return Err(LayerError::BadArchive(format!(
                                "{}: is a symlink to a missing directory",
                                display_rel(prefix)
                            )));
                        }
                        Err(e) => return Err(self.io_err(prefix)(e)),
                    }
                    current = match self.resolve_in_root(prefix)? {
                        Ok(fd) => fd,
                        Err(e) => return Err(self.resolution_error(prefix, e)),
                    };
                }
                Err(e) => return Err(self.resolution_error(prefix, e)),
            }
        }
        Ok(current)
    }

    fn open_dir_walk(&self, dir: &[Vec<u8>], create: bool) -> Result<OwnedFd, LayerError> {
        let mut current = self.root.try_clone().map_err(self.io_err(&[]))?;
        for (depth, component) in dir.iter().enumerate() {
            let prefix = dir.get(..=depth).unwrap_or(dir);
            let name = bytes_to_cstring(component).map_err(self.io_err(prefix))?;
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            current = match openat(current.as_fd(), name.as_c_str(), flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if create => make_dir(current.as_fd(), &name, 0o755).map_err(self.io_err(prefix))?,
                Err(Errno::ENOTDIR | Errno::ELOOP) => {
                    let st = lstat_at(current.as_fd(), &name).map_err(self.io_err(prefix))?;
                    return Err(match st {
                        Some(st) if file_type(&st) == libc::S_IFLNK => LayerError::UnsafePath(format!(
                            "{}: refusing to follow a symlink in a parent path",
                            display_rel(prefix)
                        )),
                        _ => self.resolution_error(prefix, Errno::ENOTDIR),
                    });
                }
                Err(e) => return Err(self.io_err(prefix)(e)),
            };
        }
        Ok(current)
    }

    fn resolution_error(&self, dir: &[Vec<u8>], e: Errno) -> LayerError {
        match e {
            Errno::ENOTDIR => {
                LayerError::BadArchive(format!("{}: a parent path component is not a directory", display_rel(dir)))
            }
            Errno::EXDEV | Errno::ELOOP => {
                LayerError::UnsafePath(format!("{}: cannot be resolved inside the layer root ({e})", display_rel(dir)))
            }
            e => self.io_err(dir)(e),
        }
    }

    /// Opens the parent of `rel` and returns it with the final component's name.
    fn open_parent(&self, rel: &[Vec<u8>], create_missing: bool) -> Result<(OwnedFd, CString), LayerError> {
        let Some((name, parent)) = rel.split_last() else {
            return Err(LayerError::BadArchive("an entry names the layer root".to_owned()));
        };
        let parent_fd = self.open_dir(parent, create_missing)?;
        let name = bytes_to_cstring(name).map_err(self.io_err(rel))?;
        Ok((parent_fd, name))
    }

    /// Makes room for a new node: removes whatever is there, except that an
    /// existing directory is kept when `keep_dir` (directory over directory).
    /// Returns whether a directory was kept.
    fn clear_name(
        &self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        rel: &[Vec<u8>],
        keep_dir: bool,
    ) -> Result<bool, LayerError> {
        let Some(st) = lstat_at(parent, name).map_err(self.io_err(rel))? else {
            return Ok(false);
        };
        if keep_dir && is_dir(&st) {
            return Ok(true);
        }
        remove_tree_at(parent, name).map_err(self.io_err(rel))?;
        Ok(false)
    }

    /// Makes a new node named `name` with `create` (which fails with EEXIST rather than follow
    /// or reuse what is there); where the name is taken, clears it, as a later layer entry
    /// replaces an earlier one, and makes it again. Trying first spares a lookup per entry:
    /// the name is nearly always free.
    fn create_replacing<T>(
        &self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        rel: &[Vec<u8>],
        create: impl Fn() -> nix::Result<T>,
    ) -> Result<T, LayerError> {
        match create() {
            Err(Errno::EEXIST) => {
                self.clear_name(parent, name, rel, false)?;
                create().map_err(self.io_err(rel))
            }
            other => other.map_err(self.io_err(rel)),
        }
    }

    // --- node creation ---------------------------------------------------

    /// `last_parent` is the directory the previous entry, a regular file, went into.
    fn create_file(
        &mut self,
        rel: &[Vec<u8>],
        meta: &EntryMeta,
        data: &mut impl Read,
        last_parent: Option<(Vec<Vec<u8>>, OwnedFd)>,
    ) -> Result<(), LayerError> {
        let parent_rel = rel.split_last().map_or(&[][..], |(_, parent)| parent);
        let (parent, name) = match last_parent {
            Some((path, fd)) if path == parent_rel => {
                (fd, bytes_to_cstring(rel.last().expect("a file has a name")).map_err(self.io_err(rel))?)
            }
            _ => self.open_parent(rel, true)?,
        };
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = self.create_replacing(parent.as_fd(), &name, rel, || {
            openat(parent.as_fd(), name.as_c_str(), flags, Mode::from_bits_truncate(0o600))
        })?;
        let mut file = File::from(fd);
        self.copy_entry_data(data, &mut file, rel)?;
        self.apply_metadata(Node::Fd(file.as_fd()), rel, meta, NodeKind::File)?;
        self.last_parent = Some((parent_rel.to_vec(), parent));
        Ok(())
    }

    /// Read errors mean a truncated or corrupt archive; write errors are ours.
    fn copy_entry_data(&mut self, data: &mut impl Read, file: &mut File, rel: &[Vec<u8>]) -> Result<(), LayerError> {
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(LayerError::BadArchive(format!("{}: reading file data: {e}", display_rel(rel))));
                }
            };
            let chunk = self.buf.get(..n).unwrap_or(&self.buf);
            file.write_all(chunk).map_err(io_err_at(self.dest, rel))?;
        }
    }

    fn create_dir(&mut self, rel: &[Vec<u8>], meta: &EntryMeta) -> Result<(), LayerError> {
        let (parent, name) = self.open_parent(rel, true)?;
        let kept = self.clear_name(parent.as_fd(), &name, rel, true)?;
        let dir = if kept {
            open_dir_nofollow(parent.as_fd(), &name).map_err(self.io_err(rel))?
        } else {
            make_dir(parent.as_fd(), &name, 0o700).map_err(self.io_err(rel))?
        };
        self.apply_metadata(Node::Fd(dir.as_fd()), rel, meta, NodeKind::Dir)?;
        let st = fstat(&dir).map_err(self.io_err(rel))?;
        self.dir_times.push(DirTimes {
            rel: rel.to_vec(),
            dev: st.st_dev,
            ino: st.st_ino,
            atime: meta.atime,
            mtime: meta.mtime,
        });
        Ok(())
    }

    /// The target is stored verbatim: an absolute or climbing target is only
    /// dangerous if followed, and nothing here follows symlinks outside the root.
    fn create_symlink(&mut self, rel: &[Vec<u8>], target: &[u8], meta: &EntryMeta) -> Result<(), LayerError> {
        if target.is_empty() || target.contains(&0) {
            return Err(LayerError::BadArchive(format!("{}: invalid symlink target", display_rel(rel))));
        }
        let (parent, name) = self.open_parent(rel, true)?;
        self.create_replacing(parent.as_fd(), &name, rel, || {
            symlinkat(OsStr::from_bytes(target), parent.as_fd(), name.as_c_str())
        })?;
        let node = Node::At { parent: parent.as_fd(), name: &name };
        self.apply_metadata(node, rel, meta, NodeKind::Symlink)
    }

    /// The link target is resolved in the root like any other path, so it can
    /// only ever name a file of this layer.
    fn create_hardlink(&mut self, rel: &[Vec<u8>], target_raw: &[u8]) -> Result<(), LayerError> {
        let target = normalize_layer_path(target_raw).map_err(|_| {
            LayerError::UnsafePath(format!(
                "{}: hard link target {} climbs above the layer root",
                display_rel(rel),
                String::from_utf8_lossy(target_raw)
            ))
        })?;
        if target.is_empty() {
            return Err(LayerError::BadArchive(format!("{}: hard link to the layer root", display_rel(rel))));
        }
        if target.as_slice() == rel {
            return Ok(()); // a link to itself: the file is already there
        }
        let missing_target = || {
            LayerError::BadArchive(format!(
                "{}: hard link target {} does not exist in this layer",
                display_rel(rel),
                display_rel(&target)
            ))
        };
        let (target_parent, target_name) = match self.open_parent(&target, false) {
            Ok(found) => found,
            Err(LayerError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(missing_target());
            }
            Err(e) => return Err(e),
        };
        match lstat_at(target_parent.as_fd(), &target_name).map_err(self.io_err(&target))? {
            None => return Err(missing_target()),
            Some(st) if is_dir(&st) => {
                return Err(LayerError::BadArchive(format!(
                    "{}: hard link to directory {}",
                    display_rel(rel),
                    display_rel(&target)
                )));
            }
            Some(_) => {}
        }
        let (parent, name) = self.open_parent(rel, true)?;
        self.clear_name(parent.as_fd(), &name, rel, false)?;
        // Flags 0: a symlink target is linked as the symlink itself, never followed.
        linkat(target_parent.as_fd(), target_name.as_c_str(), parent.as_fd(), name.as_c_str(), AtFlags::empty())
            .map_err(self.io_err(rel))
    }

    fn create_special(
        &mut self,
        rel: &[Vec<u8>],
        kind: SFlag,
        dev: libc::dev_t,
        meta: &EntryMeta,
    ) -> Result<(), LayerError> {
        let (parent, name) = self.open_parent(rel, true)?;
        self.clear_name(parent.as_fd(), &name, rel, false)?;
        mknodat(parent.as_fd(), name.as_c_str(), kind, Mode::from_bits_truncate(0o600), dev)
            .map_err(self.io_err(rel))?;
        let node = Node::At { parent: parent.as_fd(), name: &name };
        self.apply_metadata(node, rel, meta, NodeKind::Special)
    }

    // --- whiteouts -------------------------------------------------------

    /// `.wh.NAME`: NAME is deleted from the lower layers, so it becomes an
    /// overlay whiteout here (replacing anything this layer put there).
    fn create_whiteout(
        &mut self,
        parent: &[Vec<u8>],
        hidden: &[u8],
        entry_rel: &[Vec<u8>],
        meta: &EntryMeta,
    ) -> Result<(), LayerError> {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(LayerError::BadArchive(format!("{}: invalid whiteout name", display_rel(entry_rel))));
        }
        let mut rel = parent.to_vec();
        rel.push(hidden.to_vec());
        let (parent_fd, name) = self.open_parent(&rel, true)?;
        self.clear_name(parent_fd.as_fd(), &name, &rel, false)?;
        if self.whiteout_style == WhiteoutStyle::Device {
            let dev = libc::makedev(0, 0);
            match mknodat(parent_fd.as_fd(), name.as_c_str(), SFlag::S_IFCHR, Mode::empty(), dev) {
                Ok(()) => {
                    return self.apply_whiteout_metadata(parent_fd.as_fd(), &name, &rel, meta);
                }
                Err(Errno::EPERM) => {
                    self.whiteout_style = WhiteoutStyle::Xattr;
                    self.warnings.push(format!(
                        "cannot create whiteout device {} (EPERM): using xattr whiteouts, \
                         which need Linux 6.7 or newer",
                        display_rel(&rel)
                    ));
                }
                Err(e) => return Err(self.io_err(&rel)(e)),
            }
        }
        self.create_xattr_whiteout(parent_fd.as_fd(), &name, &rel)?;
        self.apply_whiteout_metadata(parent_fd.as_fd(), &name, &rel, meta)
    }

    /// Like Docker, a whiteout keeps the owner and times of its `.wh.` entry
    /// (so packing reproduces the entry); its mode stays 0 and xattrs are dropped.
    fn apply_whiteout_metadata(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        rel: &[Vec<u8>],
        meta: &EntryMeta,
    ) -> Result<(), LayerError> {
        let node = Node::At { parent, name };
        self.set_owner(node, rel, meta)?;
        node.set_times(&meta.atime, &meta.mtime).map_err(self.io_err(rel))
    }

    /// Kernel >= 6.7 form: an empty file with `<prefix>whiteout`, whose parent
    /// must carry `<prefix>opaque` = "x" for overlayfs to look for it.
    fn create_xattr_whiteout(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        rel: &[Vec<u8>],
    ) -> Result<(), LayerError> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let file = openat(parent, name, flags, Mode::empty()).map_err(self.io_err(rel))?;
        let whiteout_key = self.opts.overlay_xattr("whiteout").map_err(self.io_err(rel))?;
        Node::Fd(file.as_fd()).set_xattr(&whiteout_key, b"y").map_err(self.io_err(rel))?;

        let parent_rel = rel.get(..rel.len().saturating_sub(1)).unwrap_or_default();
        let dir = openat(parent, c".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(self.io_err(parent_rel))?;
        let opaque_key = self.opts.overlay_xattr("opaque").map_err(self.io_err(rel))?;
        let node = Node::Fd(dir.as_fd());
        // "y" (fully opaque) already hides everything below; do not weaken it to "x".
        let current = node.get_xattr(&opaque_key).map_err(self.io_err(parent_rel))?;
        if current.as_deref() != Some(b"y") {
            node.set_xattr(&opaque_key, b"x").map_err(self.io_err(parent_rel))?;
        }
        Ok(())
    }

    /// `DIR/.wh..wh..opq`: DIR hides everything the lower layers have in it.
    fn mark_opaque(&mut self, dir: &[Vec<u8>]) -> Result<(), LayerError> {
        let path_fd = self.open_dir(dir, true)?;
        // An O_PATH fd cannot carry xattr calls; reopen the same directory for real.
        let real =
            openat(path_fd.as_fd(), c".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(self.io_err(dir))?;
        let key = self.opts.overlay_xattr("opaque").map_err(self.io_err(dir))?;
        Node::Fd(real.as_fd()).set_xattr(&key, b"y").map_err(self.io_err(dir))
    }

    // --- metadata --------------------------------------------------------

    /// Order matters: chown clears setuid/setgid and file capabilities, so
    /// mode and xattrs come after it, and times come last.
    fn apply_metadata(
        &mut self,
        node: Node<'_>,
        rel: &[Vec<u8>],
        meta: &EntryMeta,
        kind: NodeKind,
    ) -> Result<(), LayerError> {
        self.set_owner(node, rel, meta)?;
        if kind != NodeKind::Symlink {
            node.chmod(meta.mode).map_err(self.io_err(rel))?;
        }
        self.set_xattrs(node, rel, meta)?;
        if kind != NodeKind::Dir {
            node.set_times(&meta.atime, &meta.mtime).map_err(self.io_err(rel))?;
        }
        Ok(())
    }

    /// EPERM/EINVAL mean the id is not mapped in our user namespace (or we are
    /// unprivileged): the layer is still usable, so warn once and go on.
    fn set_owner(&mut self, node: Node<'_>, rel: &[Vec<u8>], meta: &EntryMeta) -> Result<(), LayerError> {
        match node.chown(meta.uid, meta.gid) {
            Ok(()) => Ok(()),
            Err(e @ (Errno::EPERM | Errno::EINVAL)) => {
                self.warnings.once("chown".to_owned(), || {
                    format!(
                        "cannot set owner of {} to {}:{} ({e}); further ownership errors are not reported",
                        display_rel(rel),
                        meta.uid,
                        meta.gid
                    )
                });
                Ok(())
            }
            Err(e) => Err(self.io_err(rel)(e)),
        }
    }

    fn set_xattrs(&mut self, node: Node<'_>, rel: &[Vec<u8>], meta: &EntryMeta) -> Result<(), LayerError> {
        for (key, value) in &meta.xattrs {
            let key_text = key.to_string_lossy();
            if is_overlay_xattr(key.to_bytes()) {
                // Overlay metadata (redirects, metacopy...) from an untrusted
                // layer could make overlayfs look where it should not.
                self.warnings.once(format!("overlay-xattr:{key_text}"), || {
                    format!("ignored overlay xattr {key_text} on {} from the layer archive", display_rel(rel))
                });
                continue;
            }
            match node.set_xattr(key, value) {
                Ok(()) => {}
                Err(e) if is_tolerable_xattr_error(&e) => {
                    self.warnings.once(format!("xattr:{key_text}"), || {
                        format!(
                            "cannot set xattr {key_text} on {} ({e}); further failures for this xattr are not reported",
                            display_rel(rel)
                        )
                    });
                }
                Err(e) => return Err(self.io_err(rel)(e)),
            }
        }
        Ok(())
    }

    fn apply_dir_times(&mut self) -> Result<(), LayerError> {
        for stamp in std::mem::take(&mut self.dir_times) {
            // A later entry may have removed or replaced the directory: skip it then.
            let Ok((parent, name)) = self.open_parent(&stamp.rel, false) else {
                continue;
            };
            let Ok(dir) = open_dir_nofollow(parent.as_fd(), &name) else {
                continue;
            };
            let Ok(st) = fstat(&dir) else { continue };
            if (st.st_dev, st.st_ino) != (stamp.dev, stamp.ino) {
                continue;
            }
            futimens(&dir, &stamp.atime, &stamp.mtime).map_err(self.io_err(&stamp.rel))?;
        }
        Ok(())
    }
}

/// Unprivileged or unsupported: security.*, trusted.*, user.* on symlinks, odd labels.
fn is_tolerable_xattr_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES | libc::EOPNOTSUPP | libc::EINVAL | libc::E2BIG))
}

fn bad_header(rel: &[Vec<u8>], what: &str, e: io::Error) -> LayerError {
    LayerError::BadArchive(format!("{}: invalid {what}: {e}", display_rel(rel)))
}

fn read_entry_meta<R: Read>(entry: &mut tar::Entry<'_, R>, rel: &[Vec<u8>]) -> Result<EntryMeta, LayerError> {
    let header = entry.header();
    let mode = header.mode().map_err(|e| bad_header(rel, "mode", e))? & 0o7777;
    // The tar crate has already applied PAX uid/gid records to the header.
    let uid = header.uid().map_err(|e| bad_header(rel, "uid", e))?;
    let gid = header.gid().map_err(|e| bad_header(rel, "gid", e))?;
    let mtime_secs = header.mtime().map_err(|e| bad_header(rel, "mtime", e))?;
    let (uid, gid) = match (u32::try_from(uid), u32::try_from(gid)) {
        (Ok(uid), Ok(gid)) => (uid, gid),
        _ => {
            return Err(LayerError::BadArchive(format!("{}: owner {uid}:{gid} is out of range", display_rel(rel))));
        }
    };
    let mut mtime = TimeSpec::new(i64::try_from(mtime_secs).unwrap_or(i64::MAX), 0);
    let mut atime = None;
    let mut xattrs = Vec::new();

    let pax = entry.pax_extensions().map_err(|e| bad_header(rel, "pax header", e))?;
    for record in pax.into_iter().flatten() {
        let record = record.map_err(|e| bad_header(rel, "pax record", e))?;
        let key = record.key_bytes();
        if key == b"mtime" {
            if let Some(t) = parse_pax_time(record.value_bytes()) {
                mtime = t;
            }
        } else if key == b"atime" {
            atime = parse_pax_time(record.value_bytes());
        } else if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
            let name = bytes_to_cstring(name).map_err(|e| bad_header(rel, "xattr name", e))?;
            xattrs.push((name, record.value_bytes().to_vec()));
        }
    }
    Ok(EntryMeta { mode, uid, gid, atime: atime.unwrap_or(mtime), mtime, xattrs })
}

/// PAX times are decimal seconds with an optional fraction, possibly negative.
fn parse_pax_time(value: &[u8]) -> Option<TimeSpec> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let secs: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut nanos: i64 = 0;
    for i in 0..9 {
        let digit = fraction.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        nanos = nanos * 10 + digit;
    }
    Some(match (negative, nanos) {
        (false, _) => TimeSpec::new(secs, nanos),
        (true, 0) => TimeSpec::new(-secs, 0),
        (true, _) => TimeSpec::new(-secs - 1, 1_000_000_000 - nanos),
    })
}

fn format_pax_time(secs: i64, nanos: i64) -> String {
    if secs >= 0 || nanos == 0 {
        format!("{secs}.{nanos:09}")
    } else {
        // secs + nanos/1e9 with secs negative, e.g. (-2, 0.5e9) is -1.5.
        format!("-{}.{:09}", -(secs + 1), 1_000_000_000 - nanos)
    }
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>, rel: &[Vec<u8>]) -> Result<Vec<u8>, LayerError> {
    entry
        .link_name_bytes()
        .map(|target| target.into_owned())
        .ok_or_else(|| LayerError::BadArchive(format!("{}: link entry without a target", display_rel(rel))))
}

fn device_number(header: &tar::Header, rel: &[Vec<u8>]) -> Result<libc::dev_t, LayerError> {
    let major = header.device_major().map_err(|e| bad_header(rel, "device major", e))?.unwrap_or(0);
    let minor = header.device_minor().map_err(|e| bad_header(rel, "device minor", e))?.unwrap_or(0);
    Ok(libc::makedev(major, minor))
}

// ---------------------------------------------------------------------------
// Packing
// ---------------------------------------------------------------------------

/// Write a tar of an overlay upper dir, the inverse of [`unpack_layer`].
///
/// 0/0 character devices and `<prefix>whiteout` files become `.wh.NAME`
/// entries, directories with `<prefix>opaque` = "y" get a `DIR/.wh..wh..opq`
/// entry, hard links (same inode) become link entries. Overlay xattrs and
/// security.selinux are not written; other xattrs go into SCHILY.xattr PAX
/// records. Sockets are skipped. Returns the number of bytes written.
///
/// The upper dir must not be in use by a running overlay mount that uses
/// redirect_dir or metacopy: such directories/files are refused.
///
/// Entries whose tar paths are in `skip` ("etc/hosts", "proc") are left out, with all that is
/// under them.
pub fn pack_upper_dir(
    src: &Path,
    out: impl Write,
    opts: &UnpackOptions,
    skip: &HashSet<Vec<u8>>,
) -> Result<u64, LayerError> {
    let root = nix::fcntl::open(src, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| LayerError::Io { path: src.to_owned(), source: e.into() })?;
    let mut packer = Packer {
        builder: tar::Builder::new(CountingWriter { inner: out, count: 0 }),
        src,
        opts,
        hardlinks: HashMap::new(),
        skip,
    };
    packer.pack_dir_contents(root.as_fd(), &[])?;
    let counting =
        packer.builder.into_inner().map_err(|e| LayerError::Io { path: PathBuf::from("<layer output>"), source: e })?;
    Ok(counting.count)
}

struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Yields exactly `remaining` bytes: tar headers carry the size up front, so
/// a file that shrinks while being read must be an error, not a corrupt tar.
pub(crate) struct ExactSizeReader<R> {
    pub(crate) inner: R,
    pub(crate) remaining: u64,
    /// The error's text when the file ends early ("file shrank while being packed").
    pub(crate) shrank: &'static str,
}

impl<R: Read> Read for ExactSizeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let n = (&mut self.inner).take(self.remaining).read(buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, self.shrank));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

struct Packer<'a, W: Write> {
    builder: tar::Builder<CountingWriter<W>>,
    src: &'a Path,
    opts: &'a UnpackOptions,
    /// (dev, ino) of multiply-linked files already written, with their tar path.
    hardlinks: HashMap<(u64, u64), Vec<u8>>,
    skip: &'a HashSet<Vec<u8>>,
}

/// Overlay xattrs of one node, keyed by their suffix after the configured prefix.
struct NodeXattrs {
    overlay: HashMap<Vec<u8>, Vec<u8>>,
    portable: Vec<(CString, Vec<u8>)>,
}

impl<W: Write> Packer<'_, W> {
    fn io_err<E: Into<io::Error>>(&self, path: &[u8]) -> impl FnOnce(E) -> LayerError {
        let path = self.src.join(OsStr::from_bytes(path));
        move |e| LayerError::Io { path, source: e.into() }
    }

    fn pack_dir_contents(&mut self, dir: BorrowedFd<'_>, dir_path: &[u8]) -> Result<(), LayerError> {
        let mut names = list_dir_names(dir).map_err(self.io_err(dir_path))?;
        // Sorted for reproducible layers.
        names.sort();
        for name in names {
            let path = join_tar_path(dir_path, name.to_bytes());
            if self.skip.contains(&path) {
                continue;
            }
            self.pack_node(dir, &name, &path)?;
        }
        Ok(())
    }

    fn pack_node(&mut self, parent: BorrowedFd<'_>, name: &CStr, path: &[u8]) -> Result<(), LayerError> {
        let Some(st) = lstat_at(parent, name).map_err(self.io_err(path))? else {
            return Ok(()); // removed while we were packing
        };
        let node = Node::At { parent, name };
        let xattrs = self.read_xattrs(node, path)?;
        let kind = file_type(&st);
        let is_whiteout = (kind == libc::S_IFCHR && st.st_rdev == 0)
            || (kind == libc::S_IFREG && xattrs.overlay.contains_key(b"whiteout".as_slice()));
        if is_whiteout {
            return self.append_whiteout(path, &st);
        }
        if kind == libc::S_IFDIR {
            return self.pack_dir(parent, name, path, &st, &xattrs);
        }
        if kind == libc::S_IFSOCK {
            return Ok(()); // sockets are not part of images
        }
        if kind == libc::S_IFREG && xattrs.overlay.contains_key(b"metacopy".as_slice()) {
            return Err(self.unsupported(path, "metacopy"));
        }
        if st.st_nlink > 1 && self.append_hardlink_if_seen(path, &st)? {
            return Ok(());
        }
        match kind {
            libc::S_IFREG => self.append_file(parent, name, path, &st, &xattrs),
            libc::S_IFLNK => self.append_symlink(parent, name, path, &st, &xattrs),
            libc::S_IFIFO => self.append_special(path, &st, &xattrs, tar::EntryType::Fifo),
            libc::S_IFCHR => self.append_special(path, &st, &xattrs, tar::EntryType::Char),
            libc::S_IFBLK => self.append_special(path, &st, &xattrs, tar::EntryType::Block),
            _ => Ok(()),
        }
    }

    fn unsupported(&self, path: &[u8], feature: &str) -> LayerError {
        LayerError::UnsupportedOverlayFeature {
            path: self.src.join(OsStr::from_bytes(path)),
            feature: feature.to_owned(),
        }
    }

    fn read_xattrs(&self, node: Node<'_>, path: &[u8]) -> Result<NodeXattrs, LayerError> {
        let prefix = self.opts.overlay_xattr_prefix.as_bytes();
        let mut xattrs = NodeXattrs { overlay: HashMap::new(), portable: Vec::new() };
        for key in node.list_xattrs().map_err(self.io_err(path))? {
            let key_bytes = key.to_bytes();
            let Some(value) = node.get_xattr(&key).map_err(self.io_err(path))? else {
                continue;
            };
            if let Some(suffix) = key_bytes.strip_prefix(prefix) {
                xattrs.overlay.insert(suffix.to_vec(), value);
            } else if !is_overlay_xattr(key_bytes) && key_bytes != SELINUX_XATTR {
                xattrs.portable.push((key, value));
            }
        }
        xattrs.portable.sort();
        Ok(xattrs)
    }

    fn pack_dir(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        path: &[u8],
        st: &FileStat,
        xattrs: &NodeXattrs,
    ) -> Result<(), LayerError> {
        if xattrs.overlay.contains_key(b"redirect".as_slice()) {
            return Err(self.unsupported(path, "redirect_dir"));
        }
        let mut header = base_header(st, tar::EntryType::Directory);
        let mut dir_path = path.to_vec();
        dir_path.push(b'/');
        self.append_pax(st, xattrs, path)?;
        self.builder.append_data(&mut header, OsStr::from_bytes(&dir_path), io::empty()).map_err(self.io_err(path))?;
        if xattrs.overlay.get(b"opaque".as_slice()).map(Vec::as_slice) == Some(b"y") {
            let marker = join_tar_path(path, OPAQUE_MARKER);
            let mut header = base_header(st, tar::EntryType::Regular);
            header.set_mode(st.st_mode & 0o777);
            self.builder
                .append_data(&mut header, OsStr::from_bytes(&marker), io::empty())
                .map_err(self.io_err(path))?;
        }
        let dir = open_dir_nofollow(parent, name).map_err(self.io_err(path))?;
        self.pack_dir_contents(dir.as_fd(), path)
    }

    /// Docker's form: an empty regular file named `.wh.NAME`, mode 0600.
    fn append_whiteout(&mut self, path: &[u8], st: &FileStat) -> Result<(), LayerError> {
        let mut parts = path.rsplitn(2, |b| *b == b'/');
        let name = parts.next().unwrap_or(path);
        let dir = parts.next().unwrap_or_default();
        let mut whiteout_name = WHITEOUT_PREFIX.to_vec();
        whiteout_name.extend_from_slice(name);
        let whiteout_path = join_tar_path(dir, &whiteout_name);
        let mut header = base_header(st, tar::EntryType::Regular);
        header.set_mode(0o600);
        self.builder.append_data(&mut header, OsStr::from_bytes(&whiteout_path), io::empty()).map_err(self.io_err(path))
    }

    /// Returns true if an earlier path had this inode and a link entry was written.
    fn append_hardlink_if_seen(&mut self, path: &[u8], st: &FileStat) -> Result<bool, LayerError> {
        let key = (st.st_dev, st.st_ino);
        let Some(first) = self.hardlinks.get(&key).cloned() else {
            self.hardlinks.insert(key, path.to_vec());
            return Ok(false);
        };
        let mut header = base_header(st, tar::EntryType::Link);
        self.builder
            .append_link(&mut header, OsStr::from_bytes(path), OsStr::from_bytes(&first))
            .map_err(self.io_err(path))?;
        Ok(true)
    }

    fn append_file(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        path: &[u8],
        st: &FileStat,
        xattrs: &NodeXattrs,
    ) -> Result<(), LayerError> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(parent, name, flags, Mode::empty()).map_err(self.io_err(path))?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let data = ExactSizeReader { inner: File::from(fd), remaining: size, shrank: "file shrank while being packed" };
        let mut header = base_header(st, tar::EntryType::Regular);
        header.set_size(size);
        self.append_pax(st, xattrs, path)?;
        self.builder.append_data(&mut header, OsStr::from_bytes(path), data).map_err(self.io_err(path))
    }

    fn append_symlink(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        path: &[u8],
        st: &FileStat,
        xattrs: &NodeXattrs,
    ) -> Result<(), LayerError> {
        let target = nix::fcntl::readlinkat(parent, name).map_err(self.io_err(path))?;
        let mut header = base_header(st, tar::EntryType::Symlink);
        self.append_pax(st, xattrs, path)?;
        self.builder.append_link(&mut header, OsStr::from_bytes(path), &target).map_err(self.io_err(path))
    }

    fn append_special(
        &mut self,
        path: &[u8],
        st: &FileStat,
        xattrs: &NodeXattrs,
        entry_type: tar::EntryType,
    ) -> Result<(), LayerError> {
        let mut header = base_header(st, entry_type);
        if entry_type != tar::EntryType::Fifo {
            header.set_device_major(libc::major(st.st_rdev)).map_err(self.io_err(path))?;
            header.set_device_minor(libc::minor(st.st_rdev)).map_err(self.io_err(path))?;
        }
        self.append_pax(st, xattrs, path)?;
        self.builder.append_data(&mut header, OsStr::from_bytes(path), io::empty()).map_err(self.io_err(path))
    }

    /// Sub-second mtimes and xattrs only fit in a PAX header before the entry.
    fn append_pax(&mut self, st: &FileStat, xattrs: &NodeXattrs, path: &[u8]) -> Result<(), LayerError> {
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        if st.st_mtime_nsec != 0 || st.st_mtime < 0 {
            records.push(("mtime".to_owned(), format_pax_time(st.st_mtime, st.st_mtime_nsec).into_bytes()));
        }
        for (key, value) in &xattrs.portable {
            let key = key.to_str().map_err(|_| {
                self.io_err(path)(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("xattr name {} is not UTF-8", key.to_string_lossy()),
                ))
            })?;
            records.push((format!("SCHILY.xattr.{key}"), value.clone()));
        }
        if records.is_empty() {
            return Ok(());
        }
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(self.io_err(path))
    }
}

fn join_tar_path(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    path.push(b'/');
    path.extend_from_slice(name);
    path
}

/// A tar header with the type, mode, owner and mtime of `st`, and no size yet.
pub(crate) fn base_header(st: &FileStat, entry_type: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(entry_type);
    header.set_mode(st.st_mode & 0o7777);
    header.set_uid(u64::from(st.st_uid));
    header.set_gid(u64::from(st.st_gid));
    header.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    header.set_size(0);
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use tempfile::TempDir;

    const MTIME: u64 = 1_600_000_000;

    /// Real root: euid 0 inside a user namespace cannot mknod or set trusted.* xattrs.
    fn is_root() -> bool {
        nix::unistd::geteuid().is_root() && !running_in_user_namespace()
    }

    macro_rules! require_root {
        () => {
            if !is_root() {
                eprintln!("skipping: needs root (mknod, chown, trusted.* xattrs)");
                return;
            }
        };
    }

    /// Builds archives entry by entry, writing names verbatim so that hostile
    /// paths (which tar::Builder refuses) can be expressed.
    struct TarBuf {
        builder: tar::Builder<Vec<u8>>,
    }

    impl TarBuf {
        fn new() -> Self {
            TarBuf { builder: tar::Builder::new(Vec::new()) }
        }

        fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(MTIME);
            h.set_size(0);
            h
        }

        fn raw(&mut self, path: &str, mut h: tar::Header, link: Option<&str>, data: &[u8]) {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(link) = link {
                old.linkname = [0; 100];
                old.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            h.set_size(data.len() as u64);
            h.set_cksum();
            self.builder.append(&h, data).unwrap();
        }

        fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
            self.raw(path, Self::header(tar::EntryType::Directory, mode), None, b"");
            self
        }

        fn file(&mut self, path: &str, data: &[u8], mode: u32) -> &mut Self {
            self.file_owned(path, data, mode, 0, 0)
        }

        fn file_owned(&mut self, path: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> &mut Self {
            let mut h = Self::header(tar::EntryType::Regular, mode);
            h.set_uid(uid);
            h.set_gid(gid);
            self.raw(path, h, None, data);
            self
        }

        fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
            let h = Self::header(tar::EntryType::Symlink, 0o777);
            self.raw(path, h, Some(target), b"");
            self
        }

        fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
            let h = Self::header(tar::EntryType::Link, 0o644);
            self.raw(path, h, Some(target), b"");
            self
        }

        fn device(&mut self, path: &str, kind: tar::EntryType, major: u32, minor: u32) -> &mut Self {
            let mut h = Self::header(kind, 0o666);
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
            self.raw(path, h, None, b"");
            self
        }

        fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
            self.builder.append_pax_extensions(records.iter().copied()).unwrap();
            self
        }

        fn bytes(&mut self) -> Vec<u8> {
            let builder = std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()));
            builder.into_inner().unwrap()
        }
    }

    struct Scratch {
        tmp: TempDir,
    }

    impl Scratch {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::create_dir(tmp.path().join("layer")).unwrap();
            Scratch { tmp }
        }
        fn outer(&self) -> &Path {
            self.tmp.path()
        }
        fn dest(&self) -> PathBuf {
            self.tmp.path().join("layer")
        }
        fn path(&self, rel: &str) -> PathBuf {
            self.dest().join(rel)
        }
    }

    const BOTH: [Resolver; 2] = [Resolver::Openat2, Resolver::NoSymlinkWalk];

    fn unpack_using(
        bytes: &[u8],
        dest: &Path,
        opts: &UnpackOptions,
        resolver: Resolver,
        style: WhiteoutStyle,
    ) -> Result<UnpackStats, LayerError> {
        let root = open_layer_root(dest).unwrap();
        unpack_with(bytes, dest, root, opts, resolver, style)
    }

    fn unpack_in(bytes: &[u8], resolver: Resolver) -> (Scratch, Result<UnpackStats, LayerError>) {
        let s = Scratch::new();
        let result = unpack_using(bytes, &s.dest(), &UnpackOptions::ROOTFUL, resolver, WhiteoutStyle::Device);
        (s, result)
    }

    fn lstat(path: &Path) -> std::fs::Metadata {
        std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn exists_nofollow(path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }

    fn xattrs_of(path: &Path) -> BTreeMap<String, Vec<u8>> {
        let parent =
            nix::fcntl::open(path.parent().unwrap(), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let name = CString::new(path.file_name().unwrap().as_bytes()).unwrap();
        let node = Node::At { parent: parent.as_fd(), name: &name };
        node.list_xattrs()
            .unwrap()
            .into_iter()
            .map(|k| {
                let v = node.get_xattr(&k).unwrap().unwrap();
                (k.to_string_lossy().into_owned(), v)
            })
            .collect()
    }

    fn unique(tag: &str) -> String {
        format!("berth-{tag}-{}-{}", std::process::id(), fastish_nonce())
    }

    fn fastish_nonce() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    }

    // --- basic node types ------------------------------------------------

    #[test]
    fn a_file_after_its_directory_was_replaced_goes_where_the_path_now_leads() {
        // The unpacker reuses the last file's directory for the next file; a symlink or a
        // whiteout in between must end that, or `d/y` would land in the removed `d`.
        for resolver in BOTH {
            let bytes = TarBuf::new()
                .dir("d", 0o755)
                .file("d/x", b"x", 0o644)
                .dir("e", 0o755)
                .symlink("d", "e")
                .file("d/y", b"y", 0o644)
                .bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            match resolver {
                Resolver::Openat2 => {
                    result.unwrap();
                    assert_eq!(std::fs::read(s.path("e/y")).unwrap(), b"y");
                }
                Resolver::NoSymlinkWalk => assert!(matches!(result, Err(LayerError::UnsafePath(_)))),
            }
            assert!(!exists_nofollow(&s.path("e/x")));

            let bytes = TarBuf::new()
                .dir("d", 0o755)
                .file("d/x", b"x", 0o644)
                .file(".wh.d", b"", 0o644)
                .file("d/y", b"y", 0o644)
                .bytes();
            let (_s, result) = unpack_in(&bytes, resolver);
            assert!(result.is_err(), "d is a whiteout now, not a directory: {result:?}");
        }
    }

    #[test]
    fn files_of_one_directory_in_a_row_all_arrive() {
        let mut tar = TarBuf::new();
        tar.dir("a", 0o755).dir("a/b", 0o755);
        for i in 0..50 {
            tar.file(&format!("a/b/f{i}"), format!("{i}").as_bytes(), 0o644);
        }
        tar.file("a/top", b"top", 0o600).file("a/b/last", b"last", 0o644).file("a/b/f7", b"again", 0o644);
        let bytes = tar.bytes();
        for resolver in BOTH {
            let (s, result) = unpack_in(&bytes, resolver);
            result.unwrap();
            for i in 0..50 {
                let expected = if i == 7 { "again".to_owned() } else { format!("{i}") };
                assert_eq!(std::fs::read_to_string(s.path(&format!("a/b/f{i}"))).unwrap(), expected);
            }
            assert_eq!(std::fs::read(s.path("a/top")).unwrap(), b"top");
            assert_eq!(std::fs::read(s.path("a/b/last")).unwrap(), b"last");
        }
    }

    #[test]
    fn regular_files_dirs_modes_owners_and_setuid() {
        require_root!();
        for resolver in BOTH {
            let bytes = TarBuf::new()
                .dir("usr/", 0o755)
                .dir("usr/bin/", 0o755)
                .file_owned("usr/bin/su", b"su-binary", 0o4755, 0, 0)
                .file_owned("usr/bin/sg", b"sg", 0o2711, 1000, 1001)
                .dir("etc/", 0o750)
                .file_owned("etc/shadow", b"secret", 0o640, 0, 42)
                .dir("tmp/", 0o1777)
                .file("var/lib/implicit", b"x", 0o644)
                .bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            let stats = result.unwrap();
            assert_eq!(stats.entries, 8);
            assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);
            assert_eq!(std::fs::read(s.path("usr/bin/su")).unwrap(), b"su-binary");
            let mode = |p: &str| lstat(&s.path(p)).mode() & 0o7777;
            assert_eq!(mode("usr/bin/su"), 0o4755);
            assert_eq!(mode("usr/bin/sg"), 0o2711);
            assert_eq!(mode("etc"), 0o750);
            assert_eq!(mode("etc/shadow"), 0o640);
            assert_eq!(mode("tmp"), 0o1777);
            assert_eq!(mode("var/lib"), 0o755, "implicit parents are 0755");
            let sg = lstat(&s.path("usr/bin/sg"));
            assert_eq!((sg.uid(), sg.gid()), (1000, 1001));
            assert_eq!(lstat(&s.path("etc/shadow")).gid(), 42);
            // Directory times are applied after their children were created.
            for p in ["usr", "usr/bin", "etc", "tmp", "usr/bin/su"] {
                assert_eq!(lstat(&s.path(p)).mtime(), MTIME as i64, "{p}");
            }
        }
    }

    #[test]
    fn pax_nanosecond_times_and_xattrs() {
        require_root!();
        // A v2 file capability granting cap_net_raw (bit 13) permitted+effective.
        let mut cap = vec![0x01, 0x00, 0x00, 0x02];
        cap.extend_from_slice(&(1u32 << 13).to_le_bytes());
        cap.extend_from_slice(&[0; 12]);
        let bytes = TarBuf::new()
            .dir("bin/", 0o755)
            .pax(&[
                ("mtime", b"1600000000.123456789"),
                ("atime", b"1600000001.5"),
                ("SCHILY.xattr.user.comment", b"hello"),
                ("SCHILY.xattr.security.capability", &cap),
            ])
            .file("bin/ping", b"ping", 0o755)
            .pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")])
            .file("bin/sneaky", b"", 0o644)
            .bytes();
        let (s, result) = unpack_in(&bytes, Resolver::Openat2);
        let stats = result.unwrap();
        let ping = lstat(&s.path("bin/ping"));
        assert_eq!((ping.mtime(), ping.mtime_nsec()), (1_600_000_000, 123_456_789));
        assert_eq!((ping.atime(), ping.atime_nsec()), (1_600_000_001, 500_000_000));
        let xattrs = xattrs_of(&s.path("bin/ping"));
        assert_eq!(xattrs["user.comment"], b"hello");
        assert_eq!(xattrs["security.capability"], cap);
        assert!(xattrs_of(&s.path("bin/sneaky")).is_empty());
        assert!(stats.warnings.iter().any(|w| w.contains("trusted.overlay.redirect")), "{:?}", stats.warnings);
    }

    #[test]
    fn symlinks_are_stored_verbatim_with_their_own_metadata() {
        for resolver in BOTH {
            let bytes = TarBuf::new()
                .symlink("abs", "/etc/passwd")
                .symlink("climb", "../../../../x")
                .dir("d/", 0o755)
                .symlink("d/rel", "../abs")
                .bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            result.unwrap();
            assert_eq!(std::fs::read_link(s.path("abs")).unwrap(), Path::new("/etc/passwd"));
            assert_eq!(std::fs::read_link(s.path("climb")).unwrap(), Path::new("../../../../x"));
            assert_eq!(std::fs::read_link(s.path("d/rel")).unwrap(), Path::new("../abs"));
            assert_eq!(lstat(&s.path("abs")).mtime(), MTIME as i64);
            assert!(lstat(&s.path("abs")).file_type().is_symlink());
        }
    }

    #[test]
    fn hard_links_share_the_inode() {
        for resolver in BOTH {
            let bytes = TarBuf::new()
                .file("a", b"data", 0o644)
                .hardlink("b", "a")
                .hardlink("c", "./a")
                .dir("dir/", 0o755)
                .hardlink("dir/d", "/a")
                .hardlink("dir/e", "dir/../a")
                .bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            result.unwrap();
            let ino = lstat(&s.path("a")).ino();
            for p in ["b", "c", "dir/d", "dir/e"] {
                assert_eq!(lstat(&s.path(p)).ino(), ino, "{p}");
            }
            assert_eq!(lstat(&s.path("a")).nlink(), 5);
        }
    }

    #[test]
    fn hard_link_to_missing_target_is_an_error() {
        let bytes = TarBuf::new().hardlink("b", "nothere").bytes();
        let (_s, result) = unpack_in(&bytes, Resolver::Openat2);
        let err = result.unwrap_err();
        assert!(matches!(err, LayerError::BadArchive(_)), "{err}");
        assert!(err.to_string().contains("nothere"), "{err}");
    }

    #[test]
    fn device_nodes_are_created_as_root_and_skipped_in_user_namespaces() {
        require_root!();
        let bytes = TarBuf::new()
            .dir("dev/", 0o755)
            .device("dev/null", tar::EntryType::Char, 1, 3)
            .device("dev/loop0", tar::EntryType::Block, 7, 0)
            .device("dev/fifo", tar::EntryType::Fifo, 0, 0)
            .bytes();
        let (s, result) = unpack_in(&bytes, Resolver::Openat2);
        result.unwrap();
        let null = lstat(&s.path("dev/null"));
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), libc::makedev(1, 3));
        assert_eq!(null.mode() & 0o7777, 0o666);
        assert!(lstat(&s.path("dev/loop0")).file_type().is_block_device());
        assert!(lstat(&s.path("dev/fifo")).file_type().is_fifo());

        let s = Scratch::new();
        let stats = unpack_using(&bytes, &s.dest(), &UnpackOptions::ROOTLESS, Resolver::Openat2, WhiteoutStyle::Device)
            .unwrap();
        assert!(!exists_nofollow(&s.path("dev/null")));
        assert!(!exists_nofollow(&s.path("dev/loop0")));
        assert!(lstat(&s.path("dev/fifo")).file_type().is_fifo());
        assert!(stats.warnings.iter().any(|w| w.contains("dev/null")), "{:?}", stats.warnings);
        assert!(stats.warnings.iter().any(|w| w.contains("dev/loop0")), "{:?}", stats.warnings);
    }

    #[test]
    fn root_entries_are_skipped() {
        let bytes = TarBuf::new().dir("./", 0o700).dir(".", 0o700).dir("/", 0o700).bytes();
        let (s, result) = unpack_in(&bytes, Resolver::Openat2);
        assert_eq!(result.unwrap().entries, 3);
        assert_eq!(std::fs::read_dir(s.dest()).unwrap().count(), 0);
    }

    #[test]
    fn long_names_via_gnu_and_pax_headers() {
        let long_dir = "d".repeat(120);
        let long_path = format!("{long_dir}/{}", "f".repeat(120));
        let long_target = format!("/{}", "t".repeat(150));
        let mut t = TarBuf::new();
        let mut h = TarBuf::header(tar::EntryType::Regular, 0o644);
        h.set_size(4);
        t.builder.append_data(&mut h, &long_path, &b"long"[..]).unwrap();
        let pax_path = format!("{long_dir}/{}", "p".repeat(130));
        t.pax(&[("path", pax_path.as_bytes())]);
        t.file("short-name-ignored", b"pax", 0o644);
        let mut h = TarBuf::header(tar::EntryType::Symlink, 0o777);
        t.builder.append_link(&mut h, "longlink", &long_target).unwrap();
        let bytes = t.bytes();
        for resolver in BOTH {
            let (s, result) = unpack_in(&bytes, resolver);
            result.unwrap();
            assert_eq!(std::fs::read(s.path(&long_path)).unwrap(), b"long");
            assert_eq!(std::fs::read(s.path(&pax_path)).unwrap(), b"pax");
            assert!(!exists_nofollow(&s.path("short-name-ignored")));
            assert_eq!(std::fs::read_link(s.path("longlink")).unwrap(), Path::new(&long_target));
        }
    }

    // --- replacement -----------------------------------------------------

    #[test]
    fn later_entries_replace_earlier_ones() {
        for resolver in BOTH {
            let outside = Scratch::new();
            let victim = outside.outer().join("victim");
            std::fs::write(&victim, b"original").unwrap();
            let victim_dir = outside.outer().join("victimdir");
            std::fs::create_dir(&victim_dir).unwrap();
            let bytes = TarBuf::new()
                .file("f", b"old", 0o644)
                .file("f", b"new", 0o600)
                .symlink("s", victim.to_str().unwrap())
                .file("s", b"replaced", 0o644)
                .symlink("sd", victim_dir.to_str().unwrap())
                .dir("sd/", 0o777)
                .dir("d/", 0o755)
                .file("d/child", b"c", 0o644)
                .file("d", b"now a file", 0o644)
                .file("e", b"a file", 0o644)
                .dir("e/", 0o755)
                .dir("g/", 0o700)
                .file("g/keep", b"k", 0o644)
                .dir("g/", 0o751)
                .bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            result.unwrap();
            assert_eq!(std::fs::read(s.path("f")).unwrap(), b"new");
            assert_eq!(lstat(&s.path("f")).mode() & 0o7777, 0o600);
            assert_eq!(std::fs::read(s.path("s")).unwrap(), b"replaced");
            assert!(lstat(&s.path("s")).file_type().is_file());
            assert_eq!(std::fs::read(&victim).unwrap(), b"original");
            assert!(lstat(&s.path("sd")).is_dir());
            assert_ne!(lstat(&victim_dir).mode() & 0o777, 0o777);
            assert_eq!(std::fs::read(s.path("d")).unwrap(), b"now a file");
            assert!(lstat(&s.path("e")).is_dir());
            assert_eq!(std::fs::read(s.path("g/keep")).unwrap(), b"k");
            assert_eq!(lstat(&s.path("g")).mode() & 0o7777, 0o751);
        }
    }

    // --- whiteouts -------------------------------------------------------

    fn assert_no_whiteout_names(dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            assert!(!name.as_bytes().starts_with(WHITEOUT_PREFIX), "{} was written as a file", entry.path().display());
            if entry.file_type().unwrap().is_dir() {
                assert_no_whiteout_names(&entry.path());
            }
        }
    }

    fn assert_device_whiteout(path: &Path) {
        let st = lstat(path);
        assert!(st.file_type().is_char_device(), "{}", path.display());
        assert_eq!(st.rdev(), 0);
    }

    #[test]
    fn whiteouts_become_0_0_char_devices() {
        require_root!();
        for resolver in BOTH {
            let bytes = TarBuf::new()
                .dir("dir/", 0o755)
                .file("dir/gone", b"in this layer", 0o644)
                .file("dir/.wh.gone", b"", 0o644)
                .file(".wh.top", b"", 0o644)
                .file(".wh..wh.plnk", b"", 0o644)
                .file("x/.wh.y", b"", 0o644)
                .dir("tree/", 0o755)
                .file("tree/leaf", b"", 0o644)
                .file(".wh.tree", b"", 0o644)
                .bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            result.unwrap();
            assert_device_whiteout(&s.path("dir/gone"));
            assert_device_whiteout(&s.path("top"));
            assert_device_whiteout(&s.path("x/y"));
            assert_device_whiteout(&s.path("tree"));
            assert!(!exists_nofollow(&s.path(".wh..wh.plnk")));
            assert_no_whiteout_names(&s.dest());
            assert_eq!(lstat(&s.path("dir")).mtime(), MTIME as i64);
        }
    }

    #[test]
    fn opaque_markers_set_the_opaque_xattr() {
        require_root!();
        for (opts, key) in
            [(UnpackOptions::ROOTFUL, "trusted.overlay.opaque"), (UnpackOptions::ROOTLESS, "user.overlay.opaque")]
        {
            let bytes = TarBuf::new()
                .dir("dir/", 0o755)
                .file("dir/.wh..wh..opq", b"", 0o644)
                .file("dir/keep", b"k", 0o644)
                .file("newdir/.wh..wh..opq", b"", 0o644)
                .bytes();
            let s = Scratch::new();
            unpack_using(&bytes, &s.dest(), &opts, Resolver::Openat2, WhiteoutStyle::Device).unwrap();
            assert_eq!(xattrs_of(&s.path("dir"))[key], b"y");
            assert_eq!(xattrs_of(&s.path("newdir"))[key], b"y");
            assert!(s.path("dir/keep").exists());
            assert_no_whiteout_names(&s.dest());
        }
    }

    #[test]
    fn xattr_whiteout_fallback_marks_the_parent() {
        require_root!();
        let bytes = TarBuf::new()
            .dir("dir/", 0o755)
            .file("dir/gone", b"x", 0o644)
            .file("dir/.wh.gone", b"", 0o644)
            .dir("opq/", 0o755)
            .file("opq/.wh..wh..opq", b"", 0o644)
            .file("opq/.wh.hidden", b"", 0o644)
            .bytes();
        let s = Scratch::new();
        let opts = UnpackOptions::ROOTLESS;
        unpack_using(&bytes, &s.dest(), &opts, Resolver::Openat2, WhiteoutStyle::Xattr).unwrap();
        let gone = lstat(&s.path("dir/gone"));
        assert!(gone.file_type().is_file());
        assert_eq!(gone.len(), 0);
        assert_eq!(xattrs_of(&s.path("dir/gone"))["user.overlay.whiteout"], b"y");
        assert_eq!(xattrs_of(&s.path("dir"))["user.overlay.opaque"], b"x");
        // A fully opaque directory stays fully opaque.
        assert_eq!(xattrs_of(&s.path("opq"))["user.overlay.opaque"], b"y");

        let mut packed = Vec::new();
        pack_upper_dir(&s.dest(), &mut packed, &opts, &HashSet::new()).unwrap();
        let names = tar_names(&packed);
        assert!(names.contains(&"dir/.wh.gone".to_owned()), "{names:?}");
        assert!(names.contains(&"opq/.wh.hidden".to_owned()), "{names:?}");
        assert!(names.contains(&"opq/.wh..wh..opq".to_owned()), "{names:?}");
        assert!(!names.contains(&"dir/.wh..wh..opq".to_owned()), "{names:?}");
    }

    /// Runs unprivileged too: whichever whiteout form the kernel allows must
    /// come out, and packing must turn it back into `.wh.` entries.
    #[test]
    fn rootless_unpack_produces_whiteouts_that_pack_back() {
        let bytes = TarBuf::new()
            .dir("dir/", 0o755)
            .file("dir/.wh.gone", b"", 0o644)
            .file_owned("dir/owned", b"o", 0o644, 1000, 1000)
            .file("op/.wh..wh..opq", b"", 0o644)
            .bytes();
        let s = Scratch::new();
        let opts = UnpackOptions::ROOTLESS;
        let stats = unpack_layer(&bytes[..], &s.dest(), &opts).unwrap();
        let gone = lstat(&s.path("dir/gone"));
        let device_form = gone.file_type().is_char_device() && gone.rdev() == 0;
        let xattr_form = gone.file_type().is_file()
            && xattrs_of(&s.path("dir/gone")).contains_key("user.overlay.whiteout")
            && xattrs_of(&s.path("dir"))["user.overlay.opaque"] == b"x";
        assert!(device_form || xattr_form, "{gone:?} {:?}", stats.warnings);
        eprintln!("whiteout form: {}", if device_form { "device" } else { "xattr" });
        assert_eq!(xattrs_of(&s.path("op"))["user.overlay.opaque"], b"y");

        let mut packed = Vec::new();
        pack_upper_dir(&s.dest(), &mut packed, &opts, &HashSet::new()).unwrap();
        let names = tar_names(&packed);
        assert!(names.contains(&"dir/.wh.gone".to_owned()), "{names:?}");
        assert!(names.contains(&"op/.wh..wh..opq".to_owned()), "{names:?}");
        assert!(!names.contains(&"dir/.wh..wh..opq".to_owned()), "{names:?}");
    }

    #[test]
    fn openat2_is_detected_on_this_kernel() {
        let s = Scratch::new();
        let root = open_layer_root(&s.dest()).unwrap();
        let resolver = detect_resolver(root.as_fd(), &s.dest()).unwrap();
        eprintln!("resolver: {resolver:?}");
    }

    // --- hostile archives ------------------------------------------------

    #[test]
    fn dotdot_climbing_out_is_rejected() {
        for resolver in BOTH {
            for path in ["../escape", "a/../../escape", "./../escape", "/../escape"] {
                let bytes = TarBuf::new().file(path, b"x", 0o644).bytes();
                let (s, result) = unpack_in(&bytes, resolver);
                let err = result.unwrap_err();
                assert!(matches!(err, LayerError::UnsafePath(_)), "{path}: {err}");
                assert!(err.to_string().contains("escape"), "{err}");
                assert!(!exists_nofollow(&s.outer().join("escape")));
            }
            let bytes = TarBuf::new().file("a/../b", b"x", 0o644).bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            result.unwrap();
            assert!(s.path("b").exists());
        }
    }

    #[test]
    fn absolute_paths_land_inside_dest() {
        for resolver in BOTH {
            let bytes = TarBuf::new()
                .file("/etc/x", b"abs", 0o644)
                .file("./etc/y", b"dot", 0o644)
                .file("//etc///z", b"slashes", 0o644)
                .bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            result.unwrap();
            assert_eq!(std::fs::read(s.path("etc/x")).unwrap(), b"abs");
            assert_eq!(std::fs::read(s.path("etc/y")).unwrap(), b"dot");
            assert_eq!(std::fs::read(s.path("etc/z")).unwrap(), b"slashes");
        }
    }

    /// Runs `build(outer_dir, unique_name)` for both resolvers and checks that
    /// nothing appeared at `outside(outer_dir, unique_name)`.
    fn assert_contained(
        build: impl Fn(&Path, &str) -> Vec<u8>,
        outside: impl Fn(&Path, &str) -> Vec<PathBuf>,
        inside_if_ok: &str,
    ) {
        for resolver in BOTH {
            let s = Scratch::new();
            let name = unique("pwned");
            let bytes = build(s.outer(), &name);
            let result = unpack_using(&bytes, &s.dest(), &UnpackOptions::ROOTFUL, resolver, WhiteoutStyle::Device);
            for path in outside(s.outer(), &name) {
                assert!(!exists_nofollow(&path), "{resolver:?} wrote outside dest: {}", path.display());
            }
            match (resolver, result) {
                (Resolver::NoSymlinkWalk, Ok(_)) => panic!("the walker followed a symlink"),
                (Resolver::NoSymlinkWalk, Err(e)) => {
                    assert!(matches!(e, LayerError::UnsafePath(_)), "{e}")
                }
                (Resolver::Openat2, Ok(_)) if !inside_if_ok.is_empty() => {
                    let inside = s.dest().join(inside_if_ok.replace("NAME", &name));
                    assert!(exists_nofollow(&inside), "expected {}", inside.display());
                }
                (Resolver::Openat2, _) => {}
            }
        }
    }

    #[test]
    fn symlink_to_root_cannot_redirect_writes() {
        assert_contained(
            |_, name| TarBuf::new().symlink("evil", "/").file(&format!("evil/{name}"), b"pwned", 0o644).bytes(),
            |outer, name| vec![Path::new("/").join(name), outer.join(name)],
            "NAME",
        );
    }

    #[test]
    fn climbing_symlink_cannot_redirect_writes() {
        assert_contained(
            |_, name| {
                TarBuf::new()
                    .dir("a/", 0o755)
                    .symlink("a/up", "../../../../..")
                    .file(&format!("a/up/{name}"), b"pwned", 0o644)
                    .bytes()
            },
            |outer, name| vec![Path::new("/").join(name), outer.join(name)],
            "NAME",
        );
    }

    #[test]
    fn symlink_to_absolute_outside_dir_cannot_redirect_writes() {
        assert_contained(
            |outer, name| {
                TarBuf::new()
                    .symlink("evil", outer.to_str().unwrap())
                    .file(&format!("evil/{name}"), b"pwned", 0o644)
                    .bytes()
            },
            |outer, name| vec![outer.join(name)],
            "",
        );
    }

    #[test]
    fn symlinked_parent_cannot_redirect_dirs_whiteouts_or_opaque_markers() {
        require_root!();
        assert_contained(
            |_, name| TarBuf::new().symlink("evil", "/tmp").dir(&format!("evil/{name}/"), 0o755).bytes(),
            |_, name| vec![Path::new("/tmp").join(name)],
            "tmp/NAME",
        );
        // The victim directory outside must keep its entry.
        for resolver in BOTH {
            let s = Scratch::new();
            let victim_dir = s.outer().join("victim");
            std::fs::create_dir(&victim_dir).unwrap();
            std::fs::write(victim_dir.join("keepme"), b"k").unwrap();
            let bytes = TarBuf::new()
                .symlink("evil", victim_dir.to_str().unwrap())
                .file("evil/.wh.keepme", b"", 0o644)
                .file("evil/.wh..wh..opq", b"", 0o644)
                .bytes();
            let _ = unpack_using(&bytes, &s.dest(), &UnpackOptions::ROOTFUL, resolver, WhiteoutStyle::Device);
            assert!(lstat(&victim_dir.join("keepme")).file_type().is_file());
            assert!(xattrs_of(&victim_dir).is_empty());
        }
    }

    #[test]
    fn hard_link_through_symlink_stays_inside() {
        for resolver in BOTH {
            let bytes = TarBuf::new().symlink("evil", "/").hardlink("x", "evil/etc/passwd").bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            assert!(result.is_err());
            if let Ok(st) = std::fs::symlink_metadata(s.path("x")) {
                assert_ne!(st.ino(), lstat(Path::new("/etc/passwd")).ino());
            }
        }
    }

    #[test]
    fn hard_link_climbing_out_is_refused() {
        for resolver in BOTH {
            for target in ["../../etc/passwd", "a/../../etc/passwd"] {
                let bytes = TarBuf::new().hardlink("x", target).bytes();
                let (s, result) = unpack_in(&bytes, resolver);
                let err = result.unwrap_err();
                assert!(matches!(err, LayerError::UnsafePath(_)), "{err}");
                assert!(!exists_nofollow(&s.path("x")));
            }
        }
    }

    // --- streams ---------------------------------------------------------

    fn sample_tar() -> Vec<u8> {
        TarBuf::new().dir("d/", 0o755).file("d/f", &vec![7u8; 10_000], 0o644).bytes()
    }

    #[test]
    fn unpack_reads_trailing_bytes_too() {
        let mut bytes = sample_tar();
        bytes.extend_from_slice(&[0u8; 3000]);
        bytes.extend_from_slice(b"trailing junk");
        let s = Scratch::new();
        let mut reader = &bytes[..];
        unpack_layer(&mut reader, &s.dest(), &UnpackOptions::ROOTFUL).unwrap();
        assert!(reader.is_empty(), "{} bytes left unread", reader.len());
    }

    #[test]
    fn truncated_archive_is_a_bad_archive() {
        let tar = sample_tar();
        let (_s, result) = unpack_in(&tar[..1500], Resolver::Openat2);
        assert!(matches!(result, Err(LayerError::BadArchive(_))), "{result:?}");
    }

    #[test]
    fn pax_time_parsing_and_formatting() {
        let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec(), t.tv_nsec()));
        assert_eq!(t("1600000000"), Some((1_600_000_000, 0)));
        assert_eq!(t("1600000000.5"), Some((1_600_000_000, 500_000_000)));
        assert_eq!(t("1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(t("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(t("-3"), Some((-3, 0)));
        assert_eq!(t("abc"), None);
        assert_eq!(t(""), None);
        for (secs, nanos) in [(5, 0), (1_600_000_000, 123), (-2, 500_000_000), (-1, 1)] {
            let text = format_pax_time(secs, nanos);
            assert_eq!(t(&text), Some((secs, nanos)), "{text}");
        }
    }

    // --- packing ---------------------------------------------------------

    fn tar_names(bytes: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(bytes);
        archive.entries().unwrap().map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned()).collect()
    }

    /// Everything about a tree that a layer round trip must preserve.
    fn describe_tree(root: &Path) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut inodes: HashMap<u64, String> = HashMap::new();
        describe_dir(root, root, &mut out, &mut inodes);
        out
    }

    fn describe_dir(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>, inodes: &mut HashMap<u64, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let st = lstat(&path);
            let ft = st.file_type();
            let mut text =
                format!("mode={:o} owner={}:{} xattrs={:?}", st.mode(), st.uid(), st.gid(), xattrs_of(&path));
            text += &format!(" mtime={}.{}", st.mtime(), st.mtime_nsec());
            if !ft.is_dir() {
                if let Some(first) = inodes.get(&st.ino()) {
                    text += &format!(" hardlink-of={first}");
                } else {
                    inodes.insert(st.ino(), rel.clone());
                }
            }
            if ft.is_file() {
                text += &format!(" data={}", hex::encode(Sha256::digest(std::fs::read(&path).unwrap())));
            } else if ft.is_symlink() {
                text += &format!(" target={}", std::fs::read_link(&path).unwrap().display());
            } else if ft.is_char_device() || ft.is_block_device() {
                text += &format!(" rdev={}", st.rdev());
            }
            out.insert(rel, text);
            if ft.is_dir() {
                describe_dir(root, &path, out, inodes);
            }
        }
    }

    fn round_trip_archive() -> Vec<u8> {
        let long = format!("deep/{}/{}", "n".repeat(110), "file");
        let mut t = TarBuf::new();
        t.dir("bin/", 0o755)
            .pax(&[("mtime", b"1600000000.25"), ("SCHILY.xattr.user.note", b"kept")])
            .file_owned("bin/tool", b"#!/bin/sh\n", 0o4755, 0, 0)
            .hardlink("bin/tool-alias", "bin/tool")
            .symlink("bin/sh", "/bin/busybox")
            .file_owned("home", b"", 0o640, 1000, 1000)
            .dir("etc/", 0o755)
            .file("etc/.wh.removed", b"", 0o644)
            .dir("opaque/", 0o700)
            .file("opaque/.wh..wh..opq", b"", 0o644)
            .file("opaque/new", b"fresh", 0o600)
            .dir("dev/", 0o755)
            .device("dev/fifo", tar::EntryType::Fifo, 0, 0)
            .device("dev/null", tar::EntryType::Char, 1, 3)
            .pax(&[("mtime", b"1500000000.000000001")])
            .dir("empty/", 0o1777);
        let mut h = TarBuf::header(tar::EntryType::Regular, 0o644);
        h.set_size(4);
        t.builder.append_data(&mut h, &long, &b"long"[..]).unwrap();
        t.bytes()
    }

    #[test]
    fn pack_round_trip_preserves_the_tree() {
        require_root!();
        for opts in [UnpackOptions::ROOTFUL, UnpackOptions::ROOTLESS] {
            let first = Scratch::new();
            let stats =
                unpack_using(&round_trip_archive(), &first.dest(), &opts, Resolver::Openat2, WhiteoutStyle::Device)
                    .unwrap();
            let mut packed = Vec::new();
            let written = pack_upper_dir(&first.dest(), &mut packed, &opts, &HashSet::new()).unwrap();
            assert_eq!(written, packed.len() as u64);

            let names = tar_names(&packed);
            for expected in ["etc/.wh.removed", "opaque/.wh..wh..opq", "bin/tool-alias"] {
                assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
            }
            let opq = names.iter().position(|n| n == "opaque/.wh..wh..opq").unwrap();
            assert_eq!(names[opq - 1], "opaque/");

            let second = Scratch::new();
            unpack_using(&packed, &second.dest(), &opts, Resolver::Openat2, WhiteoutStyle::Device).unwrap();
            let (a, b) = (describe_tree(&first.dest()), describe_tree(&second.dest()));
            assert_eq!(a, b);
            // Sanity: the interesting bits really are in the tree being compared.
            let opaque_key = format!("{}opaque", opts.overlay_xattr_prefix);
            assert!(a["opaque"].contains(&opaque_key), "{}", a["opaque"]);
            assert!(a["etc/removed"].contains("rdev=0"));
            assert!(a["bin/tool-alias"].contains("hardlink-of=bin/tool"));
            if opts.in_user_namespace {
                assert!(!a.contains_key("dev/null"), "{:?}", stats.warnings);
            } else {
                assert!(a["dev/null"].contains(&format!("rdev={}", libc::makedev(1, 3))));
            }
            assert!(a["bin/tool"].contains("mode=104755"));
            assert!(a["bin/tool"].contains("mtime=1600000000.250000000"));
        }
    }

    #[test]
    fn pack_strips_overlay_xattrs_and_refuses_redirects() {
        require_root!();
        let s = Scratch::new();
        let opts = UnpackOptions::ROOTFUL;
        std::fs::create_dir(s.path("d")).unwrap();
        std::fs::write(s.path("d/f"), b"f").unwrap();
        let dir = nix::fcntl::open(&s.dest(), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let node = Node::At { parent: dir.as_fd(), name: c"d" };
        node.set_xattr(c"trusted.overlay.origin", b"whatever").unwrap();
        node.set_xattr(c"user.overlay.impure", b"y").unwrap();
        node.set_xattr(c"user.keep", b"1").unwrap();
        let mut packed = Vec::new();
        pack_upper_dir(&s.dest(), &mut packed, &opts, &HashSet::new()).unwrap();
        let mut archive = tar::Archive::new(&packed[..]);
        let mut keys = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if let Some(pax) = entry.pax_extensions().unwrap() {
                for r in pax {
                    let key = r.unwrap().key().unwrap().to_owned();
                    if key != "mtime" {
                        keys.push(key);
                    }
                }
            }
        }
        assert_eq!(keys, ["SCHILY.xattr.user.keep"]);

        node.set_xattr(c"trusted.overlay.redirect", b"/elsewhere").unwrap();
        let err = pack_upper_dir(&s.dest(), io::sink(), &opts, &HashSet::new()).unwrap_err();
        assert!(matches!(err, LayerError::UnsupportedOverlayFeature { .. }), "{err}");
    }
}
