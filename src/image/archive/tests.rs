//! Round trips through import, save and load, and archives that must be refused.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Cursor, Read, Write};

use serde_json::{Value, json};

use super::load::LoadedImage;
use super::*;
use crate::image::assemble::qualify_name;
use crate::image::import::{ImportRequest, import};
use crate::image::progress::Progress;
use crate::image::reference::DOCKER_HUB;
use crate::image::spec::{
    self, Descriptor, Index, Manifest, ManifestKind, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, Platform,
};
use crate::store::{Store, chain_ids, sha256_digest};

const CREATED: &str = "2024-01-01T00:00:00Z";

struct TestStore {
    _dir: tempfile::TempDir,
    store: Store,
}

fn temp_store() -> TestStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootless = !nix::unistd::geteuid().is_root();
    let store = Store::open(&dir.path().join("root"), &dir.path().join("run"), rootless).expect("store");
    TestStore { _dir: dir, store }
}

enum Member<'a> {
    File(&'a [u8]),
    Symlink(&'a str),
}

/// A tar of `members`, in order; names are written raw so tests can build hostile ones.
fn tar_of(members: &[(&str, Member)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, member) in members {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().expect("gnu header").name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        match member {
            Member::File(bytes) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(bytes.len() as u64);
                h.set_cksum();
                builder.append(&h, *bytes).expect("append");
            }
            Member::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_link_name(target).expect("link name");
                h.set_cksum();
                builder.append(&h, io::empty()).expect("append");
            }
        }
    }
    builder.into_inner().expect("tar")
}

fn rootfs_tar(content: &[u8]) -> Vec<u8> {
    tar_of(&[("etc/hello", Member::File(content)), ("bin/tool", Member::File(b"#!/bin/sh\n"))])
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn import_tar(store: &Store, tarball: Vec<u8>, name: Option<&str>, changes: &[String]) -> String {
    let request = ImportRequest {
        changes,
        message: None,
        source: "test",
        name: name.map(|n| qualify_name(n, DOCKER_HUB).expect("name")),
        created: CREATED,
    };
    import(store, Cursor::new(tarball), &request).expect("import")
}

fn save_bytes(store: &Store, requests: &[SaveRequest], format: ArchiveFormat) -> Vec<u8> {
    let mut out = Vec::new();
    save(store, requests, format, &mut out).expect("save");
    out
}

fn load_bytes(store: &Store, archive: Vec<u8>) -> Result<Vec<LoadedImage>, ArchiveError> {
    load(store, Cursor::new(archive), &Progress::Quiet)
}

/// Every member of a tar, by name.
fn members(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in tar::Archive::new(archive).entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        out.insert(name, bytes);
    }
    out
}

fn assert_store_empty(store: &Store) {
    let _lock = store.lock_images_shared().unwrap();
    assert!(store.images().unwrap().images.is_empty(), "no image may be recorded");
    assert!(store.layer_ids().unwrap().is_empty(), "no layer may be committed");
    assert!(store.blob_digests().unwrap().is_empty(), "no blob may be committed");
}

