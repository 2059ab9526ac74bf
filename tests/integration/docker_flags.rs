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
