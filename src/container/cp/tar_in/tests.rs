use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::super::tar_out::write_tar;
use super::*;

fn root_fd(path: &Path) -> OwnedFd {
    nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap()
}

#[test]
fn rebasing_renames_only_the_top_entry() {
    let r = Some(("etc".to_string(), "conf".to_string()));
    assert_eq!(rebase(b"etc/", r.as_ref()), b"conf/");
    assert_eq!(rebase(b"etc/passwd", r.as_ref()), b"conf/passwd");
    assert_eq!(rebase(b"etcetera", r.as_ref()), b"etcetera");
    let dot = Some((".".to_string(), "new".to_string()));
    assert_eq!(rebase(b"./a", dot.as_ref()), b"new/a");
    assert_eq!(rebase(b"./", dot.as_ref()), b"new");
    assert_eq!(rebase(b"a/b", dot.as_ref()), b"new/a/b");
    assert!(member_components(b"a/../../b").is_err());
    assert_eq!(member_components(b"./a//b/").unwrap(), vec![OsString::from("a"), OsString::from("b")]);
}

#[test]
fn archives_round_trip_with_links_and_modes() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/file"), "content").unwrap();
    std::fs::set_permissions(tree.join("sub/file"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::hard_link(tree.join("sub/file"), tree.join("hard")).unwrap();
    symlink("/etc/passwd", tree.join("abs")).unwrap();
    symlink("/", tree.join("root")).unwrap();
    symlink("./x//y", tree.join("odd")).unwrap();
    let mut archive = Vec::new();
    let is_dir = write_tar(root_fd(src.path()).as_fd(), Path::new("tree"), "tree", false, &mut archive).unwrap();
    assert!(is_dir);
    let root = root_fd(dst.path());
    receive(root.as_fd(), "/copy", archive.as_slice(), Owner::Caller, false).unwrap();
    let copy = dst.path().join("copy");
    assert_eq!(std::fs::read_to_string(copy.join("sub/file")).unwrap(), "content");
    assert_eq!(std::fs::metadata(copy.join("sub/file")).unwrap().permissions().mode() & 0o777, 0o640);
    assert_eq!(
        std::fs::metadata(copy.join("hard")).unwrap().ino(),
        std::fs::metadata(copy.join("sub/file")).unwrap().ino()
    );
    assert_eq!(std::fs::read_link(copy.join("abs")).unwrap(), PathBuf::from("/etc/passwd"));
    // Link targets are kept byte for byte.
    assert_eq!(std::fs::read_link(copy.join("root")).unwrap().as_os_str(), "/");
    assert_eq!(std::fs::read_link(copy.join("odd")).unwrap().as_os_str(), "./x//y");
    // Into an existing directory: the source directory lands inside it.
    receive(root.as_fd(), "/copy", archive.as_slice(), Owner::Caller, false).unwrap();
    assert!(copy.join("tree/sub/file").is_file());
}

#[test]
fn symlinks_in_the_root_never_lead_outside_it() {
    let outside = tempfile::tempdir().unwrap();
    let canary = outside.path().join("canary");
    std::fs::write(&canary, "host").unwrap();
    let root_dir = tempfile::tempdir().unwrap();
    let root = root_dir.path();
    symlink("/", root.join("slash")).unwrap();
    symlink("../../../../../../..", root.join("up")).unwrap();
    std::fs::write(root.join("inside"), "container").unwrap();
    let fd = root_fd(root);
    let host_path = canary.strip_prefix("/").unwrap().display().to_string();
    // Reading through the links finds nothing of the host.
    for via in ["slash", "up"] {
        let err = write_tar(fd.as_fd(), &Path::new(via).join(&host_path), "canary", false, io::sink()).unwrap_err();
        assert!(err.to_string().contains("could not find"), "{err}");
    }
    let mut archive = Vec::new();
    write_tar(fd.as_fd(), Path::new("up/inside"), "inside", false, &mut archive).unwrap();
    // Writing through them lands inside the root.
    let file_archive = archive.clone();
    let dest = format!("/up/{host_path}");
    receive(fd.as_fd(), &dest, file_archive.as_slice(), Owner::Caller, false).unwrap_err();
    receive(fd.as_fd(), "/slash/", archive.as_slice(), Owner::Caller, false).unwrap();
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host");
    assert_eq!(std::fs::read_to_string(root.join("inside")).unwrap(), "container");
    // A hostile archive cannot climb out of the destination either.
    let mut hostile = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(1);
    header.set_mode(0o644);
    {
        let name = b"inside/../../x";
        let raw = header.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name);
    }
    header.set_cksum();
    hostile.append(&header, &b"x"[..]).unwrap();
    let bytes = hostile.into_inner().unwrap();
    let err = receive(fd.as_fd(), "/", bytes.as_slice(), Owner::Caller, true).unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
}
