//! On a cgroup v1 host (this project's machines are v1 hybrid), a container sees its own cgroup
//! at /sys/fs/cgroup as Docker shows it there: a read-only tmpfs with one directory per v1
//! hierarchy, each rooted at the container's cgroup (a cgroup namespace), so runtimes that size
//! themselves from the limits (the JVM, Go, .NET, Node) find them. A pure v2 host has no v1 to
//! test (its cgroup2 mount is covered by the containers tests), so these tests return there.

use crate::util::*;

fn is_v1_host() -> bool {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipped: a pure cgroup v2 host has no v1 hierarchies");
        return false;
    }
    true
}

#[test]
fn v1_limits_read_back_inside_as_set() {
    if !is_v1_host() {
        return;
    }
    let Some(env) = root_with_busybox("cgroup limits", "busybox") else { return };
    let out = env.sh(
        &["-m", "64m", "--cpus", "0.5", "--pids-limit", "20"],
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us \
         /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max",
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), [(64u64 << 20).to_string().as_str(), "50000", "100000", "20"]);

    // Each hierarchy is rooted at the container's own cgroup: its processes are all there is.
    let out = env.sh(&[], "cat /proc/self/cgroup; echo; cat /sys/fs/cgroup/memory/cgroup.procs");
    let (cgroups, procs) = out.split_once("\n\n").unwrap();
    for line in cgroups.lines().filter(|l| !l.starts_with("0::")) {
        assert!(line.ends_with(":/"), "the container's cgroup is not its namespace's root: {line}\n{out}");
    }
    // sh, and cat (or only cat, when sh execs its last command).
    let count = procs.lines().count();
    assert!((1..=2).contains(&count), "only the container's processes are in its cgroup: {out}");

    // Everything is there that the host mounts, and nothing can be written.
    let host: Vec<String> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "unified")
        .collect();
    let inside = env.sh(&[], "ls /sys/fs/cgroup");
    for name in &host {
        assert!(inside.lines().any(|l| l == name), "{name} is missing inside: {inside}");
    }
    assert!(!inside.lines().any(|l| l == "unified"), "{inside}");
    let out = env.sh(
        &["-m", "64m"],
        "echo 1 > /sys/fs/cgroup/memory/memory.limit_in_bytes 2>&1 || echo refused; \
         mkdir /sys/fs/cgroup/new 2>&1 || echo refused; cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    );
    assert_eq!(out.lines().filter(|l| *l == "refused").count(), 2, "{out}");
    assert!(out.ends_with(&format!("{}\n", 64u64 << 20)), "{out}");
}

#[test]
fn v1_unlimited_containers_and_privileged_ones_see_their_cgroup() {
    if !is_v1_host() {
        return;
    }
    let Some(env) = root_with_busybox("cgroup limits", "busybox") else { return };
    let out = env.sh(&[], "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].parse::<u64>().unwrap() > 1 << 62, "{out}");
    assert_eq!(lines[1], "max");
    // Privileged: writable, as Docker has it.
    let out = env.sh(
        &["--privileged", "-m", "64m"],
        "echo 33554432 > /sys/fs/cgroup/memory/memory.limit_in_bytes && cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    );
    assert_eq!(out.trim(), (32u64 << 20).to_string());
}

#[test]
fn v1_rootless_containers_see_the_hierarchies_but_get_no_limits() {
    if !is_v1_host() {
        return;
    }
    let Some(env) = TestEnv::rootless() else { return };
    env.import_busybox("busybox", &[], |_| {});
    let out = env.berth_ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; grep ' /sys/fs/cgroup/memory ' /proc/self/mountinfo",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].parse::<u64>().unwrap() > 1 << 62, "rootless on v1 has no memory limit: {out}");
    assert!(lines[1].contains(" ro,") && lines[1].contains(" - cgroup cgroup "), "{out}");
    let line = env.berth_fails_125(&["run", "--rm", "-m", "64m", "busybox", "true"]);
    assert!(line.contains("on cgroup v1, rootless containers get no limits"), "{line}");
}
