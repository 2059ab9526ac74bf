//! One tar entry's metadata, from its header and PAX records, as unpack and verify read it.

use std::ffi::CString;
use std::io::{self, Read};

use nix::sys::time::TimeSpec;

use super::path::display_rel;
use super::tar_io::device_number;
use super::{LayerError, PAX_XATTR_PREFIX};
use crate::sandbox::fs_at::cstring;

/// Metadata of one tar entry, from its header and PAX records.
pub(super) struct EntryMeta {
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) atime: TimeSpec,
    pub(super) mtime: TimeSpec,
    pub(super) xattrs: Vec<(CString, Vec<u8>)>,
}

pub(super) fn bad_header(rel: &[Vec<u8>], what: &str, e: io::Error) -> LayerError {
    LayerError::BadArchive(format!("{}: invalid {what}: {e}", display_rel(rel)))
}

pub(super) fn read_entry_meta<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    rel: &[Vec<u8>],
) -> Result<EntryMeta, LayerError> {
    let header = entry.header();
    let mode = header.mode().map_err(|e| bad_header(rel, "mode", e))? & 0o7777;
    // The tar crate has already applied PAX uid/gid records to the header.
    let uid = header.uid().map_err(|e| bad_header(rel, "uid", e))?;
    let gid = header.gid().map_err(|e| bad_header(rel, "gid", e))?;
    let mtime_secs = header.mtime().map_err(|e| bad_header(rel, "mtime", e))?;
    let (uid, gid) = match (u32::try_from(uid), u32::try_from(gid)) {
        (Ok(uid), Ok(gid)) => (uid, gid),
        _ => {
            return Err(LayerError::BadArchive(format!("{}: owner {uid}:{gid} is out of range", display_rel(rel))));
        }
    };
    let mut mtime = TimeSpec::new(i64::try_from(mtime_secs).unwrap_or(i64::MAX), 0);
    let mut atime = None;
    let mut xattrs = Vec::new();

    let pax = entry.pax_extensions().map_err(|e| bad_header(rel, "pax header", e))?;
    for record in pax.into_iter().flatten() {
        let record = record.map_err(|e| bad_header(rel, "pax record", e))?;
        let key = record.key_bytes();
        if key == b"mtime" {
            if let Some(t) = parse_pax_time(record.value_bytes()) {
                mtime = t;
            }
        } else if key == b"atime" {
            atime = parse_pax_time(record.value_bytes());
        } else if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
            let name = cstring(name).map_err(|e| bad_header(rel, "xattr name", e))?;
            xattrs.push((name, record.value_bytes().to_vec()));
        }
    }
    Ok(EntryMeta { mode, uid, gid, atime: atime.unwrap_or(mtime), mtime, xattrs })
}

/// PAX times are decimal seconds with an optional fraction, possibly negative.
pub(super) fn parse_pax_time(value: &[u8]) -> Option<TimeSpec> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let secs: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut nanos: i64 = 0;
    for i in 0..9 {
        let digit = fraction.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        nanos = nanos * 10 + digit;
    }
    Some(match (negative, nanos) {
        (false, _) => TimeSpec::new(secs, nanos),
        (true, 0) => TimeSpec::new(-secs, 0),
        (true, _) => TimeSpec::new(-secs - 1, 1_000_000_000 - nanos),
    })
}

pub(super) fn format_pax_time(secs: i64, nanos: i64) -> String {
    if secs >= 0 || nanos == 0 {
        format!("{secs}.{nanos:09}")
    } else {
        // secs + nanos/1e9 with secs negative, e.g. (-2, 0.5e9) is -1.5.
        format!("-{}.{:09}", -(secs + 1), 1_000_000_000 - nanos)
    }
}

pub(super) fn link_target<R: Read>(entry: &tar::Entry<'_, R>, rel: &[Vec<u8>]) -> Result<Vec<u8>, LayerError> {
    entry
        .link_name_bytes()
        .map(|target| target.into_owned())
        .ok_or_else(|| LayerError::BadArchive(format!("{}: link entry without a target", display_rel(rel))))
}

pub(super) fn entry_device(header: &tar::Header, rel: &[Vec<u8>]) -> Result<libc::dev_t, LayerError> {
    device_number(header).map_err(|e| LayerError::BadArchive(format!("{}: {e}", display_rel(rel))))
}
