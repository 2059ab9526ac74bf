//! ADD of a URL: the file is downloaded once per build (into a staging directory of the store,
//! removed with it), checked against `--checksum`, and written into the step's layer with mode
//! 0600 (BuildKit's) and the `Last-Modified` time. Its cache input is the checksum when given
//! (a cached rebuild then needs no network), else the downloaded content's digest and time.

use std::io::Write;
use std::path::PathBuf;

use super::BuildError;
use super::copy::{CopyOptions, DestInfo, LayerTar, Meta};
use crate::build::copy_source::DestState;
use crate::build::paths;
use crate::image::registry::download::{Fetched, download};
use crate::store::{Staging, Store};

/// One downloaded URL.
#[derive(Clone)]
pub struct Download {
    pub url: String,
    pub path: PathBuf,
    pub fetched: Fetched,
}

impl Download {
    /// The file's name: Content-Disposition's, else the URL path's last part, else "index".
    pub fn name(&self) -> String {
        if let Some(name) = &self.fetched.filename {
            return name.clone();
        }
        let path = self.url.split(['?', '#']).next().unwrap_or("");
        let path = path.split_once("://").map_or(path, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
        match path.rsplit('/').find(|p| !p.is_empty()) {
            Some(name) if name != "." && name != ".." => name.to_owned(),
            _ => "index".to_owned(),
        }
    }
}

/// The build's downloads, by URL.
#[derive(Default)]
pub struct Downloads {
    staging: Option<Staging>,
    done: Vec<Download>,
}

impl Downloads {
    /// `url`'s download, fetched now if this build has not yet; checked against `checksum`.
    pub fn get(&mut self, store: &Store, url: &str, checksum: Option<&str>) -> Result<&Download, BuildError> {
        if let Some(i) = self.done.iter().position(|d| d.url == url) {
            return Ok(&self.done[i]);
        }
        if self.staging.is_none() {
            self.staging = Some(store.new_staging()?);
        }
        let dir = self.staging.as_ref().expect("made above").path();
        let path = dir.join(format!("{}", self.done.len()));
        let fetched = download(url, &path).map_err(|e| BuildError::Download(Box::new(e)))?;
        if let Some(expected) = checksum
            && expected != fetched.digest
        {
            return Err(BuildError::Copy(format!(
                "checksum mismatch for {url}: expected {expected}, the download is {}",
                fetched.digest
            )));
        }
        self.done.push(Download { url: url.to_owned(), path, fetched });
        Ok(self.done.last().expect("pushed"))
    }
}

/// A `--checksum` value: only `sha256:` and 64 hex digits.
pub fn check_checksum(checksum: &str) -> Result<(), BuildError> {
    let valid = checksum
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    if valid {
        Ok(())
    } else {
        Err(BuildError::Copy(format!("invalid checksum {checksum:?}: use sha256:<64 hex digits>")))
    }
}

/// The downloaded file at the destination: into it when it is a directory (or ends with `/`).
pub fn write_download<W: Write>(
    tar: &mut LayerTar<W>,
    download: &Download,
    info: &DestInfo,
    options: &CopyOptions,
) -> std::io::Result<()> {
    let dir_dest = info.dest.ends_with('/') || info.dest_state() == DestState::Directory;
    let target =
        if dir_dest { paths::join_clean(info.dest.trim_end_matches('/'), &download.name()) } else { info.dest.clone() };
    let mode = options.chmod.as_ref().map_or(0o600, |c| c.apply(0o600, false));
    let (uid, gid) = options.owner.unwrap_or((0, 0));
    let mtime_ns = download.fetched.last_modified.map_or(options.epoch_ns, |s| s.saturating_mul(1_000_000_000));
    let file = std::fs::File::open(&download.path)?;
    tar.parents(&target)?;
    tar.file(&target, Meta { mode, uid, gid, mtime_ns }, download.fetched.size, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(url: &str, filename: Option<&str>) -> String {
        let fetched =
            Fetched { digest: String::new(), size: 0, last_modified: None, filename: filename.map(str::to_owned) };
        Download { url: url.into(), path: PathBuf::new(), fetched }.name()
    }

    #[test]
    fn a_download_is_named_after_its_url_or_disposition() {
        assert_eq!(named("http://127.0.0.1:8/a/b.tar.gz?x=1", None), "b.tar.gz");
        assert_eq!(named("http://127.0.0.1:8/dir/", None), "dir");
        assert_eq!(named("http://127.0.0.1:8", None), "index");
        assert_eq!(named("http://127.0.0.1:8/x", Some("y.txt")), "y.txt");
    }

    #[test]
    fn only_sha256_checksums_are_accepted() {
        assert!(check_checksum(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(check_checksum("sha256:abc").is_err());
        assert!(check_checksum(&format!("sha512:{}", "a".repeat(64))).is_err());
    }
}
