//! Tar helpers every tar writer and reader of berth's shares (layers, `cp`, archives): a header
//! from a stat, member path joining, device numbers, and a reader that yields exactly the size
//! a header announced.

use std::borrow::Cow;
use std::io::{self, Read};

use nix::sys::stat::FileStat;

/// A tar header with the type, mode, owner and mtime of `st`, and no size yet.
pub(crate) fn base_header(st: &FileStat, entry_type: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(entry_type);
    header.set_mode(st.st_mode & 0o7777);
    header.set_uid(u64::from(st.st_uid));
    header.set_gid(u64::from(st.st_gid));
    header.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    header.set_size(0);
    header
}

/// `dir/name` as a member path; `name` alone when `dir` is empty (the archive's root). A
/// trailing slash on `dir` (a directory member's own name) is not doubled.
pub(crate) fn join_tar_path(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// The device number of a character or block device entry; a header whose fields cannot be
/// read is invalid data (a missing field is 0, as GNU tar writes for fifos).
pub(crate) fn device_number(header: &tar::Header) -> io::Result<libc::dev_t> {
    let field = |what: &str, value: io::Result<Option<u32>>| {
        value
            .map(|v| v.unwrap_or(0))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("invalid {what}: {e}")))
    };
    let major = field("device major", header.device_major())?;
    let minor = field("device minor", header.device_minor())?;
    Ok(libc::makedev(major, minor))
}

/// Yields exactly `size` bytes of its input: a tar header carries the size up front, so input
/// that ends early must be an error, not a corrupt archive. Input beyond `size` is left unread
/// (a file that grew while being archived is archived as it was when stat'ed), unless
/// [`ExactSizeReader::refusing_more`] says it is an error too.
pub(crate) struct ExactSizeReader<R> {
    inner: R,
    remaining: u64,
    shorter: Cow<'static, str>,
    longer: Option<Cow<'static, str>>,
}

impl<R: Read> ExactSizeReader<R> {
    /// `shorter`: the error's text when the input ends early ("file shrank while being packed").
    pub(crate) fn new(inner: R, size: u64, shorter: impl Into<Cow<'static, str>>) -> Self {
        ExactSizeReader { inner, remaining: size, shorter: shorter.into(), longer: None }
    }

    /// Input with more than `size` bytes fails at its end with `longer` as the error's text.
    pub(crate) fn refusing_more(mut self, longer: impl Into<Cow<'static, str>>) -> Self {
        self.longer = Some(longer.into());
        self
    }
}

impl<R: Read> Read for ExactSizeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let Some(longer) = &self.longer else { return Ok(0) };
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(io::ErrorKind::InvalidData, longer.to_string())),
            };
        }
        let n = (&mut self.inner).take(self.remaining).read(buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, self.shorter.to_string()));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_size_reader_refuses_short_input_and_optionally_long_input() {
        let read = |reader: &mut dyn Read| {
            let mut out = Vec::new();
            reader.read_to_end(&mut out).map(|_| out)
        };
        assert_eq!(read(&mut ExactSizeReader::new(&b"abcdef"[..], 3, "short")).unwrap(), b"abc");
        let err = read(&mut ExactSizeReader::new(&b"ab"[..], 3, "short")).unwrap_err();
        assert_eq!((err.kind(), err.to_string()), (io::ErrorKind::UnexpectedEof, "short".to_owned()));
        let err = read(&mut ExactSizeReader::new(&b"abcd"[..], 3, "short").refusing_more("long")).unwrap_err();
        assert_eq!(err.to_string(), "long");
        assert_eq!(read(&mut ExactSizeReader::new(&b"abc"[..], 3, "short").refusing_more("long")).unwrap(), b"abc");
    }

    #[test]
    fn tar_paths_join_once_and_device_numbers_come_from_the_header() {
        assert_eq!(join_tar_path(b"", b"a"), b"a");
        assert_eq!(join_tar_path(b"d", b"a"), b"d/a");
        assert_eq!(join_tar_path(b"./", b"a"), b"./a");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Char);
        header.set_device_major(1).unwrap();
        header.set_device_minor(3).unwrap();
        assert_eq!(device_number(&header).unwrap(), libc::makedev(1, 3));
        header.as_gnu_mut().unwrap().dev_major = *b"junk!!!\0";
        assert_eq!(device_number(&header).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
