//! Container verbs after `run`: ps, logs, stop, kill, rm, wait, exec, inspect, top, stats,
//! pause/unpause, rename, restart, attach, the `container` group and prune, images in use, and a
//! supervisor killed with -9. They need root (namespaces, overlay, cgroups) and Debian's
//! busybox-static; each test imports a busybox root filesystem into its own store.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{ContainerEnv, WAIT, list_dir, poll_for, process_ended, root_with_busybox, wait_for, wait_until};

/// A test store with the busybox image (imported as "busybox"), or None (the test is skipped)
/// when not root.
fn setup(what: &str) -> Option<ContainerEnv> {
    root_with_busybox(what, "busybox")
}

impl ContainerEnv {
    /// `run -d` with extra flags, then the image and command; returns the container id.
    fn run_detached(&self, flags: &[&str], command: &[&str]) -> String {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(flags);
        args.push("busybox");
        args.extend_from_slice(command);
        let id = self.berth_ok(&args).trim().to_owned();
        assert_eq!(id.len(), 64, "run -d should print the container id, printed {id:?}");
        id
    }

    /// `inspect -f FORMAT CONTAINER`, trimmed.
    fn field(&self, container: &str, format: &str) -> String {
        self.berth_ok(&["inspect", "-f", format, container]).trim().to_owned()
    }

    /// ps -a rows as (name, status) pairs, newest first.
    fn ps_status(&self) -> Vec<(String, String)> {
        self.berth_ok(&["ps", "-a", "--format", "{{.Names}}|{{.Status}}"])
            .lines()
            .map(|l| {
                let (n, s) = l.split_once('|').expect("name|status");
                (n.to_owned(), s.to_owned())
            })
            .collect()
    }

    fn status_of(&self, name: &str) -> String {
        self.ps_status().into_iter().find(|(n, _)| n == name).map(|(_, s)| s).unwrap_or_default()
    }

