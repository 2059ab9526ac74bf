//! `up --wait`, `--abort-on-container-exit`, `--exit-code-from`, `--attach` and `compose port`
//! (root, berth in a lab's namespace).

use crate::compose_up::Project;

#[test]
fn up_wait_returns_once_healthy_and_fails_for_a_container_that_exits() {
    let compose = "services:
  db:
    image: busybox
    command: sh -c 'sleep 1; touch /tmp/ready; exec httpd -f -p 80 -h /www'
    ports: ['127.0.0.1:18095:80']
    healthcheck:
      test: [CMD, test, -e, /tmp/ready]
      interval: 200ms
      retries: 30
  plain:
    image: busybox
    init: true
    command: sleep 300
";
    let Some(p) = Project::new("compose up --wait", compose) else { return };
    p.ok(&["up", "--wait"]);
    let health = p.env.berth_ok(&["inspect", "-f", "{{.State.Health.Status}} {{.State.Status}}", "proj-db-1"]);
    assert_eq!(health.trim(), "healthy running", "up --wait returned only once db was healthy");
    let (port, _) = p.ok(&["port", "db", "80"]);
    assert_eq!(port, "127.0.0.1:18095\n");
    let out = p.compose(&["port", "db", "81"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No public port '81/tcp'"));

    // A check that never passes, on a container that exits before it fails enough.
    p.write(
        "services:\n  broken:\n    image: busybox\n    command: sh -c 'sleep 1; exit 3'\n    healthcheck:\n      \
         test: [CMD, test, -e, /nowhere]\n      interval: 200ms\n      retries: 100\n",
    );
    let out = p.compose(&["up", "--wait", "--remove-orphans"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("container proj-broken-1 exited (3)"), "{stderr}");
    p.ok(&["down", "-t", "0"]);
}

#[test]
fn exit_code_from_stops_the_others_and_returns_that_services_code() {
    let compose = "services:
  job:
    image: busybox
    command: sh -c 'echo job running; sleep 1; exit 7'
  server:
    image: busybox
    init: true
    command: sh -c 'echo server up; exec sleep 300'
";
    let Some(p) = Project::new("compose --exit-code-from", compose) else { return };
    let out = p.compose(&["up", "--exit-code-from", "job", "--attach", "job"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("job running") && !stdout.contains("server up"), "only job attached: {stdout}");
    let state = p.env.berth_ok(&["inspect", "-f", "{{.State.Status}}", "proj-server-1"]);
    assert_eq!(state.trim(), "exited", "the others are stopped");
    // --abort-on-container-exit alone: the first to exit gives the code.
    let out = p.compose(&["up", "--abort-on-container-exit"]);
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    p.ok(&["down", "-t", "0"]);
}

#[test]
fn compose_top_lists_processes_and_compose_wait_returns_the_code() {
    let compose = "services:
  job:
    image: busybox
    command: sh -c 'sleep 1; exit 5'
  server:
    image: busybox
    init: true
    command: sleep 301
";
    let Some(p) = Project::new("compose top and wait", compose) else { return };
    p.ok(&["up", "-d"]);
    let (top, _) = p.ok(&["top", "server"]);
    assert!(top.starts_with("proj-server-1\n") && top.contains("sleep 301"), "{top}");
    let out = p.compose(&["wait", "job"]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    let out = p.compose(&["wait", "--down-project", "job"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(p.names().is_empty(), "--down-project removed the project");
}
