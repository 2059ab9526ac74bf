//! `import`, `save` and `load`: root filesystem tarballs in, docker-archive and oci-archive out
//! and back, archives from and for skopeo (the containers/image loader podman uses), and broken
//! archives that must leave the store as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{
    BuiltIndex, Compression, Format, OciImageBuilder, Registry, TarEntry, TestEnv, WAIT, build_tar, compress,
    entries_from_dir, host_platform, require_program, sha256_digest, wait_until, which,
};

/// A tarball of the busybox root filesystem, compressed as asked, in the environment's temp dir.
fn busybox_tarball(env: &TestEnv, compression: Compression) -> PathBuf {
    let tarball = env.busybox_tarball(|_| {});
    if compression != Compression::None {
        let bytes = compress(&std::fs::read(&tarball).expect("reading the tarball"), compression);
        std::fs::write(&tarball, bytes).expect("writing the compressed tarball");
    }
    tarball
}

/// Imports the busybox image as `name` with `changes` and returns the id berth printed.
fn import_busybox(env: &TestEnv, name: &str, changes: &[&str]) -> String {
    env.import_busybox(name, changes, |_| {})
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// `berth images` rows as "repository:tag id" (short ids), sorted.
fn image_rows(env: &TestEnv) -> Vec<String> {
    let mut rows: Vec<String> =
        env.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]).lines().map(str::to_owned).collect();
    rows.sort();
    rows
}

fn loaded_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("Loaded image")).collect()
}

