//! Extracting an archive for `load`: its regular files into a staging directory, its links
//! only as a name map, every member name confined to the archive.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use super::{ArchiveError, MAX_DOCUMENT, MAX_LINK_HOPS, blob_member, io_error};
use crate::image::ImageError;
use crate::image::spec::Descriptor;
use crate::store::sha256_digest;

/// The regular files of an archive, extracted under `root` by their normalised member names,
/// and its links, kept as a name map and never created on disk.
pub(super) struct ExtractedArchive {
    root: PathBuf,
    files: BTreeSet<String>,
    links: BTreeMap<String, String>,
}

/// A member name as a relative '/'-joined path; None for the archive root itself ("./").
pub(super) fn normalize_member(path: &Path) -> Result<Option<String>, ArchiveError> {
    let unsafe_path = || ArchiveError::UnsafePath(path.display().to_string());
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(unsafe_path)?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return Err(unsafe_path()),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Where a symbolic link at `member` pointing at `target` leads, as a member name; an error if
/// it leads out of the archive.
pub(super) fn symlink_destination(member: &str, target: &Path) -> Result<String, ArchiveError> {
    let unsafe_link = || ArchiveError::UnsafePath(format!("{member} -> {}", target.display()));
    let mut parts: Vec<&str> = member.split('/').collect();
    parts.pop();
    for component in target.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(unsafe_link)?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop().ok_or_else(unsafe_link)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_link()),
        }
    }
    if parts.is_empty() { Err(unsafe_link()) } else { Ok(parts.join("/")) }
}

/// A tar reading failure in words. Failing before the first member means it is no tar at all;
/// the tar crate's message then tends to quote the garbage, so it is left out unless plain.
fn archive_read_error(after_member: Option<&str>, e: io::Error) -> ArchiveError {
    let detail = e.to_string();
    let plain = detail.len() <= 200 && detail.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    match (after_member, plain) {
        (None, true) => ArchiveError::Invalid(format!("reading the archive: not a tar archive: {detail}")),
        (None, false) => {
            ArchiveError::Invalid("reading the archive: not a tar archive (nor gzip or zstd of one)".into())
        }
        (Some(member), true) => ArchiveError::Invalid(format!("reading the archive after {member}: {detail}")),
        (Some(member), false) => {
            ArchiveError::Invalid(format!("reading the archive after {member}: corrupt tar header"))
        }
    }
}

/// io::copy, with a failure to read (a damaged archive) told apart from a failure to write
/// (a full disk): each gets its own error.
fn copy_entry(
    entry: &mut impl Read,
    file: &mut File,
    read_error: impl Fn(io::Error) -> ArchiveError,
    write_error: impl FnOnce(io::Error) -> ArchiveError,
) -> Result<u64, ArchiveError> {
    let mut buf = vec![0u8; 64 << 10];
    let mut copied = 0u64;
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        if let Err(e) = file.write_all(&buf[..n]) {
            return Err(write_error(e));
        }
        copied += n as u64;
    }
}

