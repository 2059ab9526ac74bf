//! The supervisor: one small process per running container, started by `run`/`start` and
//! detached from them (its own session). It owns the container's first process, its stdio, its
//! log and its cgroup; serves attach clients; and sees the container's end. The protocol with
//! its clients is in `protocol.rs`.
//!
//! Life: `setup::start` (the claim checked, /etc files, cgroup, stdio, the container spawned
//! and recorded Running) → tell the starting client → the loop below: one wait on the event
//! table (children, descriptors, timers; `events.rs`), then one handler per event — output to
//! the log and the clients, client input to the container, the container's exit → drain the
//! output, `teardown::finish` (exit file, Exited or unlisted, clients told, `--rm` deleted) →
//! end. Single-threaded and non-dumpable; it stays small (its startup pages are given back once
//! the start has settled).

mod events;
mod health;
mod network;
mod restart;
mod setup;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::WaitStatus;
use nix::unistd::{Pid, read, write};

use self::events::{Child, Event, EventTable, OnExit, Role, SETTLE_AFTER, Source, Timer};
use self::setup::Running;
use super::index::ExitRecord;
use super::logfile::{LogWriter, Stream};
use super::protocol::{Message, recv_message, send_message};
use super::record::Container;
use super::start::HANDOFF_FD;
use super::teardown::{Exit, Finished, finish};
use crate::sandbox::cgroup::Cgroup;
use crate::store::{Store, now_rfc3339};

/// How long the output a container left in its pipes is read after it ended.
const DRAIN_TIME: Duration = Duration::from_millis(500);

/// Attach clients get at most this long to take each piece of output.
const CLIENT_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The supervisor's whole life; returns its own exit status.
pub fn run(store: &Store, id: &str) -> i32 {
    crate::sandbox::fds::ignore_sigpipe();
    // Nothing of this process is for anyone but root to read or trace (its /proc files, its
    // binary through /proc/PID/exe): the container's first process starts as its copy.
    let _ = crate::sandbox::process::make_non_dumpable();
    let Some(handoff) = crate::sandbox::fds::take_inherited_fd(HANDOFF_FD) else { return 1 };
    let mut handoff = Some(handoff);
    let mut backoff = None;
    loop {
        match setup::start(store, id) {
            Ok(running) => {
                let policy = running.container.config.restart;
                let started = Instant::now();
                let ended = Supervisor::new(running).supervise(store, handoff.take());
                let backoff = backoff.get_or_insert_with(|| crate::container::restart::Backoff::new(policy));
                match ended {
                    Some(code) if restart::claim_restart(store, id, backoff, code, started.elapsed()) => continue,
                    // The container's code: a systemd unit whose main process this is
                    // (--sdnotify) sees a failure as a failure (Restart=on-failure), and a
                    // stop by the user (`berth stop`, the unit's ExecStop) as a clean end.
                    Some(code) => {
                        let stopped = crate::container::index::load(store, id).is_ok_and(|c| c.state.manually_stopped);
                        return if stopped { 0 } else { code.clamp(0, 255) };
                    }
                    None => return 0,
                }
            }
            Err(e) => {
                if let Some(handoff) = handoff {
                    let _ = send_message(handoff.as_fd(), &Message::Failed(e.exit_code(), error_chain(&e)));
                }
                return 1;
            }
        }
    }
}

struct Supervisor {
    container: Container,
    pid: Pid,
    /// Where client input goes (a pipe, or the pty master); None once closed.
    input: Option<OwnedFd>,
    /// The pty master, for resizes.
    pty: Option<OwnedFd>,
    cgroup: Option<Cgroup>,
    log: LogWriter,
    events: EventTable,
    next_client: u64,
    settled: bool,
    /// Held for the container's life: its published host ports, its DNS responder (whose
    /// descriptors join each wait).
    network: Option<crate::network::setup::BridgeSetup>,
    health: Option<health::HealthMonitor>,
    /// Keeps the run directory open for the container's life.
    _run_dir: std::fs::File,
}

impl Supervisor {
    fn new(running: Running) -> Supervisor {
        let Running { container, pid, pidfd, stdio, cgroup, log, listener, network, run_dir } = running;
        let mut events = EventTable::new();
        events.add_child(Child { pid, role: Role::Container, on_exit: OnExit::EndContainer }, pidfd);
        events.add(Source::Output(Stream::Stdout), stdio.out);
        if let Some(err) = stdio.err {
            events.add(Source::Output(Stream::Stderr), err);
        }
        events.add(Source::Attach, listener);
        Supervisor {
            container,
            pid,
            input: stdio.input,
            pty: stdio.pty,
            cgroup,
            log,
            events,
            next_client: 0,
            settled: false,
            network,
            health: None,
            _run_dir: run_dir,
        }
    }

