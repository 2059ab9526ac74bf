//! The journal file: `ROOT/events/events.log`, one JSON event per line, and the generation
//! before it, `events.log.1`, once the log has grown past [`MAX_SIZE`].
//!
//! Appends hold `events.lock` (a leaf of the store's lock order: held for one append, never
//! while waiting for anything else) so that rotating and ending a torn line are safe against
//! other appenders; each line is written with one `write` on an `O_APPEND` descriptor. Readers
//! take no lock: a line that does not parse (the torn end of an appender killed mid-write) is
//! skipped, and an appender that finds the file not ending in a newline ends it first, so a torn
//! line never swallows the next event.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::Event;
use crate::store::Store;

/// The size past which the log is rotated (Podman's default for its events file is 1 MB).
pub const MAX_SIZE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |error| JournalError::Io { path: path.to_owned(), error }
}

fn dir(store: &Store) -> PathBuf {
    store.root().join("events")
}

fn log_path(store: &Store) -> PathBuf {
    dir(store).join("events.log")
}

fn old_path(store: &Store) -> PathBuf {
    dir(store).join("events.log.1")
}

/// Appends one event to the journal (rotating it first when it is past [`MAX_SIZE`]).
pub fn append(store: &Store, event: &Event) -> Result<(), JournalError> {
    append_limited(store, event, MAX_SIZE)
}

fn append_limited(store: &Store, event: &Event, max_size: u64) -> Result<(), JournalError> {
    let dir = dir(store);
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let lock_path = dir.join("events.lock");
    let lock =
        OpenOptions::new().write(true).create(true).truncate(false).open(&lock_path).map_err(io_error(&lock_path))?;
    lock.lock().map_err(io_error(&lock_path))?;
    let path = log_path(store);
    let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if size >= max_size {
        let old = old_path(store);
        fs::rename(&path, &old).map_err(io_error(&path))?;
    }
    let mut file = OpenOptions::new().append(true).read(true).create(true).open(&path).map_err(io_error(&path))?;
    let mut line = Vec::with_capacity(512);
    let size = file.metadata().map_err(io_error(&path))?.len();
    if size > 0 {
        let mut last = [0u8];
        file.read_exact_at(&mut last, size - 1).map_err(io_error(&path))?;
        if last[0] != b'\n' {
            line.push(b'\n');
        }
    }
    serde_json::to_writer(&mut line, event).map_err(|e| JournalError::Io { path: path.clone(), error: e.into() })?;
    line.push(b'\n');
    file.write_all(&line).map_err(io_error(&path))
}

/// Every event in the journal, oldest first.
#[cfg_attr(not(test), allow(dead_code))]
pub fn read(store: &Store) -> Result<Vec<Event>, JournalError> {
    Follower::from_start(store).poll()
}

/// Reads the journal as it grows: each [`poll`](Follower::poll) returns the events appended
/// since the last, following the log across a rotation.
pub struct Follower {
    log: PathBuf,
    /// The generation being read, its inode, and how far it has been read.
    file: Option<(File, u64)>,
    /// The rotated generation, still to be read first (`from_start` only).
    pending_old: Option<PathBuf>,
    /// The bytes of a line not ended yet.
    partial: Vec<u8>,
}

impl Follower {
    /// From the first event kept (the rotated generation, then the log).
    pub fn from_start(store: &Store) -> Follower {
        Follower { log: log_path(store), file: None, pending_old: Some(old_path(store)), partial: Vec::new() }
    }

    /// From the events appended after now.
    pub fn from_end(store: &Store) -> Follower {
        let log = log_path(store);
        let file = File::open(&log).ok().and_then(|mut f| {
            let ino = f.metadata().ok()?.ino();
            f.seek(SeekFrom::End(0)).ok()?;
            Some((f, ino))
        });
        Follower { log, file, pending_old: None, partial: Vec::new() }
    }

