//! Health checks, as Docker has them: the check (the image's HEALTHCHECK merged with
//! `--health-*`), its schedule, what a result does to the container's State.Health (starting →
//! healthy / unhealthy, the failing streak, the last five results), and one run of the check.
//!
//! A check runs inside the container the way `exec` does, in a process of its own: berth
//! re-executed as `__healthcheck ID` (recognised before the command-line parser, as the
//! supervisor is), which joins the container's namespaces and runs the test. Its output comes
//! back through one pipe, its exit code is the result. The supervisor schedules it
//! (`supervisor/health.rs`) without threads; `berth healthcheck run` runs it once.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::index::{ContainerError, update};
use super::record::{Container, ContainerConfig, Status};
use crate::image::spec::HealthConfig;
use crate::sandbox::pidfd::PidFd;
use crate::store::{Store, now_rfc3339};

/// The hidden verb a check runs as: `berth --root R --runroot RR __healthcheck ID`.
pub const HEALTHCHECK_VERB: &str = "__healthcheck";

/// Docker keeps this many results in State.Health.Log.
pub const MAX_LOG_ENTRIES: usize = 5;
/// And this much of each result's output.
pub const MAX_OUTPUT: usize = 4096;

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// What `ps` shows in parentheses after "Up …".
    pub fn ps_text(self) -> &'static str {
        match self {
            HealthStatus::Starting => "health: starting",
            other => other.as_str(),
        }
    }
}

/// One run of the check (Docker's HealthcheckResult).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    /// 0 healthy; anything else a failure (-1: the check could not finish, e.g. its timeout).
    pub exit_code: i32,
    pub output: String,
}

/// State.Health.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HealthState {
    pub status: HealthStatus,
    pub failing_streak: u32,
    #[serde(default)]
    pub log: Vec<HealthResult>,
}

/// The check's timing with Docker's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

fn nanos_or(value: i64, default: Duration) -> Duration {
    if value > 0 { Duration::from_nanos(value as u64) } else { default }
}

impl Schedule {
    pub fn of(config: &HealthConfig) -> Schedule {
        Schedule {
            interval: nanos_or(config.interval, Duration::from_secs(30)),
            timeout: nanos_or(config.timeout, Duration::from_secs(30)),
            start_period: nanos_or(config.start_period, Duration::ZERO),
            start_interval: nanos_or(config.start_interval, Duration::from_secs(5)),
            retries: if config.retries > 0 { config.retries.min(u32::MAX.into()) as u32 } else { 3 },
        }
    }

