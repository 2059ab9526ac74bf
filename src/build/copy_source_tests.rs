//! Source resolution over a real context directory and a root filesystem directory.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;
use crate::build::context::{BuildContext, DockerfileSource};

fn write(root: &Path, files: &[&str]) {
    for file in files {
        let path = root.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, file).unwrap();
    }
}

fn context(files: &[&str], ignore: &str) -> (tempfile::TempDir, BuildContext) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), files);
    fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    if !ignore.is_empty() {
        fs::write(dir.path().join(".dockerignore"), ignore).unwrap();
    }
    let ctx = BuildContext::from_dir(dir.path(), DockerfileSource::Default).unwrap();
    (dir, ctx)
}

fn names(resolved: &[Resolved]) -> Vec<(String, String, Vec<String>)> {
    resolved
        .iter()
        .map(|r| (r.path.clone(), r.name.clone(), r.contents.iter().map(|e| e.path.clone()).collect()))
        .collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn plain_paths_directories_and_wildcards() {
    let (_dir, ctx) =
        context(&["app/main.go", "app/lib/x.go", "a.txt", "b.txt", "c.md", "sub/d.txt", "arr[0].txt"], "");
    let tree = ContextTree::new(&ctx).unwrap();
    let r = resolve(&tree, &strings(&["/app/"]), &[], false).unwrap();
    assert_eq!(names(&r), [("app".into(), "app".into(), strings(&["app/lib", "app/lib/x.go", "app/main.go"]))]);
    let r = resolve(&tree, &strings(&["*.txt"]), &[], false).unwrap();
    assert_eq!(r.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["a.txt", "arr[0].txt", "b.txt"]);
    let r = resolve(&tree, &strings(&["*/*.txt", "arr[[]0].txt"]), &[], false).unwrap();
    assert_eq!(r.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["sub/d.txt", "arr[0].txt"]);
    // A wildcard that matches nothing copies nothing; a missing plain path is an error.
    assert!(resolve(&tree, &strings(&["*.nothing"]), &[], false).unwrap().is_empty());
    let err = resolve(&tree, &strings(&["missing.txt"]), &[], false).unwrap_err();
    assert_eq!(err.to_string(), "\"missing.txt\": not found");
    let r = resolve(&tree, &strings(&["."]), &[], false).unwrap();
    assert_eq!((r[0].path.as_str(), r[0].entry.is_dir()), ("", true));
    assert!(r[0].contents.iter().any(|e| e.path == "Dockerfile"));
}

#[test]
fn excludes_and_dockerignore() {
    let (_dir, ctx) = context(
        &["src/a.go", "src/a_test.go", "src/gen/x.go", "secret.key", "notes.md", "keep/k.md"],
        "*.key\nsrc/gen\n*.md\n!keep/*.md\n",
    );
    let tree = ContextTree::new(&ctx).unwrap();
    let r = resolve(&tree, &strings(&["src"]), &strings(&["*_test.go"]), false).unwrap();
    assert_eq!(names(&r)[0].2, strings(&["src/a.go"]));
    let err = resolve(&tree, &strings(&["secret.key"]), &[], false).unwrap_err();
    assert_eq!(err.to_string(), "\"secret.key\": not found in the build context: it is excluded by .dockerignore");
    let r = resolve(&tree, &strings(&["*"]), &strings(&["src"]), false).unwrap();
    assert_eq!(r.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), [".dockerignore", "Dockerfile", "keep"]);
    assert_eq!(r[2].contents.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["keep/k.md"]);
}

#[test]
fn symlinks_are_followed_inside_the_context_only() {
    let (dir, ctx) = {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &["real/file.txt", "hidden.txt"]);
        symlink("real/file.txt", dir.path().join("link")).unwrap();
        symlink("real", dir.path().join("dirlink")).unwrap();
        symlink("/etc/passwd", dir.path().join("abs")).unwrap();
        symlink("../../etc/passwd", dir.path().join("real/up")).unwrap();
        symlink("hidden.txt", dir.path().join("to-hidden")).unwrap();
        symlink("loop", dir.path().join("loop")).unwrap();
        fs::write(dir.path().join(".dockerignore"), "hidden.txt\n").unwrap();
        fs::write(dir.path().join("Dockerfile"), "FROM scratch").unwrap();
        let ctx = BuildContext::from_dir(dir.path(), DockerfileSource::Default).unwrap();
        (dir, ctx)
    };
    let _keep = &dir;
    let tree = ContextTree::new(&ctx).unwrap();
    let r = resolve(&tree, &strings(&["link"]), &[], false).unwrap();
    assert_eq!((r[0].path.as_str(), r[0].name.as_str()), ("real/file.txt", "link"));
    let r = resolve(&tree, &strings(&["dirlink/file.txt"]), &[], false).unwrap();
    assert_eq!(r[0].path, "real/file.txt");
    // Inside a copied directory a symlink is copied as a symlink, even one pointing out.
    let r = resolve(&tree, &strings(&["real"]), &[], false).unwrap();
    assert!(r[0].contents.iter().any(|e| e.path == "real/up" && matches!(e.kind, EntryKind::Symlink(_))));
    assert_eq!(
        resolve(&tree, &strings(&["abs"]), &[], false).unwrap_err().to_string(),
        "\"abs\" is a symlink to \"/etc/passwd\", outside the build context"
    );
    assert!(matches!(
        resolve(&tree, &strings(&["real/up"]), &[], false).unwrap_err(),
        CopyError::OutsideContext { .. }
    ));
    assert!(matches!(resolve(&tree, &strings(&["to-hidden"]), &[], false).unwrap_err(), CopyError::Missing(_)));
    assert!(matches!(resolve(&tree, &strings(&["loop"]), &[], false).unwrap_err(), CopyError::SymlinkLoop(_)));
}

