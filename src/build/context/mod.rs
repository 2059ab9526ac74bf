//! The build context: a directory, a tar stream on stdin (extracted into a staging directory), or
//! nothing at all (a Dockerfile on stdin). Its .dockerignore (`<Dockerfile>.dockerignore` next
//! to the Dockerfile first, then `.dockerignore` at the context root) filters what COPY and ADD
//! can see. The context is walked once, through directory fds and without following symlinks;
//! the walk is what source resolution and content digests work from.

pub mod fs;
pub mod tar;
pub mod walk;

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use self::fs::{Entry, open_dir};
use self::walk::Walk;
use super::ignore::{Matcher, PatternError, read_ignore_file};
use crate::store::Staging;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("unable to prepare context: path {0:?} not found")]
    NoContext(PathBuf),
    #[error("unable to prepare context: {0:?} is not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot read the Dockerfile {}", path.display())]
    Dockerfile { path: PathBuf, source: io::Error },
    #[error("{}", path.display())]
    Ignore { path: PathBuf, source: PatternError },
    #[error(transparent)]
    Tar(#[from] tar::TarError),
    #[error("{0}")]
    Unsupported(String),
    #[error("reading the build context: {path}")]
    Walk { path: String, source: io::Error },
}

/// Where the Dockerfile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfileSource {
    /// `Dockerfile` at the context root (`dockerfile` when only that exists).
    Default,
    /// `-f PATH`: a host path for a directory context (absolute, or relative to the current
    /// directory, as Docker takes it); a path inside the archive for a tar context.
    Path(PathBuf),
    /// `-f -`: the bytes were read from stdin.
    Bytes(Vec<u8>),
}

/// A build context ready to be read.
#[derive(Debug)]
pub struct BuildContext {
    root: PathBuf,
    root_fd: OwnedFd,
    dockerfile: Vec<u8>,
    dockerfile_path: Option<PathBuf>,
    ignore: Matcher,
    ignore_file: Option<PathBuf>,
    /// A directory the user owns, stable between builds (worth a persistent stat cache), as
    /// opposed to a staging directory made for this build.
    persistent: bool,
    warnings: Vec<String>,
    walked: OnceLock<Walk>,
    _staging: Option<Staging>,
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io { path: path.to_owned(), source }
}

/// The ignore file for `dockerfile` in a context at `root`: `<dockerfile>.dockerignore` if it
/// exists, else `root/.dockerignore`.
fn find_ignore_file(root: &Path, dockerfile: Option<&Path>) -> Option<PathBuf> {
    if let Some(dockerfile) = dockerfile {
        let mut name = dockerfile.as_os_str().to_owned();
        name.push(".dockerignore");
        let specific = PathBuf::from(name);
        if specific.is_file() {
            return Some(specific);
        }
    }
    let general = root.join(".dockerignore");
    general.is_file().then_some(general)
}

fn load_ignore(path: Option<&Path>) -> Result<Matcher, ContextError> {
    let Some(path) = path else { return Ok(Matcher::default()) };
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    read_ignore_file(&text).map_err(|source| ContextError::Ignore { path: path.to_owned(), source })
}

impl BuildContext {
    /// A directory context. A relative `-f` path is taken relative to the current directory.
    pub fn from_dir(dir: &Path, dockerfile: DockerfileSource) -> Result<BuildContext, ContextError> {
        let meta = std::fs::metadata(dir).map_err(|_| ContextError::NoContext(dir.to_owned()))?;
        if !meta.is_dir() {
            return Err(ContextError::NotADirectory(dir.to_owned()));
        }
        let root = std::fs::canonicalize(dir).map_err(io_error(dir))?;
        let root_fd = open_dir(&root).map_err(io_error(&root))?;
        Self::finish(root, root_fd, dockerfile, true, Vec::new(), None)
    }

    /// A context sent as a tar stream (plain, gzip or zstd), extracted into `staging`.
    pub fn from_tar(
        reader: impl Read,
        staging: Staging,
        dockerfile: DockerfileSource,
    ) -> Result<BuildContext, ContextError> {
        let (format, reader) = sniff(reader).map_err(io_error(Path::new("<stdin>")))?;
        Self::extract(format, reader, staging, dockerfile)
    }

    /// No context at all: a Dockerfile read from stdin (`berth build - < Dockerfile`).
    pub fn empty(dockerfile: Vec<u8>, staging: Staging) -> Result<BuildContext, ContextError> {
        let root = staging.path().join("context");
        std::fs::create_dir(&root).map_err(io_error(&root))?;
        let root_fd = open_dir(&root).map_err(io_error(&root))?;
        Self::finish(root, root_fd, DockerfileSource::Bytes(dockerfile), false, Vec::new(), Some(staging))
    }

