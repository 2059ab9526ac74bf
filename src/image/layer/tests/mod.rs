//! Unpacking and packing tests, against both resolvers where the resolver matters: tar
//! builders that can express hostile paths, scratch directories, tree descriptions.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::entry::{format_pax_time, parse_pax_time};
use super::unpack::{WhiteoutStyle, open_layer_root, unpack_with};
use super::*;
use crate::sandbox::fs_at::{Node, Resolver};

/// The initial user namespace maps every uid to itself; anything else is a child namespace.
fn running_in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    }
}

const MTIME: u64 = 1_600_000_000;

/// Real root: euid 0 inside a user namespace cannot mknod or set trusted.* xattrs.
fn is_root() -> bool {
    nix::unistd::geteuid().is_root() && !running_in_user_namespace()
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipping: needs root (mknod, chown, trusted.* xattrs)");
            return;
        }
    };
}

/// Builds archives entry by entry, writing names verbatim so that hostile
/// paths (which tar::Builder refuses) can be expressed.
struct TarBuf {
    builder: tar::Builder<Vec<u8>>,
}

impl TarBuf {
    fn new() -> Self {
        TarBuf { builder: tar::Builder::new(Vec::new()) }
    }

    fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(0);
        h
    }

    fn raw(&mut self, path: &str, mut h: tar::Header, link: Option<&str>, data: &[u8]) {
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.builder.append(&h, data).unwrap();
    }

    fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.raw(path, Self::header(tar::EntryType::Directory, mode), None, b"");
        self
    }

    fn file(&mut self, path: &str, data: &[u8], mode: u32) -> &mut Self {
        self.file_owned(path, data, mode, 0, 0)
    }

    fn file_owned(&mut self, path: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> &mut Self {
        let mut h = Self::header(tar::EntryType::Regular, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        self.raw(path, h, None, data);
        self
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let h = Self::header(tar::EntryType::Symlink, 0o777);
        self.raw(path, h, Some(target), b"");
        self
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let h = Self::header(tar::EntryType::Link, 0o644);
        self.raw(path, h, Some(target), b"");
        self
    }

    fn device(&mut self, path: &str, kind: tar::EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = Self::header(kind, 0o666);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.raw(path, h, None, b"");
        self
    }

    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.builder.append_pax_extensions(records.iter().copied()).unwrap();
        self
    }

    fn bytes(&mut self) -> Vec<u8> {
        let builder = std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()));
        builder.into_inner().unwrap()
    }
}

struct Scratch {
    tmp: TempDir,
}

impl Scratch {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("layer")).unwrap();
        Scratch { tmp }
    }
    fn outer(&self) -> &Path {
        self.tmp.path()
    }
    fn dest(&self) -> PathBuf {
        self.tmp.path().join("layer")
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dest().join(rel)
    }
}

const BOTH: [Resolver; 2] = [Resolver::Openat2, Resolver::NoSymlinkWalk];

fn unpack_using(
    bytes: &[u8],
    dest: &Path,
    opts: &UnpackOptions,
    resolver: Resolver,
    style: WhiteoutStyle,
) -> Result<UnpackStats, LayerError> {
    let root = open_layer_root(dest).unwrap();
    unpack_with(bytes, dest, root, opts, resolver, style)
}

fn unpack_in(bytes: &[u8], resolver: Resolver) -> (Scratch, Result<UnpackStats, LayerError>) {
    let s = Scratch::new();
    let result = unpack_using(bytes, &s.dest(), &UnpackOptions::ROOTFUL, resolver, WhiteoutStyle::Device);
    (s, result)
}

fn lstat(path: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn exists_nofollow(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn xattrs_of(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let parent = nix::fcntl::open(path.parent().unwrap(), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
    let name = CString::new(path.file_name().unwrap().as_bytes()).unwrap();
    let node = Node::At { parent: parent.as_fd(), name: &name };
    node.list_xattrs()
        .unwrap()
        .into_iter()
        .map(|k| {
            let v = node.get_xattr(&k).unwrap().unwrap();
            (k.to_string_lossy().into_owned(), v)
        })
        .collect()
}

fn unique(tag: &str) -> String {
    format!("berth-{tag}-{}-{}", std::process::id(), fastish_nonce())
}

fn fastish_nonce() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(bytes);
    archive.entries().unwrap().map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned()).collect()
}

/// One entry of every kind, metadata and layer semantics (hard links, whiteouts, an opaque
/// directory, devices, PAX times and xattrs, a long name), for round trips and verification.
fn every_kind(t: &mut TarBuf) -> &mut TarBuf {
    let long = format!("deep/{}/{}", "n".repeat(110), "file");
    t.dir("bin/", 0o755)
        .pax(&[("mtime", b"1600000000.25"), ("SCHILY.xattr.user.note", b"kept")])
        .file_owned("bin/tool", b"#!/bin/sh\n", 0o4755, 0, 0)
        .hardlink("bin/tool-alias", "bin/tool")
        .symlink("bin/sh", "/bin/busybox")
        .file_owned("home", b"", 0o640, 1000, 1000)
        .dir("etc/", 0o755)
        .file("etc/.wh.removed", b"", 0o644)
        .dir("opaque/", 0o700)
        .file("opaque/.wh..wh..opq", b"", 0o644)
        .file("opaque/new", b"fresh", 0o600)
        .dir("dev/", 0o755)
        .device("dev/fifo", tar::EntryType::Fifo, 0, 0)
        .device("dev/null", tar::EntryType::Char, 1, 3)
        .pax(&[("mtime", b"1500000000.000000001")])
        .dir("empty/", 0o1777);
    let mut h = TarBuf::header(tar::EntryType::Regular, 0o644);
    h.set_size(4);
    t.builder.append_data(&mut h, &long, &b"long"[..]).unwrap();
    t
}

mod hostile;
mod pack;
mod unpack;
mod verify;
