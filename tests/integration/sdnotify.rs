//! `--sdnotify`: what a container started under a systemd `Type=notify` unit tells systemd.
//! systemd is not pid 1 here, so each test binds the datagram socket systemd would pass in
//! `NOTIFY_SOCKET` and reads what arrives (real socket, real containers). Needs root and
//! busybox-static; the container mode test also a C compiler (sd_notify.c, as a container's
//! own sd_notify).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::util::{ContainerEnv, require_program, root_with_busybox};

/// The socket systemd would hand over, bound by the test.
fn notify_socket(env: &ContainerEnv) -> (UnixDatagram, PathBuf) {
    let path = env.path("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    (socket, path)
}

fn receive(socket: &UnixDatagram) -> Option<String> {
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn berth_notified(env: &ContainerEnv, socket: &Path, args: &[&str]) -> std::process::Output {
    env.command(args).env("NOTIFY_SOCKET", socket).output().unwrap()
}

/// The pid in a `MAINPID=…` line.
fn main_pid(message: &str) -> i32 {
    let line =
        message.lines().find_map(|l| l.strip_prefix("MAINPID=")).unwrap_or_else(|| panic!("no MAINPID: {message:?}"));
    line.parse().unwrap()
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

#[test]
fn conmon_mode_sends_mainpid_of_the_supervisor_and_ready_once_started() {
    let Some(env) = root_with_busybox("sending sd_notify messages", "busybox") else { return };
    let (socket, path) = notify_socket(&env);
    let out = berth_notified(&env, &path, &["run", "-d", "--name", "unit", "busybox", "sleep", "1000"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let message = receive(&socket).expect("a message once the container started");
    assert!(message.lines().any(|l| l == "READY=1"), "{message:?}");
    let pid = main_pid(&message);
    assert!(cmdline(pid).ends_with(&format!("__supervise {id} ")), "MAINPID names the supervisor: {}", cmdline(pid));
    // The container was running when READY went out.
    let state = env.inspect_container("unit");
    assert_eq!(state["State"]["Status"], "running");
    assert!(state["State"]["Pid"].as_i64().unwrap() > 0);
    // A stop and a start again (what systemctl restart does with a `berth start` unit): a new
    // supervisor, announced again; nothing after a stop.
    assert!(berth_notified(&env, &path, &["stop", "-t", "1", "unit"]).status.success());
    assert!(berth_notified(&env, &path, &["start", "unit"]).status.success());
    let again = receive(&socket).expect("a message for the second start");
    assert!(again.contains("READY=1") && main_pid(&again) != pid, "{again:?}");
    // A foreground run (a Type=notify unit's ExecStart=berth run …) is announced while it runs.
    let out = berth_notified(&env, &path, &["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert!(receive(&socket).is_some_and(|m| m.contains("READY=1")));
    // Without NOTIFY_SOCKET nothing is sent, and nothing fails.
    env.berth_ok(&["run", "--rm", "busybox", "true"]);
}

#[test]
fn ignore_mode_sends_nothing_and_bad_modes_are_refused() {
    let Some(env) = root_with_busybox("sending sd_notify messages", "busybox") else { return };
    let (socket, path) = notify_socket(&env);
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let out = berth_notified(&env, &path, &["run", "--rm", "--sdnotify=ignore", "busybox", "true"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(receive(&socket), None, "--sdnotify=ignore sent something");
    env.berth_fails_125(&["run", "--rm", "--sdnotify=systemd", "busybox", "true"]);
    assert!(env.berth_ok(&["ps", "-a", "-q"]).trim().is_empty(), "a refused run created nothing");
}

/// sd_notify.c, compiled once per test run.
fn notifier() -> Option<&'static Path> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
            std::fs::create_dir_all(dir).ok()?;
            let built = dir.join(format!("sd_notify-{}", std::process::id()));
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/sd_notify.c");
            let status =
                std::process::Command::new("cc").args(["-static", "-O1", "-o"]).arg(&built).arg(&source).status();
            let binary = dir.join("sd_notify");
            (status.is_ok_and(|s| s.success()) && std::fs::rename(&built, &binary).is_ok()).then_some(binary)
        })
        .as_deref()
}

#[test]
fn container_mode_lets_the_containers_own_sd_notify_reach_the_socket() {
    if !crate::util::require_root("sending sd_notify messages") || !require_program("cc") {
        return;
    }
    let Some(binary) = notifier() else {
        crate::util::skip_or_fail("cc -static failed to build sd_notify.c (is libc6-dev installed?)");
        return;
    };
    let env = crate::util::TestEnv::new().with_busybox("busybox", &[], |rootfs| {
        std::fs::copy(binary, rootfs.join("bin/sd_notify")).expect("copying sd_notify");
    });
    let (socket, path) = notify_socket(&env);
    let script = "echo $NOTIFY_SOCKET; sd_notify 'READY=1\nSTATUS=from the container'";
    let out = berth_notified(&env, &path, &["run", "--rm", "--sdnotify=container", "busybox", "sh", "-c", script]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/run/notify/notify.sock\n");
    // berth names the supervisor (no READY of its own); READY comes from the container.
    let mut messages = vec![receive(&socket).unwrap(), receive(&socket).unwrap()];
    messages.sort();
    assert!(messages[0].starts_with("MAINPID=") && !messages[0].contains("READY"), "{messages:?}");
    assert_eq!(messages[1], "READY=1\nSTATUS=from the container", "{messages:?}");
    // Conmon mode binds nothing into the container.
    let out = berth_notified(
        &env,
        &path,
        &["run", "--rm", "busybox", "sh", "-c", "echo ${NOTIFY_SOCKET:-none}; test -e /run/notify && echo bound"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "none\n");
}
