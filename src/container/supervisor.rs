//! The supervisor: one small process per running container, started by `run`/`start` and
//! detached from them (its own session). It owns the container's first process, its stdio, its
//! log and its cgroup; serves attach clients; writes the exit code; cleans up. The protocol with
//! its clients is in `protocol.rs`.
//!
//! Life: write /etc files → create the cgroup → spawn the container (the sandbox code) → record
//! "running" with pid and start time → tell the starting client → relay output to the log and
//! clients, client input to the container → on the container's exit: drain output, write the
//! `exit` file, record "exited", remove the cgroup (and the container with --rm), tell clients
//! the exit code, and end.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, read, write};

use super::etc_files::EtcFiles;
use super::index::{ExitRecord, exit_file, update};
use super::liveness::process_start_time;
use super::logfile::{LogWriter, Stream, log_path};
use super::protocol::{Message, recv_message, send_message};
use super::record::{Container, Status};
use super::sandbox_spec::{apply_userns, cgroup_resources, for_container};
use crate::sandbox::cgroup::Cgroup;
use crate::sandbox::spawn::{ContainerStdio, spawn};
use crate::store::now_rfc3339;
use crate::store::{Store, Trash};

/// What other branches still call by this path (it moved to sandbox_spec.rs).
pub use super::sandbox_spec::for_container as sandbox_spec;

/// The fd number on which a supervisor receives its starting client's connection.
pub const HANDOFF_FD: RawFd = 3;

/// How long a supervisor waits for nothing to happen before it gives back its startup memory.
const SETTLE_MS: u16 = 200;

/// The attach socket, bound and connected through /proc/self/fd/DIR so its path stays under
/// the 108-byte limit of unix socket addresses whatever the runroot.
pub fn attach_socket_name() -> &'static str {
    "attach.sock"
}

fn short_socket_addr(dir: &File) -> nix::Result<UnixAddr> {
    UnixAddr::new(format!("/proc/self/fd/{}/{}", dir.as_raw_fd(), attach_socket_name()).as_str())
}

/// Connects to a container's attach socket.
pub fn connect_attach(run_dir: &Path) -> nix::Result<OwnedFd> {
    let dir = File::open(run_dir).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let sock = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)?;
    nix::sys::socket::connect(sock.as_raw_fd(), &short_socket_addr(&dir)?)?;
    Ok(sock)
}

/// The supervisor's ends of the container's stdio: where output comes from, where input goes.
struct Stdio {
    out: OwnedFd,
    err: Option<OwnedFd>,
    input: Option<OwnedFd>,
    /// The pty master, for resizes.
    pty: Option<OwnedFd>,
}

fn pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC)
}

fn set_nonblocking(fd: BorrowedFd) -> nix::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(|_| ())
}

