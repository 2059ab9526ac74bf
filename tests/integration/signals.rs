//! Signals by any name or number Docker takes, real-time ones included, in `kill -s`,
//! `stop -s`, `--stop-signal` and an image's STOPSIGNAL.

use crate::util::{TestEnv, WAIT, require_root, wait_until};

/// A container that echoes the number of each signal in `signals` it gets, and exits with
/// `code` on signal `exit_on`.
fn trapping(env: &TestEnv, name: &str, flags: &[&str], signals: &[u32], (exit_on, code): (u32, u32)) {
    let mut script = String::new();
    for s in signals {
        script.push_str(&format!("trap 'echo got{s}' {s}; "));
    }
    script.push_str(&format!("trap 'exit {code}' {exit_on}; echo ready; while :; do sleep 0.1; done"));
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.extend(["sigbox", "sh", "-c", &script]);
    env.berth_ok(&args);
    wait_for_log(env, name, "ready");
}

fn wait_for_log(env: &TestEnv, name: &str, text: &str) {
    wait_until(WAIT, &format!("{name}'s log shows {text:?}"), || {
        String::from_utf8_lossy(&env.berth(&["logs", name]).stdout).contains(text)
    });
}

#[test]
fn real_time_signals_reach_the_container() {
    if !require_root("containers") {
        return;
    }
    let env = TestEnv::new().with_busybox("sigbox", &[], |_| {});
    trapping(&env, "rt", &[], &[34, 37, 62, 63, 64], (10, 3));
    for (flag, got) in [("34", 34), ("RTMIN+3", 37), ("SIGRTMAX-2", 62), ("63", 63), ("rtmax", 64)] {
        assert_eq!(env.berth_ok(&["kill", "-s", flag, "rt"]).trim(), "rt");
        wait_for_log(&env, "rt", &format!("got{got}"));
    }
    for bad in ["65", "0", "RTMIN-1", "RTMAX+1", "SIGRTMIN+31", "NOPE"] {
        let line = env.berth_fails_125(&["kill", "-s", bad, "rt"]);
        assert!(line.contains("invalid signal"), "{bad}: {line}");
    }
    env.berth_ok(&["kill", "rt"]);

    // --stop-signal: stop sends it, and the container's own exit code is kept.
    trapping(&env, "stopper", &["--stop-signal", "SIGRTMIN+2"], &[], (36, 6));
    env.berth_ok(&["stop", "stopper"]);
    assert_eq!(env.berth_ok(&["inspect", "-f", "{{.State.ExitCode}}", "stopper"]).trim(), "6");
    assert_eq!(env.berth_ok(&["inspect", "-f", "{{.Config.StopSignal}}", "stopper"]).trim(), "SIGRTMIN+2");
    // stop -s overrides it.
    env.berth_ok(&["rm", "stopper"]);
    trapping(&env, "stopper", &["--stop-signal", "TERM"], &[], (40, 10));
    env.berth_ok(&["stop", "-s", "RTMIN+6", "stopper"]);
    assert_eq!(env.berth_ok(&["inspect", "-f", "{{.State.ExitCode}}", "stopper"]).trim(), "10");
    let line = env.berth_fails_125(&["run", "--rm", "--stop-signal", "RTMAX+1", "sigbox", "true"]);
    assert!(line.contains("invalid signal"), "{line}");

    // An image's STOPSIGNAL.
    env.import_busybox("rtstop", &["STOPSIGNAL RTMAX"], |_| {});
    let script = "trap 'exit 7' 64; echo ready; while :; do sleep 0.1; done";
    env.berth_ok(&["run", "-d", "--name", "imaged", "rtstop", "sh", "-c", script]);
    wait_for_log(&env, "imaged", "ready");
    env.berth_ok(&["stop", "imaged"]);
    assert_eq!(env.berth_ok(&["inspect", "-f", "{{.State.ExitCode}}", "imaged"]).trim(), "7");
}