    /// The events appended since the last call (since the start, the first time).
    pub fn poll(&mut self) -> Result<Vec<Event>, JournalError> {
        let mut events = Vec::new();
        if let Some(old) = self.pending_old.take() {
            match File::open(&old) {
                Ok(mut f) => {
                    self.read_to_end(&mut f, &old, &mut events)?;
                    self.end_partial(&mut events);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&old)(e)),
            }
        }
        loop {
            let current_ino = fs::metadata(&self.log).ok().map(|m| m.ino());
            let log = self.log.clone();
            if let Some((file, ino)) = &mut self.file {
                let ino = *ino;
                let mut f = file.try_clone().map_err(io_error(&log))?;
                self.read_to_end(&mut f, &log, &mut events)?;
                if current_ino == Some(ino) || current_ino.is_none() {
                    return Ok(events);
                }
                // Rotated: what was read is the whole of the old generation.
                self.end_partial(&mut events);
                self.file = None;
            }
            match File::open(&self.log) {
                Ok(f) => {
                    let ino = f.metadata().map_err(io_error(&log))?.ino();
                    self.file = Some((f, ino));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(events),
                Err(e) => return Err(io_error(&log)(e)),
            }
        }
    }

    fn read_to_end(&mut self, file: &mut File, path: &Path, events: &mut Vec<Event>) -> Result<(), JournalError> {
        let mut bytes = std::mem::take(&mut self.partial);
        file.read_to_end(&mut bytes).map_err(io_error(path))?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.partial = bytes.split_off(complete);
        events.extend(bytes.split(|&b| b == b'\n').filter_map(|line| serde_json::from_slice::<Event>(line).ok()));
        Ok(())
    }

    /// The end of a generation ends its last line: a complete event there counts, a torn one not.
    fn end_partial(&mut self, events: &mut Vec<Event>) {
        let partial = std::mem::take(&mut self.partial);
        events.extend(serde_json::from_slice::<Event>(&partial).ok());
    }
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), false).unwrap();
        (dir, store)
    }

    fn event(n: usize) -> Event {
        Event::new(Kind::Volume, "create", format!("v{n}"))
    }

    fn ids(events: &[Event]) -> Vec<String> {
        events.iter().map(|e| e.actor.id.clone()).collect()
    }

    #[test]
    fn appended_events_read_back_in_order() {
        let (_d, store) = store();
        assert!(read(&store).unwrap().is_empty());
        for n in 0..3 {
            append(&store, &event(n)).unwrap();
        }
        assert_eq!(ids(&read(&store).unwrap()), ["v0", "v1", "v2"]);
    }

    #[test]
    fn a_torn_line_is_skipped_and_does_not_swallow_the_next_event() {
        let (_d, store) = store();
        append(&store, &event(0)).unwrap();
        let mut f = OpenOptions::new().append(true).open(log_path(&store)).unwrap();
        f.write_all(br#"{"Type":"volume","Action":"cre"#).unwrap();
        assert_eq!(ids(&read(&store).unwrap()), ["v0"]);
        append(&store, &event(1)).unwrap();
        assert_eq!(ids(&read(&store).unwrap()), ["v0", "v1"]);
    }

    #[test]
    fn rotation_keeps_one_old_generation_and_followers_cross_it() {
        let (_d, store) = store();
        let line = serde_json::to_vec(&event(0)).unwrap().len() as u64 + 1;
        append_limited(&store, &event(0), 2 * line).unwrap();
        let mut follower = Follower::from_end(&store);
        for n in 1..4 {
            append_limited(&store, &event(n), 2 * line).unwrap();
        }
        assert!(old_path(&store).exists());
        assert_eq!(ids(&read(&store).unwrap()), ["v0", "v1", "v2", "v3"]);
        assert_eq!(ids(&follower.poll().unwrap()), ["v1", "v2", "v3"]);
        let mut late = Follower::from_end(&store);
        for n in 4..7 {
            append_limited(&store, &event(n), 2 * line).unwrap();
            if n == 5 {
                assert_eq!(ids(&late.poll().unwrap()), ["v4", "v5"]);
            }
        }
        assert_eq!(ids(&late.poll().unwrap()), ["v6"]);
        // Two generations at most: the oldest are gone.
        assert_eq!(ids(&read(&store).unwrap()), ["v4", "v5", "v6"]);
    }
}
