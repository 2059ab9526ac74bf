//! Packing an upper dir, and the round trip back through unpacking.

use super::*;

// --- packing ---------------------------------------------------------

/// Everything about a tree that a layer round trip must preserve.
fn describe_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inodes: HashMap<u64, String> = HashMap::new();
    describe_dir(root, root, &mut out, &mut inodes);
    out
}

fn describe_dir(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>, inodes: &mut HashMap<u64, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let st = lstat(&path);
        let ft = st.file_type();
        let mut text = format!("mode={:o} owner={}:{} xattrs={:?}", st.mode(), st.uid(), st.gid(), xattrs_of(&path));
        text += &format!(" mtime={}.{}", st.mtime(), st.mtime_nsec());
        if !ft.is_dir() {
            if let Some(first) = inodes.get(&st.ino()) {
                text += &format!(" hardlink-of={first}");
            } else {
                inodes.insert(st.ino(), rel.clone());
            }
        }
        if ft.is_file() {
            text += &format!(" data={}", hex::encode(Sha256::digest(std::fs::read(&path).unwrap())));
        } else if ft.is_symlink() {
            text += &format!(" target={}", std::fs::read_link(&path).unwrap().display());
        } else if ft.is_char_device() || ft.is_block_device() {
            text += &format!(" rdev={}", st.rdev());
        }
        out.insert(rel, text);
        if ft.is_dir() {
            describe_dir(root, &path, out, inodes);
        }
    }
}

fn round_trip_archive() -> Vec<u8> {
    every_kind(&mut TarBuf::new()).bytes()
}

#[test]
fn pack_round_trip_preserves_the_tree() {
    require_root!();
    for opts in [UnpackOptions::ROOTFUL, UnpackOptions::ROOTLESS] {
        let first = Scratch::new();
        let stats = unpack_using(&round_trip_archive(), &first.dest(), &opts, Resolver::Openat2, WhiteoutStyle::Device)
            .unwrap();
        let mut packed = Vec::new();
        let written = pack_upper_dir(&first.dest(), &mut packed, &opts, &Default::default()).unwrap();
        assert_eq!(written, packed.len() as u64);

        let names = tar_names(&packed);
        for expected in ["etc/.wh.removed", "opaque/.wh..wh..opq", "bin/tool-alias"] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
        }
        let opq = names.iter().position(|n| n == "opaque/.wh..wh..opq").unwrap();
        assert_eq!(names[opq - 1], "opaque/");

        let second = Scratch::new();
        unpack_using(&packed, &second.dest(), &opts, Resolver::Openat2, WhiteoutStyle::Device).unwrap();
        let (a, b) = (describe_tree(&first.dest()), describe_tree(&second.dest()));
        assert_eq!(a, b);
        // Sanity: the interesting bits really are in the tree being compared.
        let opaque_key = format!("{}opaque", opts.overlay_xattr_prefix);
        assert!(a["opaque"].contains(&opaque_key), "{}", a["opaque"]);
        assert!(a["etc/removed"].contains("rdev=0"));
        assert!(a["bin/tool-alias"].contains("hardlink-of=bin/tool"));
        if opts.in_user_namespace {
            assert!(!a.contains_key("dev/null"), "{:?}", stats.warnings);
        } else {
            assert!(a["dev/null"].contains(&format!("rdev={}", libc::makedev(1, 3))));
        }
        assert!(a["bin/tool"].contains("mode=104755"));
        assert!(a["bin/tool"].contains("mtime=1600000000.250000000"));
    }
}

#[test]
fn pack_strips_overlay_xattrs_and_refuses_redirects() {
    require_root!();
    let s = Scratch::new();
    let opts = UnpackOptions::ROOTFUL;
    std::fs::create_dir(s.path("d")).unwrap();
    std::fs::write(s.path("d/f"), b"f").unwrap();
    let dir = nix::fcntl::open(&s.dest(), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
    let node = Node::At { parent: dir.as_fd(), name: c"d" };
    node.set_xattr(c"trusted.overlay.origin", b"whatever").unwrap();
    node.set_xattr(c"user.overlay.impure", b"y").unwrap();
    node.set_xattr(c"user.keep", b"1").unwrap();
    let mut packed = Vec::new();
    pack_upper_dir(&s.dest(), &mut packed, &opts, &Default::default()).unwrap();
    let mut archive = tar::Archive::new(&packed[..]);
    let mut keys = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if let Some(pax) = entry.pax_extensions().unwrap() {
            for r in pax {
                let key = r.unwrap().key().unwrap().to_owned();
                if key != "mtime" {
                    keys.push(key);
                }
            }
        }
    }
    assert_eq!(keys, ["SCHILY.xattr.user.keep"]);

    node.set_xattr(c"trusted.overlay.redirect", b"/elsewhere").unwrap();
    let err = pack_upper_dir(&s.dest(), io::sink(), &opts, &Default::default()).unwrap_err();
    assert!(matches!(err, LayerError::UnsupportedOverlayFeature { .. }), "{err}");
}
