use std::fs;
use std::io::Write;

use super::*;
use crate::store::Store;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), false).unwrap();
    (dir, store)
}

fn paths(ctx: &BuildContext) -> Vec<String> {
    ctx.entries().unwrap().iter().map(|e| e.path.clone()).collect()
}

#[test]
fn directory_context_with_dockerfile_choices() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("dockerfile"), "FROM lower").unwrap();
    fs::write(root.join("a.txt"), "a").unwrap();
    let ctx = BuildContext::from_dir(root, DockerfileSource::Default).unwrap();
    assert_eq!(ctx.dockerfile(), b"FROM lower");
    fs::write(root.join("Dockerfile"), "FROM upper").unwrap();
    let ctx = BuildContext::from_dir(root, DockerfileSource::Default).unwrap();
    assert_eq!(ctx.dockerfile(), b"FROM upper");
    assert!(ctx.is_persistent());
    // -f may name a file outside the context.
    let elsewhere = tempfile::tempdir().unwrap();
    fs::write(elsewhere.path().join("Build.df"), "FROM outside").unwrap();
    let ctx = BuildContext::from_dir(root, DockerfileSource::Path(elsewhere.path().join("Build.df"))).unwrap();
    assert_eq!(ctx.dockerfile(), b"FROM outside");
    let err = BuildContext::from_dir(root, DockerfileSource::Path(root.join("nope"))).unwrap_err();
    assert!(err.to_string().starts_with("cannot read the Dockerfile"), "{err}");
    assert!(matches!(
        BuildContext::from_dir(&root.join("a.txt"), DockerfileSource::Default),
        Err(ContextError::NotADirectory(_))
    ));
    assert!(matches!(
        BuildContext::from_dir(&root.join("missing"), DockerfileSource::Default),
        Err(ContextError::NoContext(_))
    ));
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in ["a.log", "b.tmp", "c.txt"] {
        fs::write(root.join(f), f).unwrap();
    }
    fs::write(root.join("Dockerfile"), "FROM x").unwrap();
    fs::write(root.join("app.Dockerfile"), "FROM x").unwrap();
    fs::write(root.join(".dockerignore"), "*.log\n").unwrap();
    fs::write(root.join("app.Dockerfile.dockerignore"), "*.tmp\n").unwrap();
    let general = BuildContext::from_dir(root, DockerfileSource::Default).unwrap();
    assert!(!paths(&general).contains(&"a.log".to_owned()));
    assert!(paths(&general).contains(&"b.tmp".to_owned()));
    let specific = BuildContext::from_dir(root, DockerfileSource::Path(root.join("app.Dockerfile"))).unwrap();
    assert_eq!(specific.ignore_file(), Some(root.join("app.Dockerfile.dockerignore").as_path()));
    assert!(paths(&specific).contains(&"a.log".to_owned()));
    assert!(!paths(&specific).contains(&"b.tmp".to_owned()));
    fs::write(root.join(".dockerignore"), "[broken\n").unwrap();
    let err = BuildContext::from_dir(root, DockerfileSource::Default).unwrap_err();
    assert!(chain_text(&err).ends_with("line 1: invalid pattern \"[broken\": syntax error in pattern"), "{err}");
}

fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = ::tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = ::tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(::tar::EntryType::Regular);
        builder.append_data(&mut header, name, content.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn stdin_tar_plain_gzip_zstd_and_dockerfile() {
    let (_dir, store) = store();
    let archive = tar_of(&[("Dockerfile", "FROM tar"), ("src/a", "a"), (".dockerignore", "skip\n"), ("skip", "s")]);
    let ctx = BuildContext::from_stdin(&archive[..], store.new_staging().unwrap(), DockerfileSource::Default).unwrap();
    assert_eq!(ctx.dockerfile(), b"FROM tar");
    assert_eq!(paths(&ctx), [".dockerignore", "Dockerfile", "src", "src/a"]);
    assert!(!ctx.is_persistent());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_of(&[("build/Dockerfile.dev", "FROM gz")])).unwrap();
    let gz = gz.finish().unwrap();
    let ctx = BuildContext::from_stdin(
        &gz[..],
        store.new_staging().unwrap(),
        DockerfileSource::Path("build/Dockerfile.dev".into()),
    )
    .unwrap();
    assert_eq!(ctx.dockerfile(), b"FROM gz");
    let zst = zstd::encode_all(&tar_of(&[("Dockerfile", "FROM zstd")])[..], 1).unwrap();
    let ctx = BuildContext::from_tar(&zst[..], store.new_staging().unwrap(), DockerfileSource::Default).unwrap();
    assert_eq!(ctx.dockerfile(), b"FROM zstd");
    let ctx = BuildContext::from_stdin(
        &b"FROM plain\nRUN true\n"[..],
        store.new_staging().unwrap(),
        DockerfileSource::Default,
    )
    .unwrap();
    assert_eq!(ctx.dockerfile(), b"FROM plain\nRUN true\n");
    assert!(paths(&ctx).is_empty());
    let err = BuildContext::from_stdin(&b"BZh91AY&SY"[..], store.new_staging().unwrap(), DockerfileSource::Default)
        .unwrap_err();
    assert!(err.to_string().contains("bzip2-compressed"), "{err}");
    let err =
        BuildContext::from_stdin(&tar_of(&[("x", "y")])[..], store.new_staging().unwrap(), DockerfileSource::Default)
            .unwrap_err();
    assert!(err.to_string().starts_with("cannot read the Dockerfile"), "{err}");
}

#[test]
fn a_dockerfile_symlink_in_an_archive_stays_inside() {
    let (_dir, store) = store();
    let mut builder = ::tar::Builder::new(Vec::new());
    let mut header = ::tar::Header::new_gnu();
    header.set_entry_type(::tar::EntryType::Symlink);
    header.set_size(0);
    header.set_mode(0o777);
    builder.append_link(&mut header, "Dockerfile", "/etc/hostname").unwrap();
    let archive = builder.into_inner().unwrap();
    let err =
        BuildContext::from_stdin(&archive[..], store.new_staging().unwrap(), DockerfileSource::Default).unwrap_err();
    // /etc/hostname resolves inside the extracted context, where it does not exist.
    assert!(chain_text(&err).contains("No such file"), "{err}");
}

/// An error and its causes, as berth's main prints them.
fn chain_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}
