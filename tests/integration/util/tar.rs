//! A tar writer that writes entries exactly as given, hostile ones included.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// One entry of a layer tarball, written verbatim: paths are not checked or cleaned, so tests
/// can build hostile layers (`../escape`, absolute paths, symlinks pointing out).
#[derive(Clone, Debug)]
pub enum TarEntry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// A hard link to `target`, an earlier entry's path.
    HardLink {
        path: String,
        target: String,
    },
    /// A character device (overlay whiteouts in a layer tar are `.wh.` files, not devices).
    CharDevice {
        path: String,
        major: u32,
        minor: u32,
    },
    Fifo {
        path: String,
    },
}

impl TarEntry {
    pub fn dir(path: &str) -> TarEntry {
        TarEntry::Dir { path: path.into(), mode: 0o755 }
    }
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> TarEntry {
        TarEntry::File { path: path.into(), mode: 0o644, data: data.into() }
    }
    pub fn file_mode(path: &str, mode: u32, data: impl Into<Vec<u8>>) -> TarEntry {
        TarEntry::File { path: path.into(), mode, data: data.into() }
    }
    pub fn symlink(path: &str, target: &str) -> TarEntry {
        TarEntry::Symlink { path: path.into(), target: target.into() }
    }
    pub fn hardlink(path: &str, target: &str) -> TarEntry {
        TarEntry::HardLink { path: path.into(), target: target.into() }
    }
    /// An OCI whiteout: deletes `path` (e.g. "etc/motd") from the layers below.
    pub fn whiteout(path: &str) -> TarEntry {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let wh = if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
        TarEntry::file(&wh, Vec::new())
    }
    /// An OCI opaque marker: hides everything below in directory `dir` (e.g. "var/cache").
    pub fn opaque(dir: &str) -> TarEntry {
        TarEntry::file(&format!("{}/.wh..wh..opq", dir.trim_end_matches('/')), Vec::new())
    }
}

/// Builds a POSIX ustar archive from `entries`, exactly as given (mtime 0, uid/gid 0). Paths
/// longer than 100 bytes are split into ustar's prefix field; longer than that fall back to a
/// PAX `path` record.
pub fn build_tar(entries: &[TarEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        match entry {
            TarEntry::Dir { path, mode } => {
                let p = if path.ends_with('/') { path.clone() } else { format!("{path}/") };
                push_tar_header(&mut out, &p, *mode, 0, b'5', "", (0, 0));
            }
            TarEntry::File { path, mode, data } => {
                push_tar_header(&mut out, path, *mode, data.len() as u64, b'0', "", (0, 0));
                out.extend_from_slice(data);
                pad_to_block(&mut out);
            }
            TarEntry::Symlink { path, target } => push_tar_header(&mut out, path, 0o777, 0, b'2', target, (0, 0)),
            TarEntry::HardLink { path, target } => push_tar_header(&mut out, path, 0o644, 0, b'1', target, (0, 0)),
            TarEntry::CharDevice { path, major, minor } => {
                push_tar_header(&mut out, path, 0o644, 0, b'3', "", (*major, *minor))
            }
            TarEntry::Fifo { path } => push_tar_header(&mut out, path, 0o644, 0, b'6', "", (0, 0)),
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn pad_to_block(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    field[..width].copy_from_slice(&text.as_bytes()[text.len() - width..]);
    field[width] = 0;
}

fn push_tar_header(out: &mut Vec<u8>, path: &str, mode: u32, size: u64, kind: u8, link: &str, dev: (u32, u32)) {
    let (prefix, name) = split_ustar_path(path);
    if name.len() > 100 || link.len() > 100 {
        let mut pax = String::new();
        if name.len() > 100 {
            pax.push_str(&pax_record("path", path));
        }
        if link.len() > 100 {
            pax.push_str(&pax_record("linkpath", link));
        }
        push_tar_header(out, "PaxHeader", 0o644, pax.len() as u64, b'x', "", (0, 0));
        out.extend_from_slice(pax.as_bytes());
        pad_to_block(out);
    }
    let mut h = [0u8; 512];
    let name_bytes = name.as_bytes();
    h[..name_bytes.len().min(100)].copy_from_slice(&name_bytes[..name_bytes.len().min(100)]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = kind;
    let link_bytes = link.as_bytes();
    h[157..157 + link_bytes.len().min(100)].copy_from_slice(&link_bytes[..link_bytes.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    octal(&mut h[329..337], u64::from(dev.0));
    octal(&mut h[337..345], u64::from(dev.1));
    let prefix_bytes = prefix.as_bytes();
    h[345..345 + prefix_bytes.len()].copy_from_slice(prefix_bytes);
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    out.extend_from_slice(&h);
}

/// Splits a path for ustar: (prefix ≤155, name ≤100) when possible, else ("", path).
fn split_ustar_path(path: &str) -> (&str, &str) {
    if path.len() <= 100 {
        return ("", path);
    }
    for (i, _) in path.match_indices('/') {
        let (prefix, name) = (&path[..i], &path[i + 1..]);
        if prefix.len() <= 155 && name.len() <= 100 && !name.is_empty() {
            return (prefix, name);
        }
    }
    ("", path)
}

fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

/// The tar entries for everything under `dir` (files, directories, symlinks), paths relative to
/// `dir`, sorted, parents first. Modes are kept; owners become 0:0.
pub fn entries_from_dir(dir: &Path) -> Vec<TarEntry> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<TarEntry>) {
        let mut children: Vec<_> = std::fs::read_dir(dir).expect("reading dir").flatten().collect();
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let path = child.path();
            let rel = path.strip_prefix(base).expect("under base").to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).expect("readlink");
                out.push(TarEntry::symlink(&rel, &target.to_string_lossy()));
            } else if meta.is_dir() {
                out.push(TarEntry::Dir { path: rel, mode });
                walk(base, &path, out);
            } else if meta.is_file() {
                out.push(TarEntry::File { path: rel, mode, data: std::fs::read(&path).expect("reading file") });
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}
