//! Docker CLI compatibility through the binary (issue 16): booleans with `=value`, the last of a
//! repeated single-value flag winning, and Podman's `exists` helpers.

use crate::util::root_with_busybox;

#[test]
fn boolean_flags_take_values_and_the_last_name_wins() {
    let Some(env) = root_with_busybox("containers need root", "busybox") else { return };
    let out = env.berth_ok(&["run", "--rm=true", "-i=false", "--privileged=false", "busybox", "echo", "hi"]);
    assert_eq!(out.trim(), "hi");
    assert!(env.berth_ok(&["ps", "-aq"]).trim().is_empty(), "--rm=true kept the container");

    env.berth_ok(&["run", "--rm=false", "--name", "first", "--name", "second", "busybox", "true"]);
    let names = env.berth_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names.trim(), "second", "the last --name wins");
    let format = env.berth_ok(&["inspect", "--format", "{{.Name}}", "--format", "{{.State.Status}}", "second"]);
    assert_eq!(format.trim(), "exited", "the last --format wins");

    let (code, stderr) = env.berth_err(&["run", "--rm=perhaps", "busybox", "true"]);
    assert_eq!(code, 125, "{stderr}");
}

#[test]
fn cp_archive_flag_takes_a_value() {
    let Some(env) = root_with_busybox("containers need root", "busybox") else { return };
    env.berth_ok(&["create", "--name", "cpsrc", "busybox", "true"]);
    let target = env.path("out");
    env.berth_ok(&["cp", "-a=false", "cpsrc:/bin/busybox", target.to_str().unwrap()]);
    assert!(target.exists());
}

#[test]
fn exists_verbs_answer_with_their_exit_code() {
    let Some(env) = root_with_busybox("containers need root", "busybox") else { return };
    env.berth_ok(&["create", "--name", "there", "busybox", "true"]);
    env.berth_ok(&["volume", "create", "vol"]);
    for (args, expected) in [
        (&["container", "exists", "there"][..], 0),
        (&["container", "exists", "nothere"], 1),
        (&["image", "exists", "busybox"], 0),
        (&["image", "exists", "nosuchimage"], 1),
        (&["volume", "exists", "vol"], 0),
        (&["volume", "exists", "novol"], 1),
    ] {
        let out = env.berth(args);
        assert_eq!(out.status.code(), Some(expected), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{args:?} printed something");
    }
}
