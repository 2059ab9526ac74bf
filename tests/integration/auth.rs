//! Registry credentials: `login`, `logout`, and pulls that use what they keep, against a
//! loopback `docker-registry` that requires htpasswd (Basic) authentication.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::Value;

use crate::util::{self, Compression, OciImageBuilder, Registry, TarEntry, TestEnv};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret pass:word";

/// Runs berth with `input` on its standard input.
fn berth_with_stdin(env: &TestEnv, args: &[&str], input: &str) -> Output {
    let mut child = env
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting berth");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("writing berth's stdin");
    child.wait_with_output().expect("waiting for berth")
}

fn login_stdin(env: &TestEnv, registry: &Registry, password: &str) -> Output {
    berth_with_stdin(env, &["login", "-u", USER, "--password-stdin", &registry.addr], &format!("{password}\n"))
}

fn assert_success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "berth failed ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    stdout
}

/// berth's default auth file inside the test's private XDG_CONFIG_HOME.
fn auth_file(env: &TestEnv) -> PathBuf {
    env.home.join(".config/berth/auth.json")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("reading the auth file")).expect("the auth file is JSON")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// An htpasswd registry holding one small image as `private/hello:latest`; returns its id.
fn registry_with_image() -> (Registry, String) {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let image = OciImageBuilder::new().layer_entries(vec![TarEntry::file("hello", "hi\n")], Compression::Gzip).build();
    registry.push(&image, "private/hello", "latest");
    (registry, image.id().to_owned())
}

#[test]
fn login_with_password_stdin_keeps_a_private_docker_compatible_file() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let env = TestEnv::new();
    let stdout = assert_success(&login_stdin(&env, &registry, PASSWORD));
    assert!(stdout.contains("Login Succeeded"), "{stdout}");

    let file = auth_file(&env);
    assert_eq!(mode(&file), 0o600, "auth file mode");
    assert_eq!(mode(file.parent().unwrap()), 0o700, "auth dir mode");
    let expected = util::base64(format!("{USER}:{PASSWORD}").as_bytes());
    assert_eq!(read_json(&file)["auths"][registry.addr.as_str()]["auth"], Value::String(expected));

    assert_eq!(env.berth_ok(&["login", "--get-login", &registry.addr]).trim(), USER);
}

#[test]
fn a_wrong_password_fails_with_1_and_keeps_nothing() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let env = TestEnv::new();
    let out = login_stdin(&env, &registry, "not-the-password");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let line = util::assert_one_error_line(&String::from_utf8_lossy(&out.stderr));
    assert!(line.starts_with(&format!("berth: logging in to {}: ", registry.addr)), "{line}");
    assert!(line.to_lowercase().contains("unauthorized"), "{line}");
    assert!(!auth_file(&env).exists(), "a failed login wrote {}", auth_file(&env).display());

    let line = env.berth_fails_with(1, &["login", "--get-login", &registry.addr]);
    assert!(line.contains("not logged in"), "{line}");
}

#[test]
fn pull_uses_the_login_and_fails_again_after_logout() {
    let (registry, id) = registry_with_image();
    let env = TestEnv::new();
    let reference = registry.image("private/hello:latest");
    env.berth_fails_with(1, &["pull", &reference]);

    assert_success(&login_stdin(&env, &registry, PASSWORD));
    env.berth_ok(&["pull", &reference]);
    assert_eq!(env.image_ids(), vec![id]);

    let out = env.berth_ok(&["logout", &registry.addr]);
    assert_eq!(out.trim(), format!("Removed login credentials for {}", registry.addr));
    let auths = read_json(&auth_file(&env))["auths"].clone();
    assert_eq!(auths, serde_json::json!({}), "logout left an entry behind");
    env.berth_fails_with(1, &["pull", &reference]);

    let out = env.berth_ok(&["logout", &registry.addr]);
    assert_eq!(out.trim(), format!("Not logged in to {}", registry.addr));
}

