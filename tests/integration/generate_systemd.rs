//! `generate systemd`: the unit is parsed back, checked by `systemd-analyze verify` where it is
//! installed, and its commands are run the way systemd would run them (systemd is not pid 1
//! here: a test-bound NOTIFY_SOCKET stands for it). Needs root and busybox-static.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::util::{ContainerEnv, assert_one_error_line, root_with_busybox};

/// Each section's keys and their values (a key may repeat), in the file's order.
type Unit = BTreeMap<String, Vec<(String, String)>>;

fn parse_unit(text: &str) -> Unit {
    let mut unit = Unit::new();
    let mut section = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_owned());
            unit.entry(name.to_owned()).or_default();
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("not KEY=VALUE: {line}"));
        let section = section.clone().unwrap_or_else(|| panic!("a key before any section: {line}"));
        unit.get_mut(&section).unwrap().push((key.to_owned(), value.to_owned()));
    }
    unit
}

fn get<'a>(unit: &'a Unit, section: &str, key: &str) -> Vec<&'a str> {
    unit.get(section)
        .map(|kv| kv.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect())
        .unwrap_or_default()
}

/// A command line as systemd splits it: words, double quotes with C escapes, `%%` and `$$`; a
/// leading `-` (ignore failure) dropped.
fn split_command(line: &str) -> Vec<String> {
    let line = line.strip_prefix('-').unwrap_or(line).replace("%%", "%").replace("$$", "$");
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some('t') => word.push('\t'),
                        Some(other) => word.push(other),
                        None => {}
                    },
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

/// Runs a unit's command line as systemd would, with NOTIFY_SOCKET set; whether it succeeded.
fn exec(env: &ContainerEnv, line: &str, notify: &std::path::Path) -> bool {
    let words = split_command(line);
    let out = std::process::Command::new(&words[0])
        .args(&words[1..])
        .env("NOTIFY_SOCKET", notify)
        .env("HOME", env.path("home"))
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!("{line}: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

fn status(env: &ContainerEnv, name: &str) -> String {
    env.berth_ok(&["ps", "-a", "--filter", &format!("name=^{name}$"), "--format", "{{.State}}"]).trim().to_owned()
}

#[test]
fn the_unit_starts_and_stops_the_existing_container() {
    let Some(env) = root_with_busybox("generating systemd units", "busybox") else { return };
    env.berth_ok(&["create", "--name", "web", "--stop-timeout", "7", "busybox", "sleep", "1000"]);
    let text = env.berth_ok(&["generate", "systemd", "--name", "web"]);
    let unit = parse_unit(&text);
    assert_eq!(unit.keys().collect::<Vec<_>>(), ["Install", "Service", "Unit"]);
    assert_eq!(get(&unit, "Service", "Type"), ["notify"]);
    assert_eq!(get(&unit, "Service", "Restart"), ["on-failure"]);
    assert_eq!(get(&unit, "Service", "TimeoutStopSec"), ["67"], "the container's stop timeout + 60");
    assert_eq!(get(&unit, "Install", "WantedBy"), ["default.target"]);
    let start = split_command(get(&unit, "Service", "ExecStart")[0]);
    let root = env.path("root").display().to_string();
    assert!(start.ends_with(&["start".to_owned(), "web".to_owned()]), "{start:?}");
    assert!(start.windows(2).any(|w| w == ["--root".to_owned(), root.clone()]), "{start:?}");
    assert!(get(&unit, "Service", "ExecStop")[0].ends_with(" stop -t 7 web"), "{text}");
    // Options: the id instead of the name, a policy, a stop time.
    let id = env.berth_ok(&["inspect", "--format", "{{.Id}}", "web"]).trim().to_owned();
    let other = parse_unit(&env.berth_ok(&["generate", "systemd", "--restart-policy", "always", "-t", "3", "web"]));
    assert!(get(&other, "Service", "ExecStart")[0].ends_with(&format!(" start {id}")));
    assert_eq!(get(&other, "Service", "Restart"), ["always"]);
    assert_eq!(get(&other, "Service", "TimeoutStopSec"), ["63"]);
    assert!(text.starts_with("# container-web.service\n"), "{text}");
    verify_if_possible(&env, "container-web.service", &text);

    // What systemd does with it: ExecStart (READY once running), ExecStop, and a start again.
    let notify = env.path("notify.sock");
    let socket = UnixDatagram::bind(&notify).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert!(exec(&env, get(&unit, "Service", "ExecStart")[0], &notify));
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY from ExecStart");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    assert_eq!(status(&env, "web"), "running");
    assert!(exec(&env, get(&unit, "Service", "ExecStop")[0], &notify));
    assert_eq!(status(&env, "web"), "exited");
    assert!(exec(&env, get(&unit, "Service", "ExecStart")[0], &notify));
    assert_eq!(status(&env, "web"), "running");
    // Bad input: one line, 125, nothing printed.
    let (code, stderr) = env.berth_err(&["generate", "systemd", "--restart-policy", "sometimes", "web"]);
    assert_eq!(code, 125, "{stderr}");
    assert_one_error_line(&stderr);
    env.berth_fails_with(1, &["generate", "systemd", "nosuch"]);
    env.berth_ok(&["rm", "-f", "web"]);
}

#[test]
fn a_new_unit_creates_the_container_at_each_start_and_removes_it_after_each_stop() {
    let Some(env) = root_with_busybox("generating systemd units", "busybox") else { return };
    env.berth_ok(&[
        "create",
        "--name",
        "svc",
        "--label",
        "role=a b",
        "-e",
        "GREETING=100% $HOME",
        "busybox",
        "sh",
        "-c",
        "echo \"$GREETING\"; exec sleep 1000",
    ]);
    let text = env.berth_ok(&["generate", "systemd", "--new", "--name", "svc"]);
    let unit = parse_unit(&text);
    verify_if_possible(&env, "container-svc.service", &text);
    env.berth_ok(&["rm", "svc"]);
    let notify = env.path("notify.sock");
    let socket = UnixDatagram::bind(&notify).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    for round in 0..2 {
        // ExecStartPre may fail (nothing to remove) and is marked so.
        let pre = get(&unit, "Service", "ExecStartPre")[0];
        assert!(pre.starts_with('-'), "{pre}");
        exec(&env, pre, &notify);
        assert!(exec(&env, get(&unit, "Service", "ExecStart")[0], &notify), "round {round}: {text}");
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("READY from ExecStart");
        assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
        assert_eq!(status(&env, "svc"), "running");
        let inspect = env.inspect_container("svc");
        assert_eq!(inspect["Config"]["Labels"]["role"], "a b", "quoting kept the value whole");
        crate::util::wait_for(Duration::from_secs(20), "the greeting", || {
            env.berth_ok(&["logs", "svc"]).contains("100% $HOME").then_some(())
        });
        assert!(exec(&env, get(&unit, "Service", "ExecStop")[0], &notify));
        assert!(exec(&env, get(&unit, "Service", "ExecStopPost")[0], &notify));
        assert_eq!(status(&env, "svc"), "", "removed after the stop");
    }
}

/// `systemd-analyze verify` on the unit, where systemd's tools are installed.
fn verify_if_possible(env: &ContainerEnv, name: &str, text: &str) {
    if std::process::Command::new("systemd-analyze").arg("--version").output().is_err() {
        return;
    }
    let dir = env.path("units");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains(name), "systemd-analyze verify {name}:\n{stderr}\n{text}");
}
