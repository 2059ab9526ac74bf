//! `berth events`: the journal that state-changing code appends to, read with Docker's formats,
//! filters and time bounds, and followed. Needs root and Debian's busybox-static (each test
//! imports a busybox root filesystem into its own store).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{ContainerEnv, root_with_busybox};

/// Every event so far, as Docker's JSON (`events --since … --until 0s --format json`).
fn all_events(env: &ContainerEnv, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["events", "--since", "1h", "--until", "0s", "--format", "json"];
    args.extend_from_slice(extra);
    let out = env.berth_ok(&args);
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// `TYPE ACTION` of each event.
fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| format!("{} {}", e["Type"].as_str().unwrap(), e["Action"].as_str().unwrap())).collect()
}

fn has(events: &[Value], kind: &str) -> bool {
    kinds(events).iter().any(|k| k == kind || k.starts_with(&format!("{kind}:")))
}

/// A child's stdout lines, arriving on a channel.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn every_state_change_is_recorded_with_dockers_attributes() {
    let Some(env) = root_with_busybox("recording events", "busybox") else { return };
    let id = env.berth_ok(&[
        "create",
        "--name",
        "ev",
        "--label",
        "tier=web",
        "-v",
        "evdata:/data",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    env.berth_ok(&["start", "ev"]);
    env.berth_ok(&["pause", "ev"]);
    env.berth_ok(&["unpause", "ev"]);
    env.berth_ok(&["exec", "ev", "true"]);
    env.berth_ok(&["rename", "ev", "ev2"]);
    env.berth_ok(&["kill", "-s", "USR1", "ev2"]);
    env.berth_ok(&["stop", "-t", "0", "ev2"]);
    env.berth_ok(&["rm", "ev2"]);
    assert_eq!(env.berth(&["run", "--rm", "--name", "once", "busybox", "sh", "-c", "exit 3"]).status.code(), Some(3));
    env.berth_ok(&["tag", "busybox", "evtag:1"]);
    env.berth_ok(&["rmi", "evtag:1"]);
    let tar = env.path("saved.tar");
    env.berth_ok(&["save", "-o", tar.to_str().unwrap(), "busybox"]);
    env.berth_ok(&["load", "-i", tar.to_str().unwrap()]);
    env.berth_ok(&["import", tar.to_str().unwrap(), "imported:1"]);
    env.berth_ok(&["rmi", "imported:1"]);
    let dir = env.path("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nLABEL built=yes\n").unwrap();
    env.berth_ok(&["build", "-q", "-t", "built:1", dir.to_str().unwrap()]);
    env.berth_ok(&["volume", "create", "evvol"]);
    env.berth_ok(&["volume", "rm", "evvol"]);

    let events = all_events(&env, &[]);
    let kinds = kinds(&events);
    for wanted in [
        "container create",
        "container start",
        "container pause",
        "container unpause",
        "container exec_create",
        "container exec_start",
        "container rename",
        "container kill",
        "container die",
        "container stop",
        "container destroy",
        "volume create",
        "volume mount",
        "volume destroy",
        "image tag",
        "image untag",
        "image save",
        "image load",
        "image import",
        "image delete",
        "image build",
    ] {
        assert!(has(&events, wanted), "no {wanted} event in {kinds:#?}");
    }
    // Docker's attributes: name, image, labels; the exit code of a die; the signal of a kill.
    let ours: Vec<&Value> = events.iter().filter(|e| e["Actor"]["ID"] == id).collect();
    let create = ours.iter().find(|e| e["Action"] == "create").unwrap();
    assert_eq!(create["Actor"]["Attributes"]["name"], "ev", "{create}");
    assert_eq!(create["Actor"]["Attributes"]["image"], "busybox", "{create}");
    assert_eq!(create["Actor"]["Attributes"]["tier"], "web", "{create}");
    assert_eq!(
        (&create["status"], &create["id"], &create["from"]),
        (&Value::from("create"), &Value::from(id), &Value::from("busybox"))
    );
    let kill = ours.iter().find(|e| e["Action"] == "kill").unwrap();
    assert_eq!(kill["Actor"]["Attributes"]["signal"], "10", "{kill}");
    let rename = ours.iter().find(|e| e["Action"] == "rename").unwrap();
    assert_eq!(
        (&rename["Actor"]["Attributes"]["name"], &rename["Actor"]["Attributes"]["oldName"]),
        (&Value::from("ev2"), &Value::from("ev"))
    );
    let once: Vec<String> = events
        .iter()
        .filter(|e| e["Actor"]["Attributes"]["name"] == "once" && e["Type"] == "container")
        .map(|e| e["Action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(once, ["create", "start", "die", "destroy"], "the --rm container's life");
    let die = events.iter().find(|e| e["Actor"]["Attributes"]["name"] == "once" && e["Action"] == "die").unwrap();
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "3", "{die}");
    let mount = events.iter().find(|e| e["Action"] == "mount").unwrap();
    assert_eq!(
        (&mount["Actor"]["ID"], &mount["Actor"]["Attributes"]["container"]),
        (&Value::from("evdata"), &Value::from(id))
    );
    // Times are in order and the legacy `time` is the seconds of `timeNano`.
    for e in &events {
        assert_eq!(e["time"].as_i64().unwrap(), e["timeNano"].as_i64().unwrap() / 1_000_000_000, "{e}");
    }

    // Docker's text form: TIME TYPE ACTION ID (attributes).
    let text = env.berth_ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "event=die",
        "--filter",
        "container=once",
    ]);
    let line = text.lines().next().expect("one die event");
    let (time, rest) = line.split_once(' ').unwrap();
    assert!(
        time.len() == "2026-12-04T18:32:33.123456789Z".len()
            || time.len() == "2026-12-04T18:32:33.123456789+01:00".len(),
        "{line}"
    );
    assert_eq!((&time[4..5], &time[10..11], &time[19..20]), ("-", "T", "."), "{line}");
    assert!(rest.starts_with("container die "), "{line}");
    assert!(rest.ends_with("(exitCode=3, image=busybox, name=once)"), "{line}");
    env.assert_store_ok();
}