#[test]
fn authfile_flag_is_the_only_file_used() {
    let (registry, id) = registry_with_image();
    let env = TestEnv::new();
    let custom = env.path("custom/auth.json");
    let custom_arg = custom.to_str().unwrap();
    let out = berth_with_stdin(
        &env,
        &["login", "--authfile", custom_arg, "-u", USER, "--password-stdin", &registry.addr],
        PASSWORD,
    );
    assert_success(&out);
    assert_eq!(mode(&custom), 0o600);
    assert!(!auth_file(&env).exists(), "--authfile login also wrote the default file");

    let reference = registry.image("private/hello:latest");
    env.berth_fails_with(1, &["pull", &reference]);
    env.berth_ok(&["pull", "--authfile", custom_arg, &reference]);
    assert_eq!(env.image_ids(), vec![id]);

    let out = env.berth_ok(&["logout", "--authfile", custom_arg, "--all"]);
    assert_eq!(out.trim(), "Removed login credentials for all registries");
    assert_eq!(read_json(&custom)["auths"], serde_json::json!({}));
}

#[test]
fn pull_reads_dockers_config_json() {
    let (registry, id) = registry_with_image();
    let env = TestEnv::new();
    let docker_dir = env.home.join(".docker");
    std::fs::create_dir_all(&docker_dir).unwrap();
    // Docker files a registry under its URL; berth must match it to the bare host:port.
    let auth = util::base64(format!("{USER}:{PASSWORD}").as_bytes());
    let config = serde_json::json!({
        "auths": {format!("http://{}", registry.addr): {"auth": auth}},
        "psFormat": "table {{.ID}}"
    });
    std::fs::write(docker_dir.join("config.json"), config.to_string()).unwrap();

    env.berth_ok(&["pull", &registry.image("private/hello:latest")]);
    assert_eq!(env.image_ids(), vec![id]);
    assert_eq!(env.berth_ok(&["login", "--get-login", &registry.addr]).trim(), USER);

    // logout changes only berth's own file, and says that Docker's still holds credentials.
    let out = env.berth(&["logout", &registry.addr]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("Not logged in to {}", registry.addr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".docker/config.json"));
    assert!(docker_dir.join("config.json").exists());
}

#[test]
fn login_reuses_valid_stored_credentials_without_asking() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let env = TestEnv::new();
    assert_success(&login_stdin(&env, &registry, PASSWORD));
    // stdin is /dev/null: nothing could be asked for, yet the stored credentials do.
    let out = env.berth_ok(&["login", &registry.addr]);
    assert!(out.contains("Login Succeeded"), "{out}");
}

#[test]
fn login_without_a_terminal_or_password_fails_clearly() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let env = TestEnv::new();
    let line = env.berth_fails_with(1, &["login", "-u", USER, &registry.addr]);
    assert!(line.contains("--password-stdin"), "{line}");
    assert!(!auth_file(&env).exists());
}

#[test]
fn password_flag_works_but_warns() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let env = TestEnv::new();
    let out = env.berth(&["login", "-u", USER, "-p", PASSWORD, &registry.addr]);
    let stdout = assert_success(&out);
    assert!(stdout.contains("Login Succeeded"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WARNING! Using --password via the CLI is insecure. Use --password-stdin."), "{stderr}");
}

#[test]
fn login_keeps_other_registries_entries() {
    let first = Registry::start_with_htpasswd(USER, PASSWORD);
    let second = Registry::start_with_htpasswd("bob", "other");
    let env = TestEnv::new();
    assert_success(&login_stdin(&env, &first, PASSWORD));
    let out = berth_with_stdin(&env, &["login", "-u", "bob", "--password-stdin", &second.addr], "other\n");
    assert_success(&out);
    let auths = read_json(&auth_file(&env))["auths"].clone();
    assert!(auths.get(first.addr.as_str()).is_some() && auths.get(second.addr.as_str()).is_some(), "{auths}");
    env.berth_ok(&["logout", &first.addr]);
    let auths = read_json(&auth_file(&env))["auths"].clone();
    assert!(auths.get(first.addr.as_str()).is_none() && auths.get(second.addr.as_str()).is_some(), "{auths}");
}
