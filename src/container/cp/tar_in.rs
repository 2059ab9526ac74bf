//! Extracting a tar into a directory below a root with Docker's cp rules: every member is
//! resolved below the extraction directory (which plays its root), a directory is merged into
//! a directory, a non-directory replaces a non-directory, and nothing else is replaced: a
//! directory over a non-directory, or a non-directory over a directory, is refused (Docker's
//! NoOverwriteDirNonDir, which `docker cp` always sets), so a copy never deletes a directory.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag, fstat, mkdirat, mknodat};
use nix::sys::time::TimeSpec;
use nix::unistd::{linkat, symlinkat};

use super::plan::{CopyPlan, plan_copy, relative};
use super::{CopyError, errno_err, io_err};
use crate::image::decode::decompressing_reader;
use crate::image::layer::{device_number, join_tar_path};
use crate::sandbox::fs_at::{
    self, Node, Resolver, create_file_excl, cstring, is_dir, lstat_at, open_dir_nofollow, openat2_in_root,
    remove_non_dir,
};

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
        return if rest.is_empty() { to.as_bytes().to_vec() } else { join_tar_path(to.as_bytes(), rest) };
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
    let parts: Vec<Vec<u8>> = rel.iter().map(|c| c.as_bytes().to_vec()).collect();
    fs_at::open_dir_in_root(root, Resolver::Openat2, &parts, true).map_err(|e| e.errno().into())
}

/// What a member makes, for the overwrite rules.
fn makes_directory(kind: tar::EntryType, raw: &[u8]) -> bool {
    // Pre-POSIX tars mark directories only with a trailing slash.
    kind == tar::EntryType::Directory || (kind == tar::EntryType::Regular && raw.ends_with(b"/"))
}

struct Extractor<'a> {
    root: BorrowedFd<'a>,
    /// The extraction directory as the user sees it, for messages.
    shown_root: String,
    owner: Owner,
    rename: Option<(String, String)>,
    /// Directories whose times are set once their content is in place.
    dir_times: Vec<(PathBuf, i64)>,
}

