//! berth's integration tests: one test binary that drives the built `berth` executable, each
//! test in a private store (see `util::TestEnv`), registry tests against a private loopback
//! `docker-registry` (see `util::Registry`). No test needs the internet.
//!
//! Areas, one module each: `cli` (flags, help, completion, man pages, version, info),
//! `registry` (pull and everything that manages pulled images), `image_content` (what a pulled
//! image brings into the store and its containers), `auth` (login, logout, credentials),
//! `archive` (save, load, import), `containers` (create, run, exec, …), `copy` (cp, export,
//! commit), `volumes`, `security` (the default confinement), `rootless`; `layering` checks the
//! source itself against the guide's layering rules. Tests of the harness itself are below.

mod api;
mod api_archive;
mod api_events;
mod api_exec;
mod api_raw;
mod archive;
mod assemble;
mod auth;
mod build;
mod build_flags;
mod build_network;
mod build_url;
mod cgroup_v1;
mod check;
mod cli;
mod compat;
mod compose_build;
mod compose_config;
mod compose_health;
mod compose_net;
mod compose_up;
mod compose_wait;
mod concurrency;
mod containers;
mod copy;
mod cp_rules;
mod docker_flags;
mod events;
mod exit_codes;
mod fault_injection;
mod format;
mod full_disk;
mod generate_systemd;
mod health;
mod image_content;
mod layering;
mod lifecycle;
mod network;
mod networking;
mod policies;
mod ports;
mod push;
mod registry;
mod resource_flags;
mod restarts;
mod rootless;
mod rootless_net;
mod sdnotify;
mod security;
mod signals;
mod sigpipe;
mod system_df;
mod user_networks;
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

/// The fake registry takes pushes (monolithic, chunked, mounted), serves them to a pull, and
/// records each request with its status, so a test can count what a client asked for.
#[test]
fn harness_fake_registry_takes_pushes_and_records_requests() {
    let fake = util::FakeRegistry::start();
    let image = util::OciImageBuilder::new()
        .layer_entries(vec![util::TarEntry::file("a", "first layer")], util::Compression::Gzip)
        .layer_entries(vec![util::TarEntry::file("b", "second layer")], util::Compression::Zstd)
        .build();
    let (first, second) = (&image.layers[0], &image.layers[1]);
    // Monolithic: HEAD (missing), POST, PUT.
    util::push_blob_to(&fake.addr, &[], "harness/pushed", &first.digest, &first.blob);
    // Chunked: POST, PATCH, PATCH, PUT with the digest.
    let post = util::http_request(&fake.addr, "POST", "/v2/harness/pushed/blobs/uploads/", &[], &[]).unwrap();
    assert_eq!(post.status, 202);
    let location = post.header("location").expect("Location").to_owned();
    let (head, tail) = second.blob.split_at(second.blob.len() / 2);
    for chunk in [head, tail] {
        let patch = util::http_request(&fake.addr, "PATCH", &location, &[], chunk).unwrap();
        assert_eq!(patch.status, 202, "{}", patch.text());
    }
    let put = util::http_request(&fake.addr, "PUT", &format!("{location}?digest={}", second.digest), &[], &[]).unwrap();
    assert_eq!(put.status, 201, "{}", put.text());
    assert_eq!(put.header("docker-content-digest"), Some(second.digest.as_str()));
    // The config, monolithic again, then a wrong digest, which is refused.
    util::push_blob_to(&fake.addr, &[], "harness/pushed", &image.config_digest, &image.config);
    let bad = format!("/v2/harness/pushed/blobs/uploads/?digest={}", first.digest);
    assert_eq!(util::http_request(&fake.addr, "POST", &bad, &[], b"not the layer").unwrap().status, 400);
    // A blob the registry has is mounted into another repository at once.
    let mount = format!("/v2/harness/other/blobs/uploads/?mount={}&from=harness/pushed", first.digest);
    assert_eq!(util::http_request(&fake.addr, "POST", &mount, &[], &[]).unwrap().status, 201);
    let headers = [("Content-Type".to_owned(), image.manifest_media_type.to_owned())];
    let manifest = util::http_request(&fake.addr, "PUT", "/v2/harness/pushed/manifests/v1", &headers, &image.manifest);
    assert_eq!(manifest.unwrap().status, 201);

    let env = util::TestEnv::new();
    env.berth_ok(&["pull", "-q", &fake.image("harness/pushed:v1")]);
    assert_eq!(env.image_ids(), vec![image.id().to_owned()]);
    assert_eq!(fake.count("HEAD", &first.digest), 1);
    assert_eq!(fake.count("POST", "/blobs/uploads/"), 5, "{:#?}", fake.requests());
    assert_eq!(fake.count("PATCH", "/blobs/uploads/"), 2);
    assert_eq!(fake.count("PUT", &second.digest), 1);
    assert_eq!(fake.count("GET", &second.digest), 1, "the pull fetched each layer once");
    let statuses: Vec<(String, u16)> =
        fake.requests().iter().filter(|r| r.query.contains("mount=")).map(|r| (r.method.clone(), r.status)).collect();
    assert_eq!(statuses, vec![("POST".to_owned(), 201)]);
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
