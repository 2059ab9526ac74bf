//! Files in and out of containers: `berth cp` (Docker's semantics for files, directories and a
//! trailing `/.`, tar streams for `-`), the tar writer `export` uses, and the copy of an image's
//! directory into a new volume.
//!
//! Every path inside a container is resolved with openat2(RESOLVE_IN_ROOT) against a directory fd
//! of the container's root, and every last component is handled with `*at()` calls that do not
//! follow symlinks: a symlink in the container pointing at `/` or `../../..` resolves inside the
//! container, never on the host. The container side runs in a forked helper that has joined the
//! container's mount namespace (running) or mounted its overlay in a private one (stopped); the
//! host side runs here; a pipe carries the tar between them. Host paths are the user's own, but
//! what arrives from a container is extracted below the destination directory only, the same
//! way.

use crate::image::layer::{base_header, file_type, lstat_at};
use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, UtimensatFlags, fchmod, fstat, futimens, mkdirat, mknodat, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};

use super::record::{Container, Status};
use super::store::{ContainerError, refresh};
use crate::image::layer::ExactSizeReader;
use crate::sandbox::container_fs::{FsAccess, spawn_helper};
use crate::sandbox::process::SandboxError;
use crate::sandbox::syscall::openat2_in_root;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> CopyError {
    let what = what.into();
    move |source| CopyError::Io { what, source }
}

fn errno_err(what: impl Into<String>) -> impl FnOnce(Errno) -> CopyError {
    let what = what.into();
    move |errno| CopyError::Io { what, source: errno.into() }
}

// ---------------------------------------------------------------------------------------------
// fd helpers: nothing here follows a symlink in the last component.

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

fn open_dir_nofollow(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    Ok(openat(parent, name, flags, Mode::empty())?)
}

/// The names in a directory (without "." and ".."), sorted for reproducible archives. Reads
/// through a duplicate of the fd, never through /proc (which in a joined mount namespace
/// belongs to another pid namespace).
fn dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
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

fn remove_tree_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let Some(st) = lstat_at(parent, name)? else { return Ok(()) };
    if file_type(&st) == libc::S_IFDIR {
        let dir = open_dir_nofollow(parent, name)?;
        for child in dir_names(dir.as_fd())? {
            remove_tree_at(dir.as_fd(), &child)?;
        }
        unlinkat(parent, name, UnlinkatFlags::RemoveDir)?;
    } else {
        unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)?;
    }
    Ok(())
}

fn timespec(secs: i64, nanos: i64) -> TimeSpec {
    TimeSpec::new(secs, nanos)
}

/// Owner and permission bits, in that order (chown clears set-id bits).
fn set_owner_and_mode(fd: BorrowedFd<'_>, owner: Option<(u32, u32)>, mode: u32) -> io::Result<()> {
    if let Some((uid, gid)) = owner {
        fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    }
    fchmod(fd, Mode::from_bits_truncate(mode & 0o7777))?;
    Ok(())
}

/// A relative path inside a root for a user's container path: "/a/./b/" → "a/b"; "/" → "".
/// ".." components are kept: RESOLVE_IN_ROOT stops them at the root.
pub fn relative(path: &str) -> PathBuf {
    Path::new(path).components().filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir)).collect()
}

// ---------------------------------------------------------------------------------------------
// Volume copy-up

/// Docker's copy of an image's directory into a new volume: when `volume` is empty and
/// `image_dir` a directory, its content is copied (owners, modes, times, symlinks as symlinks,
/// hard links kept), then the directory's own owner and mode are given to the volume's root.
/// Runs in the container's first process, as root of its user namespace.
pub fn copy_up(image_dir: &Path, volume: &Path) -> io::Result<()> {
    let cwd = nix::fcntl::AT_FDCWD;
    let volume_fd = open_dir_nofollow(cwd, &cstr(volume.as_os_str())?)?;
    if !dir_names(volume_fd.as_fd())?.is_empty() {
        return Ok(());
    }
    let source = match open_dir_nofollow(cwd, &cstr(image_dir.as_os_str())?) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut links = HashMap::new();
    copy_dir_contents(source.as_fd(), volume_fd.as_fd(), volume, &mut links)?;
    let st = fstat(&source)?;
    set_owner_and_mode(volume_fd.as_fd(), Some((st.st_uid, st.st_gid)), st.st_mode)?;
    Ok(())
}