impl Extractor<'_> {
    fn shown(&self, rel: &Path) -> String {
        Path::new(&self.shown_root).join(rel).display().to_string()
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), CopyError> {
        let raw = rebase(&entry.path_bytes(), self.rename.as_ref());
        let parts = member_components(&raw)?;
        let Some(last) = parts.last().cloned() else {
            // The destination directory itself ("./"): left as it is.
            return Ok(());
        };
        let header = entry.header().clone();
        let kind = header.entry_type();
        if !matches!(
            kind,
            tar::EntryType::Directory
                | tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::Symlink
                | tar::EntryType::Link
                | tar::EntryType::Fifo
                | tar::EntryType::Char
                | tar::EntryType::Block
        ) {
            // PAX and GNU long-name headers are consumed by the tar reader; anything else is
            // nothing a file system holds.
            return Ok(());
        }
        let rel: PathBuf = parts.iter().collect();
        let shown = rel.display().to_string();
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_owned();
        let parent =
            ensure_dir(self.root, &parent_rel).map_err(io_err(format!("creating the directory of {shown}")))?;
        let name = cstring(last.as_bytes()).map_err(io_err(shown.clone()))?;
        let mode = header.mode().unwrap_or(0o644);
        let mtime = header.mtime().unwrap_or(0) as i64;
        let owner = match self.owner {
            Owner::FromArchive => Some((header.uid().unwrap_or(0) as u32, header.gid().unwrap_or(0) as u32)),
            Owner::Root => Some((0, 0)),
            Owner::Caller => None,
        };
        let directory = makes_directory(kind, &raw);
        let existing = lstat_at(parent.as_fd(), &name).map_err(io_err(format!("reading {shown}")))?;
        match existing {
            Some(st) if is_dir(&st) && !directory => {
                return Err(CopyError::Invalid(format!(
                    "cannot overwrite directory {:?} with non-directory {:?}",
                    self.shown(&rel),
                    self.shown_root
                )));
            }
            Some(st) if !is_dir(&st) && directory => {
                return Err(CopyError::Invalid(format!(
                    "cannot overwrite non-directory {:?} with directory {:?}",
                    self.shown(&rel),
                    self.shown_root
                )));
            }
            Some(st) if !is_dir(&st) => {
                remove_non_dir(parent.as_fd(), &name).map_err(io_err(format!("replacing {shown}")))?;
            }
            _ => {}
        }
        let keep_dir = existing.is_some_and(|st| is_dir(&st));
        let at = |e: Errno| CopyError::Io { what: format!("extracting {shown}"), source: e.into() };
        let set_owner = |node: Node<'_>| match owner {
            Some((uid, gid)) => node.chown(uid, gid),
            None => Ok(()),
        };
        let time = TimeSpec::new(mtime, 0);
        match kind {
            _ if directory => {
                if !keep_dir {
                    mkdirat(&parent, name.as_c_str(), Mode::from_bits_truncate(0o700)).map_err(at)?;
                }
                let dir = open_dir_nofollow(parent.as_fd(), &name).map_err(io_err(format!("extracting {shown}")))?;
                set_owner(Node::Fd(dir.as_fd())).map_err(at)?;
                Node::Fd(dir.as_fd()).chmod(mode).map_err(at)?;
                self.dir_times.push((rel.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut file = File::from(create_file_excl(parent.as_fd(), &name).map_err(at)?);
                io::copy(entry, &mut file).map_err(io_err(format!("extracting {shown}")))?;
                // Owner first: chown clears set-id bits.
                set_owner(Node::Fd(file.as_fd())).map_err(at)?;
                Node::Fd(file.as_fd()).chmod(mode).map_err(at)?;
                Node::Fd(file.as_fd()).set_times(&time, &time).map_err(at)?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                symlinkat(OsStr::from_bytes(&target), &parent, name.as_c_str()).map_err(at)?;
                let node = Node::At { parent: parent.as_fd(), name: &name };
                set_owner(node).map_err(at)?;
                node.set_times(&time, &time).map_err(at)?;
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
            _ => {
                let (sflag, dev) = match kind {
                    tar::EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    tar::EntryType::Char => (SFlag::S_IFCHR, self.device(&header, &shown)?),
                    _ => (SFlag::S_IFBLK, self.device(&header, &shown)?),
                };
                match mknodat(&parent, name.as_c_str(), sflag, Mode::from_bits_truncate(mode & 0o7777), dev) {
                    // Device nodes need privileges a user namespace does not give: left out.
                    Err(Errno::EPERM) => return Ok(()),
                    other => other.map_err(at)?,
                }
                set_owner(Node::At { parent: parent.as_fd(), name: &name }).map_err(at)?;
            }
        }
        Ok(())
    }

    fn device(&self, header: &tar::Header, shown: &str) -> Result<libc::dev_t, CopyError> {
        device_number(header).map_err(|e| CopyError::Invalid(format!("archive member {shown}: {e}")))
    }

    fn finish(self) -> Result<(), CopyError> {
        for (rel, mtime) in self.dir_times.iter().rev() {
            let Ok(parent) =
                openat2_in_root(self.root, rel.parent().unwrap_or(Path::new("")), OFlag::O_PATH | OFlag::O_DIRECTORY)
            else {
                continue;
            };
            let Ok(name) = cstring(rel.file_name().unwrap_or_default().as_bytes()) else { continue };
            let t = TimeSpec::new(*mtime, 0);
            let _ = Node::At { parent: parent.as_fd(), name: &name }.set_times(&t, &t);
        }
        Ok(())
    }
}

/// Whether `path` below `root` is a directory (symlinks followed inside the root), None when
/// nothing is there.
fn stat_in_root(root: BorrowedFd<'_>, path: &str) -> Result<Option<bool>, CopyError> {
    match openat2_in_root(root, &relative(path), OFlag::O_PATH) {
        Ok(fd) => Ok(Some(is_dir(&fstat(&fd).map_err(errno_err(format!("reading {path}")))?))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(CopyError::Io { what: format!("reading {path}"), source: e.into() }),
    }
}

/// The extraction directory as the user sees it, cleaned as Docker's messages show it: "/tmp/"
/// and "/tmp/." are "/tmp"; a path in the container is absolute.
fn shown_dir(dir: &str) -> String {
    let cleaned: PathBuf = Path::new("/").join(dir).components().collect();
    cleaned.display().to_string()
}

/// Receives an archive of one source (its first member is the source itself) into `destination`
/// below `root`, with Docker's rules; `as_is`: the archive came from `-` and is extracted into
/// the destination directory unchanged, decompressed first if it is gzip, bzip2, xz or zstd
/// (as Docker's is).
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
    let reader: Box<dyn Read + '_> =
        if as_is { decompressing_reader(reader).map_err(io_err("reading the archive"))?.1 } else { Box::new(reader) };
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
    let mut extractor = Extractor {
        root: dir.as_fd(),
        shown_root: shown_dir(&plan.extract_dir),
        owner,
        rename: plan.rename,
        dir_times: Vec::new(),
    };
    extractor.entry(&mut first)?;
    drop(first);
    for entry in entries {
        extractor.entry(&mut entry.map_err(io_err("reading the archive"))?)?;
    }
    extractor.finish()
}

#[cfg(test)]
mod tests;
