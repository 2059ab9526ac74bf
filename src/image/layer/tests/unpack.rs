//! What an unpack makes of each kind of entry: files, directories, links, devices, long names,
//! replacements, whiteouts, opaque directories, and streams.

use super::*;

// --- basic node types ------------------------------------------------

#[test]
fn a_file_after_its_directory_was_replaced_goes_where_the_path_now_leads() {
    // The unpacker reuses the last file's directory for the next file; a symlink or a
    // whiteout in between must end that, or `d/y` would land in the removed `d`.
    for resolver in BOTH {
        let bytes = TarBuf::new()
            .dir("d", 0o755)
            .file("d/x", b"x", 0o644)
            .dir("e", 0o755)
            .symlink("d", "e")
            .file("d/y", b"y", 0o644)
            .bytes();
        let (s, result) = unpack_in(&bytes, resolver);
        match resolver {
            Resolver::Openat2 => {
                result.unwrap();
                assert_eq!(std::fs::read(s.path("e/y")).unwrap(), b"y");
            }
            Resolver::NoSymlinkWalk => assert!(matches!(result, Err(LayerError::UnsafePath(_)))),
        }
        assert!(!exists_nofollow(&s.path("e/x")));

        let bytes = TarBuf::new()
            .dir("d", 0o755)
            .file("d/x", b"x", 0o644)
            .file(".wh.d", b"", 0o644)
            .file("d/y", b"y", 0o644)
            .bytes();
        let (_s, result) = unpack_in(&bytes, resolver);
        assert!(result.is_err(), "d is a whiteout now, not a directory: {result:?}");
    }
}

#[test]
fn files_of_one_directory_in_a_row_all_arrive() {
    let mut tar = TarBuf::new();
    tar.dir("a", 0o755).dir("a/b", 0o755);
    for i in 0..50 {
        tar.file(&format!("a/b/f{i}"), format!("{i}").as_bytes(), 0o644);
    }
    tar.file("a/top", b"top", 0o600).file("a/b/last", b"last", 0o644).file("a/b/f7", b"again", 0o644);
    let bytes = tar.bytes();
    for resolver in BOTH {
        let (s, result) = unpack_in(&bytes, resolver);
        result.unwrap();
        for i in 0..50 {
            let expected = if i == 7 { "again".to_owned() } else { format!("{i}") };
            assert_eq!(std::fs::read_to_string(s.path(&format!("a/b/f{i}"))).unwrap(), expected);
        }
        assert_eq!(std::fs::read(s.path("a/top")).unwrap(), b"top");
        assert_eq!(std::fs::read(s.path("a/b/last")).unwrap(), b"last");
    }
}

#[test]
fn regular_files_dirs_modes_owners_and_setuid() {
    require_root!();
    for resolver in BOTH {
        let bytes = TarBuf::new()
            .dir("usr/", 0o755)
            .dir("usr/bin/", 0o755)
            .file_owned("usr/bin/su", b"su-binary", 0o4755, 0, 0)
            .file_owned("usr/bin/sg", b"sg", 0o2711, 1000, 1001)
            .dir("etc/", 0o750)
            .file_owned("etc/shadow", b"secret", 0o640, 0, 42)
            .dir("tmp/", 0o1777)
            .file("var/lib/implicit", b"x", 0o644)
            .bytes();
        let (s, result) = unpack_in(&bytes, resolver);
        let stats = result.unwrap();
        assert_eq!(stats.entries, 8);
        assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);
        assert_eq!(std::fs::read(s.path("usr/bin/su")).unwrap(), b"su-binary");
        let mode = |p: &str| lstat(&s.path(p)).mode() & 0o7777;
        assert_eq!(mode("usr/bin/su"), 0o4755);
        assert_eq!(mode("usr/bin/sg"), 0o2711);
        assert_eq!(mode("etc"), 0o750);
        assert_eq!(mode("etc/shadow"), 0o640);
        assert_eq!(mode("tmp"), 0o1777);
        assert_eq!(mode("var/lib"), 0o755, "implicit parents are 0755");
        let sg = lstat(&s.path("usr/bin/sg"));
        assert_eq!((sg.uid(), sg.gid()), (1000, 1001));
        assert_eq!(lstat(&s.path("etc/shadow")).gid(), 42);
        // Directory times are applied after their children were created.
        for p in ["usr", "usr/bin", "etc", "tmp", "usr/bin/su"] {
            assert_eq!(lstat(&s.path(p)).mtime(), MTIME as i64, "{p}");
        }
    }
}

