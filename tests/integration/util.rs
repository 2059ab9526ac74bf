//! The integration test harness: a private berth environment per test, a throwaway loopback
//! registry, and image builders that need no internet.
//!
//! Everything here is self-contained: each test makes its own [`TestEnv`] (store root, runroot,
//! HOME, config) and, when it needs one, its own [`Registry`] on a free loopback port, so tests
//! run in parallel without sharing state.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

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
// A private berth environment
// ---------------------------------------------------------------------------------------------

/// One test's private berth world: a store root, a runroot, a HOME (with XDG_CONFIG_HOME,
/// XDG_RUNTIME_DIR, XDG_DATA_HOME under it) and a config file, all in one temp dir removed on
/// drop. berth is always run with `--root`, `--runroot` and `--config` pointing here, and with
/// BERTH_*, DOCKER_CONFIG and REGISTRY_AUTH_FILE removed from its environment, so no real store,
/// auth file or configuration on the machine is ever read or changed.
pub struct TestEnv {
    pub dir: TempDir,
    /// `--root`
    pub root: PathBuf,
    /// `--runroot`
    pub runroot: PathBuf,
    /// HOME for berth (XDG_CONFIG_HOME is HOME/.config, XDG_RUNTIME_DIR is HOME/run).
    pub home: PathBuf,
    /// `--config`: by default it lists no search registries (short names never go to the
    /// internet) and no insecure registries (loopback registries are plain HTTP anyway).
    pub config: PathBuf,
    /// Set for a rootless environment: berth runs as this (uid, gid), the unprivileged test user.
    pub run_as: Option<(u32, u32)>,
}

/// The unprivileged user rootless tests run berth as (created by .ci/run / scripts/setup).
pub const ROOTLESS_USER: &str = "berthtest";

/// The uid and gid of [`ROOTLESS_USER`], if the user exists and has subordinate ids.
pub fn rootless_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with(&format!("{ROOTLESS_USER}:")))?;
    let fields: Vec<&str> = line.split(':').collect();
    let has_subids = ["/etc/subuid", "/etc/subgid"].iter().all(|f| {
        std::fs::read_to_string(f).is_ok_and(|t| t.lines().any(|l| l.starts_with(&format!("{ROOTLESS_USER}:"))))
    });
    has_subids.then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))).flatten()
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let status = Command::new("chown").arg("-R").arg(format!("{uid}:{gid}")).arg(path).status().expect("running chown");
    assert!(status.success(), "chown -R {}", path.display());
}

/// The default config of a [`TestEnv`]: nothing trusted beyond berth's built-in loopback rule,
/// and no search registries so a short name can never reach Docker Hub.
pub const DEFAULT_CONFIG: &str = "[registries]\nsearch = []\ninsecure = []\n";

impl TestEnv {
    /// A fresh environment with [`DEFAULT_CONFIG`].
    pub fn new() -> TestEnv {
        TestEnv::with_config(DEFAULT_CONFIG)
    }

