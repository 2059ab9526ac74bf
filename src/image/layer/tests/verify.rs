//! Verifying an unpacked layer against its tar: an intact unpack of every entry shape compares
//! clean, in either whiteout form; every kind of damage is found and named by its path.

use std::os::unix::fs::{PermissionsExt, symlink};

use super::*;

/// Every shape the unpacker handles, replacements and resolution through the layer's own
/// symlinks included.
fn every_shape() -> Vec<u8> {
    // A v2 file capability: in a user namespace it is rewritten for the namespace's root.
    let mut cap = vec![0x01, 0x00, 0x00, 0x02];
    cap.extend_from_slice(&(1u32 << 13).to_le_bytes());
    cap.extend_from_slice(&[0; 12]);
    every_kind(&mut TarBuf::new())
        .pax(&[("SCHILY.xattr.security.capability", &cap)])
        .file("bin/ping", b"ping", 0o755)
        .file("etc/gone", b"first", 0o644)
        .file("etc/.wh.gone", b"", 0o644)
        .file("implicit/parent/child", b"c", 0o644)
        .dir("replaced/", 0o755)
        .file("replaced/inner", b"i", 0o644)
        .file("replaced", b"now a file", 0o600)
        .file("f", b"old", 0o644)
        .file("f", b"new", 0o640)
        .dir("merged/", 0o700)
        .pax(&[("SCHILY.xattr.user.a", b"1")])
        .dir("merged/", 0o750)
        .pax(&[("SCHILY.xattr.user.b", b"2")])
        .dir("merged/", 0o751)
        .dir("real/", 0o755)
        .symlink("via", "/real")
        .file("via/through", b"resolved inside", 0o644)
        .file("via/../up", b"dotdot", 0o644)
        .file("./dot/./x", b"x", 0o644)
        .bytes()
}

fn unpacked(bytes: &[u8], opts: &UnpackOptions, style: WhiteoutStyle) -> Scratch {
    let s = Scratch::new();
    unpack_using(bytes, &s.dest(), opts, Resolver::Openat2, style).unwrap();
    s
}

fn damage_of(bytes: &[u8], s: &Scratch, opts: &UnpackOptions) -> Vec<String> {
    verify_layer(bytes, &s.dest(), opts).unwrap().iter().map(ToString::to_string).collect()
}

#[test]
fn an_intact_layer_verifies_clean_in_either_whiteout_form() {
    require_root!();
    let bytes = every_shape();
    for opts in [UnpackOptions::ROOTFUL, UnpackOptions::ROOTLESS] {
        for style in [WhiteoutStyle::Device, WhiteoutStyle::Xattr] {
            let s = unpacked(&bytes, &opts, style);
            assert!(s.path("real/through").is_file() && s.path("up").is_file(), "resolved through the symlink");
            assert_eq!(damage_of(&bytes, &s, &opts), Vec::<String>::new(), "{opts:?} {style:?}");
        }
    }
}

#[test]
fn an_unprivileged_unpack_verifies_clean_too() {
    // Runs as anyone: owners that could not be given are not held against the layer.
    let bytes = TarBuf::new()
        .dir("d/", 0o755)
        .file_owned("d/owned", b"o", 0o644, 1000, 1000)
        .file("d/.wh.gone", b"", 0o644)
        .file("op/.wh..wh..opq", b"", 0o644)
        .symlink("d/link", "owned")
        .bytes();
    let s = Scratch::new();
    let opts = UnpackOptions::ROOTLESS;
    unpack_layer(&bytes[..], &s.dest(), &opts).unwrap();
    assert_eq!(damage_of(&bytes, &s, &opts), Vec::<String>::new());
}

/// Unpacks `every_shape`, applies `damage` to the tree, and returns what verify says.
fn after(damage: impl FnOnce(&Scratch)) -> Vec<String> {
    let bytes = every_shape();
    let opts = UnpackOptions::ROOTFUL;
    let s = unpacked(&bytes, &opts, WhiteoutStyle::Device);
    damage(&s);
    damage_of(&bytes, &s, &opts)
}

fn assert_found(found: &[String], path: &str, what: &str) {
    assert!(
        found.iter().any(|line| line.starts_with(&format!("{path}: ")) && line.contains(what)),
        "expected {path}: …{what}… in {found:?}"
    );
}

