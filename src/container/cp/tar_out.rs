//! Writing a tar of a path inside a root: the node and, for a directory, everything below it,
//! every name found and opened relative to its directory's fd, never following a symlink below
//! the top.

use std::collections::HashMap;
use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, fstat};

use super::{CopyError, errno_err, io_err};
use crate::image::layer::{ExactSizeReader, base_header, join_tar_path};
use crate::sandbox::fs_at::{
    cstring, dir_names, file_type, lstat_at, open_dir_nofollow, open_file_nofollow, openat2_in_root,
};

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
                let file = File::from(open_file_nofollow(parent, name).map_err(Self::io(path))?);
                self.file(file, path)
            }
            libc::S_IFLNK => {
                let target = readlinkat(parent, name).map_err(Self::io(path))?;
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
        let data = ExactSizeReader::new(file, size, "file shrank while being copied");
        self.builder.append_data(&mut header, OsStr::from_bytes(path), data).map_err(Self::io(path))
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
            let child_path = join_tar_path(path, child.as_bytes());
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
            let base = cstring(path.file_name().unwrap_or_default().as_bytes()).map_err(io_err("archiving"))?;
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
