//! Writing a layer blob to its staging file: hashed as it arrives and written with O_DIRECT.
//!
//! Why O_DIRECT: a blob is written once and read rarely (save, push, system check), so putting
//! it through the page cache costs a copy per byte (as much CPU as unpacking the layer on these
//! machines) and leaves a large fsync for the end. Direct writes go to the disk as they arrive;
//! the closing fsync only has the tail and the metadata left. Where the filesystem refuses
//! O_DIRECT (tmpfs, some overlays) the file is written through the page cache instead.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use sha2::{Digest, Sha256};

/// Direct I/O wants the buffer address, the file offset and the length aligned to the
/// logical block size; 4 KiB covers every disk this runs on.
const ALIGN: usize = 4096;
const CHUNK: usize = 1 << 20;

/// A blob being written: `write` takes the bytes in order, `finish` makes them durable.
pub struct BlobFile {
    file: File,
    /// The file already holds the bytes (see `adopt`): they are only hashed.
    adopted: bool,
    direct: bool,
    /// Holds `CHUNK + ALIGN` bytes so that an aligned window of `CHUNK` bytes fits inside.
    storage: Vec<u8>,
    start: usize,
    filled: usize,
    hasher: Sha256,
    written: u64,
}

/// What was written: "sha256:<hex>" and the byte count.
pub struct WrittenBlob {
    pub digest: String,
    pub size: u64,
}

impl BlobFile {
    pub fn create(path: &Path) -> io::Result<BlobFile> {
        // Switched to O_DIRECT after opening: an O_DIRECT open that is refused fails only after
        // O_CREAT has made the file, and a second try would then find it there.
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let flags = OFlag::from_bits_retain(fcntl(&file, FcntlArg::F_GETFL)?);
        let direct = match fcntl(&file, FcntlArg::F_SETFL(flags | OFlag::O_DIRECT)) {
            Ok(_) => true,
            Err(nix::errno::Errno::EINVAL) => false,
            Err(e) => return Err(e.into()),
        };
        let storage = vec![0u8; CHUNK + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        Ok(BlobFile { file, adopted: false, direct, storage, start, filled: 0, hasher: Sha256::new(), written: 0 })
    }

    /// A blob whose bytes are already in `file`: `write` is then given them only to hash them,
    /// and `finish` makes the file durable.
    pub fn adopt(file: File) -> BlobFile {
        BlobFile {
            file,
            adopted: true,
            direct: false,
            storage: Vec::new(),
            start: 0,
            filled: 0,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    pub fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        if self.adopted {
            return Ok(());
        }
        while !bytes.is_empty() {
            let room = CHUNK - self.filled;
            let take = room.min(bytes.len());
            let at = self.start + self.filled;
            self.storage[at..at + take].copy_from_slice(&bytes[..take]);
            self.filled += take;
            bytes = &bytes[take..];
            if self.filled == CHUNK {
                self.flush_aligned()?;
            }
        }
        Ok(())
    }

    /// Writes the whole aligned part of the buffer; keeps the unaligned rest at its front.
    fn flush_aligned(&mut self) -> io::Result<()> {
        let aligned = self.filled / ALIGN * ALIGN;
        let window = self.start..self.start + aligned;
        self.file.write_all(&self.storage[window])?;
        self.storage.copy_within(self.start + aligned..self.start + self.filled, self.start);
        self.filled -= aligned;
        Ok(())
    }

    /// Writes what is left, then fsyncs. The tail is shorter than a block, so it goes through
    /// the page cache with O_DIRECT switched off.
    pub fn finish(mut self) -> io::Result<WrittenBlob> {
        self.flush_aligned()?;
        if self.direct && self.filled > 0 {
            let flags = fcntl(&self.file, FcntlArg::F_GETFL)?;
            let buffered = OFlag::from_bits_retain(flags) - OFlag::O_DIRECT;
            fcntl(&self.file, FcntlArg::F_SETFL(buffered))?;
        }
        if !self.adopted {
            self.file.write_all(&self.storage[self.start..self.start + self.filled])?;
        }
        self.file.sync_all()?;
        Ok(WrittenBlob { digest: super::layer::format_sha256(self.hasher), size: self.written })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_in_pieces(data: &[u8], piece: usize) -> (WrittenBlob, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let mut blob = BlobFile::create(&path).unwrap();
        for part in data.chunks(piece.max(1)) {
            blob.write(part).unwrap();
        }
        let written = blob.finish().unwrap();
        (written, std::fs::read(&path).unwrap())
    }

    #[test]
    fn any_length_in_any_pieces_round_trips_with_its_digest() {
        let data: Vec<u8> = (0..(3 * CHUNK + 12345)).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, CHUNK, CHUNK + 1, data.len()] {
            for piece in [1000, ALIGN, 65536, CHUNK + 3] {
                let (written, read_back) = write_in_pieces(&data[..len], piece);
                assert_eq!(read_back, &data[..len], "len {len} piece {piece}");
                assert_eq!(written.size, len as u64);
                assert_eq!(written.digest, crate::store::sha256_digest(&data[..len]));
            }
        }
    }

    #[test]
    fn an_adopted_file_is_hashed_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"layer bytes").unwrap();
        let mut blob = BlobFile::adopt(File::open(&path).unwrap());
        blob.write(b"layer ").unwrap();
        blob.write(b"bytes").unwrap();
        let written = blob.finish().unwrap();
        assert_eq!(written.digest, crate::store::sha256_digest(b"layer bytes"));
        assert_eq!(written.size, 11);
        assert_eq!(std::fs::read(&path).unwrap(), b"layer bytes");
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"keep").unwrap();
        assert_eq!(BlobFile::create(&path).err().unwrap().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"keep");
    }
}
