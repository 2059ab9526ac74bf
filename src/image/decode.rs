//! Turning a layer blob, chunk by chunk as it arrives, into its tar stream, chunk by chunk;
//! and, for code that pulls bytes rather than being fed them, the same as a `Read`. Also the
//! image module's one compression sniffer, and a reader of a tar compressed any way Docker's
//! `cp` and `load` accept (gzip, bzip2, xz, zstd, or none).
//!
//! Unlike flate2's and zstd's `Read` decoders, which copy every byte into their own input
//! buffer, need a zeroed output buffer, and check gzip's CRC-32, input chunks are decompressed
//! where they lie, output goes straight into fresh buffers that are handed on without a copy,
//! and the CRC is skipped: the sha256 of the tar (the diff id) is checked anyway and is the
//! stronger check. A plain tar passes through untouched.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::mem;

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use zstd::stream::raw::{Decoder as ZstdDecoder, InBuffer, Operation, OutBuffer};

use super::layer::{LayerError, stream_error};

/// How a stream is compressed, told by its first bytes ([`sniff_compression`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// No compression magic: a plain tar, if anything ([`looks_like_tar`] tells).
    Plain,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

/// Enough of a stream's start to sniff it: every magic, and a plain tar's first header block.
pub(crate) const SNIFF_LEN: usize = 512;

/// The compression a stream's first bytes (up to [`SNIFF_LEN`] of them) show; None for an
/// empty stream.
pub(crate) fn sniff_compression(head: &[u8]) -> Option<Compression> {
    Some(match head {
        [] => return None,
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
        [b'B', b'Z', b'h', ..] => Compression::Bzip2,
        _ => Compression::Plain,
    })
}

/// Tar has no magic at offset 0, so accept an empty stream, an end-of-archive block, or a
/// first header whose checksum is right.
pub(crate) fn looks_like_tar(head: &[u8]) -> bool {
    if head.is_empty() {
        return true;
    }
    let Some(block) = head.get(..512) else {
        return false;
    };
    block.iter().all(|b| *b == 0) || tar_checksum_matches(block)
}

fn tar_checksum_matches(block: &[u8]) -> bool {
    let Some(field) = block.get(148..156) else {
        return false;
    };
    let digits: Vec<u8> =
        field.iter().copied().skip_while(|b| *b == b' ').take_while(|b| (b'0'..=b'7').contains(b)).collect();
    let Ok(text) = std::str::from_utf8(&digits) else {
        return false;
    };
    let Ok(stored) = i64::from_str_radix(text, 8) else {
        return false;
    };
    // The checksum is computed with its own field read as eight spaces; some historic tars
    // summed signed bytes, so accept either.
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || stored == signed
}

/// The stream `reader` holds, decompressed as it is read, whichever of gzip (several members
/// too), zstd, bzip2 or xz it is compressed with, or as it is; with the compression found.
/// The bytes read to tell are put back in front.
pub(crate) fn decompressing_reader<'a, R: Read + 'a>(
    mut reader: R,
) -> io::Result<(Option<Compression>, Box<dyn Read + 'a>)> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut reader).take(SNIFF_LEN as u64).read_to_end(&mut head)?;
    let kind = sniff_compression(&head);
    let replayed = io::Cursor::new(head).chain(reader);
    let decoded: Box<dyn Read + 'a> = match kind {
        None | Some(Compression::Plain) => return Ok((kind, Box::new(replayed))),
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(replayed)),
        Some(Compression::Zstd) => Box::new(zstd::stream::read::Decoder::new(replayed)?),
        Some(Compression::Bzip2) => Box::new(bzip2::read::MultiBzDecoder::new(replayed)),
        Some(Compression::Xz) => Box::new(lzma_rust2::XzReader::new(replayed, true)),
    };
    let name = match kind {
        Some(Compression::Gzip) => "gzip",
        Some(Compression::Zstd) => "zstd",
        Some(Compression::Bzip2) => "bzip2",
        _ => "xz",
    };
    Ok((kind, Box::new(NamedDecoder { inner: decoded, name })))
}

/// A decoder whose errors say which compression they are about: the decoders' own texts
/// ("failed to fill whole buffer") do not.
struct NamedDecoder<'a> {
    inner: Box<dyn Read + 'a>,
    name: &'static str,
}

