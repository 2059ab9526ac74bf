//! The supervisor's health checks: one check at a time, on the schedule of the container's
//! check (Docker's: the next one an interval after the last one ended, the start interval
//! while starting within the start period), each a child in the event table with its output
//! pipe as a source and a timer for its timeout. Results go to the record
//! (`container::health::record_result`, containers lock); nothing here blocks.

use std::time::Instant;

use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::events::{Child, EventTable, OnExit, Role, Source, Timer};
use crate::container::health::{self, HealthStatus, Schedule};
use crate::container::record::Container;
use crate::store::Store;

/// The check that runs.
struct Running {
    pid: Pid,
    start: String,
    output: Vec<u8>,
    timed_out: bool,
}

pub struct HealthMonitor {
    schedule: Schedule,
    started: Instant,
    status: HealthStatus,
    running: Option<Running>,
}

impl HealthMonitor {
    /// A monitor for `container` if it has a check; records it as starting (before its start is
    /// reported, so that whoever started it sees the health at once) and schedules the first check.
    pub fn start(store: &Store, container: &Container, pid: i32, events: &mut EventTable) -> Option<HealthMonitor> {
        let check = health::active(&container.config)?;
        let _ = health::record_start(store, &container.id, pid);
        let monitor = HealthMonitor {
            schedule: Schedule::of(check),
            started: Instant::now(),
            status: HealthStatus::Starting,
            running: None,
        };
        monitor.schedule_next(events);
        Some(monitor)
    }

    fn schedule_next(&self, events: &mut EventTable) {
        let next = self.schedule.next_after(self.started.elapsed(), self.status);
        events.set_timer(Timer::HealthCheck, Instant::now() + next);
    }

    /// Timer::HealthCheck: starts a check (unless one still runs).
    pub fn check_due(&mut self, store: &Store, container: &Container, container_pid: i32, events: &mut EventTable) {
        if self.running.is_some() {
            return;
        }
        match health::spawn_probe(store, &container.id) {
            Ok(probe) => {
                events.add_child(
                    Child { pid: probe.pid, role: Role::Healthcheck, on_exit: OnExit::HealthResult },
                    probe.pidfd,
                );
                events.add(Source::HealthOutput, probe.output);
                events.set_timer(Timer::HealthTimeout, Instant::now() + self.schedule.timeout);
                self.running =
                    Some(Running { pid: probe.pid, start: probe.start, output: Vec::new(), timed_out: false });
            }
            Err(e) => {
                let mut result = health::result(crate::store::now_rfc3339(), b"", Some(-1), self.schedule.timeout);
                result.output = format!("starting the health check: {e}");
                self.record(store, container, container_pid, result);
                self.schedule_next(events);
            }
        }
    }

    /// Source::HealthOutput is readable.
    pub fn output_ready(&mut self, events: &mut EventTable) {
        let Some(running) = &mut self.running else {
            events.remove(Source::HealthOutput);
            return;
        };
        let open = events.get(Source::HealthOutput).is_some_and(|fd| health::read_output(fd, &mut running.output));
        if !open {
            events.remove(Source::HealthOutput);
        }
    }

    /// Timer::HealthTimeout: the check and what it started are killed; its exit ends it.
    pub fn timed_out(&mut self) {
        if let Some(running) = &mut self.running {
            running.timed_out = true;
            health::kill_probe(running.pid);
        }
    }

    /// The check's process ended with `status`: its result is recorded, the next one scheduled.
    pub fn exited(
        &mut self,
        store: &Store,
        container: &Container,
        container_pid: i32,
        status: WaitStatus,
        events: &mut EventTable,
    ) {
        events.cancel_timer(Timer::HealthTimeout);
        let Some(mut running) = self.running.take() else { return };
        if let Some(fd) = events.get(Source::HealthOutput) {
            health::read_output(fd, &mut running.output);
        }
        events.remove(Source::HealthOutput);
        let code = (!running.timed_out).then(|| crate::sandbox::init::exit_code_of(status).unwrap_or(-1));
        let result = health::result(running.start, &running.output, code, self.schedule.timeout);
        self.record(store, container, container_pid, result);
        self.schedule_next(events);
    }

    fn record(&mut self, store: &Store, container: &Container, container_pid: i32, result: health::HealthResult) {
        let since_start = self.started.elapsed();
        if let Ok(Some(state)) = health::record_result(store, &container.id, container_pid, result, since_start) {
            self.status = state.status;
        }
    }

    /// The container has ended: a check that still runs is killed and reaped, nothing more is
    /// scheduled.
    pub fn stop(&mut self, events: &mut EventTable) {
        events.cancel_timer(Timer::HealthCheck);
        events.cancel_timer(Timer::HealthTimeout);
        events.remove(Source::HealthOutput);
        if let Some(running) = self.running.take() {
            health::kill_probe(running.pid);
            events.remove_child(running.pid);
            let _ = nix::sys::wait::waitpid(running.pid, None);
        }
    }
}
