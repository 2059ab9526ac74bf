//! Walks a tree through directory fds, never following a symlink (a symlink is an entry whose
//! content is its target), applying a .dockerignore matcher the way Docker's context transfer
//! does: an ignored file is left out; an ignored directory is not entered, unless an exception
//! names something below it, and then it is listed only if something below it is kept.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use super::fs::{Entry, entry_at, open_subdir, sorted_names};
use crate::build::ignore::Matcher;

/// The entries of a tree (the root itself not included), depth first, each directory's names
/// sorted bytewise, every directory before what it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk {
    pub entries: Vec<Entry>,
    /// Files left out because their names are not UTF-8.
    pub warnings: Vec<String>,
}

struct Frame {
    fd: OwnedFd,
    path: String,
    names: Vec<Vec<u8>>,
    next: usize,
    /// An ignored directory entered for its exceptions, listed once something in it is kept.
    pending: Option<Entry>,
}

/// A walk error: the path concerned (relative to the root) and the system error.
#[derive(Debug)]
pub struct WalkError {
    pub path: String,
    pub source: io::Error,
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// Walks `start` (a directory below `root`, `""` for the root) and what is under it. Paths are
/// relative to `root`; `ignore` matches them.
pub fn walk(root: BorrowedFd<'_>, start: &str, ignore: Option<&Matcher>) -> Result<Walk, WalkError> {
    let fail = |path: &str| {
        let path = path.to_owned();
        move |source: io::Error| WalkError { path, source }
    };
    let fd = if start.is_empty() {
        nix::unistd::dup(root).map_err(|e| fail(start)(e.into()))?
    } else {
        super::fs::open_in_root(
            root,
            std::path::Path::new(start),
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_NOFOLLOW,
        )
        .map_err(fail(start))?
    };
    let names = sorted_names(fd.as_fd()).map_err(fail(start))?;
    let mut walk = Walk::default();
    let mut stack = vec![Frame { fd, path: start.to_owned(), names, next: 0, pending: None }];
    while let Some(top) = stack.len().checked_sub(1) {
        let frame = &mut stack[top];
        let Some(raw) = frame.names.get(frame.next).cloned() else {
            stack.pop();
            continue;
        };
        frame.next += 1;
        let Ok(name) = String::from_utf8(raw.clone()) else {
            let shown = join(&frame.path, &String::from_utf8_lossy(&raw));
            walk.warnings.push(format!("{shown}: skipped: the file name is not UTF-8"));
            continue;
        };
        let path = join(&frame.path, &name);
        let entry = match entry_at(frame.fd.as_fd(), OsStr::from_bytes(&raw), path.clone()) {
            Ok(entry) => entry,
            // Removed while the walk ran: it is simply not part of the context.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(fail(&path)(e)),
        };
        let ignored = ignore.is_some_and(|m| m.matches(&path));
        if entry.is_dir() {
            if ignored && !ignore.is_some_and(|m| m.may_include_below(&path)) {
                continue;
            }
            let sub = match open_subdir(frame.fd.as_fd(), OsStr::from_bytes(&raw)) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(fail(&path)(e)),
            };
            let names = sorted_names(sub.as_fd()).map_err(fail(&path))?;
            let pending = if ignored {
                Some(entry)
            } else {
                flush_pending(&mut stack, &mut walk.entries);
                walk.entries.push(entry);
                None
            };
            stack.push(Frame { fd: sub, path, names, next: 0, pending });
        } else if !ignored {
            flush_pending(&mut stack, &mut walk.entries);
            walk.entries.push(entry);
        }
    }
    Ok(walk)
}

/// Lists the ignored directories still pending above a kept entry, outermost first.
fn flush_pending(stack: &mut [Frame], entries: &mut Vec<Entry>) {
    for frame in stack.iter_mut() {
        if let Some(entry) = frame.pending.take() {
            entries.push(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::build::context::fs::{EntryKind, open_dir};

    fn paths(walk: &Walk) -> Vec<&str> {
        walk.entries.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn walks_in_order_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::write(root.join("b/c/f"), "x").unwrap();
        fs::write(root.join("a-z"), "y").unwrap();
        symlink("/etc", root.join("etc-link")).unwrap();
        symlink("b", root.join("b-link")).unwrap();
        let fd = open_dir(root).unwrap();
        let walk = walk(fd.as_fd(), "", None).unwrap();
        assert_eq!(paths(&walk), ["a-z", "b", "b/c", "b/c/f", "b-link", "etc-link"]);
        assert_eq!(walk.entries[5].kind, EntryKind::Symlink("/etc".into()));
        let sub = super::walk(fd.as_fd(), "b", None).unwrap();
        assert_eq!(paths(&sub), ["b/c", "b/c/f"]);
    }

    #[test]
    fn ignore_rules_and_exceptions_under_ignored_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "src/main.rs",
            "target/debug/x",
            "vendor/lib/a.go",
            "vendor/keep/b.go",
            "docs/x.md",
            "a.log",
            "sub/a.log",
            "node_modules/m/i.js",
        ] {
            fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            fs::write(root.join(file), file).unwrap();
        }
        let ignore =
            Matcher::new(&["target", "vendor", "!vendor/keep", "*.log", "**/node_modules", "docs", "!**/x.md"])
                .unwrap();
        let fd = open_dir(root).unwrap();
        let walk = walk(fd.as_fd(), "", Some(&ignore)).unwrap();
        assert_eq!(
            paths(&walk),
            ["src", "src/main.rs", "sub", "sub/a.log", "vendor", "vendor/keep", "vendor/keep/b.go"]
        );
    }
}
