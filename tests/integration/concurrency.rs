//! Many berth commands at once on one store: 50 parallel `run --rm`, 10 parallel pulls of one
//! image, `rmi` racing `run`, `rm -f` racing `start`, with `ps`/`images` running throughout.
//! Each command has a deadline (a deadlock fails the test instead of hanging it); the only
//! failures allowed are those Docker gives for the same race; afterwards nothing is left: no
//! container, cgroup, mount, staging directory or held lock.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::*;

/// No command of these tests takes anywhere near this, even on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(120);

/// Waits for `child` until [`DEADLINE`]; a child still running then is killed and the test fails
/// (a deadlock).
fn finish(mut child: Child, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("{what} did not finish within {DEADLINE:?}: a deadlock?");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn spawn(env: &TestEnv, args: &[&str]) -> Child {
    env.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawning berth")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Nothing of the store is left behind: no container directory or staging (once the `--rm`
/// supervisors have deleted), no lock held, no overlay mounted from it, no cgroup of the
/// containers whose short ids are given, and `system check` passes.
fn assert_nothing_left(env: &TestEnv, short_ids: &[String]) {
    let containers = env.root.join("containers");
    let done = poll_for(DEADLINE, || (list_dir(&containers).is_empty() && env.staging_dirs().is_empty()).then_some(()));
    assert!(done.is_some(), "left: containers {:?}, tmp {:?}", list_dir(&containers), env.staging_dirs());
    for dir in [env.root.clone(), env.root.join("locks")] {
        for name in list_dir(&dir).into_iter().filter(|n| n.ends_with(".lock")) {
            let file = std::fs::File::open(dir.join(&name)).unwrap();
            // SAFETY: flock on a descriptor this function owns.
            let free = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX | libc::LOCK_NB) };
            assert_eq!(free, 0, "{name} is still locked");
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = env.root.display().to_string();
    assert!(!mountinfo.lines().any(|l| l.contains(&root)), "a mount from the store is left:\n{mountinfo}");
    for controller in ["memory", "pids", "cpu", "freezer"] {
        let group = Path::new("/sys/fs/cgroup").join(controller).join("berth");
        for leftover in list_dir(&group) {
            assert!(
                !short_ids.iter().any(|id| leftover.starts_with(id.as_str())),
                "cgroup {controller}/berth/{leftover} is left"
            );
        }
    }
    env.assert_store_ok();
}

/// Sets the flag when dropped: a failing test's listing thread stops too.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `ps -a` and `images` over and over until `stop` (at most until the deadline), each of
/// which must succeed.
fn keep_listing<'a>(s: &'a std::thread::Scope<'a, '_>, env: &'a TestEnv, stop: &'a AtomicBool) {
    s.spawn(move || {
        let mut rounds = 0;
        let started = Instant::now();
        while (!stop.load(Ordering::Relaxed) || rounds == 0) && started.elapsed() < DEADLINE * 3 {
            for args in [&["ps", "-a"][..], &["images"]] {
                let out = finish(spawn(env, args), "a listing");
                assert!(out.status.success(), "{args:?} failed during the race: {}", text(&out.stderr));
            }
            rounds += 1;
        }
    });
}

#[test]
fn fifty_parallel_run_rm_all_succeed_and_leave_nothing() {
    let Some(env) = root_with_busybox("running containers", "busybox") else { return };
    let stop = AtomicBool::new(false);
    let short_ids: Vec<String> = std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        keep_listing(s, &env, &stop);
        let children: Vec<Child> = (0..50).map(|_| spawn(&env, &["run", "--rm", "busybox", "hostname"])).collect();
        let ids = children
            .into_iter()
            .map(|child| {
                let out = finish(child, "run --rm");
                assert!(out.status.success(), "run --rm failed: {}", text(&out.stderr));
                text(&out.stdout).trim().to_owned()
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        ids
    });
    assert_eq!(short_ids.iter().filter(|id| id.len() == 12).count(), 50, "{short_ids:?}");
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
    assert_nothing_left(&env, &short_ids);
}

#[test]
fn ten_parallel_pulls_of_one_image_fetch_it_once_and_agree() {
    let Some(env) = root_with_busybox("running containers", "busybox") else { return };
    let registry = Registry::start();
    let layer = |name: &str| LayerSpec::new(vec![TarEntry::file(name, vec![7u8; 1 << 20])], Compression::Gzip);
    let image = OciImageBuilder::busybox().layer(layer("a")).layer(layer("b")).build();
    registry.push(&image, "race/img", "1");
    let reference = format!("{}/race/img:1", registry.addr);
    let layers_before = env.layer_dirs().len();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        keep_listing(s, &env, &stop);
        let children: Vec<Child> = (0..10).map(|_| spawn(&env, &["pull", "-q", &reference])).collect();
        for child in children {
            let out = finish(child, "pull");
            assert!(out.status.success(), "a parallel pull failed: {}", text(&out.stderr));
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(env.inspect(&reference, "{{.Id}}"), image.id());
    // busybox's layer is shared with the imported busybox only if identical; the two new ones
    // are there once each.
    assert!(env.layer_dirs().len() <= layers_before + 3, "{:?}", env.layer_dirs());
    assert_eq!(env.berth_ok(&["run", "--rm", &reference, "cat", "/a"]).len(), 1 << 20);
    assert_nothing_left(&env, &[]);
}

/// A failure Docker gives for the same race, in berth's words.
fn allowed_race_failure(out: &Output) -> bool {
    let stderr = text(&out.stderr).to_lowercase();
    // 1 for a refused request (start of a container rm took), 125 for run's missing image.
    matches!(out.status.code(), Some(1 | 125))
        && ["no such image", "unable to find image", "no such container", "conflict: unable to", "is being used"]
            .iter()
            .any(|m| stderr.contains(m))
}

#[test]
fn rmi_racing_run_and_rm_racing_start_give_dockers_answers() {
    let Some(env) = root_with_busybox("running containers", "busybox") else { return };
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        keep_listing(s, &env, &stop);
        for round in 0..8 {
            env.berth_ok(&["tag", "busybox", "racer:1"]);
            let run = spawn(&env, &["run", "--rm", "racer:1", "true"]);
            let rmi = spawn(&env, &["rmi", "racer:1"]);
            for (out, what) in [(finish(run, "run"), "run"), (finish(rmi, "rmi"), "rmi")] {
                assert!(
                    out.status.success() || allowed_race_failure(&out),
                    "round {round}: {what}: {}",
                    text(&out.stderr)
                );
            }
            let _ = env.berth(&["rmi", "racer:1"]);

            let name = format!("starter{round}");
            env.berth_ok(&["create", "--name", &name, "busybox", "sleep", "30"]);
            let start = spawn(&env, &["start", &name]);
            let rm = spawn(&env, &["rm", "-f", &name]);
            let (start, rm) = (finish(start, "start"), finish(rm, "rm -f"));
            // rm -f always wins: a start it races is waited out, then killed (Docker's answer).
            assert!(rm.status.success(), "round {round}: rm -f: {}", text(&rm.stderr));
            assert!(
                start.status.success() || allowed_race_failure(&start),
                "round {round}: start: {}",
                text(&start.stderr)
            );
            assert_eq!(env.berth_ok(&["ps", "-aq", "--filter", &format!("name={name}")]), "");
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(env.berth_ok(&["ps", "-aq"]), "");
    assert_nothing_left(&env, &[]);
}