fn copy_dir_contents(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    dst_path: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    for name in dir_names(src)? {
        let Some(st) = lstat_at(src, &name)? else { continue };
        let target_path = dst_path.join(OsStr::from_bytes(name.as_bytes()));
        let owner = Some((st.st_uid, st.st_gid));
        let times = [timespec(st.st_atime, st.st_atime_nsec), timespec(st.st_mtime, st.st_mtime_nsec)];
        match file_type(&st) {
            libc::S_IFDIR => {
                mkdirat(dst, name.as_c_str(), Mode::from_bits_truncate(0o700))?;
                let from = open_dir_nofollow(src, &name)?;
                let to = open_dir_nofollow(dst, &name)?;
                copy_dir_contents(from.as_fd(), to.as_fd(), &target_path, links)?;
                set_owner_and_mode(to.as_fd(), owner, st.st_mode)?;
                futimens(&to, &times[0], &times[1])?;
            }
            libc::S_IFREG => {
                if st.st_nlink > 1 {
                    if let Some(first) = links.get(&(st.st_dev, st.st_ino)) {
                        linkat(nix::fcntl::AT_FDCWD, first.as_path(), dst, name.as_c_str(), AtFlags::empty())?;
                        continue;
                    }
                    links.insert((st.st_dev, st.st_ino), target_path.clone());
                }
                let mut from = File::from(openat(
                    src,
                    name.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?);
                let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let mut to = File::from(openat(dst, name.as_c_str(), flags, Mode::from_bits_truncate(0o600))?);
                io::copy(&mut from, &mut to)?;
                set_owner_and_mode(to.as_fd(), owner, st.st_mode)?;
                futimens(&to, &times[0], &times[1])?;
            }
            libc::S_IFLNK => {
                let target = nix::fcntl::readlinkat(src, name.as_c_str())?;
                symlinkat(target.as_os_str(), dst, name.as_c_str())?;
                chown_nofollow(dst, name.as_c_str(), st.st_uid, st.st_gid)?;
                utimensat(dst, name.as_c_str(), &times[0], &times[1], UtimensatFlags::NoFollowSymlink)?;
            }
            libc::S_IFIFO | libc::S_IFCHR | libc::S_IFBLK => {
                let kind = SFlag::from_bits_truncate(file_type(&st));
                match mknodat(dst, name.as_c_str(), kind, Mode::from_bits_truncate(st.st_mode & 0o7777), st.st_rdev) {
                    // No device nodes in a user namespace: leave them out, as a layer unpack does.
                    Err(Errno::EPERM) => continue,
                    other => other?,
                }
                chown_nofollow(dst, name.as_c_str(), st.st_uid, st.st_gid)?;
            }
            // Sockets belong to a running program, not to content.
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Writing tar archives

/// Filesystems whose directories an archive does not descend into when it reaches them from
/// another filesystem: a running container's /proc, /sys, its cgroup and pty mounts.
const PSEUDO_FILESYSTEMS: [i64; 7] = [
    0x9fa0,      // proc
    0x6265_6572, // sysfs
    0x27e0eb,    // cgroup
    0x6367_7270, // cgroup2
    0x1cd1,      // devpts
    0x1980_0202, // mqueue
    0x7363_6673, // securityfs
];

fn fs_type(fd: BorrowedFd<'_>) -> i64 {
    nix::sys::statfs::fstatfs(fd).map(|s| s.filesystem_type().0).unwrap_or(0)
}

struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    hardlinks: HashMap<(u64, u64), Vec<u8>>,
}

/// Changes the owner of `name` in `parent` itself, never of what a symlink points to.
fn chown_nofollow(parent: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32) -> nix::Result<()> {
    fchownat(parent, name, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)), AtFlags::AT_SYMLINK_NOFOLLOW)
}

fn join_name(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut out = dir.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

impl<W: Write> TarWriter<W> {
    fn io<E: Into<io::Error>>(path: &[u8]) -> impl FnOnce(E) -> CopyError {
        let what = format!("archiving {}", String::from_utf8_lossy(path));
        move |e| CopyError::Io { what, source: e.into() }
    }

    /// One node found as `name` in `parent`, archived as `path`, and everything below it.
    fn node(&mut self, parent: BorrowedFd<'_>, name: &CStr, path: &[u8], parent_fs: i64) -> Result<(), CopyError> {
        let Some(st) = lstat_at(parent, name).map_err(Self::io(path))? else { return Ok(()) };
        self.entry(parent, name, &st, path, parent_fs)
    }

    fn entry(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        st: &FileStat,
        path: &[u8],
        parent_fs: i64,
    ) -> Result<(), CopyError> {
        match file_type(st) {
            libc::S_IFDIR => {
                let dir = open_dir_nofollow(parent, name).map_err(Self::io(path))?;
                self.dir(dir.as_fd(), st, path, parent_fs)
            }
            libc::S_IFREG => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.hardlinks.get(&key).cloned() {
                        let mut header = base_header(st, tar::EntryType::Link);
                        return self
                            .builder
                            .append_link(&mut header, OsStr::from_bytes(path), OsStr::from_bytes(&first))
                            .map_err(Self::io(path));
                    }
                    self.hardlinks.insert(key, path.to_vec());
                }
                let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
                let file = File::from(openat(parent, name, flags, Mode::empty()).map_err(Self::io(path))?);
                self.file(file, path)
            }
            libc::S_IFLNK => {
                let target = nix::fcntl::readlinkat(parent, name).map_err(Self::io(path))?;
                let mut header = base_header(st, tar::EntryType::Symlink);
                if target.len() < header.as_old().linkname.len() {
                    // Verbatim: the tar crate's path cleaning would turn "/" into "//".
                    header.set_link_name_literal(target.as_bytes()).map_err(Self::io(path))?;
                    self.builder.append_data(&mut header, OsStr::from_bytes(path), io::empty()).map_err(Self::io(path))
                } else {
                    self.builder.append_link(&mut header, OsStr::from_bytes(path), &target).map_err(Self::io(path))
                }
            }
            kind @ (libc::S_IFIFO | libc::S_IFCHR | libc::S_IFBLK) => {
                let entry_type = match kind {
                    libc::S_IFIFO => tar::EntryType::Fifo,
                    libc::S_IFCHR => tar::EntryType::Char,
                    _ => tar::EntryType::Block,
                };
                let mut header = base_header(st, entry_type);
                if kind != libc::S_IFIFO {
                    header.set_device_major(libc::major(st.st_rdev)).map_err(Self::io(path))?;
                    header.set_device_minor(libc::minor(st.st_rdev)).map_err(Self::io(path))?;
                }
                self.builder.append_data(&mut header, OsStr::from_bytes(path), io::empty()).map_err(Self::io(path))
            }
            _ => Ok(()),
        }
    }

    fn file(&mut self, file: File, path: &[u8]) -> Result<(), CopyError> {
        // The opened file's own metadata: what is read is what the header describes.
        let st = fstat(&file).map_err(Self::io(path))?;
        if file_type(&st) != libc::S_IFREG {
            return Ok(());
        }
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut header = base_header(&st, tar::EntryType::Regular);
        header.set_size(size);
        self.builder
            .append_data(
                &mut header,
                OsStr::from_bytes(path),
                ExactSizeReader { inner: file, remaining: size, shrank: "file shrank while being copied" },
            )
            .map_err(Self::io(path))
    }

    /// A directory entry (unless `path` is empty: the archive's root) and its content.
    fn dir(&mut self, dir: BorrowedFd<'_>, st: &FileStat, path: &[u8], parent_fs: i64) -> Result<(), CopyError> {
        if !path.is_empty() {
            let mut header = base_header(st, tar::EntryType::Directory);
            let mut name = path.to_vec();
            if !name.ends_with(b"/") {
                name.push(b'/');
            }
            self.builder.append_data(&mut header, OsStr::from_bytes(&name), io::empty()).map_err(Self::io(path))?;
        }
        let this_fs = fs_type(dir);
        if this_fs != parent_fs && PSEUDO_FILESYSTEMS.contains(&this_fs) {
            return Ok(());
        }
        for child in dir_names(dir).map_err(Self::io(path))? {
            let child_path = join_name(path, child.as_bytes());
            self.node(dir, &child, &child_path, this_fs)?;
        }
        Ok(())
    }
}

