//! Unpacking a layer tar stream into overlayfs "upper dir" format.

use std::collections::HashSet;
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstat, futimens, mknodat};
use nix::sys::time::TimeSpec;
use nix::unistd::{linkat, symlinkat};

use super::entry::{EntryMeta, entry_device, link_target, read_entry_meta};
use super::path::{RelPath, display_rel, io_err_at, normalize_layer_path};
use super::{
    LayerError, OPAQUE_MARKER, UnpackOptions, UnpackStats, WHITEOUT_META_PREFIX, WHITEOUT_PREFIX, is_overlay_xattr,
    stream_error,
};
use crate::sandbox::fs_at::{
    self, Node, ResolveError, Resolver, create_file_excl, cstring, is_dir, lstat_at, make_dir, open_dir_nofollow,
    remove_tree_at,
};

/// A hostile layer must not be able to grow the warning list without bound.
const MAX_WARNINGS: usize = 200;
const COPY_BUFFER_SIZE: usize = 128 * 1024;

/// How whiteouts are represented on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WhiteoutStyle {
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
    let resolver =
        Resolver::detect(root.as_fd()).map_err(|e| LayerError::Io { path: dest.to_owned(), source: e.into() })?;
    unpack_with(tar, dest, root, opts, resolver, WhiteoutStyle::Device)
}

pub(super) fn open_layer_root(dest: &Path) -> Result<OwnedFd, LayerError> {
    nix::fcntl::open(dest, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| LayerError::Io { path: dest.to_owned(), source: e.into() })
}

pub(super) fn unpack_with(
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
                let dev = entry_device(entry.header(), &rel)?;
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
        fs_at::open_dir_in_root(self.root.as_fd(), self.resolver, dir, create_missing)
            .map_err(|e| self.resolution_error(dir, e))
    }

    fn resolution_error(&self, dir: &[Vec<u8>], e: ResolveError) -> LayerError {
        let prefix = |depth: usize| display_rel(dir.get(..depth).unwrap_or(dir));
        match e {
            ResolveError::Missing { depth } => self.io_err(dir.get(..depth).unwrap_or(dir))(Errno::ENOENT),
            ResolveError::NotDir { depth } => {
                LayerError::BadArchive(format!("{}: a parent path component is not a directory", prefix(depth)))
            }
            ResolveError::DanglingSymlink { depth } => {
                LayerError::BadArchive(format!("{}: is a symlink to a missing directory", prefix(depth)))
            }
            ResolveError::Symlink { depth } => {
                LayerError::UnsafePath(format!("{}: refusing to follow a symlink in a parent path", prefix(depth)))
            }
            ResolveError::Escape { depth, errno } => {
                LayerError::UnsafePath(format!("{}: cannot be resolved inside the layer root ({errno})", prefix(depth)))
            }
            ResolveError::Io { depth, errno } => self.io_err(dir.get(..depth).unwrap_or(dir))(errno),
        }
    }

    /// Opens the parent of `rel` and returns it with the final component's name.
    fn open_parent(&self, rel: &[Vec<u8>], create_missing: bool) -> Result<(OwnedFd, CString), LayerError> {
        let Some((name, parent)) = rel.split_last() else {
            return Err(LayerError::BadArchive("an entry names the layer root".to_owned()));
        };
        let parent_fd = self.open_dir(parent, create_missing)?;
        let name = cstring(name).map_err(self.io_err(rel))?;
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
                (fd, cstring(rel.last().expect("a file has a name")).map_err(self.io_err(rel))?)
            }
            _ => self.open_parent(rel, true)?,
        };
        let fd = self.create_replacing(parent.as_fd(), &name, rel, || create_file_excl(parent.as_fd(), &name))?;
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