fn assert_store_consistent(store: &Store) {
    let _lock = store.lock_images_shared().unwrap();
    let report = crate::image::check::check_store(store, false).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

fn request(id: &str, names: &[&str]) -> SaveRequest {
    SaveRequest { id: id.to_owned(), names: names.iter().map(|n| n.to_string()).collect() }
}

#[test]
fn saving_to_a_pipe_writes_into_it_instead_of_replacing_it() {
    use std::os::unix::fs::FileTypeExt;
    let a = temp_store();
    let id = import_tar(&a.store, rootfs_tar(b"hello"), Some("demo:1"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join("pipe");
    nix::unistd::mkfifo(&pipe, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let reader = std::thread::spawn({
        let pipe = pipe.clone();
        move || fs::read(pipe).unwrap()
    });
    save_to_file(&a.store, &[request(&id, &["docker.io/library/demo:1"])], ArchiveFormat::DockerArchive, &pipe)
        .unwrap();
    let archive = reader.join().unwrap();
    assert!(members(&archive).contains_key("manifest.json"));
    assert!(fs::symlink_metadata(&pipe).unwrap().file_type().is_fifo(), "the pipe was replaced");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "a temporary file was left");
}

#[test]
fn docker_archive_round_trip_keeps_id_names_and_config() {
    let a = temp_store();
    let changes = vec![r#"CMD ["/bin/sh"]"#.to_owned()];
    let id = import_tar(&a.store, gzip(&rootfs_tar(b"hello")), Some("demo:1"), &changes);
    let archive = save_bytes(&a.store, &[request(&id, &["docker.io/library/demo:1"])], ArchiveFormat::DockerArchive);

    let files = members(&archive);
    let manifest: Vec<DockerManifestEntry> = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest.len(), 1);
    assert_eq!(manifest[0].repo_tags, Some(vec!["demo:1".to_owned()]));
    assert_eq!(manifest[0].config, format!("blobs/sha256/{}", &id[7..]));
    let layer = &files[&manifest[0].layers[0]];
    assert_eq!(*layer, rootfs_tar(b"hello"), "docker-archive layers are the uncompressed tar");
    assert_eq!(format!("blobs/sha256/{}", &sha256_digest(layer)[7..]), manifest[0].layers[0]);
    assert!(files.contains_key("oci-layout") && files.contains_key("index.json"));
    let repositories: Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert_eq!(repositories["demo"]["1"], json!(&sha256_digest(layer)[7..]));

    let b = temp_store();
    let loaded = load_bytes(&b.store, archive).expect("load");
    assert_eq!(loaded, vec![LoadedImage { id: id.clone(), names: vec!["docker.io/library/demo:1".into()] }]);
    let config = parse_config(&b.store.read_blob(&id).unwrap(), "test").unwrap();
    assert_eq!(config.config.unwrap().cmd, Some(vec!["/bin/sh".to_owned()]));
    assert_store_consistent(&b.store);
}

#[test]
fn oci_archive_round_trip_keeps_the_stored_blobs() {
    let a = temp_store();
    let id = import_tar(&a.store, gzip(&rootfs_tar(b"oci")), Some("quay.io/me/x:2"), &[]);
    let archive = save_bytes(&a.store, &[request(&id, &["quay.io/me/x:2"])], ArchiveFormat::OciArchive);
    let files = members(&archive);
    assert!(!files.contains_key("manifest.json"));
    let index: Index = serde_json::from_slice(&files["index.json"]).unwrap();
    let annotations = index.manifests[0].annotations.as_ref().unwrap();
    assert_eq!(annotations[ANNOTATION_REF_NAME], "quay.io/me/x:2");

    let b = temp_store();
    let loaded = load_bytes(&b.store, archive).expect("load");
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].names, vec!["quay.io/me/x:2".to_owned()]);
    let blob = |s: &Store| {
        let _lock = s.lock_images_shared().unwrap();
        s.layer(&s.images().unwrap().images[0].layers[0]).unwrap().unwrap().blob_digest
    };
    assert_eq!(blob(&a.store), blob(&b.store), "the gzip blob travels as it is");
    let manifest_digest = |s: &Store| {
        let _lock = s.lock_images_shared().unwrap();
        s.images().unwrap().images[0].manifest_digest.clone()
    };
    assert_eq!(manifest_digest(&a.store), manifest_digest(&b.store), "the OCI manifest is kept");
    assert_store_consistent(&b.store);
}

#[test]
fn images_saved_by_id_load_untagged_and_shared_layers_are_written_once() {
    let a = temp_store();
    let first = import_tar(&a.store, rootfs_tar(b"same"), Some("one"), &[]);
    let second = import_tar(&a.store, rootfs_tar(b"same"), None, &["USER nobody".to_owned()]);
    assert_ne!(first, second);
    let archive = save_bytes(
        &a.store,
        &[request(&first, &["docker.io/library/one:latest"]), request(&second, &[])],
        ArchiveFormat::DockerArchive,
    );
    let layer_members = members(&archive)
        .into_iter()
        .filter(|(name, bytes)| name.starts_with("blobs/sha256/") && bytes.len() > 1000)
        .count();
    assert_eq!(layer_members, 1);
    let b = temp_store();
    let loaded = load_bytes(&b.store, archive).expect("load");
    assert_eq!(loaded.len(), 2);
    assert!(loaded[1].names.is_empty());
    assert_eq!(loaded[1].id, second);
}

#[test]
fn compressed_archives_load() {
    let a = temp_store();
    let id = import_tar(&a.store, rootfs_tar(b"z"), Some("z"), &[]);
    let archive = save_bytes(&a.store, &[request(&id, &["docker.io/library/z:latest"])], ArchiveFormat::OciArchive);
    let zstd_archive = zstd::stream::encode_all(Cursor::new(&archive), 3).unwrap();
    for wrapped in [gzip(&archive), zstd_archive] {
        let b = temp_store();
        assert_eq!(load_bytes(&b.store, wrapped).expect("load")[0].id, id);
    }
}

/// The layout `docker save` wrote before Docker 25: `<v1 id>/layer.tar`, `<hex>.json`, a
/// repeated layer as a symlink to the first, and manifest.json last.
#[test]
fn legacy_docker_archive_with_linked_layers_loads() {
    let layer = rootfs_tar(b"legacy");
    let diff_id = sha256_digest(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id, diff_id]},
    }))
    .unwrap();
    let config_name = format!("{}.json", &sha256_digest(&config)[7..]);
    let manifest = serde_json::to_vec(&json!([{
        "Config": config_name, "RepoTags": ["legacy:old"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"],
    }]))
    .unwrap();
    let archive = tar_of(&[
        ("aaa/layer.tar", Member::File(&layer)),
        ("aaa/VERSION", Member::File(b"1.0")),
        ("bbb/layer.tar", Member::Symlink("../aaa/layer.tar")),
        (&config_name, Member::File(&config)),
        ("manifest.json", Member::File(&manifest)),
    ]);
    let b = temp_store();
    let loaded = load_bytes(&b.store, archive).expect("load");
    assert_eq!(loaded[0].names, vec!["docker.io/library/legacy:old".to_owned()]);
    let _lock = b.store.lock_images_shared().unwrap();
    let image = b.store.images().unwrap().images[0].clone();
    assert_eq!(image.layers, chain_ids(&[diff_id.clone(), diff_id]));
    let manifest = b.store.read_blob(&image.manifest_digest).unwrap();
    assert!(matches!(spec::parse_manifest(&manifest, None), Ok(ManifestKind::Image(m)) if m.layers.len() == 2));
    drop(_lock);
    assert_store_consistent(&b.store);
}

