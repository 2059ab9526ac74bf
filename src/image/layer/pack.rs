//! Packing an overlay upper dir back into a layer tarball, the inverse of unpacking.

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode};

use super::entry::format_pax_time;
use super::tar_io::{ExactSizeReader, base_header, join_tar_path};
use super::{LayerError, OPAQUE_MARKER, SELINUX_XATTR, UnpackOptions, WHITEOUT_PREFIX, is_overlay_xattr};
use crate::sandbox::fs_at::{Node, dir_names, file_type, lstat_at, open_dir_nofollow, open_file_nofollow};

/// Write a tar of an overlay upper dir, the inverse of [`super::unpack_layer`].
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
    pack_upper_dir_clamped(src, out, opts, skip, None)
}

/// [`pack_upper_dir`], every mtime later than `clamp_mtime` (seconds since 1970) written as
/// `clamp_mtime`: a build step's layer is the same whenever it runs (BuildKit's
/// rewrite-timestamp with SOURCE_DATE_EPOCH).
pub fn pack_upper_dir_clamped(
    src: &Path,
    out: impl Write,
    opts: &UnpackOptions,
    skip: &HashSet<Vec<u8>>,
    clamp_mtime: Option<i64>,
) -> Result<u64, LayerError> {
    let root = nix::fcntl::open(src, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| LayerError::Io { path: src.to_owned(), source: e.into() })?;
    let mut packer = Packer {
        builder: tar::Builder::new(CountingWriter { inner: out, count: 0 }),
        src,
        opts,
        hardlinks: HashMap::new(),
        skip,
        clamp_mtime,
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

struct Packer<'a, W: Write> {
    builder: tar::Builder<CountingWriter<W>>,
    src: &'a Path,
    opts: &'a UnpackOptions,
    /// (dev, ino) of multiply-linked files already written, with their tar path.
    hardlinks: HashMap<(u64, u64), Vec<u8>>,
    skip: &'a HashSet<Vec<u8>>,
    clamp_mtime: Option<i64>,
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
        let names = dir_names(dir).map_err(self.io_err(dir_path))?;
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
        let Some(mut st) = lstat_at(parent, name).map_err(self.io_err(path))? else {
            return Ok(()); // removed while we were packing
        };
        if let Some(max) = self.clamp_mtime
            && (st.st_mtime > max || (st.st_mtime == max && st.st_mtime_nsec != 0))
        {
            st.st_mtime = max;
            st.st_mtime_nsec = 0;
        }
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
        let fd = open_file_nofollow(parent, name).map_err(self.io_err(path))?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let data = ExactSizeReader::new(File::from(fd), size, "file shrank while being packed");
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
