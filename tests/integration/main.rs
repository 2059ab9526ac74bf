//! berth's integration tests: one test binary that drives the built `berth` executable, each
//! test in a private store (see `util::TestEnv`), registry tests against a private loopback
//! `docker-registry` (see `util::Registry`). No test needs the internet.
//!
//! Areas, one module each: `cli` (flags, help, completion, man pages, version, info),
//! `registry` (pull and everything that manages pulled images), `auth` (login, logout,
//! credentials), `archive` (save, load, import) and `containers` (create, run, exec, …).
//! Tests of the harness itself are below.

mod archive;
mod assemble;
mod auth;
mod check;
mod cli;
mod compat;
mod containers;
mod copy;
mod cp_rules;
mod format;
mod lifecycle;
mod network;
mod policies;
mod registry;
mod rootless;
mod security;
mod sigpipe;
mod util;
mod volumes;

/// The harness itself: a registry starts, takes a pushed image, and berth pulls it.
#[test]
fn harness_registry_round_trip() {
    let registry = util::Registry::start();
    let image = util::OciImageBuilder::busybox().build();
    let digest = registry.push(&image, "harness/busybox", "v1");
    let resp = util::http_request(&registry.addr, "GET", "/v2/harness/busybox/tags/list", &[], &[]).expect("GET tags");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.text().contains("\"v1\""), "{}", resp.text());

    let env = util::TestEnv::new();
    let reference = registry.image("harness/busybox:v1");
    let out = env.berth_ok(&["pull", &reference]);
    assert!(out.contains(&digest), "pull output lacks the manifest digest {digest}:\n{out}");
    assert_eq!(env.image_ids(), vec![image.id().to_owned()]);
}

/// The htpasswd registry refuses anonymous requests and takes the harness's own pushes.
#[test]
fn harness_htpasswd_registry() {
    let registry = util::Registry::start_with_htpasswd("alice", "s3cret");
    let anonymous = util::http_request(&registry.addr, "GET", "/v2/", &[], &[]).expect("GET /v2/");
    assert_eq!(anonymous.status, 401);
    let image = util::OciImageBuilder::new()
        .layer_entries(vec![util::TarEntry::file("hello", "hi\n")], util::Compression::Gzip)
        .build();
    registry.push(&image, "private/hello", "latest");
}

/// The hand-written tar writer produces archives the `tar` program reads back.
#[test]
fn harness_tar_writer_is_readable() {
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
    let tar = util::build_tar(&[
        util::TarEntry::dir("a"),
        util::TarEntry::file("a/b", "bee"),
        util::TarEntry::symlink("a/c", "b"),
        util::TarEntry::hardlink("a/d", "a/b"),
        util::TarEntry::file(&long, "long"),
        util::TarEntry::file(&"p".repeat(300), "pax"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.tar");
    std::fs::write(&file, tar).unwrap();
    let out = std::process::Command::new("tar").arg("-tf").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(listed, vec!["a/".to_owned(), "a/b".into(), "a/c".into(), "a/d".into(), long, "p".repeat(300)]);
}

/// The OCI layouts the builders write are what skopeo (containers/image) reads: the manifest and
/// index bytes come back unchanged.
#[test]
fn harness_oci_layout_is_readable_by_skopeo() {
    if !util::require_program("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = util::OciImageBuilder::busybox().build();
    let single = dir.path().join("single");
    image.write_oci_layout(&single, "v1");
    let raw = |layout: &std::path::Path| {
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--raw", &format!("oci:{}:v1", layout.display())])
            .output()
            .expect("running skopeo");
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    assert_eq!(raw(&single), image.manifest);

    let index = util::BuiltIndex::three_platforms(util::Format::Oci);
    let multi = dir.path().join("multi");
    index.write_oci_layout(&multi, "v1");
    assert_eq!(raw(&multi), index.bytes);
}