    /// A fresh environment whose config file holds `config_toml`.
    pub fn with_config(config_toml: &str) -> TestEnv {
        let dir = tempfile::Builder::new().prefix("berth-test-").tempdir().expect("creating a temp dir");
        let root = dir.path().join("root");
        let runroot = dir.path().join("runroot");
        let home = dir.path().join("home");
        for d in [&home, &home.join(".config"), &home.join("run")] {
            std::fs::create_dir_all(d).expect("creating the test HOME");
        }
        std::fs::set_permissions(home.join("run"), std::fs::Permissions::from_mode(0o700)).expect("chmod run");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_toml).expect("writing the test config");
        TestEnv { dir, root, runroot, home, config, run_as: None }
    }

    /// An environment whose berth runs as the unprivileged [`ROOTLESS_USER`] (rootless mode:
    /// berth's own user namespace with the user's subordinate ids). None — after a skip, or a
    /// failure in CI — when the tests are not root or the user is missing.
    pub fn rootless() -> Option<TestEnv> {
        if !require_root("rootless tests switch to the berthtest user, which needs root") {
            return None;
        }
        let Some((uid, gid)) = rootless_user() else {
            skip_or_fail("the berthtest user with subordinate ids is missing (run scripts/setup)");
            return None;
        };
        let mut env = TestEnv::new();
        std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod test dir");
        chown_tree(env.dir.path(), uid, gid);
        env.run_as = Some((uid, gid));
        Some(env)
    }

    /// Makes a file or tree the test wrote readable and writable by berth in this environment.
    pub fn give(&self, path: &Path) {
        if let Some((uid, gid)) = self.run_as {
            chown_tree(path, uid, gid);
        }
    }

    /// Replaces the config file's contents.
    pub fn set_config(&self, config_toml: &str) {
        std::fs::write(&self.config, config_toml).expect("writing the test config");
    }

    /// A path inside the environment's temp dir (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `Command` for berth in this environment, ready for more args; for tests that need to
    /// spawn, feed stdin, or kill it. The global flags come first.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.base_command();
        cmd.arg("--root").arg(&self.root).arg("--runroot").arg(&self.runroot).arg("--config").arg(&self.config);
        cmd.args(args);
        self.apply_env(&mut cmd);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// berth itself, or berth run as the rootless test user through setpriv.
    fn base_command(&self) -> Command {
        match self.run_as {
            None => Command::new(BERTH),
            Some((uid, gid)) => {
                let mut cmd = Command::new("setpriv");
                cmd.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--init-groups")
                    .arg("--")
                    .arg(BERTH);
                cmd
            }
        }
    }

    /// A `Command` for berth in this environment without the `--root/--runroot/--config` flags
    /// (for testing flag parsing itself); HOME and the XDG variables are still private.
    pub fn command_bare<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.base_command();
        cmd.args(args);
        self.apply_env(&mut cmd);
        cmd.env("BERTH_ROOT", &self.root).env("BERTH_RUNROOT", &self.runroot).env("BERTH_CONFIG", &self.config);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn apply_env(&self, cmd: &mut Command) {
        for var in
            ["BERTH_ROOT", "BERTH_RUNROOT", "BERTH_CONFIG", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_DATA_HOME"]
        {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_RUNTIME_DIR", self.home.join("run"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("NO_COLOR", "1")
            .env("LC_ALL", "C.UTF-8");
    }

    /// Runs berth with `args` and returns its output, whatever the exit status.
    pub fn berth<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.command(args).output().expect("running berth")
    }

    /// Runs berth with `args`, asserts it exits 0, and returns its stdout.
    pub fn berth_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            show_args(args),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("berth printed UTF-8")
    }

    /// Runs berth with `args`, asserts it fails, and returns its exit code (-1 when killed by a
    /// signal) and stderr.
    pub fn berth_err<S: AsRef<OsStr>>(&self, args: &[S]) -> (i32, String) {
        let out = self.berth(args);
        assert!(
            !out.status.success(),
            "berth {} succeeded but should have failed:\nstdout:\n{}\nstderr:\n{}",
            show_args(args),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Runs berth, asserts it exits 125 with exactly one line on stderr that starts with
    /// "berth: ", and returns that line.
    pub fn berth_fails_125<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let (code, stderr) = self.berth_err(args);
        assert_eq!(code, 125, "berth {} exit code; stderr:\n{stderr}", show_args(args));
        assert_one_error_line(&stderr)
    }

    /// Asserts `berth system check` finds no problem.
    pub fn assert_store_ok(&self) {
        let out = self.berth_ok(&["system", "check"]);
        assert!(out.contains(": 0 problems"), "system check found problems:\n{out}");
    }

    /// `berth image inspect -f FORMAT IMAGE`, trimmed.
    pub fn inspect(&self, image: &str, format: &str) -> String {
        self.berth_ok(&["image", "inspect", "-f", format, image]).trim().to_owned()
    }

    /// `berth image inspect IMAGE` as JSON (the first element when berth prints an array).
    pub fn inspect_json(&self, image: &str) -> Value {
        let out = self.berth_ok(&["image", "inspect", image]);
        let value: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect is not JSON ({e}):\n{out}"));
        match value {
            Value::Array(mut items) => {
                assert_eq!(items.len(), 1, "inspect of one image printed {} items", items.len());
                items.remove(0)
            }
            other => other,
        }
    }

    /// The ids (full, "sha256:…") of every image in the store, via `images --no-trunc -q`.
    pub fn image_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.berth_ok(&["images", "-q", "--no-trunc"]).lines().map(str::to_owned).collect();
        ids.dedup();
        ids
    }

    /// Directories under the store's `layers/`.
    pub fn layer_dirs(&self) -> Vec<String> {
        list_dir(&self.root.join("layers"))
    }

    /// Entries under the store's `tmp/` (staging areas; should be empty when nothing runs).
    pub fn staging_dirs(&self) -> Vec<String> {
        list_dir(&self.root.join("tmp"))
    }

    /// The unpacked content of the layer with `chain_id` ("sha256:…"): layers/<hex>/diff.
    pub fn layer_diff(&self, chain_id: &str) -> PathBuf {
        self.root.join("layers").join(chain_id.trim_start_matches("sha256:")).join("diff")
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

/// A test store with a container image imported that force-removes every container it still has
/// when dropped, so no test leaves processes behind. Each test module builds its own image and adds
/// the helpers only its tests need in an `impl ContainerEnv` of its own.
pub struct ContainerEnv {
    env: TestEnv,
    /// The name the image was imported under, which [`ContainerEnv::sh`] runs.
    image: &'static str,
}

impl std::ops::Deref for ContainerEnv {
    type Target = TestEnv;
    fn deref(&self) -> &TestEnv {
        &self.env
    }
}

impl Drop for ContainerEnv {
    fn drop(&mut self) {
        let out = self.env.berth(&["ps", "-a", "-q", "--no-trunc"]);
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
        if !ids.is_empty() {
            let mut args = vec!["rm".to_owned(), "-f".to_owned()];
            args.extend(ids);
            let _ = self.env.berth(&args);
        }
    }
}

impl ContainerEnv {
    /// `env`, into which the caller has imported an image named `image`.
    pub fn new(env: TestEnv, image: &'static str) -> ContainerEnv {
        ContainerEnv { env, image }
    }

    /// `run --rm FLAGS IMAGE sh -c SCRIPT`, which must succeed; its stdout.
    pub fn sh(&self, flags: &[&str], script: &str) -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend([self.image, "sh", "-c", script]);
        self.berth_ok(&args)
    }

    /// The one object `container inspect CONTAINER` prints.
    pub fn inspect_container(&self, container: &str) -> Value {
        let out = self.berth_ok(&["container", "inspect", container]);
        let value: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect is not JSON ({e}):\n{out}"));
        value.as_array().and_then(|a| a.first()).cloned().expect("inspect prints an array of one")
    }
}