/// Archives `path` (relative to `root`, resolved inside it) as `name`: the node itself and,
/// for a directory, everything below it, never following a symlink below the top. `follow`:
/// a symlink at `path` itself is followed (inside the root). An empty `name` archives a
/// directory's content without an entry for the directory (`export`). Returns whether `path`
/// was a directory.
pub fn write_tar<W: Write>(
    root: BorrowedFd<'_>,
    path: &Path,
    name: &str,
    follow: bool,
    out: W,
) -> Result<bool, CopyError> {
    let shown = || format!("/{}", path.display());
    let mut flags = OFlag::O_PATH;
    if !follow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let top = openat2_in_root(root, path, flags).map_err(|e| match e {
        Errno::ENOENT => CopyError::Invalid(format!("could not find the file {}", shown())),
        e => CopyError::Io { what: format!("opening {}", shown()), source: e.into() },
    })?;
    let st = fstat(&top).map_err(errno_err(format!("reading {}", shown())))?;
    let mut writer = TarWriter { builder: tar::Builder::new(out), hardlinks: HashMap::new() };
    writer.builder.mode(tar::HeaderMode::Complete);
    let name_bytes = name.as_bytes();
    let is_dir = file_type(&st) == libc::S_IFDIR;
    match file_type(&st) {
        libc::S_IFDIR => {
            let dir = openat(&top, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(errno_err(format!("opening {}", shown())))?;
            let name = if name == "." { b"./".as_slice() } else { name_bytes };
            writer.dir(dir.as_fd(), &st, name, fs_type(dir.as_fd()))?;
        }
        libc::S_IFREG => {
            // Opened again to read (an O_PATH fd cannot be), by the same safe resolution.
            let read_flags =
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | if follow { OFlag::empty() } else { OFlag::O_NOFOLLOW };
            let file = openat2_in_root(root, path, read_flags).map_err(errno_err(format!("opening {}", shown())))?;
            writer.file(File::from(file), name_bytes)?;
        }
        _ => {
            // A symlink, fifo or device: described by its parent directory's entry for it.
            let parent =
                openat2_in_root(root, path.parent().unwrap_or(Path::new("")), OFlag::O_PATH | OFlag::O_DIRECTORY)
                    .map_err(errno_err(format!("opening the directory of {}", shown())))?;
            let base = cstr(path.file_name().unwrap_or_default()).map_err(io_err("archiving"))?;
            let st = lstat_at(parent.as_fd(), &base)
                .map_err(io_err(format!("reading {}", shown())))?
                .ok_or_else(|| CopyError::Invalid(format!("could not find the file {}", shown())))?;
            writer.entry(parent.as_fd(), &base, &st, name_bytes, 0)?;
        }
    }
    writer
        .builder
        .into_inner()
        .map_err(io_err("finishing the archive"))?
        .flush()
        .map_err(io_err("writing the archive"))?;
    Ok(is_dir)
}

// ---------------------------------------------------------------------------------------------
// Extracting tar archives

/// Whose files extracted files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The ids in the archive (`cp -a` into a container).
    FromArchive,
    /// root:root of the container (`cp` into a container, as Docker does).
    Root,
    /// Whoever extracts (files copied out to the host).
    Caller,
}

