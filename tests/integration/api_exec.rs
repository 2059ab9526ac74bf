//! `docker exec` through `berth system service`: the command runs in berth's own exec path in a
//! child of the service, its output relayed in multiplexed frames (raw on a pty for -t), its
//! exit code reported by `/exec/{id}/json`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::api::service_env;
use crate::util::{poll_for, require_program};

#[test]
fn docker_exec_runs_commands_in_a_running_container() {
    let Some((env, service)) = service_env("docker exec through the API") else { return };
    service.docker_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "100"]);
    assert_eq!(service.docker_ok(&["exec", "box", "echo", "hi"]), "hi\n");
    let out = service.docker(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n", "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert_eq!(out.status.code(), Some(4), "the exit code comes through docker exec");
    let settings = service.docker_ok(&[
        "exec",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "box",
        "sh",
        "-c",
        "echo $A $(pwd) $(id -u)",
    ]);
    assert_eq!(settings, "1 /tmp 1000\n");
    let missing = service.docker(&["exec", "box", "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127), "{}", String::from_utf8_lossy(&missing.stderr));

    let mut child = service
        .docker_command(&["exec", "-i", "box", "sh", "-c", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker exec -i");
    child.stdin.take().expect("stdin").write_all(b"through stdin\n").expect("writing stdin");
    let out = child.wait_with_output().expect("docker exec -i");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through stdin\ndone\n", "stdin's end reaches the command");
    assert!(out.status.success());

    service.docker_ok(&["exec", "-d", "box", "sh", "-c", "sleep 0.2; echo later > /tmp/marker"]);
    let marker = poll_for(Duration::from_secs(10), || {
        let out = service.docker(&["exec", "box", "cat", "/tmp/marker"]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert_eq!(marker.as_deref(), Some("later\n"), "a detached exec runs to its end");

    // The execs are berth's own: its event journal has them.
    let events = env.berth_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "event=exec_start",
        "--format",
        "{{.Action}}",
    ]);
    assert!(events.lines().count() >= 5, "{events}");

    service.docker_ok(&["stop", "-t", "1", "box"]);
    let stopped = service.docker(&["exec", "box", "true"]);
    assert!(!stopped.status.success());
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("is not running"), "{stopped:?}");
    let gone = service.docker(&["exec", "nothing-here", "true"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("No such container: nothing-here"), "{gone:?}");
    env.assert_store_ok();
}

#[test]
fn docker_exec_it_runs_on_a_terminal() {
    if !require_program("script") {
        return;
    }
    let Some((_env, service)) = service_env("docker exec -it through the API") else { return };
    service.docker_ok(&["run", "-d", "--name", "term", "busybox", "sleep", "100"]);
    // script(1) gives docker a real pty, as a user's terminal would.
    let docker = service.docker_command(&[]);
    let envs: Vec<(String, String)> =
        docker.get_envs().filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned()))).collect();
    let mut child = Command::new("script")
        .args(["-qec", "docker exec -it term sh -c '[ -t 0 ] && [ -t 1 ] && echo on-a-terminal; exit 6'", "/dev/null"])
        .envs(envs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    let done = poll_for(Duration::from_secs(60), || child.try_wait().ok().flatten());
    if done.is_none() {
        let _ = child.kill();
        panic!("docker exec -it did not finish");
    }
    let out = child.wait_with_output().expect("script output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("on-a-terminal\r\n"), "the command's stdin and stdout are a terminal: {text:?}");
    assert_eq!(out.status.code(), Some(6), "{text:?} {}", String::from_utf8_lossy(&out.stderr));
}