impl Read for NamedDecoder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| io::Error::new(e.kind(), format!("invalid {} data: {e}", self.name)))
    }
}

/// Size of each tar chunk handed on.
const OUT_SIZE: usize = 256 << 10;
/// A gzip header with its optional name, comment and extra field; anything longer is hostile.
const MAX_GZIP_HEADER: usize = 1 << 20;

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

fn bad(detail: impl Into<String>) -> LayerError {
    LayerError::BadArchive(detail.into())
}

/// Where tar chunks go: returns false to stop (the consumer has gone away).
pub trait TarSink {
    fn take(&mut self, chunk: Bytes) -> bool;
}

impl<F: FnMut(Bytes) -> bool> TarSink for F {
    fn take(&mut self, chunk: Bytes) -> bool {
        self(chunk)
    }
}

/// A decoder fed the blob's chunks in order with `push`, then `finish`ed.
pub struct LayerDecoder {
    format: Format,
    /// The first bytes, kept until there are enough to tell the format.
    head: Vec<u8>,
    out: Vec<u8>,
}

enum Format {
    Unknown,
    Plain,
    Gzip(Box<GzipState>),
    Zstd(Box<ZstdState>),
}

impl Default for LayerDecoder {
    fn default() -> Self {
        LayerDecoder { format: Format::Unknown, head: Vec::new(), out: Vec::with_capacity(OUT_SIZE) }
    }
}

impl LayerDecoder {
    /// Decodes `chunk`; returns false when the sink stopped taking output.
    pub fn push(&mut self, chunk: Bytes, sink: &mut impl TarSink) -> Result<bool, LayerError> {
        if let Format::Unknown = self.format {
            self.head.extend_from_slice(&chunk);
            if self.head.len() < SNIFF_LEN {
                return Ok(true);
            }
            self.format = sniff(&self.head)?;
            let head = Bytes::from(mem::take(&mut self.head));
            return self.decode(head, sink);
        }
        self.decode(chunk, sink)
    }

    /// Ends the input: fails if the stream stopped in the middle, else hands on the rest.
    pub fn finish(mut self, sink: &mut impl TarSink) -> Result<bool, LayerError> {
        if let Format::Unknown = self.format {
            self.format = sniff(&self.head)?;
            let head = Bytes::from(mem::take(&mut self.head));
            if !self.decode(head, sink)? {
                return Ok(false);
            }
        }
        match &mut self.format {
            Format::Unknown | Format::Plain => {}
            Format::Gzip(gzip) => gzip.finish()?,
            Format::Zstd(zstd) => {
                if !zstd.drain(&mut self.out, sink)? {
                    return Ok(false);
                }
                zstd.finish()?;
            }
        }
        Ok(self.out.is_empty() || sink.take(Bytes::from(mem::take(&mut self.out))))
    }

    fn decode(&mut self, chunk: Bytes, sink: &mut impl TarSink) -> Result<bool, LayerError> {
        match &mut self.format {
            Format::Unknown => unreachable!("the format is known once there is input to decode"),
            Format::Plain => Ok(chunk.is_empty() || sink.take(chunk)),
            Format::Gzip(gzip) => gzip.push(&chunk, &mut self.out, sink),
            Format::Zstd(zstd) => zstd.push(&chunk, &mut self.out, sink),
        }
    }
}

/// Compressed bytes decoded at a time by `DecodedReader`. Small, because what one piece
/// decodes to is held in memory until read: at most about 0.5 MB for gzip, and 16 MB for zstd
/// built to expand (a run of RLE blocks).
const READER_PIECE: usize = 512;

/// A blob's tar stream, decoded as it is read.
pub struct DecodedReader<R> {
    inner: R,
    /// None once the input has ended and the decoder has finished.
    decoder: Option<LayerDecoder>,
    /// What was read from `inner` and not yet decoded.
    input: Bytes,
    ready: VecDeque<Bytes>,
}