    /// Serves the container until it ends; its exit code once recorded Exited (None when the
    /// record no longer named it, or it was removed). `handoff`: the starting client's
    /// connection (none for a restart).
    fn supervise(mut self, store: &Store, handoff: Option<OwnedFd>) -> Option<i32> {
        self.health = health::HealthMonitor::start(store, &self.container, self.pid.as_raw(), &mut self.events);
        if let Some(handoff) = handoff {
            let _ = send_message(handoff.as_fd(), &Message::Started(self.pid.as_raw()));
            self.add_client(handoff);
        }
        // Once the start has settled (the first quiet moment), the code it ran is let go.
        self.events.set_timer(Timer::Settle, Instant::now() + SETTLE_AFTER);
        let status = loop {
            let responder = self.network.as_ref().and_then(|n| n.responder.as_ref());
            let (foreign, deadline) = responder.map(|r| (r.poll_fds(), r.deadline())).unwrap_or_default();
            let waited = self.events.wait_with(&foreign, deadline);
            drop(foreign);
            let events = match waited {
                Ok(events) => events,
                // Nothing to wait on is left that poll accepts: wait for the container alone.
                Err(_) => break wait_blocking(self.pid),
            };
            let mut ended = None;
            for event in events {
                match event {
                    Event::Exited(child, status) => match child.on_exit {
                        OnExit::EndContainer => ended = Some(status),
                        OnExit::HealthResult => {
                            if let Some(h) = &mut self.health {
                                h.exited(store, &self.container, self.pid.as_raw(), status, &mut self.events);
                            }
                            // The code a check ran (spawn, the record's update) is let go at
                            // once: between checks the supervisor is as small as without them.
                            if self.settled {
                                crate::sandbox::memory::release_startup_pages();
                            }
                        }
                    },
                    Event::Ready(Source::HealthOutput) => match &mut self.health {
                        Some(h) => h.output_ready(&mut self.events),
                        None => drop(self.events.remove(Source::HealthOutput)),
                    },
                    Event::Due(Timer::HealthCheck) => {
                        if let Some(h) = &mut self.health {
                            h.check_due(store, &self.container, self.pid.as_raw(), &mut self.events);
                        }
                    }
                    Event::Due(Timer::HealthTimeout) => {
                        if let Some(h) = &mut self.health {
                            h.timed_out();
                        }
                    }
                    Event::Ready(Source::Output(stream)) => {
                        if !self.relay_output(stream) {
                            self.events.remove(Source::Output(stream));
                        }
                    }
                    Event::Ready(Source::Attach) => self.accept_clients(),
                    Event::Ready(source @ Source::Client(_)) => {
                        if !self.handle_client(source) {
                            self.events.remove(source);
                        }
                    }
                    // `wait` reports a child's pidfd as the child's exit.
                    Event::Ready(Source::Child(_)) => {}
                    Event::Foreign(fd) => {
                        if let Some(responder) = self.network.as_mut().and_then(|n| n.responder.as_mut()) {
                            responder.ready(fd, Instant::now());
                        }
                    }
                    Event::ForeignDue => {
                        if let Some(responder) = self.network.as_mut().and_then(|n| n.responder.as_mut()) {
                            responder.expire(Instant::now());
                        }
                    }
                    Event::Due(Timer::Settle) => {
                        crate::sandbox::memory::release_startup_pages();
                        self.settled = true;
                    }
                }
            }
            if let Some(status) = ended {
                break status;
            }
            if !self.settled {
                self.events.set_timer(Timer::Settle, Instant::now() + SETTLE_AFTER);
            }
        };
        // Nothing a check probes is left: it ends first (teardown's StopHealthchecks).
        if let Some(h) = &mut self.health {
            h.stop(&mut self.events);
        }
        self.drain_output();
        self.end(store, crate::sandbox::init::exit_code_of(status).unwrap_or(255))
    }

    fn add_client(&mut self, client: OwnedFd) {
        let timeout = nix::sys::time::TimeVal::new(CLIENT_SEND_TIMEOUT.as_secs() as i64, 0);
        let _ = nix::sys::socket::setsockopt(&client, nix::sys::socket::sockopt::SendTimeout, &timeout);
        self.events.add(Source::Client(self.next_client), client);
        self.next_client += 1;
    }

    fn accept_clients(&mut self) {
        let Some(listener) = self.events.get(Source::Attach) else { return };
        let mut accepted = Vec::new();
        while let Some(client) = crate::sandbox::fds::accept_client(listener) {
            accepted.push(client);
        }
        for client in accepted {
            self.add_client(client);
        }
    }