pub(super) fn extract_archive(reader: impl Read, root: &Path) -> Result<ExtractedArchive, ArchiveError> {
    fs::create_dir_all(root).map_err(io_error(root.display()))?;
    let mut extracted = ExtractedArchive { root: root.to_owned(), files: BTreeSet::new(), links: BTreeMap::new() };
    let mut last_member: Option<String> = None;
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| archive_read_error(None, e))? {
        let corrupt = |e: io::Error| archive_read_error(last_member.as_deref(), e);
        let mut entry = entry.map_err(corrupt)?;
        let name = entry.path().map_err(corrupt)?.into_owned();
        let Some(member) = normalize_member(&name)? else { continue };
        last_member = Some(member.clone());
        let corrupt = |e: io::Error| archive_read_error(Some(&member), e);
        let entry_type = entry.header().entry_type();
        match entry_type {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let path = root.join(&member);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(io_error(format!("extracting {member}")))?;
                }
                let mut file = File::create(&path).map_err(io_error(format!("extracting {member}")))?;
                let copied = copy_entry(&mut entry, &mut file, corrupt, io_error(format!("extracting {member}")))?;
                if copied != entry.size() {
                    return Err(ArchiveError::Invalid(format!(
                        "the archive is truncated: member {member} has {copied} of its {} bytes",
                        entry.size()
                    )));
                }
                extracted.links.remove(&member);
                extracted.files.insert(member);
            }
            tar::EntryType::Directory => {
                let path = root.join(&member);
                fs::create_dir_all(&path).map_err(io_error(format!("extracting {member}")))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| ArchiveError::Invalid(format!("archive member {member}: link without a target")))?
                    .into_owned();
                let destination = if entry_type == tar::EntryType::Symlink {
                    symlink_destination(&member, &target)?
                } else {
                    normalize_member(&target)?.ok_or_else(|| ArchiveError::UnsafePath(target.display().to_string()))?
                };
                extracted.files.remove(&member);
                extracted.links.insert(member, destination);
            }
            // Devices, fifos, global headers: nothing an image archive needs.
            _ => {}
        }
    }
    if extracted.files.is_empty() {
        return Err(ArchiveError::Invalid("the archive holds no files: not an image archive".into()));
    }
    Ok(extracted)
}

impl ExtractedArchive {
    /// The regular file a member name stands for, following links inside the archive.
    pub(super) fn resolve(&self, member: &str) -> Result<String, ArchiveError> {
        let mut current = normalize_member(Path::new(member))?
            .ok_or_else(|| ArchiveError::Invalid(format!("{member:?} is not a file name")))?;
        for _ in 0..MAX_LINK_HOPS {
            if self.files.contains(&current) {
                return Ok(current);
            }
            match self.links.get(&current) {
                Some(next) => current = next.clone(),
                None => return Err(ArchiveError::Invalid(format!("the archive has no {member}"))),
            }
        }
        Err(ArchiveError::Invalid(format!("{member}: too many levels of links in the archive")))
    }

    pub(super) fn contains(&self, member: &str) -> bool {
        self.resolve(member).is_ok()
    }

    pub(super) fn path(&self, member: &str) -> Result<PathBuf, ArchiveError> {
        Ok(self.root.join(self.resolve(member)?))
    }

    pub(super) fn open(&self, member: &str) -> Result<File, ArchiveError> {
        File::open(self.path(member)?).map_err(io_error(member))
    }

    /// A JSON document from the archive, refused if implausibly large.
    pub(super) fn read_document(&self, member: &str) -> Result<Vec<u8>, ArchiveError> {
        let file = self.open(member)?;
        let len = file.metadata().map_err(io_error(member))?.len();
        if len > MAX_DOCUMENT {
            return Err(ArchiveError::Invalid(format!("{member}: {len} bytes is implausibly large for a document")));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(MAX_DOCUMENT).read_to_end(&mut bytes).map_err(io_error(member))?;
        Ok(bytes)
    }

    /// A blob of the OCI layout by descriptor, its digest verified.
    pub(super) fn read_blob(&self, descriptor: &Descriptor, what: &str) -> Result<Vec<u8>, ArchiveError> {
        let bytes = self.read_document(&blob_member(&descriptor.digest)?)?;
        let actual = sha256_digest(&bytes);
        if actual != descriptor.digest {
            return Err(ImageError::DigestMismatch {
                what: what.to_owned(),
                expected: descriptor.digest.clone(),
                actual,
            }
            .into());
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_normalised_and_confined() {
        assert_eq!(normalize_member(Path::new("./a//b/./c")).unwrap().as_deref(), Some("a/b/c"));
        assert_eq!(normalize_member(Path::new("./")).unwrap(), None);
        assert!(normalize_member(Path::new("/etc/passwd")).is_err());
        assert!(normalize_member(Path::new("a/../../b")).is_err());
        assert_eq!(symlink_destination("x/layer.tar", Path::new("../y/layer.tar")).unwrap(), "y/layer.tar");
        assert!(symlink_destination("x/layer.tar", Path::new("../../y")).is_err());
        assert!(symlink_destination("x", Path::new("/abs")).is_err());
    }
}