impl<R: Read> DecodedReader<R> {
    /// Reads the blob's first block at once, so a blob that is neither gzip, zstd nor a tar
    /// fails here rather than at the first read.
    pub fn new(inner: R) -> Result<DecodedReader<R>, LayerError> {
        let mut reader = DecodedReader {
            inner,
            decoder: Some(LayerDecoder::default()),
            input: Bytes::new(),
            ready: VecDeque::new(),
        };
        let mut head = Vec::with_capacity(SNIFF_LEN);
        reader.inner.by_ref().take(SNIFF_LEN as u64).read_to_end(&mut head).map_err(stream_error)?;
        let last = head.len() < SNIFF_LEN;
        reader.decode(Bytes::from(head), last)?;
        Ok(reader)
    }

    /// Decodes `chunk`; `last` ends the input.
    fn decode(&mut self, chunk: Bytes, last: bool) -> Result<(), LayerError> {
        let ready = &mut self.ready;
        let mut collect = |tar: Bytes| {
            if !tar.is_empty() {
                ready.push_back(tar);
            }
            true
        };
        if let Some(decoder) = &mut self.decoder
            && !chunk.is_empty()
        {
            decoder.push(chunk, &mut collect)?;
        }
        if last && let Some(decoder) = self.decoder.take() {
            decoder.finish(&mut collect)?;
        }
        Ok(())
    }

    /// Decodes the next piece of input, or finishes at the input's end.
    fn decode_more(&mut self) -> io::Result<()> {
        if self.input.is_empty() {
            let mut chunk = vec![0u8; OUT_SIZE];
            let n = loop {
                match self.inner.read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            if n == 0 {
                return self.decode(Bytes::new(), true).map_err(io::Error::other);
            }
            chunk.truncate(n);
            self.input = Bytes::from(chunk);
        }
        let piece = self.input.split_to(self.input.len().min(READER_PIECE));
        self.decode(piece, false).map_err(io::Error::other)
    }
}

impl<R: Read> Read for DecodedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(front) = self.ready.front_mut() {
                let n = buf.len().min(front.len());
                buf[..n].copy_from_slice(&front[..n]);
                *front = front.slice(n..);
                if front.is_empty() {
                    self.ready.pop_front();
                }
                return Ok(n);
            }
            if self.decoder.is_none() {
                return Ok(0);
            }
            self.decode_more()?;
        }
    }
}

/// A layer is gzip, zstd or a plain tar (an empty one too).
fn sniff(head: &[u8]) -> Result<Format, LayerError> {
    match sniff_compression(head) {
        Some(Compression::Gzip) => Ok(Format::Gzip(Box::default())),
        Some(Compression::Zstd) => Ok(Format::Zstd(Box::new(ZstdState::new()?))),
        None => Ok(Format::Plain),
        Some(Compression::Plain) if looks_like_tar(head) => Ok(Format::Plain),
        Some(_) => Err(LayerError::UnknownCompression),
    }
}

/// Hands `out` on when it is full and starts a fresh one.
fn hand_on_if_full(out: &mut Vec<u8>, sink: &mut impl TarSink) -> bool {
    if out.len() < out.capacity() {
        return true;
    }
    let full = mem::replace(out, Vec::with_capacity(OUT_SIZE));
    sink.take(Bytes::from(full))
}

// --- gzip ------------------------------------------------------------------------------------

enum GzipPart {
    Header(Vec<u8>),
    Body,
    Trailer(Vec<u8>),
    /// Between members, or at the end.
    Done,
}

struct GzipState {
    part: GzipPart,
    inflater: Decompress,
    /// Uncompressed bytes of the current member, for the trailer's length check.
    member_size: u64,
}

impl Default for GzipState {
    fn default() -> Self {
        GzipState { part: GzipPart::Header(Vec::new()), inflater: Decompress::new(false), member_size: 0 }
    }
}

/// How many more header bytes are needed before it can be parsed further.
enum HeaderNeed {
    Exactly(usize),
    ThroughNul,
    Complete,
}

fn gzip_header_need(header: &[u8]) -> Result<HeaderNeed, LayerError> {
    if header.len() < 10 {
        return Ok(HeaderNeed::Exactly(10 - header.len()));
    }
    if header[..3] != [0x1f, 0x8b, 8] {
        return Err(bad("gzip: bad member header (not gzip, or not deflate)"));
    }
    let flags = header[3];
    if flags & FRESERVED != 0 {
        return Err(bad("gzip: reserved header flags set"));
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = header.get(at..at + 2) else {
            return Ok(HeaderNeed::Exactly(at + 2 - header.len()));
        };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
        if header.len() < at {
            return Ok(HeaderNeed::Exactly(at - header.len()));
        }
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            match header[at..].iter().position(|b| *b == 0) {
                Some(nul) => at += nul + 1,
                None => return Ok(HeaderNeed::ThroughNul),
            }
        }
    }
    if flags & FHCRC != 0 && header.len() < at + 2 {
        return Ok(HeaderNeed::Exactly(at + 2 - header.len()));
    }
    Ok(HeaderNeed::Complete)
}