    /// `berth build -`: a tar archive is a context, anything else is a Dockerfile.
    pub fn from_stdin(
        reader: impl Read,
        staging: Staging,
        dockerfile: DockerfileSource,
    ) -> Result<BuildContext, ContextError> {
        let (format, mut reader) = sniff(reader).map_err(io_error(Path::new("<stdin>")))?;
        if let Format::Text = format {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).map_err(io_error(Path::new("<stdin>")))?;
            return Self::empty(bytes, staging);
        }
        Self::extract(format, reader, staging, dockerfile)
    }

    fn extract(
        format: Format,
        reader: impl Read,
        staging: Staging,
        dockerfile: DockerfileSource,
    ) -> Result<BuildContext, ContextError> {
        let root = staging.path().join("context");
        std::fs::create_dir(&root).map_err(io_error(&root))?;
        let root_fd = open_dir(&root).map_err(io_error(&root))?;
        let warnings = match format {
            Format::Gzip => tar::extract(flate2::read::MultiGzDecoder::new(reader), root_fd.as_fd())?,
            Format::Zstd => {
                let decoder = zstd::stream::read::Decoder::new(reader).map_err(io_error(Path::new("<stdin>")))?;
                tar::extract(decoder, root_fd.as_fd())?
            }
            Format::Tar => tar::extract(reader, root_fd.as_fd())?,
            Format::Unsupported(kind) => {
                return Err(ContextError::Unsupported(format!(
                    "the build context on stdin is {kind}-compressed: only plain, gzip and zstd tar archives are read"
                )));
            }
            Format::Text => {
                return Err(ContextError::Unsupported("the build context on stdin is not a tar archive".into()));
            }
        };
        Self::finish(root, root_fd, dockerfile, false, warnings, Some(staging))
    }

    fn finish(
        root: PathBuf,
        root_fd: OwnedFd,
        dockerfile: DockerfileSource,
        persistent: bool,
        warnings: Vec<String>,
        staging: Option<Staging>,
    ) -> Result<BuildContext, ContextError> {
        let (bytes, path) = match dockerfile {
            DockerfileSource::Bytes(bytes) => (bytes, None),
            DockerfileSource::Default => {
                let upper = root.join("Dockerfile");
                let path =
                    if !upper.exists() && root.join("dockerfile").exists() { root.join("dockerfile") } else { upper };
                (read_dockerfile(&root_fd, &root, &path, persistent)?, Some(path))
            }
            DockerfileSource::Path(path) => {
                // In a tar context the path names a member of the archive.
                let path = if persistent { path } else { root.join(path.strip_prefix("/").unwrap_or(&path)) };
                (read_dockerfile(&root_fd, &root, &path, persistent)?, Some(path))
            }
        };
        let ignore_file = find_ignore_file(&root, path.as_deref());
        let ignore = load_ignore(ignore_file.as_deref())?;
        Ok(BuildContext {
            root,
            root_fd,
            dockerfile: bytes,
            dockerfile_path: path,
            ignore,
            ignore_file,
            persistent,
            warnings,
            walked: OnceLock::new(),
            _staging: staging,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn root_fd(&self) -> BorrowedFd<'_> {
        self.root_fd.as_fd()
    }

    /// The Dockerfile's bytes.
    pub fn dockerfile(&self) -> &[u8] {
        &self.dockerfile
    }

    /// Where the Dockerfile was read from (`None` for stdin).
    pub fn dockerfile_path(&self) -> Option<&Path> {
        self.dockerfile_path.as_deref()
    }

    pub fn ignore(&self) -> &Matcher {
        &self.ignore
    }

    /// The ignore file in use, if any.
    pub fn ignore_file(&self) -> Option<&Path> {
        self.ignore_file.as_deref()
    }

    /// Whether the context is a directory of the user's (a persistent stat cache pays off).
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Things skipped while the context was prepared or walked.
    pub fn warnings(&self) -> Vec<String> {
        let mut all = self.warnings.clone();
        if let Some(walk) = self.walked.get() {
            all.extend(walk.warnings.iter().cloned());
        }
        all
    }

    /// Every file of the context .dockerignore keeps, walked once.
    pub fn entries(&self) -> Result<&[Entry], ContextError> {
        if let Some(walk) = self.walked.get() {
            return Ok(&walk.entries);
        }
        let walk = walk::walk(self.root_fd.as_fd(), "", Some(&self.ignore))
            .map_err(|e| ContextError::Walk { path: e.path, source: e.source })?;
        Ok(&self.walked.get_or_init(|| walk).entries)
    }
}

/// Reads the Dockerfile: from a host path for a directory context (it may lie outside the
/// context, as Docker allows), from inside the root (never through a symlink out of it) for an
/// extracted archive.
fn read_dockerfile(root_fd: &OwnedFd, root: &Path, path: &Path, persistent: bool) -> Result<Vec<u8>, ContextError> {
    let fail = |source| ContextError::Dockerfile { path: path.to_owned(), source };
    if persistent {
        return std::fs::read(path).map_err(fail);
    }
    let inside = path.strip_prefix(root).unwrap_or(path);
    let fd = fs::open_in_root(root_fd.as_fd(), inside, nix::fcntl::OFlag::O_RDONLY).map_err(fail)?;
    let mut bytes = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut bytes).map_err(fail)?;
    Ok(bytes)
}

enum Format {
    Tar,
    Gzip,
    Zstd,
    Unsupported(&'static str),
    Text,
}

/// A stream whose first bytes were read, put back in front.
type Rewound<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// What a stream on stdin is, from its first bytes (as the Docker CLI decides); the stream is
/// handed back whole.
fn sniff<R: Read>(mut reader: R) -> io::Result<(Format, Rewound<R>)> {
    let mut head = Vec::with_capacity(512);
    (&mut reader).take(512).read_to_end(&mut head)?;
    let format = if head.starts_with(&[0x1f, 0x8b]) {
        Format::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Format::Zstd
    } else if head.starts_with(b"BZh") {
        Format::Unsupported("bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Format::Unsupported("xz")
    } else if looks_like_tar(&head) {
        Format::Tar
    } else {
        Format::Text
    };
    Ok((format, io::Cursor::new(head).chain(reader)))
}

/// A tar header: the ustar magic, or (old v7 archives) a valid header checksum.
fn looks_like_tar(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    let stored = std::str::from_utf8(&head[148..156])
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim_matches(|c| c == ' ' || c == '\0'), 8).ok());
    let computed: u32 =
        head[..512].iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u32::from(b) }).sum();
    stored == Some(computed)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
