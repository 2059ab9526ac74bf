//! The default security profile: capabilities, no_new_privs, seccomp, masked and read-only
//! /proc and /sys paths, devices, and what is out of a container's reach. Every test is a
//! breakout attempt that must fail (or a setting that must lift exactly what it says). They
//! need root and Debian's busybox-static; the raw system calls busybox cannot make come from
//! probe.c, compiled with `cc -static`.
//!
//! The key checks run rootless too (`TestEnv::rootless`: berth as the unprivileged berthtest
//! user, in its own user namespace).

use std::path::{Path, PathBuf};

use crate::util::{ContainerEnv, TestEnv, require_program, require_root};

/// Docker's default capability set, as /proc/PID/status shows it.
const DOCKER_CAPS: &str = "00000000a80425fb";

/// probe.c, compiled once per test run (None when there is no C compiler: the tests skip).
fn probe_binary() -> Option<PathBuf> {
    crate::util::static_helper("probe")
}

/// A test store with a busybox image (every applet linked, plus /bin/probe) imported as "bb",
/// or None (skipped) when not root.
fn setup(what: &str) -> Option<ContainerEnv> {
    if !require_root(what) {
        return None;
    }
    with_image(TestEnv::new())
}

/// `env` with the test image imported, or None (skipped) without a C compiler.
fn with_image(env: TestEnv) -> Option<ContainerEnv> {
    if !require_program("cc") {
        return None;
    }
    let Some(probe) = probe_binary() else {
        crate::util::skip_or_fail("cc -static failed to build probe.c (is libc6-dev installed?)");
        return None;
    };
    Some(env.with_busybox("bb", &[], |rootfs| {
        let applets = std::process::Command::new(crate::util::BUSYBOX).arg("--list").output().expect("busybox --list");
        for applet in String::from_utf8_lossy(&applets.stdout).lines().filter(|a| *a != "busybox") {
            // The few applets busybox_rootfs links already are there.
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
        std::fs::copy(&probe, rootfs.join("bin/probe")).expect("copying the probe");
    }))
}

impl ContainerEnv {
    /// What `probe CALL ARGS` prints in a new container with FLAGS: "OK" or an errno name.
    fn probe(&self, flags: &[&str], call: &[&str]) -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["bb", "probe"]);
        args.extend_from_slice(call);
        let out = self.berth(&args);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// What `probe CALL` prints when exec'd in container `id` with FLAGS.
    fn exec_probe(&self, flags: &[&str], id: &str, call: &[&str]) -> String {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[id, "probe"]);
        args.extend_from_slice(call);
        String::from_utf8_lossy(&self.berth(&args).stdout).trim().to_owned()
    }
}

/// The value of `field` ("CapEff") in a /proc/PID/status text.
fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {field} in:\n{status}"))
}

fn own_status_field(field: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status_field(&status, field).to_owned()
}

const STATUS: &str = "cat /proc/self/status";