#[test]
fn a_nested_index_resolves_to_the_host_platform() {
    let layer = gzip(&rootfs_tar(b"nested"));
    let diff_id = sha256_digest(&rootfs_tar(b"nested"));
    let host = spec::host_platform();
    let config = serde_json::to_vec(&json!({
        "architecture": host.architecture, "os": host.os,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let descriptor = |media_type: &str, bytes: &[u8], platform: Option<Platform>| Descriptor {
        media_type: media_type.into(),
        digest: sha256_digest(bytes),
        size: bytes.len() as u64,
        platform,
        ..Default::default()
    };
    let manifest = serde_json::to_vec(&Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: descriptor(OCI_CONFIG, &config, None),
        layers: vec![descriptor(OCI_LAYER_GZIP, &layer, None)],
        annotations: None,
    })
    .unwrap();
    let foreign = Platform { architecture: "s390x".into(), os: "linux".into(), ..Default::default() };
    let absent = b"a manifest that is not in the archive";
    let nested = serde_json::to_vec(&Index {
        schema_version: 2,
        media_type: Some(OCI_INDEX.into()),
        manifests: vec![
            descriptor(OCI_MANIFEST, absent, Some(foreign)),
            descriptor(OCI_MANIFEST, &manifest, Some(host.clone())),
        ],
        annotations: None,
    })
    .unwrap();
    let mut top = descriptor(OCI_INDEX, &nested, None);
    top.annotations = Some(BTreeMap::from([(ANNOTATION_REF_NAME.to_owned(), "example.com/multi:1".to_owned())]));
    let index = serde_json::to_vec(&Index { schema_version: 2, manifests: vec![top], ..Default::default() }).unwrap();
    let blob = |bytes: &[u8]| format!("blobs/sha256/{}", &sha256_digest(bytes)[7..]);
    let (nested_name, manifest_name, config_name, layer_name) =
        (blob(&nested), blob(&manifest), blob(&config), blob(&layer));
    let archive = tar_of(&[
        ("oci-layout", Member::File(OCI_LAYOUT.as_bytes())),
        ("index.json", Member::File(&index)),
        (&nested_name, Member::File(&nested)),
        (&manifest_name, Member::File(&manifest)),
        (&config_name, Member::File(&config)),
        (&layer_name, Member::File(&layer)),
    ]);
    let b = temp_store();
    let loaded = load_bytes(&b.store, archive).expect("load");
    assert_eq!(loaded, vec![LoadedImage { id: sha256_digest(&config), names: vec!["example.com/multi:1".into()] }]);
}

/// A saved docker-archive of one small image, its members by name, and the manifest.json.
fn saved_docker_archive() -> (Vec<u8>, DockerManifestEntry) {
    let a = temp_store();
    let id = import_tar(&a.store, gzip(&rootfs_tar(b"victim")), Some("victim"), &[]);
    let archive =
        save_bytes(&a.store, &[request(&id, &["docker.io/library/victim:latest"])], ArchiveFormat::DockerArchive);
    let entry: Vec<DockerManifestEntry> = serde_json::from_slice(&members(&archive)["manifest.json"]).unwrap();
    (archive, entry[0].clone())
}

/// Rebuilds a saved archive with one member changed (None: removed).
fn rebuilt(archive: &[u8], name: &str, replacement: Option<&[u8]>) -> Vec<u8> {
    let files = members(archive);
    let kept: Vec<(&str, Member)> = files
        .iter()
        .filter(|(n, _)| !n.ends_with('/'))
        .filter_map(|(n, bytes)| {
            let bytes = if n == name { replacement? } else { bytes.as_slice() };
            Some((n.as_str(), Member::File(bytes)))
        })
        .collect();
    tar_of(&kept)
}

fn assert_load_fails(archive: Vec<u8>, expected: &str) {
    let b = temp_store();
    let error = load_bytes(&b.store, archive).expect_err("a bad archive must not load");
    let text = error.to_string();
    assert!(text.contains(expected), "error {text:?} should mention {expected:?}");
    assert!(!text.contains('\n'));
    assert_store_empty(&b.store);
}

#[test]
fn a_config_that_does_not_match_its_name_is_refused() {
    let (archive, entry) = saved_docker_archive();
    let mut config = members(&archive)[&entry.config].clone();
    config.extend_from_slice(b" ");
    assert_load_fails(rebuilt(&archive, &entry.config, Some(&config)), "digest mismatch");
}

#[test]
fn a_layer_with_a_flipped_byte_is_refused() {
    let (archive, entry) = saved_docker_archive();
    let mut layer = members(&archive)[&entry.layers[0]].clone();
    let hello = layer.windows(6).position(|w| w == b"victim").expect("content in layer");
    layer[hello] ^= 0x20;
    assert_load_fails(rebuilt(&archive, &entry.layers[0], Some(&layer)), "digest mismatch");
    // The same flip in a layer not named by its digest is caught by the config's diff id.
    let legacy = rebuilt(&rebuilt(&archive, &entry.layers[0], None), "x", None);
    let mut manifest = serde_json::to_value(vec![entry.clone()]).unwrap();
    manifest[0]["Layers"] = json!(["abc/layer.tar"]);
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = members(&legacy).into_iter().filter(|(n, _)| !n.ends_with('/')).collect();
    files.retain(|(n, _)| n != "manifest.json" && n != "index.json");
    files.push(("abc/layer.tar".into(), layer));
    files.push(("manifest.json".into(), manifest));
    let tar = tar_of(&files.iter().map(|(n, b)| (n.as_str(), Member::File(b))).collect::<Vec<_>>());
    assert_load_fails(tar, "diff id");
}

#[test]
fn an_archive_without_manifest_or_index_is_refused() {
    let (archive, _) = saved_docker_archive();
    let without = rebuilt(&rebuilt(&archive, "manifest.json", None), "index.json", None);
    assert_load_fails(without, "neither manifest.json");
}

#[test]
fn truncated_and_garbage_archives_are_refused() {
    let (archive, _) = saved_docker_archive();
    assert_load_fails(archive[..archive.len() / 2].to_vec(), "truncated");
    let compressed = gzip(&archive);
    assert_load_fails(compressed[..compressed.len() / 2].to_vec(), "reading the archive");
    assert_load_fails(vec![0x42; 4096], "reading the archive");
    assert_load_fails(Vec::new(), "empty");
}

#[test]
fn members_outside_the_archive_are_refused() {
    let (archive, _) = saved_docker_archive();
    let mut files: Vec<(String, Vec<u8>)> = members(&archive).into_iter().filter(|(n, _)| !n.ends_with('/')).collect();
    files.insert(0, ("../escape".into(), b"x".to_vec()));
    let tar = tar_of(&files.iter().map(|(n, b)| (n.as_str(), Member::File(b))).collect::<Vec<_>>());
    assert_load_fails(tar, "outside the archive");
    let link = tar_of(&[("a/layer.tar", Member::Symlink("../../etc/passwd"))]);
    assert_load_fails(link, "outside the archive");
}

#[test]
fn a_layer_that_escapes_its_root_is_refused() {
    let evil = tar_of(&[("../../evil", Member::File(b"x"))]);
    let diff_id = sha256_digest(&evil);
    let config = serde_json::to_vec(&json!({"rootfs": {"type": "layers", "diff_ids": [diff_id]}})).unwrap();
    let config_name = format!("{}.json", &sha256_digest(&config)[7..]);
    let manifest =
        serde_json::to_vec(&json!([{"Config": config_name, "RepoTags": [], "Layers": ["l/layer.tar"]}])).unwrap();
    let archive = tar_of(&[
        ("l/layer.tar", Member::File(&evil)),
        (&config_name, Member::File(&config)),
        ("manifest.json", Member::File(&manifest)),
    ]);
    assert_load_fails(archive, "layer l/layer.tar: unsafe path in layer");
}

#[test]
fn import_refuses_empty_and_corrupt_xz_input() {
    let s = temp_store();
    let request = ImportRequest { changes: &[], message: None, source: "in", name: None, created: CREATED };
    let empty = import(&s.store, Cursor::new(Vec::new()), &request).unwrap_err();
    assert!(empty.to_string().contains("empty"), "{empty}");
    let xz = import(&s.store, Cursor::new(b"\xfd7zXZ\0rest".to_vec()), &request).unwrap_err();
    assert!(xz.to_string().contains("invalid xz data"), "{xz}");
    assert_store_empty(&s.store);
}

#[test]
fn import_records_platform_history_and_message() {
    let s = temp_store();
    let request =
        ImportRequest { changes: &[], message: Some("hello"), source: "in", name: Some("x".into()), created: CREATED };
    let id = import(&s.store, Cursor::new(rootfs_tar(b"h")), &request).unwrap();
    let config = parse_config(&s.store.read_blob(&id).unwrap(), "t").unwrap();
    assert_eq!(config.architecture, spec::host_platform().architecture);
    assert_eq!(config.history[0].comment.as_deref(), Some("hello"));
    assert_eq!(config.history[0].created_by.as_deref(), Some("berth import"));
    assert_eq!(config.rootfs.diff_ids, vec![sha256_digest(&rootfs_tar(b"h"))]);
    let _lock = s.store.lock_images_shared().unwrap();
    let record = s.store.layer(&config.rootfs.diff_ids[0]).unwrap().unwrap();
    assert_eq!(record.size, rootfs_tar(b"h").len() as u64, "a layer's recorded size is its exact tar size");
}
