//! COPY, ADD and WORKDIR's mkdir: the layer is written as a tar directly (no container): the
//! sources resolved by `copy_source`, placed by Docker's destination rules against what the
//! destination is in the image (asked of a snapshot of the parent's layers), under the existing
//! directories above it with their own metadata, so the layer changes nothing but what is
//! copied. Times are clamped to the build's epoch; owners are 0:0 from the context, kept from a
//! stage or image, or `--chown`'s; `--chmod` replaces the permission bits.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::fcntl::OFlag;
use serde::{Deserialize, Serialize};

use crate::build::context::fs::{Entry, EntryKind, open_in_root};
use crate::build::copy_source::{DestState, DirTree, Placement, Resolved, Tree, follow, placement};
use crate::build::dockerfile::Chmod;
use crate::build::paths;

/// What the builder knows of an existing file's metadata.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i64,
}

impl Meta {
    fn of(entry: &Entry) -> Meta {
        Meta { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime_ns: entry.mtime_ns }
    }
}

/// The destination of a COPY as the parent's filesystem has it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DestInfo {
    /// The destination with symlinks resolved inside the image: absolute, a trailing `/` kept.
    pub dest: String,
    /// 0 missing, 1 directory, 2 something else.
    pub state: u8,
    /// Existing directories from the root down to the destination (absolute paths).
    pub dirs: Vec<(String, Meta)>,
    pub passwd: Option<String>,
    pub group: Option<String>,
}

impl DestInfo {
    pub fn dest_state(&self) -> DestState {
        match self.state {
            0 => DestState::Missing,
            1 => DestState::Directory,
            _ => DestState::Other,
        }
    }
}

fn read_small(tree: &DirTree, path: &str) -> Option<String> {
    let (found, entry) = follow(tree, path).ok()??;
    if entry.kind != EntryKind::File {
        return None;
    }
    let fd = open_in_root(tree.root_fd(), Path::new(&found), OFlag::O_RDONLY | OFlag::O_NOFOLLOW).ok()?;
    let mut text = String::new();
    std::fs::File::from(fd).take(16 << 20).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Looks `dest` up in the root filesystem at `root` (run in a snapshot helper).
pub fn dest_info(root: &Path, dest: &str, want_ids: bool) -> Result<DestInfo, String> {
    let tree = DirTree::open(root).map_err(|e| e.to_string())?;
    let trailing = dest.ends_with('/');
    let cleaned = paths::clean(&format!("/{dest}"));
    let parts: Vec<&str> = cleaned.split('/').filter(|p| !p.is_empty()).collect();
    let mut resolved = String::new();
    let mut dirs = Vec::new();
    let mut state = 1;
    let mut missing: Vec<&str> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let candidate = if resolved.is_empty() { (*part).to_owned() } else { format!("{resolved}/{part}") };
        match follow(&tree, &candidate).map_err(|e| e.to_string())? {
            Some((path, entry)) if entry.is_dir() => {
                dirs.push((format!("/{path}"), Meta::of(&entry)));
                resolved = path;
            }
            Some((path, _)) if i + 1 == parts.len() => {
                resolved = path;
                state = 2;
            }
            Some((path, _)) => return Err(format!("cannot copy to {dest}: /{path} is not a directory")),
            None => {
                missing = parts[i..].to_vec();
                state = 0;
                break;
            }
        }
    }
    let mut full = format!("/{resolved}");
    for part in missing {
        full = paths::join_clean(&full, part);
    }
    if trailing && !full.ends_with('/') {
        full.push('/');
    }
    let (passwd, group) =
        if want_ids { (read_small(&tree, "etc/passwd"), read_small(&tree, "etc/group")) } else { (None, None) };
    Ok(DestInfo { dest: full, state, dirs, passwd, group })
}

