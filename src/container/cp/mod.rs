//! Files in and out of containers: `berth cp` (Docker's semantics for files, directories and a
//! trailing `/.`, tar streams for `-`), and the tar writer `export` uses.
//!
//! Every path inside a container is resolved with openat2(RESOLVE_IN_ROOT) against a directory
//! fd of the container's root, and every last component is handled with `*at()` calls that do
//! not follow symlinks (`sandbox::fs_at`): a symlink in the container pointing at `/` or
//! `../../..` resolves inside the container, never on the host. The container side runs in a
//! forked helper that has joined the container's mount namespace (running) or mounted its
//! overlay in a private one (stopped); the host side runs here; a pipe carries the tar between
//! them. Host paths are the user's own, but what arrives from a container is extracted below
//! the destination directory only, the same way.
//!
//! `plan` holds Docker's path rules, `tar_out` the writer, `tar_in` the extractor.

mod plan;
mod tar_in;
mod tar_out;

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::index::{ContainerError, refresh};
use super::record::{Container, Status};
use super::supervisor::error_chain;
use crate::sandbox::container_fs::{FsAccess, spawn_helper};
use crate::sandbox::process::SandboxError;
use crate::store::{Store, StoreError};
use plan::{archive_name, asserts_directory, relative};
use tar_in::{Owner, receive};
pub use tar_out::write_tar;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{what}")]
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
            let spec = super::sandbox_spec::for_container(store, &current, Vec::new())?;
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
            Err(e) => Err(error_chain(&e)),
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
        receive(root.as_fd(), &destination, &mut input, owner, as_is).map_err(|e| error_chain(&e))?;
        if !as_is {
            // The archive's end marker may be followed by padding the writer is still sending:
            // read it, so the writer never sees a broken pipe after a good copy.
            io::copy(&mut input, &mut io::sink()).map_err(|e| error_chain(&e))?;
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
