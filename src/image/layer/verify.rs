//! Checking an unpacked layer against its tar, for `system check`: unpacked files are not
//! fsynced (as in containers/storage), so a power loss can leave a layer whose files are
//! truncated, missing or left over, while its blob is intact. The tar (whose diff id the
//! caller checks) is read once into a model of the tree the unpacker makes of it — the same
//! rules: later entries replace earlier ones, whiteouts, opaque markers, hard links, parents
//! resolved through the layer's own symlinks inside the root, devices left out in a user
//! namespace — and the model is compared with the tree on disk, entry by entry: type,
//! content, size, mode, owner, link target, device number, xattrs, hard links, and files the
//! tar does not have. Times are not compared (the unpacker sets them last, and nothing reads
//! them back but `commit`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::CStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{OFlag, readlinkat};
use nix::sys::stat::{FileStat, Mode};
use sha2::{Digest, Sha256};

use super::entry::{EntryMeta, entry_device, link_target, read_entry_meta};
use super::path::{RelPath, display_rel, normalize_layer_path};
use super::tar_io::ExactSizeReader;
use super::{
    LayerError, OPAQUE_MARKER, SELINUX_XATTR, UnpackOptions, WHITEOUT_META_PREFIX, WHITEOUT_PREFIX, is_overlay_xattr,
    stream_error,
};
use crate::sandbox::fs_at::{Node, dir_names, file_type, is_dir, lstat_at, open_dir_nofollow, open_file_nofollow};

/// The kernel's limit on symlinks followed in one lookup.
const MAX_SYMLINK_HOPS: usize = 40;
/// Differences reported per layer; a layer that lost a directory would list every file.
const MAX_REPORTED: usize = 20;

/// One way an unpacked layer differs from its tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDamage {
    /// The path inside the layer, "/" for its root.
    pub path: String,
    pub what: String,
}

impl fmt::Display for LayerDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.what)
    }
}

/// Compares the unpacked layer at `diff` with the layer tar `tar` (read to its end, so a digest
/// taken of the stream covers all of it); `opts` as it was unpacked with. Returns the
/// differences, at most [`MAX_REPORTED`] of them and then one that counts the rest. An error is
/// a tar the unpacker would not have unpacked, or a tree that cannot be read.
pub fn verify_layer(mut tar: impl Read, diff: &Path, opts: &UnpackOptions) -> Result<Vec<LayerDamage>, LayerError> {
    let model = Model::from_tar(&mut tar, opts)?;
    io::copy(&mut tar, &mut io::sink()).map_err(stream_error)?;
    let io_error = |source: io::Error| LayerError::Io { path: diff.to_owned(), source };
    let root = nix::fcntl::open(diff, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| io_error(e.into()))?;
    let mut comparer = Comparer::new(model, opts);
    comparer.compare_root(root.as_fd()).map_err(io_error)?;
    Ok(comparer.finish())
}

// --- the model ---------------------------------------------------------------------------

/// Owner, mode and the xattrs that travel in a layer (overlay's and SELinux's do not).
#[derive(Debug, Clone, Default)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Meta {
    fn of(entry: &EntryMeta) -> Meta {
        let xattrs = entry
            .xattrs
            .iter()
            .filter(|(key, _)| is_portable_xattr(key.to_bytes()))
            .map(|(key, value)| (key.to_bytes().to_vec(), value.clone()))
            .collect();
        Meta { mode: entry.mode, uid: entry.uid, gid: entry.gid, xattrs }
    }
}

fn is_portable_xattr(key: &[u8]) -> bool {
    !is_overlay_xattr(key) && key != SELINUX_XATTR
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum InodeKind {
    File { size: u64, digest: [u8; 32] },
    Symlink(Vec<u8>),
    Fifo,
    Device { block: bool, rdev: u64 },
    Whiteout,
}

impl InodeKind {
    fn name(&self) -> &'static str {
        match self {
            InodeKind::File { .. } => "regular file",
            InodeKind::Symlink(_) => "symlink",
            InodeKind::Fifo => "fifo",
            InodeKind::Device { block: false, .. } => "character device",
            InodeKind::Device { block: true, .. } => "block device",
            InodeKind::Whiteout => "whiteout",
        }
    }
}

/// A non-directory; its names (hard links) share it.
#[derive(Debug)]
struct Inode {
    kind: InodeKind,
    meta: Meta,
}

