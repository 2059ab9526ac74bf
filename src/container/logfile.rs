//! The container log, in the k8s-file format conmon writes:
//! `<RFC 3339 nano timestamp> <stdout|stderr> <F|P> <text>` — F for a full line, P for part of a
//! line that continues in the next record. Capped in size: past the cap the file is rotated to
//! `ctr.log.1` (one old file kept).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub const DEFAULT_MAX_SIZE: u64 = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

pub fn log_path(container_dir: &Path) -> PathBuf {
    container_dir.join("ctr.log")
}

pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
}

impl LogWriter {
    pub fn open(path: PathBuf, max_size: u64) -> io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter { path, file, size, max_size })
    }

    /// Writes one chunk of output as records: one F record per complete line, and a P record
    /// for a trailing partial line.
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut out = Vec::with_capacity(bytes.len() + 64);
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let (text, tag) = match piece.strip_suffix(b"\n") {
                Some(line) => (line, "F"),
                None => (piece, "P"),
            };
            out.extend_from_slice(format!("{timestamp} {} {tag} ", stream.name()).as_bytes());
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        if self.size + out.len() as u64 > self.max_size && self.size > 0 {
            self.rotate()?;
        }
        self.file.write_all(&out)?;
        self.size += out.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let old = self.path.with_extension("log.1");
        std::fs::rename(&self.path, old)?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub timestamp: String,
    pub stream: Stream,
    /// The text, with its newline when the record ends a line.
    pub text: Vec<u8>,
}

pub fn parse_record(line: &[u8]) -> Option<LogRecord> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let timestamp = std::str::from_utf8(parts.next()?).ok()?.to_owned();
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let full = parts.next()? == b"F";
    let mut text = parts.next().unwrap_or_default().to_vec();
    if full {
        text.push(b'\n');
    }
    Some(LogRecord { timestamp, stream, text })
}

/// Every record in the rotated file and then the current one.
pub fn read_all(path: &Path) -> io::Result<Vec<LogRecord>> {
    let mut records = Vec::new();
    for file in [path.with_extension("log.1"), path.to_owned()] {
        match File::open(&file) {
            Ok(f) => {
                for line in BufReader::new(f).split(b'\n') {
                    records.extend(parse_record(&line?));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_partial_lines_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(path.clone(), DEFAULT_MAX_SIZE).unwrap();
        w.write(Stream::Stdout, b"one\ntw").unwrap();
        w.write(Stream::Stdout, b"o\n").unwrap();
        w.write(Stream::Stderr, b"err with spaces\n").unwrap();
        let records = read_all(&path).unwrap();
        let text: Vec<u8> =
            records.iter().filter(|r| r.stream == Stream::Stdout).flat_map(|r| r.text.clone()).collect();
        assert_eq!(text, b"one\ntwo\n");
        assert_eq!(records.last().unwrap().text, b"err with spaces\n");
    }

    #[test]
    fn rotates_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut w = LogWriter::open(path.clone(), 200).unwrap();
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
        assert!(path.with_extension("log.1").exists());
        assert_eq!(read_all(&path).unwrap().last().unwrap().text, b"line 19\n");
    }
}
