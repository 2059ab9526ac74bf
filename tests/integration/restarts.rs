//! Restart policies, carried out by the container's supervisor: on-failure with a limit,
//! always after a kill, unless-stopped, and a user's stop or `rm -f` never undone.

use std::time::Duration;

use crate::util::{ContainerEnv, WAIT, root_with_busybox, wait_for, wait_until};

fn state(env: &ContainerEnv, name: &str) -> (String, u64, i64) {
    let c = env.inspect_container(name);
    (
        c["State"]["Status"].as_str().unwrap().to_owned(),
        c["RestartCount"].as_u64().unwrap(),
        c["State"]["Pid"].as_i64().unwrap(),
    )
}

fn runs(env: &ContainerEnv, name: &str) -> usize {
    env.berth_ok(&["logs", name]).lines().filter(|l| *l == "run").count()
}

/// Long enough for any restart the policy would still make: the back-off after a few quick
/// exits is well under a second. Only used to show that something does *not* happen.
const QUIET: Duration = Duration::from_millis(1500);

#[test]
fn on_failure_restarts_a_failing_container_up_to_its_limit() {
    let Some(env) = root_with_busybox("restarting containers", "busybox") else { return };
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "fail",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    wait_until(WAIT, "three runs, then exited", || runs(&env, "fail") == 3 && state(&env, "fail").0 == "exited");
    std::thread::sleep(QUIET);
    assert_eq!(runs(&env, "fail"), 3, "no third restart");
    let c = env.inspect_container("fail");
    assert_eq!((c["RestartCount"].clone(), c["State"]["ExitCode"].clone()), (2.into(), 3.into()));
    assert_eq!(c["HostConfig"]["RestartPolicy"], serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2}));

    // Success is no failure: not restarted.
    env.berth_ok(&["run", "-d", "--name", "fine", "--restart", "on-failure", "busybox", "sh", "-c", "echo run"]);
    wait_until(WAIT, "fine exited", || state(&env, "fine").0 == "exited");
    std::thread::sleep(QUIET);
    assert_eq!((runs(&env, "fine"), state(&env, "fine").1), (1, 0));
}

#[test]
fn always_restarts_after_a_kill_but_never_after_a_stop() {
    let Some(env) = root_with_busybox("restarting containers", "busybox") else { return };
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "echo run; exec sleep 1000",
    ]);
    let (_, _, first_pid) = state(&env, "web");
    env.berth_ok(&["kill", "web"]);
    let again = wait_for(WAIT, "web restarted", || {
        let s = state(&env, "web");
        (s.0 == "running" && s.1 == 1 && s.2 != first_pid).then_some(s)
    });
    assert_eq!(runs(&env, "web"), 2);

    // A kill with another signal restarts it too; a stop does not, however long we wait.
    env.berth_ok(&["kill", "-s", "KILL", "web"]);
    wait_until(WAIT, "web restarted twice", || state(&env, "web").1 == 2 && state(&env, "web").0 == "running");
    env.berth_ok(&["stop", "-t", "1", "web"]);
    assert_eq!(state(&env, "web").0, "exited");
    std::thread::sleep(QUIET);
    assert_eq!((state(&env, "web").0.as_str(), runs(&env, "web")), ("exited", 3), "the stop is honoured");

    // A start by the user begins the count afresh; rm -f wins over the policy.
    env.berth_ok(&["start", "web"]);
    assert_eq!(state(&env, "web").1, 0);
    assert_ne!(again.2, state(&env, "web").2);
    env.berth_ok(&["rm", "-f", "web"]);
    std::thread::sleep(QUIET);
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]), "", "nothing came back");
}

#[test]
fn unless_stopped_restarts_whatever_the_exit_until_stopped() {
    let Some(env) = root_with_busybox("restarting containers", "busybox") else { return };
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "unless-stopped",
        "busybox",
        "sh",
        "-c",
        "echo run; sleep 0.3",
    ]);
    wait_until(WAIT, "two restarts", || state(&env, "loop").1 >= 2);
    // A stop during a run or during the back-off between two runs: either way it stays stopped.
    env.berth_ok(&["stop", "-t", "1", "loop"]);
    let stopped_runs = runs(&env, "loop");
    std::thread::sleep(QUIET);
    assert_eq!(state(&env, "loop").0, "exited");
    assert_eq!(runs(&env, "loop"), stopped_runs, "not restarted after the stop");
}

/// A reboot, as far as berth can tell: every supervisor and container process is gone while
/// the records still say running.
fn simulate_reboot(env: &ContainerEnv) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.root.join("containers.json")).unwrap()).unwrap();
    for c in index["containers"].as_array().unwrap() {
        for key in ["supervisor_pid", "pid"] {
            let pid = c["state"][key].as_i64().unwrap_or(0) as i32;
            if pid > 0 && !crate::util::process_ended(pid) {
                let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
                wait_until(WAIT, &format!("{pid} ends after kill -9"), || crate::util::process_ended(pid));
            }
        }
    }
}

#[test]
fn system_boot_starts_what_the_policies_say() {
    let Some(env) = root_with_busybox("restarting containers", "busybox") else { return };
    for (name, policy) in [
        ("always", "always"),
        ("unless", "unless-stopped"),
        ("stopped", "unless-stopped"),
        ("fails", "on-failure"),
        ("never", "no"),
    ] {
        env.berth_ok(&["run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "1000"]);
    }
    env.berth_ok(&["stop", "-t", "0", "stopped"]);
    env.berth_ok(&["run", "-d", "--name", "was-stopped", "--restart", "always", "busybox", "sleep", "1000"]);
    env.berth_ok(&["stop", "-t", "0", "was-stopped"]);
    simulate_reboot(&env);

    let out = env.berth_ok(&["system", "boot"]);
    let mut started: Vec<&str> = out.lines().collect();
    started.sort();
    assert_eq!(started, ["always", "unless", "was-stopped"], "always even after a stop; unless-stopped only if not");
    for name in ["always", "unless", "was-stopped"] {
        assert_eq!(state(&env, name).0, "running", "{name}");
    }
    for name in ["stopped", "fails", "never"] {
        assert_eq!(state(&env, name).0, "exited", "{name}");
    }
    // Again: everything it would start runs already.
    assert_eq!(env.berth_ok(&["system", "boot"]), "");
}

#[test]
fn a_container_waiting_out_its_back_off_shows_as_restarting() {
    let Some(env) = root_with_busybox("restarting containers", "busybox") else { return };
    env.berth_ok(&["run", "-d", "--name", "crashy", "--restart", "always", "busybox", "sh", "-c", "exit 1"]);
    // The delay doubles with each quick exit: soon the container spends most of its time waiting.
    let status = wait_for(WAIT, "ps shows Restarting", || {
        let ps = env.berth_ok(&["ps", "-a", "--format", "{{.Status}}"]).trim().to_owned();
        let c = env.inspect_container("crashy");
        (ps.starts_with("Restarting (1) ") && c["State"]["Restarting"] == true && c["State"]["Status"] == "restarting")
            .then_some(ps)
    });
    assert!(status.ends_with(" ago"), "{status}");
    wait_until(WAIT, "ps --filter status=restarting lists it", || {
        env.berth_ok(&["ps", "-a", "--filter", "status=restarting", "--format", "{{.Names}}"]).trim() == "crashy"
    });
    env.berth_ok(&["stop", "crashy"]);
    assert_eq!(env.inspect_container("crashy")["State"]["Status"], "exited", "a stop ends the back-off");
    let count = state(&env, "crashy").1;
    std::thread::sleep(QUIET);
    assert_eq!(state(&env, "crashy").1, count);
}