/// The container's stdio (handed to it) and ours.
fn make_stdio(tty: bool, open_stdin: bool) -> nix::Result<(ContainerStdio, Stdio)> {
    if tty {
        let pty = nix::pty::openpty(None, None)?;
        let master = pty.master;
        fcntl(master.as_fd(), FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
        let slave = pty.slave;
        let theirs = ContainerStdio {
            stdin: slave.try_clone().map_err(io_errno)?,
            stdout: slave.try_clone().map_err(io_errno)?,
            stderr: slave,
        };
        set_nonblocking(master.as_fd())?;
        let input = master.try_clone().map_err(io_errno)?;
        let pty_fd = master.try_clone().map_err(io_errno)?;
        return Ok((theirs, Stdio { out: master, err: None, input: Some(input), pty: Some(pty_fd) }));
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin, input) = if open_stdin {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        (File::open("/dev/null").map_err(io_errno)?.into(), None)
    };
    set_nonblocking(out_r.as_fd())?;
    set_nonblocking(err_r.as_fd())?;
    Ok((
        ContainerStdio { stdin, stdout: out_w, stderr: err_w },
        Stdio { out: out_r, err: Some(err_r), input, pty: None },
    ))
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// The supervisor's whole life; returns its own exit status.
pub fn run(store: &Store, id: &str) -> i32 {
    crate::sandbox::fds::ignore_sigpipe();
    let Some(handoff) = crate::sandbox::fds::take_inherited_fd(HANDOFF_FD) else { return 1 };
    match start_container(store, id, &handoff) {
        Ok(running) => running.supervise(store, handoff),
        Err((code, message)) => {
            let _ = send_message(handoff.as_fd(), &Message::Failed(code, message));
            1
        }
    }
}

struct Running {
    container: Container,
    pid: Pid,
    stdio: Stdio,
    cgroup: Option<Cgroup>,
    log: LogWriter,
    listener: OwnedFd,
    _run_dir: File,
}

fn record_failed_start(store: &Store, container: &Container, code: i32, message: &str) {
    if container.config.auto_remove {
        remove_container(store, &container.id);
        return;
    }
    let message = message.to_owned();
    let _ = update(store, &container.id, |c| {
        c.state.status = if c.state.started_at.is_some() { Status::Exited } else { Status::Created };
        c.state.exit_code = Some(code);
        c.state.error = Some(message);
        c.state.pid = 0;
        Ok(())
    });
}

/// `--rm`: the record, the directories, then (containers lock released) the anonymous volumes.
fn remove_container(store: &Store, id: &str) {
    if let Some(trash) = unlist_container(store, id) {
        trash.empty();
    }
}

/// `remove_container` but for deleting the directories, which the caller does once nobody
/// waits for it: the container is gone for every other command when this returns.
fn unlist_container(store: &Store, id: &str) -> Option<Trash> {
    let removed = (|| -> Result<Option<(Container, Option<Trash>)>, super::index::ContainerError> {
        let _lock = store.lock_containers_exclusive()?;
        let mut index: super::index::Index = store.containers()?;
        let Some(i) = index.containers.iter().position(|c| c.id == id) else { return Ok(None) };
        unlist_locked(store, &mut index, i).map(Some)
    })();
    let Ok(Some((container, trash))) = removed else { return None };
    let _ = super::volumes::remove_anonymous(store, &container);
    trash
}

/// Takes container `i` out of `index` and its directories into the trash. The caller holds the
/// containers lock; the container's anonymous volumes are its to remove once it let go.
pub(super) fn unlist_locked(
    store: &Store,
    index: &mut super::index::Index,
    i: usize,
) -> Result<(Container, Option<Trash>), super::index::ContainerError> {
    let removed = index.containers.remove(i);
    store.write_containers(index)?;
    let trash = store.trash_container_dirs(&removed.id)?;
    Ok((removed, trash))
}

fn start_container(store: &Store, id: &str, _handoff: &OwnedFd) -> Result<Running, (i32, String)> {
    let container = super::index::load(store, id).map_err(|e| (125, e.to_string()))?;
    let fail = |code: i32, message: String| {
        record_failed_start(store, &container, code, &message);
        (code, message)
    };
    let etc = EtcFiles::for_config(&container.config)
        .write(&store.container_dir(id))
        .map_err(|e| fail(125, error_chain(&e)))?;
    let spec = {
        let _lock = store.lock_images_shared().map_err(|e| fail(125, e.to_string()))?;
        let mut spec = for_container(store, &container, etc).map_err(|e| fail(125, e.to_string()))?;
        apply_userns(&mut spec, container.config.userns).map_err(|e| fail(125, e.to_string()))?;
        spec
    };
    let run_dir_path = store.container_run_dir(id);
    std::fs::create_dir_all(&run_dir_path).map_err(|e| fail(125, format!("{}: {e}", run_dir_path.display())))?;
    let run_dir = File::open(&run_dir_path).map_err(|e| fail(125, format!("{}: {e}", run_dir_path.display())))?;
    let listener = listen_for_attach(&run_dir)
        .map_err(|e| fail(125, format!("attach socket in {}: {e}", run_dir_path.display())))?;
    let log = LogWriter::open(log_path(&store.container_dir(id)), super::logfile::DEFAULT_MAX_SIZE)
        .map_err(|e| fail(125, format!("opening the log: {e}")))?;
    let cgroup = Cgroup::create(
        Path::new(crate::sandbox::cgroup::DEFAULT_ROOT),
        id,
        container.config.rootless,
        &cgroup_resources(&container.config.resources),
    )
    .map_err(|e| fail(125, format!("creating the cgroup: {e}")))?;
    let mut spec = spec;
    spec.cgroup_join_files = cgroup.as_ref().map(Cgroup::self_join_files).unwrap_or_default();
    let (theirs, stdio) = make_stdio(container.config.tty, container.config.open_stdin)
        .map_err(|e| fail(125, format!("setting up stdio: {e}")))?;
    let supervisor_pid = std::process::id() as i32;
    let supervisor_start = process_start_time(supervisor_pid).unwrap_or(0);
    let mut before_start = |pid: Pid| -> Result<(), String> {
        let start_time = process_start_time(pid.as_raw()).unwrap_or(0);
        update(store, id, |c| {
            c.state.status = Status::Running;
            c.state.pid = pid.as_raw();
            c.state.pid_start_time = start_time;
            c.state.supervisor_pid = supervisor_pid;
            c.state.supervisor_start_time = supervisor_start;
            c.state.started_at = Some(now_rfc3339());
            c.state.finished_at = None;
            c.state.exit_code = None;
            c.state.oom_killed = false;
            c.state.error = None;
            Ok(())
        })
        .map_err(|e| e.to_string())
    };
    let _ = std::fs::remove_file(exit_file(store, id));
    match spawn(&spec, theirs, &mut before_start) {
        Ok(pid) => Ok(Running { container, pid, stdio, cgroup, log, listener, _run_dir: run_dir }),
        Err(e) => {
            if let Some(cg) = &cgroup {
                let _ = cg.remove();
            }
            Err(fail(e.exit_code(), e.to_string()))
        }
    }
}

fn listen_for_attach(run_dir: &File) -> nix::Result<OwnedFd> {
    let addr = short_socket_addr(run_dir)?;
    let _ = nix::unistd::unlinkat(
        run_dir.as_fd(),
        Path::new(attach_socket_name()).as_os_str().as_bytes(),
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    let sock =
        socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    bind(sock.as_raw_fd(), &addr)?;
    listen(&sock, Backlog::new(16)?)?;
    Ok(sock)
}

impl Running {
    fn supervise(mut self, store: &Store, handoff: OwnedFd) -> i32 {
        // Only now block SIGCHLD (the container must not inherit a blocked mask); a child that
        // exited before this is caught by the first waitpid below.
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        let _ = mask.thread_block();
        let signals = match SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
            Ok(s) => s,
            Err(_) => return 1,
        };
        let mut clients: BTreeMap<RawFd, OwnedFd> = BTreeMap::new();
        let _ = send_message(handoff.as_fd(), &Message::Started(self.pid.as_raw()));
        clients.insert(handoff.as_raw_fd(), handoff);
        // Once the start has settled (the first quiet moment), the code it ran is let go.
        let mut settled = false;
        let mut exit_status = self.reap();
        let mut out_open = true;
        let mut err_open = self.stdio.err.is_some();
        while exit_status.is_none() {
            let mut fds: Vec<PollFd> = vec![
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
            ];
            if out_open {
                fds.push(PollFd::new(self.stdio.out.as_fd(), PollFlags::POLLIN));
            }
            if let (true, Some(err)) = (err_open, &self.stdio.err) {
                fds.push(PollFd::new(err.as_fd(), PollFlags::POLLIN));
            }
            for client in clients.values() {
                fds.push(PollFd::new(client.as_fd(), PollFlags::POLLIN));
            }
            let timeout = if settled { PollTimeout::NONE } else { PollTimeout::from(SETTLE_MS) };
            match poll(&mut fds, timeout) {
                Ok(0) if !settled => {
                    crate::sandbox::memory::release_startup_pages();
                    settled = true;
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => break,
            }
            let ready: Vec<(RawFd, PollFlags)> = fds
                .iter()
                .map(|p| (p.as_fd().as_raw_fd(), p.revents().unwrap_or(PollFlags::empty())))
                .filter(|(_, r)| !r.is_empty())
                .collect();
            drop(fds);
            for (fd, revents) in ready {
                if fd == signals.as_raw_fd() {
                    while let Ok(Some(_)) = signals.read_signal() {}
                    exit_status = exit_status.or(self.reap());
                } else if fd == self.listener.as_raw_fd() {
                    while let Some(client) = crate::sandbox::fds::accept_client(self.listener.as_fd()) {
                        limit_send_wait(&client);
                        clients.insert(client.as_raw_fd(), client);
                    }
                } else if fd == self.stdio.out.as_raw_fd() {
                    out_open = self.relay_output(Stream::Stdout, &mut clients);
                } else if self.stdio.err.as_ref().is_some_and(|e| e.as_raw_fd() == fd) {
                    err_open = self.relay_output(Stream::Stderr, &mut clients);
                } else if revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                    let keep = clients.get(&fd).is_some_and(|c| self.handle_client(c));
                    if !keep {
                        clients.remove(&fd);
                    }
                }
            }
        }
        self.drain_output(&mut clients, out_open, err_open);
        let code = exit_code_of(exit_status.unwrap_or(WaitStatus::Exited(self.pid, 255)));
        self.finish(store, code, &clients);
        0
    }

    /// Reaps every exited child; returns the container process's status once it has ended.
    fn reap(&self) -> Option<WaitStatus> {
        let mut found = None;
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return found,
                Ok(status) if status.pid() == Some(self.pid) => found = Some(status),
                Ok(_) => {}
            }
        }
    }

    /// Reads what is available from one output stream into the log and the clients; false once
    /// the stream has ended.
    fn relay_output(&mut self, stream: Stream, clients: &mut BTreeMap<RawFd, OwnedFd>) -> bool {
        let mut buf = [0u8; 16384];
        loop {
            let fd = match stream {
                Stream::Stdout => self.stdio.out.as_fd(),
                Stream::Stderr => self.stdio.err.as_ref().expect("stderr pipe").as_fd(),
            };
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
                    clients.retain(|_, client| send_message(client.as_fd(), &message).is_ok());
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return true,
                // EIO: the pty's other side has no holders left.
                Err(_) => return false,
            }
        }
    }

    /// Handles one message from a client; false when the client is gone.
    fn handle_client(&mut self, client: &OwnedFd) -> bool {
        match recv_message(client.as_fd()) {
            Ok(Some(Message::Stdin(bytes))) => {
                if let Some(input) = &self.stdio.input {
                    write_all_blocking(input.as_fd(), &bytes);
                }
                true
            }
            Ok(Some(Message::StdinClose)) => {
                // A pty has no end of input but the EOF character; a pipe is closed.
                match &self.stdio.pty {
                    Some(_) => {
                        if let Some(input) = &self.stdio.input {
                            write_all_blocking(input.as_fd(), &[4]);
                        }
                    }
                    None => self.stdio.input = None,
                }
                true
            }
            Ok(Some(Message::Resize { rows, cols })) => {
                if let Some(pty) = &self.stdio.pty {
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
    fn drain_output(&mut self, clients: &mut BTreeMap<RawFd, OwnedFd>, mut out_open: bool, mut err_open: bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        while (out_open || err_open) && std::time::Instant::now() < deadline {
            if out_open {
                out_open = self.relay_output(Stream::Stdout, clients);
            }
            if err_open {
                err_open = self.relay_output(Stream::Stderr, clients);
            }
            if out_open || err_open {
                let mut fds = Vec::new();
                if out_open {
                    fds.push(PollFd::new(self.stdio.out.as_fd(), PollFlags::POLLIN));
                }
                if let (true, Some(err)) = (err_open, &self.stdio.err) {
                    fds.push(PollFd::new(err.as_fd(), PollFlags::POLLIN));
                }
                let _ = poll(&mut fds, PollTimeout::from(50u16));
            }
        }
    }

    fn finish(&self, store: &Store, code: i32, clients: &BTreeMap<RawFd, OwnedFd>) {
        let oom_killed = self.cgroup.as_ref().is_some_and(|c| c.oom_killed());
        let code = if oom_killed && code == 0 { 137 } else { code };
        let id = &self.container.id;
        let record = ExitRecord { exit_code: code, finished_at: now_rfc3339(), oom_killed };
        // With --rm the directory is about to go: the code reaches clients in the Exit message.
        if !self.container.config.auto_remove {
            let _ = crate::store::write_file_atomically(
                &exit_file(store, id),
                &serde_json::to_vec(&record).expect("serializable"),
            );
        }
        let mut trash = None;
        if self.container.config.auto_remove {
            trash = unlist_container(store, id);
        } else {
            // A later `start` of this container makes a cgroup at the same path: this one must
            // be gone before the record says Exited, or removing it could hit the new one.
            self.remove_cgroup();
            let _ = update(store, id, |c| {
                if c.state.pid == self.pid.as_raw() {
                    c.state.status = Status::Exited;
                    c.state.exit_code = Some(record.exit_code);
                    c.state.finished_at = Some(record.finished_at.clone());
                    c.state.oom_killed = record.oom_killed;
                }
                Ok(())
            });
            let _ = std::fs::remove_file(store.container_run_dir(id).join(attach_socket_name()));
        }
        for client in clients.values() {
            let _ = send_message(client.as_fd(), &Message::Exit(code));
        }
        // Nothing below is waited for: `run` has its exit code and returns. The container is
        // unlisted, so nothing can make a cgroup at its path any more.
        if self.container.config.auto_remove {
            self.remove_cgroup();
        }
        if let Some(trash) = trash {
            trash.empty();
        }
    }

    fn remove_cgroup(&self) {
        if let Some(cg) = &self.cgroup {
            let _ = cg.remove();
        }
    }
}

/// An error and its sources on one line, as `main` prints errors.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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

/// Attach clients get at most this long to take each piece of output.
fn limit_send_wait(client: &OwnedFd) {
    let timeout = nix::sys::time::TimeVal::new(5, 0);
    let _ = nix::sys::socket::setsockopt(client, nix::sys::socket::sockopt::SendTimeout, &timeout);
}

/// 128+signal for a signal death, as a shell reports it.
pub fn exit_code_of(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        _ => 255,
    }
}
