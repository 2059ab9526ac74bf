//! The entry points fuzzing drives: one function per parser of untrusted input, each taking
//! arbitrary bytes. The cargo-fuzz targets in `fuzz/` call these and nothing else, and the test
//! below feeds every file of `fuzz/corpus/<target>/` to the same function, so a stable
//! `cargo test` replays the corpora (past crashes included) without a nightly toolchain.
//!
//! Each function may only fail by returning; a panic, a hang or an unbounded allocation is the
//! bug fuzzing looks for. Where a parser promises more (a reference prints back as itself, an
//! unpack writes nothing outside its root) the function checks that too.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::build::{dockerfile, ignore};
use crate::compose;
use crate::container::{logfile, logs, mounts, options};
use crate::image::archive;
use crate::image::decode::{self, DecodedReader};
use crate::image::layer::{UnpackOptions, unpack_layer};
use crate::image::reference::Reference;
use crate::image::registry::scope::Scope;
use crate::image::registry::token::{self, Challenge};
use crate::image::spec::{self, ImageConfig, Platform};
use crate::network::dns::message;
use crate::network::ports;

/// What a target runs on one input.
pub type Entry = fn(&[u8]);

/// Every target by name: the name is its `fuzz/fuzz_targets/<name>.rs` and its corpus directory.
pub const TARGETS: &[(&str, Entry)] = &[
    ("reference", reference),
    ("manifest", manifest),
    ("auth", auth),
    ("unpack", unpack),
    ("decompress", decompress),
    ("flags", flags),
    ("archive", image_archive),
    ("log_reader", log_reader),
    ("dockerfile", dockerfile_text),
    ("dockerignore", dockerignore),
    ("compose", compose_file),
    ("interpolate", interpolate),
    ("dns", dns),
];

/// Decompressed output read at most, so a small bomb costs bounded time (the pull path bounds
/// nothing itself: a layer's size is what its digest covers).
const MAX_DECODED: u64 = 16 << 20;

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The first byte picks a variant, the rest is the input.
fn split_selector(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (first, rest),
        None => (0, data),
    }
}

/// An image reference: a parsed one prints back as a reference that parses to itself.
pub fn reference(data: &[u8]) {
    let input = text(data);
    let Ok(parsed) = Reference::parse(&input) else { return };
    let printed = parsed.to_string();
    let again = Reference::parse(&printed).unwrap_or_else(|e| panic!("{input:?} printed as {printed:?}: {e}"));
    assert_eq!(again, parsed, "{input:?} printed as {printed:?}");
    let qualified = parsed.qualified_with("registry.example");
    let _ = (qualified.repo_name(), qualified.tagged_name(), qualified.digested_name());
    let _ = crate::image::reference::familiar_name(&printed);
}

/// Manifest, index and config documents as a registry or archive serves them.
pub fn manifest(data: &[u8]) {
    let (selector, document) = split_selector(data);
    let content_type = [None, Some(spec::OCI_MANIFEST), Some(spec::OCI_INDEX), Some(spec::DOCKER_MANIFEST_LIST)]
        [usize::from(selector % 4)];
    if let Ok(spec::ManifestKind::Index(index)) = spec::parse_manifest(document, content_type) {
        let _ = spec::select_platform(&index, &spec::host_platform());
        for entry in &index.manifests {
            if let Some(platform) = &entry.platform {
                let _ = Platform::parse(&platform.to_string());
            }
        }
    }
    let _ = serde_json::from_slice::<ImageConfig>(document);
    let _ = Platform::parse(&text(document));
}

/// A `WWW-Authenticate` header and a token endpoint's answer.
pub fn auth(data: &[u8]) {
    let (header, reply) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    if let Some(challenge) = Challenge::parse(&text(header)) {
        let _ = challenge.param("realm");
        let _ = token::token_url(&challenge, Some("user"), &[Scope::pull("library/busybox")]);
    }
    let _ = token::token_from(reply);
}

/// A scratch directory of its own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("berth-fuzz-{}-{n}", std::process::id()));
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every path under `dir`, not descending into `skip`.
fn tree(dir: &Path, skip: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path != skip && entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(tree(&path, skip));
        }
        found.push(path);
    }
    found.sort();
    found
}