#[derive(Debug)]
struct DirInfo {
    /// None for a directory the unpacker made because an entry below it came first (0755).
    meta: Option<Meta>,
    opaque: bool,
}

#[derive(Debug)]
enum ModelEntry {
    Dir(DirInfo),
    Name(usize),
}

/// The tree the unpacker makes of a tar, by resolved layer-relative path.
#[derive(Default)]
struct Model {
    root_opaque: bool,
    entries: BTreeMap<RelPath, ModelEntry>,
    inodes: Vec<Inode>,
}

fn unverifiable(rel: &[Vec<u8>], why: &str) -> LayerError {
    LayerError::BadArchive(format!("{}: {why}", display_rel(rel)))
}

impl Model {
    fn from_tar(reader: impl Read, opts: &UnpackOptions) -> Result<Model, LayerError> {
        let mut model = Model::default();
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| LayerError::BadArchive(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| LayerError::BadArchive(e.to_string()))?;
            model.add(&mut entry, opts)?;
        }
        Ok(model)
    }

    fn add<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, opts: &UnpackOptions) -> Result<(), LayerError> {
        let raw = entry.path_bytes().into_owned();
        let rel = normalize_layer_path(&raw)?;
        let Some((name, parent)) = rel.split_last() else {
            return Ok(()); // the layer root itself
        };
        if name.as_slice() == OPAQUE_MARKER {
            let dir = self.resolve_dir(parent, true)?;
            return self.mark_opaque(&dir);
        }
        if name.starts_with(WHITEOUT_META_PREFIX) {
            return Ok(());
        }
        let meta = read_entry_meta(entry, &rel)?;
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(unverifiable(&rel, "invalid whiteout name"));
            }
            let mut target = parent.to_vec();
            target.push(hidden.to_vec());
            return self.add_inode(&target, InodeKind::Whiteout, &meta);
        }
        let entry_type = entry.header().entry_type();
        match entry_type {
            tar::EntryType::Regular if raw.ends_with(b"/") => self.add_dir(&rel, &meta),
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut hasher = Sha256::new();
                let size = io::copy(entry, &mut hasher)
                    .map_err(|e| LayerError::BadArchive(format!("{}: reading file data: {e}", display_rel(&rel))))?;
                self.add_inode(&rel, InodeKind::File { size, digest: hasher.finalize().into() }, &meta)
            }
            tar::EntryType::Directory => self.add_dir(&rel, &meta),
            tar::EntryType::Symlink => {
                let target = link_target(entry, &rel)?;
                self.add_inode(&rel, InodeKind::Symlink(target), &meta)
            }
            tar::EntryType::Link => {
                let target = link_target(entry, &rel)?;
                self.add_hardlink(&rel, &target)
            }
            tar::EntryType::Fifo => self.add_inode(&rel, InodeKind::Fifo, &meta),
            tar::EntryType::Char | tar::EntryType::Block if opts.in_user_namespace => Ok(()),
            tar::EntryType::Char | tar::EntryType::Block => {
                let rdev = entry_device(entry.header(), &rel)?;
                let block = entry_type == tar::EntryType::Block;
                self.add_inode(&rel, InodeKind::Device { block, rdev }, &meta)
            }
            _ => Ok(()),
        }
    }

    /// Where `rel` lands once its parent is resolved (missing parents made).
    fn place(&mut self, rel: &[Vec<u8>]) -> Result<RelPath, LayerError> {
        let (name, parent) = rel.split_last().expect("entries below the root have a name");
        let mut at = self.resolve_dir(parent, true)?;
        at.push(name.clone());
        Ok(at)
    }

    fn add_inode(&mut self, rel: &[Vec<u8>], kind: InodeKind, meta: &EntryMeta) -> Result<(), LayerError> {
        let at = self.place(rel)?;
        self.clear(&at);
        self.inodes.push(Inode { kind, meta: Meta::of(meta) });
        self.entries.insert(at, ModelEntry::Name(self.inodes.len() - 1));
        Ok(())
    }

    /// A directory over a directory keeps it (and what is in it) and merges its metadata, as
    /// the unpacker's chown, chmod and setxattr calls do.
    fn add_dir(&mut self, rel: &[Vec<u8>], meta: &EntryMeta) -> Result<(), LayerError> {
        let at = self.place(rel)?;
        let new = Meta::of(meta);
        if let Some(ModelEntry::Dir(info)) = self.entries.get_mut(&at) {
            let mut merged = info.meta.take().unwrap_or_default();
            merged.xattrs.extend(new.xattrs);
            info.meta = Some(Meta { xattrs: merged.xattrs, ..new });
            return Ok(());
        }
        self.clear(&at);
        self.entries.insert(at, ModelEntry::Dir(DirInfo { meta: Some(new), opaque: false }));
        Ok(())
    }

    fn add_hardlink(&mut self, rel: &[Vec<u8>], target_raw: &[u8]) -> Result<(), LayerError> {
        let target = normalize_layer_path(target_raw)?;
        if target.as_slice() == rel {
            return Ok(());
        }
        let Some((target_name, target_parent)) = target.split_last() else {
            return Err(unverifiable(rel, "hard link to the layer root"));
        };
        let mut target_at = self.resolve_dir(target_parent, false)?;
        target_at.push(target_name.clone());
        let inode = match self.entries.get(&target_at) {
            Some(ModelEntry::Name(inode)) => *inode,
            _ => return Err(unverifiable(rel, "hard link target is not a file of this layer")),
        };
        let at = self.place(rel)?;
        self.clear(&at);
        self.entries.insert(at, ModelEntry::Name(inode));
        Ok(())
    }

    fn mark_opaque(&mut self, dir: &[Vec<u8>]) -> Result<(), LayerError> {
        if dir.is_empty() {
            self.root_opaque = true;
            return Ok(());
        }
        match self.entries.get_mut(dir) {
            Some(ModelEntry::Dir(info)) => {
                info.opaque = true;
                Ok(())
            }
            _ => Err(unverifiable(dir, "opaque marker in something that is not a directory")),
        }
    }

    /// Removes what is at `at`, and everything below it.
    fn clear(&mut self, at: &RelPath) {
        if self.entries.remove(at).is_none() {
            return;
        }
        let below: Vec<RelPath> = self
            .entries
            .range::<RelPath, _>((std::ops::Bound::Excluded(at), std::ops::Bound::Unbounded))
            .take_while(|(path, _)| path.starts_with(at))
            .map(|(path, _)| path.clone())
            .collect();
        for path in below {
            self.entries.remove(&path);
        }
    }

    /// The directory `dir` resolves to as openat2(RESOLVE_IN_ROOT) resolves it in the layer
    /// root: through the layer's own symlinks, ".." stopping at the root. With `create`, a
    /// missing component of `dir` itself is made (the unpacker's implicit 0755 directory); one
    /// reached through a symlink is an error, as it is for the unpacker.
    fn resolve_dir(&mut self, dir: &[Vec<u8>], create: bool) -> Result<RelPath, LayerError> {
        let mut pending: VecDeque<(Vec<u8>, bool)> = dir.iter().map(|c| (c.clone(), true)).collect();
        let mut current: RelPath = Vec::new();
        let mut hops = 0;
        while let Some((component, from_entry)) = pending.pop_front() {
            match component.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    current.pop();
                    continue;
                }
                _ => current.push(component),
            }
            let target = match self.entries.get(&current) {
                Some(ModelEntry::Dir(_)) => continue,
                Some(ModelEntry::Name(inode)) => match &self.inodes[*inode].kind {
                    InodeKind::Symlink(target) => target.clone(),
                    _ => return Err(unverifiable(&current, "a parent path component is not a directory")),
                },
                None if create && from_entry => {
                    self.entries.insert(current.clone(), ModelEntry::Dir(DirInfo { meta: None, opaque: false }));
                    continue;
                }
                None if create => return Err(unverifiable(&current, "is a symlink to a missing directory")),
                None => return Err(unverifiable(&current, "does not exist")),
            };
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(unverifiable(&current, "too many levels of symbolic links"));
            }
            current.pop();
            if target.starts_with(b"/") {
                current.clear();
            }
            for part in target.split(|b| *b == b'/').rev() {
                pending.push_front((part.to_vec(), false));
            }
        }
        Ok(current)
    }
}

