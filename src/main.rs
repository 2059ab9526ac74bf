//! berth: a daemonless, rootless-first container tool.

mod cmd;
mod config;
mod container;
mod image;
mod network;
mod sandbox;
mod store;

use std::process::ExitCode;

/// Exit status for a failure of berth itself (Docker's convention).
pub const EXIT_TOOL_ERROR: u8 = 125;

fn main() -> ExitCode {
    sandbox::fds::die_on_sigpipe();
    match cmd::main() {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("berth: {}", one_line(&error));
            ExitCode::from(cmd::exit_code_for(&error))
        }
    }
}

/// `what failed: why`, on one line even when a cause spans lines.
fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
