//! The integration test harness: a private berth environment per test, a throwaway loopback
//! registry (the real one, or a hand-written one that misbehaves on request), and image builders
//! that need no internet.
//!
//! Everything here is self-contained: each test makes its own [`TestEnv`] (store root, runroot,
//! HOME, config) and, when it needs one, its own [`Registry`] on a free loopback port, so tests
//! run in parallel without sharing state.
//!
//! One module per job; every name is re-exported here, so tests use `crate::util::Name`:
//! - `env`: [`TestEnv`] (a private store and berth commands in it), [`ContainerEnv`] (one that
//!   removes its containers on drop), the one-error-line check;
//! - `busybox`: the busybox root filesystem and the one way to import it as an image
//!   ([`TestEnv::with_busybox`]);
//! - `seed`: many container records at once, written the way the store writes them;
//! - `wait`: waiting for a condition with a deadline instead of sleeping;
//! - `registry`: the real `docker-registry` on loopback; `fake_registry`: [`FakeRegistry`],
//!   which serves pulls and pushes, records every request and injects faults per blob;
//! - `http`: a tiny HTTP/1.1 client for both;
//! - `tar`: a tar writer that writes entries verbatim (hostile layers included);
//! - `image`: OCI and Docker image, index and layout builders.

mod busybox;
mod env;
mod fake_registry;
mod http;
mod image;
mod registry;
mod seed;
mod static_c;
mod tar;
mod wait;

use std::path::{Path, PathBuf};

pub use busybox::*;
pub use env::*;
pub use fake_registry::*;
pub use http::*;
pub use image::*;
pub use registry::*;
pub use static_c::*;
pub use tar::*;
pub use wait::*;

/// The berth binary cargo built for this test run.
pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Debian's statically linked busybox (package busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";

// ---------------------------------------------------------------------------------------------
// Skipping
// ---------------------------------------------------------------------------------------------

/// True when running in CI (env `CI=true`), where a skipped test counts as a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports that a test cannot run here. In CI (`CI=true`) that is a failure, so this panics with
/// `reason`; elsewhere it prints `skipped: reason` to stderr. Use as
/// `if !condition { return skip_or_fail("why"); }` — it returns `()` when it does not panic.
pub fn skip_or_fail(reason: &str) {
    if in_ci() {
        panic!("cannot run this test in CI: {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// True when the test runs as root. Otherwise skips (or fails in CI, see [`skip_or_fail`]) with
/// `reason` and returns false: `if !require_root("mounting overlays") { return; }`.
pub fn require_root(reason: &str) -> bool {
    if nix_is_root() {
        return true;
    }
    skip_or_fail(&format!("needs root: {reason}"));
    false
}

/// True when `program` is found on PATH. Otherwise skips (or fails in CI) and returns false.
pub fn require_program(program: &str) -> bool {
    if which(program).is_some() {
        return true;
    }
    skip_or_fail(&format!("{program} is not installed"));
    false
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The full path of `program` on PATH, if any.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// Names in `dir`, sorted; empty when it does not exist.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Reads extended attribute `name` of `path` without following a final symlink; None when absent.
pub fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    let c_name = std::ffi::CString::new(name).expect("name without NUL");
    let mut buf = vec![0u8; 4096];
    // SAFETY: both strings are NUL-terminated and buf is valid for buf.len() bytes.
    let n = unsafe { libc::lgetxattr(c_path.as_ptr(), c_name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}
