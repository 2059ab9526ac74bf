//! A build context sent as a tar stream (`berth build - < context.tar`), extracted into a staging
//! directory. The stream is untrusted: every parent is opened with [`open_in_root`] (so `..`,
//! absolute names and symlinks in the archive resolve inside the staging directory, never
//! outside), a name climbing out of the root is refused, and the last component is only created
//! with `*at()` calls that do not follow symlinks. Regular files, directories, symlinks and hard
//! links are extracted; device nodes and fifos are skipped with a warning (a context has no use
//! for them); owners are kept when running as root.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, futimens, mkdirat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, linkat, symlinkat, unlinkat};

use super::fs::open_in_root;
use crate::build::paths;

/// A damaged or hostile archive, or a failed write.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("bad build context archive: {0}")]
    Bad(String),
    #[error("bad build context archive: entry {path:?} points outside the context")]
    Escapes { path: String },
    #[error("extracting {path:?} from the build context archive")]
    Io { path: String, source: io::Error },
}

fn io_at(path: &str) -> impl Fn(Errno) -> TarError + '_ {
    move |e| TarError::Io { path: path.to_owned(), source: e.into() }
}

/// A clean relative path, or `None` for the root; an error when it climbs out.
fn clean_name(raw: &str) -> Result<Option<String>, TarError> {
    let relative = raw.trim_start_matches('/');
    if paths::escapes_root(relative) {
        return Err(TarError::Escapes { path: raw.to_owned() });
    }
    let cleaned = paths::clean(relative);
    Ok(if cleaned == "." { None } else { Some(cleaned) })
}

fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => ("", path),
    }
}

/// Opens (creating as needed, mode 0755) the directory `path` below `root`.
fn ensure_dir(root: BorrowedFd<'_>, path: &str) -> Result<OwnedFd, TarError> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match open_in_root(root, Path::new(path), flags) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(TarError::Io { path: path.to_owned(), source: e }),
        Err(_) => {}
    }
    let mut dir =
        open_in_root(root, Path::new(""), flags).map_err(|e| TarError::Io { path: String::new(), source: e })?;
    let mut walked = String::new();
    for part in path.split('/') {
        walked = if walked.is_empty() { part.to_owned() } else { format!("{walked}/{part}") };
        match mkdirat(dir.as_fd(), part, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(io_at(&walked)(e)),
        }
        dir = open_in_root(root, Path::new(&walked), flags)
            .map_err(|e| TarError::Io { path: walked.clone(), source: e })?;
    }
    Ok(dir)
}

/// Removes whatever is at `name` unless it is a directory and `keep_dir`.
fn clear(parent: BorrowedFd<'_>, name: &str, path: &str, keep_dir: bool) -> Result<bool, TarError> {
    match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(io_at(path)(e)),
        Ok(st) if st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits() => {
            if keep_dir {
                return Ok(true);
            }
            Err(TarError::Bad(format!("{path:?} is a directory earlier in the archive and a file later")))
        }
        Ok(_) => {
            unlinkat(parent, name, UnlinkatFlags::NoRemoveDir).map_err(io_at(path))?;
            Ok(false)
        }
    }
}

fn time(seconds: u64) -> TimeSpec {
    TimeSpec::new(i64::try_from(seconds).unwrap_or(i64::MAX), 0)
}

