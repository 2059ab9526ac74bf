//! COPY and ADD sources: what a source names in the context (or in a stage's or image's root
//! filesystem), with BuildKit's rules:
//!
//! - a source is relative to the root (`/x` and `x` are the same; `.` is the root);
//! - wildcards follow Go's `filepath.Match` (`*` and `?` never cross `/`): the path is split at
//!   its first component with a wildcard, the directory before it is walked, and each entry whose
//!   path below that directory matches the rest is a source (a matching directory is not entered).
//!   A wildcard that matches nothing copies nothing; a plain path that does not exist is an error;
//! - a source that is a symlink is followed; symlinks inside a copied directory stay symlinks.
//!   In the context, a symlink that leads out of the context is refused (a context never brings
//!   host files in); in a root filesystem it resolves inside that root, as in a container;
//! - a directory copies its contents, not itself; `--exclude` patterns (.dockerignore syntax)
//!   leave out what they match below it, or a match of a wildcard;
//! - `--parents` keeps each match's directories: `a/b/c.txt` lands at `DEST/a/b/c.txt`, or
//!   below a `/./` pivot, `a/./b/c.txt` at `DEST/b/c.txt`; the pattern may use `**`.
//!
//! [`placement`] applies Docker's destination rules once the builder knows what the destination
//! is in the image.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use super::context::BuildContext;
use super::context::fs::{Entry, EntryKind, entry_at, open_dir, open_in_root};
use super::context::walk::walk;
use super::glob;
use super::ignore::Matcher;
use super::paths;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{0:?}: not found in the build context")]
    NotFound(String),
    #[error("{0:?}: not found in the build context: it is excluded by .dockerignore")]
    Ignored(String),
    #[error("{0:?}: not found")]
    Missing(String),
    #[error("{link:?} is a symlink to {target:?}, outside the build context")]
    OutsideContext { link: String, target: String },
    #[error("{0:?}: too many levels of symbolic links")]
    SymlinkLoop(String),
    #[error("invalid --exclude pattern")]
    Exclude(#[from] super::ignore::PatternError),
    #[error("invalid source pattern {0:?}: syntax error in pattern")]
    BadPattern(String),
    #[error("cannot copy to non-directory: {0}")]
    NotADirectory(String),
    #[error("reading {path}")]
    Io { path: String, source: std::io::Error },
}

/// A source tree: what `lstat` and a walk below a directory see.
pub trait Tree {
    /// lstat of `path` (relative to the root, `""` the root itself); `None` when missing.
    fn lstat(&self, path: &str) -> Result<Option<Entry>, CopyError>;
    /// Everything below the directory `dir`, depth first, directories before their contents.
    fn below(&self, dir: &str) -> Result<Vec<Entry>, CopyError>;
    /// Whether a symlink leading out of the root is an error (the context) or resolves inside
    /// it (a root filesystem).
    fn refuses_escapes(&self) -> bool;
    /// Whether `path` exists but is hidden from COPY (by .dockerignore), for messages.
    fn is_hidden(&self, _path: &str) -> bool {
        false
    }
    /// The error for a missing source.
    fn missing(&self, source: &str) -> CopyError {
        if self.is_hidden(source) {
            CopyError::Ignored(source.to_owned())
        } else {
            CopyError::Missing(source.to_owned())
        }
    }
}

/// The build context as COPY sees it: its walk, .dockerignore applied.
pub struct ContextTree<'a> {
    context: &'a BuildContext,
    entries: &'a [Entry],
    index: HashMap<&'a str, usize>,
}

impl<'a> ContextTree<'a> {
    pub fn new(context: &'a BuildContext) -> Result<ContextTree<'a>, super::context::ContextError> {
        let entries = context.entries()?;
        let index = entries.iter().enumerate().map(|(i, e)| (e.path.as_str(), i)).collect();
        Ok(ContextTree { context, entries, index })
    }
}

fn root_entry() -> Entry {
    Entry {
        path: String::new(),
        kind: EntryKind::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        mtime_ns: 0,
        ctime_ns: 0,
        ino: 0,
        dev: 0,
        rdev: 0,
    }
}

impl Tree for ContextTree<'_> {
    fn lstat(&self, path: &str) -> Result<Option<Entry>, CopyError> {
        if path.is_empty() {
            let st = nix::sys::stat::fstat(self.context.root_fd())
                .map_err(|e| CopyError::Io { path: ".".into(), source: e.into() })?;
            return Ok(Some(super::context::fs::from_stat(&st, EntryKind::Dir, String::new())));
        }
        Ok(self.index.get(path).map(|&i| self.entries[i].clone()))
    }

