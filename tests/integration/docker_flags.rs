//! Docker's flags and Podman's widely used extensions on run, create and the other verbs.

use crate::util::root_with_busybox;

#[test]
fn zero_limits_mean_no_limit() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    for flags in [
        &["--memory=0", "--cpus=0", "--pids-limit=0"][..],
        &["-m", "0b", "--cpus", "0", "--pids-limit", "-1"][..],
        &["--pids-limit=-1"][..],
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "echo", "ran"]);
        assert_eq!(env.berth_ok(&args).trim(), "ran", "{flags:?}");
    }
    env.berth_ok(&["create", "--name", "unlimited", "--memory=0", "--cpus=0", "busybox", "true"]);
    let host = env.berth_ok(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", "unlimited"]);
    assert_eq!(host.trim(), "0 0");
    let line = env.berth_fails_125(&["run", "--rm", "--cpus=-1", "busybox", "true"]);
    assert!(line.contains("--cpus"), "{line}");
}

#[test]
fn noheading_leaves_the_header_row_out() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    env.berth_ok(&["create", "--name", "quiet", "busybox", "true"]);
    env.berth_ok(&["volume", "create", "vol"]);
    for (args, header) in [
        (&["ps", "-a"][..], "CONTAINER ID"),
        (&["ps", "-a", "--format", "table {{.Names}}"][..], "NAMES"),
        (&["images"][..], "REPOSITORY"),
        (&["image", "ls", "--format", "table {{.Repository}}"][..], "REPOSITORY"),
        (&["volume", "ls"][..], "DRIVER"),
        (&["volume", "ls", "--format", "table {{.Name}}"][..], "VOLUME NAME"),
    ] {
        let with = env.berth_ok(args);
        assert_eq!(with.lines().count(), 2, "{args:?}: {with}");
        assert!(with.starts_with(header), "{args:?}: {with}");
        let mut quiet = args.to_vec();
        quiet.push("--noheading");
        let without = env.berth_ok(&quiet);
        assert_eq!(without.lines().collect::<Vec<_>>(), with.lines().skip(1).collect::<Vec<_>>(), "{args:?}");
    }
}

#[test]
fn all_acts_on_every_container_in_the_right_state() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    let ids: Vec<String> = ["ca", "cb", "cc"]
        .iter()
        .map(|name| env.berth_ok(&["run", "-d", "--name", name, "busybox", "sleep", "1000"]).trim().to_owned())
        .collect();
    env.berth_ok(&["create", "--name", "made", "busybox", "true"]);
    let status = |name: &str| env.berth_ok(&["inspect", "-f", "{{.State.Status}}", name]).trim().to_owned();
    let printed = |args: &[&str]| {
        let mut lines: Vec<String> = env.berth_ok(args).lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(printed(&["pause", "--all"]), sorted, "pause --all prints each id it paused");
    assert!(["ca", "cb", "cc"].iter().all(|n| status(n) == "paused"));
    assert_eq!(printed(&["unpause", "-a"]), sorted);
    assert!(["ca", "cb", "cc"].iter().all(|n| status(n) == "running"));
    env.berth_ok(&["stop", "-t", "0", "ca"]);
    assert_eq!(printed(&["kill", "--all"]).len(), 2, "kill --all: the running cb and cc");
    assert_eq!(printed(&["stop", "--all"]), Vec::<String>::new(), "nothing runs any more");
    assert_eq!(printed(&["rm", "--all"]).len(), 4, "rm --all: every container");
    assert!(env.berth_ok(&["ps", "-aq"]).is_empty());
    // --all and names together, or neither, are usage errors.
    let (code, _) = env.berth_err(&["stop", "--all", "ca"]);
    assert_eq!(code, 125);
    let (code, _) = env.berth_err(&["rm"]);
    assert_eq!(code, 125);
}

#[test]
fn rm_time_stops_before_it_removes() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    let script = "trap 'echo stopped-cleanly > /dev/null; exit 0' TERM; while :; do sleep 0.1; done";
    env.berth_ok(&["run", "-d", "--name", "graceful", "busybox", "sh", "-c", script]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert_eq!(env.berth_ok(&["rm", "-f", "-t", "5", "graceful"]).trim(), "graceful");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "the TERM trap ended it before the timeout");
    assert!(env.berth_ok(&["ps", "-aq"]).is_empty());
    // A container that ignores TERM is killed once the time is up.
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; while :; do sleep 0.1; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    env.berth_ok(&["rm", "--force", "--time=1", "stubborn"]);
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_millis(900), "rm -t 1 killed before the second was up: {took:?}");
}