    /// How long after a check (or the start) the next one runs: the start interval while the
    /// container is starting within its start period, else the interval.
    pub fn next_after(&self, since_start: Duration, status: HealthStatus) -> Duration {
        if since_start < self.start_period && status == HealthStatus::Starting {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// The container's check, if it has one that runs (not none, not `NONE`).
pub fn active(config: &ContainerConfig) -> Option<&HealthConfig> {
    config.healthcheck.as_ref().filter(|h| h.test.first().is_some_and(|t| t != "NONE"))
}

/// The argv a check's test runs: `CMD` args as they are, `CMD-SHELL` through /bin/sh -c.
pub fn probe_argv(test: &[String]) -> Option<Vec<String>> {
    match test.split_first()? {
        (kind, args) if kind == "CMD" && !args.is_empty() => Some(args.to_vec()),
        (kind, [command]) if kind == "CMD-SHELL" => Some(vec!["/bin/sh".into(), "-c".into(), command.clone()]),
        _ => None,
    }
}

/// Docker's merge of the user's check with the image's: what the user left unset (an empty
/// test, zero durations) comes from the image.
pub fn merge(user: Option<HealthConfig>, image: Option<&HealthConfig>) -> Option<HealthConfig> {
    let Some(image) = image else { return user };
    let Some(mut user) = user else { return Some(image.clone()) };
    if user.test.is_empty() {
        user.test = image.test.clone();
    }
    for (mine, theirs) in [
        (&mut user.interval, image.interval),
        (&mut user.timeout, image.timeout),
        (&mut user.start_period, image.start_period),
        (&mut user.start_interval, image.start_interval),
        (&mut user.retries, image.retries),
    ] {
        if *mine == 0 {
            *mine = theirs;
        }
    }
    Some(user)
}

impl HealthState {
    /// At a start: starting again, the streak cleared, the log kept (as Docker's).
    pub fn restarted(previous: Option<HealthState>) -> HealthState {
        HealthState {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: previous.map(|p| p.log).unwrap_or_default(),
        }
    }

    /// Docker's rules for one result, `since_start` after the container started: success makes
    /// it healthy; a failure counts unless it falls in the start period of a container that
    /// was never healthy, and `retries` failures in a row make it unhealthy.
    pub fn apply(&mut self, result: HealthResult, schedule: &Schedule, since_start: Duration) {
        let healthy = result.exit_code == 0;
        self.log.push(result);
        if self.log.len() > MAX_LOG_ENTRIES {
            self.log.drain(..self.log.len() - MAX_LOG_ENTRIES);
        }
        if healthy {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if self.status != HealthStatus::Starting || since_start >= schedule.start_period {
            self.failing_streak += 1;
            if self.failing_streak >= schedule.retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
    }
}

/// Applies `change` to the health of container `id` while it runs as process `pid`; what the
/// health then is (None: the record names another run, nothing changed). Takes the containers
/// lock, exclusive.
fn change_health(
    store: &Store,
    id: &str,
    pid: i32,
    change: impl FnOnce(&Container, Option<HealthState>) -> HealthState,
) -> Result<Option<HealthState>, ContainerError> {
    update(store, id, |c| {
        if c.state.pid != pid || !matches!(c.state.status, Status::Running | Status::Paused) {
            return Ok(None);
        }
        let previous = c.state.health.take();
        let health = change(c, previous);
        c.state.health = Some(health.clone());
        Ok(Some(health))
    })
}

/// Records container `id` (running as `pid`) as starting its health checks.
pub fn record_start(store: &Store, id: &str, pid: i32) -> Result<(), ContainerError> {
    change_health(store, id, pid, |_, previous| HealthState::restarted(previous)).map(drop)
}

/// Records one result of the check of container `id` (running as `pid`, since `since_start`).
pub fn record_result(
    store: &Store,
    id: &str,
    pid: i32,
    result: HealthResult,
    since_start: Duration,
) -> Result<Option<HealthState>, ContainerError> {
    let mut changed = None;
    let health = change_health(store, id, pid, |c, previous| {
        let before = previous.as_ref().map(|h| h.status);
        let mut health = previous.unwrap_or_default();
        if let Some(check) = active(&c.config) {
            health.apply(result, &Schedule::of(check), since_start);
        }
        if before != Some(health.status) {
            changed = Some(c.clone());
        }
        health
    })?;
    // Docker's event: on each change of status, not on each result.
    if let (Some(container), Some(h)) = (changed, &health) {
        crate::container::event::record(store, &format!("health_status: {}", h.status.as_str()), &container);
    }
    Ok(health)
}

/// A check on its way: the helper process and the pipe its output comes through.
pub struct Probe {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    /// Non-blocking read end.
    pub output: OwnedFd,
    pub start: String,
}

/// Starts one run of container `id`'s check (the caller checked it has one and runs). The
/// helper leads a process group of its own, which the command it runs in the container joins:
/// a timeout kills them together ([`kill_probe`]).
pub fn spawn_probe(store: &Store, id: &str) -> std::io::Result<Probe> {
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
    // The helper's end blocks: its writers must not see EAGAIN.
    nix::fcntl::fcntl(&write_end, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()))?;
    let stderr = write_end.try_clone()?;
    let start = now_rfc3339();
    let child = {
        use std::os::unix::process::CommandExt;
        Command::new("/proc/self/exe")
            .arg0("berth")
            .args(["--root".as_ref(), store.root().as_os_str(), "--runroot".as_ref(), store.runroot().as_os_str()])
            .args([HEALTHCHECK_VERB, id])
            .stdin(Stdio::null())
            .stdout(Stdio::from(write_end))
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .spawn()?
    };
    let pid = Pid::from_raw(child.id() as i32);
    // A child not yet reaped (a zombie at worst) can always be opened.
    let pidfd = PidFd::open(pid.as_raw())?.into_fd();
    Ok(Probe { pid, pidfd, output: read_end, start })
}

/// Kills a check that ran out of time, with what it started in the container.
pub fn kill_probe(pid: Pid) {
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
}

/// Reads what `output` has into `buf` (at most [`MAX_OUTPUT`] kept); false once it has ended.
pub fn read_output(output: BorrowedFd, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match nix::unistd::read(output, &mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..n.min(room)]);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return true,
            Err(_) => return false,
        }
    }
}

/// The result of a check that ended with `exit_code`, or ran out of `timeout` (None).
pub fn result(start: String, output: &[u8], exit_code: Option<i32>, timeout: Duration) -> HealthResult {
    let (exit_code, output) = match exit_code {
        Some(code) => (code, String::from_utf8_lossy(output).into_owned()),
        None => (-1, format!("Health check exceeded timeout ({})", go_duration(timeout))),
    };
    HealthResult { start, end: now_rfc3339(), exit_code, output }
}

/// Go's Duration formatting for the durations a check has ("30s", "1m30s", "500ms").
fn go_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (d.as_secs() / 3600, d.as_secs() / 60 % 60, d.as_secs_f64() % 60.0);
    let seconds = format!("{s}s");
    match (h, m) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// One run of the check, waited for here (`berth healthcheck run`), at most its timeout.
pub fn run_once(store: &Store, id: &str, timeout: Duration) -> std::io::Result<HealthResult> {
    let probe = spawn_probe(store, id)?;
    let deadline = std::time::Instant::now() + timeout;
    let mut output = Vec::new();
    let mut open = true;
    let status = loop {
        if let Some(status) = crate::sandbox::pidfd::reap_exited(probe.pidfd.as_fd())? {
            break Some(status);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            kill_probe(probe.pid);
            let _ = nix::sys::wait::waitpid(probe.pid, None);
            break None;
        }
        let ms = left.as_millis().clamp(1, 100) as u16;
        let mut fds = vec![nix::poll::PollFd::new(probe.pidfd.as_fd(), nix::poll::PollFlags::POLLIN)];
        if open {
            fds.push(nix::poll::PollFd::new(probe.output.as_fd(), nix::poll::PollFlags::POLLIN));
        }
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
        if open {
            open = read_output(probe.output.as_fd(), &mut output);
        }
    };
    if open {
        read_output(probe.output.as_fd(), &mut output);
    }
    let code = status.map(|s| crate::sandbox::init::exit_code_of(s).unwrap_or(-1));
    Ok(result(probe.start, &output, code, timeout))
}

/// The helper's whole life (`__healthcheck ID`): runs the container's check in it and returns
/// the check's exit code. Its errors go to the output (the result's).
pub fn run_helper(store: &Store, id: &str) -> i32 {
    let fail = |message: String| {
        eprintln!("{message}");
        1
    };
    let container = match super::index::load(store, id) {
        Ok(c) => c,
        Err(e) => return fail(format!("healthcheck: {e}")),
    };
    let Some(argv) = active(&container.config).and_then(|h| probe_argv(&h.test)) else {
        return fail("healthcheck: the container has no health check to run".into());
    };
    if super::lifecycle::container_process(&container).is_none() {
        return fail(format!("healthcheck: container {} is not running", container.name));
    }
    let config = &container.config;
    let spec = crate::sandbox::spec::ProcessSpec {
        args: argv,
        env: config.env.clone(),
        cwd: config.working_dir.clone(),
        user: config.user.clone(),
        tty: false,
        rlimits: super::sandbox_spec::rlimits(&config.ulimits),
        init: false,
        security: super::sandbox_spec::process_security(config),
    };
    // Not moved into the container's cgroup (as an exec is): a check that runs when the
    // container is stopped would then be a task outside its pid namespace left in the cgroup,
    // which `stop` kills cgroup and all, and on cgroup v1 that freeze waits on the dying check.
    // It dies with the container anyway: its command is in the container's pid namespace.
    match crate::sandbox::exec::exec_in_container(container.state.pid, config.rootless, &spec, false) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(test: &[&str]) -> HealthConfig {
        HealthConfig { test: test.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    fn ran(code: i32) -> HealthResult {
        HealthResult { start: "s".into(), end: "e".into(), exit_code: code, output: format!("{code}\n") }
    }

    #[test]
    fn tests_become_argvs() {
        assert_eq!(probe_argv(&check(&["CMD", "true", "x"]).test), Some(vec!["true".into(), "x".into()]));
        assert_eq!(
            probe_argv(&check(&["CMD-SHELL", "exit 1"]).test),
            Some(vec!["/bin/sh".into(), "-c".into(), "exit 1".into()])
        );
        assert_eq!(probe_argv(&check(&["NONE"]).test), None);
        assert_eq!(probe_argv(&check(&["CMD"]).test), None);
        let mut config = ContainerConfig { healthcheck: Some(check(&["NONE"])), ..Default::default() };
        assert!(active(&config).is_none());
        config.healthcheck = Some(check(&["CMD-SHELL", "true"]));
        assert!(active(&config).is_some());
    }

    #[test]
    fn the_users_check_fills_in_from_the_images() {
        let image = HealthConfig { interval: 5, retries: 7, ..check(&["CMD", "img"]) };
        let user = HealthConfig { interval: 9, ..Default::default() };
        let merged = merge(Some(user), Some(&image)).unwrap();
        assert_eq!((merged.test[1].as_str(), merged.interval, merged.retries), ("img", 9, 7));
        assert_eq!(merge(None, Some(&image)), Some(image.clone()));
        assert_eq!(merge(Some(check(&["NONE"])), Some(&image)).unwrap().test, ["NONE"]);
        assert_eq!(merge(None, None), None);
    }

    #[test]
    fn schedules_take_dockers_defaults() {
        let s = Schedule::of(&check(&["CMD", "x"]));
        assert_eq!(
            s,
            Schedule {
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(30),
                start_period: Duration::ZERO,
                start_interval: Duration::from_secs(5),
                retries: 3,
            }
        );
        let s = Schedule { start_period: Duration::from_secs(10), ..s };
        assert_eq!(s.next_after(Duration::from_secs(1), HealthStatus::Starting), Duration::from_secs(5));
        assert_eq!(s.next_after(Duration::from_secs(1), HealthStatus::Healthy), Duration::from_secs(30));
        assert_eq!(s.next_after(Duration::from_secs(11), HealthStatus::Starting), Duration::from_secs(30));
    }

    #[test]
    fn results_move_the_status_as_dockers_do() {
        let schedule = Schedule { retries: 2, start_period: Duration::from_secs(10), ..Schedule::of(&check(&[])) };
        let early = Duration::from_secs(1);
        let late = Duration::from_secs(20);
        let mut h = HealthState::default();
        h.apply(ran(1), &schedule, early);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0), "the start period forgives");
        h.apply(ran(1), &schedule, late);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 1));
        h.apply(ran(0), &schedule, late);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
        h.apply(ran(1), &schedule, early);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 1), "once healthy, a failure counts");
        h.apply(ran(-1), &schedule, early);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 2));
        for _ in 0..5 {
            h.apply(ran(2), &schedule, late);
        }
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
        assert_eq!(h.failing_streak, 7);
        let again = HealthState::restarted(Some(h));
        assert_eq!((again.status, again.failing_streak, again.log.len()), (HealthStatus::Starting, 0, 5));
    }

    #[test]
    fn health_is_stored_with_dockers_names() {
        let h = HealthState { status: HealthStatus::Healthy, failing_streak: 0, log: vec![ran(0)] };
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["Status"], "healthy");
        assert_eq!(json["Log"][0]["ExitCode"], 0);
        assert_eq!(json["Log"][0]["Output"], "0\n");
        assert_eq!(serde_json::from_value::<HealthState>(json).unwrap(), h);
    }

    #[test]
    fn timeouts_read_as_go_durations() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        let r = result("s".into(), b"", None, Duration::from_secs(2));
        assert_eq!((r.exit_code, r.output.as_str()), (-1, "Health check exceeded timeout (2s)"));
    }

    #[test]
    fn output_is_kept_up_to_its_limit() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).unwrap();
        nix::unistd::write(&w, &[b'x'; 5000]).unwrap();
        let mut buf = Vec::new();
        assert!(read_output(r.as_fd(), &mut buf), "still open");
        assert_eq!(buf.len(), MAX_OUTPUT);
        drop(w);
        assert!(!read_output(r.as_fd(), &mut buf));
    }
}
