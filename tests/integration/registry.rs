//! Pulling from a loopback registry, and the image commands that work on what was pulled:
//! manifest formats, multi-platform indexes, layer compressions, the overlay format of unpacked
//! layers, image listing/tagging/removal, and failures (auth, bad references, broken or
//! malicious registries, interrupted pulls).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    BlobMode, BuiltImage, BuiltIndex, Compression, FakeRegistry, Format, LayerSpec, OciImageBuilder, Registry,
    TarEntry, TestEnv, busybox_rootfs, free_port, get_xattr, host_platform, range_start, wait_until,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A small image with a single gzip layer holding `files` (path, contents) under `dir/`.
fn small_image(files: &[(&str, &str)]) -> OciImageBuilder {
    let entries = files.iter().map(|(p, c)| TarEntry::file(p, *c)).collect();
    OciImageBuilder::new().layer_entries(entries, Compression::Gzip)
}

/// The busybox rootfs as a layer spec (shared bottom layer of several tests).
fn busybox_layer() -> LayerSpec {
    let dir = tempfile::tempdir().expect("temp dir");
    busybox_rootfs(dir.path());
    LayerSpec::from_dir(dir.path(), Compression::Gzip)
}

/// Deterministic incompressible bytes (xorshift), so big test blobs need no /dev/urandom.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The overlay xattr prefix berth uses in this store ("trusted.overlay." or "user.overlay.").
fn overlay_prefix(env: &TestEnv) -> String {
    let info: Value = serde_json::from_str(&env.berth_ok(&["info", "--format", "json"])).expect("info json");
    let prefix = info["OverlayXattrs"].as_str().expect("OverlayXattrs in info").to_owned();
    format!("{prefix}.")
}

/// Asserts `path` is an overlay whiteout: a character device 0/0.
fn assert_whiteout(path: &Path) {
    let meta = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(meta.file_type().is_char_device(), "{} is not a character device: {meta:?}", path.display());
    assert_eq!(meta.rdev(), 0, "{} is not device 0/0", path.display());
}

/// Every path under `dir` whose file name is `name`.
fn find_named(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name() == name {
            found.push(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(find_named(&path, name));
        }
    }
    found
}