#[test]
fn replace_and_cidfile() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    let first = env.berth_ok(&["run", "-d", "--name", "svc", "busybox", "sleep", "1000"]).trim().to_owned();
    let line = env.berth_fails_125(&["run", "-d", "--name", "svc", "busybox", "sleep", "1000"]);
    assert!(line.contains("already in use"), "{line}");
    let second =
        env.berth_ok(&["run", "-d", "--replace", "--name", "svc", "busybox", "sleep", "1000"]).trim().to_owned();
    assert_ne!(first, second);
    assert_eq!(env.berth_ok(&["ps", "-aq", "--no-trunc"]).trim(), second, "the first container is gone");
    let third = env.berth_ok(&["create", "--replace", "--name", "svc", "busybox", "true"]).trim().to_owned();
    assert_eq!(env.berth_ok(&["ps", "-aq", "--no-trunc"]).trim(), third);
    // --replace of a name nobody has is a plain create; an id prefix is not a name.
    env.berth_ok(&["create", "--replace", "--name", "fresh", "busybox", "true"]);
    env.berth_ok(&["create", "--replace", "--name", &third[..12], "busybox", "true"]);
    assert_eq!(env.berth_ok(&["ps", "-aq"]).lines().count(), 3);

    let cidfile = env.path("cid");
    let cid_arg = cidfile.to_str().unwrap();
    let id = env.berth_ok(&["create", "--cidfile", cid_arg, "busybox", "true"]).trim().to_owned();
    assert_eq!(std::fs::read_to_string(&cidfile).unwrap(), id);
    let line = env.berth_fails_125(&["run", "--rm", "--cidfile", cid_arg, "busybox", "true"]);
    assert!(line.contains("container ID file found"), "{line}");
    assert_eq!(env.berth_ok(&["ps", "-aq"]).lines().count(), 4, "the refused run created nothing");
    let run_cid = env.path("run-cid");
    let out = env.berth_ok(&["run", "--cidfile", run_cid.to_str().unwrap(), "busybox", "echo", "hi"]);
    assert_eq!(out.trim(), "hi");
    assert_eq!(std::fs::read_to_string(&run_cid).unwrap().len(), 64);
}

/// `--tls-verify` is taken by pull and login. The harness has no TLS registry, so this shows the
/// flag's syntax and that a pull with it works; that it lets an untrusted certificate through
/// is the `insecure_registries` path (image::registry's tests).
#[test]
fn tls_verify_is_taken_by_pull_and_login() {
    if crate::util::which("docker-registry").is_none() {
        return crate::util::skip_or_fail("docker-registry is not installed");
    }
    let registry = crate::util::Registry::start();
    let image = crate::util::OciImageBuilder::busybox().build();
    registry.push(&image, "tls/bb", "v1");
    let env = crate::util::TestEnv::new();
    let reference = registry.image("tls/bb:v1");
    env.berth_ok(&["pull", "-q", "--tls-verify=false", &reference]);
    env.berth_ok(&["pull", "-q", "--tls-verify", &reference]);
    let (code, _) = env.berth_err(&["pull", "--tls-verify=maybe", &reference]);
    assert_eq!(code, 125);
    let line = env.berth_fails_with(1, &["login", "--tls-verify=false", "--get-login", &registry.addr]);
    assert!(line.contains("not logged in"), "{line}");
}

#[test]
fn wait_condition_waits_for_the_state_named() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    env.berth_ok(&["create", "--name", "later", "busybox", "sh", "-c", "sleep 1; exit 3"]);
    assert_eq!(env.berth_ok(&["wait", "--condition", "created", "later"]).trim(), "-1");
    let waiter = env
        .command(["wait", "--condition=running", "later"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running berth wait");
    std::thread::sleep(std::time::Duration::from_millis(300));
    env.berth_ok(&["start", "later"]);
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "-1");
    assert_eq!(env.berth_ok(&["inspect", "-f", "{{.State.Status}}", "later"]).trim(), "running");
    assert_eq!(env.berth_ok(&["wait", "--condition", "stopped", "later"]).trim(), "3");

    env.berth_ok(&["run", "-d", "--rm", "--name", "brief", "busybox", "sh", "-c", "sleep 0.5; exit 4"]);
    assert_eq!(env.berth_ok(&["wait", "--condition", "removed", "brief"]).trim(), "4");
    assert!(env.berth_ok(&["ps", "-aq", "--filter", "name=brief"]).is_empty(), "removed when wait returned");
    let (code, _) = env.berth_err(&["wait", "--condition", "sleepy", "later"]);
    assert_eq!(code, 125);
}

#[test]
fn diff_lists_the_containers_changes() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    env.berth_ok(&["run", "--name", "fresh", "busybox", "true"]);
    assert_eq!(env.berth_ok(&["diff", "fresh"]), "", "the sandbox's mount targets are not changes");
    let script = "touch /added; mkdir /newdir; touch /newdir/f; echo x >> /etc/passwd; rm /etc/group; rm -r /root";
    env.berth_ok(&["run", "--name", "changer", "busybox", "sh", "-c", script]);
    let expected = "A /added\nC /etc\nD /etc/group\nC /etc/passwd\nA /newdir\nA /newdir/f\nD /root\n";
    assert_eq!(env.berth_ok(&["diff", "changer"]), expected);
    assert_eq!(env.berth_ok(&["container", "diff", "changer"]), expected);
    // A running container's changes show as they happen.
    env.berth_ok(&["run", "-d", "--name", "live", "busybox", "sh", "-c", "touch /tmp/mark; sleep 1000"]);
    crate::util::wait_until(crate::util::WAIT, "the container to write /tmp/mark", || {
        String::from_utf8_lossy(&env.berth(&["diff", "live"]).stdout).contains("A /tmp/mark")
    });
    assert_eq!(env.berth_ok(&["diff", "live"]), "C /tmp\nA /tmp/mark\n");
    env.berth_fails_with(1, &["diff", "nosuch"]);
}

#[test]
fn kernel_memory_is_accepted_with_a_warning() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    let out = env.berth(&["run", "--rm", "--kernel-memory", "64m", "busybox", "echo", "ran"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning") && stderr.contains("deprecated"), "{stderr}");
    let line = env.berth_fails_125(&["run", "--rm", "--kernel-memory", "lots", "busybox", "true"]);
    assert!(line.contains("lots"), "{line}");
}
