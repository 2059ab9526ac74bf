//! The command line itself: version, info, help, completion, usage errors, configuration
//! errors, and the committed man pages being up to date.

use serde_json::Value;

use crate::util::{TestEnv, assert_one_error_line};

#[test]
fn version_prints_the_crate_version() {
    let env = TestEnv::new();
    let out = env.berth_ok(&["version"]);
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
    let flag = env.berth_ok(&["--version"]);
    assert_eq!(flag.trim(), format!("berth {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn info_json_describes_the_store() {
    let env = TestEnv::new();
    let out = env.berth_ok(&["info", "--format", "json"]);
    let info: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("info is not JSON ({e}):\n{out}"));
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert_eq!(info["Rootless"], !root);
    assert_eq!(info["StoreRoot"], env.root.display().to_string());
    assert_eq!(info["RunRoot"], env.runroot.display().to_string());
    assert_eq!(info["Images"], 0);
    assert_eq!(info["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["StorageDriver"], "overlay");
    assert_eq!(info["OverlayXattrs"], if root { "trusted.overlay" } else { "user.overlay" });
    assert_eq!(info["SearchRegistries"], serde_json::json!([]), "the test config lists no search registries");
    assert_eq!(info["ConfigFiles"], serde_json::json!([env.config.display().to_string()]));
    assert!(info["ParallelDownloads"].as_u64().is_some_and(|n| n >= 1));

    let text = env.berth_ok(&["info"]);
    assert!(text.contains("Store root:") && text.contains(&env.root.display().to_string()), "{text}");
    let templated = env.berth_ok(&["system", "info", "--format", "{{.StoreRoot}}"]);
    assert_eq!(templated.trim(), env.root.display().to_string());
}

#[test]
fn store_location_comes_from_the_environment_too() {
    let env = TestEnv::new();
    let out = env.command_bare(["info", "--format", "json"]).output().expect("running berth");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info: Value = serde_json::from_slice(&out.stdout).expect("info json");
    assert_eq!(info["StoreRoot"], env.root.display().to_string(), "BERTH_ROOT ignored");
    assert_eq!(info["RunRoot"], env.runroot.display().to_string(), "BERTH_RUNROOT ignored");
}

#[test]
fn completion_scripts_are_generated() {
    let env = TestEnv::new();
    for (shell, marker) in [("bash", "_berth()"), ("zsh", "#compdef berth"), ("fish", "complete -c berth")] {
        let out = env.berth_ok(&["completion", shell]);
        assert!(out.contains(marker), "{shell} completion lacks {marker:?}");
        assert!(out.contains("pull") && out.contains("images"), "{shell} completion lacks subcommands");
    }
    let (code, stderr) = env.berth_err(&["completion", "tcsh"]);
    assert_eq!(code, 125);
    assert!(stderr.contains("tcsh"), "{stderr}");
}

#[test]
fn help_works() {
    let env = TestEnv::new();
    let help = env.berth_ok(&["--help"]);
    assert!(help.contains("Usage:"), "{help}");
    for verb in ["pull", "images", "rmi", "tag", "inspect", "system"] {
        assert!(help.contains(verb), "--help does not list {verb}");
    }
    assert!(!help.contains("generate-man-pages"), "the hidden man page generator is listed");
    let pull = env.berth_ok(&["pull", "--help"]);
    assert!(pull.contains("--platform"), "{pull}");
    let nested = env.berth_ok(&["image", "ls", "--help"]);
    assert!(nested.contains("--filter"), "{nested}");
}

#[test]
fn usage_errors_exit_125() {
    let env = TestEnv::new();
    let (code, stderr) = env.berth_err(&["frobnicate"]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("frobnicate"), "{stderr}");
    let (code, stderr) = env.berth_err(&["images", "--no-such-flag"]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
    let (code, _) = env.berth_err(&["pull"]);
    assert_eq!(code, 125);
    let (code, _) = env.berth_err(&["--log-level", "loud", "images"]);
    assert_eq!(code, 125);
    let out = env.berth(&[] as &[&str]);
    assert_eq!(out.status.code(), Some(125), "no command at all should be a usage error");
}

#[test]
fn configuration_errors_are_one_line() {
    let env = TestEnv::new();
    let missing = env.path("nonexistent.toml");
    let out = env.command_bare(["--config", missing.to_str().unwrap(), "images"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    let line = assert_one_error_line(&String::from_utf8_lossy(&out.stderr));
    assert!(line.contains("nonexistent.toml"), "{line}");

    env.set_config("[registries]\nsearch = 3\n");
    let line = env.berth_fails_125(&["images"]);
    assert!(line.contains(&env.config.display().to_string()), "{line}");
    env.set_config("unknown_key = true\n");
    env.berth_fails_125(&["images"]);
}

#[test]
fn short_names_use_the_configured_search_registries_only() {
    // The default test config has no search registries: a short name must fail without any
    // network access instead of going to Docker Hub.
    let env = TestEnv::new();
    let line = env.berth_fails_with(1, &["pull", "busybox"]);
    assert!(!line.contains("docker.io"), "{line}");
}

/// The committed man/ directory matches what the current command definitions generate.
#[test]
fn man_pages_are_fresh() {
    let env = TestEnv::new();
    let generated = env.path("man");
    env.berth_ok(&["generate-man-pages", "--output", generated.to_str().unwrap()]);
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let regenerate = "regenerate them with: cargo run -- generate-man-pages --output man";
    let fresh = crate::util::list_dir(&generated);
    let old = crate::util::list_dir(&committed);
    assert!(fresh.len() > 10, "too few man pages generated: {fresh:?}");
    assert!(fresh.contains(&"berth.1".to_owned()) && fresh.contains(&"berth-image-ls.1".to_owned()), "{fresh:?}");
    assert_eq!(fresh, old, "the man pages in man/ are not the generated set; {regenerate}");
    for page in &fresh {
        let new_text = std::fs::read(generated.join(page)).unwrap();
        let old_text = std::fs::read(committed.join(page)).unwrap();
        assert!(new_text == old_text, "man/{page} is stale; {regenerate}");
    }
}

/// `berth … | head` must not end in a panic and a backtrace when the reader goes away.
#[test]
fn closed_stdout_is_not_a_panic() {
    let env = TestEnv::new();
    let mut child = env
        .command(["completion", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running berth");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("waiting for berth");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "berth panicked writing to a closed pipe:\n{stderr}");
}