/// `raw` with `from` at its start replaced by `to` (Docker's RebaseArchiveEntries). An archive
/// of a directory's content (`from` "."), whose members are "./" and names below it, has every
/// member moved under `to`.
fn rebase(raw: &[u8], rename: Option<&(String, String)>) -> Vec<u8> {
    let Some((from, to)) = rename else { return raw.to_vec() };
    let trimmed = raw.strip_prefix(b"/").unwrap_or(raw);
    if from == "." {
        let rest = trimmed.strip_prefix(b"./").or_else(|| trimmed.strip_prefix(b".")).unwrap_or(trimmed);
        return if rest.is_empty() { to.as_bytes().to_vec() } else { join_name(to.as_bytes(), rest) };
    }
    match trimmed.strip_prefix(from.as_bytes()) {
        Some(rest) if rest.is_empty() || rest.starts_with(b"/") => {
            let mut out = to.as_bytes().to_vec();
            out.extend_from_slice(rest);
            out
        }
        _ => raw.to_vec(),
    }
}

/// An archive member's path as components; "." and empty ones dropped; ".." refused.
fn member_components(raw: &[u8]) -> Result<Vec<OsString>, CopyError> {
    let mut out = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                return Err(CopyError::Invalid(format!(
                    "archive member {:?} points outside the destination",
                    String::from_utf8_lossy(raw)
                )));
            }
            name if name.contains(&0) => {
                return Err(CopyError::Invalid("archive member name contains a NUL byte".into()));
            }
            name => out.push(OsString::from_vec(name.to_vec())),
        }
    }
    Ok(out)
}