    /// The container's record as stored in containers.json.
    fn record(&self, name: &str) -> Value {
        let text = std::fs::read_to_string(self.root.join("containers.json")).expect("reading containers.json");
        let index: Value = serde_json::from_str(&text).expect("containers.json is JSON");
        index["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .expect("container in containers.json")
    }

    /// Waits until the log of `name` contains `text`.
    fn wait_for_log(&self, name: &str, text: &str) {
        wait_until(WAIT, &format!("{name}'s log shows {text:?}"), || {
            String::from_utf8_lossy(&self.berth(&["logs", name]).stdout).contains(text)
        });
    }

    /// Kills the supervisor of running container `name` with SIGKILL and waits until it is gone.
    fn kill_supervisor(&self, name: &str) {
        let supervisor = self.record(name)["state"]["supervisor_pid"].as_i64().expect("supervisor pid") as i32;
        assert!(std::process::Command::new("kill").args(["-9", &supervisor.to_string()]).status().unwrap().success());
        wait_until(WAIT, &format!("{name}'s supervisor {supervisor} ends after kill -9"), || process_ended(supervisor));
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const SLEEPER: &[&str] = &["sleep", "1000"];

#[test]
fn ps_shows_running_containers_and_all_with_docker_columns() {
    let Some(env) = setup("running containers") else { return };
    env.berth_ok(&["run", "--name", "done", "busybox", "true"]);
    env.berth_ok(&["create", "--name", "idle", "busybox", "echo", "never"]);
    let web = env.run_detached(&["--name", "web", "--label", "tier=front"], SLEEPER);

    let out = env.berth_ok(&["ps"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "ps shows only the running container:\n{out}");
    for column in ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] {
        assert!(lines[0].contains(column), "header lacks {column}: {}", lines[0]);
    }
    assert!(lines[1].starts_with(&web[..12]), "{out}");
    assert!(lines[1].contains("\"sleep 1000\""), "the command is quoted: {out}");
    assert!(lines[1].contains("Up "), "{out}");
    assert!(lines[1].trim_end().ends_with("web"), "{out}");

    let all = env.ps_status();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["web", "idle", "done"], "ps -a lists newest first");
    assert!(all[0].1.starts_with("Up "), "{all:?}");
    assert_eq!(all[1].1, "Created");
    assert!(all[2].1.starts_with("Exited (0) ") && all[2].1.ends_with(" ago"), "{all:?}");

    let quiet = env.berth_ok(&["ps", "-a", "-q"]);
    assert_eq!(quiet.lines().count(), 3);
    assert!(quiet.lines().all(|l| l.len() == 12), "{quiet}");
    assert!(env.berth_ok(&["ps", "-q", "--no-trunc"]).lines().eq([web.as_str()]));
    assert_eq!(env.berth_ok(&["ps", "-l", "--format", "{{.Names}}"]).trim(), "web");
    assert_eq!(env.berth_ok(&["ps", "-n", "2", "--format", "{{.Names}}"]).trim(), "web\nidle");

    let filtered = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for f in filters {
            args.extend(["-f", f]);
        }
        env.berth_ok(&args).lines().map(str::to_owned).collect()
    };
    assert_eq!(filtered(&["name=we"]), ["web"]);
    assert_eq!(filtered(&["name=^idle$"]), ["idle"]);
    assert_eq!(filtered(&["status=exited"]), ["done"]);
    assert_eq!(filtered(&["status=created", "status=running"]), ["web", "idle"]);
    assert_eq!(filtered(&["label=tier"]), ["web"]);
    assert_eq!(filtered(&["label=tier=front"]), ["web"]);
    assert!(filtered(&["label=tier=back"]).is_empty());
    assert_eq!(filtered(&["ancestor=busybox"]).len(), 3);
    assert_eq!(filtered(&["ancestor=busybox", "status=exited"]), ["done"]);
    assert!(filtered(&["ancestor=alpine"]).is_empty());
    assert_eq!(filtered(&[&format!("id={}", &web[..6])]), ["web"]);
    assert_eq!(filtered(&["exited=0"]), ["done"]);
    assert!(env.berth_fails_125(&["ps", "-f", "status=sleepy"]).contains("status"));
    assert!(env.berth_fails_125(&["ps", "-f", "color=red"]).contains("invalid filter"));

    let json = env.berth_ok(&["ps", "-a", "--format", "json"]);
    let rows: Vec<Value> = json.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["Names"], "web");
    assert_eq!(rows[0]["ID"], &web[..12]);
    assert_eq!(rows[0]["Image"], "busybox");
    assert_eq!(rows[0]["State"], "running");
    assert_eq!(rows[0]["Command"], "\"sleep 1000\"");
    assert_eq!(rows[0]["Labels"], "tier=front");
    assert_eq!(rows[1]["State"], "created");
    assert_eq!(rows[2]["State"], "exited");

    let table = env.berth_ok(&["ps", "-a", "--format", "table {{.Names}}\\t{{.State}}"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAMES") && lines[0].contains("STATE"), "{table}");
    let state_column = lines[0].find("STATE").unwrap();
    assert_eq!(&lines[1][state_column..], "running", "columns are aligned:\n{table}");
}

#[test]
fn ps_lists_a_thousand_containers() {
    let Some(env) = setup("creating containers") else { return };
    // One container made by berth, 999 copies of its record and directories (see
    // `TestEnv::replicate_container`): what is tested is ps over a thousand records.
    env.berth_ok(&["create", "--name", "c0", "busybox", "true"]);
    let copies: Vec<String> = (1..1000).map(|i| format!("c{i}")).collect();
    let ids = env.replicate_container("c0", &copies);
    let expected: BTreeSet<String> = copies.iter().cloned().chain(["c0".to_owned()]).collect();
    assert_eq!(expected.len(), 1000);
    let started = Instant::now();
    let names = env.berth_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    eprintln!("ps -a over 1000 containers took {:?}", started.elapsed());
    let listed: Vec<&str> = names.lines().collect();
    assert_eq!(listed.len(), 1000);
    assert!(listed.iter().all(|l| l.ends_with(" Created")), "{names}");
    let listed: BTreeSet<String> = listed.iter().map(|l| l.split(' ').next().unwrap().to_owned()).collect();
    assert_eq!(listed, expected);
    let short_ids = env.berth_ok(&["ps", "-a", "-q"]);
    assert_eq!(short_ids.lines().collect::<BTreeSet<_>>().len(), 1000);
    assert!(env.berth_ok(&["ps", "-q"]).is_empty(), "none of them runs");
    // The copies are whole containers: found by name, inspected, removed like any other.
    assert_eq!(env.field("c999", "{{.Id}}"), ids[998]);
    assert_eq!(env.berth_ok(&["rm", "c500"]), "c500\n");
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]).lines().count(), 999);
    // Prune takes them all in one rewrite of containers.json (one `rm -f` of each, which the
    // environment would otherwise do when dropped, takes 999).
    let pruned = env.berth_ok(&["container", "prune", "-f"]);
    let deleted: BTreeSet<&str> = pruned.lines().filter(|l| l.len() == 64).collect();
    assert_eq!(deleted.len(), 999, "{pruned}");
    assert!(deleted.contains(ids[998].as_str()) && !deleted.contains(ids[499].as_str()), "{pruned}");
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]), "");
    assert_eq!(list_dir(&env.root.join("containers")), Vec::<String>::new());
}

