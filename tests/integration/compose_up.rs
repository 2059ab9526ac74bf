//! `berth compose up/down/ps/logs/…` with real containers from the busybox test image, a
//! project per test in its own store.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::networking::Lab;
use crate::util::{ContainerEnv, NETWORK_CONFIG, TestEnv};

/// A project in its own store; as root its berth runs in a lab's namespace (compose makes
/// bridges for the project's networks), dropped after the containers are.
pub struct Project {
    pub env: ContainerEnv,
    pub dir: PathBuf,
    pub lab: Option<Lab>,
}

impl Project {
    pub fn new(_what: &str, compose: &str) -> Option<Project> {
        let lab = Lab::new()?;
        let mut env = TestEnv::with_config(NETWORK_CONFIG);
        env.netns = Some(lab.host_path());
        let env = env.with_busybox("busybox", &[], |root| {
            std::fs::create_dir_all(root.join("www")).unwrap();
            std::fs::write(root.join("www/index.html"), "hello from the container\n").unwrap();
        });
        let dir = env.path("proj");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), compose).unwrap();
        Some(Project { env, dir, lab: Some(lab) })
    }

    pub fn compose(&self, args: &[&str]) -> Output {
        let mut full = vec!["compose"];
        full.extend_from_slice(args);
        self.env.command(&full).current_dir(&self.dir).output().expect("running berth compose")
    }

    pub fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.compose(args);
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "compose {args:?} failed:\n{stdout}\n{stderr}");
        (stdout, stderr)
    }

    pub fn write(&self, compose: &str) {
        std::fs::write(self.dir.join("compose.yaml"), compose).unwrap();
    }

    /// name → (id, labels) of every container in the store.
    fn containers(&self) -> Vec<(String, String, Value)> {
        let out = self.env.berth_ok(&["ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.ID}}"]);
        let mut rows: Vec<(String, String, Value)> = out
            .lines()
            .map(|l| {
                let (name, id) = l.split_once(' ').unwrap();
                let labels = self.env.inspect_container(id)["Config"]["Labels"].clone();
                (name.to_owned(), id.to_owned(), labels)
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    pub fn names(&self) -> Vec<String> {
        self.containers().into_iter().map(|(n, _, _)| n).collect()
    }
}

const WEB_DB: &str = "services:
  db:
    image: busybox
    init: true
    command: sh -c 'echo db ready; sleep 300'
    volumes: [data:/data]
  web:
    image: busybox
    init: true
    command: sh -c 'echo web says $$GREETING; sleep 300'
    environment:
      GREETING: hello
    depends_on: [db]
volumes:
  data:
";

#[test]
fn up_names_labels_and_recreates_only_what_changed() {
    let Some(p) = Project::new("compose up runs containers", WEB_DB) else { return };
    let (_, progress) = p.ok(&["up", "-d"]);
    assert!(
        progress.contains("Network proj_default  Created") && progress.contains("Volume proj_data  Created"),
        "{progress}"
    );
    let db_started = progress.find("proj-db-1  Started").expect("db started");
    let web_created = progress.find("proj-web-1  Created").expect("web created");
    assert!(db_started < web_created, "dependencies start first:\n{progress}");
    let first = p.containers();
    assert_eq!(first.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["proj-db-1", "proj-web-1"]);
    let labels = &first[1].2;
    assert_eq!(labels["com.docker.compose.project"], "proj");
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(labels["com.docker.compose.project.working_dir"], p.dir.to_str().unwrap());
    assert_eq!(labels["com.docker.compose.project.config_files"], p.dir.join("compose.yaml").to_str().unwrap());
    assert_eq!(labels["com.docker.compose.config-hash"].as_str().unwrap().len(), 64);
    assert!(p.env.berth_ok(&["volume", "ls", "-q"]).lines().any(|v| v == "proj_data"));

    // Again: nothing recreated.
    p.ok(&["up", "-d"]);
    assert_eq!(p.containers(), first, "a second up recreates nothing");

    // One environment value changed: only web is recreated.
    p.write(&WEB_DB.replace("GREETING: hello", "GREETING: changed"));
    let (_, progress) = p.ok(&["up", "-d"]);
    assert!(progress.contains("proj-web-1  Recreated") && !progress.contains("proj-db-1  Recreate"), "{progress}");
    let second = p.containers();
    assert_eq!(second[0], first[0], "db kept");
    assert_ne!(second[1].1, first[1].1, "web is a new container");

    // --no-recreate keeps it, --force-recreate replaces both.
    p.write(WEB_DB);
    p.ok(&["up", "-d", "--no-recreate"]);
    assert_eq!(p.containers(), second);
    p.ok(&["up", "-d", "--force-recreate"]);
    let third = p.containers();
    assert!(third.iter().zip(&second).all(|(a, b)| a.1 != b.1), "all recreated");

    let (logs, _) = p.ok(&["logs"]);
    assert!(logs.contains("db-1   | db ready") && logs.contains("web-1  | web says hello"), "{logs}");
    let (ps, _) = p.ok(&["ps"]);
    assert!(ps.starts_with("NAME") && ps.contains("proj-web-1") && ps.contains("Up "), "{ps}");

    p.ok(&["down", "-v", "-t", "1"]);
    assert!(p.names().is_empty(), "down leaves no container");
    assert!(!p.env.berth_ok(&["network", "ls"]).contains("proj_default"));
    assert!(!p.env.berth_ok(&["volume", "ls", "-q"]).contains("proj_data"));
}

#[test]
fn scale_no_deps_orphans_and_stop_start() {
    let compose = "services:
  a:
    image: busybox
    init: true
    command: sleep 300
  b:
    image: busybox
    init: true
    command: sleep 300
    depends_on: [a]
";
    let Some(p) = Project::new("compose scale", compose) else { return };
    p.ok(&["up", "-d", "--no-deps", "b"]);
    assert_eq!(p.names(), ["proj-b-1"]);
    p.ok(&["up", "-d", "--scale", "a=3"]);
    assert_eq!(p.names(), ["proj-a-1", "proj-a-2", "proj-a-3", "proj-b-1"]);
    let (q, _) = p.ok(&["ps", "-q"]);
    assert_eq!(q.lines().count(), 4);
    p.ok(&["up", "-d", "--scale", "a=1"]);
    assert_eq!(p.names(), ["proj-a-1", "proj-b-1"], "scaled down from the top");

    p.ok(&["stop", "-t", "1"]);
    let (running, _) = p.ok(&["ps", "-q"]);
    assert!(running.is_empty(), "{running}");
    let (all, _) = p.ok(&["ps", "-a", "--format", "json"]);
    assert!(all.lines().all(|l| serde_json::from_str::<Value>(l).unwrap()["State"] == "exited"), "{all}");
    p.ok(&["start"]);
    assert_eq!(p.ok(&["ps", "-q"]).0.lines().count(), 2);

    // b leaves the file: an orphan, removed only when asked.
    p.write("services:\n  a:\n    image: busybox\n    init: true\n    command: sleep 300\n");
    p.ok(&["up", "-d"]);
    assert_eq!(p.names(), ["proj-a-1", "proj-b-1"]);
    p.ok(&["up", "-d", "--remove-orphans"]);
    assert_eq!(p.names(), ["proj-a-1"]);
    let (ls, _) = p.ok(&["ls"]);
    assert!(ls.contains("proj") && ls.contains("running(1)"), "{ls}");
    p.ok(&["kill"]);
    p.ok(&["rm"]);
    assert!(p.names().is_empty());
    p.ok(&["down"]);
    assert!(!p.env.berth_ok(&["network", "ls"]).contains("proj_default"));
}

/// `up` that fails half-way (the second service's image is missing) leaves what `down` removes.
#[test]
fn a_failed_up_is_undone_by_down() {
    let compose = "services:
  first:
    image: busybox
    init: true
    command: sleep 300
  second:
    image: not-here-anywhere
    pull_policy: never
    depends_on: [first]
";
    let Some(p) = Project::new("compose failure", compose) else { return };
    let out = p.compose(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().any(|l| l.starts_with("berth: compose: ") && l.contains("not-here-anywhere")), "{stderr}");
    assert_eq!(p.names(), ["proj-first-1"]);
    p.ok(&["down", "-t", "1"]);
    assert!(p.names().is_empty());
    assert!(!p.env.berth_ok(&["network", "ls"]).contains("proj_default"));
}

/// Attached `up` prints every container's output with its prefix and returns when they end;
/// service_completed_successfully waits for the one-shot to exit 0.
#[test]
fn attached_up_prefixes_logs_and_waits_for_completion() {
    let compose = "services:
  setup:
    image: busybox
    command: sh -c 'echo setting up; echo done > /shared/flag'
    volumes: ['./shared:/shared']
  main:
    image: busybox
    command: cat /shared/flag
    volumes: ['./shared:/shared']
    depends_on:
      setup:
        condition: service_completed_successfully
";
    let Some(p) = Project::new("compose attached", compose) else { return };
    let (out, _) = p.ok(&["up"]);
    assert!(out.contains("setup-1  | setting up"), "{out}");
    assert!(out.contains("main-1   | done"), "main ran after setup completed: {out}");
    assert!(Path::new(&p.dir.join("shared/flag")).exists(), "the bind source was created");
    p.ok(&["down"]);
}

/// `exec` runs in the service's container; `run --rm` makes a labelled one-off container that
/// is gone afterwards, with the dependencies started first; both return the command's code.
#[test]
fn exec_and_run_rm() {
    let Some(p) = Project::new("compose exec and run", WEB_DB) else { return };
    p.ok(&["up", "-d", "db"]);
    assert_eq!(p.names(), ["proj-db-1"], "up SERVICE starts only it and its dependencies");
    let out = p.compose(&["exec", "-T", "db", "sh", "-c", "ls -d /data && exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/data\n");
    let out = p.compose(&["run", "--rm", "-T", "-e", "EXTRA=1", "web", "sh", "-c", "echo $GREETING $EXTRA; exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello 1\n");
    assert_eq!(p.names(), ["proj-db-1"], "the one-off container is removed");
    let (id, _) = p.ok(&["run", "-d", "web", "sleep", "300"]);
    let labels = p.env.inspect_container(id.trim())["Config"]["Labels"].clone();
    assert_eq!(labels["com.docker.compose.oneoff"], "True");
    let name = p.env.inspect_container(id.trim())["Name"].as_str().unwrap().trim_start_matches('/').to_owned();
    assert!(name.starts_with("proj-web-run-") && name.len() == "proj-web-run-".len() + 12, "{name}");
    p.ok(&["down", "-t", "0"]);
    assert!(p.names().is_empty(), "down removes one-off containers too");
}

/// The same project rootless: up, logs, down -v leave nothing.
#[test]
fn rootless_up_and_down() {
    let Some(env) = crate::util::TestEnv::rootless() else { return };
    let env = env.with_busybox("busybox", &[], |_| {});
    let dir = env.path("proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), WEB_DB).unwrap();
    env.give(&dir);
    let p = Project { env, dir, lab: None };
    p.ok(&["up", "-d"]);
    assert_eq!(p.names(), ["proj-db-1", "proj-web-1"]);
    let (logs, _) = p.ok(&["logs", "web"]);
    assert_eq!(logs, "web-1  | web says hello\n");
    p.ok(&["down", "-v", "-t", "1"]);
    assert!(p.names().is_empty());
    assert!(!p.env.berth_ok(&["volume", "ls", "-q"]).contains("proj_data"));
}