/// `--chown=user[:group]` resolved against the destination's /etc/passwd and /etc/group; a
/// user without a group gets the user's primary group (a numeric one: the same number).
pub fn resolve_chown(spec: &str, info: &DestInfo) -> Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &Option<String>, name: &str| -> Option<(u32, u32)> {
        file.as_deref()?.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4 && fields[0] == name)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))?
        })
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(uid) => (uid, uid),
        Err(_) => lookup(&info.passwd, user).ok_or_else(|| format!("unable to find user {user}"))?,
    };
    let gid = match group {
        None | Some("") => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => lookup(&info.group, g).map(|(gid, _)| gid).ok_or_else(|| format!("unable to find group {g}"))?,
        },
    };
    Ok((uid, gid))
}

/// How the sources of one step become tar entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyOptions {
    pub owner: Option<(u32, u32)>,
    /// Keep the sources' owners (a stage or image source) when no owner is given.
    pub keep_owner: bool,
    #[serde(skip)]
    pub chmod: Option<Chmod>,
    /// Clamp for every time written (ns since 1970).
    pub epoch_ns: i64,
    /// ADD: a local tar archive is unpacked into the destination.
    pub unpack: bool,
}

/// A tar of a step's changes.
pub struct LayerTar<W: Write> {
    builder: tar::Builder<W>,
    emitted: BTreeSet<String>,
    existing: HashMap<String, Meta>,
    created: Meta,
    epoch_ns: i64,
}

fn secs(ns: i64) -> u64 {
    ns.div_euclid(1_000_000_000).max(0) as u64
}

impl<W: Write> LayerTar<W> {
    pub fn new(out: W, info: &DestInfo, owner: Option<(u32, u32)>, epoch_ns: i64) -> LayerTar<W> {
        let (uid, gid) = owner.unwrap_or((0, 0));
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Complete);
        LayerTar {
            builder,
            emitted: BTreeSet::new(),
            existing: info.dirs.iter().cloned().collect(),
            created: Meta { mode: 0o755, uid, gid, mtime_ns: epoch_ns },
            epoch_ns,
        }
    }

    fn header(&self, kind: tar::EntryType, meta: Meta, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(meta.mode & 0o7777);
        header.set_uid(u64::from(meta.uid));
        header.set_gid(u64::from(meta.gid));
        header.set_mtime(secs(meta.mtime_ns.min(self.epoch_ns)));
        header.set_size(size);
        header
    }

    /// The directories above `target` (absolute), each once: an existing one with its own
    /// metadata, a missing one created.
    pub fn parents(&mut self, target: &str) -> io::Result<()> {
        let mut path = String::new();
        let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            path = format!("{path}/{part}");
            if !self.emitted.contains(&path) {
                let meta = self.existing.get(&path).copied().unwrap_or(self.created);
                self.dir(&path.clone(), meta)?;
            }
        }
        Ok(())
    }

    pub fn dir(&mut self, path: &str, meta: Meta) -> io::Result<()> {
        let mut header = self.header(tar::EntryType::Directory, meta, 0);
        self.emitted.insert(path.to_owned());
        self.builder.append_data(&mut header, path.trim_start_matches('/'), io::empty())
    }

    /// A directory made by the step (WORKDIR, a merge target): an existing one keeps its
    /// metadata.
    pub fn made_dir(&mut self, path: &str, meta: Meta) -> io::Result<()> {
        self.parents(path)?;
        let meta = self.existing.get(path).copied().unwrap_or(meta);
        self.dir(path, meta)
    }

    pub fn file(&mut self, path: &str, meta: Meta, size: u64, data: impl Read) -> io::Result<()> {
        let mut header = self.header(tar::EntryType::Regular, meta, size);
        self.emitted.insert(path.to_owned());
        self.builder.append_data(&mut header, path.trim_start_matches('/'), data.take(size))
    }

    pub fn symlink(&mut self, path: &str, target: &str, meta: Meta) -> io::Result<()> {
        let mut header = self.header(tar::EntryType::Symlink, meta, 0);
        self.emitted.insert(path.to_owned());
        self.builder.append_link(&mut header, path.trim_start_matches('/'), target)
    }

    fn hardlink(&mut self, path: &str, target: &str, meta: Meta) -> io::Result<()> {
        let mut header = self.header(tar::EntryType::Link, meta, 0);
        self.emitted.insert(path.to_owned());
        self.builder.append_link(&mut header, path.trim_start_matches('/'), target.trim_start_matches('/'))
    }

    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }
}

