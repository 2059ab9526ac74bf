use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::PathBuf;

use super::*;

fn root_fd(path: &Path) -> OwnedFd {
    nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap()
}

fn comps(path: &str) -> Vec<Vec<u8>> {
    path.split('/').filter(|c| !c.is_empty()).map(|c| c.as_bytes().to_vec()).collect()
}

/// The kernel release's (major, minor), from uname.
fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname().unwrap().release().to_string_lossy().into_owned();
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn openat2_is_detected_on_this_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let resolver = Resolver::detect(root_fd(dir.path()).as_fd()).unwrap();
    if kernel_version() >= (5, 6) {
        assert_eq!(resolver, Resolver::Openat2, "openat2 appeared in Linux 5.6; this kernel is {:?}", kernel_version());
    } else {
        assert_eq!(resolver, Resolver::NoSymlinkWalk);
    }
}

#[test]
fn both_resolvers_open_and_create_directories_inside_the_root() {
    for resolver in [Resolver::Openat2, Resolver::NoSymlinkWalk] {
        let dir = tempfile::tempdir().unwrap();
        let root = root_fd(dir.path());
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/file"), "f").unwrap();
        symlink("/", dir.path().join("slash")).unwrap();
        open_dir_in_root(root.as_fd(), resolver, &comps("a/b"), false).unwrap();
        // The walker knows which component is missing; openat2 names the whole path.
        let depth = if resolver == Resolver::Openat2 { 3 } else { 2 };
        assert_eq!(
            open_dir_in_root(root.as_fd(), resolver, &comps("a/x/y"), false).unwrap_err(),
            ResolveError::Missing { depth }
        );
        open_dir_in_root(root.as_fd(), resolver, &comps("a/x/y"), true).unwrap();
        let made = std::fs::metadata(dir.path().join("a/x/y")).unwrap();
        assert_eq!(made.permissions().mode() & 0o7777, 0o755);
        let depth = if resolver == Resolver::Openat2 { 3 } else { 2 };
        assert_eq!(
            open_dir_in_root(root.as_fd(), resolver, &comps("a/file/z"), true).unwrap_err(),
            ResolveError::NotDir { depth }
        );
        // Through a symlink to "/": inside the root with openat2, refused by the walker.
        let through = open_dir_in_root(root.as_fd(), resolver, &comps("slash/a/new"), true);
        match resolver {
            Resolver::Openat2 => {
                through.unwrap();
                assert!(dir.path().join("a/new").is_dir());
            }
            Resolver::NoSymlinkWalk => assert_eq!(through.unwrap_err(), ResolveError::Symlink { depth: 1 }),
        }
    }
}

#[test]
fn a_symlink_to_a_missing_directory_is_not_followed_out() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = outside.path().join("gone");
    symlink(&target, dir.path().join("dangling")).unwrap();
    let root = root_fd(dir.path());
    // openat2 resolves the link inside the root, where its target does not exist either; a
    // directory is not made in its place.
    let err = open_dir_in_root(root.as_fd(), Resolver::Openat2, &comps("dangling/x"), true).unwrap_err();
    assert_eq!(err, ResolveError::DanglingSymlink { depth: 1 });
    let err = open_dir_in_root(root.as_fd(), Resolver::NoSymlinkWalk, &comps("dangling/x"), true).unwrap_err();
    assert_eq!(err, ResolveError::Symlink { depth: 1 });
    assert!(!target.exists());
}

#[test]
fn listing_and_removing_trees_never_follow_symlinks() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("keep"), "k").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("t/sub")).unwrap();
    std::fs::write(dir.path().join("t/sub/f"), "x").unwrap();
    std::fs::write(dir.path().join("t/b"), "x").unwrap();
    symlink(outside.path(), dir.path().join("t/link")).unwrap();
    let root = root_fd(dir.path());
    let t = open_dir_nofollow(root.as_fd(), c"t").unwrap();
    let names: Vec<String> = dir_names(t.as_fd()).unwrap().iter().map(|n| n.to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["b", "link", "sub"]);
    drop(t);
    remove_tree_at(root.as_fd(), c"t").unwrap();
    assert!(!dir.path().join("t").exists());
    assert!(outside.path().join("keep").exists());
    remove_tree_at(root.as_fd(), c"t").unwrap();
}

#[test]
fn copy_up_fills_only_empty_volumes() {
    let image = tempfile::tempdir().unwrap();
    let volume = tempfile::tempdir().unwrap();
    std::fs::create_dir(image.path().join("d")).unwrap();
    std::fs::write(image.path().join("d/f"), "x").unwrap();
    std::fs::hard_link(image.path().join("d/f"), image.path().join("hard")).unwrap();
    symlink("/etc", image.path().join("link")).unwrap();
    std::fs::set_permissions(image.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
    copy_up(image.path(), volume.path()).unwrap();
    assert_eq!(std::fs::read_to_string(volume.path().join("d/f")).unwrap(), "x");
    assert_eq!(
        std::fs::metadata(volume.path().join("d/f")).unwrap().ino(),
        std::fs::metadata(volume.path().join("hard")).unwrap().ino()
    );
    assert_eq!(std::fs::read_link(volume.path().join("link")).unwrap(), PathBuf::from("/etc"));
    assert_eq!(std::fs::metadata(volume.path()).unwrap().permissions().mode() & 0o777, 0o750);
    // Not empty any more: left alone.
    std::fs::write(image.path().join("new"), "y").unwrap();
    copy_up(image.path(), volume.path()).unwrap();
    assert!(!volume.path().join("new").exists());
    // Nothing in the image at that path: nothing to do.
    let empty = tempfile::tempdir().unwrap();
    copy_up(&image.path().join("missing"), empty.path()).unwrap();
}