    fn clients(&self) -> Vec<Source> {
        self.events.sources(|s| matches!(s, Source::Client(_)))
    }

    /// Reads what is available from one output stream into the log and the clients; false once
    /// the stream has ended.
    fn relay_output(&mut self, stream: Stream) -> bool {
        let mut buf = [0u8; 16384];
        loop {
            let Some(fd) = self.events.get(Source::Output(stream)) else { return false };
            match read(fd, &mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    let _ = self.log.write(stream, &buf[..n]);
                    let message = match stream {
                        Stream::Stdout => Message::Stdout(buf[..n].to_vec()),
                        Stream::Stderr => Message::Stderr(buf[..n].to_vec()),
                    };
                    // A client that cannot take output within its send timeout is dropped rather
                    // than allowed to stall the container and its log.
                    for client in self.clients() {
                        let sent = self.events.get(client).is_some_and(|fd| send_message(fd, &message).is_ok());
                        if !sent {
                            self.events.remove(client);
                        }
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return true,
                // EIO: the pty's other side has no holders left.
                Err(_) => return false,
            }
        }
    }

    /// Handles one message from a client; false when the client is gone.
    fn handle_client(&mut self, client: Source) -> bool {
        let Some(fd) = self.events.get(client) else { return false };
        match recv_message(fd) {
            Ok(Some(Message::Stdin(bytes))) => {
                if let Some(input) = &self.input {
                    write_all_blocking(input.as_fd(), &bytes);
                }
                true
            }
            Ok(Some(Message::StdinClose)) => {
                // A pty has no end of input but the EOF character; a pipe is closed.
                match &self.pty {
                    Some(_) => {
                        if let Some(input) = &self.input {
                            write_all_blocking(input.as_fd(), &[4]);
                        }
                    }
                    None => self.input = None,
                }
                true
            }
            Ok(Some(Message::Resize { rows, cols })) => {
                if let Some(pty) = &self.pty {
                    crate::sandbox::fds::set_window_size(pty.as_fd(), rows, cols);
                }
                true
            }
            Ok(Some(_)) => true,
            Ok(None) | Err(_) => false,
        }
    }

    /// After the container's process ended, its other processes are gone too (its pid
    /// namespace died with it); read what they left in the pipes.
    fn drain_output(&mut self) {
        let deadline = Instant::now() + DRAIN_TIME;
        let outputs = || [Stream::Stdout, Stream::Stderr].map(Source::Output);
        while Instant::now() < deadline {
            for source in outputs() {
                if let Source::Output(stream) = source
                    && self.events.contains(source)
                    && !self.relay_output(stream)
                {
                    self.events.remove(source);
                }
            }
            let mut fds: Vec<PollFd> = outputs()
                .iter()
                .filter_map(|s| self.events.get(*s))
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .collect();
            if fds.is_empty() {
                return;
            }
            let _ = poll(&mut fds, PollTimeout::from(50u16));
        }
    }

    /// The container's end, told to the clients still attached; its code if it was recorded
    /// Exited.
    fn end(&self, store: &Store, code: i32) -> Option<i32> {
        let oom_killed = self.cgroup.as_ref().is_some_and(|c| c.oom_killed());
        let code = if oom_killed && code == 0 { 137 } else { code };
        let exit = Exit::Known(ExitRecord { exit_code: code, finished_at: now_rfc3339(), oom_killed });
        let events = &self.events;
        let mut tell_clients = |code: i32| {
            for client in events.sources(|s| matches!(s, Source::Client(_))) {
                if let Some(fd) = events.get(client) {
                    let _ = send_message(fd, &Message::Exit(code));
                }
            }
        };
        match finish(store, &self.container, self.pid.as_raw(), exit, self.cgroup.as_ref(), &mut tell_clients) {
            Ok(Finished::Exited(code)) => Some(code),
            _ => None,
        }
    }
}

/// The container's status, waited for without the event table.
fn wait_blocking(pid: Pid) -> WaitStatus {
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return status,
            Ok(_) => continue,
            Err(_) => return WaitStatus::Exited(pid, 255),
        }
    }
}

/// An error and its sources on one line, as `main` prints errors (and, as there, without a
/// cause the text already shows: `StoreError::Io` still prints its source too).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

fn write_all_blocking(fd: BorrowedFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::from(100u16));
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn errors_travel_on_one_line_with_their_sources() {
        let e = Outer(std::io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(error_chain(&e), "outer: No such file or directory (os error 2)");
        let store = crate::store::StoreError::io(std::path::Path::new("/x"), std::io::Error::other("gone"));
        assert_eq!(error_chain(&store), "/x: gone", "a source already shown is not repeated");
    }
}