// --- the comparison ----------------------------------------------------------------------

/// Which owners the unpacker could give: chown fails (and is only warned about) for ids this
/// user namespace does not map, and for anyone but root.
struct Owners {
    root: bool,
    uids: Vec<(u32, u32)>,
    gids: Vec<(u32, u32)>,
}

impl Owners {
    fn current() -> Owners {
        let ranges = |file: &str| -> Vec<(u32, u32)> {
            let Ok(text) = std::fs::read_to_string(file) else {
                return vec![(0, u32::MAX)];
            };
            text.lines()
                .filter_map(|line| {
                    let fields: Vec<u32> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
                    match fields.as_slice() {
                        [inside, _, count] => Some((*inside, inside.saturating_add(count.saturating_sub(1)))),
                        _ => None,
                    }
                })
                .collect()
        };
        Owners {
            root: nix::unistd::geteuid().is_root(),
            uids: ranges("/proc/self/uid_map"),
            gids: ranges("/proc/self/gid_map"),
        }
    }

    fn settable(&self, uid: u32, gid: u32) -> bool {
        let mapped = |ranges: &[(u32, u32)], id: u32| ranges.iter().any(|(low, high)| (*low..=*high).contains(&id));
        self.root && mapped(&self.uids, uid) && mapped(&self.gids, gid)
    }
}