#[test]
fn pax_nanosecond_times_and_xattrs() {
    require_root!();
    // A v2 file capability granting cap_net_raw (bit 13) permitted+effective.
    let mut cap = vec![0x01, 0x00, 0x00, 0x02];
    cap.extend_from_slice(&(1u32 << 13).to_le_bytes());
    cap.extend_from_slice(&[0; 12]);
    let bytes = TarBuf::new()
        .dir("bin/", 0o755)
        .pax(&[
            ("mtime", b"1600000000.123456789"),
            ("atime", b"1600000001.5"),
            ("SCHILY.xattr.user.comment", b"hello"),
            ("SCHILY.xattr.security.capability", &cap),
        ])
        .file("bin/ping", b"ping", 0o755)
        .pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")])
        .file("bin/sneaky", b"", 0o644)
        .bytes();
    let (s, result) = unpack_in(&bytes, Resolver::Openat2);
    let stats = result.unwrap();
    let ping = lstat(&s.path("bin/ping"));
    assert_eq!((ping.mtime(), ping.mtime_nsec()), (1_600_000_000, 123_456_789));
    assert_eq!((ping.atime(), ping.atime_nsec()), (1_600_000_001, 500_000_000));
    let xattrs = xattrs_of(&s.path("bin/ping"));
    assert_eq!(xattrs["user.comment"], b"hello");
    assert_eq!(xattrs["security.capability"], cap);
    assert!(xattrs_of(&s.path("bin/sneaky")).is_empty());
    assert!(stats.warnings.iter().any(|w| w.contains("trusted.overlay.redirect")), "{:?}", stats.warnings);
}

#[test]
fn symlinks_are_stored_verbatim_with_their_own_metadata() {
    for resolver in BOTH {
        let bytes = TarBuf::new()
            .symlink("abs", "/etc/passwd")
            .symlink("climb", "../../../../x")
            .dir("d/", 0o755)
            .symlink("d/rel", "../abs")
            .bytes();
        let (s, result) = unpack_in(&bytes, resolver);
        result.unwrap();
        assert_eq!(std::fs::read_link(s.path("abs")).unwrap(), Path::new("/etc/passwd"));
        assert_eq!(std::fs::read_link(s.path("climb")).unwrap(), Path::new("../../../../x"));
        assert_eq!(std::fs::read_link(s.path("d/rel")).unwrap(), Path::new("../abs"));
        assert_eq!(lstat(&s.path("abs")).mtime(), MTIME as i64);
        assert!(lstat(&s.path("abs")).file_type().is_symlink());
    }
}

#[test]
fn hard_links_share_the_inode() {
    for resolver in BOTH {
        let bytes = TarBuf::new()
            .file("a", b"data", 0o644)
            .hardlink("b", "a")
            .hardlink("c", "./a")
            .dir("dir/", 0o755)
            .hardlink("dir/d", "/a")
            .hardlink("dir/e", "dir/../a")
            .bytes();
        let (s, result) = unpack_in(&bytes, resolver);
        result.unwrap();
        let ino = lstat(&s.path("a")).ino();
        for p in ["b", "c", "dir/d", "dir/e"] {
            assert_eq!(lstat(&s.path(p)).ino(), ino, "{p}");
        }
        assert_eq!(lstat(&s.path("a")).nlink(), 5);
    }
}

#[test]
fn hard_link_to_missing_target_is_an_error() {
    let bytes = TarBuf::new().hardlink("b", "nothere").bytes();
    let (_s, result) = unpack_in(&bytes, Resolver::Openat2);
    let err = result.unwrap_err();
    assert!(matches!(err, LayerError::BadArchive(_)), "{err}");
    assert!(err.to_string().contains("nothere"), "{err}");
}