#[test]
fn twenty_concurrent_run_rm_all_succeed_and_leave_nothing_behind() {
    let Some(env) = setup("running containers") else { return };
    std::thread::scope(|s| {
        for i in 0..20 {
            let env = &env;
            s.spawn(move || {
                let out = env.berth_ok(&["run", "--rm", "busybox", "sh", "-c", &format!("echo run {i}")]);
                assert_eq!(out, format!("run {i}\n"));
            });
        }
    });
    assert!(env.berth_ok(&["ps", "-a", "-q"]).is_empty(), "--rm containers are gone when run returns");
    // Each supervisor deletes its container's files after `run` has its exit code; wait for them.
    let containers = env.path("root/containers");
    let poll = poll_for(WAIT, || (list_dir(&containers).is_empty() && env.staging_dirs().is_empty()).then_some(()));
    assert!(poll.is_some(), "left behind: containers {:?}, tmp {:?}", list_dir(&containers), env.staging_dirs());
    env.assert_store_ok();
}

#[test]
fn logs_after_exit_split_streams_and_select_lines() {
    let Some(env) = setup("running containers") else { return };
    let out = env.berth(&[
        "run",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo one; echo oops >&2; sleep 0.2; echo two; printf three",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let logs = env.berth(&["logs", "talker"]);
    assert!(logs.status.success());
    assert_eq!(stdout(&logs), "one\ntwo\nthree");
    assert_eq!(stderr(&logs), "oops\n");

    let tail = env.berth(&["logs", "--tail", "2", "talker"]);
    assert_eq!(stdout(&tail), "two\nthree");
    assert_eq!(stderr(&tail), "");
    assert_eq!(stdout(&env.berth(&["logs", "-n", "0", "talker"])), "");

    let stamped = env.berth(&["logs", "-t", "--tail", "1", "talker"]);
    let line = stdout(&stamped);
    let (stamp, text) = line.split_once(' ').expect("timestamp, space, text");
    assert_eq!(text, "three");
    assert!(stamp.ends_with('Z') && stamp.contains('T') && stamp.len() >= 20, "RFC 3339 timestamp: {stamp}");

    assert_eq!(stdout(&env.berth(&["logs", "--since", "1h", "talker"])), "one\ntwo\nthree");
    assert_eq!(stdout(&env.berth(&["logs", "--until", "1h", "talker"])), "");
    let future = (chrono_like_now_secs() + 3600).to_string();
    assert_eq!(stdout(&env.berth(&["logs", "--since", &future, "talker"])), "");
    assert!(env.berth_fails_125(&["logs", "--since", "someday", "talker"]).contains("invalid time"));

    env.berth_ok(&["run", "--rm", "--name", "gone", "busybox", "echo", "bye"]);
    assert!(env.berth_fails_with(1, &["logs", "gone"]).contains("no such container"));
}

fn chrono_like_now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn logs_follow_a_running_container_until_it_exits() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(
        &["--name", "ticker"],
        &["sh", "-c", "for i in 1 2 3 4 5; do echo tick $i; sleep 0.3; done; echo bye >&2"],
    );
    let child = env.command(["logs", "-f", "ticker"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(15), "logs -f did not end with the container");
    assert_eq!(stdout(&out), "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
    assert_eq!(stderr(&out), "bye\n");
    // After the exit, following ends at once.
    let again = env.berth(&["logs", "-f", "--tail", "2", "ticker"]);
    assert_eq!(stdout(&again), "tick 5\n");
    assert_eq!(stderr(&again), "bye\n");
}

#[test]
fn stop_uses_the_stop_signal_then_kills() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(
        &["--name", "polite"],
        &["sh", "-c", "trap 'echo got term; exit 3' TERM; echo ready; while :; do sleep 0.1; done"],
    );
    env.wait_for_log("polite", "ready");
    assert_eq!(env.berth_ok(&["stop", "polite"]), "polite\n");
    assert_eq!(env.field("polite", "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}"), "exited 3 false");
    assert!(stdout(&env.berth(&["logs", "polite"])).contains("got term"));
    assert!(env.status_of("polite").starts_with("Exited (3) "), "{:?}", env.ps_status());
    // Stopping a stopped container is fine.
    assert_eq!(env.berth_ok(&["stop", "polite"]), "polite\n");

    env.run_detached(&["--name", "stubborn"], &["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"]);
    env.wait_for_log("stubborn", "ready");
    let started = Instant::now();
    assert_eq!(env.berth_ok(&["stop", "-t", "1", "stubborn"]), "stubborn\n");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(8), "stop -t 1 took {took:?}");
    assert_eq!(env.field("stubborn", "{{.State.ExitCode}}"), "137");

    env.run_detached(
        &["--name", "custom", "--stop-signal", "USR1"],
        &["sh", "-c", "trap 'exit 4' USR1; echo ready; while :; do sleep 0.1; done"],
    );
    env.wait_for_log("custom", "ready");
    env.berth_ok(&["stop", "custom"]);
    assert_eq!(env.field("custom", "{{.State.ExitCode}}"), "4");

    assert!(env.berth_fails_with(1, &["stop", "nosuch"]).contains("no such container"));
}

#[test]
fn kill_and_rm() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(&["--name", "victim"], SLEEPER);
    assert_eq!(env.berth_ok(&["kill", "victim"]), "victim\n");
    assert_eq!(env.field("victim", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    assert!(env.berth_fails_with(1, &["kill", "victim"]).contains("is not running"));

    env.run_detached(
        &["--name", "signalled"],
        &["sh", "-c", "trap 'exit 9' USR2; echo ready; while :; do sleep 0.1; done"],
    );
    env.wait_for_log("signalled", "ready");
    env.berth_ok(&["kill", "-s", "SIGUSR2", "signalled"]);
    assert_eq!(env.berth_ok(&["wait", "signalled"]).trim(), "9");

    let id = env.run_detached(&["--name", "busy"], SLEEPER);
    let line = env.berth_fails_with(1, &["rm", "busy"]);
    assert!(
        line.contains(
            "cannot remove container busy: container is running: stop the container before removing or force remove"
        ),
        "{line}"
    );
    let pid: i32 = env.field("busy", "{{.State.Pid}}").parse().unwrap();
    assert_eq!(env.berth_ok(&["rm", "-f", "busy"]), "busy\n");
    assert!(process_ended(pid), "rm -f kills the container");
    assert!(!env.root.join("containers").join(&id).exists(), "rm removes the container's directory");
    assert_eq!(env.berth_ok(&["rm", "victim", "signalled"]), "victim\nsignalled\n");
    assert!(env.berth_ok(&["ps", "-a", "-q"]).is_empty());
    assert!(env.berth_fails_with(1, &["rm", "busy"]).contains("no such container"));
    let (code, err) = env.berth_err(&["rm", "nosuch1", "nosuch2"]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 2, "one line per failed container: {err}");
}

#[test]
fn wait_prints_exit_codes() {
    let Some(env) = setup("running containers") else { return };
    env.berth(&["run", "--name", "failed", "busybox", "sh", "-c", "exit 5"]);
    env.berth_ok(&["create", "--name", "fresh", "busybox", "true"]);
    env.run_detached(&["--name", "slow"], &["sh", "-c", "sleep 1; exit 7"]);
    assert_eq!(env.berth_ok(&["wait", "failed"]), "5\n");
    assert_eq!(env.berth_ok(&["wait", "fresh"]), "0\n");
    let started = Instant::now();
    assert_eq!(env.berth_ok(&["wait", "slow", "failed"]), "7\n5\n");
    assert!(started.elapsed() >= Duration::from_millis(300), "wait returned before the container ended");
    env.run_detached(&["--rm", "--name", "ephemeral"], &["sh", "-c", "sleep 0.5; exit 6"]);
    assert_eq!(env.berth_ok(&["wait", "ephemeral"]), "6\n", "the code of a --rm container comes from its supervisor");
    assert!(env.berth_fails_with(1, &["wait", "nosuch"]).contains("no such container"));
}

#[test]
fn exec_runs_commands_in_the_container() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(&["--name", "host", "-e", "FROM_RUN=1", "-w", "/root"], SLEEPER);
    let out = env.berth(&["exec", "host", "sh", "-c", "cat /proc/1/cmdline | busybox tr '\\0' ' '; exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "sleep 1000", "pid 1 is the container's process");

    let out = env.berth_ok(&["exec", "host", "sh", "-c", "echo $FROM_RUN $PWD $(id -u)"]);
    assert_eq!(out.trim(), "1 /root 0", "the container's env, working dir and user by default");
    let out = env.berth_ok(&[
        "exec",
        "-e",
        "EXTRA=x",
        "-e",
        "FROM_RUN=2",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "host",
        "sh",
        "-c",
        "echo $EXTRA $FROM_RUN $PWD $(id -un)",
    ]);
    assert_eq!(out.trim(), "x 2 /tmp nobody");

    let (code, err) = env.berth_err(&["exec", "host", "no-such-command"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("no-such-command"), "{err}");

    let input =
        env.command(["exec", "-i", "host", "cat"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut input = input;
    input.stdin.take().unwrap().write_all(b"piped in\n").unwrap();
    let out = input.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "piped in\n", "exec -i passes stdin");

    assert_eq!(env.berth_ok(&["exec", "-d", "host", "sleep", "30"]), "");
    env.berth_ok(&["create", "--name", "idle", "busybox", "true"]);
    assert!(env.berth_fails_with(1, &["exec", "idle", "true"]).contains("is not running"));
}

#[test]
fn inspect_describes_containers_like_docker() {
    let Some(env) = setup("running containers") else { return };
    let id = env.run_detached(
        &[
            "--name",
            "subject",
            "-e",
            "FOO=bar",
            "-l",
            "k=v",
            "--memory",
            "64m",
            "--stop-timeout",
            "3",
            "--hostname",
            "box",
        ],
        &["sh", "-c", "sleep 1000"],
    );
    let c = env.inspect_container("subject");
    assert_eq!(c["Id"], id);
    assert_eq!(c["Name"], "/subject");
    assert_eq!(c["Path"], "sh");
    assert_eq!(c["Args"], serde_json::json!(["-c", "sleep 1000"]));
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["State"]["Paused"], false);
    assert!(c["State"]["Pid"].as_i64().unwrap() > 0);
    assert_eq!(c["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
    assert!(c["State"]["StartedAt"].as_str().unwrap().starts_with("20"));
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(c["Config"]["Image"], "busybox");
    assert_eq!(c["Config"]["Hostname"], "box");
    assert!(c["Config"]["Env"].as_array().unwrap().iter().any(|e| e == "FOO=bar"));
    assert_eq!(c["Config"]["Labels"]["k"], "v");
    assert_eq!(c["Config"]["StopTimeout"], 3);
    assert_eq!(c["Config"]["StopSignal"], "SIGTERM");
    assert_eq!(c["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(c["HostConfig"]["AutoRemove"], false);
    assert_eq!(c["Driver"], "overlay");
    assert_eq!(c["Mounts"], serde_json::json!([]));
    assert!(c["LogPath"].as_str().unwrap().ends_with("ctr.log"));

    env.berth_ok(&["stop", "-t", "0", "subject"]);
    assert_eq!(
        env.field("subject", "{{.State.Status}} {{.State.Running}} {{.State.Pid}} {{.State.ExitCode}}"),
        "exited false 0 137"
    );
    assert_ne!(env.field("subject", "{{.State.FinishedAt}}"), "0001-01-01T00:00:00Z");
    assert_eq!(env.field(&id[..8], "{{json .Config.Cmd}}"), "[\"sh\",\"-c\",\"sleep 1000\"]");

    // `inspect` finds containers first, then images; `container inspect` only containers.
    assert!(env.field("busybox", "{{.Id}}").starts_with("sha256:"));
    let (code, err) = env.berth_err(&["container", "inspect", "busybox"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no such container"), "{err}");
    let (code, err) = env.berth_err(&["inspect", "nothing-here"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such object"), "{err}");
}

#[test]
fn top_lists_the_containers_processes() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(&["--name", "topped"], &["sh", "-c", "sleep 1000 & sleep 2000"]);
    // Both sleeps as processes of their own (the shell's command line names them too).
    let runs = |out: &str, command: &str| out.lines().any(|l| l.ends_with(&format!("   {command}")));
    let out = wait_for(WAIT, "top shows both sleeps", || {
        Some(env.berth_ok(&["top", "topped"])).filter(|out| runs(out, "sleep 1000") && runs(out, "sleep 2000"))
    });
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    assert!(out.contains("sleep 1000") && out.contains("sleep 2000"), "{out}");
    let pid = env.field("topped", "{{.State.Pid}}");
    assert!(
        out.lines().any(|l| l.split_whitespace().nth(1) == Some(pid.as_str())),
        "the first process is listed:\n{out}"
    );
    // An exec'd process is the container's; berth's own exec process is not.
    let mut exec = env.command(["exec", "topped", "sleep", "3000"]).spawn().unwrap();
    // Until it execs, the exec'd process is a copy of berth with "sleep 3000" on its command
    // line: wait for the sleep itself.
    let out = wait_for(WAIT, "top shows the exec'd sleep", || {
        Some(env.berth_ok(&["top", "topped"])).filter(|out| runs(out, "sleep 3000"))
    });
    let _ = exec.kill();
    let _ = exec.wait();
    assert!(out.contains("sleep 3000"), "{out}");
    assert!(!out.contains("berth"), "{out}");
    env.berth_ok(&["create", "--name", "idle", "busybox", "true"]);
    assert!(env.berth_fails_with(1, &["top", "idle"]).contains("is not running"));
}

#[test]
fn stats_reports_usage() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(&["--name", "measured"], SLEEPER);
    let out = env.berth_ok(&["stats", "--no-stream"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for column in ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"] {
        assert!(lines[0].contains(column), "{out}");
    }
    assert!(lines[1].contains("measured"), "{out}");
    let json = env.berth_ok(&["stats", "--no-stream", "--format", "json", "measured"]);
    let row: Value = serde_json::from_str(json.trim()).expect("stats json");
    assert_eq!(row["Name"], "measured");
    assert_eq!(row["Container"], "measured");
    assert!(row["CPUPerc"].as_str().unwrap().ends_with('%'), "{row}");
    assert!(row["MemUsage"].as_str().unwrap().contains(" / "), "{row}");
    assert_eq!(row["PIDs"], "1", "{row}");
    assert_eq!(env.berth_ok(&["stats", "--no-stream", "--format", "{{.Name}}", "measured"]).trim(), "measured");
}

#[test]
fn pause_and_unpause() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(&["--name", "napper"], &["sh", "-c", "while :; do date +%s%N > /tmp/beat; sleep 0.05; done"]);
    assert_eq!(env.berth_ok(&["pause", "napper"]), "napper\n");
    assert!(env.status_of("napper").ends_with("(Paused)"), "{:?}", env.ps_status());
    assert_eq!(env.field("napper", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"), "paused true true");
    assert!(env.berth_fails_with(1, &["pause", "napper"]).contains("already paused"));
    assert_eq!(env.berth_ok(&["ps", "-f", "status=paused", "--format", "{{.Names}}"]).trim(), "napper");
    assert_eq!(env.berth_ok(&["unpause", "napper"]), "napper\n");
    let status = env.status_of("napper");
    assert!(status.starts_with("Up ") && !status.contains("Paused"), "{status}");
    assert!(env.berth_fails_with(1, &["unpause", "napper"]).contains("not paused"));

    // A paused container can still be stopped.
    env.berth_ok(&["pause", "napper"]);
    env.berth_ok(&["stop", "-t", "1", "napper"]);
    assert_eq!(env.field("napper", "{{.State.Status}}"), "exited");
    assert!(env.berth_fails_with(1, &["pause", "napper"]).contains("not running"));
}

#[test]
fn rename_checks_names() {
    let Some(env) = setup("creating containers") else { return };
    env.berth_ok(&["create", "--name", "before", "busybox", "true"]);
    env.berth_ok(&["create", "--name", "other", "busybox", "true"]);
    assert_eq!(env.berth_ok(&["rename", "before", "after"]), "");
    assert_eq!(env.berth_ok(&["ps", "-a", "--format", "{{.Names}}"]), "other\nafter\n");
    assert!(env.berth_fails_with(1, &["rename", "after", "other"]).contains("already in use"));
    assert!(env.berth_fails_with(1, &["rename", "after", "bad/name"]).contains("invalid container name"));
    assert!(env.berth_fails_with(1, &["rename", "before", "again"]).contains("no such container"));
    assert_eq!(env.field("after", "{{.Name}}"), "/after");
}

#[test]
fn restart_stops_and_starts_again() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(&["--name", "phoenix"], SLEEPER);
    let first: i32 = env.field("phoenix", "{{.State.Pid}}").parse().unwrap();
    assert_eq!(env.berth_ok(&["restart", "-t", "0", "phoenix"]), "phoenix\n");
    let second: i32 = env.field("phoenix", "{{.State.Pid}}").parse().unwrap();
    assert_ne!(first, second);
    assert!(env.status_of("phoenix").starts_with("Up "));
    env.berth_ok(&["create", "--name", "never", "busybox", "sh", "-c", "sleep 1000"]);
    env.berth_ok(&["container", "restart", "never"]);
    assert!(env.status_of("never").starts_with("Up "));
}

#[test]
fn a_supervisor_killed_with_sigkill_leaves_a_container_that_can_be_stopped_and_removed() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(&["--name", "orphan"], &["sh", "-c", "while :; do sleep 0.1; done"]);
    let record = env.record("orphan");
    let supervisor = record["state"]["supervisor_pid"].as_i64().expect("supervisor pid") as i32;
    let pid = record["state"]["pid"].as_i64().unwrap() as i32;
    assert!(supervisor > 0 && supervisor != pid);
    env.kill_supervisor("orphan");
    assert!(env.status_of("orphan").starts_with("Up "), "the container still runs: {:?}", env.ps_status());
    assert_eq!(env.field("orphan", "{{.State.Running}}"), "true");

    assert_eq!(env.berth_ok(&["stop", "-t", "1", "orphan"]), "orphan\n");
    assert!(process_ended(pid), "stop ended it");
    let status = env.status_of("orphan");
    assert!(status.starts_with("Exited (137) "), "stop recorded the exit itself: {status}");
    let id = record["id"].as_str().unwrap();
    assert_eq!(cgroup_dirs_named(id), Vec::<PathBuf>::new(), "stop removed the cgroup");
    assert_eq!(env.berth_ok(&["rm", "orphan"]), "orphan\n");
    let out = env.berth(&["run", "--name", "orphan", "busybox", "echo", "reborn"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "reborn\n");
}

/// The container cgroup directories named `id`, at any depth a berth cgroup can be.
fn cgroup_dirs_named(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: usize, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if entry.file_name() == id {
                found.push(entry.path());
            } else if depth > 0 {
                walk(&entry.path(), id, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), id, 3, &mut found);
    found
}

#[test]
fn a_supervisor_killed_under_an_rm_container_leaves_nothing_once_it_is_stopped() {
    let Some(env) = setup("running containers") else { return };
    let id = env.run_detached(&["--name", "orphan", "--rm", "-v", "/scratch"], SLEEPER);
    assert_eq!(env.berth_ok(&["volume", "ls", "-q"]).lines().count(), 1);
    assert!(!cgroup_dirs_named(&id).is_empty(), "a root container has a cgroup");
    assert!(env.root.join("containers").join(&id).is_dir());
    env.kill_supervisor("orphan");
    assert_eq!(env.berth_ok(&["stop", "-t", "0", "orphan"]), "orphan\n");
    // What its supervisor would have done for --rm: the record, the volume, the cgroup.
    assert_eq!(env.berth_ok(&["ps", "-a", "-q"]), "");
    assert_eq!(env.berth_ok(&["volume", "ls", "-q"]), "");
    assert_eq!(cgroup_dirs_named(&id), Vec::<PathBuf>::new());
    assert!(!env.root.join("containers").join(&id).exists());
    env.berth_ok(&["run", "--name", "orphan", "--rm", "busybox", "true"]);
}

#[test]
fn a_supervisor_killed_then_its_container_removed_by_force() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(&["--name", "orphan", "--rm"], SLEEPER);
    env.kill_supervisor("orphan");
    assert_eq!(env.berth_ok(&["rm", "-f", "orphan"]), "orphan\n");
    assert!(env.berth_ok(&["ps", "-a", "-q"]).is_empty());
    env.berth_ok(&["run", "--name", "orphan", "busybox", "true"]);
}

#[test]
fn attach_relays_output_input_and_the_exit_code() {
    let Some(env) = setup("running containers") else { return };
    env.run_detached(&["-i", "--name", "listener"], &["sh", "-c", "read line; echo got $line; exit 6"]);
    let mut child = env.command(["attach", "listener"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    // No need to wait for the attach to connect: the input waits in the pipe, which attach reads
    // only once it is connected, and then the container's output can only come after it.
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "got hello\n");
    assert_eq!(out.status.code(), Some(6));

    let line = env.berth_fails_125(&["attach", "listener"]);
    assert!(line.contains("you cannot attach to a stopped container, start it first"), "{line}");
}

#[test]
fn container_group_and_prune() {
    let Some(env) = setup("running containers") else { return };
    env.berth_ok(&["container", "run", "--name", "ran", "busybox", "true"]);
    env.berth_ok(&["container", "create", "--name", "made", "busybox", "true"]);
    env.run_detached(&["--name", "alive"], SLEEPER);
    assert_eq!(env.berth_ok(&["container", "ls", "-a", "--format", "{{.Names}}"]), "alive\nmade\nran\n");
    assert_eq!(env.berth_ok(&["container", "list", "--format", "{{.Names}}"]), "alive\n");
    assert_eq!(env.berth_ok(&["container", "ps", "-q"]).lines().count(), 1);
    assert_eq!(env.berth_ok(&["container", "logs", "ran"]), "");
    assert_eq!(env.berth_ok(&["container", "wait", "ran"]), "0\n");

    let ids: Vec<String> = ["ran", "made"].iter().map(|n| env.field(n, "{{.Id}}")).collect();
    let out = env.berth_ok(&["container", "prune", "-f"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Deleted Containers:", "{out}");
    let deleted: BTreeSet<&str> = lines[1..3].iter().copied().collect();
    assert_eq!(deleted, ids.iter().map(String::as_str).collect(), "{out}");
    assert!(lines.last().unwrap().starts_with("Total reclaimed space: "), "{out}");
    assert_eq!(env.berth_ok(&["ps", "-a", "--format", "{{.Names}}"]), "alive\n");
    // Without -f on a non-terminal, prune asks and, unanswered, does nothing.
    env.berth_ok(&["container", "stop", "-t", "0", "alive"]);
    let out = env.berth(&["container", "prune"]);
    assert!(!out.status.success());
    assert_eq!(env.berth_ok(&["container", "rm", "alive"]), "alive\n");
}

#[test]
fn images_in_use_are_not_removed() {
    let Some(env) = setup("creating containers") else { return };
    let image = env.field("busybox", "{{.Id}}");
    env.berth_ok(&["create", "--name", "user", "busybox", "true"]);
    let line = env.berth_err(&["rmi", "busybox"]).1;
    assert!(
        line.contains("conflict: unable to remove repository reference \"busybox\" (must force) - container")
            && line.contains("is using its referenced image"),
        "{line}"
    );
    assert!(env.berth_err(&["rmi", &image[7..19]]).1.contains("must be forced"));
    assert_eq!(env.berth_ok(&["image", "prune", "-a", "-f"]).trim(), "Total reclaimed space: 0B");
    let out = env.berth_ok(&["rmi", "-f", "busybox"]);
    assert!(out.starts_with("Untagged: ") && out.contains("busybox:latest") && !out.contains("Deleted"), "{out}");
    assert_eq!(env.image_ids(), vec![image.clone()], "the image stays while a container uses it");
    env.berth_ok(&["image", "prune", "-f"]);
    assert_eq!(env.image_ids(), vec![image.clone()], "dangling but in use: kept");
    // The container still starts from the untagged image.
    env.berth_ok(&["start", "-a", "user"]);
    env.berth_ok(&["rm", "user"]);
    env.berth_ok(&["image", "prune", "-f"]);
    assert!(env.image_ids().is_empty());
    env.assert_store_ok();
}