#[test]
fn filters_formats_and_time_bounds() {
    let Some(env) = root_with_busybox("filtering events", "busybox") else { return };
    env.berth_ok(&["volume", "create", "--label", "keep=1", "first"]);
    std::thread::sleep(Duration::from_millis(1100));
    let between = unix_time(Duration::ZERO);
    std::thread::sleep(Duration::from_millis(50));
    env.berth_ok(&["volume", "create", "second"]);
    env.berth_ok(&["run", "--rm", "--name", "f1", "--label", "tier=db", "busybox", "true"]);

    let names = |extra: &[&str]| -> Vec<String> {
        all_events(&env, extra).iter().map(|e| e["Actor"]["ID"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&["--filter", "type=volume"]), ["first", "second"]);
    assert_eq!(names(&["--filter", "volume=sec"]), ["second"], "a name prefix matches, as Docker's");
    let f1 = all_events(&env, &["--filter", "container=f1"]);
    assert_eq!(kinds(&f1), ["container create", "container start", "container die", "container destroy"]);
    assert_eq!(kinds(&all_events(&env, &["--filter", "label=tier=db", "--filter", "event=die"])), ["container die"]);
    assert!(all_events(&env, &["--filter", "label=tier=web"]).is_empty());
    assert_eq!(all_events(&env, &["--filter", "image=busybox", "--filter", "type=container"]).len(), 4);
    // --until a time between: only what came before; --since it: only what came after.
    let out = env.berth_ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        &between,
        "--filter",
        "type=volume",
        "--format",
        "{{.Actor.ID}}",
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["first"]);
    let out = env.berth_ok(&[
        "events",
        "--since",
        &between,
        "--until",
        "0s",
        "--filter",
        "type=volume",
        "--format",
        "{{.Type}}/{{.Action}}/{{.Actor.ID}}|{{.Status}}",
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["volume/create/second|"]);
    let out = env.berth_ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "container=f1",
        "--filter",
        "event=create",
        "--format",
        "{{.ID | upper}} {{.From}}",
    ]);
    assert!(out.trim().ends_with(" busybox") && out.trim().chars().next().unwrap().is_ascii_hexdigit(), "{out}");
    // Bad input: one line, exit 125, nothing changed.
    for bad in [
        &["events", "--filter", "colour=red"][..],
        &["events", "--since", "yesterday-ish"],
        &["events", "--filter", "type=plugin"],
    ] {
        env.berth_fails_125(bad);
    }
}