#[test]
fn device_nodes_are_created_as_root_and_skipped_in_user_namespaces() {
    require_root!();
    let bytes = TarBuf::new()
        .dir("dev/", 0o755)
        .device("dev/null", tar::EntryType::Char, 1, 3)
        .device("dev/loop0", tar::EntryType::Block, 7, 0)
        .device("dev/fifo", tar::EntryType::Fifo, 0, 0)
        .bytes();
    let (s, result) = unpack_in(&bytes, Resolver::Openat2);
    result.unwrap();
    let null = lstat(&s.path("dev/null"));
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    assert!(lstat(&s.path("dev/loop0")).file_type().is_block_device());
    assert!(lstat(&s.path("dev/fifo")).file_type().is_fifo());

    let s = Scratch::new();
    let stats =
        unpack_using(&bytes, &s.dest(), &UnpackOptions::ROOTLESS, Resolver::Openat2, WhiteoutStyle::Device).unwrap();
    assert!(!exists_nofollow(&s.path("dev/null")));
    assert!(!exists_nofollow(&s.path("dev/loop0")));
    assert!(lstat(&s.path("dev/fifo")).file_type().is_fifo());
    assert!(stats.warnings.iter().any(|w| w.contains("dev/null")), "{:?}", stats.warnings);
    assert!(stats.warnings.iter().any(|w| w.contains("dev/loop0")), "{:?}", stats.warnings);
}

#[test]
fn root_entries_are_skipped() {
    let bytes = TarBuf::new().dir("./", 0o700).dir(".", 0o700).dir("/", 0o700).bytes();
    let (s, result) = unpack_in(&bytes, Resolver::Openat2);
    assert_eq!(result.unwrap().entries, 3);
    assert_eq!(std::fs::read_dir(s.dest()).unwrap().count(), 0);
}

#[test]
fn long_names_via_gnu_and_pax_headers() {
    let long_dir = "d".repeat(120);
    let long_path = format!("{long_dir}/{}", "f".repeat(120));
    let long_target = format!("/{}", "t".repeat(150));
    let mut t = TarBuf::new();
    let mut h = TarBuf::header(tar::EntryType::Regular, 0o644);
    h.set_size(4);
    t.builder.append_data(&mut h, &long_path, &b"long"[..]).unwrap();
    let pax_path = format!("{long_dir}/{}", "p".repeat(130));
    t.pax(&[("path", pax_path.as_bytes())]);
    t.file("short-name-ignored", b"pax", 0o644);
    let mut h = TarBuf::header(tar::EntryType::Symlink, 0o777);
    t.builder.append_link(&mut h, "longlink", &long_target).unwrap();
    let bytes = t.bytes();
    for resolver in BOTH {
        let (s, result) = unpack_in(&bytes, resolver);
        result.unwrap();
        assert_eq!(std::fs::read(s.path(&long_path)).unwrap(), b"long");
        assert_eq!(std::fs::read(s.path(&pax_path)).unwrap(), b"pax");
        assert!(!exists_nofollow(&s.path("short-name-ignored")));
        assert_eq!(std::fs::read_link(s.path("longlink")).unwrap(), Path::new(&long_target));
    }
}

// --- replacement -----------------------------------------------------

#[test]
fn later_entries_replace_earlier_ones() {
    for resolver in BOTH {
        let outside = Scratch::new();
        let victim = outside.outer().join("victim");
        std::fs::write(&victim, b"original").unwrap();
        let victim_dir = outside.outer().join("victimdir");
        std::fs::create_dir(&victim_dir).unwrap();
        let bytes = TarBuf::new()
            .file("f", b"old", 0o644)
            .file("f", b"new", 0o600)
            .symlink("s", victim.to_str().unwrap())
            .file("s", b"replaced", 0o644)
            .symlink("sd", victim_dir.to_str().unwrap())
            .dir("sd/", 0o777)
            .dir("d/", 0o755)
            .file("d/child", b"c", 0o644)
            .file("d", b"now a file", 0o644)
            .file("e", b"a file", 0o644)
            .dir("e/", 0o755)
            .dir("g/", 0o700)
            .file("g/keep", b"k", 0o644)
            .dir("g/", 0o751)
            .bytes();
        let (s, result) = unpack_in(&bytes, resolver);
        result.unwrap();
        assert_eq!(std::fs::read(s.path("f")).unwrap(), b"new");
        assert_eq!(lstat(&s.path("f")).mode() & 0o7777, 0o600);
        assert_eq!(std::fs::read(s.path("s")).unwrap(), b"replaced");
        assert!(lstat(&s.path("s")).file_type().is_file());
        assert_eq!(std::fs::read(&victim).unwrap(), b"original");
        assert!(lstat(&s.path("sd")).is_dir());
        assert_ne!(lstat(&victim_dir).mode() & 0o777, 0o777);
        assert_eq!(std::fs::read(s.path("d")).unwrap(), b"now a file");
        assert!(lstat(&s.path("e")).is_dir());
        assert_eq!(std::fs::read(s.path("g/keep")).unwrap(), b"k");
        assert_eq!(lstat(&s.path("g")).mode() & 0o7777, 0o751);
    }
}