#[test]
fn damaged_content_sizes_modes_and_owners_are_found() {
    require_root!();
    let found = after(|s| std::fs::write(s.path("f"), b"NEW").unwrap());
    assert_found(&found, "/f", "content differs");
    let found = after(|s| std::fs::write(s.path("opaque/new"), b"").unwrap());
    assert_found(&found, "/opaque/new", "0 bytes where the layer's tar has 5");
    let found =
        after(|s| std::fs::set_permissions(s.path("bin/tool"), std::fs::Permissions::from_mode(0o755)).unwrap());
    assert_found(&found, "/bin/tool", "mode 755 where the layer's tar has 4755");
    let found = after(|s| std::os::unix::fs::lchown(s.path("home"), Some(0), Some(0)).unwrap());
    assert_found(&found, "/home", "owner 0:0 where the layer's tar has 1000:1000");
    let found =
        after(|s| std::fs::set_permissions(s.path("implicit"), std::fs::Permissions::from_mode(0o700)).unwrap());
    assert_found(&found, "/implicit", "mode 700");
    // Only what changed is reported.
    let found = after(|s| std::fs::write(s.path("f"), b"NEW").unwrap());
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn extra_missing_and_retyped_files_are_found() {
    require_root!();
    let found = after(|s| std::fs::write(s.path("etc/extra"), b"x").unwrap());
    assert_found(&found, "/etc/extra", "a regular file the layer's tar does not have");
    let found = after(|s| std::fs::remove_file(s.path("real/through")).unwrap());
    assert_found(&found, "/real/through", "missing (the layer's tar has a regular file there)");
    let found = after(|s| std::fs::remove_dir_all(s.path("implicit")).unwrap());
    assert_found(&found, "/implicit", "missing");
    assert_found(&found, "/implicit/parent/child", "missing");
    let found = after(|s| {
        std::fs::remove_file(s.path("bin/sh")).unwrap();
        symlink("/bin/false", s.path("bin/sh")).unwrap();
    });
    assert_found(&found, "/bin/sh", "points to /bin/false where the layer's tar has /bin/busybox");
    let found = after(|s| {
        std::fs::remove_dir_all(s.path("merged")).unwrap();
        std::fs::write(s.path("merged"), b"").unwrap();
    });
    assert_found(&found, "/merged", "a regular file where the layer's tar has a directory");
    let found = after(|s| {
        std::fs::remove_file(s.path("etc/removed")).unwrap();
        std::fs::write(s.path("etc/removed"), b"").unwrap();
    });
    assert_found(&found, "/etc/removed", "a regular file where the layer's tar has a whiteout");
    let found = after(|s| {
        std::fs::remove_file(s.path("dev/null")).unwrap();
        nix::sys::stat::mknod(
            &s.path("dev/null"),
            nix::sys::stat::SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            libc::makedev(1, 5),
        )
        .unwrap();
    });
    assert_found(&found, "/dev/null", "device");
}

#[test]
fn broken_hard_links_and_lost_xattrs_are_found() {
    require_root!();
    let found = after(|s| {
        std::fs::remove_file(s.path("bin/tool-alias")).unwrap();
        std::fs::copy(s.path("bin/tool"), s.path("bin/tool-alias")).unwrap();
    });
    assert_found(&found, "/bin/tool-alias", "is no longer a hard link of /bin/tool");
    let found = after(|s| std::fs::hard_link(s.path("f"), s.path("etc/sneaky")).unwrap());
    assert_found(&found, "/etc/sneaky", "the layer's tar does not have");
    let remove_xattr = |path: &Path, key: &str| {
        let status = std::process::Command::new("setfattr").args(["-h", "-x", key]).arg(path).status().unwrap();
        assert!(status.success(), "setfattr -x {key} {}", path.display());
    };
    let found = after(|s| remove_xattr(&s.path("bin/tool"), "user.note"));
    assert_found(&found, "/bin/tool", "extended attribute user.note is missing");
    let found = after(|s| remove_xattr(&s.path("opaque"), "trusted.overlay.opaque"));
    assert_found(&found, "/opaque", "is no longer opaque");
    let found = after(|s| {
        let dir = nix::fcntl::open(&s.dest(), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        Node::At { parent: dir.as_fd(), name: c"f" }.set_xattr(c"user.added", b"1").unwrap();
    });
    assert_found(&found, "/f", "extended attribute user.added is not in the layer's tar");
}

#[test]
fn a_tree_that_lost_everything_reports_a_bounded_list() {
    require_root!();
    let mut t = TarBuf::new();
    for i in 0..100 {
        t.file(&format!("many/f{i}"), b"x", 0o644);
    }
    let bytes = t.bytes();
    let opts = UnpackOptions::ROOTFUL;
    let s = unpacked(&bytes, &opts, WhiteoutStyle::Device);
    std::fs::remove_dir_all(s.path("many")).unwrap();
    let found = damage_of(&bytes, &s, &opts);
    assert!(found.len() <= 21, "{}", found.len());
    assert!(found.last().unwrap().contains("more differences"), "{found:?}");
}

#[test]
fn a_tar_the_unpacker_would_refuse_cannot_be_verified() {
    let bytes = TarBuf::new().hardlink("x", "nothere").bytes();
    let s = Scratch::new();
    let err = verify_layer(&bytes[..], &s.dest(), &UnpackOptions::ROOTFUL).unwrap_err();
    assert!(matches!(err, LayerError::BadArchive(_)), "{err}");
}