#[test]
fn follow_receives_events_made_after_it_started_and_stops_at_until() {
    let Some(env) = root_with_busybox("following events", "busybox") else { return };
    env.berth_ok(&["volume", "create", "before"]);
    let mut child = env
        .command(["events", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}", "--filter", "type=volume"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    // The follower starts at the end: give it a moment to have opened the journal.
    std::thread::sleep(Duration::from_millis(500));
    env.berth_ok(&["volume", "create", "after"]);
    let line = lines.recv_timeout(Duration::from_secs(20)).expect("the follower printed the new event");
    assert_eq!(line, "volume create after", "only what happened after it started");
    env.berth_ok(&["volume", "rm", "after"]);
    assert_eq!(lines.recv_timeout(Duration::from_secs(20)).unwrap(), "volume destroy after");
    child.kill().unwrap();
    child.wait().unwrap();

    // With --until in the future it follows until then, then exits by itself.
    let started = Instant::now();
    let mut child = env
        .command(["events", "--until", &unix_time(Duration::from_secs(3)), "--format", "{{.Action}} {{.Actor.ID}}"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    std::thread::sleep(Duration::from_millis(500));
    env.berth_ok(&["volume", "create", "late"]);
    let got: Vec<String> = lines.iter().collect();
    assert!(child.wait().unwrap().success());
    assert!(started.elapsed() >= Duration::from_secs(2), "it ended before --until");
    assert!(got.contains(&"create late".to_owned()), "{got:?}");
    assert!(got.contains(&"create before".to_owned()), "--until alone shows the past too: {got:?}");
}

#[test]
fn a_torn_line_from_a_killed_writer_is_skipped() {
    let Some(env) = root_with_busybox("tearing the journal", "busybox") else { return };
    env.berth_ok(&["volume", "create", "one"]);
    let log = env.path("root").join("events/events.log");
    let whole = std::fs::read_to_string(&log).unwrap();
    let last = whole.lines().last().unwrap().to_owned();
    // What an appender killed in the middle of its write leaves: part of a line, no newline.
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(&last.as_bytes()[..last.len() / 2]).unwrap();
    assert_eq!(kinds(&all_events(&env, &["--filter", "type=volume"])), ["volume create"]);
    env.berth_ok(&["volume", "create", "two"]);
    let ids: Vec<Value> =
        all_events(&env, &["--filter", "type=volume"]).iter().map(|e| e["Actor"]["ID"].clone()).collect();
    assert_eq!(ids, ["one", "two"], "the next event is whole, the torn one skipped");

    // Real kills at random instants of commands that append: every line is whole or skipped.
    for i in 0..20u64 {
        let mut child = env
            .command(["volume", "create", &format!("k{i}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(500 * (i % 8) + 300));
        let _ = child.kill();
        child.wait().unwrap();
    }
    env.berth_ok(&["volume", "create", "last"]);
    let events = all_events(&env, &[]);
    assert_eq!(events.last().unwrap()["Actor"]["ID"], "last", "appends after kills are read");
}

/// Unix seconds with nanoseconds, `ahead` from now (a `--since`/`--until` value).
fn unix_time(ahead: Duration) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + ahead;
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

#[test]
fn push_and_pull_are_recorded_with_the_reference() {
    let registry = crate::util::Registry::start();
    let env = crate::util::TestEnv::new();
    let name = registry.image("events/busybox:v1");
    env.import_busybox(&name, &[], |_| {});
    env.berth_ok(&["push", &name]);
    env.berth_ok(&["rmi", &name]);
    env.berth_ok(&["pull", &name]);
    let out = env.berth_ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "type=image",
        "--filter",
        "event=push",
        "--filter",
        "event=pull",
        "--format",
        "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), [format!("push {name} {name}"), format!("pull {name} {name}")]);
    let out = env.berth_ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        &format!("image={name}"),
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["import", "push", "untag", "pull"],
        "image= matches the reference (delete names the image id only, as Docker's)"
    );
}

#[test]
fn networks_record_create_connect_disconnect_and_destroy() {
    // berth in a lab namespace of the test's: bridges and routes never touch the host's.
    let Some(env) = crate::networking::NetEnv::new() else { return };
    env.berth_ok(&["network", "create", "evnet"]);
    env.berth_ok(&["create", "--name", "netted", "bb", "true"]);
    env.berth_ok(&["network", "connect", "evnet", "netted"]);
    env.berth_ok(&["network", "disconnect", "evnet", "netted"]);
    env.berth_ok(&["rm", "netted"]);
    // A running container's start and end connect and disconnect it (Docker's events too).
    env.berth_ok(&["run", "--rm", "--network", "evnet", "bb", "true"]);
    env.berth_ok(&["network", "rm", "evnet"]);
    let events = all_events(&env, &["--filter", "network=evnet"]);
    let kinds = kinds(&events);
    assert_eq!(
        kinds,
        [
            "network create",
            "network connect",
            "network disconnect",
            "network connect",
            "network disconnect",
            "network destroy"
        ]
    );
    for e in &events {
        assert_eq!(e["Actor"]["Attributes"]["name"], "evnet", "{e}");
        assert_eq!(e["Actor"]["Attributes"]["type"], "bridge", "{e}");
    }
    assert!(events[1]["Actor"]["Attributes"]["container"].as_str().is_some_and(|c| c.len() == 64), "{}", events[1]);
    // The default bridge's are recorded too, for every container on it.
    env.berth_ok(&["run", "--rm", "bb", "true"]);
    let bridge = all_events(&env, &["--filter", "network=bridge"]);
    assert!(bridge.iter().any(|e| e["Action"] == "connect"), "{bridge:?}");
}

#[test]
fn a_rootless_store_records_events_from_inside_and_outside_its_user_namespace() {
    let Some(env) = crate::util::TestEnv::rootless() else { return };
    let env = env.with_busybox("busybox", &[], |_| {});
    env.berth_ok(&["run", "-d", "--name", "rl", "busybox", "sleep", "1000"]);
    // exec runs from the caller's own user namespace, the supervisor from berth's.
    env.berth_ok(&["exec", "rl", "true"]);
    env.berth_ok(&["rm", "-f", "rl"]);
    let events = all_events(&env, &["--filter", "container=rl"]);
    let actions: Vec<&str> = events.iter().map(|e| e["Action"].as_str().unwrap()).collect();
    for wanted in ["create", "start", "exec_create: true", "exec_start: true", "kill", "die", "destroy"] {
        assert!(actions.contains(&wanted), "no {wanted} in {actions:?}");
    }
}