#[test]
fn capabilities_follow_dockers_defaults_and_flags() {
    let Some(env) = setup("running containers") else { return };
    let root = env.sh(&[], STATUS);
    assert_eq!(status_field(&root, "CapEff"), DOCKER_CAPS);
    assert_eq!(status_field(&root, "CapPrm"), DOCKER_CAPS);
    assert_eq!(status_field(&root, "CapBnd"), DOCKER_CAPS);
    assert_eq!(status_field(&root, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&root, "CapAmb"), "0000000000000000");
    let nobody = env.sh(&["-u", "65534"], STATUS);
    assert_eq!(status_field(&nobody, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&nobody, "CapPrm"), "0000000000000000");
    assert_eq!(status_field(&nobody, "CapBnd"), DOCKER_CAPS);

    let dropped = env.sh(&["--cap-drop", "ALL"], STATUS);
    assert_eq!(status_field(&dropped, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&dropped, "CapBnd"), "0000000000000000");
    // CAP_SYS_ADMIN is bit 21; CAP_CHOWN bit 0.
    let admin = env.sh(&["--cap-add", "sys_admin", "--cap-drop", "CAP_CHOWN"], STATUS);
    assert_eq!(status_field(&admin, "CapEff"), "00000000a82425fa");
    let only = env.sh(&["--cap-drop", "all", "--cap-add", "NET_RAW"], STATUS);
    assert_eq!(status_field(&only, "CapEff"), "0000000000002000");
    // Privileged: everything berth itself holds.
    let privileged = env.sh(&["--privileged"], STATUS);
    assert_eq!(status_field(&privileged, "CapEff"), own_status_field("CapBnd"));
    assert_eq!(status_field(&privileged, "Seccomp"), "0", "no filter when privileged");

    let err = env.berth_fails_125(&["run", "--rm", "--cap-add", "FLY", "bb", "true"]);
    assert!(err.contains(r#"unknown capability: "CAP_FLY""#), "{err}");
    // Without CAP_CHOWN root cannot give files away.
    let out = env.berth(&["run", "--rm", "--cap-drop", "chown", "bb", "chown", "65534", "/tmp"]);
    assert!(!out.status.success(), "chown without CAP_CHOWN succeeded");
}

#[test]
fn no_new_privs_and_seccomp_are_on_by_default_and_can_be_lifted() {
    let Some(env) = setup("running containers") else { return };
    let default = env.sh(&[], STATUS);
    assert_eq!(status_field(&default, "NoNewPrivs"), "1");
    assert_eq!(status_field(&default, "Seccomp"), "2");
    let nobody = env.sh(&["-u", "nobody"], STATUS);
    assert_eq!((status_field(&nobody, "NoNewPrivs"), status_field(&nobody, "Seccomp")), ("1", "2"));
    for opt in ["no-new-privileges=false", "no-new-privileges:false"] {
        let lifted = env.sh(&["--security-opt", opt], STATUS);
        assert_eq!(status_field(&lifted, "NoNewPrivs"), "0", "{opt}");
        assert_eq!(status_field(&lifted, "Seccomp"), "2", "{opt}: still filtered");
    }
    // Without no_new_privs the filter is installed before the user switch; a user still runs.
    let lifted_user = env.sh(&["--security-opt", "no-new-privileges=false", "-u", "65534"], STATUS);
    assert_eq!((status_field(&lifted_user, "NoNewPrivs"), status_field(&lifted_user, "Seccomp")), ("0", "2"));
    let unconfined = env.sh(&["--security-opt", "seccomp=unconfined"], STATUS);
    assert_eq!((status_field(&unconfined, "NoNewPrivs"), status_field(&unconfined, "Seccomp")), ("1", "0"));
    // --init: the user's process is filtered.
    let init = env.sh(&["--init"], STATUS);
    assert_eq!((status_field(&init, "NoNewPrivs"), status_field(&init, "Seccomp")), ("1", "2"));
}

#[test]
fn the_default_seccomp_profile_refuses_what_docker_refuses() {
    let Some(env) = setup("running containers") else { return };
    for (call, expected) in [
        ("keyctl", "EPERM"),
        ("add_key", "EPERM"),
        ("unshare-user", "EPERM"),
        ("unshare-mount", "EPERM"),
        ("clone-newuser", "EPERM"),
        ("init_module", "EPERM"),
        ("finit_module", "EPERM"),
        // AF_VSOCK reaches the hypervisor's host side on a VM.
        ("vsock", "EPERM"),
        ("personality", "EPERM"),
        // ENOSYS, so that libc falls back to clone.
        ("clone3", "ENOSYS"),
    ] {
        assert_eq!(env.probe(&[], &[call]), expected, "{call} under the default profile");
    }
    // Lifted by seccomp=unconfined (what is left is up to capabilities and the kernel).
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    assert_eq!(env.probe(&unconfined, &["keyctl"]), "OK");
    assert_eq!(env.probe(&unconfined, &["unshare-user"]), "OK");
    assert_eq!(env.probe(&unconfined, &["clone3"]), "EINVAL");
    assert_eq!(env.probe(&unconfined, &["unshare-mount"]), "EPERM", "still no CAP_SYS_ADMIN");
    // Loading a module still needs CAP_SYS_MODULE (or the kernel has no modules: ENOSYS).
    assert_ne!(env.probe(&unconfined, &["init_module"]), "OK");
    // CAP_SYS_ADMIN brings its syscalls back, as in Docker; keyctl stays refused.
    let admin = ["--cap-add", "SYS_ADMIN"];
    assert_eq!(env.probe(&admin, &["unshare-mount"]), "OK");
    assert_eq!(env.probe(&admin, &["clone3"]), "EINVAL");
    assert_eq!(env.probe(&admin, &["keyctl"]), "EPERM");
    // A filtered exec too.
    let id = env.berth_ok(&["run", "-d", "bb", "sleep", "1000"]).trim().to_owned();
    assert_eq!(env.exec_probe(&[], &id, &["keyctl"]), "EPERM", "exec'd processes are filtered");
    let status = env.berth_ok(&["exec", "-u", "nobody", &id, "cat", "/proc/self/status"]);
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(status_field(&status, "CapEff"), "0000000000000000");
    let status = env.berth_ok(&["exec", &id, "cat", "/proc/self/status"]);
    assert_eq!(status_field(&status, "CapEff"), DOCKER_CAPS);
    // busybox's own tools fail the same way.
    let out = env.berth(&["run", "--rm", "bb", "insmod", "/nonexistent.ko"]);
    assert!(!out.status.success());
}

#[test]
fn custom_profiles_are_read_once_and_checked() {
    let Some(env) = setup("running containers") else { return };
    let profile = env.path("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = env.berth(&["run", "--rm", "--security-opt", &opt, "bb", "mkdir", "/tmp/x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"), "{out:?}");
    // A profile that allows everything else: keyctl works.
    assert_eq!(env.probe(&["--security-opt", &opt], &["keyctl"]), "OK");

    // The content is kept at create: editing the file later changes nothing.
    env.berth_ok(&["create", "--name", "kept", "--security-opt", &opt, "bb", "mkdir", "/tmp/y"]);
    std::fs::write(&profile, "{ this is not json").unwrap();
    let out = env.berth(&["start", "-a", "kept"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"), "{out:?}");

    // A broken file: one clear line naming it, exit 125, nothing created.
    let err = env.berth_fails_125(&["run", "--rm", "--security-opt", &opt, "bb", "true"]);
    assert!(err.contains("no-mkdir.json") && err.contains("decoding seccomp profile failed"), "{err}");
    let missing = env.berth_fails_125(&["run", "--rm", "--security-opt", "seccomp=/nonexistent/p.json", "bb", "true"]);
    assert!(missing.contains("/nonexistent/p.json"), "{missing}");
    let bad = env.berth_fails_125(&["run", "--rm", "--security-opt", "seccomp", "bb", "true"]);
    assert!(bad.contains("seccomp"), "{bad}");
    let names = env.berth_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names.trim(), "kept", "failed creates leave nothing behind");
}

#[test]
fn mounting_needs_privileges() {
    let Some(env) = setup("running containers") else { return };
    let out = env.berth(&["run", "--rm", "bb", "sh", "-c", "mkdir -p /mnt && mount -t tmpfs none /mnt"]);
    assert!(!out.status.success(), "mount worked in a default container");
    env.sh(&["--privileged"], "mkdir -p /mnt && mount -t tmpfs none /mnt && touch /mnt/x");
    env.sh(&["--cap-add", "SYS_ADMIN"], "mkdir -p /mnt && mount -t tmpfs none /mnt && touch /mnt/x");
    assert_eq!(env.probe(&[], &["mount-tmpfs", "/tmp"]), "EPERM");
}

#[test]
fn proc_and_sys_are_masked_and_read_only() {
    let Some(env) = setup("running containers") else { return };
    // Masked files read as empty and masked directories are empty (where this kernel has them:
    // the container's /proc and /sys show what the host's do).
    let mounts = env.sh(&[], "cat /proc/self/mounts");
    let mounted = |path: &str| mounts.lines().any(|l| l.split(' ').nth(1) == Some(path));
    for file in ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats"] {
        if Path::new(file).exists() {
            assert!(mounted(file), "{file} is not masked:\n{mounts}");
            assert_eq!(env.sh(&[], &format!("wc -c < {file}")).trim(), "0", "{file}");
        }
    }
    for dir in ["/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"] {
        if Path::new(dir).exists() {
            assert!(mounted(dir), "{dir} is not masked:\n{mounts}");
            assert_eq!(env.sh(&[], &format!("ls -A {dir} | wc -l")).trim(), "0", "{dir}");
        }
    }
    assert!(Path::new("/proc/keys").exists() && Path::new("/sys/firmware").exists(), "nothing to test masking on");
    for write in [
        "echo evil > /proc/sys/kernel/hostname",
        "echo 1 > /proc/sys/vm/drop_caches",
        "echo h > /proc/sysrq-trigger",
        "echo 1 > /sys/kernel/mm/ksm/run",
        "touch /sys/x",
    ] {
        let out = env.berth(&["run", "--rm", "bb", "sh", "-c", write]);
        assert!(!out.status.success(), "{write} succeeded");
    }
    assert_eq!(env.probe(&[], &["open-write", "/proc/sys/kernel/hostname"]), "EROFS");
    if Path::new("/proc/sysrq-trigger").exists() {
        assert_eq!(env.probe(&[], &["open-write", "/proc/sysrq-trigger"]), "EROFS");
    }
    let readonly = ["/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/irq", "/proc/fs", "/sys"];
    for path in readonly.into_iter().filter(|p| Path::new(p).exists()) {
        let line =
            mounts.lines().find(|l| l.split(' ').nth(1) == Some(path)).unwrap_or_else(|| panic!("{path}:\n{mounts}"));
        assert!(line.split(' ').nth(3).unwrap().split(',').any(|o| o == "ro"), "{line}");
    }
    // Privileged: nothing masked, /proc/sys writable (the hostname is the container's own).
    let out = env.sh(
        &["--privileged", "--hostname", "before"],
        "echo after > /proc/sys/kernel/hostname; hostname; cat /proc/self/mounts",
    );
    assert_eq!(out.lines().next(), Some("after"));
    for path in ["/proc/keys", "/proc/timer_list", "/sys/firmware", "/proc/sys"] {
        assert!(!out.lines().any(|l| l.split(' ').nth(1) == Some(path)), "{path} masked when privileged:\n{out}");
    }
}

#[test]
fn the_host_is_out_of_reach() {
    let Some(env) = setup("running containers") else { return };
    let secret = env.path("host-secret");
    std::fs::write(&secret, "s3cr3t-data").unwrap();
    let host_path = secret.to_str().unwrap();
    let script = format!(
        "cat {host_path}; cat /../../..{host_path}; cat /proc/1/root{host_path}; echo x > {host_path}; \
         ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline; echo; readlink /proc/1/cwd; readlink /proc/1/root; \
         ls /proc/self/fd"
    );
    let out = env.berth(&["run", "--rm", "bb", "sh", "-c", &script]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "s3cr3t-data", "the host file is unchanged");
    assert!(!stdout.contains("s3cr3t-data"), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    // The shell, ls and grep are all the container has: no host pid is visible.
    let pids: u32 = lines[0].parse().unwrap();
    assert!(pids <= 3, "{pids} processes visible:\n{stdout}");
    assert!(lines[1].starts_with("sh"), "pid 1 is the container's own: {stdout}");
    assert_eq!(&lines[2..4], ["/", "/"], "working directory and root inside the container");
    // Only the standard streams, and ls's own directory handle.
    assert_eq!(lines[4..].join(" "), "0 1 2 3", "{stdout}");
}

#[test]
fn berths_binary_cannot_be_reached() {
    let Some(env) = setup("running containers") else { return };
    let berth = Path::new(crate::util::BERTH);
    let before = std::fs::read(berth).unwrap();
    for flags in [&[][..], &["--init"][..]] {
        for target in ["/proc/self/exe", "/proc/1/exe"] {
            let result = env.probe(flags, &["open-write", target]);
            assert!(result == "ETXTBSY" || result == "EACCES" || result == "EPERM", "{flags:?} {target}: {result}");
        }
    }
    // With --init, pid 1 is berth: not dumpable, so not even readable or traceable.
    assert_eq!(env.probe(&["--init"], &["open-read", "/proc/1/exe"]), "EACCES");
    assert_eq!(env.probe(&["--init"], &["ptrace", "1"]), "EPERM");
    let id = env.berth_ok(&["run", "-d", "--init", "bb", "sleep", "1000"]).trim().to_owned();
    let out = env.exec_probe(&[], &id, &["open-write", "/proc/1/exe"]);
    assert!(["EACCES", "ETXTBSY"].contains(&out.as_str()), "{out}");
    assert_eq!(std::fs::read(berth).unwrap(), before, "berth's binary is unchanged");
}

#[test]
fn ptrace_of_other_users_processes_is_refused() {
    let Some(env) = setup("running containers") else { return };
    // pid 1 is root's; the probe runs as nobody.
    let id = env.berth_ok(&["run", "-d", "bb", "sleep", "1000"]).trim().to_owned();
    assert_eq!(env.exec_probe(&["-u", "65534"], &id, &["ptrace", "1"]), "EPERM");
    assert_eq!(env.exec_probe(&["-u", "65534"], &id, &["open-read", "/proc/1/environ"]), "EACCES");
}

#[test]
fn devices_are_the_default_ones_plus_those_added() {
    let Some(env) = setup("running containers") else { return };
    let listed = env.sh(&[], "ls /dev | sort | tr '\\n' ' '");
    for name in ["console", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "tty", "urandom", "zero"] {
        // console exists only with a tty.
        assert_eq!(listed.split(' ').any(|n| n == name), name != "console", "/dev/{name} in {listed}");
    }
    for absent in ["vda", "sda", "mem", "kmsg", "vsock", "fuse"] {
        assert!(!listed.split(' ').any(|n| n == absent), "/dev/{absent} in {listed}");
    }
    let out = env.sh(&["--device", "/dev/null:/dev/mynull"], "echo hi > /dev/mynull && stat -c '%t:%T %F' /dev/mynull");
    assert_eq!(out.trim(), "1:3 character special file");
    let err = env.berth_fails_125(&["run", "--rm", "--device", "/dev/berth-no-such-device", "bb", "true"]);
    assert!(err.contains("/dev/berth-no-such-device") && err.contains("no such file or directory"), "{err}");
    // Nodes a root container makes (it has CAP_MKNOD) but must not use: the kernel log (c 1:11)
    // and a loop device (b 7:0), both of which the host can open. Privileged containers can.
    let v1 = !Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    for (kind, numbers) in [("c", "1:11"), ("b", "7:0")] {
        let contained = env.probe(&[], &["mknod-open", "/tmp/node", kind, numbers]);
        let privileged = env.probe(&["--privileged"], &["mknod-open", "/tmp/node", kind, numbers]);
        if v1 {
            assert_eq!(contained, "EPERM", "the devices cgroup let {kind} {numbers} be opened");
            assert_eq!(privileged, "OK", "{kind} {numbers} when privileged");
        } else {
            eprintln!("note: cgroup v2 host: berth loads no device eBPF program; {kind} {numbers} gave {contained}");
        }
    }
    // Added devices, made (character) or bound (block), are allowed as far as their
    // permissions say.
    if Path::new("/dev/fuse").exists() {
        assert_eq!(env.probe(&["--device", "/dev/fuse"], &["open-read", "/dev/fuse"]), "OK");
        if v1 {
            assert_eq!(env.probe(&["--device", "/dev/fuse:/dev/fuse:r"], &["open-write", "/dev/fuse"]), "EPERM");
        }
    }
    if Path::new("/dev/loop0").exists() {
        assert_eq!(env.probe(&["--device", "/dev/loop0:/dev/xloop"], &["open-read", "/dev/xloop"]), "OK");
    }
    // Added devices are allowed by the cgroup too; privileged gets the host's.
    let listed = env.sh(&["--privileged"], "ls /dev");
    let host_has = |name: &str| Path::new("/dev").join(name).exists();
    for name in ["kmsg", "mem", "vda"].into_iter().filter(|n| host_has(n)) {
        assert!(listed.lines().any(|l| l == name), "privileged lacks /dev/{name}:\n{listed}");
    }
}

#[test]
fn inspect_shows_the_security_settings() {
    let Some(env) = setup("running containers") else { return };
    env.berth_ok(&["create", "--name", "plain", "bb", "true"]);
    let plain = env.inspect_container("plain");
    let host = &plain["HostConfig"];
    assert_eq!(host["Privileged"], false);
    assert!(host["CapAdd"].is_null() && host["CapDrop"].is_null() && host["SecurityOpt"].is_null(), "{host}");
    assert_eq!(host["Devices"], serde_json::json!([]));
    env.berth_ok(&[
        "create",
        "--name",
        "tuned",
        "--cap-add",
        "net_admin",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges=false",
        "--security-opt",
        "seccomp=unconfined",
        "--device",
        "/dev/null:/dev/mynull:rw",
        "bb",
        "true",
    ]);
    let host = env.inspect_container("tuned")["HostConfig"].clone();
    assert_eq!(host["CapAdd"], serde_json::json!(["CAP_NET_ADMIN"]));
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(host["SecurityOpt"], serde_json::json!(["no-new-privileges=false", "seccomp=unconfined"]));
    assert_eq!(
        host["Devices"],
        serde_json::json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rw"}])
    );
    env.berth_ok(&["create", "--name", "all", "--privileged", "bb", "true"]);
    assert_eq!(env.inspect_container("all")["HostConfig"]["Privileged"], true);
}

#[test]
fn rootless_containers_get_the_same_profile() {
    let Some(env) = TestEnv::rootless().and_then(with_image) else { return };
    let root = env.sh(&[], STATUS);
    assert_eq!(status_field(&root, "CapEff"), DOCKER_CAPS);
    assert_eq!(status_field(&root, "CapBnd"), DOCKER_CAPS);
    assert_eq!((status_field(&root, "NoNewPrivs"), status_field(&root, "Seccomp")), ("1", "2"));
    let user = env.sh(&["-u", "1000"], STATUS);
    assert_eq!(status_field(&user, "CapEff"), "0000000000000000");
    for (call, expected) in [("keyctl", "EPERM"), ("unshare-user", "EPERM"), ("vsock", "EPERM"), ("clone3", "ENOSYS")] {
        assert_eq!(env.probe(&[], &[call]), expected, "{call}");
    }
    assert_eq!(env.probe(&["--security-opt", "seccomp=unconfined"], &["keyctl"]), "OK");
    assert_eq!(env.probe(&[], &["mount-tmpfs", "/tmp"]), "EPERM");
    // Refused by ownership (the host's root is unmapped) and by the read-only mount.
    let write = env.probe(&[], &["open-write", "/proc/sys/kernel/hostname"]);
    assert!(write == "EROFS" || write == "EACCES", "{write}");
    let mounts = env.sh(&[], "cat /proc/self/mounts");
    let sysctl = mounts.lines().find(|l| l.split(' ').nth(1) == Some("/proc/sys")).expect("/proc/sys mount");
    assert!(sysctl.split(' ').nth(3).unwrap().split(',').any(|o| o == "ro"), "{sysctl}");
    for masked in ["/proc/keys", "/proc/timer_list", "/sys/firmware"].into_iter().filter(|p| Path::new(p).exists()) {
        assert!(mounts.lines().any(|l| l.split(' ').nth(1) == Some(masked)), "{masked} unmasked:\n{mounts}");
    }
    // The host's /sys, shown with the host's network, is read-only and masked too.
    let out = env.berth(&["run", "--rm", "--network", "host", "bb", "sh", "-c", "touch /sys/x"]);
    assert!(!out.status.success());
    assert_eq!(env.sh(&["--network", "host"], "ls -A /sys/firmware | wc -l").trim(), "0");
    // Devices are bound, not made: the added one works, a missing one is refused.
    let out = env.sh(&["--device", "/dev/null:/dev/mynull"], "echo hi > /dev/mynull && stat -c '%t:%T' /dev/mynull");
    assert_eq!(out.trim(), "1:3");
    let err = env.berth_fails_125(&["run", "--rm", "--device", "/dev/berth-no-such-device", "bb", "true"]);
    assert!(err.contains("/dev/berth-no-such-device"), "{err}");
    let id = env.berth_ok(&["run", "-d", "bb", "sleep", "1000"]).trim().to_owned();
    assert_eq!(env.exec_probe(&[], &id, &["keyctl"]), "EPERM", "exec'd processes are filtered");
    let privileged = env.sh(&["--privileged"], STATUS);
    assert_eq!(status_field(&privileged, "Seccomp"), "0");
    env.sh(&["--privileged"], "mkdir -p /mnt && mount -t tmpfs none /mnt");
}