// --- whiteouts -------------------------------------------------------

fn assert_no_whiteout_names(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        assert!(!name.as_bytes().starts_with(WHITEOUT_PREFIX), "{} was written as a file", entry.path().display());
        if entry.file_type().unwrap().is_dir() {
            assert_no_whiteout_names(&entry.path());
        }
    }
}

fn assert_device_whiteout(path: &Path) {
    let st = lstat(path);
    assert!(st.file_type().is_char_device(), "{}", path.display());
    assert_eq!(st.rdev(), 0);
}

#[test]
fn whiteouts_become_0_0_char_devices() {
    require_root!();
    for resolver in BOTH {
        let bytes = TarBuf::new()
            .dir("dir/", 0o755)
            .file("dir/gone", b"in this layer", 0o644)
            .file("dir/.wh.gone", b"", 0o644)
            .file(".wh.top", b"", 0o644)
            .file(".wh..wh.plnk", b"", 0o644)
            .file("x/.wh.y", b"", 0o644)
            .dir("tree/", 0o755)
            .file("tree/leaf", b"", 0o644)
            .file(".wh.tree", b"", 0o644)
            .bytes();
        let (s, result) = unpack_in(&bytes, resolver);
        result.unwrap();
        assert_device_whiteout(&s.path("dir/gone"));
        assert_device_whiteout(&s.path("top"));
        assert_device_whiteout(&s.path("x/y"));
        assert_device_whiteout(&s.path("tree"));
        assert!(!exists_nofollow(&s.path(".wh..wh.plnk")));
        assert_no_whiteout_names(&s.dest());
        assert_eq!(lstat(&s.path("dir")).mtime(), MTIME as i64);
    }
}

#[test]
fn opaque_markers_set_the_opaque_xattr() {
    require_root!();
    for (opts, key) in
        [(UnpackOptions::ROOTFUL, "trusted.overlay.opaque"), (UnpackOptions::ROOTLESS, "user.overlay.opaque")]
    {
        let bytes = TarBuf::new()
            .dir("dir/", 0o755)
            .file("dir/.wh..wh..opq", b"", 0o644)
            .file("dir/keep", b"k", 0o644)
            .file("newdir/.wh..wh..opq", b"", 0o644)
            .bytes();
        let s = Scratch::new();
        unpack_using(&bytes, &s.dest(), &opts, Resolver::Openat2, WhiteoutStyle::Device).unwrap();
        assert_eq!(xattrs_of(&s.path("dir"))[key], b"y");
        assert_eq!(xattrs_of(&s.path("newdir"))[key], b"y");
        assert!(s.path("dir/keep").exists());
        assert_no_whiteout_names(&s.dest());
    }
}

#[test]
fn xattr_whiteout_fallback_marks_the_parent() {
    require_root!();
    let bytes = TarBuf::new()
        .dir("dir/", 0o755)
        .file("dir/gone", b"x", 0o644)
        .file("dir/.wh.gone", b"", 0o644)
        .dir("opq/", 0o755)
        .file("opq/.wh..wh..opq", b"", 0o644)
        .file("opq/.wh.hidden", b"", 0o644)
        .bytes();
    let s = Scratch::new();
    let opts = UnpackOptions::ROOTLESS;
    unpack_using(&bytes, &s.dest(), &opts, Resolver::Openat2, WhiteoutStyle::Xattr).unwrap();
    let gone = lstat(&s.path("dir/gone"));
    assert!(gone.file_type().is_file());
    assert_eq!(gone.len(), 0);
    assert_eq!(xattrs_of(&s.path("dir/gone"))["user.overlay.whiteout"], b"y");
    assert_eq!(xattrs_of(&s.path("dir"))["user.overlay.opaque"], b"x");
    // A fully opaque directory stays fully opaque.
    assert_eq!(xattrs_of(&s.path("opq"))["user.overlay.opaque"], b"y");

    let mut packed = Vec::new();
    pack_upper_dir(&s.dest(), &mut packed, &opts, &Default::default()).unwrap();
    let names = tar_names(&packed);
    assert!(names.contains(&"dir/.wh.gone".to_owned()), "{names:?}");
    assert!(names.contains(&"opq/.wh.hidden".to_owned()), "{names:?}");
    assert!(names.contains(&"opq/.wh..wh..opq".to_owned()), "{names:?}");
    assert!(!names.contains(&"dir/.wh..wh..opq".to_owned()), "{names:?}");
}