fn meta_for(entry: &Entry, options: &CopyOptions) -> Meta {
    let mode = match &options.chmod {
        Some(chmod) => chmod.apply(entry.mode, entry.is_dir()),
        None => entry.mode,
    };
    let (uid, gid) = match options.owner {
        Some(owner) => owner,
        None if options.keep_owner => (entry.uid, entry.gid),
        None => (0, 0),
    };
    Meta { mode, uid, gid, mtime_ns: entry.mtime_ns }
}

fn relative<'p>(base: &str, path: &'p str) -> &'p str {
    if base.is_empty() { path } else { path.strip_prefix(base).and_then(|p| p.strip_prefix('/')).unwrap_or(path) }
}

/// One source entry at `target`.
fn write_entry<W: Write>(
    tar: &mut LayerTar<W>,
    root: BorrowedFd,
    entry: &Entry,
    target: &str,
    options: &CopyOptions,
) -> io::Result<()> {
    let meta = meta_for(entry, options);
    match &entry.kind {
        EntryKind::Dir => tar.dir(target, meta),
        EntryKind::File => {
            let fd = open_in_root(root, Path::new(&entry.path), OFlag::O_RDONLY | OFlag::O_NOFOLLOW)?;
            let file = std::fs::File::from(fd);
            let size = file.metadata()?.len();
            tar.file(target, meta, size, file)
        }
        EntryKind::Symlink(link) => tar.symlink(target, link, meta),
        // Sockets, fifos and devices are not copied (BuildKit refuses devices too).
        _ => Ok(()),
    }
}

/// Whether the regular file `path` is a tar archive, plain or compressed (gzip, zstd).
fn is_archive(root: BorrowedFd, path: &str) -> io::Result<bool> {
    let fd = open_in_root(root, Path::new(path), OFlag::O_RDONLY | OFlag::O_NOFOLLOW)?;
    let Ok(mut reader) = crate::image::decode::DecodedReader::new(std::fs::File::from(fd)) else { return Ok(false) };
    let mut head = vec![0u8; 512];
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) => return Ok(false),
        }
    }
    Ok(filled == 512 && &head[257..262] == b"ustar")
}

