//! Broken pipes (issue 10, D2): berth never dies of SIGPIPE — a `cp` whose helper stopped
//! reading reports the helper's reason, a closed stdout ends a command quietly — while the
//! programs in a container still get SIGPIPE's default action, as they do anywhere else.

use std::os::unix::process::ExitStatusExt;
use std::process::{Output, Stdio};

use crate::util::{ContainerEnv, TestEnv, assert_one_error_line};
use crate::volumes::setup;

/// A running container "run" with a file /data/hello.
fn with_container(what: &str) -> Option<ContainerEnv> {
    let env = setup(what)?;
    let prepare = "mkdir -p /data && echo hello > /data/hello";
    env.berth_ok(&["run", "-d", "--name", "run", "vbox", "sh", "-c", &format!("{prepare}; sleep 1000")]);
    env.wait_for_file_in("run", "/data/hello");
    Some(env)
}

fn assert_directory_onto_file_refused(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), None, "berth died of a signal ({}); stderr: {stderr}", out.status);
    assert_eq!(out.status.code(), Some(125), "stderr: {stderr}");
    let line = assert_one_error_line(&stderr);
    assert!(line.contains("cannot copy a directory to a file"), "{line}");
}

#[test]
fn cp_of_a_directory_onto_a_file_is_an_error_never_a_signal_death() {
    let Some(env) = with_container("cp and broken pipes") else { return };
    // A directory bigger than a pipe holds: the helper refuses it while berth is still
    // writing, so every run of this writes into a pipe nobody reads any more.
    let big = env.path("big");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::write(big.join("data"), vec![7u8; 4 << 20]).unwrap();
    for _ in 0..3 {
        assert_directory_onto_file_refused(&env.berth(&["cp", big.to_str().unwrap(), "run:/data/hello"]));
    }
    // The small case that failed about once in 200 runs, and 3 in 40 with 8 at once.
    let small = env.path("small");
    std::fs::create_dir_all(small.join("sub")).unwrap();
    std::fs::write(small.join("sub/file"), "x").unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..10 {
                    assert_directory_onto_file_refused(&env.berth(&["cp", small.to_str().unwrap(), "run:/data/hello"]));
                }
            });
        }
    });
    assert_eq!(env.berth_ok(&["exec", "run", "cat", "/data/hello"]), "hello\n");
}

/// Runs berth with its stdout a pipe whose reader is already gone.
fn with_stdout_closed(env: &TestEnv, args: &[&str]) -> Output {
    let mut child = env.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("running berth");
    drop(child.stdout.take());
    child.wait_with_output().expect("waiting for berth")
}

#[test]
fn a_closed_stdout_ends_berth_quietly() {
    let env = TestEnv::new();
    // Large output, more than a pipe holds.
    let out = with_stdout_closed(&env, &["completion", "bash"]);
    assert_eq!(out.status.signal(), None, "berth died of a signal: {}", out.status);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn cp_to_a_closed_stdout_ends_quietly() {
    let Some(env) = with_container("cp to a closed stdout") else { return };
    let out = with_stdout_closed(&env, &["cp", "run:/bin", "-"]);
    assert_eq!(out.status.signal(), None, "berth died of a signal: {}", out.status);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `yes` writing into a pipe whose reader (`head -1`) has gone: with SIGPIPE at its default it
/// is killed by it, as in any shell (status 141); were it ignored, `yes` would see EPIPE.
const YES_HEAD: &str = "(busybox yes; echo \"yes ended with $?\" >&2) | head -1";

#[test]
fn programs_in_containers_get_sigpipe_at_its_default() {
    let Some(env) = with_container("SIGPIPE in containers") else { return };
    let out = env.berth(&["run", "--rm", "vbox", "sh", "-c", YES_HEAD]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "y\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("yes ended with 141"), "{out:?}");
    let out = env.berth(&["exec", "run", "sh", "-c", YES_HEAD]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "y\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("yes ended with 141"), "{out:?}");
}