/// A layer tar, as root would unpack it (devices and trusted xattrs) when run as root: only the
/// root it was given may change; the directories around it hold a decoy each, which must stay.
pub fn unpack(data: &[u8]) {
    let scratch = Scratch::new();
    let root = scratch.0.join("a/b/root");
    std::fs::create_dir_all(&root).expect("scratch root");
    std::fs::write(scratch.0.join("a/decoy"), "x").expect("decoy");
    let before = tree(&scratch.0, &root);
    let opts = if nix::unistd::geteuid().is_root() { UnpackOptions::ROOTFUL } else { UnpackOptions::ROOTLESS };
    let _ = unpack_layer(data, &root, &opts);
    assert_eq!(tree(&scratch.0, &root), before, "the unpack changed something outside its root");
    assert_eq!(std::fs::read(scratch.0.join("a/decoy")).ok().as_deref(), Some(&b"x"[..]));
}

/// gzip, zstd, bzip2 and xz, through the archive reader and the layer decoder of a pull.
pub fn decompress(data: &[u8]) {
    if let Ok((_, decoded)) = decode::decompressing_reader(data) {
        let _ = std::io::copy(&mut decoded.take(MAX_DECODED), &mut std::io::sink());
    }
    if let Ok(decoded) = DecodedReader::new(data) {
        let _ = std::io::copy(&mut decoded.take(MAX_DECODED), &mut std::io::sink());
    }
}

/// The flag parsers of `run`/`create`: the first byte picks the flag.
pub fn flags(data: &[u8]) {
    let (selector, value) = split_selector(data);
    let value = text(value);
    match selector % 9 {
        0 => drop(mounts::parse_volume_flag(&value)),
        1 => drop(mounts::parse_mount_flag(&value)),
        2 => drop(mounts::parse_tmpfs_flag(&value)),
        3 => drop(mounts::parse_volumes_from(&value)),
        4 => drop(ports::parse_publish(&value)),
        5 => drop(ports::parse_expose(&value)),
        6 => drop(options::parse_ulimit(&value)),
        7 => drop(options::parse_memory(&value)),
        _ => drop(crate::sandbox::devices::parse_device(&value)),
    }
}

/// A docker-archive or oci-archive (maybe compressed), extracted in a scratch directory and its
/// documents read, as `load` does before it stages any layer.
pub fn image_archive(data: &[u8]) {
    let scratch = Scratch::new();
    let _ = archive::read_documents(std::io::Cursor::new(data.to_vec()), &scratch.0.join("archive"));
}

/// A k8s-file log as `logs` reads it, with a tail and a time window.
pub fn log_reader(data: &[u8]) {
    let (selector, log) = split_selector(data);
    let scratch = Scratch::new();
    let path = logfile::log_path(&scratch.0);
    let (current, rotated) = match log.iter().position(|&b| b == 0) {
        Some(at) => (&log[at + 1..], Some(&log[..at])),
        None => (log, None),
    };
    std::fs::write(&path, current).expect("scratch log");
    if let Some(rotated) = rotated {
        std::fs::write(path.with_extension("log.1"), rotated).expect("scratch log");
    }
    let since = logs::parse_time("2024-01-02T15:04:05Z", chrono::Utc::now()).ok();
    let options = logs::LogOptions {
        follow: false,
        tail: (selector & 1 == 1).then_some(usize::from(selector >> 1)),
        since: since.filter(|_| selector & 2 == 2),
        until: None,
        timestamps: selector & 4 == 4,
    };
    let mut printer = logs::LogPrinter::new(Vec::new(), Vec::new(), options.timestamps);
    let _ = logs::print_logs(&path, &options, || false, &mut printer);
    let _ = logs::parse_time(&text(current), chrono::Utc::now());
}

pub fn dockerfile_text(data: &[u8]) {
    let _ = dockerfile::parse(data);
}

/// A `.dockerignore`, then the paths of the input's own lines matched against it.
pub fn dockerignore(data: &[u8]) {
    let contents = text(data);
    let Ok(matcher) = ignore::read_ignore_file(&contents) else { return };
    for line in contents.lines().take(64) {
        let _ = matcher.matches(line.trim_start_matches('/'));
        let _ = matcher.may_include_below(line.trim_matches('/'));
    }
    let _ = (matcher.matches("a/b/c"), matcher.patterns());
}