struct Comparer<'a> {
    model: Model,
    opts: &'a UnpackOptions,
    owners: Owners,
    damage: Vec<LayerDamage>,
    unreported: usize,
    /// The first name found of each model inode, with the inode it has on disk.
    first_name: HashMap<usize, ((u64, u64), RelPath)>,
    /// The model inode each inode on disk was found for.
    model_inode: HashMap<(u64, u64), (usize, RelPath)>,
}

fn shown(rel: &[Vec<u8>]) -> String {
    if rel.is_empty() { "/".to_owned() } else { format!("/{}", display_rel(rel)) }
}

fn actual_kind(st: &FileStat) -> &'static str {
    match file_type(st) {
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symlink",
        libc::S_IFIFO => "fifo",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFSOCK => "socket",
        _ => "file of unknown type",
    }
}

impl<'a> Comparer<'a> {
    fn new(model: Model, opts: &'a UnpackOptions) -> Self {
        Comparer {
            model,
            opts,
            owners: Owners::current(),
            damage: Vec::new(),
            unreported: 0,
            first_name: HashMap::new(),
            model_inode: HashMap::new(),
        }
    }

    fn report(&mut self, rel: &[Vec<u8>], what: String) {
        if self.damage.len() < MAX_REPORTED {
            self.damage.push(LayerDamage { path: shown(rel), what });
        } else {
            self.unreported += 1;
        }
    }

    fn finish(mut self) -> Vec<LayerDamage> {
        let missing: Vec<(RelPath, String)> = std::mem::take(&mut self.model.entries)
            .into_iter()
            .map(|(path, entry)| {
                let kind = match entry {
                    ModelEntry::Dir(_) => "directory",
                    ModelEntry::Name(inode) => self.model.inodes[inode].kind.name(),
                };
                (path, format!("missing (the layer's tar has a {kind} there)"))
            })
            .collect();
        for (path, what) in missing {
            self.report(&path, what);
        }
        if self.unreported > 0 {
            let count = self.unreported;
            self.damage.push(LayerDamage { path: "/".into(), what: format!("and {count} more differences") });
        }
        self.damage
    }

    fn compare_root(&mut self, root: BorrowedFd<'_>) -> io::Result<()> {
        let opaque = self.overlay_xattr(Node::Fd(root), b"opaque")?;
        self.check_opaque(&[], self.model.root_opaque, opaque);
        self.walk(root, &Vec::new())
    }

    fn overlay_xattr(&self, node: Node<'_>, suffix: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let mut key = self.opts.overlay_xattr_prefix.as_bytes().to_vec();
        key.extend_from_slice(suffix);
        node.get_xattr(&crate::sandbox::fs_at::cstring(&key)?)
    }

    fn check_opaque(&mut self, rel: &[Vec<u8>], expected: bool, actual: Option<Vec<u8>>) {
        // "x" marks a directory that holds xattr whiteouts (the unpacker's fallback form).
        match (expected, actual.as_deref()) {
            (true, Some(b"y")) | (false, None | Some(b"x")) => {}
            (true, _) => self.report(rel, "is no longer opaque".into()),
            (false, Some(_)) => self.report(rel, "is opaque, which the layer's tar does not make it".into()),
        }
    }

