//! A private berth environment per test, and the checks every test makes of berth's output.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use super::{BERTH, list_dir, require_root, skip_or_fail};

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
    /// Set by networking tests: berth runs in this network namespace (a `/run/netns/NAME` the
    /// test made), through `nsenter --net`, so its bridges and firewall are the test's own.
    pub netns: Option<PathBuf>,
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
/// no search registries so a short name can never reach Docker Hub, and containers on loopback
/// only unless a test says otherwise: a test's containers never put bridges or firewall rules
/// in the machine's own network namespace (networking tests run berth in namespaces they made,
/// with [`NETWORK_CONFIG`]).
pub const DEFAULT_CONFIG: &str = "[registries]\nsearch = []\ninsecure = []\n[network]\ndefault_network = \"private\"\n";

/// [`DEFAULT_CONFIG`] with berth's own default network (`bridge`), for tests whose berth runs in
/// a network namespace of the test's (`TestEnv::netns`).
pub const NETWORK_CONFIG: &str = "[registries]\nsearch = []\ninsecure = []\n";

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
        TestEnv { dir, root, runroot, home, config, run_as: None, netns: None }
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

    /// berth itself, or berth run as the rootless test user through setpriv; in the test's
    /// network namespace when it has one.
    fn base_command(&self) -> Command {
        let mut argv: Vec<String> = Vec::new();
        if let Some(netns) = &self.netns {
            argv.extend(["nsenter".to_owned(), format!("--net={}", netns.display()), "--".to_owned()]);
        }
        if let Some((uid, gid)) = self.run_as {
            argv.extend([
                "setpriv".to_owned(),
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--init-groups".to_owned(),
                "--".to_owned(),
            ]);
        }
        argv.push(BERTH.to_owned());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd
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

    /// Runs berth, asserts it exits `code` with exactly one line on stderr that starts with
    /// "berth: ", and returns that line.
    pub fn berth_fails_with<S: AsRef<OsStr>>(&self, code: i32, args: &[S]) -> String {
        let (actual, stderr) = self.berth_err(args);
        assert_eq!(actual, code, "berth {} exit code; stderr:\n{stderr}", show_args(args));
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

/// An error line names each cause once: no part of `what: why: why` comes twice.
fn assert_no_repeated_cause(line: &str) {
    let parts: Vec<&str> = line.split(": ").map(str::trim).filter(|p| p.len() > 3).collect();
    for (i, part) in parts.iter().enumerate() {
        assert!(!parts[i + 1..].contains(part), "the error line shows {part:?} twice: {line}");
    }
}

/// Asserts `stderr` is exactly one line starting with "berth: ", besides layer progress, and
/// returns it.
pub fn assert_one_error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty() && !is_layer_progress(l)).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    assert!(lines[0].starts_with("berth: "), "error line does not start with \"berth: \": {stderr}");
    assert_no_repeated_cause(lines[0]);
    lines[0].to_owned()
}