/// A compose file loaded as `berth compose config` would: YAML, interpolation, merge with an
/// override (after a NUL byte), extends, conversion to the model.
pub fn compose_file(data: &[u8]) {
    let scratch = Scratch::new();
    let (main, extra) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let mut files = vec![scratch.0.join("compose.yaml")];
    std::fs::write(&files[0], main).expect("scratch compose file");
    if let Some(extra) = extra {
        files.push(scratch.0.join("compose.override.yaml"));
        std::fs::write(&files[1], extra).expect("scratch compose file");
    }
    let environ = HashMap::from([("TAG".to_owned(), "1.0".to_owned()), ("EMPTY".to_owned(), String::new())]);
    let opts = compose::LoadOptions { files, cwd: scratch.0.clone(), environ, ..Default::default() };
    if let Ok(project) = compose::load(&opts) {
        let _ = compose::load::start_order(&project);
    }
}

struct FixedVars;

impl compose::interpolate::Lookup for FixedVars {
    fn get(&self, name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }
}

/// `${VAR:-default}`-style interpolation, and the `.env` files that feed it.
pub fn interpolate(data: &[u8]) {
    let input = text(data);
    let _ = compose::interpolate::interpolate_str(&input, &FixedVars);
    let _ = compose::dotenv::parse(&input, Path::new("/fuzz/.env"), &FixedVars);
}

/// A DNS message as the container resolver receives a query or an upstream answer.
pub fn dns(data: &[u8]) {
    if let Ok(query) = message::parse_query(data) {
        let records = [message::Record::A(std::net::Ipv4Addr::LOCALHOST), message::Record::Ptr(query.name.clone())];
        let reply = message::response(&query, data, 0, &records, 60);
        let _ = message::answers(&reply);
        let _ = message::parse_reverse_name(&query.name);
    }
    let _ = message::answers(data);
    let _ = message::error_without_question(data, 2);
    let _ = (message::id(data), message::response_rcode(data), message::is_truncated(data));
    let _ = message::read_name(data, 12);
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::TARGETS;

    fn fuzz_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Every corpus file, past crashes included, through the function its target calls.
    #[test]
    fn every_corpus_file_replays_without_a_crash() {
        let mut replayed = 0;
        for (name, entry) in TARGETS {
            let dir = fuzz_dir().join("corpus").join(name);
            let files = names_in(&dir);
            assert!(!files.is_empty(), "{}: an empty corpus", dir.display());
            for file in files {
                let data = std::fs::read(dir.join(&file)).expect("corpus file");
                entry(&data);
                replayed += 1;
            }
        }
        assert!(replayed >= TARGETS.len());
    }

    /// A target in the table has a cargo-fuzz binary and a corpus, and nothing is left over.
    #[test]
    fn targets_corpora_and_fuzz_binaries_match() {
        let mut names: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
        names.sort();
        assert_eq!(names_in(&fuzz_dir().join("corpus")), names);
        let binaries: Vec<String> = names_in(&fuzz_dir().join("fuzz_targets"))
            .into_iter()
            .filter_map(|f| f.strip_suffix(".rs").map(str::to_owned))
            .collect();
        assert_eq!(binaries, names);
        let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
        for name in &names {
            assert!(manifest.contains(&format!("name = \"{name}\"")), "fuzz/Cargo.toml lacks the {name} binary");
        }
    }

    /// fuzz/ builds berth's modules from source as a library, so it needs berth's dependencies
    /// at the same versions.
    #[test]
    fn the_fuzz_crate_has_berths_dependencies() {
        let deps = |path: PathBuf| -> toml::Table {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let manifest: toml::Table = toml::from_str(&text).expect("Cargo.toml parses");
            manifest["dependencies"].as_table().expect("[dependencies]").clone()
        };
        let fuzz = deps(fuzz_dir().join("Cargo.toml"));
        for (name, spec) in deps(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")) {
            assert_eq!(fuzz.get(&name), Some(&spec), "fuzz/Cargo.toml: dependency {name} differs from berth's");
        }
    }
}