fn run_ok(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo(args: &[&str]) -> String {
    run_ok(Command::new("skopeo").arg("--insecure-policy").args(args))
}

/// Extracts an archive with the `tar` program into a fresh directory.
fn untar(archive: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    run_ok(Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(dir));
}

/// A tar of everything under `dir`.
fn tar_dir(dir: &Path, out: &Path) {
    std::fs::write(out, build_tar(&entries_from_dir(dir))).expect("writing archive");
}

#[test]
fn import_makes_a_one_layer_image_with_the_changes_applied() {
    let env = TestEnv::new();
    let tarball = busybox_tarball(&env, Compression::Gzip);
    let out = env.berth_ok(&[
        "import",
        "--change",
        r#"CMD ["/bin/sh"]"#,
        "-c",
        "ENV GREETING=hello",
        "-c",
        "WORKDIR /tmp",
        "-c",
        "EXPOSE 8080",
        "-m",
        "from a tarball",
        &path_arg(&tarball),
        "test/bb:1",
    ]);
    let id = out.trim();
    assert_eq!(env.image_ids(), vec![id.to_owned()]);
    // The test config has no search registries: a short name is qualified with localhost/.
    assert_eq!(image_rows(&env), vec![format!("localhost/test/bb:1 {}", &id[7..19])]);
    let inspect = env.inspect_json("test/bb:1");
    assert_eq!(inspect["Config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(inspect["Config"]["Env"], serde_json::json!(["GREETING=hello"]));
    assert_eq!(inspect["Config"]["WorkingDir"], "/tmp");
    assert_eq!(inspect["Config"]["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(inspect["Comment"], "from a tarball");
    assert_eq!(inspect["Architecture"], host_platform().split('/').nth(1).unwrap());
    assert_eq!(inspect["RootFS"]["Layers"].as_array().map(Vec::len), Some(1));
    let history = env.berth_ok(&["history", "--no-trunc", "test/bb:1"]);
    assert!(history.contains("berth import"), "{history}");
    env.assert_store_ok();
}

#[test]
fn import_reads_standard_input_and_leaves_an_unnamed_image() {
    let env = TestEnv::new();
    let tarball = busybox_tarball(&env, Compression::Zstd);
    let out = env
        .command(["import", "-"])
        .stdin(std::fs::File::open(&tarball).expect("tarball"))
        .output()
        .expect("running berth");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(image_rows(&env), vec![format!("<none>:<none> {}", &id[7..19])]);
    env.assert_store_ok();
}

#[test]
fn import_refuses_urls_bad_changes_and_non_tarballs() {
    let env = TestEnv::new();
    let line = env.berth_fails_125(&["import", "https://example.com/rootfs.tar"]);
    assert!(line.contains("importing from a URL is not supported; download it first"), "{line}");
    let tarball = busybox_tarball(&env, Compression::None);
    let line = env.berth_fails_125(&["import", "--change", "RUN rm -rf /", &path_arg(&tarball)]);
    assert!(line.contains("unsupported instruction RUN"), "{line}");
    let line = env.berth_fails_125(&["import", &path_arg(&tarball), "Bad:Name"]);
    assert!(line.contains("invalid reference"), "{line}");
    let garbage = env.path("garbage");
    std::fs::write(&garbage, vec![0x5a; 10_000]).unwrap();
    env.berth_fails_125(&["import", &path_arg(&garbage)]);
    assert!(env.image_ids().is_empty());
    env.assert_store_ok();
}

#[test]
fn docker_archive_round_trip_keeps_id_and_tags() {
    let source = TestEnv::new();
    let id = import_busybox(&source, "test/bb:1", &[r#"CMD ["/bin/sh"]"#]);
    source.berth_ok(&["tag", "test/bb:1", "example.com/other:2"]);
    let archive = source.path("bb.tar");
    source.berth_ok(&["save", "-o", &path_arg(&archive), "test/bb:1", "example.com/other:2"]);

    let files = run_ok(Command::new("tar").arg("-tf").arg(&archive));
    for member in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(files.lines().any(|l| l == member), "docker-archive lacks {member}:\n{files}");
    }

    let target = TestEnv::new();
    let out = target.berth_ok(&["load", "-i", &path_arg(&archive)]);
    assert_eq!(loaded_lines(&out), vec!["Loaded image: localhost/test/bb:1", "Loaded image: example.com/other:2"]);
    assert_eq!(target.image_ids(), vec![id.clone()]);
    assert_eq!(image_rows(&target), image_rows(&source));
    assert_eq!(target.inspect("test/bb:1", "{{json .Config.Cmd}}"), r#"["/bin/sh"]"#);
    target.assert_store_ok();
    assert!(target.staging_dirs().is_empty(), "staging left behind: {:?}", target.staging_dirs());
}

#[test]
fn save_to_standard_output_and_load_from_standard_input() {
    let source = TestEnv::new();
    let id = import_busybox(&source, "piped", &[]);
    let archive = source.path("piped.tar");
    let status = source
        .command(["save", "piped"])
        .stdout(std::fs::File::create(&archive).unwrap())
        .status()
        .expect("running berth save");
    assert!(status.success());
    let gzipped = source.path("piped.tar.gz");
    std::fs::write(&gzipped, compress(&std::fs::read(&archive).unwrap(), Compression::Gzip)).unwrap();

    let target = TestEnv::new();
    let out = target
        .command(["load", "-q"])
        .stdin(std::fs::File::open(&gzipped).unwrap())
        .output()
        .expect("running berth load");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "-q prints no progress: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Loaded image: localhost/piped:latest\n");
    assert_eq!(target.image_ids(), vec![id]);
}

#[test]
fn an_image_saved_by_id_loads_untagged() {
    let source = TestEnv::new();
    let id = import_busybox(&source, "named", &[]);
    let archive = source.path("by-id.tar");
    source.berth_ok(&["save", "-o", &path_arg(&archive), &id[7..19]]);
    let target = TestEnv::new();
    let out = target.berth_ok(&["load", "-i", &path_arg(&archive)]);
    assert_eq!(loaded_lines(&out), vec![format!("Loaded image ID: {id}")]);
    assert_eq!(image_rows(&target), vec![format!("<none>:<none> {}", &id[7..19])]);
}

#[test]
fn oci_archive_round_trip_keeps_id_tag_and_blobs() {
    let source = TestEnv::new();
    let id = import_busybox(&source, "localhost/oci/bb:2", &[]);
    let archive = source.path("bb-oci.tar");
    source.berth_ok(&["save", "--format", "oci-archive", "-o", &path_arg(&archive), "localhost/oci/bb:2"]);
    let files = run_ok(Command::new("tar").arg("-tf").arg(&archive));
    assert!(!files.lines().any(|l| l == "manifest.json"), "an oci-archive has no manifest.json:\n{files}");

    let target = TestEnv::new();
    let out = target.berth_ok(&["load", "-i", &path_arg(&archive)]);
    assert_eq!(loaded_lines(&out), vec!["Loaded image: localhost/oci/bb:2"]);
    assert_eq!(target.image_ids(), vec![id]);
    let manifest = |env: &TestEnv| env.inspect("localhost/oci/bb:2", "{{.ManifestDigest}}");
    assert_eq!(manifest(&source), manifest(&target), "the OCI manifest and its blobs travel unchanged");
    target.assert_store_ok();
}

#[test]
fn skopeo_reads_both_of_berths_archive_formats() {
    if !require_program("skopeo") {
        return;
    }
    let env = TestEnv::new();
    let id = import_busybox(&env, "skopeo/bb:3", &["ENV FROM=berth"]);
    for format in ["docker-archive", "oci-archive"] {
        let archive = env.path(&format!("{format}.tar"));
        env.berth_ok(&["save", "--format", format, "-o", &path_arg(&archive), "skopeo/bb:3"]);
        let transport = format!("{format}:{}", archive.display());
        let config = run_ok(Command::new("skopeo").args(["inspect", "--config", "--raw", &transport]));
        assert_eq!(sha256_digest(config.as_bytes()), id, "{format}: skopeo sees another config");
        let inspect: Value = serde_json::from_str(&skopeo(&["inspect", &transport])).expect("skopeo inspect JSON");
        assert_eq!(inspect["Env"], serde_json::json!(["FROM=berth"]), "{format}: {inspect}");
        assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(1), "{format}: {inspect}");
        // And skopeo can copy the image out of it, reading every blob.
        let copy = env.path(&format!("{format}-copy"));
        skopeo(&["copy", "-q", &transport, &format!("oci:{}:copy", copy.display())]);
    }
}

#[test]
fn berth_loads_archives_that_skopeo_writes() {
    if !require_program("skopeo") {
        return;
    }
    let env = TestEnv::new();
    let image = OciImageBuilder::busybox().build();
    let layout = env.path("layout");
    image.write_oci_layout(&layout, "v1");
    let docker_archive = env.path("skopeo-docker.tar");
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{}:v1", layout.display()),
        &format!("docker-archive:{}:example.com/sk/bb:v2", docker_archive.display()),
    ]);
    let oci_archive = env.path("skopeo-oci.tar");
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{}:v1", layout.display()),
        &format!("oci-archive:{}:localhost/sk/o:v3", oci_archive.display()),
    ]);

    let out = env.berth_ok(&["load", "-i", &path_arg(&docker_archive)]);
    assert_eq!(loaded_lines(&out), vec!["Loaded image: example.com/sk/bb:v2"]);
    let out = env.berth_ok(&["load", "-i", &path_arg(&oci_archive)]);
    assert_eq!(loaded_lines(&out), vec!["Loaded image: localhost/sk/o:v3"]);
    assert_eq!(env.image_ids(), vec![image.id().to_owned()]);
    assert_eq!(env.inspect("example.com/sk/bb:v2", "{{json .Config.Cmd}}"), r#"["sh"]"#);
    env.assert_store_ok();
}

#[test]
fn an_oci_layout_with_a_multi_platform_index_loads_the_host_image() {
    for format in [Format::Oci, Format::Docker] {
        let env = TestEnv::new();
        let index = BuiltIndex::three_platforms(format);
        let layout = env.path("layout");
        index.write_oci_layout(&layout, "localhost/multi:1");
        let archive = env.path("multi.tar");
        tar_dir(&layout, &archive);
        let out = env.berth_ok(&["load", "-i", &path_arg(&archive)]);
        assert_eq!(loaded_lines(&out), vec!["Loaded image: localhost/multi:1"], "{format:?}");
        assert_eq!(env.image_ids(), vec![index.image_for(host_platform()).id().to_owned()], "{format:?}");
    }
}

/// A pulled Docker schema 2 image with gzip layers: docker-archive must hold the decompressed
/// layers, oci-archive an OCI manifest for the stored blobs; both load elsewhere as the same image.
#[test]
fn a_pulled_docker_image_saves_in_both_formats() {
    if which("docker-registry").is_none() {
        return crate::util::skip_or_fail("docker-registry is not installed");
    }
    let registry = Registry::start();
    let image = OciImageBuilder::busybox().format(Format::Docker).build();
    registry.push(&image, "pulled/bb", "v1");
    let env = TestEnv::new();
    let reference = registry.image("pulled/bb:v1");
    env.berth_ok(&["pull", "-q", &reference]);
    for format in ["docker-archive", "oci-archive"] {
        let archive = env.path(&format!("{format}.tar"));
        env.berth_ok(&["save", "--format", format, "-o", &path_arg(&archive), &reference]);
        let unpacked = env.path(&format!("{format}-files"));
        untar(&archive, &unpacked);
        let blobs = crate::util::list_dir(&unpacked.join("blobs/sha256"));
        let layer_hex = |digest: &str| digest.trim_start_matches("sha256:").to_owned();
        match format {
            "docker-archive" => assert!(blobs.contains(&layer_hex(&image.layers[0].diff_id)), "{blobs:?}"),
            _ => assert!(blobs.contains(&layer_hex(&image.layers[0].digest)), "{blobs:?}"),
        }
        let target = TestEnv::new();
        let out = target.berth_ok(&["load", "-i", &path_arg(&archive)]);
        assert_eq!(loaded_lines(&out), vec![format!("Loaded image: {reference}")], "{format}");
        assert_eq!(target.image_ids(), vec![image.id().to_owned()], "{format}");
        target.assert_store_ok();
        if which("skopeo").is_some() {
            skopeo(&["inspect", &format!("{format}:{}", archive.display())]);
        }
    }
}

/// Writes a broken variant of a good docker-archive and asserts loading it fails cleanly.
struct Breakage {
    target: TestEnv,
    before: Vec<String>,
}

impl Breakage {
    /// A store that already holds an unrelated image, so "unchanged" means something.
    fn new() -> Breakage {
        let target = TestEnv::new();
        let image =
            OciImageBuilder::new().layer_entries(vec![TarEntry::file("bystander", "x\n")], Compression::Gzip).build();
        let layout = target.path("bystander-layout");
        image.write_oci_layout(&layout, "localhost/bystander:1");
        let archive = target.path("bystander.tar");
        tar_dir(&layout, &archive);
        target.berth_ok(&["load", "-q", "-i", &path_arg(&archive)]);
        let before = image_rows(&target);
        Breakage { target, before }
    }

    fn assert_refused(&self, archive: &Path, expected: &str) {
        let line = self.target.berth_fails_125(&["load", "-i", &path_arg(archive)]);
        assert!(line.contains(expected), "error for {} should mention {expected:?}: {line}", archive.display());
        assert_eq!(image_rows(&self.target), self.before, "images changed after a failed load");
        self.target.assert_store_ok();
        assert_eq!(self.target.layer_dirs().len(), 1, "a layer of the bad archive was committed");
        assert!(self.target.staging_dirs().is_empty(), "staging left: {:?}", self.target.staging_dirs());
    }
}

/// A docker-archive of a busybox image with a marker file, saved by berth.
fn good_archive(env: &TestEnv) -> PathBuf {
    env.import_busybox("marked:1", &[], |rootfs| {
        std::fs::write(rootfs.join("etc/marker"), "MARKER-CONTENT\n").unwrap()
    });
    let archive = env.path("good.tar");
    env.berth_ok(&["save", "-o", &path_arg(&archive), "marked:1"]);
    archive
}

#[test]
fn corrupt_archives_are_refused_with_one_line_and_change_nothing() {
    let source = TestEnv::new();
    let good = good_archive(&source);
    let bytes = std::fs::read(&good).unwrap();
    let broken = Breakage::new();
    let write = |name: &str, bytes: &[u8]| {
        let path = source.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };

    broken.assert_refused(&write("truncated.tar", &bytes[..bytes.len() / 2]), "truncated");
    let gzipped = compress(&bytes, Compression::Gzip);
    broken.assert_refused(&write("truncated.tar.gz", &gzipped[..gzipped.len() / 2]), "reading the archive");
    broken.assert_refused(&write("garbage.tar", &[0x42; 8192]), "not a tar archive");
    broken.assert_refused(&write("empty.tar", &[]), "empty");

    // One flipped byte inside the (uncompressed) layer: the outer tar stays valid.
    let mut flipped = bytes.clone();
    let at = flipped.windows(14).position(|w| w == b"MARKER-CONTENT").expect("marker in the layer");
    flipped[at] ^= 0x01;
    broken.assert_refused(&write("flipped.tar", &flipped), "digest mismatch");

    let files = source.path("files");
    untar(&good, &files);
    // Without manifest.json the archive is still an OCI layout (index.json) and loads...
    std::fs::remove_file(files.join("manifest.json")).unwrap();
    let without_manifest = source.path("no-manifest.tar");
    tar_dir(&files, &without_manifest);
    let other = TestEnv::new();
    other.berth_ok(&["load", "-i", &path_arg(&without_manifest)]);
    // ...without index.json as well it is nothing.
    std::fs::remove_file(files.join("index.json")).unwrap();
    let without_both = source.path("no-manifest-no-index.tar");
    tar_dir(&files, &without_both);
    broken.assert_refused(&without_both, "neither manifest.json");
}

#[test]
fn config_and_path_tricks_are_refused() {
    let source = TestEnv::new();
    let good = good_archive(&source);
    let broken = Breakage::new();
    let files = source.path("files");
    untar(&good, &files);
    let manifest: Value = serde_json::from_slice(&std::fs::read(files.join("manifest.json")).unwrap()).unwrap();
    let config_member = manifest[0]["Config"].as_str().unwrap().to_owned();

    // A config edited after the fact no longer matches the digest it is named by.
    let config_path = files.join(&config_member);
    let original_config = std::fs::read(&config_path).unwrap();
    let mut config: Value = serde_json::from_slice(&original_config).unwrap();
    config["config"] = serde_json::json!({"Cmd": ["/bin/evil"]});
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let bad_config = source.path("bad-config.tar");
    tar_dir(&files, &bad_config);
    broken.assert_refused(&bad_config, "digest mismatch");
    std::fs::write(&config_path, &original_config).unwrap();

    // A member that climbs out of the archive.
    let mut entries = entries_from_dir(&files);
    entries.insert(0, TarEntry::file("../escaped", "x"));
    let climbing = source.path("climbing.tar");
    std::fs::write(&climbing, build_tar(&entries)).unwrap();
    broken.assert_refused(&climbing, "outside the archive");
    assert!(!source.path("escaped").exists() && !broken.target.path("escaped").exists());

    // A layer whose own entries climb out of the layer.
    let evil_layer = build_tar(&[TarEntry::file("../../evil", "x")]);
    let diff_id = sha256_digest(&evil_layer);
    let evil_config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let config_name = format!("{}.json", &sha256_digest(&evil_config)[7..]);
    let evil_manifest = serde_json::json!([{"Config": config_name, "RepoTags": ["evil:1"], "Layers": ["l/layer.tar"]}]);
    let evil = source.path("evil.tar");
    std::fs::write(
        &evil,
        build_tar(&[
            TarEntry::file("l/layer.tar", evil_layer),
            TarEntry::file(&config_name, evil_config),
            TarEntry::file("manifest.json", serde_json::to_vec(&evil_manifest).unwrap()),
        ]),
    )
    .unwrap();
    broken.assert_refused(&evil, "unsafe path in layer");
}

/// The bytes of the regular files under `dir`; files that go away meanwhile count nothing.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

#[test]
fn a_load_killed_midway_leaves_a_valid_store() {
    let source = TestEnv::new();
    let big = source.path("big");
    std::fs::create_dir_all(&big).unwrap();
    // Incompressible content, so that the load takes a moment.
    let mut data = vec![0u8; 96 << 20];
    let mut state: u64 = 0x9e3779b97f4a7c15;
    for chunk in data.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(big.join("data"), &data).unwrap();
    drop(data);
    let tarball = source.path("big.tar");
    tar_dir(&big, &tarball);
    source.berth_ok(&["import", &path_arg(&tarball), "big:1"]);
    let archive = source.path("big-save.tar");
    source.berth_ok(&["save", "-o", &path_arg(&archive), "big:1"]);

    let target = TestEnv::new();
    let mut child = target
        .command(["load", "-i", &path_arg(&archive)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting berth load");
    // Midway: a third of the layer is in the staging area (being extracted, or unpacked).
    wait_until(WAIT, "the load stages 32 MiB", || {
        bytes_under(&target.root.join("tmp")) >= 32 << 20 || child.try_wait().unwrap().is_some()
    });
    assert!(child.try_wait().unwrap().is_none(), "the load ended before it could be killed midway");
    child.kill().expect("kill -9");
    child.wait().expect("reaping berth");
    // The next command sweeps what the killed one left.
    target.assert_store_ok();
    assert!(target.staging_dirs().is_empty(), "staging left: {:?}", target.staging_dirs());
    let ids = target.image_ids();
    assert!(ids.is_empty() || ids == source.image_ids(), "a half-loaded image is visible: {ids:?}");
    // And a second attempt completes.
    target.berth_ok(&["load", "-q", "-i", &path_arg(&archive)]);
    assert_eq!(target.image_ids(), source.image_ids());
    target.assert_store_ok();
}

#[test]
fn save_refuses_to_write_to_a_terminal() {
    if !require_program("script") {
        return;
    }
    let env = TestEnv::new();
    import_busybox(&env, "tty", &[]);
    let command_line = format!(
        "{} --root {} --runroot {} --config {} save tty; echo exit=$?",
        crate::util::BERTH,
        env.root.display(),
        env.runroot.display(),
        env.config.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command_line, "/dev/null"])
        .env("HOME", &env.home)
        .env("XDG_RUNTIME_DIR", env.home.join("run"))
        .stdin(Stdio::null())
        .output()
        .expect("running script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("refusing to write an image archive to a terminal"), "{text}");
    assert!(text.contains("exit=125"), "{text}");
    assert!(text.len() < 1000, "archive bytes reached the terminal: {} bytes", text.len());
}

#[test]
fn save_of_a_missing_image_fails_without_leaving_a_file() {
    let env = TestEnv::new();
    let archive = env.path("none.tar");
    let line = env.berth_fails_with(1, &["save", "-o", &path_arg(&archive), "missing:1"]);
    assert!(line.contains("missing:1"), "{line}");
    assert!(!archive.exists());
    assert!(crate::util::list_dir(env.dir.path()).iter().all(|n| !n.contains("none.tar")));
}
