//! Rootless: berth run by an unprivileged user (the `berthtest` user that .ci/run creates),
//! inside its own user namespace with the user's subordinate ids.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::util::*;

/// A rootless environment with a busybox image imported as "busybox"; the image has a file
/// owned by 1000:1000 and a setuid file, so id mapping and mode bits can be checked.
fn rootless_with_busybox() -> Option<TestEnv> {
    let env = TestEnv::rootless()?;
    env.import_busybox("busybox", &[], |rootfs| {
        std::fs::write(rootfs.join("owned"), "mine\n").unwrap();
        std::fs::write(rootfs.join("suid"), "s\n").unwrap();
        std::os::unix::fs::chown(rootfs.join("owned"), Some(1000), Some(1000)).unwrap();
        std::fs::set_permissions(rootfs.join("suid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    });
    Some(env)
}

fn subordinate_start() -> u32 {
    let text = std::fs::read_to_string("/etc/subuid").unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{ROOTLESS_USER}:"))).unwrap();
    line.split(':').nth(1).unwrap().parse().unwrap()
}

#[test]
fn rootless_store_files_carry_the_mapped_ids() {
    let Some(env) = rootless_with_busybox() else { return };
    let (uid, _) = env.run_as.unwrap();
    let layer = env.layer_dirs().into_iter().next().expect("one layer");
    let diff = env.layer_diff(&format!("sha256:{layer}"));
    // Container root is the user; container uid 1000 is subordinate id start + 999.
    assert_eq!(std::fs::metadata(diff.join("bin/busybox")).unwrap().uid(), uid);
    assert_eq!(std::fs::metadata(diff.join("owned")).unwrap().uid(), subordinate_start() + 999);
    assert_eq!(std::fs::metadata(diff.join("suid")).unwrap().mode() & 0o7777, 0o4755);
    env.assert_store_ok();
    let info = env.berth_ok(&["info", "--format", "json"]);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["Rootless"], true);
    assert_eq!(info["SingleIdMapping"], false);
}

#[test]
fn rootless_containers_run_as_mapped_root() {
    let Some(env) = rootless_with_busybox() else { return };
    let (uid, _) = env.run_as.unwrap();
    let out = env.berth_ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; stat -c %u /owned; echo $$",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    let map: Vec<Vec<&str>> = lines[1..3].iter().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(map[0], vec!["0".to_string(), uid.to_string(), "1".to_string()]);
    assert_eq!(map[1], vec!["1".to_string(), subordinate_start().to_string(), "65536".to_string()]);
    assert_eq!(lines[3], "1000", "the image's uid 1000 is uid 1000 inside");
    assert_eq!(lines[4], "1", "the container's process is pid 1");
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]).trim(), "", "--rm left a container");
}

#[test]
fn rootless_exit_codes_follow_docker() {
    let Some(env) = rootless_with_busybox() else { return };
    for (args, code) in
        [(vec!["true"], 0), (vec!["sh", "-c", "exit 3"], 3), (vec!["nope"], 127), (vec!["/etc/passwd"], 126)]
    {
        let mut full = vec!["run", "--rm", "busybox"];
        full.extend(args.iter());
        let out = env.berth(&full);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn rootless_detached_container_lifecycle() {
    let Some(env) = rootless_with_busybox() else { return };
    let id = env
        .berth_ok(&["run", "-d", "--name", "sleeper", "busybox", "sh", "-c", "echo started; sleep 60"])
        .trim()
        .to_owned();
    assert_eq!(id.len(), 64);
    let ps = env.berth_ok(&["ps"]);
    assert!(ps.contains("sleeper") && ps.contains("Up"), "{ps}");
    let exec = env.berth(&["exec", "sleeper", "sh", "-c", "test $(id -u) = 0 && exit 7"]);
    assert_eq!(exec.status.code(), Some(7), "{}", String::from_utf8_lossy(&exec.stderr));
    wait_until(WAIT, "the log shows \"started\"", || env.berth_ok(&["logs", "sleeper"]).contains("started"));
    env.berth_ok(&["stop", "-t", "1", "sleeper"]);
    let status = env.berth_ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(status.starts_with("Exited"), "{status}");
    env.berth_ok(&["rm", "sleeper"]);
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]).trim(), "");
    env.assert_store_ok();
}

#[test]
fn rootless_pull_from_a_loopback_registry() {
    let Some(env) = TestEnv::rootless() else { return };
    let registry = Registry::start();
    let image = OciImageBuilder::busybox().build();
    registry.push(&image, "rootless/busybox", "1");
    let reference = format!("{}/rootless/busybox:1", registry.addr);
    env.berth_ok(&["pull", "-q", &reference]);
    env.assert_store_ok();
    assert_eq!(env.berth_ok(&["run", "--rm", &reference, "echo", "pulled"]).trim(), "pulled");
    env.berth_ok(&["rmi", &reference]);
    assert!(env.layer_dirs().is_empty(), "rmi left layers behind");
}

#[test]
fn rootless_limits_without_delegation_are_refused_clearly() {
    let Some(env) = rootless_with_busybox() else { return };
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        // Pure cgroup v2: whether limits work depends on systemd delegation to the user.
        return;
    }
    let line = env.berth_fails_125(&["run", "--rm", "-m", "64m", "busybox", "true"]);
    assert!(line.contains("cgroup"), "{line}");
}

#[test]
fn keep_id_keeps_a_bind_mounted_home_writable() {
    let Some(env) = rootless_with_busybox() else { return };
    let (uid, gid) = env.run_as.unwrap();
    let home = env.path("userhome");
    std::fs::create_dir(&home).unwrap();
    env.give(&home);
    let volume = format!("{}:/home/me", home.display());
    let out = env.berth_ok(&[
        "run",
        "--rm",
        "--userns",
        "keep-id",
        "-v",
        &volume,
        "busybox",
        "sh",
        "-c",
        "id -u; id -g; touch /home/me/made-inside",
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), vec![uid.to_string(), gid.to_string()]);
    let made = std::fs::metadata(home.join("made-inside")).expect("the file was made in the bind-mounted home");
    assert_eq!((made.uid(), made.gid()), (uid, gid));

    env.berth_ok(&["run", "-d", "--name", "kept", "--userns", "keep-id", "busybox", "sleep", "30"]);
    assert_eq!(env.berth_ok(&["exec", "kept", "id", "-u"]).trim(), uid.to_string(), "exec runs as the caller too");
    assert_eq!(env.berth_ok(&["exec", "-u", "0", "kept", "id", "-u"]).trim(), "0");
    env.berth_ok(&["rm", "-f", "kept"]);
}

#[test]
fn keep_id_is_refused_as_root() {
    if !require_root("checks a root-only refusal") {
        return;
    }
    let env = TestEnv::new();
    env.import_busybox("busybox", &[], |_| {});
    let line = env.berth_fails_125(&["run", "--rm", "--userns", "keep-id", "busybox", "true"]);
    assert!(line.contains("keep-id"), "{line}");
}