    fn below(&self, dir: &str) -> Result<Vec<Entry>, CopyError> {
        if dir.is_empty() {
            return Ok(self.entries.to_vec());
        }
        let Some(&start) = self.index.get(dir) else { return Ok(Vec::new()) };
        let prefix = format!("{dir}/");
        // A directory's descendants follow it in the walk, contiguously.
        Ok(self.entries[start + 1..].iter().take_while(|e| e.path.starts_with(&prefix)).cloned().collect())
    }

    fn refuses_escapes(&self) -> bool {
        true
    }

    fn is_hidden(&self, path: &str) -> bool {
        let path = paths::clean(path.trim_start_matches('/'));
        self.context.ignore().matches(&path)
            && open_in_root(
                self.context.root_fd(),
                Path::new(&path),
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW,
            )
            .is_ok()
    }
}

/// A root filesystem on disk (a finished stage, an image's unpacked layers merged), read through
/// fds below its root.
pub struct DirTree {
    root: OwnedFd,
}

impl DirTree {
    pub fn open(root: &Path) -> Result<DirTree, CopyError> {
        let root_fd = open_dir(root).map_err(|source| CopyError::Io { path: root.display().to_string(), source })?;
        Ok(DirTree { root: root_fd })
    }

    /// The root's fd, for hashing what was resolved in it (`digest::Hasher`).
    pub fn root_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.root.as_fd()
    }
}

impl Tree for DirTree {
    fn lstat(&self, path: &str) -> Result<Option<Entry>, CopyError> {
        if path.is_empty() {
            return Ok(Some(root_entry()));
        }
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let io = |source: std::io::Error| CopyError::Io { path: path.to_owned(), source };
        let dir = match open_in_root(
            self.root.as_fd(),
            Path::new(parent),
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
        ) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        match entry_at(dir.as_fd(), std::ffi::OsStr::new(name), path.to_owned()) {
            Ok(entry) => Ok(Some(entry)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    fn below(&self, dir: &str) -> Result<Vec<Entry>, CopyError> {
        walk(self.root.as_fd(), dir, None)
            .map(|w| w.entries)
            .map_err(|e| CopyError::Io { path: e.path, source: e.source })
    }

    fn refuses_escapes(&self) -> bool {
        false
    }
}

/// What one source resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The path copied (a symlinked source followed), relative to the tree's root.
    pub path: String,
    /// The name it was matched by (its last component before any symlink was followed): a file
    /// copied into a directory gets this name.
    pub name: String,
    /// What `path` is.
    pub entry: Entry,
    /// With `--parents`: the directories between the pivot and the match (`a/b` for
    /// `a/b/c.txt`), to recreate under the destination, and their source entries.
    pub parents: Option<(String, Vec<Entry>)>,
    /// For a directory: everything below it that is copied, paths relative to the tree's root.
    pub contents: Vec<Entry>,
}

/// Follows `path` (relative to the tree's root) through every symlink in it.
pub fn follow(tree: &dyn Tree, path: &str) -> Result<Option<(String, Entry)>, CopyError> {
    const MAX_LINKS: usize = 255;
    let mut pending: Vec<String> =
        path.split('/').rev().filter(|p| !p.is_empty() && *p != ".").map(str::to_owned).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    let escape = |target: &str| CopyError::OutsideContext { link: path.to_owned(), target: target.to_owned() };
    while let Some(part) = pending.pop() {
        if part == ".." {
            if resolved.pop().is_none() && tree.refuses_escapes() {
                return Err(escape(path));
            }
            continue;
        }
        let candidate = if resolved.is_empty() { part.clone() } else { format!("{}/{part}", resolved.join("/")) };
        let Some(entry) = tree.lstat(&candidate)? else { return Ok(None) };
        let EntryKind::Symlink(target) = &entry.kind else {
            resolved.push(part);
            continue;
        };
        links += 1;
        if links > MAX_LINKS {
            return Err(CopyError::SymlinkLoop(path.to_owned()));
        }
        if target.starts_with('/') {
            if tree.refuses_escapes() {
                return Err(escape(target));
            }
            resolved.clear();
        }
        // `..` in a relative target climbing above the root is caught when it is popped.
        if tree.refuses_escapes() && paths::escapes_root(&format!("{}/{target}", resolved.join("/"))) {
            return Err(escape(target));
        }
        pending.extend(target.split('/').rev().filter(|p| !p.is_empty() && *p != ".").map(str::to_owned));
    }
    let joined = resolved.join("/");
    Ok(tree.lstat(&joined)?.map(|e| (joined, e)))
}

/// Relative path of `path` below `base` (`""` for the root).
fn relative<'p>(base: &str, path: &'p str) -> &'p str {
    if base.is_empty() { path } else { path.strip_prefix(base).and_then(|p| p.strip_prefix('/')).unwrap_or(path) }
}