/// Runs unprivileged too: whichever whiteout form the kernel allows must
/// come out, and packing must turn it back into `.wh.` entries.
#[test]
fn rootless_unpack_produces_whiteouts_that_pack_back() {
    let bytes = TarBuf::new()
        .dir("dir/", 0o755)
        .file("dir/.wh.gone", b"", 0o644)
        .file_owned("dir/owned", b"o", 0o644, 1000, 1000)
        .file("op/.wh..wh..opq", b"", 0o644)
        .bytes();
    let s = Scratch::new();
    let opts = UnpackOptions::ROOTLESS;
    let stats = unpack_layer(&bytes[..], &s.dest(), &opts).unwrap();
    let gone = lstat(&s.path("dir/gone"));
    let device_form = gone.file_type().is_char_device() && gone.rdev() == 0;
    let xattr_form = gone.file_type().is_file()
        && xattrs_of(&s.path("dir/gone")).contains_key("user.overlay.whiteout")
        && xattrs_of(&s.path("dir"))["user.overlay.opaque"] == b"x";
    assert!(device_form || xattr_form, "{gone:?} {:?}", stats.warnings);
    eprintln!("whiteout form: {}", if device_form { "device" } else { "xattr" });
    assert_eq!(xattrs_of(&s.path("op"))["user.overlay.opaque"], b"y");

    let mut packed = Vec::new();
    pack_upper_dir(&s.dest(), &mut packed, &opts, &Default::default()).unwrap();
    let names = tar_names(&packed);
    assert!(names.contains(&"dir/.wh.gone".to_owned()), "{names:?}");
    assert!(names.contains(&"op/.wh..wh..opq".to_owned()), "{names:?}");
    assert!(!names.contains(&"dir/.wh..wh..opq".to_owned()), "{names:?}");
}

// --- streams ---------------------------------------------------------

fn sample_tar() -> Vec<u8> {
    TarBuf::new().dir("d/", 0o755).file("d/f", &vec![7u8; 10_000], 0o644).bytes()
}

#[test]
fn unpack_reads_trailing_bytes_too() {
    let mut bytes = sample_tar();
    bytes.extend_from_slice(&[0u8; 3000]);
    bytes.extend_from_slice(b"trailing junk");
    let s = Scratch::new();
    let mut reader = &bytes[..];
    unpack_layer(&mut reader, &s.dest(), &UnpackOptions::ROOTFUL).unwrap();
    assert!(reader.is_empty(), "{} bytes left unread", reader.len());
}

#[test]
fn truncated_archive_is_a_bad_archive() {
    let tar = sample_tar();
    let (_s, result) = unpack_in(&tar[..1500], Resolver::Openat2);
    assert!(matches!(result, Err(LayerError::BadArchive(_))), "{result:?}");
}

#[test]
fn pax_time_parsing_and_formatting() {
    let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec(), t.tv_nsec()));
    assert_eq!(t("1600000000"), Some((1_600_000_000, 0)));
    assert_eq!(t("1600000000.5"), Some((1_600_000_000, 500_000_000)));
    assert_eq!(t("1.1234567891"), Some((1, 123_456_789)));
    assert_eq!(t("-1.5"), Some((-2, 500_000_000)));
    assert_eq!(t("-3"), Some((-3, 0)));
    assert_eq!(t("abc"), None);
    assert_eq!(t(""), None);
    for (secs, nanos) in [(5, 0), (1_600_000_000, 123), (-2, 500_000_000), (-1, 1)] {
        let text = format_pax_time(secs, nanos);
        assert_eq!(t(&text), Some((secs, nanos)), "{text}");
    }
}
