//! `docker events` through `berth system service`: the event journal, past and followed, in
//! Docker's JSON lines with its time and filter encodings.

use std::process::Stdio;
use std::time::Duration;

use crate::api::service_env;

#[test]
fn docker_events_lists_the_journal_and_follows_it() {
    let Some((env, service)) = service_env("docker events through the API") else { return };
    env.berth_ok(&["create", "--name", "made", "busybox", "true"]);
    let now = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1).to_string();
    let past = service.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &now,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert!(past.lines().any(|l| l == "container create made"), "{past}");
    let filtered = service.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &now,
        "--filter",
        "event=start",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(filtered, "", "no container started yet");
    let bad = service.docker(&["events", "--since", "0", "--until", &now, "--filter", "nonsense=1"]);
    assert!(!bad.status.success());

    let mut follow = service
        .docker_command(&["events", "--filter", "container=made", "--format", "{{.Action}} {{.Actor.Attributes.name}}"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker events");
    let stdout = follow.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The follower starts at the journal's end once its request is served.
    std::thread::sleep(Duration::from_millis(500));
    service.docker_ok(&["start", "made"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l == "start made") && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(seen.iter().any(|l| l == "start made"), "a followed stream sees the start: {seen:?}");
    assert!(!seen.iter().any(|l| l.starts_with("create")), "only new events: {seen:?}");
}