/// The contents of the directory `dir` to copy: `excludes` (relative to `dir`) leave out what
/// they match, and an excluded directory is entered only when an exception names something in it.
fn contents(tree: &dyn Tree, dir: &str, excludes: &Matcher) -> Result<Vec<Entry>, CopyError> {
    let all = tree.below(dir)?;
    if excludes.is_empty() {
        return Ok(all);
    }
    let mut kept = Vec::new();
    let mut skipped_dirs: Vec<String> = Vec::new();
    for entry in all {
        let rel = relative(dir, &entry.path);
        if skipped_dirs.iter().any(|d| rel.starts_with(d.as_str())) {
            continue;
        }
        if excludes.matches(rel) {
            if entry.is_dir() && !excludes.may_include_below(rel) {
                skipped_dirs.push(format!("{rel}/"));
            }
            continue;
        }
        kept.push(entry);
    }
    Ok(kept)
}

fn resolved_item(
    tree: &dyn Tree,
    name: &str,
    path: String,
    entry: Entry,
    excludes: &Matcher,
) -> Result<Resolved, CopyError> {
    let contents = if entry.is_dir() { contents(tree, &path, excludes)? } else { Vec::new() };
    Ok(Resolved { name: name.to_owned(), path, entry, parents: None, contents })
}

/// Resolves the sources of one COPY or ADD (local sources only; URLs and git are the builder's).
pub fn resolve(
    tree: &dyn Tree,
    sources: &[String],
    excludes: &[String],
    parents: bool,
) -> Result<Vec<Resolved>, CopyError> {
    let excludes = Matcher::new(excludes)?;
    let mut out = Vec::new();
    for source in sources {
        if parents {
            out.extend(resolve_with_parents(tree, source, &excludes)?);
            continue;
        }
        let normalized = paths::clean(&format!("/{source}"));
        let path = normalized.trim_start_matches('/');
        if !glob::has_wildcards(path) {
            let Some((followed, entry)) = follow(tree, path)? else { return Err(tree.missing(source)) };
            let name = path.rsplit('/').next().unwrap_or("").to_owned();
            out.push(resolved_item(tree, &name, followed, entry, &excludes)?);
            continue;
        }
        for found in wildcard_matches(tree, source, path)? {
            if excludes.matches(&found.below_base) {
                continue;
            }
            let Some((followed, entry)) = follow(tree, &found.path)? else { continue };
            out.push(resolved_item(tree, &found.name, followed, entry, &excludes)?);
        }
    }
    Ok(out)
}

/// A match of a wildcard source.
struct Found {
    path: String,
    /// The path below the directory walked for the wildcard.
    below_base: String,
    name: String,
}

fn wildcard_matches(tree: &dyn Tree, source: &str, path: &str) -> Result<Vec<Found>, CopyError> {
    let parts: Vec<&str> = path.split('/').collect();
    let split = parts.iter().position(|p| glob::has_wildcards(p)).expect("has a wildcard");
    let base = parts[..split].join("/");
    let pattern = parts[split..].join("/");
    glob::validate(&pattern).map_err(|_| CopyError::BadPattern(source.to_owned()))?;
    let Some((base, entry)) = follow(tree, &base)? else { return Ok(Vec::new()) };
    if !entry.is_dir() {
        return Ok(Vec::new());
    }
    let depth = pattern.split('/').count();
    let mut matches = Vec::new();
    let mut matched_dirs: Vec<String> = Vec::new();
    for entry in tree.below(&base)? {
        let rel = relative(&base, &entry.path).to_owned();
        if rel.split('/').count() > depth || matched_dirs.iter().any(|d| rel.starts_with(d.as_str())) {
            continue;
        }
        if glob::matches(&pattern, &rel).map_err(|_| CopyError::BadPattern(source.to_owned()))? {
            if entry.is_dir() {
                matched_dirs.push(format!("{rel}/"));
            }
            matches.push(Found { path: entry.path.clone(), name: entry.name().to_owned(), below_base: rel });
        }
    }
    Ok(matches)
}

