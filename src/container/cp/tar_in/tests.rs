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

/// A tar of the given (name, content) members; content None makes a directory.
fn tar_of(members: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in members {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        match content {
            Some(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, name, *data).unwrap();
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, name, io::empty()).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

#[test]
fn a_directory_is_never_replaced_by_a_file_nor_a_file_by_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(tmp.join("foo")).unwrap();
    std::fs::write(tmp.join("foo/precious"), "keep").unwrap();
    std::fs::write(tmp.join("bar"), "a file").unwrap();
    let root = root_fd(dir.path());
    // A stream (cp -) and a renamed single source (cp FILE ctr:/tmp) alike.
    for as_is in [true, false] {
        let err =
            receive(root.as_fd(), "/tmp", tar_of(&[("foo", Some(b"x"))]).as_slice(), Owner::Caller, as_is).unwrap_err();
        assert_eq!(err.to_string(), r#"cannot overwrite directory "/tmp/foo" with non-directory "/tmp""#);
        assert_eq!(std::fs::read_to_string(tmp.join("foo/precious")).unwrap(), "keep");
        let err =
            receive(root.as_fd(), "/tmp", tar_of(&[("bar/", None)]).as_slice(), Owner::Caller, as_is).unwrap_err();
        assert_eq!(err.to_string(), r#"cannot overwrite non-directory "/tmp/bar" with directory "/tmp""#);
        assert_eq!(std::fs::read_to_string(tmp.join("bar")).unwrap(), "a file");
    }
    // Deeper in the archive, and for a symlink member: the same.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder.append_link(&mut header, "foo", "/elsewhere").unwrap();
    let err = receive(root.as_fd(), "/tmp", builder.into_inner().unwrap().as_slice(), Owner::Caller, true).unwrap_err();
    assert!(err.to_string().starts_with(r#"cannot overwrite directory "/tmp/foo""#), "{err}");
    let err = receive(
        root.as_fd(),
        "/",
        tar_of(&[("tmp/", None), ("tmp/foo/", None), ("tmp/foo/precious/", None)]).as_slice(),
        Owner::Caller,
        true,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), r#"cannot overwrite non-directory "/tmp/foo/precious" with directory "/""#);
    // What Docker does replace: a file by a file; a directory is merged into a directory.
    let members = tar_of(&[("bar", Some(b"new")), ("foo/", None), ("foo/added", Some(b"+"))]);
    receive(root.as_fd(), "/tmp", members.as_slice(), Owner::Caller, true).unwrap();
    assert_eq!(std::fs::read_to_string(tmp.join("bar")).unwrap(), "new");
    assert_eq!(std::fs::read_to_string(tmp.join("foo/precious")).unwrap(), "keep");
    assert_eq!(std::fs::read_to_string(tmp.join("foo/added")).unwrap(), "+");
}

#[test]
fn a_compressed_stream_is_extracted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    let root = root_fd(dir.path());
    let tar = tar_of(&[("d/", None), ("d/f", Some(b"compressed"))]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut gz, &tar).unwrap();
    receive(root.as_fd(), "/tmp", gz.finish().unwrap().as_slice(), Owner::Caller, true).unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("tmp/d/f")).unwrap(), "compressed");
}