impl GzipState {
    fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>, sink: &mut impl TarSink) -> Result<bool, LayerError> {
        loop {
            match &mut self.part {
                GzipPart::Done if input.is_empty() => return Ok(true),
                GzipPart::Done => self.part = GzipPart::Header(Vec::new()),
                GzipPart::Header(_) | GzipPart::Trailer(_) if input.is_empty() => return Ok(true),
                GzipPart::Header(header) => {
                    let take = match gzip_header_need(header)? {
                        HeaderNeed::Complete => {
                            self.part = GzipPart::Body;
                            continue;
                        }
                        HeaderNeed::Exactly(n) => n.min(input.len()),
                        HeaderNeed::ThroughNul => input.iter().position(|b| *b == 0).map_or(input.len(), |i| i + 1),
                    };
                    header.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if header.len() > MAX_GZIP_HEADER {
                        return Err(bad("gzip: member header is implausibly long"));
                    }
                }
                GzipPart::Body => {
                    if !hand_on_if_full(out, sink) {
                        return Ok(false);
                    }
                    let (in_before, out_before) = (self.inflater.total_in(), out.len());
                    let status = self
                        .inflater
                        .decompress_vec(input, out, FlushDecompress::None)
                        .map_err(|e| bad(format!("gzip: {e}")))?;
                    let used = (self.inflater.total_in() - in_before) as usize;
                    let produced = out.len() - out_before;
                    input = &input[used..];
                    self.member_size += produced as u64;
                    match status {
                        Status::StreamEnd => {
                            self.inflater.reset(false);
                            self.part = GzipPart::Trailer(Vec::with_capacity(8));
                        }
                        _ if input.is_empty() => return Ok(true),
                        _ if used == 0 && produced == 0 && out.len() < out.capacity() => {
                            return Err(bad("gzip: the deflate stream makes no progress"));
                        }
                        _ => {}
                    }
                }
                GzipPart::Trailer(trailer) => {
                    let take = (8 - trailer.len()).min(input.len());
                    trailer.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if trailer.len() == 8 {
                        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
                        if u64::from(size) != self.member_size & 0xffff_ffff {
                            return Err(bad("gzip: the trailer's length does not match the data"));
                        }
                        self.member_size = 0;
                        self.part = GzipPart::Done;
                    }
                }
            }
        }
    }

    fn finish(&self) -> Result<(), LayerError> {
        match self.part {
            GzipPart::Done => Ok(()),
            _ => Err(bad("gzip: the stream ends in the middle (truncated layer)")),
        }
    }
}

// --- zstd ------------------------------------------------------------------------------------

struct ZstdState {
    decoder: ZstdDecoder<'static>,
    /// The decoder's last hint: 0 right after a frame ended.
    hint: usize,
}

impl ZstdState {
    fn new() -> Result<ZstdState, LayerError> {
        let decoder = ZstdDecoder::new().map_err(|e| bad(format!("zstd: {e}")))?;
        Ok(ZstdState { decoder, hint: 1 })
    }

    fn push(&mut self, input: &[u8], out: &mut Vec<u8>, sink: &mut impl TarSink) -> Result<bool, LayerError> {
        let mut input = InBuffer::around(input);
        while input.pos() < input.src.len() {
            if !hand_on_if_full(out, sink) {
                return Ok(false);
            }
            self.run(&mut input, out)?;
        }
        Ok(true)
    }

    /// Takes out what the decoder still holds once the input has ended.
    fn drain(&mut self, out: &mut Vec<u8>, sink: &mut impl TarSink) -> Result<bool, LayerError> {
        loop {
            if !hand_on_if_full(out, sink) {
                return Ok(false);
            }
            let before = out.len();
            self.run(&mut InBuffer::around(&[]), out)?;
            if out.len() < out.capacity() || out.len() == before {
                return Ok(true);
            }
        }
    }

