//! Exit codes of every verb's common failures, against Docker's: 1 when the request is refused
//! (no such object, a conflict, the wrong state) and for a failed pull; 125 for a usage error;
//! run and create 125 for anything but the container's command, 126/127 from it (exec too).

use crate::util::root_with_busybox;

/// (arguments, Docker's exit code). Containers: `running` (sleeps, uses volume `used`), `made`
/// (created, never started), `nocmd` (created with a command that does not exist).
const TABLE: &[(&[&str], i32)] = &[
    // Missing objects.
    (&["rm", "nosuch"], 1),
    (&["rm", "-f", "nosuch"], 1),
    (&["stop", "nosuch"], 1),
    (&["kill", "nosuch"], 1),
    (&["restart", "nosuch"], 1),
    (&["pause", "nosuch"], 1),
    (&["unpause", "nosuch"], 1),
    (&["wait", "nosuch"], 1),
    (&["logs", "nosuch"], 1),
    (&["inspect", "nosuch"], 1),
    (&["top", "nosuch"], 1),
    (&["rename", "nosuch", "other"], 1),
    (&["export", "nosuch"], 1),
    (&["start", "nosuch"], 1),
    (&["attach", "nosuch"], 1),
    (&["exec", "nosuch", "true"], 1),
    (&["volume", "rm", "nosuch"], 1),
    (&["volume", "inspect", "nosuch"], 1),
    (&["rmi", "nosuch"], 1),
    (&["tag", "nosuch", "other:1"], 1),
    (&["history", "nosuch"], 1),
    (&["network", "rm", "nosuch"], 1),
    (&["container", "exists", "nosuch"], 1),
    // Conflicts and wrong states.
    (&["rm", "running"], 1),
    (&["volume", "rm", "used"], 1),
    (&["rmi", "busybox"], 1),
    (&["rename", "made", "running"], 1),
    (&["kill", "made"], 1),
    (&["unpause", "running"], 1),
    (&["top", "made"], 1),
    (&["exec", "made", "true"], 1),
    (&["start", "nocmd"], 1),
    // A failed pull (nothing listens on port 1 of loopback).
    (&["pull", "127.0.0.1:1/tests/x:y"], 1),
    // Usage errors.
    (&["rm"], 125),
    (&["stop", "--no-such-flag", "running"], 125),
    (&["run", "--no-such-flag", "busybox"], 125),
    (&["ps", "--filter", "color=red"], 125),
    (&["kill", "-s", "NOSUCHSIGNAL", "running"], 125),
    // run and create: 125, or the container's command's 126/127.
    (&["run", "--rm", "--pull", "never", "nosuchimage"], 125),
    (&["create", "--name", "running", "busybox"], 125),
    (&["run", "--rm", "busybox", "/nonexistent"], 127),
    (&["run", "--rm", "busybox", "/etc"], 126),
    (&["exec", "running", "/nonexistent"], 127),
];

#[test]
fn every_verb_fails_with_dockers_exit_code() {
    let Some(env) = root_with_busybox("containers", "busybox") else { return };
    env.berth_ok(&["run", "-d", "--name", "running", "-v", "used:/data", "busybox", "sleep", "1000"]);
    env.berth_ok(&["create", "--name", "made", "busybox", "true"]);
    env.berth_ok(&["create", "--name", "nocmd", "busybox", "/nonexistent"]);
    let mut wrong = Vec::new();
    for (args, code) in TABLE {
        let out = env.berth(args);
        let actual = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if actual != *code || stderr.contains("panicked") {
            wrong.push(format!("berth {}: exit {actual}, Docker's is {code}: {}", args.join(" "), stderr.trim()));
        }
    }
    assert!(wrong.is_empty(), "exit codes unlike Docker's:\n{}", wrong.join("\n"));
    // The container's own exit code passes through run, start -a and exec.
    let (code, _) = env.berth_err(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(code, 3);
    let (code, _) = env.berth_err(&["exec", "running", "sh", "-c", "exit 4"]);
    assert_eq!(code, 4);
    // Several objects: each failure on its own line, the command's code Docker's 1.
    let (code, stderr) = env.berth_err(&["rm", "nosuch1", "nosuch2"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "one line per failed container: {stderr}");
    let line = env.berth_fails_with(1, &["start", "nocmd"]);
    assert!(line.contains("/nonexistent"), "{line}");
}
