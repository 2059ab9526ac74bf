//! What a supervisor waits on, in one poll: its children, each with a role and what its exit
//! means; its descriptors, each under a [`Source`] that says which handler takes it; and its
//! timers. A helper process (pasta), a socket (a DNS responder) or a timer (a healthcheck, a
//! restart delay) is one more entry here and one more arm in the supervisor's dispatch, not a
//! new loop. Single-threaded: nothing here blocks but [`EventTable::wait`].
//!
//! Children are watched through pidfds, one source each, and reaped one by one through them: a
//! child's exit is noticed whatever else exits, and nothing the table does not know is reaped.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::container::logfile::Stream;
use crate::sandbox::pidfd::reap_exited;

/// What a descriptor in the table is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The container's output (with a tty, only `Stdout`: the pty master).
    Output(Stream),
    /// The attach socket's listener.
    Attach,
    /// One attach client's connection, numbered in the order they came.
    Client(u64),
    /// A child's pidfd: readable once the child has exited.
    Child(Pid),
    /// The output of the health check that runs.
    HealthOutput,
}

/// What a timer in the table is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The start has settled once nothing happened for a while: its code is let go
    /// (`sandbox::memory::release_startup_pages`).
    Settle,
    /// The next health check is due.
    HealthCheck,
    /// The health check that runs has run out of time.
    HealthTimeout,
}

/// Why the supervisor has a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The container's first process.
    Container,
    /// A health check (`__healthcheck`, in the container's namespaces).
    Healthcheck,
}

/// What the supervisor does once a child has exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExit {
    /// The container has ended: drain its output, tear it down, end the supervisor.
    EndContainer,
    /// A health check's result: record it, schedule the next.
    HealthResult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Child {
    pub pid: Pid,
    pub role: Role,
    pub on_exit: OnExit,
}

/// What woke the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The source can be read, or has hung up or failed: its handler finds out which by reading.
    Ready(Source),
    /// A child exited and was reaped; it has left the table.
    Exited(Child, WaitStatus),
    /// A timer is due; it has left the table (a periodic handler sets it again).
    Due(Timer),
    /// A descriptor of someone else's (the DNS responder's, passed to [`EventTable::wait_with`])
    /// can be read or written as asked, or has hung up.
    Foreign(RawFd),
    /// The deadline passed to [`EventTable::wait_with`] has come.
    ForeignDue,
}

#[derive(Debug, Default)]
pub struct EventTable {
    sources: Vec<(Source, OwnedFd)>,
    timers: Vec<(Timer, Instant)>,
    children: Vec<Child>,
}

impl EventTable {
    pub fn new() -> EventTable {
        EventTable::default()
    }

    /// Watches `fd` as `source`, replacing (and returning) what was watched as it before.
    pub fn add(&mut self, source: Source, fd: OwnedFd) -> Option<OwnedFd> {
        let old = self.remove(source);
        self.sources.push((source, fd));
        old
    }

    /// Stops watching `source`; its descriptor, to close or keep.
    pub fn remove(&mut self, source: Source) -> Option<OwnedFd> {
        let i = self.sources.iter().position(|(s, _)| *s == source)?;
        Some(self.sources.remove(i).1)
    }