/// `--parents`: the pivot (before `/./`, else the root) is walked and whatever the rest of the
/// source matches keeps its path from the pivot.
fn resolve_with_parents(tree: &dyn Tree, source: &str, excludes: &Matcher) -> Result<Vec<Resolved>, CopyError> {
    let (pivot, pattern) = match source.split_once("/./") {
        Some((pivot, pattern)) => (paths::clean(&format!("/{pivot}")), pattern),
        None => ("/".to_owned(), source),
    };
    let pivot = pivot.trim_start_matches('/');
    let pattern = paths::clean(&format!("/{pattern}"));
    let pattern = pattern.trim_start_matches('/');
    let matcher = Matcher::new(&[pattern]).map_err(|_| CopyError::BadPattern(source.to_owned()))?;
    let Some((pivot, pivot_entry)) = follow(tree, pivot)? else { return Err(tree.missing(source)) };
    if !pivot_entry.is_dir() {
        return Err(tree.missing(source));
    }
    let below = tree.below(&pivot)?;
    let by_path: HashMap<&str, &Entry> = below.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut out = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    for entry in &below {
        let rel = relative(&pivot, &entry.path);
        if taken.iter().any(|t| rel.starts_with(t.as_str())) || !matcher.matches(rel) || excludes.matches(rel) {
            continue;
        }
        if entry.is_dir() {
            taken.push(format!("{rel}/"));
        }
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let mut parent_entries = Vec::new();
        let mut walked = String::new();
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            walked = if walked.is_empty() { part.to_owned() } else { format!("{walked}/{part}") };
            let full = if pivot.is_empty() { walked.clone() } else { format!("{pivot}/{walked}") };
            if let Some(e) = by_path.get(full.as_str()) {
                parent_entries.push((*e).clone());
            }
        }
        let (path, followed) = match &entry.kind {
            EntryKind::Symlink(_) => match follow(tree, &entry.path)? {
                Some(found) => found,
                None => continue,
            },
            _ => (entry.path.clone(), entry.clone()),
        };
        let mut item = resolved_item(tree, name, path, followed, excludes)?;
        item.parents = Some((dir.to_owned(), parent_entries));
        out.push(item);
    }
    if out.is_empty() && !glob::has_wildcards(pattern) {
        return Err(tree.missing(source));
    }
    Ok(out)
}

/// What the destination is in the image, as the builder finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestState {
    Missing,
    Directory,
    /// A file, a symlink to a file, a device…
    Other,
}

/// Where a resolved source goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Absolute path in the image.
    pub target: String,
    /// A directory source: its contents are merged into `target` (created when missing).
    pub merge: bool,
}

/// Docker's destination rules. `dest` is absolute; a trailing `/` makes it a directory (created
/// when missing) whatever it is now. A directory's contents merge into the destination; a file
/// goes into the destination when that is a directory, else becomes it.
pub fn placement(item: &Resolved, dest: &str, state: DestState) -> Result<Placement, CopyError> {
    let dir_dest = dest.ends_with('/') || state == DestState::Directory;
    let base = if dest == "/" { "/".to_owned() } else { dest.trim_end_matches('/').to_owned() };
    let join = |a: &str, b: &str| if b.is_empty() { a.to_owned() } else { paths::join_clean(a, b) };
    if let Some((dir, _)) = &item.parents {
        let target = join(&join(&base, dir), &item.name);
        return Ok(Placement { target, merge: item.entry.is_dir() });
    }
    if item.entry.is_dir() {
        if state == DestState::Other && !dest.ends_with('/') {
            return Err(CopyError::NotADirectory(dest.to_owned()));
        }
        return Ok(Placement { target: base, merge: true });
    }
    let target = if dir_dest { join(&base, &item.name) } else { base };
    Ok(Placement { target, merge: false })
}

#[cfg(test)]
#[path = "copy_source_tests.rs"]
mod tests;