    fn walk(&mut self, dir: BorrowedFd<'_>, path: &RelPath) -> io::Result<()> {
        for name in dir_names(dir)? {
            let mut child = path.clone();
            child.push(name.to_bytes().to_vec());
            let Some(st) = lstat_at(dir, &name)? else { continue };
            match self.model.entries.remove(&child) {
                None => {
                    self.report(&child, format!("a {} the layer's tar does not have", actual_kind(&st)));
                }
                Some(ModelEntry::Dir(info)) if is_dir(&st) => {
                    let fd = open_dir_nofollow(dir, &name)?;
                    self.check_dir(fd.as_fd(), &st, &info, &child)?;
                    self.walk(fd.as_fd(), &child)?;
                }
                Some(ModelEntry::Dir(_)) => {
                    self.report(&child, format!("a {} where the layer's tar has a directory", actual_kind(&st)));
                    self.model.clear(&child);
                }
                Some(ModelEntry::Name(inode)) => self.check_name(dir, &name, &st, inode, &child)?,
            }
        }
        Ok(())
    }

    fn check_dir(&mut self, dir: BorrowedFd<'_>, st: &FileStat, info: &DirInfo, rel: &RelPath) -> io::Result<()> {
        let node = Node::Fd(dir);
        match &info.meta {
            Some(meta) => self.check_meta(node, st, meta, rel, true)?,
            None if st.st_mode & 0o7777 != 0o755 => {
                self.report(rel, format!("mode {:o} where the unpacker made it 755", st.st_mode & 0o7777));
            }
            None => {}
        }
        let opaque = self.overlay_xattr(node, b"opaque")?;
        self.check_opaque(rel, info.opaque, opaque);
        Ok(())
    }

    /// Owner, mode (unless a symlink), xattrs.
    fn check_meta(
        &mut self,
        node: Node<'_>,
        st: &FileStat,
        meta: &Meta,
        rel: &RelPath,
        with_mode: bool,
    ) -> io::Result<()> {
        if self.owners.settable(meta.uid, meta.gid) && (st.st_uid, st.st_gid) != (meta.uid, meta.gid) {
            let what = format!("owner {}:{} where the layer's tar has {}:{}", st.st_uid, st.st_gid, meta.uid, meta.gid);
            self.report(rel, what);
        }
        if with_mode && st.st_mode & 0o7777 != meta.mode {
            let what = format!("mode {:o} where the layer's tar has {:o}", st.st_mode & 0o7777, meta.mode);
            self.report(rel, what);
        }
        self.check_xattrs(node, st, meta, rel)
    }

    fn check_xattrs(&mut self, node: Node<'_>, st: &FileStat, meta: &Meta, rel: &RelPath) -> io::Result<()> {
        let mut actual = BTreeMap::new();
        for key in node.list_xattrs()? {
            if is_portable_xattr(key.to_bytes())
                && let Some(value) = node.get_xattr(&key)?
            {
                actual.insert(key.to_bytes().to_vec(), value);
            }
        }
        // Setting these fails, and the unpacker only warns: user.* anywhere but on regular
        // files and directories; trusted.* and security.* in a user namespace (where a file
        // capability is also rewritten for the namespace's root).
        let regular_or_dir = matches!(file_type(st), libc::S_IFREG | libc::S_IFDIR);
        let unprivileged = self.opts.in_user_namespace || !self.owners.root;
        let may_fail = |key: &[u8]| {
            (key.starts_with(b"user.") && !regular_or_dir)
                || (unprivileged && (key.starts_with(b"trusted.") || key.starts_with(b"security.")))
        };
        for (key, value) in &meta.xattrs {
            let text = String::from_utf8_lossy(key);
            match actual.remove(key) {
                Some(found) if found == *value || may_fail(key) => {}
                Some(_) => self.report(rel, format!("extended attribute {text} differs from the layer's tar")),
                None if may_fail(key) => {}
                None => self.report(rel, format!("extended attribute {text} is missing")),
            }
        }
        // A directory's default ACL gives what is created in it ACLs of its own.
        for key in actual.keys().filter(|key| !key.starts_with(b"system.posix_acl_")) {
            let what = format!("extended attribute {} is not in the layer's tar", String::from_utf8_lossy(key));
            self.report(rel, what);
        }
        Ok(())
    }

