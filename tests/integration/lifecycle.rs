//! The container lifecycle's races and stalls: concurrent starts claim a container once, a start
//! in progress shows as such and a killed one blocks nothing, a detached exec lets go of the
//! caller's stdio, and force removal never waits on a freeze that cannot complete. They need root
//! and Debian's busybox-static; each test imports a busybox root filesystem into its own store.

use std::fs::File;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::{ContainerEnv, root_with_busybox};

/// The argv (NUL-separated) of every process.
fn processes() -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            out.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ").trim_end().to_owned()));
        }
    }
    out
}

fn is_zombie_or_gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |s| s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

/// Live processes whose command line is exactly `cmdline`.
fn live(cmdline: &str) -> Vec<i32> {
    processes().into_iter().filter(|(pid, c)| c == cmdline && !is_zombie_or_gone(*pid)).map(|(pid, _)| pid).collect()
}

/// The live supervisors of container `id`.
fn supervisors(id: &str) -> Vec<i32> {
    let wanted = format!("__supervise {id}");
    processes()
        .into_iter()
        .filter(|(pid, c)| c.ends_with(&wanted) && !is_zombie_or_gone(*pid))
        .map(|(pid, _)| pid)
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn status(env: &ContainerEnv, name: &str) -> String {
    env.berth_ok(&["inspect", "-f", "{{.State.Status}}", name]).trim().to_owned()
}

fn spawn(env: &ContainerEnv, args: &[&str]) -> Child {
    env.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawning berth")
}

fn finish(child: Child, what: &str) -> String {
    let out = child.wait_with_output().expect("waiting for berth");
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn concurrent_starts_run_a_container_once() {
    let Some(env) = root_with_busybox("running containers", "busybox") else { return };
    // A command line no other test's container has.
    let sleeper = "sleep 86397";
    let id = env.berth_ok(&["create", "--name", "twice", "busybox", "sleep", "86397"]).trim().to_owned();
    for round in 0..12 {
        let first = spawn(&env, &["start", "twice"]);
        let second = spawn(&env, &["start", "twice"]);
        // Both succeed, as Docker's do: the second start of a running container starts nothing.
        assert_eq!(finish(first, "the first start"), "twice\n");
        assert_eq!(finish(second, "the second start"), "twice\n");
        assert_eq!(supervisors(&id).len(), 1, "round {round}: one supervisor");
        assert_eq!(live(sleeper).len(), 1, "round {round}: one container process");
        assert_eq!(status(&env, "twice"), "running");
        env.berth_ok(&["kill", "twice"]);
        wait_until("the supervisor to finish", || supervisors(&id).is_empty());
        assert!(live(sleeper).is_empty());
    }
}

/// Holds the store's image lock, which a supervisor takes (shared) while it builds the sandbox
/// spec: a start waits there, claimed but not yet running, until the lock is let go.
fn hold_images_lock(env: &ContainerEnv) -> File {
    let lock = std::fs::OpenOptions::new().read(true).write(true).open(env.root.join("images.lock")).unwrap();
    lock.lock().unwrap();
    lock
}

#[test]
fn a_start_in_progress_shows_and_a_second_start_leaves_it_alone() {
    let Some(env) = root_with_busybox("running containers", "busybox") else { return };
    let id = env.berth_ok(&["create", "--name", "slow", "busybox", "sleep", "86396"]).trim().to_owned();
    let lock = hold_images_lock(&env);
    let first = spawn(&env, &["start", "slow"]);
    wait_until("the start to be claimed", || status(&env, "slow") == "starting");
    let ps = env.berth_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert_eq!(ps.trim(), "slow Starting");
    assert!(env.berth_ok(&["ps", "--format", "{{.Names}}"]).trim().is_empty(), "ps lists running containers only");
    let inspected = env.inspect_container("slow");
    assert_eq!(inspected["State"]["Running"], false);
    assert_eq!(inspected["State"]["Pid"], 0);
    // Another start finds the claim of a live supervisor: nothing to do.
    assert_eq!(env.berth_ok(&["start", "slow"]), "slow\n");
    wait_until("the supervisor to exec", || !supervisors(&id).is_empty());
    assert_eq!(supervisors(&id).len(), 1);
    drop(lock);
    assert_eq!(finish(first, "the first start"), "slow\n");
    assert_eq!(status(&env, "slow"), "running");
    assert_eq!(live("sleep 86396").len(), 1);
}

#[test]
fn a_killed_start_or_supervisor_blocks_no_later_start() {
    let Some(env) = root_with_busybox("running containers", "busybox") else { return };
    let id = env.berth_ok(&["create", "--name", "victim", "busybox", "sleep", "86395"]).trim().to_owned();

    // The supervisor killed while it holds the claim: the claim is stale, the container reads
    // as it was, and the next start takes it over.
    let lock = hold_images_lock(&env);
    let start = spawn(&env, &["start", "victim"]);
    wait_until("the start to be claimed", || status(&env, "victim") == "starting");
    // Claimed as soon as it is forked; it shows as a supervisor once it has exec'd.
    wait_until("the supervisor to exec", || supervisors(&id).len() == 1);
    let [supervisor] = supervisors(&id)[..] else { panic!("one supervisor") };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(supervisor), nix::sys::signal::Signal::SIGKILL).unwrap();
    let out = start.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the start whose supervisor died fails (Docker: 1)");
    drop(lock);
    assert_eq!(status(&env, "victim"), "created");
    assert_eq!(env.berth_ok(&["ps", "-a", "--format", "{{.Status}}"]).trim(), "Created");
    assert_eq!(env.berth_ok(&["start", "victim"]), "victim\n");
    assert_eq!(status(&env, "victim"), "running");
    assert_eq!((supervisors(&id).len(), live("sleep 86395").len()), (1, 1));
    env.berth_ok(&["kill", "victim"]);
    wait_until("the supervisor to finish", || supervisors(&id).is_empty());

    // The `start` command killed: its supervisor holds the claim and goes on.
    let lock = hold_images_lock(&env);
    let mut start = spawn(&env, &["start", "victim"]);
    wait_until("the start to be claimed", || status(&env, "victim") == "starting");
    start.kill().unwrap();
    start.wait().unwrap();
    drop(lock);
    // Running is recorded just before the container's process execs its program (until then it
    // is a copy of the supervisor, command line and all): wait for the program itself.
    wait_until("the container to run", || live("sleep 86395").len() == 1);
    assert_eq!(status(&env, "victim"), "running");
    assert_eq!(env.berth_ok(&["start", "victim"]), "victim\n");
    assert_eq!((supervisors(&id).len(), live("sleep 86395").len()), (1, 1));
}

#[test]
fn a_detached_exec_lets_go_of_the_callers_stdio() {
    let Some(env) = root_with_busybox("running containers", "busybox") else { return };
    env.berth_ok(&["run", "-d", "--name", "host", "busybox", "sleep", "86394"]);
    // Long enough to outlive the command, short enough that a regression (the command's stdout
    // held open by the program) fails below within a minute rather than hangs.
    let mut exec = spawn(&env, &["exec", "-d", "host", "sleep", "47"]);
    // The command's stdout reaches its end while the detached program still runs: nothing but
    // the command itself held it.
    let mut printed = String::new();
    exec.stdout.take().unwrap().read_to_string(&mut printed).unwrap();
    assert!(exec.wait().unwrap().success());
    assert_eq!(printed, "");
    let [pid] = live("sleep 47")[..] else { panic!("one detached sleep: {:?}", live("sleep 47")) };
    for fd in 0..=2 {
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(target.to_str(), Some("/dev/null"), "fd {fd} of the detached program");
    }
}

#[test]
fn force_removal_never_stalls_and_leaves_no_process() {
    let Some(env) = root_with_busybox("running containers", "busybox") else { return };
    // A generous bound: a stall on a freeze that cannot complete is five seconds.
    let bound = Duration::from_secs(3);
    for round in 0..10 {
        let name = format!("doomed{round}");
        let children = "sleep 86392 & sleep 86392 & sleep 86392 & exec sleep 86391";
        let id = env.berth_ok(&["run", "-d", "--name", &name, "busybox", "sh", "-c", children]).trim().to_owned();
        wait_until("the container's children", || live("sleep 86392").len() == 3 && live("sleep 86391").len() == 1);
        let started = Instant::now();
        env.berth_ok(&["rm", "-f", &name]);
        let took = started.elapsed();
        assert!(took < bound, "round {round}: rm -f took {took:?}");
        assert!(live("sleep 86392").is_empty() && live("sleep 86391").is_empty(), "round {round}: a process survived");
        assert!(supervisors(&id).is_empty(), "round {round}: the supervisor survived");
    }
}
