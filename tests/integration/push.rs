//! `berth push`: to Debian's docker-registry on loopback, pulled back by skopeo, Podman and berth
//! in a fresh store (same digest, runs); blobs the registry has are skipped and blobs another
//! repository has are mounted (requests counted on the recording fake registry); login; all
//! tags; and failures (unknown image, refused credentials, a registry dying mid-upload).

use std::process::Command;

use serde_json::Value;

use crate::util::{
    FakeRegistry, Format, OciImageBuilder, Registry, TestEnv, UploadFault, assert_one_error_line, require_program,
    require_root,
};

/// The `TAG: digest: sha256:… size: N` line of a push's output: (tag, digest, size).
fn pushed_digest(out: &str) -> (String, String, usize) {
    let line = out.lines().rev().find(|l| l.contains(": digest: ")).unwrap_or_else(|| panic!("no digest line:\n{out}"));
    let (tag, rest) = line.split_once(": digest: ").expect("digest line");
    let (digest, size) = rest.split_once(" size: ").expect("size in the digest line");
    (tag.to_owned(), digest.to_owned(), size.parse().expect("size is a number"))
}

/// `skopeo inspect` of a loopback image: its manifest digest.
fn skopeo_digest(reference: &str) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{reference}")])
        .output()
        .expect("running skopeo");
    assert!(out.status.success(), "skopeo inspect failed: {}", String::from_utf8_lossy(&out.stderr));
    let value: Value = serde_json::from_slice(&out.stdout).expect("skopeo prints JSON");
    value["Digest"].as_str().expect("Digest").to_owned()
}

