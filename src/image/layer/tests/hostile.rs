//! Hostile archives: paths and links that try to leave the layer root.

use super::*;

// --- hostile archives ------------------------------------------------

#[test]
fn dotdot_climbing_out_is_rejected() {
    for resolver in BOTH {
        for path in ["../escape", "a/../../escape", "./../escape", "/../escape"] {
            let bytes = TarBuf::new().file(path, b"x", 0o644).bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            let err = result.unwrap_err();
            assert!(matches!(err, LayerError::UnsafePath(_)), "{path}: {err}");
            assert!(err.to_string().contains("escape"), "{err}");
            assert!(!exists_nofollow(&s.outer().join("escape")));
        }
        let bytes = TarBuf::new().file("a/../b", b"x", 0o644).bytes();
        let (s, result) = unpack_in(&bytes, resolver);
        result.unwrap();
        assert!(s.path("b").exists());
    }
}

#[test]
fn absolute_paths_land_inside_dest() {
    for resolver in BOTH {
        let bytes = TarBuf::new()
            .file("/etc/x", b"abs", 0o644)
            .file("./etc/y", b"dot", 0o644)
            .file("//etc///z", b"slashes", 0o644)
            .bytes();
        let (s, result) = unpack_in(&bytes, resolver);
        result.unwrap();
        assert_eq!(std::fs::read(s.path("etc/x")).unwrap(), b"abs");
        assert_eq!(std::fs::read(s.path("etc/y")).unwrap(), b"dot");
        assert_eq!(std::fs::read(s.path("etc/z")).unwrap(), b"slashes");
    }
}

/// Runs `build(outer_dir, unique_name)` for both resolvers and checks that
/// nothing appeared at `outside(outer_dir, unique_name)`.
fn assert_contained(
    build: impl Fn(&Path, &str) -> Vec<u8>,
    outside: impl Fn(&Path, &str) -> Vec<PathBuf>,
    inside_if_ok: &str,
) {
    for resolver in BOTH {
        let s = Scratch::new();
        let name = unique("pwned");
        let bytes = build(s.outer(), &name);
        let result = unpack_using(&bytes, &s.dest(), &UnpackOptions::ROOTFUL, resolver, WhiteoutStyle::Device);
        for path in outside(s.outer(), &name) {
            assert!(!exists_nofollow(&path), "{resolver:?} wrote outside dest: {}", path.display());
        }
        match (resolver, result) {
            (Resolver::NoSymlinkWalk, Ok(_)) => panic!("the walker followed a symlink"),
            (Resolver::NoSymlinkWalk, Err(e)) => {
                assert!(matches!(e, LayerError::UnsafePath(_)), "{e}")
            }
            (Resolver::Openat2, Ok(_)) if !inside_if_ok.is_empty() => {
                let inside = s.dest().join(inside_if_ok.replace("NAME", &name));
                assert!(exists_nofollow(&inside), "expected {}", inside.display());
            }
            (Resolver::Openat2, _) => {}
        }
    }
}

#[test]
fn symlink_to_root_cannot_redirect_writes() {
    assert_contained(
        |_, name| TarBuf::new().symlink("evil", "/").file(&format!("evil/{name}"), b"pwned", 0o644).bytes(),
        |outer, name| vec![Path::new("/").join(name), outer.join(name)],
        "NAME",
    );
}

#[test]
fn climbing_symlink_cannot_redirect_writes() {
    assert_contained(
        |_, name| {
            TarBuf::new()
                .dir("a/", 0o755)
                .symlink("a/up", "../../../../..")
                .file(&format!("a/up/{name}"), b"pwned", 0o644)
                .bytes()
        },
        |outer, name| vec![Path::new("/").join(name), outer.join(name)],
        "NAME",
    );
}

#[test]
fn symlink_to_absolute_outside_dir_cannot_redirect_writes() {
    assert_contained(
        |outer, name| {
            TarBuf::new()
                .symlink("evil", outer.to_str().unwrap())
                .file(&format!("evil/{name}"), b"pwned", 0o644)
                .bytes()
        },
        |outer, name| vec![outer.join(name)],
        "",
    );
}

#[test]
fn symlinked_parent_cannot_redirect_dirs_whiteouts_or_opaque_markers() {
    require_root!();
    assert_contained(
        |_, name| TarBuf::new().symlink("evil", "/tmp").dir(&format!("evil/{name}/"), 0o755).bytes(),
        |_, name| vec![Path::new("/tmp").join(name)],
        "tmp/NAME",
    );
    // The victim directory outside must keep its entry.
    for resolver in BOTH {
        let s = Scratch::new();
        let victim_dir = s.outer().join("victim");
        std::fs::create_dir(&victim_dir).unwrap();
        std::fs::write(victim_dir.join("keepme"), b"k").unwrap();
        let bytes = TarBuf::new()
            .symlink("evil", victim_dir.to_str().unwrap())
            .file("evil/.wh.keepme", b"", 0o644)
            .file("evil/.wh..wh..opq", b"", 0o644)
            .bytes();
        let _ = unpack_using(&bytes, &s.dest(), &UnpackOptions::ROOTFUL, resolver, WhiteoutStyle::Device);
        assert!(lstat(&victim_dir.join("keepme")).file_type().is_file());
        assert!(xattrs_of(&victim_dir).is_empty());
    }
}

#[test]
fn hard_link_through_symlink_stays_inside() {
    for resolver in BOTH {
        let bytes = TarBuf::new().symlink("evil", "/").hardlink("x", "evil/etc/passwd").bytes();
        let (s, result) = unpack_in(&bytes, resolver);
        assert!(result.is_err());
        if let Ok(st) = std::fs::symlink_metadata(s.path("x")) {
            assert_ne!(st.ino(), lstat(Path::new("/etc/passwd")).ino());
        }
    }
}

#[test]
fn hard_link_climbing_out_is_refused() {
    for resolver in BOTH {
        for target in ["../../etc/passwd", "a/../../etc/passwd"] {
            let bytes = TarBuf::new().hardlink("x", target).bytes();
            let (s, result) = unpack_in(&bytes, resolver);
            let err = result.unwrap_err();
            assert!(matches!(err, LayerError::UnsafePath(_)), "{err}");
            assert!(!exists_nofollow(&s.path("x")));
        }
    }
}