    pub fn get(&self, source: Source) -> Option<BorrowedFd<'_>> {
        self.sources.iter().find(|(s, _)| *s == source).map(|(_, fd)| fd.as_fd())
    }

    pub fn contains(&self, source: Source) -> bool {
        self.get(source).is_some()
    }

    /// The sources that match `wanted`, in the order they were added.
    pub fn sources(&self, wanted: impl Fn(Source) -> bool) -> Vec<Source> {
        self.sources.iter().map(|(s, _)| *s).filter(|s| wanted(*s)).collect()
    }

    /// Watches child `child.pid` (this process's own child, not yet reaped) through `pidfd`.
    pub fn add_child(&mut self, child: Child, pidfd: OwnedFd) {
        self.children.retain(|c| c.pid != child.pid);
        self.children.push(child);
        self.add(Source::Child(child.pid), pidfd);
    }

    /// Stops watching child `pid` (to be reaped by the caller).
    pub fn remove_child(&mut self, pid: Pid) {
        self.children.retain(|c| c.pid != pid);
        self.remove(Source::Child(pid));
    }

    #[cfg(test)]
    pub fn children(&self) -> &[Child] {
        &self.children
    }

    /// Sets `timer` to fire at `at`, replacing its earlier time.
    pub fn set_timer(&mut self, timer: Timer, at: Instant) {
        self.cancel_timer(timer);
        self.timers.push((timer, at));
    }

    pub fn cancel_timer(&mut self, timer: Timer) {
        self.timers.retain(|(t, _)| *t != timer);
    }

    #[cfg(test)]
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.iter().find(|(t, _)| *t == timer).map(|(_, at)| *at)
    }

    /// Waits until a source is ready, a child has exited or a timer is due, and says which (an
    /// interrupted wait says nothing). Ready sources come first in the order they were added,
    /// then exited children, then due timers, earliest first.
    #[cfg(test)]
    pub fn wait(&mut self) -> nix::Result<Vec<Event>> {
        self.wait_with(&[], None)
    }

    /// [`EventTable::wait`], also for `foreign` descriptors (owned elsewhere, polled for the
    /// flags given; they come after the table's sources, as `Event::Foreign`) and until
    /// `foreign_deadline` (then `Event::ForeignDue`, after the table's timers).
    pub fn wait_with(
        &mut self,
        foreign: &[(BorrowedFd<'_>, PollFlags)],
        foreign_deadline: Option<Instant>,
    ) -> nix::Result<Vec<Event>> {
        let deadline = match (self.next_deadline(), foreign_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = poll_timeout(deadline, Instant::now());
        let mut fds: Vec<PollFd> =
            self.sources.iter().map(|(_, fd)| PollFd::new(fd.as_fd(), PollFlags::POLLIN)).collect();
        fds.extend(foreign.iter().map(|(fd, flags)| PollFd::new(*fd, *flags)));
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        let is_ready = |p: &PollFd| p.revents().is_some_and(|r| !r.is_empty());
        let ready: Vec<Source> =
            fds.iter().zip(&self.sources).filter(|(p, _)| is_ready(p)).map(|(_, (source, _))| *source).collect();
        let foreign_ready: Vec<RawFd> = fds[self.sources.len()..]
            .iter()
            .zip(foreign)
            .filter(|(p, _)| is_ready(p))
            .map(|(_, (fd, _))| fd.as_raw_fd())
            .collect();
        drop(fds);
        let mut events = Vec::with_capacity(ready.len() + foreign_ready.len());
        for source in ready {
            match source {
                Source::Child(pid) => events.extend(self.reap(pid)?),
                other => events.push(Event::Ready(other)),
            }
        }
        events.extend(foreign_ready.into_iter().map(Event::Foreign));
        let now = Instant::now();
        events.extend(self.take_due(now).into_iter().map(Event::Due));
        if foreign_deadline.is_some_and(|d| d <= now) {
            events.push(Event::ForeignDue);
        }
        Ok(events)
    }

    /// Child `pid`'s exit, if its pidfd says it has exited; the child leaves the table.
    fn reap(&mut self, pid: Pid) -> nix::Result<Option<Event>> {
        let Some(fd) = self.get(Source::Child(pid)) else { return Ok(None) };
        let Some(status) = reap_exited(fd)? else { return Ok(None) };
        self.remove(Source::Child(pid));
        let i = self.children.iter().position(|c| c.pid == pid).expect("a watched child is in the table");
        Ok(Some(Event::Exited(self.children.remove(i), status)))
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers.iter().map(|(_, at)| *at).min()
    }

    /// The timers due at `now`, earliest first, out of the table.
    fn take_due(&mut self, now: Instant) -> Vec<Timer> {
        let mut due: Vec<(Timer, Instant)> = self.timers.iter().copied().filter(|(_, at)| *at <= now).collect();
        due.sort_by_key(|(_, at)| *at);
        self.timers.retain(|(_, at)| *at > now);
        due.into_iter().map(|(t, _)| t).collect()
    }
}

/// How long poll may sleep before `deadline`: rounded up to whole milliseconds, so a wait never
/// ends just before a timer and spins.
fn poll_timeout(deadline: Option<Instant>, now: Instant) -> PollTimeout {
    let Some(deadline) = deadline else { return PollTimeout::NONE };
    let left = deadline.saturating_duration_since(now);
    let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

/// How long after the last event the start is taken as settled.
pub const SETTLE_AFTER: Duration = Duration::from_millis(200);
/// How long after the start it is taken as settled however busy the container keeps it.
pub const SETTLE_LATEST: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::pidfd::PidFd;

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
    }

    #[test]
    fn timers_fire_in_order_once_due_and_leave_the_table() {
        let mut table = EventTable::new();
        let now = Instant::now();
        assert_eq!(table.next_deadline(), None);
        table.set_timer(Timer::Settle, now + Duration::from_millis(50));
        // Setting it again moves it; there is one timer per purpose.
        table.set_timer(Timer::Settle, now + Duration::from_millis(20));
        assert_eq!(table.next_deadline(), Some(now + Duration::from_millis(20)));
        assert!(table.take_due(now + Duration::from_millis(19)).is_empty());
        assert_eq!(table.take_due(now + Duration::from_millis(20)), [Timer::Settle]);
        assert!(table.take_due(now + Duration::from_secs(1)).is_empty(), "a fired timer is gone");
        table.set_timer(Timer::Settle, now);
        table.cancel_timer(Timer::Settle);
        assert_eq!(table.timer(Timer::Settle), None);
    }

    #[test]
    fn poll_timeouts_round_up_and_never_go_negative() {
        let now = Instant::now();
        assert_eq!(poll_timeout(None, now), PollTimeout::NONE);
        assert_eq!(poll_timeout(Some(now + Duration::from_micros(1)), now), PollTimeout::from(1u16));
        assert_eq!(poll_timeout(Some(now + Duration::from_millis(200)), now), PollTimeout::from(200u16));
        assert_eq!(poll_timeout(Some(now), now + Duration::from_secs(1)), PollTimeout::ZERO);
    }

    #[test]
    fn a_due_timer_ends_a_wait_with_nothing_ready() {
        let mut table = EventTable::new();
        let (r, _w) = pipe();
        table.add(Source::Attach, r);
        table.set_timer(Timer::Settle, Instant::now() + Duration::from_millis(5));
        let started = Instant::now();
        assert_eq!(table.wait().unwrap(), [Event::Due(Timer::Settle)]);
        assert!(started.elapsed() >= Duration::from_millis(5), "not before the timer");
    }

    #[test]
    fn ready_sources_come_in_the_order_they_were_added() {
        let mut table = EventTable::new();
        let (out_r, out_w) = pipe();
        let (client_r, client_w) = pipe();
        let (quiet_r, _quiet_w) = pipe();
        table.add(Source::Output(Stream::Stdout), out_r);
        table.add(Source::Client(1), quiet_r);
        table.add(Source::Client(2), client_r);
        nix::unistd::write(&client_w, b"x").unwrap();
        nix::unistd::write(&out_w, b"y").unwrap();
        assert_eq!(
            table.wait().unwrap(),
            [Event::Ready(Source::Output(Stream::Stdout)), Event::Ready(Source::Client(2))]
        );
        // A hung-up source is ready too: its handler reads the end.
        drop(out_w);
        drop(client_w);
        assert_eq!(table.sources(|s| matches!(s, Source::Client(_))), [Source::Client(1), Source::Client(2)]);
        let removed = table.remove(Source::Client(2));
        assert!(removed.is_some() && !table.contains(Source::Client(2)));
        assert_eq!(table.wait().unwrap(), [Event::Ready(Source::Output(Stream::Stdout))]);
        // Replacing a source hands back the old descriptor.
        let (again, _keep) = pipe();
        assert!(table.add(Source::Output(Stream::Stdout), again).is_some());
        assert_eq!(table.sources(|_| true).len(), 2);
    }

    #[test]
    fn foreign_descriptors_and_their_deadline_wake_the_wait_after_the_tables_own() {
        let mut table = EventTable::new();
        let (own_r, own_w) = pipe();
        let (foreign_r, foreign_w) = pipe();
        table.add(Source::Attach, own_r);
        nix::unistd::write(&own_w, b"x").unwrap();
        nix::unistd::write(&foreign_w, b"y").unwrap();
        let foreign = [(foreign_r.as_fd(), PollFlags::POLLIN)];
        assert_eq!(
            table.wait_with(&foreign, None).unwrap(),
            [Event::Ready(Source::Attach), Event::Foreign(foreign_r.as_raw_fd())]
        );
        let (quiet_r, _quiet_w) = pipe();
        let quiet = [(quiet_r.as_fd(), PollFlags::POLLIN)];
        table.remove(Source::Attach);
        let due = Instant::now() + Duration::from_millis(5);
        assert_eq!(table.wait_with(&quiet, Some(due)).unwrap(), [Event::ForeignDue]);
        assert!(Instant::now() >= due);
    }

    #[test]
    fn an_exited_child_is_reaped_with_its_role_and_status() {
        let mut table = EventTable::new();
        let mut child = std::process::Command::new("/bin/sh").args(["-c", "exit 7"]).spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let pidfd = PidFd::open(pid.as_raw()).unwrap().into_fd();
        let entry = Child { pid, role: Role::Container, on_exit: OnExit::EndContainer };
        table.add_child(entry, pidfd);
        assert_eq!(table.children(), [entry]);
        let events = loop {
            let events = table.wait().unwrap();
            if !events.is_empty() {
                break events;
            }
        };
        assert_eq!(events, [Event::Exited(entry, WaitStatus::Exited(pid, 7))]);
        assert!(table.children().is_empty() && !table.contains(Source::Child(pid)));
        // Reaped through its pidfd: nothing is left to wait for.
        assert_eq!(child.wait().unwrap_err().raw_os_error(), Some(libc::ECHILD));
    }
}
