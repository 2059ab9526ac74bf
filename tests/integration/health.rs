//! Health checks: the image's HEALTHCHECK and `--health-*`, run by the container's supervisor
//! on schedule, State.Health in inspect, `ps`'s "(healthy)", `berth healthcheck run`.

use serde_json::Value;

use crate::util::{ContainerEnv, TestEnv, WAIT, assert_one_error_line, require_root, root_with_busybox, wait_for};

fn health(env: &ContainerEnv, name: &str) -> Value {
    env.inspect_container(name)["State"]["Health"].clone()
}

fn ps_status(env: &ContainerEnv, name: &str) -> String {
    env.berth_ok(&["ps", "-a", "--filter", &format!("name={name}"), "--format", "{{.Status}}"]).trim().to_owned()
}

/// Waits until the container's health status is `status`; the health then.
fn wait_for_health(env: &ContainerEnv, name: &str, status: &str) -> Value {
    wait_for(WAIT, &format!("{name} becomes {status}"), || {
        let h = health(env, name);
        (h["Status"] == status).then_some(h)
    })
}

#[test]
fn checks_move_from_starting_to_healthy_to_unhealthy() {
    let Some(env) = root_with_busybox("running health checks", "busybox") else { return };
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "echo probing; test -e /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]);
    // Starting at once, and while the check fails fewer than `retries` times in a row.
    let first = health(&env, "hc");
    assert_eq!(first["Status"], "starting", "{first}");
    assert!(ps_status(&env, "hc").ends_with("(health: starting)"), "{}", ps_status(&env, "hc"));
    let inspect = env.inspect_container("hc");
    assert_eq!(
        inspect["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "echo probing; test -e /tmp/ok"])
    );
    assert_eq!(inspect["Config"]["Healthcheck"]["Interval"], 200_000_000);

    env.berth_ok(&["exec", "hc", "touch", "/tmp/ok"]);
    let healthy = wait_for_health(&env, "hc", "healthy");
    assert_eq!(healthy["FailingStreak"], 0);
    let last = healthy["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["ExitCode"].clone(), last["Output"].clone()), (0.into(), "probing\n".into()), "{last}");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap(), "{last}");
    let status = ps_status(&env, "hc");
    assert!(status.starts_with("Up ") && status.ends_with(" (healthy)"), "{status}");
    env.berth_ok(&["run", "-d", "--name", "unchecked", "busybox", "sleep", "1000"]);
    let filtered = |f: &str| env.berth_ok(&["ps", "--filter", f, "--format", "{{.Names}}"]).trim().to_owned();
    assert_eq!((filtered("health=healthy"), filtered("health=none")), ("hc".into(), "unchecked".into()));

    env.berth_ok(&["exec", "hc", "rm", "/tmp/ok"]);
    let unhealthy = wait_for_health(&env, "hc", "unhealthy");
    assert!(unhealthy["FailingStreak"].as_u64().unwrap() >= 2, "{unhealthy}");
    assert!(ps_status(&env, "hc").ends_with(" (unhealthy)"));
    assert_eq!(filtered("health=unhealthy"), "hc");
    // Only the last five results are kept.
    wait_for(WAIT, "five results in the log", || (health(&env, "hc")["Log"].as_array()?.len() == 5).then_some(()));
    assert!(health(&env, "hc")["Log"].as_array().unwrap().len() <= 5);

    // Run once by hand: exit 1 when it fails, 0 when it passes (and recorded as the others).
    let out = env.berth(&["healthcheck", "run", "hc"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "unhealthy");
    env.berth_ok(&["exec", "hc", "touch", "/tmp/ok"]);
    assert_eq!(env.berth_ok(&["healthcheck", "run", "hc"]), "");
    assert_eq!(health(&env, "hc")["Status"], "healthy", "the run by hand is recorded");

    // A stopped container runs no checks; a start begins at starting again, the log kept.
    env.berth_ok(&["stop", "-t", "0", "hc"]);
    let (code, err) = env.berth_err(&["healthcheck", "run", "hc"]);
    assert_eq!(code, 125);
    assert!(assert_one_error_line(&err).contains("is not running"), "{err}");
    env.berth_ok(&["start", "hc"]);
    let restarted = health(&env, "hc");
    assert_eq!((restarted["Status"].clone(), restarted["FailingStreak"].clone()), ("starting".into(), 0.into()));
    assert!(!restarted["Log"].as_array().unwrap().is_empty(), "{restarted}");
}

#[test]
fn the_images_check_is_used_merged_or_disabled() {
    if !require_root("running health checks") {
        return;
    }
    let env = TestEnv::new().with_busybox(
        "checked",
        &["HEALTHCHECK --interval=150ms --retries=1 CMD test -e /tmp/ok"],
        |_| {},
    );
    env.berth_ok(&["run", "-d", "--name", "img", "checked", "sleep", "1000"]);
    let check = &env.inspect_container("img")["Config"]["Healthcheck"];
    assert_eq!(check["Test"], serde_json::json!(["CMD-SHELL", "test -e /tmp/ok"]));
    let failing = wait_for(WAIT, "the image's check fails", || {
        let h = health(&env, "img");
        (h["Status"] == "unhealthy").then_some(h)
    });
    assert_eq!(failing["Log"][0]["ExitCode"], 1);

    // --health-* flags replace only what they name.
    env.berth_ok(&["run", "-d", "--name", "merged", "--health-cmd", "true", "checked", "sleep", "1000"]);
    let check = &env.inspect_container("merged")["Config"]["Healthcheck"];
    assert_eq!((check["Test"][1].clone(), check["Interval"].clone()), ("true".into(), 150_000_000.into()));
    wait_for_health(&env, "merged", "healthy");

    // --no-healthcheck: no check, no health, nothing in ps, and `healthcheck run` refuses.
    env.berth_ok(&["run", "-d", "--name", "none", "--no-healthcheck", "checked", "sleep", "1000"]);
    let inspect = env.inspect_container("none");
    assert_eq!(inspect["Config"]["Healthcheck"]["Test"], serde_json::json!(["NONE"]));
    assert!(inspect["State"].get("Health").is_none(), "{}", inspect["State"]);
    assert!(ps_status(&env, "none").starts_with("Up") && !ps_status(&env, "none").contains('('));
    let (code, err) = env.berth_err(&["healthcheck", "run", "none"]);
    assert_eq!(code, 125);
    assert!(assert_one_error_line(&err).contains("has no defined healthcheck"), "{err}");
}

#[test]
fn a_check_that_runs_too_long_is_killed_with_what_it_started() {
    let Some(env) = root_with_busybox("running health checks", "busybox") else { return };
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 77",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "100ms",
        "busybox",
        "sleep",
        "1000",
    ]);
    let timed_out = wait_for(WAIT, "a timed-out result", || {
        let log = health(&env, "slow")["Log"].as_array()?.clone();
        log.into_iter().find(|r| r["ExitCode"] == -1)
    });
    assert_eq!(timed_out["Output"], "Health check exceeded timeout (300ms)");
    // Between checks, nothing of a timed-out one is left in the container (ps sees its pid
    // namespace; a check running right now shows as one `sleep 77`).
    let ps = env.berth_ok(&["exec", "slow", "ps"]);
    assert!(ps.matches("sleep 77").count() <= 1, "{ps}");
    env.berth_ok(&["stop", "-t", "0", "slow"]);
}

#[test]
fn bad_health_and_restart_flags_are_refused_and_create_nothing() {
    let env = TestEnv::new();
    for (flags, message) in [
        (&["--no-healthcheck", "--health-cmd", "true"][..], "--no-healthcheck conflicts with --health-* options"),
        (&["--health-interval", "soon"][..], "--health-interval"),
        (&["--health-timeout", "1us"][..], "--health-timeout cannot be less than 1ms"),
        (&["--health-retries", "-2"][..], "--health-retries cannot be negative"),
        (&["--restart", "sometimes"][..], "invalid restart policy: unknown policy 'sometimes'"),
        (&["--restart", "always:3"][..], "maximum retry count can only be used with 'on-failure'"),
        (&["--restart", "on-failure:x"][..], "maximum retry count must be an integer"),
        (&["--restart", "always", "--rm"][..], "cannot specify both --restart and --rm"),
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let line = env.berth_fails_125(&args);
        assert!(line.contains(message), "{flags:?}: {line}");
    }
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn rootless_checks_and_restarts_work_in_berths_user_namespace() {
    let Some(env) = TestEnv::rootless() else { return };
    let env = env.with_busybox("busybox", &[], |_| {});
    env.berth_ok(&[
        "run",
        "-d",
        "--name",
        "rl",
        "--restart",
        "always",
        "--health-cmd",
        "test $(id -u) = 0",
        "--health-interval",
        "200ms",
        "busybox",
        "sh",
        "-c",
        "sleep 1000",
    ]);
    wait_for_health(&env, "rl", "healthy");
    env.berth_ok(&["kill", "rl"]);
    wait_for(WAIT, "rl restarted", || {
        let c = env.inspect_container("rl");
        (c["RestartCount"] == 1 && c["State"]["Status"] == "running").then_some(())
    });
    // The new run starts its checks again and passes them.
    wait_for_health(&env, "rl", "healthy");
    env.berth_ok(&["stop", "-t", "0", "rl"]);
    assert_eq!(env.inspect_container("rl")["State"]["Status"], "exited");
}
