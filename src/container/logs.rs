//! `logs`: printing a container's log (see `logfile.rs` for its format) the way Docker does —
//! stdout records to stdout, stderr records to stderr, optionally only the last lines or those
//! of a time window, with timestamps, and following the file while the container runs.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::logfile::{LogRecord, Stream, parse_record};

/// How often a followed log is checked for growth.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines (of what the time window lets through).
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub timestamps: bool,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid time {0:?}: use an RFC 3339 date (2024-01-02T15:04:05Z), a date (2024-01-02), Unix seconds, or a \
     duration before now (10m, 1h30m)"
)]
pub struct BadTime(pub String);

/// Docker's `--since`/`--until` values: RFC 3339 timestamps, dates and times without a zone
/// (local time), Unix seconds (with an optional fraction), or a Go duration counted back from
/// `now`.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, BadTime> {
    let bad = || BadTime(text.to_owned());
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
        let secs: i64 = secs.parse().map_err(|_| bad())?;
        let nanos: u32 = if frac.is_empty() { 0 } else { format!("{frac:0<9}")[..9].parse().map_err(|_| bad())? };
        return DateTime::from_timestamp(secs, nanos).ok_or_else(bad);
    }
    if let Some(d) = parse_go_duration(text) {
        return now.checked_sub_signed(chrono::Duration::from_std(d).map_err(|_| bad())?).ok_or_else(bad);
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return local(naive).ok_or_else(bad);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return local(date.and_hms_opt(0, 0, 0).ok_or_else(bad)?).ok_or_else(bad);
    }
    Err(bad())
}

fn local(naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    Local.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
}

/// Go's time.ParseDuration: a sequence of decimal numbers with units ns, us, µs, ms, s, m, h.
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Writes records to stdout and stderr, with a timestamp at the start of each line if asked.
pub struct LogPrinter<O: Write, E: Write> {
    pub out: O,
    pub err: E,
    timestamps: bool,
    /// Per stream (stdout, stderr): the last record written ended a line.
    at_line_start: [bool; 2],
}

impl<O: Write, E: Write> LogPrinter<O, E> {
    pub fn new(out: O, err: E, timestamps: bool) -> Self {
        LogPrinter { out, err, timestamps, at_line_start: [true, true] }
    }

    pub fn print(&mut self, record: &LogRecord) -> io::Result<()> {
        let (sink, start): (&mut dyn Write, &mut bool) = match record.stream {
            Stream::Stdout => (&mut self.out, &mut self.at_line_start[0]),
            Stream::Stderr => (&mut self.err, &mut self.at_line_start[1]),
        };
        if self.timestamps && *start {
            write!(sink, "{} ", record.timestamp)?;
        }
        sink.write_all(&record.text)?;
        *start = record.text.ends_with(b"\n");
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.err.flush()
    }
}

fn record_time(record: &LogRecord) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&record.timestamp).ok().map(|t| t.with_timezone(&Utc))
}

impl LogOptions {
    fn after_until(&self, record: &LogRecord) -> bool {
        self.until.is_some_and(|until| record_time(record).is_some_and(|t| t > until))
    }

    fn before_since(&self, record: &LogRecord) -> bool {
        self.since.is_some_and(|since| record_time(record).is_some_and(|t| t < since))
    }

    /// The records of the window, then the last `tail` lines of those.
    fn select(&self, mut records: Vec<LogRecord>) -> Vec<LogRecord> {
        if self.since.is_some() || self.until.is_some() {
            records.retain(|r| !self.before_since(r) && !self.after_until(r));
        }
        match self.tail {
            Some(n) => {
                let start = start_of_last_lines(&records, n);
                records.split_off(start)
            }
            None => records,
        }
    }
}

/// The index of the first record of the last `n` lines. A line is a run of records of one
/// stream ending with a full record (or the end).
fn start_of_last_lines(records: &[LogRecord], n: usize) -> usize {
    if n == 0 {
        return records.len();
    }
    let mut lines = 0;
    let mut i = records.len();
    while i > 0 {
        // Records i-1, i-2, ... while they continue the same partial line.
        let mut j = i - 1;
        while j > 0 && !records[j - 1].text.ends_with(b"\n") && records[j - 1].stream == records[i - 1].stream {
            j -= 1;
        }
        lines += 1;
        if lines == n {
            return j;
        }
        i = j;
    }
    0
}

/// Reads a log file from a position onwards, following its rotation to `<path>.1`.
struct LogFollower {
    path: PathBuf,
    file: Option<File>,
    inode: u64,
    /// Bytes read but not yet ending in a newline.
    pending: Vec<u8>,
}

impl LogFollower {
    fn open(path: &Path) -> LogFollower {
        let file = File::open(path).ok();
        let inode = file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.ino());
        LogFollower { path: path.to_owned(), file, inode, pending: Vec::new() }
    }

    /// The records written since the last call (all of the current file at first).
    fn read_new(&mut self) -> io::Result<Vec<LogRecord>> {
        let mut records = Vec::new();
        self.drain_into(&mut records)?;
        // Rotated: the file we read is now `<path>.1` and complete; go on with the new one.
        let current_inode = std::fs::metadata(&self.path).map(|m| m.ino()).ok();
        if current_inode.is_some_and(|ino| ino != self.inode) {
            self.pending.clear();
            self.file = File::open(&self.path).ok();
            self.inode = current_inode.unwrap_or(0);
            self.drain_into(&mut records)?;
        }
        Ok(records)
    }

    fn drain_into(&mut self, records: &mut Vec<LogRecord>) -> io::Result<()> {
        let Some(file) = &mut self.file else { return Ok(()) };
        let mut bytes = std::mem::take(&mut self.pending);
        file.read_to_end(&mut bytes)?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.pending = bytes.split_off(complete);
        records.extend(bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).filter_map(parse_record));
        Ok(())
    }

    /// Skips to the end: only what is written from now on is read.
    #[cfg(test)]
    fn skip_to_end(&mut self) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        if let Some(file) = &mut self.file {
            file.seek(SeekFrom::End(0))?;
        }
        Ok(())
    }
}