    fn run(&mut self, input: &mut InBuffer<'_>, out: &mut Vec<u8>) -> Result<(), LayerError> {
        let (read_before, written_before) = (input.pos(), out.len());
        let mut output = OutBuffer::around_pos(out, written_before);
        let hint = self.decoder.run(input, &mut output).map_err(|e| bad(format!("zstd: {e}")))?;
        // A call that did nothing (asked for more after a frame ended) says nothing about it.
        if input.pos() != read_before || out.len() != written_before {
            self.hint = hint;
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), LayerError> {
        if self.hint == 0 { Ok(()) } else { Err(bad("zstd: the stream ends in the middle (truncated layer)")) }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn sample() -> Vec<u8> {
        // Tar-like enough to be recognised as plain tar: an all-zero first block.
        let mut data = vec![0u8; 1024];
        data.extend((0..700_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        data
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn decode_in_pieces(blob: &[u8], piece: usize) -> Result<Vec<u8>, LayerError> {
        let mut decoder = LayerDecoder::default();
        let mut tar = Vec::new();
        let mut sink = |chunk: Bytes| {
            tar.extend_from_slice(&chunk);
            true
        };
        for part in blob.chunks(piece) {
            assert!(decoder.push(Bytes::copy_from_slice(part), &mut sink)?);
        }
        assert!(decoder.finish(&mut sink)?);
        Ok(tar)
    }

    #[test]
    fn every_format_in_any_chunking_gives_the_tar_back() {
        let data = sample();
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        let mut multi_gzip = gzip(&data[..300_000]);
        multi_gzip.extend(gzip(&data[300_000..]));
        let mut multi_zstd = zstd::encode_all(&data[..100_000], 1).unwrap();
        multi_zstd.extend(zstd::encode_all(&data[100_000..], 1).unwrap());
        for blob in [data.clone(), gzip(&data), zst, multi_gzip, multi_zstd] {
            for piece in [1, 7, 511, 4096, 65536, blob.len()] {
                if piece == 1 && blob.len() > 200_000 && blob != data {
                    // Byte-at-a-time over the whole blob is slow; the header cases are covered below.
                    continue;
                }
                assert_eq!(decode_in_pieces(&blob, piece).unwrap(), data, "piece {piece}");
            }
        }
    }

    #[test]
    fn gzip_headers_with_every_optional_field_byte_by_byte() {
        let data = b"hello tar".repeat(100);
        let mut deflated = Vec::new();
        flate2::read::DeflateEncoder::new(&data[..], flate2::Compression::default())
            .read_to_end(&mut deflated)
            .unwrap();
        let mut blob = vec![0x1f, 0x8b, 8, FEXTRA | FNAME | FCOMMENT | FHCRC, 0, 0, 0, 0, 0, 3];
        blob.extend([5, 0, b'a', b'b', b'c', b'd', b'e']);
        blob.extend(b"name.tar\0a comment\0");
        blob.extend([0xaa, 0xbb]);
        blob.extend(&deflated);
        blob.extend(crc32(&data).to_le_bytes());
        blob.extend((data.len() as u32).to_le_bytes());
        assert_eq!(decode_in_pieces(&blob, 1).unwrap(), data);
        assert_eq!(decode_in_pieces(&blob, 3).unwrap(), data);
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        crc.sum()
    }

    #[test]
    fn the_reader_sniffs_gzip_zstd_and_plain_tar_and_refuses_the_rest() {
        let read_all = |blob: Vec<u8>| {
            let mut out = Vec::new();
            DecodedReader::new(&blob[..])?.read_to_end(&mut out).map_err(|e| LayerError::BadArchive(e.to_string()))?;
            Ok::<_, LayerError>(out)
        };
        let tar = sample();
        assert_eq!(read_all(tar.clone()).unwrap(), tar);
        assert_eq!(read_all(gzip(&tar)).unwrap(), tar);
        assert_eq!(read_all(zstd::encode_all(&tar[..], 3).unwrap()).unwrap(), tar);
        // pigz and friends write several gzip members.
        let (first, second) = tar.split_at(5000);
        let mut multi = gzip(first);
        multi.extend_from_slice(&gzip(second));
        assert_eq!(read_all(multi).unwrap(), tar);
        assert!(read_all(Vec::new()).unwrap().is_empty());
        assert!(matches!(DecodedReader::new(&[b'x'; 2000][..]), Err(LayerError::UnknownCompression)));
        let xz = [0xfd, b'7', b'z', b'X', b'Z', 0];
        assert!(matches!(DecodedReader::new(&xz[..]), Err(LayerError::UnknownCompression)));
        let mut truncated = gzip(&tar);
        truncated.truncate(truncated.len() - 9);
        assert!(read_all(truncated).is_err());
    }

    /// `data` compressed by the command-line `tool` (gzip, bzip2, xz, zstd), as a user would.
    fn compressed_by(tool: &str, data: &[u8]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("data");
        std::fs::write(&input, data).unwrap();
        let out = std::process::Command::new(tool).arg("-c").arg("-q").arg(&input).output().unwrap();
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    #[test]
    fn every_compression_docker_reads_is_decompressed() {
        let read_all = |blob: &[u8]| {
            let (kind, mut reader) = decompressing_reader(blob).unwrap();
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            (kind, out)
        };
        let tar = sample();
        for (tool, kind) in [
            ("gzip", Compression::Gzip),
            ("bzip2", Compression::Bzip2),
            ("xz", Compression::Xz),
            ("zstd", Compression::Zstd),
        ] {
            assert_eq!(read_all(&compressed_by(tool, &tar)), (Some(kind), tar.clone()), "{tool}");
            // Two streams one after the other, as `cat a.gz b.gz` makes.
            let (first, second) = tar.split_at(3000);
            let mut two = compressed_by(tool, first);
            two.extend(compressed_by(tool, second));
            assert_eq!(read_all(&two).1, tar, "{tool}, two streams");
        }
        assert_eq!(read_all(&tar), (Some(Compression::Plain), tar.clone()));
        assert_eq!(read_all(&[]), (None, Vec::new()));
    }

    #[test]
    fn the_reader_holds_little_of_a_layer_that_expands_a_thousandfold() {
        let zeros = vec![0u8; 64 << 20];
        let blob = gzip(&zeros);
        let mut reader = DecodedReader::new(&blob[..]).unwrap();
        let mut buf = vec![0u8; 4096];
        let mut total = 0;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            let held: usize = reader.ready.iter().map(Bytes::len).sum();
            assert!(held <= 2 * OUT_SIZE, "{held} bytes decoded ahead of the reader");
        }
        assert_eq!(total, zeros.len());
    }

    #[test]
    fn empty_input_is_an_empty_tar() {
        assert_eq!(decode_in_pieces(&[], 1).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn truncated_or_corrupt_streams_are_refused() {
        let data = sample();
        let gz = gzip(&data);
        for cut in [5, 12, gz.len() / 2, gz.len() - 4, gz.len() - 1] {
            assert!(decode_in_pieces(&gz[..cut], 4096).is_err(), "gzip cut at {cut}");
        }
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        assert!(decode_in_pieces(&zst[..zst.len() / 2], 4096).is_err());
        let mut wrong_length = gz.clone();
        let n = wrong_length.len();
        wrong_length[n - 1] ^= 1;
        assert!(decode_in_pieces(&wrong_length, 4096).is_err());
        let mut garbage_after = gz.clone();
        garbage_after.extend(b"not another gzip member");
        assert!(decode_in_pieces(&garbage_after, 4096).is_err());
        let mut corrupt = gz;
        corrupt[40] ^= 0xff;
        corrupt[41] ^= 0xff;
        assert_ne!(decode_in_pieces(&corrupt, 4096).ok(), Some(data));
        assert!(matches!(
            decode_in_pieces(b"\xfd7zXZ\0 xz is not a layer format", 7),
            Err(LayerError::UnknownCompression)
        ));
    }

    #[test]
    fn a_sink_that_stops_stops_the_decoder() {
        let gz = gzip(&sample());
        let mut decoder = LayerDecoder::default();
        let mut stop = |_: Bytes| false;
        let mut stopped = false;
        for part in gz.chunks(65536) {
            if !decoder.push(Bytes::copy_from_slice(part), &mut stop).unwrap() {
                stopped = true;
                break;
            }
        }
        assert!(stopped);
    }
}