fn show_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

/// A per-layer progress line of pull or load ("1031b24b812b: pull complete (94B, 0.0s)"): a
/// layer that finished before another one failed prints one, depending on timing.
fn is_layer_progress(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(id, _)| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Asserts `stderr` is exactly one line starting with "berth: ", besides layer progress, and
/// returns it.
pub fn assert_one_error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty() && !is_layer_progress(l)).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    assert!(lines[0].starts_with("berth: "), "error line does not start with \"berth: \": {stderr}");
    lines[0].to_owned()
}

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

// ---------------------------------------------------------------------------------------------
// A loopback registry
// ---------------------------------------------------------------------------------------------

/// A private Debian `docker-registry` (distribution 2.8) on a free 127.0.0.1 port, storing into
/// its own temp dir, killed on drop. Plain HTTP (berth treats loopback registries as insecure).
pub struct Registry {
    pub port: u16,
    /// "127.0.0.1:PORT", the registry part of image references.
    pub addr: String,
    pub child: Child,
    pub dir: TempDir,
    /// The credentials the registry requires, if started with htpasswd auth.
    pub credentials: Option<(String, String)>,
}

/// Waits until `child` logged that it listens on `addr` and GET /v2/ answers (200, or 401 with
/// auth); the log check makes sure it is our registry answering, not another test's that got
/// the same port. False if `child` exited or was not ready within 20 s.
fn wait_ready(child: &mut Child, addr: &str, log: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    let listening = format!("listening on {addr}");
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let ours = std::fs::read_to_string(log).is_ok_and(|l| l.contains(&listening));
        if !ours {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if let Ok(resp) = http_request(addr, "GET", "/v2/", &[], &[])
            && (resp.status == 200 || resp.status == 401)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A currently unused loopback port. Another process may take it before we do: callers retry.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().expect("local addr").port()
}

impl Registry {
    /// An anonymous registry (anyone may push and pull).
    pub fn start() -> Registry {
        Registry::start_inner(None)
    }

    /// A registry that requires HTTP basic auth as `user`/`pass` (a bcrypt htpasswd file made
    /// with `htpasswd -Bbn`). distribution 2.8 allows htpasswd auth over plain HTTP.
    pub fn start_with_htpasswd(user: &str, pass: &str) -> Registry {
        Registry::start_inner(Some((user.to_owned(), pass.to_owned())))
    }

    fn start_inner(credentials: Option<(String, String)>) -> Registry {
        assert!(
            which("docker-registry").is_some(),
            "docker-registry is not installed (apt-get install docker-registry)"
        );
        let dir = tempfile::Builder::new().prefix("berth-registry-").tempdir().expect("registry temp dir");
        let auth = match &credentials {
            None => String::new(),
            Some((user, pass)) => {
                let out = Command::new("htpasswd").args(["-Bbn", user, pass]).output().expect("running htpasswd");
                assert!(out.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, &out.stdout).expect("writing htpasswd");
                format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", file.display())
            }
        };
        for _attempt in 0..20 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("writing registry config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .expect("starting docker-registry");
            let addr = format!("127.0.0.1:{port}");
            if wait_ready(&mut child, &addr, &dir.path().join("registry.log")) {
                return Registry { port, addr, child, dir, credentials };
            }
            // Lost the port to someone else (or failed otherwise): try another port.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start on any port");
    }

    /// The registry's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// "127.0.0.1:PORT/NAME" — `name` may carry ":tag" or "@digest".
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }

    fn auth_headers(&self) -> Vec<(String, String)> {
        match &self.credentials {
            Some((u, p)) => vec![("Authorization".into(), format!("Basic {}", base64(format!("{u}:{p}").as_bytes())))],
            None => Vec::new(),
        }
    }

    /// Uploads one blob to repository `repo` (monolithic upload: POST then PUT), unless present.
    pub fn push_blob(&self, repo: &str, blob: &[u8]) -> String {
        let digest = sha256_digest(blob);
        push_blob_to(&self.addr, &self.auth_headers(), repo, &digest, blob);
        digest
    }

    /// Uploads a manifest or index under `reference` (a tag or a digest) with its media type.
    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let mut headers = self.auth_headers();
        headers.push(("Content-Type".into(), media_type.to_owned()));
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = http_request(&self.addr, "PUT", &path, &headers, bytes).expect("PUT manifest");
        assert_eq!(resp.status, 201, "PUT {path} failed: {}\n{}", resp.text(), self.log());
    }

    /// Pushes an image (its layers, config and manifest) as `repo:tag`; returns the manifest digest.
    pub fn push(&self, image: &BuiltImage, repo: &str, tag: &str) -> String {
        self.push_image_blobs(image, repo);
        self.push_manifest(repo, tag, image.manifest_media_type, &image.manifest);
        image.manifest_digest.clone()
    }

    fn push_image_blobs(&self, image: &BuiltImage, repo: &str) {
        for layer in &image.layers {
            self.push_blob(repo, &layer.blob);
        }
        self.push_blob(repo, &image.config);
    }

    /// Pushes a multi-platform index and every image in it as `repo:tag`; returns the index digest.
    pub fn push_index(&self, index: &BuiltIndex, repo: &str, tag: &str) -> String {
        for image in &index.images {
            self.push_image_blobs(image, repo);
            self.push_manifest(repo, &image.manifest_digest, image.manifest_media_type, &image.manifest);
        }
        self.push_manifest(repo, tag, index.media_type, &index.bytes);
        index.digest.clone()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Uploads `blob` to `addr` (POST + PUT), skipping it when HEAD says it is there.
pub fn push_blob_to(addr: &str, auth: &[(String, String)], repo: &str, digest: &str, blob: &[u8]) {
    let head = http_request(addr, "HEAD", &format!("/v2/{repo}/blobs/{digest}"), auth, &[]).expect("HEAD blob");
    if head.status == 200 {
        return;
    }
    let start = http_request(addr, "POST", &format!("/v2/{repo}/blobs/uploads/"), auth, &[]).expect("POST upload");
    assert_eq!(start.status, 202, "starting a blob upload failed: {}", start.text());
    let location = start.header("location").expect("upload Location header").to_owned();
    let location = match location.find("/v2/") {
        Some(i) => location[i..].to_owned(),
        None => location,
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let mut headers = auth.to_vec();
    headers.push(("Content-Type".into(), "application/octet-stream".into()));
    let put = http_request(addr, "PUT", &format!("{location}{sep}digest={digest}"), &headers, blob).expect("PUT blob");
    assert_eq!(put.status, 201, "uploading blob {digest} failed: {}", put.text());
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 client (tests only talk to loopback)
// ---------------------------------------------------------------------------------------------

/// An HTTP response: status, lower-cased header names, body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request to `addr` ("127.0.0.1:PORT") with `Connection: close`; reads the whole
/// response. Only for talking to the test registries on loopback.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], head: bool) -> std::io::Result<HttpResponse> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head_text = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 =
        status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = if head { Vec::new() } else { raw[end + 4..].to_vec() };
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(HttpResponse { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        data = &data[line_end + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

/// Standard base64 with padding (for Basic auth headers).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

// ---------------------------------------------------------------------------------------------
// Test images
// ---------------------------------------------------------------------------------------------

/// The busybox applets linked into [`busybox_rootfs`].
pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "true", "false", "echo", "cat", "ls", "id", "sleep", "env", "pwd", "touch", "mkdir", "rm", "stat", "wc",
    "head", "test", "grep", "hostname", "ps", "mount", "sync", "whoami", "printf", "uname", "date", "chmod",
];

/// Makes a minimal root filesystem in `dir`: /bin/busybox (Debian's static build) with symlinks
/// for [`BUSYBOX_APPLETS`], /etc/passwd and /etc/group (root, nobody), and empty /tmp, /proc,
/// /sys, /dev, /root.
pub fn busybox_rootfs(dir: &Path) {
    std::fs::create_dir_all(dir.join("bin")).expect("mkdir bin");
    std::fs::copy(BUSYBOX, dir.join("bin/busybox")).expect("copying /bin/busybox (install busybox-static)");
    std::fs::set_permissions(dir.join("bin/busybox"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for applet in BUSYBOX_APPLETS {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).expect("applet symlink");
    }
    std::fs::create_dir_all(dir.join("etc")).expect("mkdir etc");
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
    for d in ["tmp", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
}

/// One entry of a layer tarball, written verbatim: paths are not checked or cleaned, so tests
/// can build hostile layers (`../escape`, absolute paths, symlinks pointing out).
#[derive(Clone, Debug)]
pub enum TarEntry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// A hard link to `target`, an earlier entry's path.
    HardLink {
        path: String,
        target: String,
    },
    /// A character device (overlay whiteouts in a layer tar are `.wh.` files, not devices).
    CharDevice {
        path: String,
        major: u32,
        minor: u32,
    },
    Fifo {
        path: String,
    },
}

impl TarEntry {
    pub fn dir(path: &str) -> TarEntry {
        TarEntry::Dir { path: path.into(), mode: 0o755 }
    }
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> TarEntry {
        TarEntry::File { path: path.into(), mode: 0o644, data: data.into() }
    }
    pub fn file_mode(path: &str, mode: u32, data: impl Into<Vec<u8>>) -> TarEntry {
        TarEntry::File { path: path.into(), mode, data: data.into() }
    }
    pub fn symlink(path: &str, target: &str) -> TarEntry {
        TarEntry::Symlink { path: path.into(), target: target.into() }
    }
    pub fn hardlink(path: &str, target: &str) -> TarEntry {
        TarEntry::HardLink { path: path.into(), target: target.into() }
    }
    /// An OCI whiteout: deletes `path` (e.g. "etc/motd") from the layers below.
    pub fn whiteout(path: &str) -> TarEntry {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let wh = if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
        TarEntry::file(&wh, Vec::new())
    }
    /// An OCI opaque marker: hides everything below in directory `dir` (e.g. "var/cache").
    pub fn opaque(dir: &str) -> TarEntry {
        TarEntry::file(&format!("{}/.wh..wh..opq", dir.trim_end_matches('/')), Vec::new())
    }
}

/// Builds a POSIX ustar archive from `entries`, exactly as given (mtime 0, uid/gid 0). Paths
/// longer than 100 bytes are split into ustar's prefix field; longer than that fall back to a
/// PAX `path` record.
pub fn build_tar(entries: &[TarEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        match entry {
            TarEntry::Dir { path, mode } => {
                let p = if path.ends_with('/') { path.clone() } else { format!("{path}/") };
                push_tar_header(&mut out, &p, *mode, 0, b'5', "", (0, 0));
            }
            TarEntry::File { path, mode, data } => {
                push_tar_header(&mut out, path, *mode, data.len() as u64, b'0', "", (0, 0));
                out.extend_from_slice(data);
                pad_to_block(&mut out);
            }
            TarEntry::Symlink { path, target } => push_tar_header(&mut out, path, 0o777, 0, b'2', target, (0, 0)),
            TarEntry::HardLink { path, target } => push_tar_header(&mut out, path, 0o644, 0, b'1', target, (0, 0)),
            TarEntry::CharDevice { path, major, minor } => {
                push_tar_header(&mut out, path, 0o644, 0, b'3', "", (*major, *minor))
            }
            TarEntry::Fifo { path } => push_tar_header(&mut out, path, 0o644, 0, b'6', "", (0, 0)),
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn pad_to_block(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    field[..width].copy_from_slice(&text.as_bytes()[text.len() - width..]);
    field[width] = 0;
}

fn push_tar_header(out: &mut Vec<u8>, path: &str, mode: u32, size: u64, kind: u8, link: &str, dev: (u32, u32)) {
    let (prefix, name) = split_ustar_path(path);
    if name.len() > 100 || link.len() > 100 {
        let mut pax = String::new();
        if name.len() > 100 {
            pax.push_str(&pax_record("path", path));
        }
        if link.len() > 100 {
            pax.push_str(&pax_record("linkpath", link));
        }
        push_tar_header(out, "PaxHeader", 0o644, pax.len() as u64, b'x', "", (0, 0));
        out.extend_from_slice(pax.as_bytes());
        pad_to_block(out);
    }
    let mut h = [0u8; 512];
    let name_bytes = name.as_bytes();
    h[..name_bytes.len().min(100)].copy_from_slice(&name_bytes[..name_bytes.len().min(100)]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = kind;
    let link_bytes = link.as_bytes();
    h[157..157 + link_bytes.len().min(100)].copy_from_slice(&link_bytes[..link_bytes.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    octal(&mut h[329..337], u64::from(dev.0));
    octal(&mut h[337..345], u64::from(dev.1));
    let prefix_bytes = prefix.as_bytes();
    h[345..345 + prefix_bytes.len()].copy_from_slice(prefix_bytes);
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    out.extend_from_slice(&h);
}

/// Splits a path for ustar: (prefix ≤155, name ≤100) when possible, else ("", path).
fn split_ustar_path(path: &str) -> (&str, &str) {
    if path.len() <= 100 {
        return ("", path);
    }
    for (i, _) in path.match_indices('/') {
        let (prefix, name) = (&path[..i], &path[i + 1..]);
        if prefix.len() <= 155 && name.len() <= 100 && !name.is_empty() {
            return (prefix, name);
        }
    }
    ("", path)
}

fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

/// The tar entries for everything under `dir` (files, directories, symlinks), paths relative to
/// `dir`, sorted, parents first. Modes are kept; owners become 0:0.
pub fn entries_from_dir(dir: &Path) -> Vec<TarEntry> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<TarEntry>) {
        let mut children: Vec<_> = std::fs::read_dir(dir).expect("reading dir").flatten().collect();
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let path = child.path();
            let rel = path.strip_prefix(base).expect("under base").to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).expect("readlink");
                out.push(TarEntry::symlink(&rel, &target.to_string_lossy()));
            } else if meta.is_dir() {
                out.push(TarEntry::Dir { path: rel, mode });
                walk(base, &path, out);
            } else if meta.is_file() {
                out.push(TarEntry::File { path: rel, mode, data: std::fs::read(&path).expect("reading file") });
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Which manifest format an image uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// application/vnd.oci.image.manifest.v1+json
    Oci,
    /// application/vnd.docker.distribution.manifest.v2+json
    Docker,
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// A layer to build: its tar entries and compression.
#[derive(Clone, Debug)]
pub struct LayerSpec {
    pub entries: Vec<TarEntry>,
    pub compression: Compression,
}

impl LayerSpec {
    pub fn new(entries: Vec<TarEntry>, compression: Compression) -> LayerSpec {
        LayerSpec { entries, compression }
    }

    /// A layer holding everything under `dir`.
    pub fn from_dir(dir: &Path, compression: Compression) -> LayerSpec {
        LayerSpec { entries: entries_from_dir(dir), compression }
    }
}

/// A built layer: the blob as pushed, its media type, and the digest of its tar (the diff id).
#[derive(Clone, Debug)]
pub struct BuiltLayer {
    pub blob: Vec<u8>,
    pub digest: String,
    pub diff_id: String,
    pub media_type: String,
    /// Uncompressed tar size.
    pub tar_size: u64,
}

/// A built image: its blobs and manifest, in memory.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub layers: Vec<BuiltLayer>,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub manifest_media_type: &'static str,
    /// "os/arch[/variant]"
    pub platform: String,
}

impl BuiltImage {
    /// The image id berth should report: the config digest.
    pub fn id(&self) -> &str {
        &self.config_digest
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// Chain ids of the layers (the store's layer directory names), bottom first.
    pub fn chain_ids(&self) -> Vec<String> {
        chain_ids(&self.diff_ids())
    }

    /// Writes an OCI image layout (oci-layout, index.json, blobs/sha256/…) into `dir` with this
    /// image tagged `tag` (`org.opencontainers.image.ref.name`).
    pub fn write_oci_layout(&self, dir: &Path, tag: &str) {
        write_layout_blobs(dir, std::slice::from_ref(self));
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [self.descriptor_with(Some(tag))],
        });
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).expect("json")).expect("index.json");
    }

    fn descriptor_with(&self, tag: Option<&str>) -> Value {
        let mut d = json!({
            "mediaType": self.manifest_media_type,
            "digest": self.manifest_digest,
            "size": self.manifest.len(),
            "platform": platform_json(&self.platform),
        });
        if let Some(tag) = tag {
            d["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
        }
        d
    }
}

/// Chain ids as the OCI spec defines them: chain(0) = diff(0), chain(n) = sha256(chain(n-1) + " " + diff(n)).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256_digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

fn platform_json(platform: &str) -> Value {
    let mut parts = platform.split('/');
    let os = parts.next().unwrap_or("linux");
    let arch = parts.next().unwrap_or("amd64");
    let mut v = json!({ "os": os, "architecture": arch });
    if let Some(variant) = parts.next() {
        v["variant"] = json!(variant);
    }
    v
}

/// The platform of the machine the tests run on, as an image would declare it.
pub fn host_platform() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        "arm" => "linux/arm/v7",
        "riscv64" => "linux/riscv64",
        "powerpc64" => "linux/ppc64le",
        "s390x" => "linux/s390x",
        other => panic!("unknown host architecture {other}"),
    }
}

fn write_layout_blobs(dir: &Path, images: &[BuiltImage]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("creating blobs dir");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let write = |digest: &str, bytes: &[u8]| {
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).expect("writing blob");
    };
    for image in images {
        for layer in &image.layers {
            write(&layer.digest, &layer.blob);
        }
        write(&image.config_digest, &image.config);
        write(&image.manifest_digest, &image.manifest);
    }
}

/// Builds an image in memory: layers (tar entries or directories, each with its compression),
/// a config (platform, Cmd, Env, Labels, history) and a manifest in OCI or Docker schema 2
/// format. Layer and config bytes are deterministic: the same builder gives the same digests.
#[derive(Clone, Debug)]
pub struct OciImageBuilder {
    layers: Vec<LayerSpec>,
    format: Format,
    platform: String,
    cmd: Vec<String>,
    env: Vec<String>,
    labels: BTreeMap<String, String>,
    created: String,
    /// Extra config text so otherwise identical images get distinct ids.
    comment: String,
}

impl Default for OciImageBuilder {
    fn default() -> Self {
        OciImageBuilder::new()
    }
}

impl OciImageBuilder {
    /// An empty OCI-format image for the host platform, Cmd ["sh"].
    pub fn new() -> OciImageBuilder {
        OciImageBuilder {
            layers: Vec::new(),
            format: Format::Oci,
            platform: host_platform().to_owned(),
            cmd: vec!["sh".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            labels: BTreeMap::new(),
            created: "2024-01-02T03:04:05Z".into(),
            comment: String::new(),
        }
    }

    /// The usual test image: one gzip layer with [`busybox_rootfs`].
    pub fn busybox() -> OciImageBuilder {
        let dir = tempfile::tempdir().expect("temp dir");
        busybox_rootfs(dir.path());
        OciImageBuilder::new().layer(LayerSpec::from_dir(dir.path(), Compression::Gzip))
    }

    pub fn layer(mut self, layer: LayerSpec) -> Self {
        self.layers.push(layer);
        self
    }

    /// Adds a layer from tar entries.
    pub fn layer_entries(self, entries: Vec<TarEntry>, compression: Compression) -> Self {
        self.layer(LayerSpec::new(entries, compression))
    }

    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// "os/arch[/variant]", e.g. "linux/arm/v7".
    pub fn platform(mut self, platform: &str) -> Self {
        self.platform = platform.to_owned();
        self
    }

    pub fn cmd(mut self, cmd: &[&str]) -> Self {
        self.cmd = cmd.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn env(mut self, var: &str) -> Self {
        self.env.push(var.to_owned());
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn created(mut self, created: &str) -> Self {
        self.created = created.to_owned();
        self
    }

    /// Sets the history comment, which also makes the image id distinct.
    pub fn comment(mut self, comment: &str) -> Self {
        self.comment = comment.to_owned();
        self
    }

    /// Builds the layers, config and manifest.
    pub fn build(&self) -> BuiltImage {
        let layers: Vec<BuiltLayer> = self.layers.iter().map(|l| build_layer(l, self.format)).collect();
        let platform = platform_json(&self.platform);
        let history: Vec<Value> = layers
            .iter()
            .enumerate()
            .map(|(i, _)| {
                json!({
                    "created": self.created,
                    "created_by": format!("/bin/sh -c #(nop) layer {i} {}", self.comment),
                    "comment": self.comment,
                })
            })
            .collect();
        let mut config = json!({
            "created": self.created,
            "architecture": platform["architecture"],
            "os": platform["os"],
            "config": {
                "Cmd": self.cmd,
                "Env": self.env,
                "Labels": self.labels,
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            },
            "history": history,
        });
        if let Some(variant) = platform.get("variant") {
            config["variant"] = variant.clone();
        }
        let config = serde_json::to_vec(&config).expect("json");
        let config_digest = sha256_digest(&config);
        let (manifest_media_type, config_media_type) = match self.format {
            Format::Oci => (OCI_MANIFEST, OCI_CONFIG),
            Format::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG),
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_media_type,
            "config": { "mediaType": config_media_type, "digest": config_digest, "size": config.len() },
            "layers": layers.iter().map(|l| json!({
                "mediaType": l.media_type,
                "digest": l.digest,
                "size": l.blob.len(),
            })).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec_pretty(&manifest).expect("json");
        BuiltImage {
            layers,
            config,
            config_digest,
            manifest_digest: sha256_digest(&manifest),
            manifest,
            manifest_media_type,
            platform: self.platform.clone(),
        }
    }
}

/// Tars, compresses and hashes one layer.
pub fn build_layer(spec: &LayerSpec, format: Format) -> BuiltLayer {
    let tar = build_tar(&spec.entries);
    let diff_id = sha256_digest(&tar);
    let blob = compress(&tar, spec.compression);
    let media_type = match (format, spec.compression) {
        (Format::Docker, Compression::Gzip) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        (Format::Docker, Compression::None) => "application/vnd.docker.image.rootfs.diff.tar",
        (Format::Docker, Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (Format::Oci, Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
        (Format::Oci, Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (Format::Oci, Compression::None) => "application/vnd.oci.image.layer.v1.tar",
    };
    BuiltLayer {
        digest: sha256_digest(&blob),
        blob,
        diff_id,
        media_type: media_type.to_owned(),
        tar_size: tar.len() as u64,
    }
}

/// `data` compressed as asked (gzip level 6 / zstd level 3), deterministic.
pub fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            enc.write_all(data).expect("gzip");
            enc.finish().expect("gzip")
        }
        Compression::Zstd => zstd::stream::encode_all(data, 3).expect("zstd"),
    }
}

/// A multi-platform index (OCI image index or Docker manifest list) over several images.
#[derive(Clone, Debug)]
pub struct BuiltIndex {
    pub images: Vec<BuiltImage>,
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: &'static str,
}

impl BuiltIndex {
    /// An index of `images`, each described with its platform. Docker format when every image
    /// is a Docker schema 2 image, OCI otherwise.
    pub fn new(images: Vec<BuiltImage>) -> BuiltIndex {
        let docker = images.iter().all(|i| i.manifest_media_type == DOCKER_MANIFEST);
        let media_type = if docker { DOCKER_LIST } else { OCI_INDEX };
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": images.iter().map(|i| i.descriptor_with(None)).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec_pretty(&index).expect("json");
        BuiltIndex { digest: sha256_digest(&bytes), bytes, images, media_type }
    }

    /// Three distinct small busybox-less images for linux/amd64, linux/arm64 and linux/arm/v7,
    /// each with a file /platform naming its platform.
    pub fn three_platforms(format: Format) -> BuiltIndex {
        let images = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
            .iter()
            .map(|p| {
                OciImageBuilder::new()
                    .format(format)
                    .platform(p)
                    .layer_entries(vec![TarEntry::file("platform", format!("{p}\n"))], Compression::Gzip)
                    .build()
            })
            .collect();
        BuiltIndex::new(images)
    }

    /// The image for `platform` ("os/arch[/variant]").
    pub fn image_for(&self, platform: &str) -> &BuiltImage {
        self.images.iter().find(|i| i.platform == platform).unwrap_or_else(|| panic!("no image for {platform}"))
    }

    /// Writes an OCI image layout in `dir` whose index.json points at this index (tagged `tag`).
    pub fn write_oci_layout(&self, dir: &Path, tag: &str) {
        write_layout_blobs(dir, &self.images);
        let blobs = dir.join("blobs/sha256");
        std::fs::write(blobs.join(self.digest.trim_start_matches("sha256:")), &self.bytes).expect("index blob");
        let top = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{
                "mediaType": self.media_type,
                "digest": self.digest,
                "size": self.bytes.len(),
                "annotations": { "org.opencontainers.image.ref.name": tag },
            }],
        });
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&top).expect("json")).expect("index.json");
    }
}