    /// A non-directory: its inode on disk must be the model inode's (hard links included),
    /// and match it.
    fn check_name(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        st: &FileStat,
        inode: usize,
        rel: &RelPath,
    ) -> io::Result<()> {
        let on_disk = (st.st_dev, st.st_ino);
        if let Some((first_disk, first)) = self.first_name.get(&inode).cloned() {
            if first_disk != on_disk {
                self.report(rel, format!("is no longer a hard link of {}", shown(&first)));
            }
            // Same inode on disk: checked already, through its first name.
            return Ok(());
        }
        if let Some((other, other_path)) = self.model_inode.get(&on_disk).cloned()
            && other != inode
        {
            self.report(
                rel,
                format!("is a hard link of {}, which the layer's tar does not make it", shown(&other_path)),
            );
        }
        self.first_name.insert(inode, (on_disk, rel.clone()));
        self.model_inode.insert(on_disk, (inode, rel.clone()));
        let node = Node::At { parent, name };
        let expected = &self.model.inodes[inode];
        let (kind, meta) = (expected.kind.clone(), expected.meta.clone());
        let actual = file_type(st);
        let is_xattr_whiteout =
            actual == libc::S_IFREG && st.st_size == 0 && self.overlay_xattr(node, b"whiteout")?.is_some();
        let matches = match &kind {
            InodeKind::Whiteout => (actual == libc::S_IFCHR && st.st_rdev == 0) || is_xattr_whiteout,
            InodeKind::File { .. } => actual == libc::S_IFREG && !is_xattr_whiteout,
            InodeKind::Symlink(_) => actual == libc::S_IFLNK,
            InodeKind::Fifo => actual == libc::S_IFIFO,
            InodeKind::Device { block: false, .. } => actual == libc::S_IFCHR,
            InodeKind::Device { block: true, .. } => actual == libc::S_IFBLK,
        };
        if !matches {
            let found = if is_xattr_whiteout { "whiteout" } else { actual_kind(st) };
            self.report(rel, format!("a {found} where the layer's tar has a {}", kind.name()));
            return Ok(());
        }
        match &kind {
            InodeKind::Whiteout => {
                // A whiteout keeps its entry's owner; its mode is 0 and its xattrs are overlay's.
                if self.owners.settable(meta.uid, meta.gid) && (st.st_uid, st.st_gid) != (meta.uid, meta.gid) {
                    self.report(
                        rel,
                        format!(
                            "owner {}:{} where the layer's tar has {}:{}",
                            st.st_uid, st.st_gid, meta.uid, meta.gid
                        ),
                    );
                }
                return Ok(());
            }
            InodeKind::File { size, digest } => {
                let actual_size = u64::try_from(st.st_size).unwrap_or(0);
                if actual_size != *size {
                    self.report(rel, format!("{actual_size} bytes where the layer's tar has {size}"));
                } else {
                    match content_digest(parent, name, *size) {
                        Ok(found) if found == *digest => {}
                        Ok(_) => self.report(rel, "content differs from the layer's tar".into()),
                        Err(e) if matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof) => {
                            self.report(rel, format!("cannot be read whole: {e}"));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            InodeKind::Symlink(target) => {
                let found = readlinkat(parent, name)?;
                if found.as_bytes() != target.as_slice() {
                    let what = format!(
                        "points to {} where the layer's tar has {}",
                        found.to_string_lossy(),
                        String::from_utf8_lossy(target)
                    );
                    self.report(rel, what);
                }
            }
            InodeKind::Device { rdev, .. } if st.st_rdev != *rdev => {
                self.report(rel, format!("device {} where the layer's tar has {rdev}", st.st_rdev));
            }
            InodeKind::Fifo | InodeKind::Device { .. } => {}
        }
        let with_mode = !matches!(kind, InodeKind::Symlink(_));
        self.check_meta(node, st, &meta, rel, with_mode)
    }
}

/// The sha256 of the `size` bytes the file was stat'ed with; a file of another length by the
/// time it is read (a layer is never written to) is an error.
fn content_digest(parent: BorrowedFd<'_>, name: &CStr, size: u64) -> io::Result<[u8; 32]> {
    let file = File::from(open_file_nofollow(parent, name)?);
    let mut exact =
        ExactSizeReader::new(file, size, "it shrank while being read").refusing_more("it grew while being read");
    let mut hasher = Sha256::new();
    io::copy(&mut exact, &mut hasher)?;
    Ok(hasher.finalize().into())
}
