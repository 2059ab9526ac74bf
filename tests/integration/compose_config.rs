//! `berth compose config`: the normalised model compared with Docker Compose v2's own output for
//! a corpus of files (tests/integration/compose_corpus/*, expected.json recorded from the real
//! docker-compose 2.40.3 binary by scripts/record-compose-corpus), and the bad-input errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{TestEnv, assert_one_error_line};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/compose_corpus")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// berth compose, run in `dir` with only `vars` in its environment (as the recording was).
fn compose_in(env: &TestEnv, dir: &Path, vars: &[(String, String)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(BERTH);
    cmd.env_clear().env("PATH", "/usr/bin:/bin").env("HOME", env.path("home")).current_dir(dir);
    cmd.arg("--root").arg(env.path("root")).arg("--runroot").arg(env.path("runroot")).arg("compose");
    cmd.args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("running berth compose")
}

fn case_vars(case: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(case.join("env"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

#[test]
fn config_matches_docker_compose_for_the_corpus() {
    let env = TestEnv::new();
    let scratch = env.path("corpus");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus()).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 8, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap();
        let dir = scratch.join(name);
        copy_tree(case, &dir);
        std::fs::remove_file(dir.join("expected.json")).unwrap();
        let args_text = std::fs::read_to_string(case.join("args")).unwrap_or_default();
        let mut args: Vec<&str> = args_text.split_whitespace().collect();
        args.extend(["config", "--format", "json"]);
        let out = compose_in(&env, &dir, &case_vars(case), &args);
        let stdout = String::from_utf8_lossy(&out.stdout).replace(scratch.to_str().unwrap(), "$DIR");
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap()).unwrap();
        match serde_json::from_str::<Value>(&stdout) {
            Ok(got) if got == expected => {}
            Ok(got) => failures.push(format!(
                "{name}: differs\n--- berth\n{}\n--- docker compose\n{}",
                serde_json::to_string_pretty(&got).unwrap(),
                serde_json::to_string_pretty(&expected).unwrap()
            )),
            Err(e) => {
                failures.push(format!("{name}: not JSON ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The YAML form is the same model: it reads back to the JSON form's value.
#[test]
fn config_yaml_and_services_and_volumes() {
    let env = TestEnv::new();
    let dir = env.path("basic");
    copy_tree(&corpus().join("basic"), &dir);
    let out = compose_in(&env, &dir, &[], &["config"]);
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.starts_with("name: demo\nservices:\n  db:\n"), "{yaml}");
    assert!(yaml.contains("      - -f\n") && yaml.contains("        published: \"8080\"\n"), "{yaml}");
    let out = compose_in(&env, &dir, &[], &["config", "--services"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "db\nweb\n", "dependencies first");
    let out = compose_in(&env, &dir, &[], &["config", "--volumes"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "data\n");
    let out = compose_in(&env, &dir, &[("NAME".into(), "other".into())], &["config", "--format", "json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["name"], "other");
    assert_eq!(json["networks"]["default"]["name"], "other_default");
}

/// Each kind of bad input: exit 1, one line naming the file, the line and the key.
#[test]
fn bad_input_names_file_line_and_key() {
    let env = TestEnv::new();
    let dir = env.path("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let cases: &[(&str, &str)] = &[
        ("services:\n  web:\n    image: [a\n", "compose.yaml:4: not valid YAML"),
        (
            "services:\n  web:\n    image: busybox\n    colour: red\n",
            "compose.yaml:4: services.web.colour: unknown key",
        ),
        (
            "services:\n  web:\n    image: busybox\n    ports: 80\n",
            "compose.yaml:4: services.web.ports: must be a list",
        ),
        (
            "services:\n  web:\n    image: busybox\n    privileged: maybe\n",
            "compose.yaml:4: services.web.privileged: must be a boolean",
        ),
        (
            "services:\n  web:\n    image: ${IMAGE:?say which}\n",
            "compose.yaml:3: services.web.image: required variable IMAGE is missing a value: say which",
        ),
        (
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
            "services.a.depends_on: a dependency cycle: a -> b -> a",
        ),
        (
            "services:\n  a:\n    image: x\n    depends_on: [ghost]\n",
            "compose.yaml:4: services.a.depends_on: depends on an undefined service \"ghost\"",
        ),
        (
            "services:\n  a:\n    image: x\n    networks: [nowhere]\n",
            "services.a.networks: refers to an undefined network \"nowhere\"",
        ),
        (
            "services:\n  a:\n    command: true\n",
            "compose.yaml:3: services.a: has neither an image nor a build context",
        ),
        ("servces:\n  a:\n    image: x\n", "compose.yaml:1: servces: unknown key"),
    ];
    for (text, want) in cases {
        std::fs::write(dir.join("compose.yaml"), text).unwrap();
        let out = compose_in(&env, &dir, &[], &["config"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {stderr}");
        let line = assert_one_error_line(&stderr);
        assert!(line.contains(want), "{text}\nwanted {want:?} in {line:?}");
        assert!(line.contains(dir.to_str().unwrap()) || !want.starts_with("compose.yaml"), "{line}");
    }
    let out = compose_in(&env, &env.path("home"), &[], &["config"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no configuration file provided"));
    std::fs::write(dir.join("compose.yaml"), "name: Bad_Name\nservices: {}\n").unwrap();
    let out = compose_in(&env, &dir, &[], &["config"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid project name \"Bad_Name\""));
    let out = compose_in(&env, &dir, &[], &["-p", "good", "config", "--format", "json"]);
    assert!(out.status.success(), "-p wins over name:");
}

/// Files are found in the working directory's parents; --project-directory and -f several times.
#[test]
fn discovery_and_flags() {
    let env = TestEnv::new();
    let top = env.path("Top Dir");
    let deep = top.join("a/b");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(top.join("compose.yml"), "services:\n  s:\n    image: busybox\n    volumes: ['./d:/d']\n").unwrap();
    std::fs::write(top.join("extra.yaml"), "services:\n  s:\n    image: busybox:two\n").unwrap();
    let out = compose_in(&env, &deep, &[], &["config", "--format", "json"]);
    let json: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(json["name"], "topdir");
    assert_eq!(json["services"]["s"]["volumes"][0]["source"], format!("{}/d", top.display()));
    let out = compose_in(
        &env,
        &top,
        &[],
        &["-f", "compose.yml", "-f", "extra.yaml", "--project-directory", "a", "config", "--format", "json"],
    );
    let json: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(json["name"], "a");
    assert_eq!(json["services"]["s"]["image"], "busybox:two");
    assert_eq!(json["services"]["s"]["volumes"][0]["source"], format!("{}/a/d", top.display()));
    std::fs::write(top.join("alt.env"), "COMPOSE_PROJECT_NAME=fromenvfile\n").unwrap();
    let out = compose_in(&env, &top, &[], &["--env-file", "alt.env", "config", "--format", "json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["name"], "fromenvfile");
}

/// The networking keys compose now carries out print under compose-go's names and shapes
/// (not in the recorded corpus: written from compose-go's types).
#[test]
fn networking_keys_print_as_compose_go_does() {
    let env = TestEnv::new();
    let dir = env.path("net");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  a:\n    image: busybox\n    dns_search: [x.test]\n    dns_opt: [ndots:2]\n    domainname: d.test\n    \
         mac_address: 02:42:ac:11:00:09\n    networks: [back]\nnetworks:\n  back:\n    ipam:\n      config:\n        \
         - subnet: 10.88.5.0/24\n          gateway: 10.88.5.1\n",
    )
    .unwrap();
    let out = compose_in(&env, &dir, &[], &["config", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &v["services"]["a"];
    assert_eq!(a["dns_search"], serde_json::json!(["x.test"]));
    assert_eq!(a["dns_opt"], serde_json::json!(["ndots:2"]));
    assert_eq!(a["domainname"], "d.test");
    assert_eq!(a["mac_address"], "02:42:ac:11:00:09");
    assert_eq!(
        v["networks"]["back"]["ipam"],
        serde_json::json!({"config": [{"subnet": "10.88.5.0/24", "gateway": "10.88.5.1"}]})
    );
}