/// Extracts the tar stream `reader` (plain tar: the caller decompresses) into the directory
/// `root`. Returns warnings for what was skipped.
pub fn extract(reader: impl Read, root: BorrowedFd<'_>) -> Result<Vec<String>, TarError> {
    let as_root = nix::unistd::geteuid().is_root();
    let mut archive = tar::Archive::new(reader);
    let mut warnings = Vec::new();
    // Directory modes and times are set at the end: a read-only directory must still be
    // written into, and writing into a directory changes its mtime.
    let mut directories: Vec<(String, u32, u64)> = Vec::new();
    let entries = archive.entries().map_err(|e| TarError::Bad(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| TarError::Bad(e.to_string()))?;
        let raw = entry.path_bytes();
        let raw = std::str::from_utf8(&raw).map_err(|_| TarError::Bad("an entry name is not UTF-8".into()))?.to_owned();
        let Some(path) = clean_name(&raw)? else { continue };
        let header = entry.header().clone();
        let mode = header.mode().map_err(|e| TarError::Bad(e.to_string()))? & 0o7777;
        let mtime = header.mtime().unwrap_or(0);
        let (uid, gid) = (header.uid().unwrap_or(0), header.gid().unwrap_or(0));
        let (parent_path, name) = split(&path);
        let kind = header.entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            continue;
        }
        let parent = ensure_dir(root, parent_path)?;
        let parent = parent.as_fd();
        let io = io_at(&path);
        if kind.is_dir() {
            if !clear(parent, name, &path, true)? {
                mkdirat(parent, name, Mode::from_bits_truncate(0o700)).map_err(&io)?;
            }
            directories.push((path.clone(), mode, mtime));
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            clear(parent, name, &path, false)?;
            let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let fd = openat(parent, name, flags, Mode::from_bits_truncate(0o600)).map_err(&io)?;
            let mut file = File::from(fd);
            io::copy(&mut entry, &mut file).map_err(|e| TarError::Io { path: path.clone(), source: e })?;
            fchmod(file.as_fd(), Mode::from_bits_truncate(mode)).map_err(&io)?;
            futimens(file.as_fd(), &time(mtime), &time(mtime)).map_err(&io)?;
        } else if kind.is_symlink() {
            let target =
                entry.link_name_bytes().ok_or_else(|| TarError::Bad(format!("symlink {path:?} has no target")))?;
            clear(parent, name, &path, false)?;
            symlinkat(OsStr::from_bytes(&target), parent, name).map_err(&io)?;
            let _ = utimensat(parent, name, &time(mtime), &time(mtime), UtimensatFlags::NoFollowSymlink);
        } else if kind.is_hard_link() {
            let target =
                entry.link_name_bytes().ok_or_else(|| TarError::Bad(format!("hard link {path:?} has no target")))?;
            let target =
                std::str::from_utf8(&target).map_err(|_| TarError::Bad("a link target is not UTF-8".into()))?;
            let Some(target) = clean_name(target)? else {
                return Err(TarError::Bad(format!("hard link {path:?} to the root")));
            };
            let (target_parent, target_name) = split(&target);
            let target_dir = open_in_root(root, Path::new(target_parent), OFlag::O_PATH | OFlag::O_DIRECTORY)
                .map_err(|e| TarError::Io { path: target.clone(), source: e })?;
            clear(parent, name, &path, false)?;
            linkat(target_dir.as_fd(), target_name, parent, name, AtFlags::empty()).map_err(&io)?;
            continue;
        } else {
            warnings.push(format!("{path}: skipped: a {} has no place in a build context", kind_name(kind)));
            continue;
        }
        if as_root {
            // Owners matter only to `RUN --mount=type=bind`; a failure (an unmapped id in a user
            // namespace) leaves the file to the caller.
            let _ = fchownat(
                parent,
                name,
                Some(Uid::from_raw(uid as u32)),
                Some(Gid::from_raw(gid as u32)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            );
        }
    }
    for (path, mode, mtime) in directories.iter().rev() {
        let (parent_path, name) = split(path);
        let parent = ensure_dir(root, parent_path)?;
        fchmodat(parent.as_fd(), name, Mode::from_bits_truncate(*mode), FchmodatFlags::FollowSymlink)
            .map_err(io_at(path))?;
        let _ = utimensat(parent.as_fd(), name, &time(*mtime), &time(*mtime), UtimensatFlags::NoFollowSymlink);
    }
    Ok(warnings)
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "fifo",
        _ => "special entry",
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::build::context::fs::open_dir;

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(1_000_000);
        h
    }

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        builder.into_inner().unwrap()
    }

    #[test]
    fn extracts_files_dirs_links() {
        let bytes = archive(|b| {
            b.append_data(&mut header(tar::EntryType::Directory, 0, 0o555), "ro/", &[][..]).unwrap();
            b.append_data(&mut header(tar::EntryType::Regular, 5, 0o640), "ro/file", &b"hello"[..]).unwrap();
            b.append_data(&mut header(tar::EntryType::Regular, 2, 0o755), "./deep/er/x.sh", &b"#!"[..]).unwrap();
            let mut link = header(tar::EntryType::Symlink, 0, 0o777);
            b.append_link(&mut link, "abs-link", "/etc/passwd").unwrap();
            let mut hard = header(tar::EntryType::Link, 0, 0o640);
            b.append_link(&mut hard, "hard", "ro/file").unwrap();
            b.append_data(&mut header(tar::EntryType::Fifo, 0, 0o644), "pipe", &[][..]).unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let fd = open_dir(dir.path()).unwrap();
        let warnings = extract(&bytes[..], fd.as_fd()).unwrap();
        let root = dir.path();
        assert_eq!(fs::read(root.join("ro/file")).unwrap(), b"hello");
        assert_eq!(fs::metadata(root.join("ro/file")).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(fs::metadata(root.join("ro")).unwrap().mode() & 0o7777, 0o555);
        assert_eq!(fs::metadata(root.join("ro/file")).unwrap().mtime(), 1_000_000);
        assert_eq!(fs::read_link(root.join("abs-link")).unwrap().to_str(), Some("/etc/passwd"));
        assert_eq!(fs::metadata(root.join("hard")).unwrap().ino(), fs::metadata(root.join("ro/file")).unwrap().ino());
        assert_eq!(fs::read(root.join("deep/er/x.sh")).unwrap(), b"#!");
        assert_eq!(warnings, ["pipe: skipped: a fifo has no place in a build context"]);
        fs::set_permissions(root.join("ro"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }

    /// Writes raw header names, which `tar::Builder` would refuse.
    fn raw_entry(name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header(kind, data.len() as u64, 0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    #[test]
    fn hostile_archives_stay_inside() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let fd = open_dir(dir.path()).unwrap();
        // A symlink to a directory outside, then a file through it: lands inside the root.
        let target = outside.path().to_str().unwrap();
        let mut bytes = raw_entry("escape", tar::EntryType::Symlink, target, b"");
        bytes.extend(raw_entry(&format!("escape{}/planted", ""), tar::EntryType::Regular, "", b"x"));
        bytes.extend([0u8; 1024]);
        let result = extract(&bytes[..], fd.as_fd());
        // Writing "escape/planted" follows the symlink inside the root (RESOLVE_IN_ROOT: the
        // absolute target is the root's own path below it), or fails; never outside.
        let _ = result;
        assert!(fs::read_dir(outside.path()).unwrap().next().is_none(), "nothing written outside");
        let mut dotdot = raw_entry("../evil", tar::EntryType::Regular, "", b"x");
        dotdot.extend([0u8; 1024]);
        assert!(matches!(extract(&dotdot[..], fd.as_fd()), Err(TarError::Escapes { .. })));
        let mut link = raw_entry("l", tar::EntryType::Link, "../../etc/passwd", b"");
        link.extend([0u8; 1024]);
        assert!(matches!(extract(&link[..], fd.as_fd()), Err(TarError::Escapes { .. })));
        assert!(matches!(
            extract(&b"definitely not a tar archive, just text that is long enough"[..], fd.as_fd()),
            Err(TarError::Bad(_))
        ));
    }
}