#[test]
fn a_pushed_image_pulls_back_with_skopeo_and_berth_with_the_same_digest_and_runs() {
    if !require_program("skopeo") {
        return;
    }
    let registry = Registry::start();
    let env = TestEnv::new();
    let name = registry.image("push/busybox:v1");
    env.import_busybox(&name, &[r#"CMD ["/bin/sh", "-c", "echo pushed-image-runs"]"#], |_| {});
    let out = env.berth_ok(&["push", &name]);
    assert!(out.starts_with(&format!("The push refers to repository [{}]\n", registry.image("push/busybox"))), "{out}");
    assert!(out.contains(": Pushed\n"), "{out}");
    let (tag, digest, size) = pushed_digest(&out);
    assert_eq!(tag, "v1");
    assert_eq!(skopeo_digest(&name), digest, "the registry serves the digest push printed");

    // The exact bytes: what the registry serves hashes to the digest, and is `size` long.
    let manifest = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{name}")])
        .output()
        .expect("skopeo inspect --raw");
    assert_eq!(manifest.stdout.len(), size);

    let dir = tempfile::tempdir().expect("temp dir");
    let layout = dir.path().join("oci");
    let status = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false", &format!("docker://{name}")])
        .arg(format!("oci:{}:v1", layout.display()))
        .status()
        .expect("skopeo copy");
    assert!(status.success(), "skopeo copy of the pushed image failed");
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str(), "skopeo copied the manifest unchanged");

    let fresh = TestEnv::new();
    let pulled = fresh.berth_ok(&["pull", &name]);
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");
    assert_eq!(fresh.image_ids(), env.image_ids(), "the same image id in both stores");
    if require_root("running the pulled image") {
        let ran = fresh.berth_ok(&["run", "--rm", &name]);
        assert_eq!(ran.trim(), "pushed-image-runs");
    }

    // Pushing again sends nothing and gives the same digest (the compressed copy of the
    // imported tar is remembered, not made again).
    let again = env.berth_ok(&["push", &name]);
    assert!(again.contains(": Layer already exists\n") && !again.contains("Pushed"), "{again}");
    assert_eq!(pushed_digest(&again).1, digest);
    let digests = env.inspect(&name, "{{json .RepoDigests}}");
    assert!(digests.contains(&registry.image(&format!("push/busybox@{digest}"))), "{digests}");
    env.assert_store_ok();
}

#[test]
fn pushing_an_unknown_image_fails_with_one_line_and_exit_1() {
    let env = TestEnv::new();
    let (code, stderr) = env.berth_err(&["push", "127.0.0.1:9/nothing/here:v1"]);
    assert_eq!(code, 1, "{stderr}");
    let line = assert_one_error_line(&stderr);
    assert!(line.contains("does not exist locally"), "{line}");
}

#[test]
fn push_skips_blobs_the_registry_has() {
    let fake = FakeRegistry::start();
    let env = TestEnv::new();
    let name = fake.image("first/busybox:v1");
    env.import_busybox(&name, &[], |_| {});
    let out = env.berth_ok(&["push", &name]);
    let (_, digest, _) = pushed_digest(&out);
    let layer = {
        let state = fake.state.lock().unwrap();
        let (_, manifest) = state.manifests.get(&digest).expect("the manifest was pushed").clone();
        let manifest: Value = serde_json::from_slice(&manifest).unwrap();
        // The hex alone: the upload's query holds the digest percent-encoded.
        manifest["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned()
    };
    let uploads = |fake: &FakeRegistry| fake.count("PUT", &layer);
    assert_eq!(uploads(&fake), 1, "one upload of the layer: {:?}", fake.requests());

    let requests_before = fake.requests().len();
    let again = env.berth_ok(&["push", &name]);
    assert!(again.contains("Layer already exists"), "{again}");
    let second: Vec<_> = fake.requests()[requests_before..].to_vec();
    assert!(
        second.iter().all(|r| r.method == "HEAD" || r.method == "GET" || r.path.contains("/manifests/")),
        "{second:?}"
    );
    assert_eq!(uploads(&fake), 1, "nothing uploaded again");
}

#[test]
fn a_blob_another_repository_of_the_registry_has_is_mounted_not_sent() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let first = registry.image("first/busybox:v1");
    env.import_busybox(&first, &[], |_| {});
    let (_, digest, _) = pushed_digest(&env.berth_ok(&["push", &first]));
    let second = registry.image("second/busybox:v1");
    env.berth_ok(&["tag", &first, &second]);
    let out = env.berth_ok(&["push", &second]);
    assert!(out.contains(": Mounted from first/busybox\n"), "{out}");
    assert_eq!(pushed_digest(&out).1, digest);
    assert_eq!(skopeo_or_http_digest(&registry, "second/busybox", "v1"), digest);
}

/// The digest the registry serves for `repo:tag` (a HEAD of the manifest).
fn skopeo_or_http_digest(registry: &Registry, repo: &str, tag: &str) -> String {
    let types = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    let accept = [("Accept".to_owned(), types.to_owned())];
    let resp = crate::util::http_request(&registry.addr, "HEAD", &format!("/v2/{repo}/manifests/{tag}"), &accept, &[])
        .expect("HEAD manifest");
    assert_eq!(resp.status, 200);
    resp.header("docker-content-digest").expect("Docker-Content-Digest").to_owned()
}

/// A busybox image whose compressed layer is well over the size pushed in one PUT, so its upload
/// is streamed (the part that resumes): incompressible bytes beside busybox.
fn import_large(env: &TestEnv, name: &str) {
    env.import_busybox(name, &[], |root| {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: Vec<u8> = (0..3 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(root.join("noise"), noise).unwrap();
    });
}

#[test]
fn a_broken_upload_resumes_where_the_registry_says_it_stopped() {
    let fake = FakeRegistry::start();
    let env = TestEnv::new();
    let name = fake.image("resume/big:v1");
    import_large(&env, &name);
    fake.break_next_upload(UploadFault::CutOnce);
    let out = env.berth_ok(&["push", &name]);
    let (_, digest, _) = pushed_digest(&out);
    let requests = fake.requests();
    let status_asks = requests.iter().filter(|r| r.method == "GET" && r.path.contains("/blobs/uploads/")).count();
    assert_eq!(status_asks, 1, "one GET of the upload's state: {requests:?}");
    assert_eq!(requests.iter().filter(|r| r.method == "PATCH").count(), 2, "the cut PATCH and one resuming it");
    // The blob the registry assembled from both halves is the layer (the fake checks its digest).
    let fresh = TestEnv::new();
    let pulled = fresh.berth_ok(&["pull", &name]);
    assert!(pulled.contains(&digest), "{pulled}");
}

#[test]
fn a_registry_dying_mid_upload_fails_the_push_with_one_line_and_exit_1() {
    let fake = FakeRegistry::start();
    let env = TestEnv::new();
    let name = fake.image("dies/big:v1");
    import_large(&env, &name);
    let digests_before = env.inspect(&name, "{{json .RepoDigests}}");
    fake.break_next_upload(UploadFault::Die);
    let (code, stderr) = env.berth_err(&["push", &name]);
    assert_eq!(code, 1, "{stderr}");
    let line = assert_one_error_line(&stderr);
    assert!(line.contains("pushing layer") && line.contains(&fake.addr), "{line}");
    assert_eq!(env.inspect(&name, "{{json .RepoDigests}}"), digests_before, "nothing recorded");
    env.assert_store_ok();
}

#[test]
fn push_uses_the_login_and_a_refused_push_fails_with_exit_1() {
    let registry = Registry::start_with_htpasswd("pusher", "pw-for-push");
    let env = TestEnv::new();
    let name = registry.image("private/busybox:v1");
    env.import_busybox(&name, &[], |_| {});
    let (code, stderr) = env.berth_err(&["push", &name]);
    assert_eq!(code, 1, "{stderr}");
    let line = assert_one_error_line(&stderr);
    assert!(line.contains("authentication") || line.contains("unauthorized"), "{line}");

    env.berth_ok(&["login", "-u", "pusher", "-p", "pw-for-push", &registry.addr]);
    let (_, digest, _) = pushed_digest(&env.berth_ok(&["push", &name]));
    let fresh = TestEnv::new();
    let (code, _) = fresh.berth_err(&["pull", &name]);
    assert_ne!(code, 0, "the registry is private");
    fresh.berth_ok(&["login", "-u", "pusher", "-p", "pw-for-push", &registry.addr]);
    assert!(fresh.berth_ok(&["pull", &name]).contains(&digest));
}

#[test]
fn all_tags_pushes_every_tag_of_the_repository() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let (one, two) = (registry.image("tags/busybox:one"), registry.image("tags/busybox:two"));
    env.import_busybox(&one, &[], |_| {});
    env.import_busybox(&two, &[], |root| std::fs::write(root.join("second"), "2").unwrap());
    env.import_busybox(&registry.image("elsewhere/busybox:one"), &[], |_| {});
    let out = env.berth_ok(&["push", "--all-tags", &registry.image("tags/busybox")]);
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(": digest: ")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("one: ") && lines[1].starts_with("two: "), "{out}");
    let tags = crate::util::http_request(&registry.addr, "GET", "/v2/tags/busybox/tags/list", &[], &[]).unwrap();
    let tags: Value = serde_json::from_slice(&tags.body).unwrap();
    let mut listed: Vec<&str> = tags["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    listed.sort();
    assert_eq!(listed, ["one", "two"]);
    let (code, stderr) = env.berth_err(&["push", "-a", &one]);
    assert_eq!(code, 1, "{stderr}");
    assert!(assert_one_error_line(&stderr).contains("--all-tags"), "{stderr}");
}

#[test]
fn v2s2_format_and_digestfile_and_podman_pulls_it_back() {
    if !require_program("skopeo") {
        return;
    }
    let registry = Registry::start();
    let env = TestEnv::new();
    let name = registry.image("formats/busybox:v2");
    env.import_busybox(&name, &[], |_| {});
    let digestfile = env.path("digest");
    let out = env.berth_ok(&["push", "--format", "v2s2", "--digestfile", digestfile.to_str().unwrap(), &name]);
    let (_, digest, _) = pushed_digest(&out);
    assert_eq!(std::fs::read_to_string(&digestfile).unwrap(), digest);
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{name}")])
        .output()
        .expect("skopeo inspect --raw");
    let manifest: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.docker.container.image.v1+json");
    assert_eq!(manifest["layers"][0]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
    assert_eq!(skopeo_digest(&name), digest);

    if !require_program("podman") {
        return;
    }
    // Podman pulls it (its own store in a temp dir) and finds the same digest. (Running it under
    // Podman fails on machines where a hard rlimit cannot be raised; the pull is the oracle.)
    let dir = tempfile::tempdir().unwrap();
    let podman = |args: &[&str]| {
        let out = Command::new("podman")
            .arg("--root")
            .arg(dir.path().join("root"))
            .arg("--runroot")
            .arg(dir.path().join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("running podman");
        assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    podman(&["pull", "-q", "--tls-verify=false", &name]);
    assert_eq!(podman(&["image", "inspect", "--format", "{{.Digest}}", &name]).trim(), digest);
}

#[test]
fn an_uncompressed_layer_is_pushed_zstd_compressed_when_asked_and_never_as_v2s2() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let name = registry.image("zstd/busybox:v1");
    env.import_busybox(&name, &[], |_| {});
    let (code, stderr) = env.berth_err(&["push", "--format", "v2s2", "--compression-format", "zstd", &name]);
    assert_eq!(code, 1, "{stderr}");
    assert!(assert_one_error_line(&stderr).contains("zstd"), "{stderr}");

    let (_, digest, _) = pushed_digest(&env.berth_ok(&["push", "--compression-format", "zstd", &name]));
    let accept = [("Accept".to_owned(), "application/vnd.oci.image.manifest.v1+json".to_owned())];
    let resp =
        crate::util::http_request(&registry.addr, "GET", &format!("/v2/zstd/busybox/manifests/{digest}"), &accept, &[])
            .unwrap();
    let manifest: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
    let fresh = TestEnv::new();
    fresh.berth_ok(&["pull", &name]);
    assert_eq!(fresh.image_ids(), env.image_ids());
}

#[test]
fn a_rootless_store_pushes_and_pulls_back() {
    let Some(env) = TestEnv::rootless() else { return };
    let registry = Registry::start();
    let name = registry.image("rootless/pushed:v1");
    env.import_busybox(&name, &[], |root| {
        std::fs::write(root.join("owned"), "mine\n").unwrap();
        std::os::unix::fs::chown(root.join("owned"), Some(1000), Some(1000)).unwrap();
    });
    let (_, digest, _) = pushed_digest(&env.berth_ok(&["push", &name]));
    let fresh = TestEnv::new();
    assert!(fresh.berth_ok(&["pull", &name]).contains(&digest));
    assert_eq!(fresh.image_ids(), env.image_ids());
    env.assert_store_ok();
}

#[test]
fn a_pulled_image_is_pushed_as_the_same_bytes_to_another_registry() {
    for format in [Format::Docker, Format::Oci] {
        let source = Registry::start();
        let image = OciImageBuilder::busybox().format(format).build();
        let original = source.push(&image, "origin/busybox", "v1");
        let env = TestEnv::new();
        env.berth_ok(&["pull", &source.image("origin/busybox:v1")]);

        let target = Registry::start();
        let name = target.image("copied/busybox:v1");
        env.berth_ok(&["tag", &source.image("origin/busybox:v1"), &name]);
        let out = env.berth_ok(&["push", &name]);
        assert_eq!(pushed_digest(&out).1, original, "{format:?}: the pulled manifest, byte for byte:\n{out}");
        assert_eq!(skopeo_or_http_digest(&target, "copied/busybox", "v1"), original);
        // Every blob the registry holds is one the source served: nothing was recompressed.
        for layer in &image.layers {
            let head = crate::util::http_request(
                &target.addr,
                "HEAD",
                &format!("/v2/copied/busybox/blobs/{}", layer.digest),
                &[],
                &[],
            )
            .unwrap();
            assert_eq!(head.status, 200, "{format:?}: layer {} is there", layer.digest);
        }
    }
}

#[test]
fn the_compressed_copy_goes_with_its_layer() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let name = registry.image("gc/busybox:v1");
    env.import_busybox(&name, &[], |_| {});
    let blobs = || std::fs::read_dir(env.root.join("blobs/sha256")).unwrap().count();
    let before = blobs();
    env.berth_ok(&["push", &name]);
    assert_eq!(blobs(), before + 1, "the gzip copy of the imported tar is kept");
    env.assert_store_ok();
    env.berth_ok(&["rmi", &name]);
    assert_eq!(blobs(), 0, "rmi removed the copy with the layer");
    assert!(env.layer_dirs().is_empty());
}
