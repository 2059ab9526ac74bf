//! depends_on conditions on the supervisor's healthchecks, and compose's healthcheck: and
//! restart: carried into the containers (root, berth in a lab's namespace).

use std::time::Duration;

use crate::compose_up::Project;
use crate::util::wait_until;

/// db serves only after a second; app fetches from db by name the moment it starts, so it
/// gets the page only if `up` waited for db's check.
const WAITS_ON_HEALTHY: &str = "services:
  db:
    image: busybox
    command: sh -c 'sleep 1; touch /tmp/ready; exec httpd -f -p 80 -h /www'
    healthcheck:
      test: [CMD, test, -e, /tmp/ready]
      interval: 200ms
      retries: 30
  app:
    image: busybox
    init: true
    command: sh -c 'wget -q -O - http://db/index.html || echo no answer; exec sleep 300'
    depends_on:
      db:
        condition: service_healthy
  web:
    image: busybox
    init: true
    command: sleep 300
    depends_on: [app]
";

#[test]
fn up_waits_for_a_healthy_dependency_and_the_app_reaches_it_by_name() {
    let Some(p) = Project::new("compose service_healthy", WAITS_ON_HEALTHY) else { return };
    let (_, progress) = p.ok(&["up", "-d"]);
    let healthy = progress.find("proj-db-1  Healthy").unwrap_or_else(|| panic!("db healthy: {progress}"));
    let app = progress.find("proj-app-1  Created").expect("app created");
    assert!(healthy < app, "app is created after db is healthy:\n{progress}");
    let health = p.env.berth_ok(&["inspect", "-f", "{{.State.Health.Status}}", "proj-db-1"]);
    assert_eq!(health.trim(), "healthy");
    wait_until(Duration::from_secs(10), "app's fetch", || {
        p.ok(&["logs", "app"]).0.contains("hello from the container")
    });
    let (ps, _) = p.ok(&["ps"]);
    assert!(ps.lines().any(|l| l.contains("proj-db-1") && l.contains("(healthy)")), "{ps}");
    p.ok(&["down", "-t", "1"]);
    assert!(p.names().is_empty());
}

#[test]
fn an_unhealthy_dependency_fails_up_and_its_dependent_is_not_made() {
    let compose = "services:
  bad:
    image: busybox
    init: true
    command: sleep 300
    healthcheck:
      test: [CMD, 'false']
      interval: 100ms
      retries: 1
  after:
    image: busybox
    command: 'true'
    depends_on:
      bad:
        condition: service_healthy
";
    let Some(p) = Project::new("compose unhealthy dependency", compose) else { return };
    let out = p.compose(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("berth:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let line = errors[0];
    assert!(line.contains("dependency failed to start: container proj-bad-1 is unhealthy"), "{line}");
    assert_eq!(p.names(), ["proj-bad-1"], "the dependent is not created");
    p.ok(&["down", "-t", "0"]);
}

#[test]
fn restart_policies_come_from_the_file() {
    let compose = "services:
  crash:
    image: busybox
    command: sh -c 'exit 3'
    restart: on-failure:2
  keep:
    image: busybox
    init: true
    command: sleep 300
    restart: always
";
    let Some(p) = Project::new("compose restart", compose) else { return };
    p.ok(&["up", "-d"]);
    let policy = p.env.berth_ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        "proj-crash-1",
        "proj-keep-1",
    ]);
    assert_eq!(policy, "on-failure 2\nalways 0\n");
    wait_until(Duration::from_secs(20), "two restarts, then exited", || {
        p.env.berth_ok(&["inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "proj-crash-1"]).trim() == "2 exited"
    });
    // stop is honoured: always does not bring it back.
    p.ok(&["stop", "-t", "1", "keep"]);
    std::thread::sleep(Duration::from_millis(500));
    let state = p.env.berth_ok(&["inspect", "-f", "{{.State.Status}}", "proj-keep-1"]);
    assert_eq!(state.trim(), "exited");
    p.ok(&["down", "-t", "1"]);
    assert!(p.names().is_empty());
}