/// The records of the rotated file `<path>.1`, if any.
fn rotated_records(path: &Path) -> io::Result<Vec<LogRecord>> {
    match std::fs::read(path.with_extension("log.1")) {
        Ok(bytes) => Ok(bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).filter_map(parse_record).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Prints the log at `path` as `options` say. Following, it keeps printing what is appended
/// until `running()` says the container has ended (and its output was all written), or a record
/// comes after `until`.
pub fn print_logs<O: Write, E: Write>(
    path: &Path,
    options: &LogOptions,
    mut running: impl FnMut() -> bool,
    printer: &mut LogPrinter<O, E>,
) -> io::Result<()> {
    if !options.follow {
        for record in options.select(super::logfile::read_all(path)?) {
            printer.print(&record)?;
        }
        return printer.flush();
    }
    // Opened before the rotated file is read, so a rotation meanwhile loses nothing.
    let mut follower = LogFollower::open(path);
    let mut records = rotated_records(path)?;
    records.extend(follower.read_new()?);
    for record in options.select(records) {
        printer.print(&record)?;
    }
    printer.flush()?;
    loop {
        // Checked before reading, so what was written before the end is still read below.
        let ended = !running();
        for record in follower.read_new()? {
            if options.after_until(&record) {
                return printer.flush();
            }
            if !options.before_since(&record) {
                printer.print(&record)?;
            }
        }
        printer.flush()?;
        if ended {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::super::logfile::{LogWriter, log_path};
    use super::*;

    fn record(stream: Stream, text: &str) -> LogRecord {
        LogRecord { timestamp: "2024-01-02T03:04:05.000000001Z".into(), stream, text: text.as_bytes().to_vec() }
    }

    #[test]
    fn times_parse_in_every_docker_form() {
        let now = DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z").unwrap().with_timezone(&Utc);
        let at = |s: &str| parse_time(s, now).unwrap().to_rfc3339();
        assert_eq!(at("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05+00:00");
        assert_eq!(at("1700000000"), "2023-11-14T22:13:20+00:00");
        assert_eq!(at("1700000000.5"), "2023-11-14T22:13:20.500+00:00");
        assert_eq!(at("10m"), "2024-05-06T06:58:09+00:00");
        assert_eq!(at("1h30m"), "2024-05-06T05:38:09+00:00");
        assert!(parse_time("2024-01-02", now).is_ok());
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("10x", now).is_err());
    }

    #[test]
    fn tail_counts_lines_not_records() {
        let records = vec![
            record(Stream::Stdout, "one\n"),
            record(Stream::Stdout, "tw"),
            record(Stream::Stdout, "o\n"),
            record(Stream::Stderr, "three\n"),
        ];
        assert_eq!(start_of_last_lines(&records, 1), 3);
        assert_eq!(start_of_last_lines(&records, 2), 1);
        assert_eq!(start_of_last_lines(&records, 3), 0);
        assert_eq!(start_of_last_lines(&records, 10), 0);
        assert_eq!(start_of_last_lines(&records, 0), 4);
    }

    #[test]
    fn timestamps_start_lines_only() {
        let mut printer = LogPrinter::new(Vec::new(), Vec::new(), true);
        for r in [record(Stream::Stdout, "a"), record(Stream::Stdout, "b\n"), record(Stream::Stderr, "e\n")] {
            printer.print(&r).unwrap();
        }
        assert_eq!(String::from_utf8(printer.out).unwrap(), "2024-01-02T03:04:05.000000001Z ab\n");
        assert_eq!(String::from_utf8(printer.err).unwrap(), "2024-01-02T03:04:05.000000001Z e\n");
    }

    #[test]
    fn follower_reads_appends_and_survives_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut writer = LogWriter::open(path.clone(), 120).unwrap();
        writer.write(Stream::Stdout, b"first\n").unwrap();
        let mut follower = LogFollower::open(&path);
        follower.skip_to_end().unwrap();
        let mut seen = Vec::new();
        for i in 0..10 {
            writer.write(Stream::Stdout, format!("line {i}\n").as_bytes()).unwrap();
            seen.extend(follower.read_new().unwrap());
        }
        let text: Vec<String> = seen.iter().map(|r| String::from_utf8_lossy(&r.text).into_owned()).collect();
        assert_eq!(text, (0..10).map(|i| format!("line {i}\n")).collect::<Vec<_>>());
        assert!(path.with_extension("log.1").exists(), "the writer should have rotated");
    }

    #[test]
    fn printing_selects_the_window_and_stops_following_when_the_container_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path());
        let mut writer = LogWriter::open(path.clone(), 1 << 20).unwrap();
        writer.write(Stream::Stdout, b"a\nb\nc\n").unwrap();
        writer.write(Stream::Stderr, b"oops\n").unwrap();
        let mut printer = LogPrinter::new(Vec::new(), Vec::new(), false);
        let options = LogOptions { tail: Some(2), follow: true, ..Default::default() };
        let mut checks = 0;
        print_logs(
            &path,
            &options,
            || {
                checks += 1;
                if checks == 1 {
                    writer.write(Stream::Stdout, b"late\n").unwrap();
                }
                checks < 2
            },
            &mut printer,
        )
        .unwrap();
        assert_eq!(String::from_utf8(printer.out).unwrap(), "c\nlate\n");
        assert_eq!(String::from_utf8(printer.err).unwrap(), "oops\n");
    }
}