/// Opens directory `rel` below `root` (inside it), creating missing directories (0755).
fn ensure_dir(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    match openat2_in_root(root, rel, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Ok(fd) => Ok(fd),
        Err(Errno::ENOENT) if rel.file_name().is_some() => {
            let parent = ensure_dir(root, rel.parent().unwrap_or(Path::new("")))?;
            match mkdirat(&parent, rel.file_name().unwrap_or_default(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
            Ok(openat2_in_root(root, rel, OFlag::O_PATH | OFlag::O_DIRECTORY)?)
        }
        Err(e) => Err(e.into()),
    }
}

struct Extractor<'a> {
    root: BorrowedFd<'a>,
    owner: Owner,
    rename: Option<(String, String)>,
    /// Directories whose times are set once their content is in place.
    dir_times: Vec<(PathBuf, i64)>,
}

impl Extractor<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), CopyError> {
        let raw = rebase(&entry.path_bytes(), self.rename.as_ref());
        let parts = member_components(&raw)?;
        let Some(last) = parts.last().cloned() else {
            // The destination directory itself ("./"): left as it is.
            return Ok(());
        };
        let rel: PathBuf = parts.iter().collect();
        let shown = rel.display().to_string();
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_owned();
        let parent =
            ensure_dir(self.root, &parent_rel).map_err(io_err(format!("creating the directory of {shown}")))?;
        let name = cstr(&last).map_err(io_err(shown.clone()))?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644);
        let mtime = header.mtime().unwrap_or(0) as i64;
        let owner = match self.owner {
            Owner::FromArchive => Some((header.uid().unwrap_or(0) as u32, header.gid().unwrap_or(0) as u32)),
            Owner::Root => Some((0, 0)),
            Owner::Caller => None,
        };
        let existing = lstat_at(parent.as_fd(), &name).map_err(io_err(format!("reading {shown}")))?;
        let keep_dir =
            kind == tar::EntryType::Directory && existing.as_ref().is_some_and(|st| file_type(st) == libc::S_IFDIR);
        if existing.is_some() && !keep_dir {
            remove_tree_at(parent.as_fd(), &name).map_err(io_err(format!("replacing {shown}")))?;
        }
        let at = |e: Errno| CopyError::Io { what: format!("extracting {shown}"), source: e.into() };
        let times = [timespec(mtime, 0), timespec(mtime, 0)];
        match kind {
            tar::EntryType::Directory => {
                if !keep_dir {
                    mkdirat(&parent, name.as_c_str(), Mode::from_bits_truncate(0o700)).map_err(at)?;
                }
                let dir = open_dir_nofollow(parent.as_fd(), &name).map_err(io_err(format!("extracting {shown}")))?;
                set_owner_and_mode(dir.as_fd(), owner, mode).map_err(io_err(format!("extracting {shown}")))?;
                self.dir_times.push((rel.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let mut file =
                    File::from(openat(&parent, name.as_c_str(), flags, Mode::from_bits_truncate(0o600)).map_err(at)?);
                io::copy(entry, &mut file).map_err(io_err(format!("extracting {shown}")))?;
                set_owner_and_mode(file.as_fd(), owner, mode).map_err(io_err(format!("extracting {shown}")))?;
                futimens(&file, &times[0], &times[1]).map_err(at)?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                symlinkat(OsStr::from_bytes(&target), &parent, name.as_c_str()).map_err(at)?;
                if let Some((uid, gid)) = owner {
                    chown_nofollow(parent.as_fd(), name.as_c_str(), uid, gid).map_err(at)?;
                }
                utimensat(&parent, name.as_c_str(), &times[0], &times[1], UtimensatFlags::NoFollowSymlink)
                    .map_err(at)?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                let target_parts = member_components(&rebase(&target, self.rename.as_ref()))?;
                let Some(target_name) = target_parts.last() else {
                    return Err(CopyError::Invalid(format!("hard link {shown} has no target")));
                };
                let target_rel: PathBuf = target_parts.iter().collect();
                let target_parent = openat2_in_root(
                    self.root,
                    target_rel.parent().unwrap_or(Path::new("")),
                    OFlag::O_PATH | OFlag::O_DIRECTORY,
                )
                .map_err(at)?;
                linkat(&target_parent, target_name.as_os_str(), &parent, name.as_c_str(), AtFlags::empty())
                    .map_err(at)?;
            }
            tar::EntryType::Fifo | tar::EntryType::Char | tar::EntryType::Block => {
                let (sflag, dev) = match kind {
                    tar::EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    tar::EntryType::Char => (SFlag::S_IFCHR, device(&header)),
                    _ => (SFlag::S_IFBLK, device(&header)),
                };
                match mknodat(&parent, name.as_c_str(), sflag, Mode::from_bits_truncate(mode & 0o7777), dev) {
                    // Device nodes need privileges a user namespace does not give: left out.
                    Err(Errno::EPERM) => return Ok(()),
                    other => other.map_err(at)?,
                }
                if let Some((uid, gid)) = owner {
                    chown_nofollow(parent.as_fd(), name.as_c_str(), uid, gid).map_err(at)?;
                }
            }
            // PAX and GNU long-name headers are consumed by the tar reader; anything else is
            // nothing a file system holds.
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<(), CopyError> {
        for (rel, mtime) in self.dir_times.iter().rev() {
            let Ok(parent) =
                openat2_in_root(self.root, rel.parent().unwrap_or(Path::new("")), OFlag::O_PATH | OFlag::O_DIRECTORY)
            else {
                continue;
            };
            let t = timespec(*mtime, 0);
            let _ = utimensat(&parent, rel.file_name().unwrap_or_default(), &t, &t, UtimensatFlags::NoFollowSymlink);
        }
        Ok(())
    }
}

fn device(header: &tar::Header) -> libc::dev_t {
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    libc::makedev(major, minor)
}

// ---------------------------------------------------------------------------------------------
// Docker's cp semantics

/// Docker's SplitPathDirEntry: "/a/b/" → ("/a", "b"); "/a/b/." → ("/a/b", "."); "b" → (".", "b").
pub fn split_dir_entry(path: &str) -> (String, String) {
    let contents_only = path == "." || path.ends_with("/.");
    let cleaned: PathBuf = Path::new(path).components().filter(|c| !matches!(c, Component::CurDir)).collect();
    let cleaned = cleaned.display().to_string();
    let (dir, base) = if contents_only {
        (if cleaned.is_empty() { ".".to_owned() } else { cleaned }, ".".to_owned())
    } else {
        match cleaned.rsplit_once('/') {
            Some(("", base)) => ("/".to_owned(), base.to_owned()),
            Some((dir, base)) => (dir.to_owned(), base.to_owned()),
            None if cleaned == "/" || cleaned.is_empty() => (cleaned.clone(), ".".to_owned()),
            None => (".".to_owned(), cleaned),
        }
    };
    (dir, if base.is_empty() { ".".to_owned() } else { base })
}

/// The name a source is archived under: its last component, "." for `dir/.` or `/`.
pub fn archive_name(path: &str) -> String {
    split_dir_entry(path).1
}

/// True when `path` says it is a directory: a trailing `/` or `/.`.
pub fn asserts_directory(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.") || path == "."
}

/// Where to extract an archive of a source and how to rename its top entry (Docker's
/// PrepareArchiveCopy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyPlan {
    pub extract_dir: String,
    pub rename: Option<(String, String)>,
}

/// `destination_is_dir`: None when nothing is at the destination.
pub fn plan_copy(
    source_is_dir: bool,
    source_name: &str,
    destination: &str,
    destination_is_dir: Option<bool>,
) -> Result<CopyPlan, CopyError> {
    let (dst_dir, dst_base) = split_dir_entry(destination);
    let renamed =
        |dir: String| Ok(CopyPlan { extract_dir: dir, rename: Some((source_name.to_owned(), dst_base.clone())) });
    match destination_is_dir {
        Some(true) => Ok(CopyPlan { extract_dir: destination.to_owned(), rename: None }),
        Some(false) if source_is_dir => {
            Err(CopyError::Invalid(format!("cannot copy a directory to a file: {destination} is a file")))
        }
        Some(false) => renamed(dst_dir),
        None if source_is_dir => renamed(dst_dir),
        None if asserts_directory(destination) => {
            Err(CopyError::Invalid(format!("destination directory {destination} does not exist")))
        }
        None => renamed(dst_dir),
    }
}

/// Whether `path` below `root` is a directory (symlinks followed inside the root), None when
/// nothing is there.
fn stat_in_root(root: BorrowedFd<'_>, path: &str) -> Result<Option<bool>, CopyError> {
    match openat2_in_root(root, &relative(path), OFlag::O_PATH) {
        Ok(fd) => Ok(Some(file_type(&fstat(&fd).map_err(errno_err(format!("reading {path}")))?) == libc::S_IFDIR)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(CopyError::Io { what: format!("reading {path}"), source: e.into() }),
    }
}

/// Receives an archive of one source (its first member is the source itself) into `destination`
/// below `root`, with Docker's rules; `as_is`: the archive came from `-` and is extracted into
/// the destination directory unchanged.
pub fn receive<R: Read>(
    root: BorrowedFd<'_>,
    destination: &str,
    reader: R,
    owner: Owner,
    as_is: bool,
) -> Result<(), CopyError> {
    let destination_is_dir = stat_in_root(root, destination)?;
    if as_is && destination_is_dir != Some(true) {
        return Err(CopyError::Invalid(format!("destination {destination:?} must be a directory")));
    }
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries().map_err(io_err("reading the archive"))?;
    let Some(first) = entries.next() else { return Ok(()) };
    let mut first = first.map_err(io_err("reading the archive"))?;
    let plan = if as_is {
        CopyPlan { extract_dir: destination.to_owned(), rename: None }
    } else {
        let name = String::from_utf8_lossy(&first.path_bytes()).trim_end_matches('/').to_owned();
        let name = if name.is_empty() { ".".to_owned() } else { name };
        plan_copy(first.header().entry_type() == tar::EntryType::Directory, &name, destination, destination_is_dir)?
    };
    let dir = openat2_in_root(root, &relative(&plan.extract_dir), OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(|e| CopyError::Io { what: format!("opening {}", plan.extract_dir), source: e.into() })?;
    // Members are resolved below the extraction directory, which plays their root.
    let mut extractor = Extractor { root: dir.as_fd(), owner, rename: plan.rename, dir_times: Vec::new() };
    extractor.entry(&mut first)?;
    drop(first);
    for entry in entries {
        extractor.entry(&mut entry.map_err(io_err("reading the archive"))?)?;
    }
    extractor.finish()
}

// ---------------------------------------------------------------------------------------------
// cp between a container and the host

/// One end of a cp on the host: a path, or a tar stream on stdin/stdout (`-`).
#[derive(Debug, Clone)]
pub enum HostEnd {
    Path(PathBuf),
    Stream,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-L`: follow a symlink named as the source.
    pub follow_link: bool,
    /// `-a`: keep the archive's owners when copying into a container.
    pub archive: bool,
}

/// How the helper reaches the container's files: its mount namespace while it runs, its overlay
/// (and mounts) otherwise.
fn access_for(store: &Store, container: &Container) -> Result<FsAccess, CopyError> {
    let mut current = container.clone();
    match refresh(store, &mut current) {
        Status::Running | Status::Paused => {
            Ok(FsAccess::Running { pid: current.state.pid, rootless: current.config.rootless })
        }
        Status::Created | Status::Starting | Status::Exited => {
            let _lock = store.lock_images_shared()?;
            let spec = super::supervisor::sandbox_spec(store, &current, Vec::new())?;
            Ok(FsAccess::Stopped(Box::new(spec)))
        }
    }
}

/// True when the container is not running, so reaching its files means mounting its overlay
/// (which a rootless caller can do only inside berth's user namespace).
pub fn needs_mount(store: &Store, container: &Container) -> bool {
    let mut current = container.clone();
    !matches!(refresh(store, &mut current), Status::Running | Status::Paused)
}

/// A copy of stdin (0) or stdout (1), for the helper to read or write the tar stream itself.
fn dup_stdio(fd: i32) -> Result<OwnedFd, CopyError> {
    let borrowed = match fd {
        0 => io::stdin().as_fd().try_clone_to_owned(),
        _ => io::stdout().as_fd().try_clone_to_owned(),
    };
    borrowed.map_err(io_err("duplicating a standard stream"))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), CopyError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(errno_err("creating a pipe"))
}

/// The host's root directory, so that host paths go through the same code (RESOLVE_IN_ROOT at
/// the real root is ordinary resolution).
fn host_root() -> Result<OwnedFd, CopyError> {
    nix::fcntl::open("/", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(errno_err("opening /"))
}

fn absolute(path: &Path) -> Result<PathBuf, CopyError> {
    if path.is_absolute() {
        return Ok(path.to_owned());
    }
    Ok(std::env::current_dir().map_err(io_err("reading the working directory"))?.join(path))
}

/// Keeps a trailing "/" or "/." that `Path::join` and friends would lose.
fn with_trailing(original: &str, absolute: &Path) -> String {
    let mut text = absolute.display().to_string();
    if original.ends_with("/.") {
        text.push_str("/.");
    } else if original.ends_with('/') && !text.ends_with('/') {
        text.push('/');
    }
    text
}

fn is_broken_pipe(e: &CopyError) -> bool {
    matches!(e, CopyError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
}

/// `cp CONTAINER:SRC DEST`: the helper archives SRC inside the container into a pipe; here the
/// archive is extracted at DEST (or passed to stdout as it is, for `-`).
pub fn copy_from_container(
    store: &Store,
    container: &Container,
    source: &str,
    destination: &HostEnd,
    options: CopyOptions,
) -> Result<(), CopyError> {
    let access = access_for(store, container)?;
    let name = archive_name(source);
    let follow = options.follow_link || asserts_directory(source);
    let source_rel = relative(source);
    let must_be_dir = asserts_directory(source) && source != "/" && source != "/.";
    let (reader, writer) = match destination {
        HostEnd::Stream => (None, dup_stdio(1)?),
        HostEnd::Path(_) => {
            let (r, w) = pipe()?;
            (Some(r), w)
        }
    };
    let close_in_child: Vec<i32> = reader.iter().map(|r| r.as_raw_fd()).collect();
    let mut writer = Some(writer);
    let helper = spawn_helper(&access, &close_in_child, &mut |root| {
        let out = File::from(writer.take().expect("the writer is used once"));
        match write_tar(root.as_fd(), &source_rel, &name, follow, out) {
            Ok(is_dir) if must_be_dir && !is_dir => Err(format!("{source}: not a directory")),
            Ok(_) => Ok(()),
            // The reader stopped: it reports why (or, for stdout, was simply done).
            Err(e) if is_broken_pipe(&e) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    })?;
    drop(writer);
    let extracted = match (reader, destination) {
        (Some(reader), HostEnd::Path(path)) => {
            let root = host_root()?;
            let dest = with_trailing(&path.display().to_string(), &absolute(path)?);
            receive(root.as_fd(), &dest, File::from(reader), Owner::Caller, false)
        }
        _ => Ok(()),
    };
    // The helper's error (no such file in the container) explains an empty or cut archive.
    helper.wait()?;
    extracted
}

/// `cp SRC CONTAINER:DEST`: SRC is archived here into a pipe (or `-` is stdin's tar stream);
/// the helper extracts it at DEST inside the container.
pub fn copy_into_container(
    store: &Store,
    container: &Container,
    source: &HostEnd,
    destination: &str,
    options: CopyOptions,
) -> Result<(), CopyError> {
    let access = access_for(store, container)?;
    let owner = if options.archive { Owner::FromArchive } else { Owner::Root };
    let (reader, writer, as_is) = match source {
        HostEnd::Stream => (dup_stdio(0)?, None, true),
        HostEnd::Path(_) => {
            let (r, w) = pipe()?;
            (r, Some(w), false)
        }
    };
    let close_in_child: Vec<i32> = writer.iter().map(|w| w.as_raw_fd()).collect();
    let mut reader = Some(reader);
    let destination = destination.to_owned();
    let helper = spawn_helper(&access, &close_in_child, &mut |root| {
        let mut input = File::from(reader.take().expect("the reader is used once"));
        receive(root.as_fd(), &destination, &mut input, owner, as_is).map_err(|e| e.to_string())?;
        if !as_is {
            // The archive's end marker may be followed by padding the writer is still sending:
            // read it, so the writer never sees a broken pipe after a good copy.
            io::copy(&mut input, &mut io::sink()).map_err(|e| e.to_string())?;
        }
        Ok(())
    })?;
    drop(reader);
    let sent = match (writer, source) {
        (Some(writer), HostEnd::Path(path)) => {
            let root = host_root()?;
            let original = path.display().to_string();
            let abs = with_trailing(&original, &absolute(path)?);
            let follow = options.follow_link || asserts_directory(&original);
            let result = write_tar(root.as_fd(), &relative(&abs), &archive_name(&abs), follow, File::from(writer));
            if asserts_directory(&original) && matches!(result, Ok(false)) {
                Err(CopyError::Invalid(format!("{original}: not a directory")))
            } else {
                result.map(drop)
            }
        }
        _ => Ok(()),
    };
    let waited = helper.wait();
    match (sent, waited) {
        // A broken pipe means the helper stopped reading: its reason is the one to report.
        (Err(_), Err(e)) => Err(e.into()),
        (Err(e), Ok(())) => Err(e),
        (Ok(()), waited) => waited.map_err(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn root_fd(path: &Path) -> OwnedFd {
        nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap()
    }

    #[test]
    fn paths_split_like_dockers() {
        assert_eq!(split_dir_entry("/a/b"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_dir_entry("b"), (".".into(), "b".into()));
        assert_eq!(split_dir_entry("/b"), ("/".into(), "b".into()));
        assert_eq!(archive_name("/"), ".");
        assert!(asserts_directory("/x/") && asserts_directory("/x/.") && !asserts_directory("/x"));
        assert_eq!(relative("/a/./b/"), PathBuf::from("a/b"));
        assert_eq!(relative("/"), PathBuf::new());
    }

    #[test]
    fn plans_follow_docker_for_every_case() {
        let plan = |is_dir, name, dst, exists| plan_copy(is_dir, name, dst, exists);
        // Into an existing directory: as it is.
        assert_eq!(plan(false, "f", "/d", Some(true)).unwrap(), CopyPlan { extract_dir: "/d".into(), rename: None });
        assert_eq!(plan(true, ".", "/d", Some(true)).unwrap().rename, None);
        // Over an existing file: renamed.
        assert_eq!(
            plan(false, "f", "/d/g", Some(false)).unwrap(),
            CopyPlan { extract_dir: "/d".into(), rename: Some(("f".into(), "g".into())) }
        );
        assert!(
            plan(true, "dir", "/d/g", Some(false))
                .unwrap_err()
                .to_string()
                .contains("cannot copy a directory to a file")
        );
        // To a new name: renamed, a directory made of the source's content.
        assert_eq!(plan(true, "dir", "/d/new", None).unwrap().rename, Some(("dir".into(), "new".into())));
        assert_eq!(
            plan(true, ".", "/d/new/", None).unwrap(),
            CopyPlan { extract_dir: "/d".into(), rename: Some((".".into(), "new".into())) }
        );
        assert!(plan(false, "f", "/d/new/", None).unwrap_err().to_string().contains("does not exist"));
        assert_eq!(
            plan(false, "f", "g", None).unwrap(),
            CopyPlan { extract_dir: ".".into(), rename: Some(("f".into(), "g".into())) }
        );
    }

    #[test]
    fn rebasing_renames_only_the_top_entry() {
        let r = Some(("etc".to_string(), "conf".to_string()));
        assert_eq!(rebase(b"etc/", r.as_ref()), b"conf/");
        assert_eq!(rebase(b"etc/passwd", r.as_ref()), b"conf/passwd");
        assert_eq!(rebase(b"etcetera", r.as_ref()), b"etcetera");
        let dot = Some((".".to_string(), "new".to_string()));
        assert_eq!(rebase(b"./a", dot.as_ref()), b"new/a");
        assert_eq!(rebase(b"./", dot.as_ref()), b"new");
        assert_eq!(rebase(b"a/b", dot.as_ref()), b"new/a/b");
        assert!(member_components(b"a/../../b").is_err());
        assert_eq!(member_components(b"./a//b/").unwrap(), vec![OsString::from("a"), OsString::from("b")]);
    }

    #[test]
    fn archives_round_trip_with_links_and_modes() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let tree = src.path().join("tree");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join("sub/file"), "content").unwrap();
        std::fs::set_permissions(tree.join("sub/file"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::hard_link(tree.join("sub/file"), tree.join("hard")).unwrap();
        symlink("/etc/passwd", tree.join("abs")).unwrap();
        symlink("/", tree.join("root")).unwrap();
        symlink("./x//y", tree.join("odd")).unwrap();
        let mut archive = Vec::new();
        let is_dir = write_tar(root_fd(src.path()).as_fd(), Path::new("tree"), "tree", false, &mut archive).unwrap();
        assert!(is_dir);
        let root = root_fd(dst.path());
        receive(root.as_fd(), "/copy", archive.as_slice(), Owner::Caller, false).unwrap();
        let copy = dst.path().join("copy");
        assert_eq!(std::fs::read_to_string(copy.join("sub/file")).unwrap(), "content");
        assert_eq!(std::fs::metadata(copy.join("sub/file")).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(
            std::fs::metadata(copy.join("hard")).unwrap().ino(),
            std::fs::metadata(copy.join("sub/file")).unwrap().ino()
        );
        assert_eq!(std::fs::read_link(copy.join("abs")).unwrap(), PathBuf::from("/etc/passwd"));
        // Link targets are kept byte for byte.
        assert_eq!(std::fs::read_link(copy.join("root")).unwrap().as_os_str(), "/");
        assert_eq!(std::fs::read_link(copy.join("odd")).unwrap().as_os_str(), "./x//y");
        // Into an existing directory: the source directory lands inside it.
        receive(root.as_fd(), "/copy", archive.as_slice(), Owner::Caller, false).unwrap();
        assert!(copy.join("tree/sub/file").is_file());
    }

    #[test]
    fn symlinks_in_the_root_never_lead_outside_it() {
        let outside = tempfile::tempdir().unwrap();
        let canary = outside.path().join("canary");
        std::fs::write(&canary, "host").unwrap();
        let root_dir = tempfile::tempdir().unwrap();
        let root = root_dir.path();
        symlink("/", root.join("slash")).unwrap();
        symlink("../../../../../../..", root.join("up")).unwrap();
        std::fs::write(root.join("inside"), "container").unwrap();
        let fd = root_fd(root);
        let host_path = canary.strip_prefix("/").unwrap().display().to_string();
        // Reading through the links finds nothing of the host.
        for via in ["slash", "up"] {
            let err = write_tar(fd.as_fd(), &Path::new(via).join(&host_path), "canary", false, io::sink()).unwrap_err();
            assert!(err.to_string().contains("could not find"), "{err}");
        }
        let mut archive = Vec::new();
        write_tar(fd.as_fd(), Path::new("up/inside"), "inside", false, &mut archive).unwrap();
        // Writing through them lands inside the root.
        let file_archive = archive.clone();
        let dest = format!("/up/{host_path}");
        receive(fd.as_fd(), &dest, file_archive.as_slice(), Owner::Caller, false).unwrap_err();
        receive(fd.as_fd(), "/slash/", archive.as_slice(), Owner::Caller, false).unwrap();
        assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host");
        assert_eq!(std::fs::read_to_string(root.join("inside")).unwrap(), "container");
        // A hostile archive cannot climb out of the destination either.
        let mut hostile = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(1);
        header.set_mode(0o644);
        {
            let name = b"inside/../../x";
            let raw = header.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name);
        }
        header.set_cksum();
        hostile.append(&header, &b"x"[..]).unwrap();
        let bytes = hostile.into_inner().unwrap();
        let err = receive(fd.as_fd(), "/", bytes.as_slice(), Owner::Caller, true).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
    }

    #[test]
    fn copy_up_fills_only_empty_volumes() {
        let image = tempfile::tempdir().unwrap();
        let volume = tempfile::tempdir().unwrap();
        std::fs::create_dir(image.path().join("d")).unwrap();
        std::fs::write(image.path().join("d/f"), "x").unwrap();
        symlink("/etc", image.path().join("link")).unwrap();
        std::fs::set_permissions(image.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
        copy_up(image.path(), volume.path()).unwrap();
        assert_eq!(std::fs::read_to_string(volume.path().join("d/f")).unwrap(), "x");
        assert_eq!(std::fs::read_link(volume.path().join("link")).unwrap(), PathBuf::from("/etc"));
        assert_eq!(std::fs::metadata(volume.path()).unwrap().permissions().mode() & 0o777, 0o750);
        // Not empty any more: left alone.
        std::fs::write(image.path().join("new"), "y").unwrap();
        copy_up(image.path(), volume.path()).unwrap();
        assert!(!volume.path().join("new").exists());
        // Nothing in the image at that path: nothing to do.
        let empty = tempfile::tempdir().unwrap();
        copy_up(&image.path().join("missing"), empty.path()).unwrap();
    }
}