/// After a failed or interrupted pull: the store is consistent, lists no image, holds no layer
/// and no staging area (the next berth command sweeps what a dead process left).
fn assert_nothing_half_made(env: &TestEnv) {
    env.assert_store_ok();
    assert_eq!(env.berth_ok(&["images", "-q"]), "", "a failed pull left an image");
    assert_eq!(env.staging_dirs(), Vec::<String>::new(), "staging areas left in tmp/");
    for layer in env.layer_dirs() {
        assert!(
            env.root.join("layers").join(&layer).join("layer.json").exists(),
            "incomplete layer directory {layer} left in layers/"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Pulling: formats, platforms, compression
// ---------------------------------------------------------------------------------------------

/// Pulls `image` as `repo:tag` from a fresh registry into a fresh env; returns both.
fn pull_fresh(image: &BuiltImage, repo: &str, tag: &str) -> (Registry, TestEnv) {
    let registry = Registry::start();
    registry.push(image, repo, tag);
    let env = TestEnv::new();
    env.berth_ok(&["pull", &registry.image(&format!("{repo}:{tag}"))]);
    (registry, env)
}

#[test]
fn pull_oci_image_and_inspect_it() {
    let image = OciImageBuilder::busybox()
        .layer_entries(vec![TarEntry::dir("app"), TarEntry::file("app/hello.txt", "hello\n")], Compression::Gzip);
    let image = image.build();
    let registry = Registry::start();
    let digest = registry.push(&image, "tests/busybox", "1.0");
    let env = TestEnv::new();
    let name = registry.image("tests/busybox:1.0");
    let out = env.berth_ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(out.lines().last().is_some_and(|l| l == name), "pull's last line should be the name:\n{out}");

    let inspect = env.inspect_json(&name);
    assert_eq!(inspect["Id"], image.id());
    assert_eq!(inspect["RepoTags"], serde_json::json!([name]));
    assert_eq!(inspect["RepoDigests"], serde_json::json!([registry.image(&format!("tests/busybox@{digest}"))]));
    let (os, arch) = host_platform().split_once('/').unwrap();
    assert_eq!(inspect["Os"], os);
    assert_eq!(inspect["Architecture"], arch.split('/').next().unwrap());
    assert_eq!(inspect["RootFS"]["Layers"], serde_json::json!(image.diff_ids()));
    let size = inspect["Size"].as_u64().expect("Size is a number");
    let tar_total: u64 = image.layers.iter().map(|l| l.tar_size).sum();
    let busybox_size = std::fs::metadata(crate::util::BUSYBOX).unwrap().len();
    assert!(size >= busybox_size && size <= tar_total, "Size {size} is not the uncompressed size (≤ {tar_total})");
    assert_eq!(env.inspect(&name, "{{.Id}}"), image.id());

    // The unpacked layers are in the store under their chain ids.
    let chains = image.chain_ids();
    let bottom = env.layer_diff(&chains[0]);
    assert_eq!(std::fs::read(bottom.join("bin/busybox")).unwrap(), std::fs::read(crate::util::BUSYBOX).unwrap());
    assert_eq!(std::fs::read_link(bottom.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert_eq!(std::fs::read_to_string(env.layer_diff(&chains[1]).join("app/hello.txt")).unwrap(), "hello\n");
    env.assert_store_ok();

    // A second pull downloads nothing.
    let again = env.berth_ok(&["pull", &name]);
    assert!(again.contains("Image is up to date"), "{again}");

    // -q prints the name only.
    let quiet_env = TestEnv::new();
    assert_eq!(quiet_env.berth_ok(&["pull", "-q", &name]), format!("{name}\n"));
}

#[test]
fn pull_docker_schema2_image() {
    let image = OciImageBuilder::busybox().format(Format::Docker).build();
    assert_eq!(image.manifest_media_type, crate::util::DOCKER_MANIFEST);
    let (registry, env) = pull_fresh(&image, "tests/docker", "v2");
    let name = registry.image("tests/docker:v2");
    let inspect = env.inspect_json(&name);
    assert_eq!(inspect["Id"], image.id());
    assert_eq!(inspect["ManifestDigest"], image.manifest_digest);
    assert_eq!(inspect["RootFS"]["Layers"], serde_json::json!(image.diff_ids()));
    // The manifest is stored as served, Docker media types and all.
    let stored = std::fs::read(env.root.join("blobs/sha256").join(image.manifest_digest.trim_start_matches("sha256:")))
        .expect("stored manifest blob");
    assert_eq!(stored, image.manifest);
    assert!(env.layer_diff(&image.chain_ids()[0]).join("bin/busybox").is_file());
    env.assert_store_ok();
}

/// An index with amd64, arm64, arm/v6 and arm/v7 images, each with a /platform file.
fn four_platform_index(format: Format) -> BuiltIndex {
    BuiltIndex::of_platforms(format, &["linux/amd64", "linux/arm64", "linux/arm/v6", "linux/arm/v7"])
}

fn check_platform_pulls(format: Format) {
    let index = four_platform_index(format);
    let registry = Registry::start();
    let digest = registry.push_index(&index, "tests/multi", "latest");
    let name = registry.image("tests/multi:latest");

    let env = TestEnv::new();
    let out = env.berth_ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {digest}")), "pull should report the index digest:\n{out}");
    let host = index.image_for(host_platform());
    assert_eq!(env.inspect(&name, "{{.Id}}"), host.id());

    for (platform, arch, variant) in
        [("linux/arm64", "arm64", ""), ("linux/arm/v7", "arm", "v7"), ("linux/arm/v6", "arm", "v6")]
    {
        let env = TestEnv::new();
        env.berth_ok(&["pull", "--platform", platform, &name]);
        let wanted = index.image_for(platform);
        assert_eq!(env.inspect(&name, "{{.Id}}"), wanted.id(), "{platform}");
        assert_eq!(env.inspect(&name, "{{.Architecture}}"), arch, "{platform}");
        assert_eq!(env.inspect(&name, "{{.Os}}"), "linux", "{platform}");
        let shown_variant = env.inspect(&name, "{{.Variant}}");
        if variant.is_empty() {
            assert!(["", "<no value>", "<nil>", "null"].contains(&shown_variant.as_str()), "{shown_variant}");
        } else {
            assert_eq!(shown_variant, variant, "{platform}");
        }
        let content = std::fs::read_to_string(env.layer_diff(&wanted.chain_ids()[0]).join("platform")).unwrap();
        assert_eq!(content, format!("{platform}\n"));
        // The image is known by the index digest it was pulled through.
        let digests = env.inspect_json(&name)["RepoDigests"].clone();
        assert!(digests.to_string().contains(&digest), "RepoDigests {digests} lacks the index digest {digest}");
        env.assert_store_ok();
    }

    let env = TestEnv::new();
    let line = env.berth_fails_with(1, &["pull", "--platform", "linux/s390x", &name]);
    assert!(line.contains("s390x") && line.contains("linux/arm64"), "should name wanted and available: {line}");
    assert_nothing_half_made(&env);
}

#[test]
fn pull_oci_index_picks_the_platform() {
    check_platform_pulls(Format::Oci);
}

#[test]
fn pull_docker_manifest_list_picks_the_platform() {
    check_platform_pulls(Format::Docker);
}

#[test]
fn pull_rejects_a_malformed_platform() {
    let env = TestEnv::new();
    let line = env.berth_fails_with(1, &["pull", "--platform", "linux", "127.0.0.1:1/x:y"]);
    assert!(line.contains("platform"), "{line}");
}

fn check_compression(compression: Compression) {
    let big = noise(300 << 10, 7);
    let image = OciImageBuilder::new()
        .layer_entries(
            vec![
                TarEntry::dir("data"),
                TarEntry::file("data/text", "some text\n".repeat(1000)),
                TarEntry::file("data/noise", big.clone()),
                TarEntry::file_mode("data/script", 0o755, "#!/bin/sh\necho hi\n"),
            ],
            compression,
        )
        .build();
    let (registry, env) = pull_fresh(&image, "tests/compressed", "latest");
    let diff = env.layer_diff(&image.chain_ids()[0]);
    assert_eq!(std::fs::read(diff.join("data/noise")).unwrap(), big);
    assert_eq!(std::fs::read_to_string(diff.join("data/text")).unwrap(), "some text\n".repeat(1000));
    assert_eq!(std::fs::metadata(diff.join("data/script")).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(env.inspect(&registry.image("tests/compressed"), "{{.Id}}"), image.id());
    env.assert_store_ok();
}

#[test]
fn pull_gzip_layer() {
    check_compression(Compression::Gzip);
}

#[test]
fn pull_zstd_layer() {
    check_compression(Compression::Zstd);
}

#[test]
fn pull_uncompressed_layer() {
    check_compression(Compression::None);
}

#[test]
fn pull_image_mixing_compressions() {
    let image = OciImageBuilder::new()
        .layer_entries(vec![TarEntry::file("one", "1")], Compression::Gzip)
        .layer_entries(vec![TarEntry::file("two", "2")], Compression::Zstd)
        .layer_entries(vec![TarEntry::file("three", "3")], Compression::None)
        .build();
    let (_registry, env) = pull_fresh(&image, "tests/mixed", "latest");
    for (chain, (file, content)) in image.chain_ids().iter().zip([("one", "1"), ("two", "2"), ("three", "3")]) {
        assert_eq!(std::fs::read_to_string(env.layer_diff(chain).join(file)).unwrap(), content);
    }
    env.assert_store_ok();
}

#[test]
fn whiteouts_and_opaque_dirs_become_overlay_format() {
    let lower = vec![
        TarEntry::dir("etc"),
        TarEntry::file("etc/motd", "welcome\n"),
        TarEntry::file("etc/keep", "keep\n"),
        TarEntry::dir("var"),
        TarEntry::dir("var/cache"),
        TarEntry::file("var/cache/a", "a"),
        TarEntry::dir("var/cache/sub"),
        TarEntry::file("var/cache/sub/b", "b"),
        TarEntry::dir("gone"),
        TarEntry::file("gone/x", "x"),
    ];
    let upper = vec![
        TarEntry::dir("etc"),
        TarEntry::whiteout("etc/motd"),
        TarEntry::whiteout("gone"),
        TarEntry::dir("var"),
        TarEntry::dir("var/cache"),
        TarEntry::opaque("var/cache"),
        TarEntry::file("var/cache/new", "new"),
    ];
    let image =
        OciImageBuilder::new().layer_entries(lower, Compression::Gzip).layer_entries(upper, Compression::Gzip).build();
    let (_registry, env) = pull_fresh(&image, "tests/whiteouts", "latest");
    let chains = image.chain_ids();
    let lower_diff = env.layer_diff(&chains[0]);
    let upper_diff = env.layer_diff(&chains[1]);

    // The lower layer is untouched.
    assert_eq!(std::fs::read_to_string(lower_diff.join("etc/motd")).unwrap(), "welcome\n");
    assert!(lower_diff.join("var/cache/sub/b").is_file());

    // Whiteouts are 0/0 character devices, opaque dirs carry the overlay xattr.
    assert_whiteout(&upper_diff.join("etc/motd"));
    assert_whiteout(&upper_diff.join("gone"));
    let opaque = format!("{}opaque", overlay_prefix(&env));
    assert_eq!(get_xattr(&upper_diff.join("var/cache"), &opaque).as_deref(), Some(&b"y"[..]), "{opaque} on var/cache");
    assert_eq!(get_xattr(&upper_diff.join("etc"), &opaque), None, "etc is not opaque");
    assert_eq!(std::fs::read_to_string(upper_diff.join("var/cache/new")).unwrap(), "new");
    // The markers themselves are not left as files.
    for marker in [".wh.motd", ".wh.gone", ".wh..wh..opq"] {
        assert!(find_named(&upper_diff, marker).is_empty(), "{marker} left in the unpacked layer");
    }
    env.assert_store_ok();
}

#[test]
fn hard_links_stay_hard_links() {
    let image = OciImageBuilder::new()
        .layer_entries(
            vec![
                TarEntry::dir("bin"),
                TarEntry::file_mode("bin/tool", 0o755, "#!/bin/sh\n"),
                TarEntry::hardlink("bin/tool-alias", "bin/tool"),
                TarEntry::dir("lib"),
                TarEntry::hardlink("lib/tool-copy", "bin/tool"),
            ],
            Compression::Gzip,
        )
        .build();
    let (_registry, env) = pull_fresh(&image, "tests/hardlinks", "latest");
    let diff = env.layer_diff(&image.chain_ids()[0]);
    let original = std::fs::metadata(diff.join("bin/tool")).unwrap();
    for link in ["bin/tool-alias", "lib/tool-copy"] {
        let meta = std::fs::symlink_metadata(diff.join(link)).unwrap();
        assert_eq!(meta.ino(), original.ino(), "{link} is not a hard link to bin/tool");
    }
    assert_eq!(original.nlink(), 3);
    env.assert_store_ok();
}

/// Shapes real layer tarballs have: "./"-prefixed paths and a "./" entry, files whose parent
/// directories have no entry of their own, absolute and dangling symlinks (legitimate as long as
/// nothing is written through them), setuid modes, mtimes, and empty and repeated layers.
#[test]
fn real_world_tar_shapes_unpack() {
    let empty = LayerSpec::new(Vec::new(), Compression::Gzip);
    let image = OciImageBuilder::new()
        .layer(empty.clone())
        .layer_entries(
            vec![
                TarEntry::Dir { path: "./".into(), mode: 0o755 },
                TarEntry::dir("./bin"),
                TarEntry::file_mode("./bin/tool", 0o4755, "#!/bin/sh\n"),
                TarEntry::symlink("./bin/abs", "/bin/tool"),
                TarEntry::symlink("./bin/dangling", "/nonexistent/target"),
                TarEntry::symlink("./etc-link", "/etc"),
                TarEntry::file("usr/local/share/deep/file", "implicit parents"),
            ],
            Compression::Gzip,
        )
        .layer(empty)
        .build();
    assert_eq!(image.layers[0].digest, image.layers[2].digest, "the two empty layers should be one blob");
    let (registry, env) = pull_fresh(&image, "tests/shapes", "latest");
    let chains = image.chain_ids();
    assert_eq!(chains.len(), 3);
    let diff = env.layer_diff(&chains[1]);
    let tool = std::fs::metadata(diff.join("bin/tool")).unwrap();
    assert_eq!(tool.mode() & 0o7777, 0o4755, "setuid mode lost");
    assert_eq!(tool.mtime(), 0, "mtime not preserved");
    assert_eq!(std::fs::read_link(diff.join("bin/abs")).unwrap(), Path::new("/bin/tool"));
    assert_eq!(std::fs::read_link(diff.join("bin/dangling")).unwrap(), Path::new("/nonexistent/target"));
    assert_eq!(std::fs::read_link(diff.join("etc-link")).unwrap(), Path::new("/etc"));
    assert_eq!(std::fs::read_to_string(diff.join("usr/local/share/deep/file")).unwrap(), "implicit parents");
    assert_eq!(std::fs::metadata(&diff).unwrap().mode() & 0o7777, 0o755);
    for chain in [&chains[0], &chains[2]] {
        assert_eq!(crate::util::list_dir(&env.layer_diff(chain)), Vec::<String>::new(), "empty layer not empty");
    }
    let inspect = env.inspect_json(&registry.image("tests/shapes"));
    assert_eq!(inspect["RootFS"]["Layers"], serde_json::json!(image.diff_ids()));
    env.assert_store_ok();

    // Removing the image removes all three layers and the shared blob.
    env.berth_ok(&["rmi", &registry.image("tests/shapes")]);
    assert_eq!(env.layer_dirs(), Vec::<String>::new());
    assert_eq!(crate::util::list_dir(&env.root.join("blobs/sha256")), Vec::<String>::new());
    env.assert_store_ok();
}

#[test]
fn pull_by_digest_then_by_tag() {
    let image = small_image(&[("f", "by digest")]).build();
    let registry = Registry::start();
    let digest = registry.push(&image, "tests/digest", "v1");
    let env = TestEnv::new();
    let by_digest = registry.image(&format!("tests/digest@{digest}"));
    env.berth_ok(&["pull", &by_digest]);
    let inspect = env.inspect_json(&by_digest);
    assert_eq!(inspect["Id"], image.id());
    assert_eq!(inspect["RepoDigests"], serde_json::json!([by_digest]));
    assert_eq!(inspect["RepoTags"], serde_json::json!([]));
    let listed = env.berth_ok(&["images", "--digests"]);
    assert!(listed.contains(&digest), "images --digests lacks {digest}:\n{listed}");

    // Pulling the tag names the same image; nothing is downloaded twice.
    env.berth_ok(&["pull", &registry.image("tests/digest:v1")]);
    assert_eq!(env.image_ids(), vec![image.id().to_owned()]);
    assert_eq!(env.inspect_json(&by_digest)["RepoTags"], serde_json::json!([registry.image("tests/digest:v1")]));

    // A digest that the registry does not have.
    let missing = registry.image(&format!("tests/digest@sha256:{}", "0".repeat(64)));
    env.berth_fails_with(1, &["pull", &missing]);
    env.assert_store_ok();
}

#[test]
fn pull_verifies_a_digest_reference() {
    // The fake registry answers a digest reference with a manifest of another digest.
    let good = small_image(&[("f", "good")]).build();
    let fake = FakeRegistry::start();
    fake.add_image(&good, "latest");
    let other = format!("sha256:{}", "ab".repeat(32));
    fake.state
        .lock()
        .unwrap()
        .manifests
        .insert(other.clone(), (good.manifest_media_type.into(), good.manifest.clone()));
    let env = TestEnv::new();
    env.berth_fails_with(1, &["pull", &fake.image(&format!("tests/x@{other}"))]);
    assert_nothing_half_made(&env);
}

// ---------------------------------------------------------------------------------------------
// Listing, tagging, removing
// ---------------------------------------------------------------------------------------------

#[test]
fn images_lists_filters_and_formats() {
    let registry = Registry::start();
    let old = OciImageBuilder::new().layer(busybox_layer()).comment("old").build();
    let new = OciImageBuilder::new().layer(busybox_layer()).comment("new").created("2025-01-01T00:00:00Z").build();
    let other = small_image(&[("other", "x")]).build();
    let env = TestEnv::new();
    registry.push(&old, "tests/app", "latest");
    env.berth_ok(&["pull", &registry.image("tests/app:latest")]);
    registry.push(&new, "tests/app", "latest");
    let other_digest = registry.push(&other, "tests/other", "1");
    env.berth_ok(&["pull", &registry.image("tests/app:latest")]);
    env.berth_ok(&["pull", &registry.image("tests/other:1")]);
    let short = |id: &str| id.trim_start_matches("sha256:")[..12].to_owned();

    // Table: a header and one row per name, the old image now <none>.
    let table = env.berth_ok(&["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY") && lines[0].contains("IMAGE ID"), "{table}");
    assert_eq!(lines.len(), 4, "{table}");
    assert!(table.contains(&short(new.id())) && table.contains(&short(old.id())) && table.contains(&short(other.id())));
    let app_row = lines.iter().find(|l| l.contains(&short(new.id()))).unwrap();
    assert!(app_row.starts_with(&registry.image("tests/app")) && app_row.contains("latest"), "{app_row}");

    // -q: short ids, one per image.
    let mut quiet: Vec<String> = env.berth_ok(&["images", "-q"]).lines().map(str::to_owned).collect();
    quiet.sort();
    let mut expected = vec![short(new.id()), short(old.id()), short(other.id())];
    expected.sort();
    assert_eq!(quiet, expected);

    // --digests adds the digest column.
    let with_digests = env.berth_ok(&["images", "--digests"]);
    assert!(with_digests.lines().next().unwrap().contains("DIGEST"));
    assert!(with_digests.contains(&other_digest), "{with_digests}");

    // --format json: one object per row.
    let rows: Vec<Value> = env
        .berth_ok(&["images", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    assert_eq!(rows.len(), 3);
    let other_row = rows.iter().find(|r| r["Tag"] == "1").expect("row for tests/other:1");
    assert_eq!(other_row["Repository"], registry.image("tests/other"));
    assert_eq!(other_row["ID"], short(other.id()));
    assert_eq!(other_row["Digest"], other_digest);

    // Go templates.
    let templated = env.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(templated.lines().any(|l| l == registry.image("tests/other:1")), "{templated}");

    // Filters.
    assert_eq!(env.berth_ok(&["images", "-q", "--filter", "dangling=true"]).trim(), short(old.id()));
    let mut named: Vec<String> =
        env.berth_ok(&["images", "-q", "-f", "dangling=false"]).lines().map(str::to_owned).collect();
    named.sort();
    let mut wanted = vec![short(new.id()), short(other.id())];
    wanted.sort();
    assert_eq!(named, wanted);
    assert_eq!(env.berth_ok(&["images", "-q", "-f", "reference=*/tests/other"]).trim(), short(other.id()));
    assert_eq!(env.berth_ok(&["images", "-q", "-f", "reference=*/tests/app:latest"]).trim(), short(new.id()));
    assert_eq!(env.berth_ok(&["images", "-q", "-f", "reference=nomatch*"]), "");
    let (code, stderr) = env.berth_err(&["images", "-f", "bogus=1"]);
    assert_eq!(code, 125);
    crate::util::assert_one_error_line(&stderr);

    // The repository argument.
    assert_eq!(env.berth_ok(&["images", "-q", &registry.image("tests/other")]).trim(), short(other.id()));
}

#[test]
fn tag_rmi_and_shared_layers() {
    let registry = Registry::start();
    let base = busybox_layer();
    let a = OciImageBuilder::new()
        .layer(base.clone())
        .layer_entries(vec![TarEntry::file("a", "a")], Compression::Gzip)
        .build();
    let b = OciImageBuilder::new()
        .layer(base.clone())
        .layer_entries(vec![TarEntry::file("b", "b")], Compression::Gzip)
        .build();
    assert_eq!(a.chain_ids()[0], b.chain_ids()[0], "the test images should share their base layer");
    registry.push(&a, "tests/a", "latest");
    registry.push(&b, "tests/b", "latest");
    let (name_a, name_b) = (registry.image("tests/a:latest"), registry.image("tests/b:latest"));
    // A search registry that is never contacted: tag and lookup qualify short names with it.
    let env = TestEnv::with_config("[registries]\nsearch = [\"registry.invalid\"]\n");
    env.berth_ok(&["pull", &name_a]);
    env.berth_ok(&["pull", &name_b]);
    assert_eq!(env.layer_dirs().len(), 3);

    // tag: another name for the same image, short names go to the default registry.
    env.berth_ok(&["tag", &name_a, "myapp:v1"]);
    env.berth_ok(&["image", "tag", b.id(), &registry.image("tests/b:extra")]);
    assert_eq!(env.inspect("myapp:v1", "{{.Id}}"), a.id());
    assert_eq!(env.inspect(&registry.image("tests/b:extra"), "{{.Id}}"), b.id());
    let tags = env.inspect_json(&name_a)["RepoTags"].clone();
    assert!(tags.to_string().contains("registry.invalid/myapp:v1"), "{tags}");
    let line = env.berth_fails_with(1, &["tag", "nosuchimage", "x:y"]);
    assert!(line.contains("nosuchimage"), "{line}");
    env.berth_fails_125(&["tag", &name_a, "Bad:Name!"]);

    // rmi of one of several names only untags.
    let out = env.berth_ok(&["rmi", "myapp:v1"]);
    assert!(out.contains("Untagged: registry.invalid/myapp:v1") && !out.contains("Deleted"), "{out}");
    assert_eq!(env.image_ids().len(), 2);
    // rmi by id of an image with several names needs -f.
    let (code, _) = env.berth_err(&["rmi", b.id()]);
    assert_ne!(code, 0);
    assert_eq!(env.image_ids().len(), 2);

    // Removing a removes its own layer but not the shared base.
    let out = env.berth_ok(&["rmi", &name_a]);
    assert!(out.contains(&format!("Deleted: {}", a.id())), "{out}");
    let layers = env.layer_dirs();
    let hex = |c: &str| c.trim_start_matches("sha256:").to_owned();
    assert!(layers.contains(&hex(&a.chain_ids()[0])), "shared base layer removed: {layers:?}");
    assert!(!layers.contains(&hex(&a.chain_ids()[1])), "a's own layer kept: {layers:?}");
    assert!(layers.contains(&hex(&b.chain_ids()[1])));
    for blob in [a.id(), &a.manifest_digest, &a.layers[1].digest] {
        assert!(!env.root.join("blobs/sha256").join(hex(blob)).exists(), "blob {blob} of a kept");
    }
    env.assert_store_ok();

    // Removing the last user removes everything.
    env.berth_ok(&["rmi", "-f", b.id()]);
    assert_eq!(env.image_ids(), Vec::<String>::new());
    assert_eq!(env.layer_dirs(), Vec::<String>::new());
    assert_eq!(crate::util::list_dir(&env.root.join("blobs/sha256")), Vec::<String>::new());
    env.assert_store_ok();

    // rmi of something unknown fails with one error line.
    let (code, stderr) = env.berth_err(&["rmi", "nosuchimage"]);
    assert_ne!(code, 0);
    assert!(crate::util::assert_one_error_line(&stderr).contains("nosuchimage"));
}

/// With no search registries configured, a short name given to `tag` must still be found by
/// the commands that look images up.
#[test]
fn short_name_tag_is_found_without_search_registries() {
    let image = small_image(&[("f", "x")]).build();
    let (registry, env) = pull_fresh(&image, "tests/short", "latest");
    env.berth_ok(&["tag", &registry.image("tests/short:latest"), "shorty:v1"]);
    assert_eq!(env.inspect("shorty:v1", "{{.Id}}"), image.id());
}

#[test]
fn image_prune_removes_dangling_images_only() {
    let registry = Registry::start();
    let base = busybox_layer();
    let v1 =
        OciImageBuilder::new().layer(base.clone()).layer_entries(vec![TarEntry::file("v", "1")], Compression::Gzip);
    let v2 = OciImageBuilder::new().layer(base).layer_entries(vec![TarEntry::file("v", "2")], Compression::Gzip);
    let (v1, v2) = (v1.build(), v2.build());
    let env = TestEnv::new();
    let name = registry.image("tests/app:latest");
    registry.push(&v1, "tests/app", "latest");
    env.berth_ok(&["pull", &name]);
    registry.push(&v2, "tests/app", "latest");
    env.berth_ok(&["pull", &name]);
    assert_eq!(env.image_ids().len(), 2);

    // Without -f and without a terminal, nothing happens.
    let (code, _) = env.berth_err(&["image", "prune"]);
    assert_ne!(code, 0);
    assert_eq!(env.image_ids().len(), 2);

    let out = env.berth_ok(&["image", "prune", "-f"]);
    assert!(out.contains(v1.id()), "{out}");
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(env.image_ids(), vec![v2.id().to_owned()]);
    let layers = env.layer_dirs();
    assert_eq!(layers.len(), 2, "{layers:?}");
    assert!(!layers.contains(&v1.chain_ids()[1].trim_start_matches("sha256:").to_owned()));
    env.assert_store_ok();
    // Nothing dangling left: prune again removes nothing.
    let out = env.berth_ok(&["image", "prune", "-f"]);
    assert!(!out.contains("deleted"), "{out}");
    assert_eq!(env.image_ids(), vec![v2.id().to_owned()]);
}

#[test]
fn history_shows_one_row_per_history_entry() {
    let image = OciImageBuilder::busybox()
        .layer_entries(vec![TarEntry::file("x", "x")], Compression::Gzip)
        .comment("built for tests")
        .build();
    let (registry, env) = pull_fresh(&image, "tests/history", "latest");
    let name = registry.image("tests/history:latest");
    let created_by = env.berth_ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &name]);
    let lines: Vec<&str> = created_by.lines().collect();
    assert_eq!(lines.len(), 2, "{created_by}");
    assert!(lines[0].contains("layer 1"), "newest first: {created_by}");
    assert!(lines[1].contains("layer 0"), "{created_by}");
    let quiet = env.berth_ok(&["history", "-q", &name]);
    let ids: Vec<&str> = quiet.lines().collect();
    assert_eq!(ids, vec![&image.id()["sha256:".len().."sha256:".len() + 12], "<missing>"]);
    let table = env.berth_ok(&["image", "history", &name]);
    assert!(table.starts_with("IMAGE") && table.contains("built for tests"), "{table}");
    let json_rows = env.berth_ok(&["history", "--format", "json", &name]);
    for line in json_rows.lines() {
        let row: Value = serde_json::from_str(line).expect("json row");
        assert!(row["Size"].is_u64(), "{row}");
    }
    env.berth_fails_with(1, &["history", "nosuchimage"]);
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

#[test]
fn pull_without_credentials_from_an_auth_registry_fails() {
    let registry = Registry::start_with_htpasswd("alice", "wonderland");
    let image = small_image(&[("secret", "s")]).build();
    registry.push(&image, "private/app", "latest");
    let env = TestEnv::new();
    let line = env.berth_fails_with(1, &["pull", &registry.image("private/app:latest")]);
    let lower = line.to_lowercase();
    assert!(
        lower.contains("unauthorized") || lower.contains("authentication") || lower.contains("credentials"),
        "the error should say that authentication is needed: {line}"
    );
    assert!(line.contains(&registry.addr), "the error should name the registry: {line}");
    assert_nothing_half_made(&env);
}

#[test]
fn malformed_references_are_rejected() {
    let env = TestEnv::new();
    for bad in [
        "",
        "upper/Case",
        "UPPERCASE",
        "has space",
        "name:",
        "name:-tag",
        "name@sha256:1234",
        "name@md5:0123456789abcdef0123456789abcdef",
        "127.0.0.1:99999999/x",
        "a//b",
        &format!("x:{}", "t".repeat(200)),
    ] {
        // Rejected while parsing, before any network access.
        let line = env.berth_fails_with(1, &["pull", bad]);
        assert!(line.contains("invalid reference format"), "{bad:?}: {line}");
    }
    assert_nothing_half_made(&env);
}

#[test]
fn unknown_repository_or_tag_fails() {
    let registry = Registry::start();
    registry.push(&small_image(&[("f", "x")]).build(), "tests/known", "v1");
    let env = TestEnv::new();
    let line = env.berth_fails_with(1, &["pull", &registry.image("tests/known:nosuchtag")]);
    assert!(line.contains("nosuchtag") && line.contains("not found"), "{line}");
    let line = env.berth_fails_with(1, &["pull", &registry.image("tests/unknown:v1")]);
    assert!(line.contains("tests/unknown"), "{line}");
    assert_nothing_half_made(&env);
}

#[test]
fn nothing_listening_fails_quickly() {
    let port = free_port();
    let env = TestEnv::new();
    let start = Instant::now();
    let line = env.berth_fails_with(1, &["pull", &format!("127.0.0.1:{port}/tests/x:latest")]);
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert!(line.to_lowercase().contains("refused"), "the error should say the connection was refused: {line}");
    assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
    assert_nothing_half_made(&env);
}

/// An image with one big incompressible gzip layer (so a transfer takes a while).
fn big_image(megabytes: usize) -> BuiltImage {
    OciImageBuilder::new()
        .layer_entries(vec![TarEntry::file("big", noise(megabytes << 20, 42))], Compression::Gzip)
        .build()
}

#[test]
fn registry_dying_mid_transfer_fails_cleanly() {
    let image = big_image(1);
    let fake = FakeRegistry::start();
    fake.add_image(&image, "latest");
    fake.set_mode(&image.layers[0].digest, BlobMode::DieHalfway);
    let env = TestEnv::new();
    let line = env.berth_fails_with(1, &["pull", &fake.image("tests/dies:latest")]);
    assert!(line.contains(&image.layers[0].digest) || line.contains(&fake.addr), "{line}");
    assert_nothing_half_made(&env);
}

#[test]
fn blob_with_the_wrong_digest_is_rejected() {
    let image = big_image(1);
    let fake = FakeRegistry::start();
    fake.add_image(&image, "latest");
    fake.set_mode(&image.layers[0].digest, BlobMode::Corrupt);
    let env = TestEnv::new();
    let line = env.berth_fails_with(1, &["pull", &fake.image("tests/corrupt:latest")]);
    assert!(line.contains("digest"), "{line}");
    assert_nothing_half_made(&env);
}

#[test]
fn garbled_layer_is_rejected() {
    let image = big_image(1);
    let fake = FakeRegistry::start();
    fake.add_image(&image, "latest");
    fake.set_mode(&image.layers[0].digest, BlobMode::Garbled);
    let env = TestEnv::new();
    env.berth_fails_with(1, &["pull", &fake.image("tests/garbled:latest")]);
    assert_nothing_half_made(&env);
}

#[test]
fn corrupt_config_blob_is_rejected() {
    let image = small_image(&[("f", "x")]).build();
    let fake = FakeRegistry::start();
    fake.add_image(&image, "latest");
    fake.set_mode(&image.config_digest, BlobMode::Corrupt);
    let env = TestEnv::new();
    let line = env.berth_fails_with(1, &["pull", &fake.image("tests/corrupt:latest")]);
    assert!(line.contains("digest"), "{line}");
    assert_nothing_half_made(&env);
}

/// `image` with its config replaced by `edit(config)`, and the manifest updated to match.
fn with_edited_config(image: &BuiltImage, edit: impl FnOnce(&mut Value)) -> BuiltImage {
    let mut config: Value = serde_json::from_slice(&image.config).unwrap();
    edit(&mut config);
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = crate::util::sha256_digest(&config);
    let mut manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
    manifest["config"]["digest"] = Value::from(config_digest.clone());
    manifest["config"]["size"] = Value::from(config.len());
    let manifest = serde_json::to_vec(&manifest).unwrap();
    BuiltImage {
        config,
        config_digest,
        manifest_digest: crate::util::sha256_digest(&manifest),
        manifest,
        ..image.clone()
    }
}

#[test]
fn layer_not_matching_its_diff_id_is_rejected() {
    let image = small_image(&[("f", "x")]).build();
    let wrong = format!("sha256:{}", "1".repeat(64));
    let image = with_edited_config(&image, |c| c["rootfs"]["diff_ids"][0] = Value::from(wrong.clone()));
    let fake = FakeRegistry::start();
    fake.add_image(&image, "latest");
    let env = TestEnv::new();
    let line = env.berth_fails_with(1, &["pull", &fake.image("tests/diffid:latest")]);
    assert!(line.contains("diff id") || line.contains(&wrong), "{line}");
    assert_nothing_half_made(&env);
}

#[test]
fn config_listing_fewer_layers_than_the_manifest_is_rejected() {
    let image = small_image(&[("f", "x")]).layer_entries(vec![TarEntry::file("g", "y")], Compression::Gzip).build();
    let image = with_edited_config(&image, |c| {
        c["rootfs"]["diff_ids"].as_array_mut().unwrap().pop();
    });
    let fake = FakeRegistry::start();
    fake.add_image(&image, "latest");
    let env = TestEnv::new();
    env.berth_fails_with(1, &["pull", &fake.image("tests/short:latest")]);
    assert_nothing_half_made(&env);
}

#[test]
fn missing_layer_blob_fails_cleanly() {
    let image = small_image(&[("f", "x")]).layer_entries(vec![TarEntry::file("g", "y")], Compression::Gzip).build();
    let fake = FakeRegistry::start();
    fake.add_image(&image, "latest");
    fake.state.lock().unwrap().blobs.remove(&image.layers[1].digest);
    let env = TestEnv::new();
    let start = Instant::now();
    let line = env.berth_fails_with(1, &["pull", &fake.image("tests/missing:latest")]);
    assert!(line.contains(&image.layers[1].digest), "the error should name the missing blob: {line}");
    assert!(start.elapsed() < Duration::from_secs(30), "a 404 should not be retried for long");
    assert_nothing_half_made(&env);
}

#[test]
fn garbage_manifest_is_rejected() {
    let fake = FakeRegistry::start();
    fake.state
        .lock()
        .unwrap()
        .manifests
        .insert("latest".into(), (crate::util::OCI_MANIFEST.into(), b"<html>surprise</html>".to_vec()));
    let env = TestEnv::new();
    env.berth_fails_with(1, &["pull", &fake.image("tests/garbage:latest")]);
    assert_nothing_half_made(&env);
}

#[test]
fn broken_transfer_is_resumed() {
    let image = big_image(1);
    let fake = FakeRegistry::start();
    fake.add_image(&image, "latest");
    let layer = image.layers[0].digest.clone();
    fake.set_mode(&layer, BlobMode::CutOnce);
    let env = TestEnv::new();
    env.berth_ok(&["pull", &fake.image("tests/flaky:latest")]);
    assert_eq!(env.image_ids(), vec![image.id().to_owned()]);
    let requests: Vec<_> = fake.blob_requests().into_iter().filter(|(d, _)| *d == layer).collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let half = image.layers[0].blob.len() / 2;
    let resumed_at = range_start(requests[1].1.as_deref()).unwrap_or(0);
    assert!(resumed_at > 0 && resumed_at <= half, "the retry should resume, not restart: {requests:?}");
    env.assert_store_ok();
}

/// A layer whose entries try to write outside the layer directory, plus a victim file outside
/// that the test checks afterwards.
fn check_escape_refused(entries: impl Fn(&Path) -> Vec<TarEntry>) {
    let env = TestEnv::new();
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim"), "original").unwrap();
    let image = OciImageBuilder::new().layer_entries(entries(&outside), Compression::Gzip).build();
    let registry = Registry::start();
    registry.push(&image, "tests/evil", "latest");
    let line = env.berth_fails_with(1, &["pull", &registry.image("tests/evil:latest")]);
    assert!(!line.is_empty());
    assert_eq!(crate::util::list_dir(&outside), vec!["victim".to_owned()], "something was written outside");
    assert_eq!(std::fs::read_to_string(outside.join("victim")).unwrap(), "original");
    assert_eq!(std::fs::metadata(outside.join("victim")).unwrap().nlink(), 1, "victim got a hard link");
    assert!(find_named(env.dir.path(), "escaped").is_empty(), "an escaping entry was written");
    assert_nothing_half_made(&env);
}

/// `../` repeated enough to climb from anywhere in the store to `/`.
fn to_root() -> String {
    "../".repeat(40)
}

#[test]
fn layer_with_dotdot_path_is_refused() {
    check_escape_refused(|outside| {
        vec![
            TarEntry::file("../escaped", "x"),
            TarEntry::file(
                &format!("{}{}/escaped", to_root(), outside.display().to_string().trim_start_matches('/')),
                "x",
            ),
        ]
    });
}

#[test]
fn layer_with_deep_dotdot_path_is_refused() {
    check_escape_refused(|outside| {
        vec![TarEntry::file(
            &format!("a/../../{}{}/escaped", to_root(), outside.display().to_string().trim_start_matches('/')),
            "x",
        )]
    });
}

#[test]
fn layer_writing_through_a_symlink_is_refused() {
    check_escape_refused(|outside| {
        vec![TarEntry::symlink("link", &outside.display().to_string()), TarEntry::file("link/escaped", "x")]
    });
}

#[test]
fn layer_writing_through_a_relative_symlink_is_refused() {
    check_escape_refused(|outside| {
        let relative = format!("{}{}", to_root(), outside.display().to_string().trim_start_matches('/'));
        vec![TarEntry::dir("d"), TarEntry::symlink("d/up", &relative), TarEntry::file("d/up/escaped", "x")]
    });
}

#[test]
fn layer_hard_linking_outside_is_refused() {
    check_escape_refused(|outside| {
        let victim = format!("{}{}/victim", to_root(), outside.display().to_string().trim_start_matches('/'));
        vec![TarEntry::hardlink("escaped", &victim)]
    });
}

#[test]
fn layer_hard_linking_through_a_symlink_is_refused() {
    check_escape_refused(|outside| {
        vec![TarEntry::symlink("out", &outside.display().to_string()), TarEntry::hardlink("escaped", "out/victim")]
    });
}

#[test]
fn concurrent_pulls_of_one_image_both_succeed() {
    let image = OciImageBuilder::busybox()
        .layer_entries(vec![TarEntry::file("big", noise(4 << 20, 3))], Compression::Gzip)
        .layer_entries(vec![TarEntry::file("small", "s")], Compression::Zstd)
        .build();
    let registry = Registry::start();
    registry.push(&image, "tests/concurrent", "latest");
    let env = TestEnv::new();
    let name = registry.image("tests/concurrent:latest");
    let children: Vec<_> = (0..3)
        .map(|_| {
            env.command(["pull", name.as_str()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawning berth")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a concurrent pull failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(env.image_ids(), vec![image.id().to_owned()]);
    assert_eq!(env.layer_dirs().len(), 3);
    env.assert_store_ok();
    assert_eq!(env.staging_dirs(), Vec::<String>::new());
}

#[test]
fn killed_pull_leaves_a_usable_store() {
    let image = OciImageBuilder::new()
        .layer_entries(vec![TarEntry::file("fast", "fast")], Compression::Gzip)
        .layer_entries(vec![TarEntry::file("slow", noise(2 << 20, 9))], Compression::Gzip)
        .build();
    let fake = FakeRegistry::start();
    fake.add_image(&image, "latest");
    let slow = image.layers[1].digest.clone();
    fake.set_mode(&slow, BlobMode::Slow);
    let env = TestEnv::new();
    let name = fake.image("tests/slow:latest");
    let mut child = env
        .command(["pull", name.as_str()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawning berth");
    wait_until(Duration::from_secs(60), "256 KiB of the slow blob are sent", || {
        assert!(child.try_wait().unwrap().is_none(), "berth exited before the slow blob was sent");
        fake.slow_sent.load(Ordering::SeqCst) >= 256 << 10
    });
    child.kill().expect("kill -9");
    child.wait().unwrap();
    assert_eq!(env.berth_ok(&["images", "-q"]), "");

    fake.set_mode(&slow, BlobMode::Normal);
    env.berth_ok(&["pull", &name]);
    assert_eq!(env.image_ids(), vec![image.id().to_owned()]);
    env.assert_store_ok();
    assert_eq!(env.staging_dirs(), Vec::<String>::new());
    let slow_file = env.layer_diff(&image.chain_ids()[1]).join("slow");
    assert_eq!(std::fs::metadata(slow_file).unwrap().len(), 2 << 20);
}