#[test]
fn root_filesystems_resolve_symlinks_inside_themselves() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &["usr/lib/libc.so.6", "etc/os-release"]);
    symlink("/usr/lib", dir.path().join("lib")).unwrap();
    symlink("../../../../etc/os-release", dir.path().join("usr/release")).unwrap();
    let tree = DirTree::open(dir.path()).unwrap();
    let r = resolve(&tree, &strings(&["/lib/libc.so.6", "usr/release"]), &[], false).unwrap();
    assert_eq!(r.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["usr/lib/libc.so.6", "etc/os-release"]);
    let r = resolve(&tree, &strings(&["/usr"]), &[], false).unwrap();
    assert_eq!(r[0].contents.len(), 3);
    // What was resolved in a stage's root can be hashed for the step's key.
    let mut cache = crate::build::stat_cache::StatCache::in_memory();
    let mut hasher = crate::build::digest::Hasher::new(tree.root_fd(), &mut cache);
    let digest = hasher.resolved(&r).unwrap();
    assert_eq!(hasher.stats().files_read, 1, "usr/lib/libc.so.6; the symlink is hashed by target");
    assert!(digest.starts_with("sha256:"));
    assert!(matches!(resolve(&tree, &strings(&["/nope"]), &[], false).unwrap_err(), CopyError::Missing(_)));
}

#[test]
fn parents_keep_directories() {
    let (_dir, ctx) = context(&["a/b/c.txt", "a/b/d.md", "a/e/c.txt", "x/y/z/w.txt"], "");
    let tree = ContextTree::new(&ctx).unwrap();
    let r = resolve(&tree, &strings(&["a/*/c.txt"]), &[], true).unwrap();
    let parents: Vec<_> = r.iter().map(|r| (r.parents.as_ref().unwrap().0.clone(), r.name.clone())).collect();
    assert_eq!(parents, [("a/b".into(), "c.txt".into()), ("a/e".into(), "c.txt".into())]);
    assert_eq!(r[0].parents.as_ref().unwrap().1.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["a", "a/b"]);
    let r = resolve(&tree, &strings(&["x/./y/**/*.txt"]), &[], true).unwrap();
    assert_eq!((r[0].parents.as_ref().unwrap().0.as_str(), r[0].path.as_str()), ("y/z", "x/y/z/w.txt"));
    let placed = placement(&r[0], "/dest/", DestState::Missing).unwrap();
    assert_eq!(placed.target, "/dest/y/z/w.txt");
    assert!(resolve(&tree, &strings(&["nope/x.txt"]), &[], true).is_err());
}

fn item(path: &str, dir: bool) -> Resolved {
    let mut entry = root_entry();
    entry.path = path.into();
    if !dir {
        entry.kind = EntryKind::File;
    }
    Resolved {
        name: path.rsplit('/').next().unwrap().into(),
        path: path.into(),
        entry,
        parents: None,
        contents: vec![],
    }
}

#[test]
fn destination_rules() {
    let p = |item: &Resolved, dest: &str, state| placement(item, dest, state).map(|p| (p.target, p.merge));
    let file = item("src/a.txt", false);
    let dir = item("src", true);
    assert_eq!(p(&file, "/dest", DestState::Missing).unwrap(), ("/dest".into(), false));
    assert_eq!(p(&file, "/dest/", DestState::Missing).unwrap(), ("/dest/a.txt".into(), false));
    assert_eq!(p(&file, "/dest", DestState::Directory).unwrap(), ("/dest/a.txt".into(), false));
    assert_eq!(p(&file, "/dest", DestState::Other).unwrap(), ("/dest".into(), false));
    assert_eq!(p(&dir, "/dest", DestState::Missing).unwrap(), ("/dest".into(), true));
    assert_eq!(p(&dir, "/", DestState::Directory).unwrap(), ("/".into(), true));
    assert_eq!(p(&file, "/", DestState::Directory).unwrap(), ("/a.txt".into(), false));
    assert_eq!(p(&dir, "/dest", DestState::Other).unwrap_err().to_string(), "cannot copy to non-directory: /dest");
}
