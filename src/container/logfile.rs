//! The container log, in the k8s-file format conmon writes:
//! `<RFC 3339 nano timestamp> <stdout|stderr> <F|P> <text>` — F for a full line, P for part of a
//! line that continues in the next record — or, with `--log-driver json-file`, Docker's
//! `{"log":…,"stream":…,"time":…}` lines; readers take both. Capped in size: past the cap the
//! file is rotated to `ctr.log.1` (older ones to `.2`, … as `max-file` allows).

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

/// The file format of a container's log (`--log-driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    K8sFile,
    JsonFile,
    /// Nothing is kept.
    None,
}

/// How a log is written: its format, and rotation past `max_size` bytes with `max_files`
/// files in all (the current one included; 1 cuts the file instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub max_size: u64,
    pub max_files: u32,
}

pub struct LogWriter {
    path: PathBuf,
    /// None when nothing is kept.
    file: Option<File>,
    size: u64,
    settings: LogSettings,
}

/// The `n`th rotated file of the log at `path` (`ctr.log.1` is the newest).
fn rotated(path: &Path, n: u32) -> PathBuf {
    path.with_extension(format!("log.{n}"))
}

impl LogWriter {
    /// A k8s-file log capped at `max_size`, one rotated file kept.
    #[cfg(test)]
    pub fn open(path: PathBuf, max_size: u64) -> io::Result<LogWriter> {
        LogWriter::open_with(path, LogSettings { format: LogFormat::K8sFile, max_size, max_files: 2 })
    }

    pub fn open_with(path: PathBuf, settings: LogSettings) -> io::Result<LogWriter> {
        if settings.format == LogFormat::None {
            return Ok(LogWriter { path, file: None, size: 0, settings });
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter { path, file: Some(file), size, settings })
    }

    fn record(&self, out: &mut Vec<u8>, timestamp: &str, stream: Stream, piece: &[u8]) {
        if self.settings.format == LogFormat::JsonFile {
            let line = serde_json::json!({
                "log": String::from_utf8_lossy(piece),
                "stream": stream.name(),
                "time": timestamp,
            });
            out.extend_from_slice(line.to_string().as_bytes());
            out.push(b'\n');
            return;
        }
        let (text, tag) = match piece.strip_suffix(b"\n") {
            Some(line) => (line, "F"),
            None => (piece, "P"),
        };
        out.extend_from_slice(format!("{timestamp} {} {tag} ", stream.name()).as_bytes());
        out.extend_from_slice(text);
        out.push(b'\n');
    }

    /// Writes one chunk of output as records: one F record per complete line, and a P record
    /// for a trailing partial line.
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() || self.file.is_none() {
            return Ok(());
        }
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut out = Vec::with_capacity(bytes.len() + 64);
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            self.record(&mut out, &timestamp, stream, piece);
        }
        if self.size + out.len() as u64 > self.settings.max_size && self.size > 0 {
            self.rotate()?;
        }
        if let Some(file) = &mut self.file {
            file.write_all(&out)?;
        }
        self.size += out.len() as u64;
        Ok(())
    }

    /// Shifts `.N-1` to `.N` … the current file to `.1`, the oldest falling off; with one file
    /// in all, the current one starts again empty.
    fn rotate(&mut self) -> io::Result<()> {
        if self.settings.max_files <= 1 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.settings.max_files - 1).rev() {
                match std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
        }
        self.file = Some(OpenOptions::new().create(true).append(true).open(&self.path)?);
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
    if line.first() == Some(&b'{') {
        return parse_json_record(line);
    }
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

/// A json-file line: `{"log":"text\n","stream":"stdout","time":"…"}`.
fn parse_json_record(line: &[u8]) -> Option<LogRecord> {
    #[derive(serde::Deserialize)]
    struct Line {
        log: String,
        stream: String,
        time: String,
    }
    let parsed: Line = serde_json::from_slice(line).ok()?;
    let stream = match parsed.stream.as_str() {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    Some(LogRecord { timestamp: parsed.time, stream, text: parsed.log.into_bytes() })
}

/// Every record in the rotated files, oldest first, and then the current one.
pub fn read_all(path: &Path) -> io::Result<Vec<LogRecord>> {
    let mut records = Vec::new();
    let mut files: Vec<PathBuf> = (1..).map(|n| rotated(path, n)).take_while(|f| f.exists()).collect();
    files.reverse();
    files.push(path.to_owned());
    for file in files {
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

    #[test]
    fn json_files_rotate_through_max_files_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let settings = LogSettings { format: LogFormat::JsonFile, max_size: 300, max_files: 3 };
        let mut w = LogWriter::open_with(path.clone(), settings).unwrap();
        for i in 0..40 {
            w.write(Stream::Stderr, format!("line {i}\n").as_bytes()).unwrap();
        }
        w.write(Stream::Stdout, b"part").unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(first.lines().last().unwrap().starts_with(r#"{"log":"part","stream":"stdout","time":""#), "{first}");
        assert!(rotated(&path, 2).exists() && !rotated(&path, 3).exists());
        let records = read_all(&path).unwrap();
        let numbers: Vec<u32> = records
            .iter()
            .filter_map(|r| String::from_utf8_lossy(&r.text).trim().strip_prefix("line ").map(|n| n.parse().unwrap()))
            .collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
        assert_eq!(numbers.last(), Some(&39));
        assert_eq!(records.last().unwrap().text, b"part");

        let none = LogSettings { format: LogFormat::None, max_size: 10, max_files: 1 };
        let other = dir.path().join("none.log");
        LogWriter::open_with(other.clone(), none).unwrap().write(Stream::Stdout, b"x\n").unwrap();
        assert!(!other.exists());
        let cut = LogSettings { format: LogFormat::K8sFile, max_size: 100, max_files: 1 };
        let mut w = LogWriter::open_with(other.clone(), cut).unwrap();
        for _ in 0..10 {
            w.write(Stream::Stdout, b"0123456789012345678901234567890123456789\n").unwrap();
        }
        assert!(std::fs::metadata(&other).unwrap().len() <= 100);
        assert!(!rotated(&other, 1).exists());
    }
}