/// ADD of a local archive: its entries under `dir`, names that climb out dropped.
fn unpack_archive<W: Write>(
    tar: &mut LayerTar<W>,
    root: BorrowedFd,
    path: &str,
    dir: &str,
    options: &CopyOptions,
) -> io::Result<()> {
    let fd = open_in_root(root, Path::new(path), OFlag::O_RDONLY | OFlag::O_NOFOLLOW)?;
    let reader = crate::image::decode::DecodedReader::new(std::fs::File::from(fd)).map_err(io::Error::other)?;
    let mut archive = tar::Archive::new(reader);
    tar.made_dir(dir, tar.created)?;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if paths::escapes_root(&name) {
            continue;
        }
        let rel = paths::clean(&format!("/{name}"));
        if rel == "/" {
            continue;
        }
        let target = paths::join_clean(dir, rel.trim_start_matches('/'));
        let header = entry.header();
        let fake = Entry {
            path: String::new(),
            kind: EntryKind::File,
            mode: header.mode()? & 0o7777,
            uid: header.uid()? as u32,
            gid: header.gid()? as u32,
            size: 0,
            mtime_ns: (header.mtime()? as i64).saturating_mul(1_000_000_000),
            ctime_ns: 0,
            ino: 0,
            dev: 0,
            rdev: 0,
        };
        let meta = meta_for(&fake, &CopyOptions { keep_owner: true, ..options.clone() });
        tar.parents(&target)?;
        match header.entry_type() {
            tar::EntryType::Directory => tar.dir(&target, meta)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = header.size()?;
                tar.file(&target, meta, size, &mut entry)?
            }
            tar::EntryType::Symlink => {
                let link =
                    entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
                tar.symlink(&target, &link, meta)?
            }
            tar::EntryType::Link => {
                let link =
                    entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
                if paths::escapes_root(&link) {
                    continue;
                }
                let link_target = paths::join_clean(dir, paths::clean(&format!("/{link}")).trim_start_matches('/'));
                tar.hardlink(&target, &link_target, meta)?
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes the resolved sources (read through `root`) at their places.
pub fn write_sources<W: Write>(
    tar: &mut LayerTar<W>,
    root: BorrowedFd,
    items: &[(Resolved, Placement)],
    info: &DestInfo,
    options: &CopyOptions,
) -> io::Result<()> {
    for (item, place) in items {
        if options.unpack && item.entry.kind == EntryKind::File && is_archive(root, &item.path)? {
            let dir = info.dest.trim_end_matches('/');
            let dir = if dir.is_empty() { "/" } else { dir };
            unpack_archive(tar, root, &item.path, dir, options)?;
            continue;
        }
        if let Some((_, parent_entries)) = &item.parents {
            // --parents: the directories between the pivot and the match keep their metadata.
            let base = info.dest.trim_end_matches('/');
            let mut dir = place.target.clone();
            let mut above = Vec::new();
            while let Some((up, _)) = dir.rsplit_once('/') {
                if up.len() <= base.len() {
                    break;
                }
                above.push(up.to_owned());
                dir = up.to_owned();
            }
            above.reverse();
            for (path, entry) in above.iter().zip(parent_entries) {
                tar.parents(path)?;
                if !tar.emitted.contains(path) {
                    tar.dir(path, meta_for(entry, options))?;
                }
            }
        }
        tar.parents(&place.target)?;
        if place.merge {
            let meta = meta_for(&item.entry, options);
            tar.made_dir(&place.target, meta)?;
            for entry in &item.contents {
                let target = paths::join_clean(&place.target, relative(&item.path, &entry.path));
                write_entry(tar, root, entry, &target, options)?;
            }
        } else {
            write_entry(tar, root, &item.entry, &place.target, options)?;
        }
    }
    Ok(())
}

/// Places every resolved source.
pub fn place_all(items: Vec<Resolved>, info: &DestInfo) -> Result<Vec<(Resolved, Placement)>, String> {
    let multiple = items.len() > 1;
    if multiple && !info.dest.ends_with('/') && info.dest_state() != DestState::Directory {
        return Err(format!(
            "when using COPY with more than one source file, the destination must be a directory and end with a /: {}",
            info.dest
        ));
    }
    items
        .into_iter()
        .map(|item| {
            let place = placement(&item, &info.dest, info.dest_state()).map_err(|e| e.to_string())?;
            Ok((item, place))
        })
        .collect()
}

/// A heredoc source (`COPY <<EOF /x`): a file named `name`, mode 0644 unless `--chmod`.
pub fn write_inline<W: Write>(
    tar: &mut LayerTar<W>,
    name: &str,
    content: &str,
    info: &DestInfo,
    options: &CopyOptions,
) -> io::Result<()> {
    let dir_dest = info.dest.ends_with('/') || info.dest_state() == DestState::Directory;
    let target = if dir_dest { paths::join_clean(info.dest.trim_end_matches('/'), name) } else { info.dest.clone() };
    let mode = options.chmod.as_ref().map_or(0o644, |c| c.apply(0o644, false));
    let (uid, gid) = options.owner.unwrap_or((0, 0));
    tar.parents(&target)?;
    tar.file(&target, Meta { mode, uid, gid, mtime_ns: options.epoch_ns }, content.len() as u64, content.as_bytes())
}

/// Resolves and places the sources in a tree (the context, or a snapshot's root).
pub fn plan(
    tree: &dyn Tree,
    sources: &[String],
    excludes: &[String],
    parents: bool,
    info: &DestInfo,
) -> Result<Vec<(Resolved, Placement)>, String> {
    let items = crate::build::copy_source::resolve(tree, sources, excludes, parents).map_err(|e| e.to_string())?;
    place_all(items, info)
}
