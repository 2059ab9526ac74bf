use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use super::Ctx;
use crate::container::index::{ContainerError, load, refresh};
use crate::container::record::Status;
use crate::store::Store;

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Wait for this state instead of the container's end: stopped (or exited, not-running),
    /// running, paused, created, removed; several: the first reached (Podman's)
    #[arg(long, value_name = "CONDITION", value_parser = ["stopped", "exited", "not-running", "running", "paused", "created", "removed"])]
    pub condition: Vec<String>,
    /// Containers to wait for
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// How often a state other than the end is looked at: the end is told by the supervisor or
/// the process handle, the others only show in the record.
const POLL: Duration = Duration::from_millis(100);

/// Prints each container's exit code once it has exited (or reached a `--condition`: -1 for a
/// state that has no exit code, as Podman), in the order given.
pub fn run(ctx: &Ctx, args: WaitArgs) -> Result<u8> {
    let store = ctx.store()?;
    let mut failed = None;
    for name in &args.containers {
        let result = wait_for(store, name, &args.condition).with_context(|| format!("waiting for container {name}"));
        match result {
            Ok(code) => println!("{code}"),
            Err(e) if args.containers.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("berth: {e:#}");
                failed = Some(super::exit_codes::exit_code_for(&e));
            }
        }
    }
    Ok(failed.unwrap_or(0))
}

fn wait_for(store: &Store, name: &str, conditions: &[String]) -> Result<i32> {
    let container = load(store, name)?;
    let ends = |c: &str| matches!(c, "stopped" | "exited" | "not-running");
    if conditions.is_empty() || conditions.iter().all(|c| ends(c)) {
        return Ok(crate::container::lifecycle::wait(store, &container)?);
    }
    if conditions.iter().all(|c| c == "removed") {
        // The exit code first (the supervisor tells it even of a --rm container), then the
        // record's removal.
        let code = crate::container::lifecycle::wait(store, &container)?;
        loop {
            match load(store, &container.id) {
                Err(ContainerError::NotFound(_)) => return Ok(code),
                Err(e) => return Err(e.into()),
                Ok(_) => std::thread::sleep(POLL),
            }
        }
    }
    let wanted = |status: Status| {
        conditions.iter().any(|c| match c.as_str() {
            "running" => status == Status::Running,
            "paused" => status == Status::Paused,
            "created" => status == Status::Created,
            c if ends(c) => matches!(status, Status::Created | Status::Exited),
            _ => false,
        })
    };
    loop {
        let mut current = match load(store, &container.id) {
            Ok(current) => current,
            Err(ContainerError::NotFound(_)) if conditions.iter().any(|c| c == "removed") => {
                return Ok(crate::container::index::read_exit_record(store, &container.id).map_or(-1, |e| e.exit_code));
            }
            Err(e) => return Err(e.into()),
        };
        let status = refresh(store, &mut current);
        if wanted(status) {
            return Ok(if status == Status::Exited { current.state.exit_code.unwrap_or(-1) } else { -1 });
        }
        std::thread::sleep(POLL);
    }
}
