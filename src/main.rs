//! berth: a daemonless, rootless-first container tool.

// All unsafe code lives in `sandbox` (its module allows it), each block with a `// SAFETY:` line.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod api;
mod build;
mod cmd;
mod compose;
mod config;
mod container;
mod events;
mod image;
mod network;
mod sandbox;
mod store;

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::ExitCode;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Exit status for a failure of berth itself (Docker's convention).
pub const EXIT_TOOL_ERROR: u8 = 125;

/// SIGPIPE stays ignored, as the Rust runtime leaves it: a write to a pipe whose reader has gone
/// is an EPIPE error that the code writing sees and handles (a `cp` helper that stopped reading
/// has its own error to tell), never a signal death. Standard output closed by its reader
/// (`berth … | head`) ends the command quietly and successfully, as ripgrep's does. Programs
/// berth starts get SIGPIPE's default back: std's `Command` resets it, and so does the sandbox
/// for a container's processes (`sandbox::process`).
fn main() -> ExitCode {
    quiet_on_closed_output();
    match cmd::main() {
        Ok(code) => ExitCode::from(code),
        Err(error) if stdout_closed_by_reader(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth: {}", one_line(&error));
            ExitCode::from(cmd::exit_code_for(&error))
        }
    }
}

/// `what failed: why`, on one line even when a cause spans lines. Each error shows its own
/// part only (its cause comes from `source()`), so the chain joined is the whole story, once.
fn one_line(error: &anyhow::Error) -> String {
    let line = error.chain().map(|cause| cause.to_string().replace('\n', " ")).collect::<Vec<_>>().join(": ");
    go_errno_texts(&line)
}

/// Rust shows an errno as "No space left on device (os error 28)", Docker (Go) as "no space
/// left on device": the line says it Docker's way, whichever error carried the errno.
fn go_errno_texts(line: &str) -> String {
    let mut numbers: Vec<i32> = line
        .match_indices("(os error ")
        .filter_map(|(at, marker)| {
            let rest = &line[at + marker.len()..];
            rest[..rest.find(')')?].parse().ok()
        })
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers.into_iter().fold(line.to_owned(), |line, n| {
        let rust = io::Error::from_raw_os_error(n).to_string();
        line.replace(&rust, &sandbox::process::errno_text(nix::errno::Errno::from_raw(n)))
    })
}

/// Whether `fd` is a pipe or socket whose other end has gone.
fn reader_gone(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    let gone = PollFlags::POLLERR | PollFlags::POLLHUP;
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) && fds[0].revents().is_some_and(|r| r.intersects(gone))
}

/// An error that is a broken pipe on standard output, whose reader is gone.
fn stdout_closed_by_reader(error: &anyhow::Error) -> bool {
    let broken_pipe = error
        .chain()
        .any(|cause| cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe));
    broken_pipe && reader_gone(io::stdout().as_fd())
}

/// `print!`, `eprint!` and code that `expect`s its writes to succeed panic when they cannot
/// write; when that is a broken pipe on standard output or error, whose reader went away, the
/// command ends quietly instead of printing a panic message nobody reads.
fn quiet_on_closed_output() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or(payload.downcast_ref::<&str>().copied());
        // An io::Error shown with Display ("Broken pipe (os error 32)") or Debug (`expect`).
        let broken_pipe = message
            .is_some_and(|m| m.contains(&format!("(os error {})", libc::EPIPE)) || m.contains("kind: BrokenPipe"));
        if broken_pipe && (reader_gone(io::stdout().as_fd()) || reader_gone(io::stderr().as_fd())) {
            std::process::exit(0);
        }
        default_hook(info);
    }));
}

#[cfg(test)]
mod tests {
    #[test]
    fn errno_texts_are_spelled_as_docker_spells_them() {
        let line = "importing x: /s/tmp/blob: No space left on device (os error 28): again No space left on \
                    device (os error 28), No such file or directory (os error 2) (os error nonsense";
        assert_eq!(
            super::go_errno_texts(line),
            "importing x: /s/tmp/blob: no space left on device: again no space left on device, no such file or \
             directory (os error nonsense"
        );
    }
}
